"""`sealer check` over every environment: what sealer wrote for an environment sealer.yaml no
longer lists. Its SealedSecrets and key registries stay in Git once the environment is removed,
a GitOps tool keeps applying them, and the cluster keeps accepting its keys, which no rule of
an environment's own ever looks at again."""

from __future__ import annotations

import shlex

from sealer import layout, safeopen
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
        for name, folder in names:
            # an environment's delivery is a folder: a `.gitkeep`, a README or a `.DS_Store`
            # beside them never was one, and the pre-commit hook must not refuse commits over it
            if folder and name not in cfg.environments:
                message = (
                    f"{top}/{name} belongs to no environment in sealer.yaml: a GitOps tool keeps "
                    "applying what it holds, and the cluster keeps accepting its keys"
                )
                found.append(Problem(RULE, name, ERROR, message, f"git rm -r {shlex.quote(f'{top}/{name}')}"))
    return found
