"""Auth0 key store: the records of every environment in the metadata of one Auth0 user or
application, through auth0-python's Management API (hashes and metadata only).

Where the records live:
- option `user_id`: `app_metadata.sealer_keys` of that user, a JSON object. Auth0 caps a
  serialized user profile at 10 KB, so sealer keeps the whole `app_metadata` under
  USER_BUDGET (8 KB), leaving room for the profile's own fields.
- option `client_id`: the application's `client_metadata`. Auth0 applications have no
  app_metadata; their metadata takes at most 10 properties of string values up to 255
  characters, so the JSON document is split over `sealer_keys_0`, `sealer_keys_1`, ... in
  the properties other tools leave free (about 2.5 KB: a handful of records).
Before a write that would not fit, the oldest revoked records are dropped; if it still does
not fit, the write is refused with a BackendError and nothing is sent.

Concurrency: the Management API has no conditional update. Every change is a
read-modify-write of the whole document carrying a revision counter and a random writer
tag, followed by a re-read: if another writer's document replaced ours, the change is
applied again on the fresh state. Writers sharing one store (threads of one sealer run) are
serialised by a lock, so among them exactly one activation wins. Across processes the
document is always one writer's complete view, so it never holds two active keys for a
name; but two processes racing inside the same read-write-verify window can both see their
own write, and the later one silently wins. Run rotations for one Auth0 target from one
place at a time (a CI concurrency group).

Rate limits: a 429 is retried a bounded number of times after the wait the answer asks
for (Retry-After, else X-RateLimit-Reset); the wait function is injectable for tests.

Credentials, from the environment only: AUTH0_DOMAIN plus either AUTH0_MANAGEMENT_TOKEN or
AUTH0_CLIENT_ID / AUTH0_CLIENT_SECRET (client-credentials grant; AUTH0_AUDIENCE overrides
the default https://<domain>/api/v2/); or, per environment (#17), the domain its credential
source names and the variables it names (`sealer.backends.credentials`). The domain may be
an http:// URL only for a loopback host (a local emulator or test server).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from sealer import deadline, strictjson
from sealer.backends.base import arrived, may_have_arrived, reading_back
from sealer.backends.credentials import Auth0Login, Auth0Source, is_loopback
from sealer.backends.document import Records, WholeDocumentStore, check_unique
from sealer.errors import BackendError, BadInput, WriteUnconfirmed
from sealer.headers import refuse_unsendable, sendable
from sealer.records import REVOKED, KeyRecord, from_store, oldest_first

DOC_KEY = "sealer_keys"
USER_BUDGET = 8 * 1024
CLIENT_KEYS = 10
CLIENT_VALUE = 255
MAX_ATTEMPTS = 5
RATE_RETRIES = 4
MAX_WAIT = 60.0
TIMEOUT_SECONDS = 10.0
# A user's or application's metadata is at most a few KB, a token's answer less: a server sending
# more (a huge or endless body) is refused before it fills the runner's memory.
MAX_ANSWER_BYTES = 4 << 20


@dataclass(frozen=True)
class Document:
    rev: int
    writer: str
    records: tuple[KeyRecord, ...]

    def as_json(self) -> dict[str, Any]:
        return {"rev": self.rev, "writer": self.writer, "records": [r.as_dict() for r in self.records]}

    @classmethod
    def from_json(cls, data: Any, where: str) -> Document:
        if data is None:
            return cls(0, "", ())
        try:
            records = tuple(from_store(item) for item in data["records"])
            document = cls(int(data["rev"]), str(data["writer"]), records)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BackendError(f"auth0: {where} holds a {DOC_KEY} value sealer cannot read") from None
        check_unique(list(records), f"auth0: {where}")
        return document


def compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


# -- where the document lives ------------------------------------------------------------------
class Target(Protocol):
    where: str

    def read(self, api: Any) -> dict[str, Any]: ...

    def write(self, api: Any, patch: dict[str, Any]) -> None: ...

    def decode(self, metadata: dict[str, Any]) -> Any: ...

    def encode(self, doc: Document, metadata: dict[str, Any]) -> dict[str, Any] | None:
        """The metadata patch, or None when it would break Auth0's limit."""


class UserTarget:
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.where = f"user {user_id}"

    def read(self, api: Any) -> dict[str, Any]:
        user = api.users.get(self.user_id, fields="app_metadata", include_fields=True)
        return dict(user.app_metadata or {})

    def write(self, api: Any, patch: dict[str, Any]) -> None:
        api.users.update(self.user_id, app_metadata=patch)

    def decode(self, metadata: dict[str, Any]) -> Any:
        return metadata.get(DOC_KEY)

    def encode(self, doc: Document, metadata: dict[str, Any]) -> dict[str, Any] | None:
        patch = {DOC_KEY: doc.as_json()}
        return patch if len(compact({**metadata, **patch}).encode()) <= USER_BUDGET else None


