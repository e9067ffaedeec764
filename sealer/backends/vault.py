"""HashiCorp Vault key store (KV version 2).

Each environment's records live in one KV v2 secret, `<mount>/data/<path>/<env>`, as
`{"records": [record, ...]}` (hashes and metadata only; a list, because Vault returns the
keys of an object sorted). Every write is check-and-set against the version just read; on a
CAS mismatch the store re-reads and re-applies its change, so two writers never both act on
the same stale state (one activation wins, the other finds its key superseded). The mount
must be a KV v2 engine: sealer cannot tell a v1 mount without sys/mounts rights.

Credentials come from Vault's usual environment only: VAULT_ADDR, VAULT_TOKEN, and
optionally VAULT_NAMESPACE and VAULT_CACERT. They are never options and never printed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from sealer.backends.base import KeyRecord, check_options, oldest_first
from sealer.backends.document import Records, WholeDocumentStore
from sealer.errors import BackendError, BadInput

DEFAULT_MOUNT = "secret"
DEFAULT_PATH = "sealer/keys"
MAX_ATTEMPTS = 20
TIMEOUT_SECONDS = 10
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def check_segment(value: str, what: str) -> str:
    """A path segment taken from config: no slashes, no dot-dot, nothing to escape."""
    if not _SEGMENT.match(value) or value in (".", ".."):
        raise BadInput(f"{what} {value!r} cannot be used in a store path")
    return value


def _checked_path(value: str, what: str) -> str:
    return "/".join(check_segment(segment, what) for segment in value.strip("/").split("/"))


# -- Vault KV v2 access ------------------------------------------------------------------------
class CasConflict(Exception):
    """The secret changed between our read and our check-and-set write."""


def safe_address(url: str) -> str:
    """scheme://host:port of a URL, never any user-info it may carry."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class VaultKV:
    """The few KV v2 calls sealer makes, each failure turned into one BackendError line."""

    def __init__(self, mount: str, client: Any, address: str) -> None:
        self.mount = mount.strip("/")
        self.client = client
        self.address = address

    @classmethod
    def from_env(cls, mount: str) -> VaultKV:
        addr = os.environ.get("VAULT_ADDR", "").strip()
        token = os.environ.get("VAULT_TOKEN", "").strip()
        if not addr:
            raise BackendError("vault: VAULT_ADDR is not set")
        if not token:
            raise BackendError("vault: VAULT_TOKEN is not set")
        import hvac

        client = hvac.Client(
            url=addr,
            token=token,
            namespace=os.environ.get("VAULT_NAMESPACE") or None,
            verify=os.environ.get("VAULT_CACERT") or True,
            timeout=TIMEOUT_SECONDS,
        )
        return cls(mount, client, safe_address(addr))

    def where(self, path: str) -> str:
        return f"{self.mount}/{path}"

    def read(self, path: str) -> tuple[int, dict[str, Any] | None]:
        """(current version, data); (0, None) when nothing was ever written, (n, None) when the
        latest version is deleted (a CAS write must still name n)."""
        from hvac.exceptions import InvalidPath

        kv = self.client.secrets.kv.v2
        with self.errors(f"reading {self.where(path)}"):
            try:
                answer = kv.read_secret_version(
                    path=path, mount_point=self.mount, raise_on_deleted_version=False
                )
            except InvalidPath:
                return 0, None
        body = answer.get("data") or {}
        version = int((body.get("metadata") or {}).get("version") or 0)
        return version, body.get("data")

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        """Check-and-set write; CasConflict when `cas` is no longer the current version."""
        from hvac.exceptions import InvalidRequest

        kv = self.client.secrets.kv.v2
        with self.errors(f"writing {self.where(path)}"):
            try:
                answer = kv.create_or_update_secret(path=path, secret=data, cas=cas, mount_point=self.mount)
            except InvalidRequest as err:
                if any("check-and-set" in str(e) for e in err.errors or ()):
                    raise CasConflict(self.where(path)) from None
                raise
        return int((answer.get("data") or {}).get("version") or 0)

    def health(self) -> str:
        with self.errors("checking health"):
            status = self.client.sys.read_health_status(method="GET")
            if not isinstance(status, dict):
                code = getattr(status, "status_code", 0)
                if code == 503:
                    raise BackendError(f"vault: {self.address} is sealed (503)")
                if code not in (429, 472, 473):  # standbys answer these and still serve reads
                    raise BackendError(f"vault: {self.address} is not healthy (HTTP {code})")
                status = status.json()
            if not self.client.is_authenticated():
                raise BackendError(f"vault: {self.address} refused VAULT_TOKEN (403 permission denied)")
        return f"vault {status.get('version', '?')} at {self.address}"

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Vault and network failures as one line each; no token, no secret data in the text."""
        import hvac.exceptions as vault_errors
        import requests

        try:
            yield
        except (vault_errors.Forbidden, vault_errors.Unauthorized):
            raise BackendError(
                f"vault: permission denied {what} at {self.address} (check VAULT_TOKEN and its policy)"
            ) from None
        except vault_errors.VaultDown:
            raise BackendError(f"vault: {self.address} is sealed or down (503) while {what}") from None
        except vault_errors.RateLimitExceeded:
            raise BackendError(f"vault: rate limited (429) while {what}; try again later") from None
        except vault_errors.VaultError as err:
            detail = "; ".join(str(e) for e in err.errors or ())[:200] or type(err).__name__
            raise BackendError(f"vault: {what} failed: {detail}") from None
        except requests.exceptions.RequestException as err:
            raise BackendError(f"vault: cannot reach {self.address} ({type(err).__name__})") from None


# -- the store ---------------------------------------------------------------------------------
class VaultStore(WholeDocumentStore):
    """KeyStore on Vault KV v2: options `mount` (default secret), `path` (default sealer/keys)."""

    kind: ClassVar[str] = "vault"
    OPTIONS: ClassVar[tuple[str, ...]] = ("mount", "path")

    def __init__(self, options: dict[str, str], repo: Path, *, kv: VaultKV | None = None) -> None:
        check_options(self.kind, options, self.OPTIONS)
        self.options = dict(options)
        self.repo = repo
        self.mount = _checked_path(options.get("mount", DEFAULT_MOUNT), "vault mount")
        self.prefix = _checked_path(options.get("path", DEFAULT_PATH), "vault path")
        self.max_attempts = MAX_ATTEMPTS
        self._kv = kv

    @property
    def kv(self) -> VaultKV:
        if self._kv is None:
            self._kv = VaultKV.from_env(self.mount)
        return self._kv

    def _path(self, env: str) -> str:
        return f"{self.prefix}/{check_segment(env, 'environment')}"

    def _load(self, env: str) -> tuple[int, Records]:
        version, data = self.kv.read(self._path(env))
        try:
            records = [KeyRecord.from_dict({**item, "env": env}) for item in (data or {}).get("records", [])]
        except (KeyError, TypeError, ValueError, AttributeError):
            where = self.kv.where(self._path(env))
            raise BackendError(f"vault: {where} holds records sealer cannot read") from None
        return version, records

    @staticmethod
    def _dump(records: Records) -> dict[str, Any]:
        """A list keeps the order records were written in (Vault sorts the keys of objects)."""
        return {"records": [record.as_dict() for record in records]}

    def _update(self, env: str, change: Callable[[Records], Records]) -> None:
        """Read, change, check-and-set write; on a conflict start again from a fresh read."""
        for _ in range(self.max_attempts):
            version, records = self._load(env)
            updated = change(records)
            if updated == records:
                return
            try:
                self.kv.write(self._path(env), self._dump(updated), cas=version)
                return
            except CasConflict:
                continue
        raise BackendError(
            f"vault: {self.kv.where(self._path(env))} kept changing under concurrent writers "
            f"({self.max_attempts} attempts); try again"
        )

    def list(self, env: str) -> list[KeyRecord]:
        return oldest_first(self._load(env)[1])

    def health(self) -> str:
        return f"{self.kv.health()}, KV v2 {self.mount}/{self.prefix}/<env>"
