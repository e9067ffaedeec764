"""The key-store contract every backend implements (the record model is `sealer.records`).

Stores hold hashes and metadata only, never a key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
from collections.abc import Iterator
from typing import ClassVar, Protocol

from sealer.errors import BackendError, WriteUnconfirmed
from sealer.records import GraceEnds, KeyRecord


def arrived(err: BackendError, writes: bool) -> BackendError:
    """`err`, a failure of an answer that came (past its bound, misshapen): a write's reached the
    store, so it is one not confirmed, which a rotation undoes."""
    return WriteUnconfirmed(str(err)) if writes and not isinstance(err, WriteUnconfirmed) else err


def shown(value: object, shape: re.Pattern[str]) -> str:
    """What `backend check` shows of a value a server names (its version, a database), only
    when so shaped, else `?`: the server may be a pull request's, and a line break or an escape
    sequence there would forge a line of the output."""
    return value if isinstance(value, str) and shape.fullmatch(value) else "?"


def may_have_arrived(err: BaseException) -> bool:
    """Whether a request that failed this way (requests' error, or httpx's) may have reached the
    server: only a connection never made (refused, no such host, its proxy, TLS or connect
    timing out, no pooled connection free) sent nothing. A write failing otherwise (its answer
    cut off, timed out, dropped) may have been kept."""
    # Each library as its store imported it: an error of one never imported is none of its.
    httpx, requests = sys.modules.get("httpx"), sys.modules.get("requests")
    if httpx is not None and isinstance(err, httpx.HTTPError):
        unsent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
        return not isinstance(err, (*unsent, httpx.UnsupportedProtocol))
    if requests is None or not isinstance(err, requests.exceptions.RequestException):
        return True
    if isinstance(err, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return False
    import urllib3.exceptions

    reason = err.args[0] if isinstance(err, requests.exceptions.ConnectionError) and err.args else None
    # refused and unresolved are ConnectTimeoutErrors too
    return not isinstance(getattr(reason, "reason", reason), urllib3.exceptions.ConnectTimeoutError)


@contextlib.contextmanager
def reading_back() -> Iterator[None]:
    """Around the read-back of a write the store answered: any failure there (a read refused,
    a store gone down) leaves the write's fate unknown, so it is a WriteUnconfirmed."""
    try:
        yield
    except WriteUnconfirmed:
        raise
    except BackendError as err:
        raise WriteUnconfirmed(str(err)) from None


class KeyStore(Protocol):
    """What `sealer rotate`, `sealer keys` and `sealer backend` need from a store. The rules
    named below are `sealer.records`' (one set for every store)."""

    kind: ClassVar[str]

    def register(self, record: KeyRecord) -> None:
        """Store a new key as pending; BackendError if its key id exists."""

    def accept(self, env_name: str, key_id: str) -> None:
        """Make a pending key valid beside the active one (its rotation is committed; nothing
        is revoked). Rules: `plan_accept` (a no-op when accepted or active already)."""

    def activate(self, env_name: str, name: str, key_id: str, revoke_previous_at: GraceEnds) -> None:
        """Make `key_id` the active key of (env, name), and in the same write move the
        previously active key to revoked (`revoke_previous_at` None) or to grace until then (or
        each demoted key to the end `revoke_previous_at` gives its key id, accepted keys too).
        Rules: `plan_activate` (a no-op when already active; BackendError when unknown or not
        pending; other pending keys of (env, name) are superseded)."""

    def revoke(self, env_name: str, key_id: str, at: dt.datetime | None = None) -> None:
        """Revoke now, or keep valid (grace) until `at`; BackendError when unknown.
        Rules: `plan_revoke`."""

    def remove_pending(self, env_name: str, key_id: str) -> None:
        """Compensation for a failed rotation: drop a key that never became active.
        Rules: `must_remove` (a no-op when gone or revoked, so compensation can be re-run)."""

    def copy_in(self, record: KeyRecord) -> None:
        """Migration: store `record` as it is, whatever its status (hashes and metadata only).
        Rules: `plan_copy` (a no-op when the very record is there; BackendError naming the key
        when another version of it, or another active key of its name, is)."""

    def drop_copy(self, record: KeyRecord) -> None:
        """Undo `copy_in` after a failed migration: remove the record while it is exactly that
        copy. Rules: `plan_drop` (a no-op when gone; BackendError when it changed since)."""

    def list(self, env_name: str) -> list[KeyRecord]:
        """Every record of the environment, oldest first."""

    def verify(self, env_name: str, fingerprint: str, now: dt.datetime | None = None) -> str:
        """valid / revoked / expired / unknown for the key with this SHA-256 fingerprint."""

    def health(self) -> str:
        """A one-line description of the reachable store; BackendError if unreachable."""