class ClientTarget:
    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.where = f"application {client_id}"

    def read(self, api: Any) -> dict[str, Any]:
        client = api.clients.get(self.client_id, fields="client_metadata", include_fields=True)
        return dict(client.client_metadata or {})

    def write(self, api: Any, patch: dict[str, Any]) -> None:
        api.clients.update(self.client_id, client_metadata=patch)

    @staticmethod
    def _chunk_keys(metadata: dict[str, Any]) -> list[str]:
        return [k for k in metadata if k.startswith(DOC_KEY + "_") and k[len(DOC_KEY) + 1 :].isdigit()]

    def decode(self, metadata: dict[str, Any]) -> Any:
        text, index = "", 0
        while f"{DOC_KEY}_{index}" in metadata:
            text += str(metadata[f"{DOC_KEY}_{index}"])
            index += 1
        if not text:
            return None
        try:
            return strictjson.loads(text)  # a field given twice: unreadable too
        except ValueError:
            return {"unreadable": True}

    def encode(self, doc: Document, metadata: dict[str, Any]) -> dict[str, Any] | None:
        text = compact(doc.as_json())
        chunks = [text[i : i + CLIENT_VALUE] for i in range(0, len(text), CLIENT_VALUE)]
        stale = self._chunk_keys(metadata)
        others = len(metadata) - len(stale)
        if others + len(chunks) > CLIENT_KEYS:
            return None
        patch: dict[str, Any] = {key: None for key in stale}  # null deletes a property
        patch.update({f"{DOC_KEY}_{i}": chunk for i, chunk in enumerate(chunks)})
        return patch


