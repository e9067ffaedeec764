"""Vault KV version 2: the few calls sealer makes, for the Vault store and for escrow.

Credentials come from Vault's usual environment: VAULT_ADDR, VAULT_TOKEN, and optionally
VAULT_NAMESPACE and VAULT_CACERT; or, for the store of an environment with a credential source
(#17), its address, namespace and the variable holding its token. Never options, never printed.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard, TypeVar
from urllib.parse import urlsplit

from sealer import deadline, headers
from sealer.backends import vault_auth
from sealer.backends.base import arrived, may_have_arrived, reading_back, shown
from sealer.backends.credentials import VaultSource, secret_shape
from sealer.errors import BackendError, BadInput, WriteUnconfirmed
from sealer.strictjson import TOO_DEEP

T = TypeVar("T")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def check_segment(value: str, what: str) -> str:
    """A path segment taken from config: no slashes, no dot-dot, nothing to escape."""
    if not _SEGMENT.match(value) or value in (".", ".."):
        raise BadInput(f"{what} {value!r} cannot be used in a store path")
    return value


_NOT_KV2 = "the answer is not a KV v2 secret (is the mount a KV v2 engine, the address Vault's?)"


def _count(value: object) -> TypeGuard[int]:
    """A KV v2 version number: a whole number (JSON's, never a bool or a string) above zero."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


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

    def __init__(self, mount: str, client: Any, address: str, token_variable: str = "VAULT_TOKEN") -> None:
        self.mount = mount.strip("/")
        self.client = client
        self.address = address
        self.token_variable = token_variable  # named in a refusal's message, never its value

    @classmethod
    def from_env(cls, mount: str) -> VaultKV:
        return cls.from_source(mount, VaultSource())

    @classmethod
    def from_source(cls, mount: str, source: VaultSource) -> VaultKV:
        """A client of its own for `source` (the global variables when it names none)."""
        login = source.login()
        address = safe_address(login.address)
        # requests refuses it on every request: 'cannot reach', a write's of unknown fate
        headers.refuse_unsendable({"X-Vault-Token": login.token}, f"vault: {address}")
        client = vault_auth.client(login.address, login.token, login.namespace, login.verify)
        return cls(mount, client, address, source.token_variable)

    def where(self, path: str) -> str:
        return f"{self.mount}/{path}"

    def read(self, path: str, version: int | None = None) -> tuple[int, dict[str, Any] | None]:
        """(current version, data); (0, None) when nothing was ever written, (n, None) when the
        latest version is deleted (a CAS write must still name n). With `version`, that version
        of the secret ((0, None) when Vault has no such version)."""
        from hvac.exceptions import InvalidPath

        kv = self.client.secrets.kv.v2
        what = f"reading {self.where(path)}"
        with self.errors(what):
            try:
                answer = self._bounded(
                    what,
                    lambda: kv.read_secret_version(
                        path=path, version=version, mount_point=self.mount, raise_on_deleted_version=False
                    ),
                )
            except InvalidPath:
                return 0, None
        body = answer.get("data") if isinstance(answer, dict) else None
        metadata = body.get("metadata") if isinstance(body, dict) else None
        number = metadata.get("version") if isinstance(metadata, dict) else None
        data = body.get("data") if isinstance(body, dict) else None
        if not _count(number) or not isinstance(data, (dict, type(None))):
            raise BackendError(f"vault: reading {self.where(path)}: {_NOT_KV2}")
        return number, data

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        """Check-and-set write; CasConflict when `cas` is no longer the current version."""
        from hvac.exceptions import InvalidRequest

        kv = self.client.secrets.kv.v2
        what = f"writing {self.where(path)}"
        with self.errors(what, writes=True):
            try:
                answer = self._bounded(
                    what,
                    lambda: kv.create_or_update_secret(
                        path=path, secret=data, cas=cas, mount_point=self.mount
                    ),
                    writes=True,
                )
            except InvalidRequest as err:
                if any("check-and-set" in str(e) for e in err.errors or ()):
                    raise CasConflict(self.where(path)) from None
                raise
        body = answer.get("data") if isinstance(answer, dict) else None
        version = body.get("version") if isinstance(body, dict) else None
        if not _count(version) or version <= cas:  # a 200 that names no new version wrote nothing we know
            raise WriteUnconfirmed(
                f"vault: writing {self.where(path)}: the answer confirms no new version: not counted as "
                "written (read the store again before relying on it)"
            )
        self._confirm(path, data, version)
        return version

    def _confirm(self, path: str, data: dict[str, Any], version: int) -> None:
        """Read back the version the write answer names: a proxy or a broken server may answer
        a write well without keeping it, and a write never kept must not count as done."""
        with reading_back():
            number, stored = self.read(path, version)
        if number != version or stored != json.loads(json.dumps(data)):  # as Vault gives it back
            raise WriteUnconfirmed(
                f"vault: writing {self.where(path)}: version {version} does not hold what was written: "
                "not counted as written (read the store again before relying on it)"
            )

    def health(self) -> str:
        with self.errors("checking health"):
            status = self._bounded(
                "checking health", lambda: self.client.sys.read_health_status(method="GET")
            )
            if not isinstance(status, dict):
                code = getattr(status, "status_code", 0)
                if code == 503:
                    raise BackendError(f"vault: {self.address} is sealed (503)")
                if code not in (429, 472, 473):  # standbys answer these and still serve reads
                    raise BackendError(f"vault: {self.address} is not healthy (HTTP {code})")
                status = _json_of(status)
            if not isinstance(status, dict):
                raise BackendError(f"vault: {self.address} answered its health check (sys/health) {_NO_JSON}")
            self._check_token()
        return f"vault {shown(status.get('version'), _VERSION)} at {self.address}"

    def _check_token(self) -> None:
        """auth/token/lookup-self must answer the token's data: a 200 carrying `errors`, or no
        `data` (a proxy's or another server's page), is no Vault that knows the token."""
        from hvac.exceptions import Forbidden, InvalidPath, InvalidRequest

        refused = f"vault: {self.address} refused {self.token_variable} (403 permission denied)"
        if not self.client.token:
            raise BackendError(refused)
        try:
            answer = self._bounded("looking up the token", self.client.auth.token.lookup_self)
        except (Forbidden, InvalidPath, InvalidRequest):  # what hvac's is_authenticated reads as "no"
            raise BackendError(refused) from None
        if not isinstance(answer, dict) or answer.get("errors") or not isinstance(answer.get("data"), dict):
            raise BackendError(
                f"vault: {self.address} answered the token lookup (auth/token/lookup-self) without the "
                "token's data: not a Vault that knows the token"
            )

    def _bounded(self, what: str, call: Callable[[], T], writes: bool = False) -> T:
        return deadline.request(f"vault: {self.address}", what, call, writes)

    @contextlib.contextmanager
    def errors(self, what: str, writes: bool = False) -> Iterator[None]:
        """Vault and network failures as one line each; no token, no secret data in the text. A
        write that may have reached Vault and whose answer then failed (its connection dropped
        once open, or a 5xx: a gateway's may come after Vault kept it) may have been kept: a
        WriteUnconfirmed, which a rotation undoes."""
        import hvac.exceptions as vault_errors
        import requests

        try:
            yield
        except BackendError as err:  # an answer past its bound (`vault_auth._bounded`)
            raise arrived(err, writes) from None
        except vault_errors.VaultError as err:
            error = WriteUnconfirmed if writes and _server_error(err) else BackendError
            raise error(self._vault_said(err, what)) from None
        except requests.exceptions.TooManyRedirects:
            raise BackendError(f"vault: {vault_auth.redirect_refused(self.address)}") from None
        except requests.exceptions.RequestException as err:
            error = WriteUnconfirmed if writes and may_have_arrived(err) else BackendError
            raise error(f"vault: cannot reach {self.address} ({type(err).__name__})") from None
        except RecursionError:  # json's, reading an answer (a write's: it arrived) nested past its depth
            error = WriteUnconfirmed if writes else BackendError
            raise error(f"vault: {self.address} {TOO_DEEP}") from None

    def _vault_said(self, err: Exception, what: str) -> str:
        """The one line for Vault's refusal `err` of `what`."""
        import hvac.exceptions as vault_errors

        if isinstance(err, (vault_errors.Forbidden, vault_errors.Unauthorized)):
            return (
                f"vault: permission denied {what} at {self.address} "
                f"(check {self.token_variable} and its policy)"
            )
        if isinstance(err, vault_errors.VaultDown):
            return f"vault: {self.address} is sealed or down (503) while {what}"
        if isinstance(err, vault_errors.RateLimitExceeded):
            return f"vault: rate limited (429) while {what}; try again later"
        token = getattr(self.client, "token", None) or ""
        detail = vault_auth.vault_said(err, [token], secret_shape) or type(err).__name__
        return f"vault: {what} failed: {detail}"


_NO_JSON = "with no JSON object: not a Vault"
# What a health check shows of the version the server names: the address may be a pull request's,
# and a line break or 4 MiB in it would forge or flood the lines `backend check` prints.
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,63}")


def _json_of(response: Any) -> Any:
    """A standby's health answer as JSON, None when it holds none (an HTML page, nested past
    what json reads)."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _server_error(err: Exception) -> bool:
    """A 5xx answer (the status `vault_auth`'s adapter gives the error; hvac's class without it)."""
    import hvac.exceptions as vault_errors

    status = getattr(err, "status_code", None)
    if isinstance(status, int):
        return status >= 500
    return isinstance(
        err, (vault_errors.InternalServerError, vault_errors.BadGateway, vault_errors.VaultDown)
    )
