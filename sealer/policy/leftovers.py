"""`sealer check` over every environment: what sealer wrote for an environment sealer.yaml no
longer lists. Its SealedSecrets and key registries stay in Git once the environment is removed,
a GitOps tool keeps applying them, and the cluster keeps accepting its keys, which no rule of
an environment's own ever looks at again."""

from __future__ import annotations

import os
import shlex

from sealer import git, layout, safeopen
from sealer.config import Config
from sealer.policy.model import ERROR, Problem

RULE = "leftover-environment"
_DELIVERED = (layout.SEALED_DIR, layout.REGISTRY_DIR)


def problems(cfg: Config) -> list[Problem]:
    found = []
    for top in _DELIVERED:
        try:
            names = safeopen.list_dir(cfg.root / top)
        except FileNotFoundError:
            continue
        except OSError as err:  # a symlink, a file: never "nothing left over"
            why = err.explain(cfg.root / top) if isinstance(err, safeopen.Refused) else str(err)
            found.append(
                Problem(RULE, "", ERROR, f"{top}/ cannot be listed: {why}", f"make {top}/ a plain folder")
            )
            continue
        tracked = _tracked(cfg, top)
        for name, folder in names:
            # an environment's delivery is a folder (or a link to one): a `.gitkeep`, a README or
            # a `.DS_Store` beside them never was one, and the pre-commit hook must not refuse
            # commits over it
            delivers = folder or (cfg.root / top / name).is_symlink()  # GitOps may follow a link
            if delivers and name not in cfg.environments and (tracked is None or name in tracked):
                message = (
                    f"{top}/{name} belongs to no environment in sealer.yaml: a GitOps tool keeps "
                    "applying what it holds, and the cluster keeps accepting its keys"
                )
                found.append(Problem(RULE, name, ERROR, message, f"git rm -r {shlex.quote(f'{top}/{name}')}"))
    return found


def _tracked(cfg: Config, top: str) -> set[str] | None:
    """The names right below `top` that Git's index holds a file under: what a commit carries,
    so what GitOps applies. A folder left on disk with no file in Git (a `.DS_Store` kept after
    a branch switch removed the rest) delivers nothing, and `git rm -r` could not remove it.
    None when Git cannot say (no work tree): then every folder counts."""
    paths = tracked(cfg, top)
    if paths is None:
        return None
    return {p.removeprefix(f"{top}/").split("/")[0] for p in paths if p.startswith(f"{top}/")}


def tracked(cfg: Config, top: str) -> set[str] | None:
    """The paths Git's index holds at or below `top` (None when Git cannot say)."""
    try:
        out = git.run_bytes(cfg.root, "--literal-pathspecs", "ls-files", "-z", "--", top)
    except git.GitError:
        return None
    return {p for p in os.fsdecode(out).split("\0") if p}  # decoded whole: the repository's every path