# -- rate limits and errors --------------------------------------------------------------------
def retry_delay(headers: Any, now: float) -> float:
    """Seconds Auth0 asks us to wait: Retry-After (seconds or HTTP date), else X-RateLimit-Reset."""
    lowered = {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    after = lowered.get("retry-after", "").strip()
    if after.isdigit():
        return float(after)
    if after:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(after).timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = lowered.get("x-ratelimit-reset", "").strip()
    if reset.isdigit():
        return max(0.0, float(reset) - now)
    return 1.0


def _status_and_headers(err: Exception) -> tuple[int | None, Any]:
    return getattr(err, "status_code", None), getattr(err, "headers", None)


def _describe(status: int | None, where: str, host: str, hint: str) -> str:
    if status == 401:
        return f"auth0: {host} refused the credentials (401); check {hint}"
    if status == 403:
        return f"auth0: the token may not do this on {where} (403 insufficient scope)"
    if status == 404:
        return f"auth0: {where} does not exist on {host} (404)"
    if status == 429:
        return f"auth0: {host} kept answering 429 Too Many Requests; try again later"
    if status and status >= 500:
        return f"auth0: {host} is unavailable ({status})"
    return f"auth0: {host} refused the request on {where} ({status or 'no status'})"


# httpx decodes a compressed answer a network read at a time, each with no bound (64 KiB of gzip
# are 64 MiB; 3 KiB of gzip twice, gigabytes): asked for none, an answer compressed all the same
# is not read (`_bounded`).
PLAIN = {"Accept-Encoding": "identity"}


def _bounded(response: Any) -> None:
    """Read the answer's body here, at most MAX_ANSWER_BYTES of it (decoded): httpx would read all
    a server sends. The hook runs before httpx reads the body; what it read is the body."""
    if response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        response.close()
        raise BackendError(
            f"auth0: {response.request.url.host} sent a compressed answer, asked not to: not read"
        )
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            response.close()
            raise BackendError(
                f"auth0: {response.request.url.host} sent an answer larger than "
                f"{MAX_ANSWER_BYTES >> 10} KiB: not read"
            )
    response._content = bytes(body)


def endpoint(raw: str) -> tuple[str, str]:
    """(scheme, host[:port]) of AUTH0_DOMAIN; plain http only for a loopback host."""
    if "://" not in raw:
        return "https", raw.strip().strip("/")
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput("the Auth0 domain must be a tenant domain or an http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise BadInput("the Auth0 domain: plain http is allowed only for a loopback host")
    return parts.scheme, parts.netloc.rsplit("@", 1)[-1]


# -- the store ---------------------------------------------------------------------------------
class Auth0Store(WholeDocumentStore):
    """KeyStore in Auth0 metadata: option `user_id` or `client_id` (exactly one)."""

    kind: ClassVar[str] = "auth0"

    def __init__(
        self,
        options: dict[str, str],
        repo: Path,
        *,
        wait: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        source: Auth0Source | None = None,
    ) -> None:
        chosen = [name for name in ("user_id", "client_id") if options.get(name)]
        if len(chosen) != 1:
            raise BadInput("auth0 backend: set exactly one of the options user_id, client_id")
        self.options = dict(options)
        self.repo = repo
        self.source = source or Auth0Source()
        self.target: Target = (
            UserTarget(options["user_id"]) if chosen == ["user_id"] else ClientTarget(options["client_id"])
        )
        self.wait = wait
        self.clock = clock
        self.max_attempts = MAX_ATTEMPTS
        self.rate_retries = RATE_RETRIES
        self._api: Any = None
        self._host = ""
        self._writing = threading.Lock()  # one read-modify-write at a time per store
        self._connecting = threading.Lock()

    # -- client --------------------------------------------------------------------------------
    @property
    def api(self) -> Any:
        with self._connecting:
            if self._api is None:
                self._api = self._connect()
        return self._api

    def _connect(self) -> Any:
        login = self.source.login()  # this environment's own tenant and credentials
        scheme, self._host = endpoint(login.domain)
        import httpx
        from auth0.management import Auth0

        if login.token:  # httpx refuses it on every request: 'cannot reach', or a traceback
            refuse_unsendable({"Authorization": f"Bearer {login.token}"}, f"auth0: {self._host}")
        # No keep-alive: a store has no close(), and a pooled connection would stay open (a
        # ResourceWarning) after the store is dropped; a command makes only a few requests.
        client = httpx.Client(
            timeout=TIMEOUT_SECONDS,
            limits=httpx.Limits(max_keepalive_connections=0),
            event_hooks={"response": [_bounded]},
            headers=PLAIN,
        )
        return Auth0(
            base_url=f"{scheme}://{self._host}/api/v2",
            token=login.token or self._token(scheme, login),
            max_retries=0,  # sealer retries 429s itself, with an injectable wait
            timeout=TIMEOUT_SECONDS,
            httpx_client=client,
        )

    def _token(self, scheme: str, login: Auth0Login) -> str:
        """The client-credentials grant, posted here rather than by the SDK: its requests call
        follows a 307 to any host and sends the body, the client secret, there again."""
        import httpx
        from auth0.authentication.exceptions import Auth0Error

        body = {
            "grant_type": "client_credentials",
            "client_id": login.client_id,
            "client_secret": login.client_secret,
            "audience": login.audience or f"https://{self._host}/api/v2/",
        }

        def grant() -> Any:
            bounded = {"response": [_bounded]}
            with httpx.Client(
                timeout=TIMEOUT_SECONDS, follow_redirects=False, event_hooks=bounded, headers=PLAIN
            ) as client:
                answer = client.post(f"{scheme}://{self._host}/oauth/token", json=body)
            if answer.is_redirect:
                raise BackendError(
                    f"auth0: {self._host} answered the token request with a redirect, not followed "
                    "(the client secret would go along): set the tenant's own domain"
                )
            if answer.status_code != 200:
                raise Auth0Error(answer.status_code, "", "", headers=answer.headers)
            try:
                return answer.json()
            except ValueError:
                return None

        answer = self._call(grant, "the token endpoint")
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise BackendError(f"auth0: {self._host} issued no access token")
        # httpx's LocalProtocolError (h11 sends no header ending in a space or tab), or a UnicodeEncodeError
        if not sendable(token) or token != token.rstrip(" \t"):
            raise BackendError(f"auth0: {self._host} issued an access token a header cannot carry")
        return token

    def _call(self, request: Callable[[], Any], where: str, writes: bool = False) -> Any:
        """One Auth0 request: 429 waits and retries (bounded); every failure is one line. A write
        that may have reached Auth0 before it failed (its answer cut off, a 5xx) may have been
        kept: a WriteUnconfirmed, which a rotation undoes."""
        import httpx
        import requests
        from auth0.authentication.exceptions import Auth0Error
        from auth0.management.core.api_error import ApiError
        from auth0.management.core.parse_error import ParsingError

        for attempt in range(self.rate_retries + 1):
            try:
                return deadline.request(f"auth0: {self._host}", f"requesting {where}", request, writes)
            except BackendError as err:  # an answer past its bound (`_bounded`)
                raise arrived(err, writes) from None
            except (ApiError, Auth0Error) as err:
                status, headers = _status_and_headers(err)
                if status != 429 or attempt == self.rate_retries:
                    # a 5xx (a gateway's) may come after Auth0 kept the write
                    error = WriteUnconfirmed if writes and (status or 0) >= 500 else BackendError
                    raise error(_describe(status, where, self._host, self.source.hint)) from None
                delay = retry_delay(headers, self.clock())
                if delay > MAX_WAIT:
                    message = f"auth0: rate limited (429); {self._host} asks to wait {delay:.0f} s"
                    raise BackendError(message) from None
                self.wait(delay)
            except ParsingError:  # a 2xx whose body is no user or application (a list, a string)
                raise BackendError(
                    f"auth0: {self._host} answered on {where} with something that is not Auth0's "
                    "(is the domain the tenant's?)"
                ) from None
            except (httpx.HTTPError, requests.exceptions.RequestException) as err:
                error = WriteUnconfirmed if writes and may_have_arrived(err) else BackendError
                raise error(f"auth0: cannot reach {self._host} ({type(err).__name__})") from None
            except RecursionError:  # json's, reading an answer (a write's: it arrived) nested past its depth
                error = WriteUnconfirmed if writes else BackendError
                raise error(f"auth0: {self._host} {strictjson.TOO_DEEP}") from None
        raise AssertionError("unreachable")

    # -- the document --------------------------------------------------------------------------
    def _read(self) -> tuple[dict[str, Any], Document]:
        api = self.api
        metadata = self._call(lambda: self.target.read(api), self.target.where)
        return metadata, Document.from_json(self.target.decode(metadata), self.target.where)

    def _write(self, patch: dict[str, Any]) -> None:
        api = self.api
        self._call(lambda: self.target.write(api, patch), self.target.where, writes=True)

    def _fit(self, doc: Document, metadata: dict[str, Any]) -> dict[str, Any]:
        """The patch for `doc`, dropping the oldest revoked records until it fits Auth0's limit."""
        records = list(doc.records)
        while True:
            patch = self.target.encode(Document(doc.rev, doc.writer, tuple(records)), metadata)
            if patch is not None:
                return patch
            revoked = [r for r in records if r.status == REVOKED]
            if not revoked:
                raise BackendError(
                    f"auth0: the key records no longer fit {self.target.where}'s metadata (Auth0 limit: "
                    f"{self._limit_text()}); revoke old keys or use a user target"
                )
            oldest = min(revoked, key=lambda r: (r.revoke_at or r.created, r.created, r.key_id))
            records.remove(oldest)

    def _limit_text(self) -> str:
        if isinstance(self.target, UserTarget):
            return f"{USER_BUDGET} bytes of app_metadata"
        return f"{CLIENT_KEYS} client_metadata properties of {CLIENT_VALUE} characters"

    def _update(self, env_name: str, change: Callable[[Records], Records]) -> None:
        with self._writing:
            self._update_unlocked(env_name, change)

    def _update_unlocked(self, env_name: str, change: Callable[[Records], Records]) -> None:
        """Read-modify-write with a revision counter and writer tag, verified by a re-read."""
        for attempt in range(self.max_attempts):
            # After a first write, whatever fails leaves that write's fate unknown.
            with reading_back() if attempt else contextlib.nullcontext():
                metadata, doc = self._read()
                mine = [r for r in doc.records if r.env == env_name]
                updated = change(mine)
                if updated == mine:
                    return
                others = [r for r in doc.records if r.env != env_name]
                new = Document(doc.rev + 1, secrets.token_hex(8), tuple(others + updated))
                patch = self._fit(new, metadata)
                self._write(patch)
            with reading_back():
                _, seen = self._read()
            if seen.writer == new.writer or _applied(seen, env_name, mine, updated):
                return
        raise WriteUnconfirmed(
            f"auth0: {self.target.where} did not keep what was written ({self.max_attempts} attempts): it "
            "kept changing under concurrent writers, or the server answers writes without storing them; "
            "nothing is counted as done, try again"
        )

    # -- KeyStore ------------------------------------------------------------------------------
    def list(self, env_name: str) -> list[KeyRecord]:
        return oldest_first([r for r in self._read()[1].records if r.env == env_name])

    def health(self) -> str:
        _, doc = self._read()
        count = len(doc.records)
        return f"auth0 {self._host}, {self.target.where}: {count} key record(s), revision {doc.rev}"


def _applied(seen: Document, env_name: str, before: Records, after: Records) -> bool:
    """Did a later writer keep our change (it read after our write)? Compare only the records
    our change touched."""
    old = {r.key_id: r for r in before}
    new = {r.key_id: r for r in after}
    now = {r.key_id: r for r in seen.records if r.env == env_name}
    touched = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    return all(now.get(k) == new.get(k) for k in touched)
