"""key-registry (#16): each GitOps key registry file is there and is what the ledger gives.

A missing registry leaves the verifier with nothing to read (it refuses every key); a stale
one (the ledger changed, the registry did not follow) keeps revoked keys valid in the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sealer import layout, registry, render, safeopen
from sealer.config import Environment
from sealer.policy import schema
from sealer.policy.model import ERROR, Context, Problem

ID = "key-registry"
DESCRIPTION = "each key registry file is present and matches the ledger"
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    records = ctx.records(env.name)
    fix = f"sealer render {env.name}, then commit the registry files"
    texts = render.registry_texts(ctx.root, env, records)
    yield from _leftovers(ctx, env, {path.name for path, _new, _old in texts})
    for path, new, old in texts:
        rel = path.relative_to(ctx.root).as_posix()
        if old is None and not records:
            continue  # never rotated: a missing registry accepts no key, as an empty one would
        if old is None:
            yield Problem(ID, env.name, ERROR, f"key registry {rel} is missing", fix)
        elif old != new:
            serial = registry.serial_of(records)
            message = f"key registry {rel} is stale: it does not list what the ledger gives (serial {serial})"
            yield Problem(ID, env.name, ERROR, message, fix)


def _leftovers(ctx: Context, env: Environment, rendered: set[str]) -> Iterator[Problem]:
    """Registry files no longer rendered (another store, direct delivery, a cluster gone), and
    anything else in the folder a GitOps tool may apply (a `.yml`, a `.json`, a subfolder:
    `layout.may_be_applied`):
    a GitOps tool would keep applying what they list, and they are never updated again."""
    for name, folder in _names_in(ctx.root / layout.REGISTRY_DIR / env.name):
        plain = not folder and not (ctx.root / layout.REGISTRY_DIR / env.name / name).is_symlink()
        if name not in rendered and layout.may_be_applied(name, plain):  # not a `.gitkeep`
            rel = f"{layout.REGISTRY_DIR}/{env.name}/{name}"
            message = f"key registry {rel} is not rendered any more: it will never follow the ledger"
            yield Problem(ID, env.name, ERROR, message, f"git rm {'-r ' if folder else ''}{rel}")


def _names_in(folder: Path) -> list[tuple[str, bool]]:
    """The names in `folder` (and whether each is a folder), opened without following a symlink
    anywhere on the way (#13); none when it is missing or not a plain folder (reading a registry
    file then says why)."""
    try:
        return safeopen.list_dir(folder)
    except OSError:
        return []
