"""The key ledger committed in the repo: one file per environment, metadata only, never a key.

One file per environment keeps a rotation's cost and diff proportional to what it rotates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sealer import yamlio
from sealer.atomic import write_atomic
from sealer.backends.base import ACTIVE, PENDING, KeyRecord
from sealer.errors import ConfigError

LEDGER_DIR = "ledger"
HEADER = "# Managed by sealer: key metadata for one environment. It never holds a key.\n"


def current(keys: Sequence[str], records: list[KeyRecord]) -> dict[str, KeyRecord]:
    """The key each managed entry carries now: its newest active (or pending) record."""
    chosen: dict[str, KeyRecord] = {}
    for record in records:
        if record.name in keys and record.status in (ACTIVE, PENDING):
            chosen[record.name] = record
    return {name: chosen[name] for name in keys if name in chosen}


def ledger_path(repo: Path, env: str) -> Path:
    return repo / LEDGER_DIR / f"{env}.yaml"


def load(repo: Path, env: str) -> list[KeyRecord]:
    path = ledger_path(repo, env)
    if not path.exists():
        return []
    docs = yamlio.load_documents(path.read_bytes(), str(path))
    keys = docs[0].get("keys") if docs and isinstance(docs[0], dict) else None
    if not isinstance(keys, list):
        raise ConfigError(str(path), "expected a mapping with a `keys` list")
    try:
        return [KeyRecord.from_dict({**item, "env": env}) for item in keys]
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(str(path), f"bad key record ({err})") from None


def dump(env: str, records: list[KeyRecord]) -> str:
    """Deterministic text: the same records always give the same bytes."""
    items = []
    for record in records:
        data = record.as_dict()
        del data["env"]
        items.append(data)
    return HEADER + yamlio.dump({"env": env, "keys": items})


def save(repo: Path, env: str, records: list[KeyRecord]) -> Path:
    path = ledger_path(repo, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, dump(env, records))
    return path
