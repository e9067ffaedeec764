"""A small JSON REST client over urllib for the Git hosts' APIs.

What it guarantees, because it carries a token that can push to the repository:
- the token goes only to the API's own origin (scheme, host, port): redirects and pagination
  links elsewhere are refused, never followed; plain http only to a loopback address;
- the token never appears in a URL or in an error message (server text is redacted, cut and
  stripped of control characters: a hostile server cannot paint the terminal);
- a request ends within MAX_REQUEST_SECONDS, however slowly the server trickles its answer;
- rate limits are waited out as the server asks (Retry-After, X-RateLimit-Reset,
  RateLimit-Reset), a bounded number of times and for a bounded total.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit

from sealer import deadline
from sealer.forge.base import ForgeError
from sealer.terminal import clean

TIMEOUT_SECONDS = 30  # each wait for a byte
MAX_REQUEST_SECONDS = 120.0  # one request in all: a server trickling bytes cannot stretch it
MAX_BODY_BYTES = 8 << 20  # no API answer sealer reads comes near this
MAX_PAGES = 50
MAX_RATE_LIMIT_WAITS = 3
MAX_TOTAL_WAIT_SECONDS = 300.0
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 3
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# A number the server sends (Retry-After, X-RateLimit-Reset, X-Next-Page): ASCII digits only, since
# str.isdigit() takes `²` (a Latin-1 header byte) that float() and int() then refuse.
_NUMBER = re.compile(r"[0-9]+")


@dataclass
class Reply:
    status: int
    data: Any
    headers: Mapping[str, str]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect to any host with every header, the token included."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx comes back as an HTTPError; `Client` decides


@dataclass
class Client:
    """`host` names the service in messages ("GitHub"); `base` is the API root URL."""

    host: str
    base: str
    token: str
    extra_headers: dict[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    error_text: Callable[[Any], str] = lambda data: ""
    auth_scheme: str = "Bearer"  # Gitea documents `token`
    page_size_param: str = "per_page"  # Gitea's is `limit`

    def __post_init__(self) -> None:
        self.base = self.base.rstrip("/") + "/"
        parts = urlsplit(self.base)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ForgeError(f"{self.host} API URL {self._safe(self.base)!r} is not an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ForgeError(
                f"{self.host} API URL {self._safe(self.base)} must use https (it carries a token)"
            )
        if parts.username or parts.password:
            raise ForgeError(
                f"{self.host} API URL must not hold credentials: give the token in the environment"
            )
        if not self.token or any(c in self.token for c in "\r\n\0"):
            raise ForgeError(f"the {self.host} token is empty or not one line")
        self._origin = _origin(parts)
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._waited = 0.0

    # -- requests ------------------------------------------------------------------------------
    def get(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        return self.call("GET", path, query=query).data

    def send(self, method: str, path: str, payload: Any) -> Any:
        return self.call(method, path, payload=payload).data

    def pages(self, path: str, query: Mapping[str, str] | None = None) -> Iterator[Any]:
        """Every item of a paginated list: GitHub's and Gitea's Link rel="next", GitLab's X-Next-Page."""
        reply = self.call("GET", path, query={**(query or {}), self.page_size_param: "100"})
        for _ in range(MAX_PAGES):
            if not isinstance(reply.data, list):
                raise ForgeError(f"{self.host} answered {path} with something that is not a list")
            yield from reply.data
            following = _next_link(reply.headers.get("link", ""))
            if following is None and _NUMBER.fullmatch(reply.headers.get("x-next-page", "")):
                params = {**(query or {}), self.page_size_param: "100", "page": reply.headers["x-next-page"]}
                following = f"{path}?{urlencode(params)}"
            if following is None:
                return
            reply = self.call("GET", following)
        raise ForgeError(f"{self.host} listed more than {MAX_PAGES} pages for {path}")

    def call(
        self, method: str, path: str, query: Mapping[str, str] | None = None, payload: Any = None
    ) -> Reply:
        url = self._url(path, query)
        for _ in range(_MAX_REDIRECTS + 1):
            reply = self._with_rate_limit(method, url, payload)
            if reply.status not in _REDIRECTS:
                return reply
            url = self._redirect_target(url, reply.headers.get("location", ""))
        raise ForgeError(f"{self.host} redirected {self._path_of(url)} too many times")

    def _url(self, path: str, query: Mapping[str, str] | None) -> str:
        url = urljoin(self.base, path.lstrip("/")) if not path.startswith(("http://", "https://")) else path
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        self._check_origin(url)
        return url

    def _check_origin(self, url: str) -> None:
        parts = urlsplit(url)
        if _origin(parts) != self._origin or parts.username:
            raise ForgeError(
                f"{self.host} pointed sealer to another site ({self._safe(parts.hostname or url)}); "
                "refused: the token goes to the API's own address only"
            )

    def _redirect_target(self, url: str, location: str) -> str:
        target = urljoin(url, location)
        try:
            self._check_origin(target)
        except ForgeError:
            raise ForgeError(
                f"{self.host} redirected {self._path_of(url)} to another site "
                f"({self._safe(urlsplit(target).hostname or '?')}); refused: the token stays with the API"
            ) from None
        return target

    def _with_rate_limit(self, method: str, url: str, payload: Any) -> Reply:
        for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
            reply = self._once(method, url, payload)
            wait = self._rate_limit_wait(reply)
            if wait is None:
                return reply
            if attempt == MAX_RATE_LIMIT_WAITS or self._waited + wait > MAX_TOTAL_WAIT_SECONDS:
                raise ForgeError(
                    f"{self.host} rate limit reached ({method} {self._path_of(url)}); "
                    f"the server asks to wait {wait:.0f}s more: run again later"
                )
            self._waited += wait
            pause(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _rate_limit_wait(self, reply: Reply) -> float | None:
        """Seconds to wait when `reply` is a rate-limit refusal, else None."""
        headers = reply.headers
        limited = reply.status == 429 or (
            reply.status == 403 and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)
        )
        if not limited:
            return None
        retry_after = headers.get("retry-after", "").strip()
        if _NUMBER.fullmatch(retry_after):
            return float(retry_after)
        reset = (headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset") or "").strip()
        if _NUMBER.fullmatch(reset):
            return max(0.0, float(reset) - self.clock()) + 1.0
        return 60.0  # GitHub's advice for a secondary limit that names no time

    def _once(self, method: str, url: str, payload: Any) -> Reply:
        return deadline.within(
            MAX_REQUEST_SECONDS,
            lambda: self._exchange(method, url, payload),
            lambda: ForgeError(
                f"{self.host} did not answer {method} {self._path_of(url)} "
                f"within {MAX_REQUEST_SECONDS:g} seconds"
            ),
            "sealer-forge-request",
        )

    def _exchange(self, method: str, url: str, payload: Any) -> Reply:
        body = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=body, method=method)
        request.add_unredirected_header("Authorization", f"{self.auth_scheme} {self.token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", "sealer")
        for name, value in self.extra_headers.items():
            request.add_header(name, value)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                return self._reply(response.status, response.headers, response.read(MAX_BODY_BYTES + 1))
        except urllib.error.HTTPError as err:
            with err:
                reply = self._reply(err.code, err.headers, err.read(MAX_BODY_BYTES + 1), lenient=True)
            if reply.status in _REDIRECTS or self._rate_limit_wait(reply) is not None:
                return reply
            raise self._error(method, url, reply) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", None) or type(err).__name__
            raise ForgeError(
                f"cannot reach {self.host} at {self._safe(self._origin_text())}: {self._safe(str(reason))}"
            ) from None

    def _reply(self, status: int, headers: Any, raw: bytes, lenient: bool = False) -> Reply:
        if len(raw) > MAX_BODY_BYTES:
            raise ForgeError(f"{self.host} sent an answer larger than {MAX_BODY_BYTES >> 20} MiB")
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        try:
            data = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):  # RecursionError: a hostile answer nested 100,000 deep
            if not lenient:
                raise ForgeError(f"{self.host} sent an answer that is not JSON (HTTP {status})") from None
            data = None
        return Reply(status, data, lowered)

    def _error(self, method: str, url: str, reply: Reply) -> ForgeError:
        what = f"{method} {self._path_of(url)}"
        detail = self._safe(self.error_text(reply.data))
        hint = {
            401: "the token is missing, expired or revoked",
            403: "the token lacks a permission this needs",
            404: "not found, or the token cannot see it",
            409: "conflict",
            422: "the request was refused",
        }.get(reply.status, "request failed")
        return ForgeError(
            f"{self.host}: HTTP {reply.status} on {what}: {hint}" + (f" ({detail})" if detail else ""),
            status=reply.status,
            detail=detail,
        )

    # -- what may be shown -----------------------------------------------------------------------
    def _safe(self, text: str) -> str:
        """Server- or user-supplied text fit for one log line: no token, no control bytes."""
        return clean(text.replace(self.token, "[token]") if self.token else text)

    def _path_of(self, url: str) -> str:
        return self._safe(urlsplit(url).path)

    def _origin_text(self) -> str:
        scheme, host, port = self._origin
        return f"{scheme}://{host}:{port}"


def _origin(parts: SplitResult) -> tuple[str, str | None, int]:
    """(scheme, host, port) with the scheme's default port filled in; a bad port is no origin."""
    try:
        port = parts.port
    except ValueError:
        raise ForgeError("a URL with an invalid port was refused") from None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def pause(seconds: float) -> None:
    """Wait out a rate limit (tests replace this)."""
    time.sleep(seconds)


_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def _next_link(header: str) -> str | None:
    found = _LINK.search(header)
    return found.group(1) if found else None
