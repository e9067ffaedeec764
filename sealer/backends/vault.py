"""HashiCorp Vault key store (KV version 2).

Each environment's records live in one KV v2 secret, `<mount>/data/<path>/<env>`, as
`{"records": [record, ...]}` (hashes and metadata only; a list, because Vault returns the
keys of an object sorted). Every write is check-and-set against the version just read; on a
CAS mismatch the store re-reads and re-applies its change, so two writers never both act on
the same stale state (one activation wins, the other finds its key superseded). Each write is
read back at the version Vault names for it (`VaultKV.write`): a write not kept is an error.
The mount must be a KV v2 engine: sealer cannot tell a v1 mount without sys/mounts rights.
The KV v2 client and its credentials are `sealer.backends.vault_kv`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from sealer.backends.credentials import VaultSource
from sealer.backends.document import Records, WholeDocumentStore, check_unique
from sealer.backends.vault_kv import CasConflict, VaultKV, check_segment
from sealer.errors import BackendError
from sealer.records import KeyRecord, from_store, oldest_first

DEFAULT_MOUNT = "secret"
DEFAULT_PATH = "sealer/keys"
MAX_ATTEMPTS = 20


def _checked_path(value: str, what: str) -> str:
    return "/".join(check_segment(segment, what) for segment in value.strip("/").split("/"))


# -- the store ---------------------------------------------------------------------------------
class VaultStore(WholeDocumentStore):
    """KeyStore on Vault KV v2: options `mount` (default secret), `path` (default sealer/keys)."""

    kind: ClassVar[str] = "vault"

    def __init__(
        self,
        options: dict[str, str],
        repo: Path,
        *,
        kv: VaultKV | None = None,
        source: VaultSource | None = None,
    ) -> None:
        self.options = dict(options)
        self.source = source or VaultSource()
        self.repo = repo
        self.mount = _checked_path(options.get("mount", DEFAULT_MOUNT), "vault mount")
        self.prefix = _checked_path(options.get("path", DEFAULT_PATH), "vault path")
        self.max_attempts = MAX_ATTEMPTS
        self._kv = kv

    @property
    def kv(self) -> VaultKV:
        if self._kv is None:
            self._kv = VaultKV.from_source(self.mount, self.source)
        return self._kv

    def _path(self, env_name: str) -> str:
        return f"{self.prefix}/{check_segment(env_name, 'environment')}"

    def _load(self, env_name: str) -> tuple[int, Records]:
        version, data = self.kv.read(self._path(env_name))
        try:
            records = [from_store({**item, "env": env_name}) for item in (data or {}).get("records", [])]
        except (KeyError, TypeError, ValueError, AttributeError):
            where = self.kv.where(self._path(env_name))
            raise BackendError(f"vault: {where} holds records sealer cannot read") from None
        return version, check_unique(records, f"vault: {self.kv.where(self._path(env_name))}")

    @staticmethod
    def _dump(records: Records) -> dict[str, Any]:
        """A list keeps the order records were written in (Vault sorts the keys of objects)."""
        return {"records": [record.as_dict() for record in records]}

    def _update(self, env_name: str, change: Callable[[Records], Records]) -> None:
        """Read, change, check-and-set write; on a conflict start again from a fresh read."""
        for _ in range(self.max_attempts):
            version, records = self._load(env_name)
            updated = change(records)
            if updated == records:
                return
            try:
                self.kv.write(self._path(env_name), self._dump(updated), cas=version)
                return
            except CasConflict:
                continue
        raise BackendError(
            f"vault: {self.kv.where(self._path(env_name))} kept changing under concurrent writers "
            f"({self.max_attempts} attempts); try again"
        )

    def list(self, env_name: str) -> list[KeyRecord]:
        return oldest_first(self._load(env_name)[1])

    def health(self) -> str:
        return f"{self.kv.health()}, KV v2 {self.mount}/{self.prefix}/<env>"
