"""`sealer check`: what sealer wrote for an environment or a cluster sealer.yaml no longer lists.

Over every environment, an environment's SealedSecrets and key registries stay in Git once the
environment is removed, a GitOps tool keeps applying them, and the cluster keeps accepting its
keys, which no rule of an environment's own ever looks at again (`leftover-environment`). Per
environment checked, a cluster taken out of its `clusters:` leaves its sealed file the same way
(`leftover-cluster`): no rotation reseals it, so it keeps delivering whatever it holds (an older
ciphertext put back, say). Its key registry file is key-registry's, which flags anything in
registry/<env>/ that is not rendered."""

from __future__ import annotations

import bisect
import os
import shlex
from collections.abc import Iterable

from sealer import git, layout, safeopen
from sealer.config import Config, Environment
from sealer.policy.model import ERROR, Problem

RULE = "leftover-environment"
CLUSTER_RULE = "leftover-cluster"
_DELIVERED = (layout.SEALED_DIR, layout.REGISTRY_DIR)


def problems(cfg: Config, held: set[str] | None) -> list[Problem]:
    """`held`: the paths Git's index holds (`tracked`, of "." or of both folders), None when
    Git cannot say."""
    found = []
    for top in _DELIVERED:
        try:
            names = safeopen.list_dir(cfg.root / top)
        except FileNotFoundError:
            continue
        except OSError as err:  # a symlink, a file: never "nothing left over"
            found.append(_unlisted(cfg, RULE, "", top, err))
            continue
        for name, folder in names:
            if name not in cfg.environments and _delivers(cfg, held, f"{top}/{name}", folder):
                message = (
                    f"{top}/{name} belongs to no environment in sealer.yaml: a GitOps tool keeps "
                    "applying what it holds, and the cluster keeps accepting its keys"
                )
                found.append(Problem(RULE, name, ERROR, message, f"git rm -r {shlex.quote(f'{top}/{name}')}"))
    return found


def cluster_problems(cfg: Config, envs: Iterable[Environment], held: set[str] | None) -> list[Problem]:
    """Each entry of `sealed/<env>/` of the environments checked that Git holds and that is no
    sealed file of a cluster sealer.yaml lists for it and that a GitOps tool may apply
    (`layout.may_be_applied`): a cluster's file left after the cluster was taken out, or one
    sealer never writes there (a `.yml`, a subfolder), which a GitOps tool applying the folder
    applies too. One spelt like a listed cluster's in another case is
    case-collision's (its fix keeps the real file). `held`: as `problems`'s, of sealed/ at least."""
    ordered = _ordered(held, layout.SEALED_DIR)
    found = []
    for env in envs:
        found += _env_leftovers(cfg, env, ordered)
    return found


def _env_leftovers(cfg: Config, env: Environment, held: list[str] | None) -> list[Problem]:
    folder = layout.sealed_dir(env.name).rstrip("/")
    try:
        names = safeopen.list_dir(cfg.root / folder)
    except FileNotFoundError:
        return []  # never sealed: nothing there to deliver
    except OSError as err:  # a symlink, a file: never "nothing left over"
        return [_unlisted(cfg, CLUSTER_RULE, env.name, folder, err)]
    sealed = {layout.folded(layout.sealed_file(env.name, c.name)) for c in env.clusters}
    below = _names_below(held, folder)
    found = []
    for name, is_folder in names:
        rel = f"{folder}/{name}"
        if layout.folded(rel) in sealed or (below is not None and name not in below):
            continue
        if not layout.may_be_applied(name, not is_folder and not (cfg.root / rel).is_symlink()):
            continue  # a `.gitkeep` or a README no GitOps tool applies: the hook must not refuse it
        message = (
            f"{rel} is no sealed file of a cluster sealer.yaml lists for {env.name}: a GitOps tool "
            "keeps applying it, and no rotation reseals it"
        )
        fix = f"git rm {'-r ' if is_folder else ''}{shlex.quote(rel)}"
        found.append(Problem(CLUSTER_RULE, env.name, ERROR, message, fix))
    return found


def _delivers(cfg: Config, held: set[str] | None, rel: str, folder: bool) -> bool:
    """Whether `rel`, right below sealed/ or registry/, delivers anything: a link Git holds (a
    GitOps tool may follow it anywhere), or a folder Git holds something in that a GitOps tool
    may apply (`layout.may_be_applied`, as for a listed environment's folder: a subfolder counts
    whole). A `.gitkeep`, a README or a `.DS_Store` beside the folders, or alone in one, never
    was an environment's delivery, and the pre-commit hook must not refuse commits over it."""
    if (cfg.root / rel).is_symlink():
        return held is None or rel in held
    if not folder:
        return False
    if held is None:
        return True  # Git cannot say: every folder counts
    return any(_applied(cfg, path, rel) for path in held if path.startswith(f"{rel}/"))


def _applied(cfg: Config, path: str, folder: str) -> bool:
    rest = path.removeprefix(f"{folder}/")
    entry = cfg.root / path
    return "/" in rest or layout.may_be_applied(rest, entry.is_file() and not entry.is_symlink())


def _unlisted(cfg: Config, rule: str, env: str, folder: str, err: OSError) -> Problem:
    why = err.explain(cfg.root / folder) if isinstance(err, safeopen.Refused) else str(err)
    return Problem(rule, env, ERROR, f"{folder}/ cannot be listed: {why}", f"make {folder}/ a plain folder")


def _ordered(held: set[str] | None, top: str) -> list[str] | None:
    """The paths of `held` below `top`, sorted for `_names_below` (None stays None)."""
    return None if held is None else sorted(p for p in held if p.startswith(f"{top}/"))


def _names_below(held: list[str] | None, folder: str) -> set[str] | None:
    """The names right below `folder` that Git's index holds a file under (`held`: the paths it
    holds there, sorted): what a commit carries, so what GitOps applies. A folder left on disk
    with no file in Git (a `.DS_Store` kept after a branch switch removed the rest) delivers
    nothing, and `git rm -r` could not remove it. None when Git cannot say (no work tree): then
    every name counts. Found by bisection ("0" sorts right after "/"), so each environment's
    look costs what its own folder holds, not the repository's every sealed file again."""
    if held is None:
        return None
    start, end = (bisect.bisect_left(held, f"{folder}{after}") for after in "/0")
    return {p[len(folder) + 1 :].split("/")[0] for p in held[start:end]}


def tracked(cfg: Config, top: str) -> set[str] | None:
    """The paths Git's index holds at or below `top` (None when Git cannot say)."""
    try:
        out = git.run_bytes(cfg.root, "--literal-pathspecs", "ls-files", "-z", "--", top)
    except git.GitError:
        return None
    return {p for p in os.fsdecode(out).split("\0") if p}  # decoded whole: the repository's every path
