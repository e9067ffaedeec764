"""Where a `--cert` comes from: a file, or an `https://` URL as kubeseal allows, optionally
pinned by the certificate's SHA-256.

A URL is fetched with the system's CA store (`SSL_CERT_FILE` / `SSL_CERT_DIR` point OpenSSL
elsewhere) and bounded in every way a hostile server could stretch it: https only, no
redirects (so never down to http), at most MAX_BYTES, at most TIMEOUT_SECONDS in all.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sealer import deadline, repofiles, terminal
from sealer.errors import BadInput

if TYPE_CHECKING:
    import http.client
    import urllib.request

MAX_BYTES = 64 * 1024  # a PEM certificate is a few KiB; a chain, a few more
TIMEOUT_SECONDS = 10.0
_PIN = re.compile(r"[0-9a-f]{64}")


def is_url(spec: str) -> bool:
    return "://" in spec


def read(spec: str) -> bytes:
    """The certificate bytes behind `spec`: a file path or an https:// URL."""
    if not is_url(spec):
        return repofiles.read_input(spec, "certificate", user_path=True)
    if not spec.lower().startswith("https://"):
        raise BadInput(f"--cert {shown(spec)}: only https:// URLs are fetched")
    from urllib.parse import urlsplit

    try:
        netloc = urlsplit(spec).netloc
    except ValueError:
        raise BadInput(f"--cert {shown(spec)}: not a valid URL") from None
    if "@" in netloc:  # never sent, never resolved, never printed
        raise BadInput(f"--cert {shown(spec)}: credentials in the URL are not supported")
    return fetch(spec)


def shown(url: str) -> str:
    """`url` without credentials, query or fragment, fit for an error message."""
    if not is_url(url):
        return url
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return url.split("://", 1)[0] + "://…"
    return _printable(f"{parts.scheme}://{host}{port}{parts.path}")


def parse_pin(text: str) -> str:
    """A SHA-256 pin as 64 hex digits, colons and case ignored (`openssl x509 -fingerprint`)."""
    pin = text.replace(":", "").strip().lower()
    if not _PIN.fullmatch(pin):
        raise BadInput("--cert-sha256 takes the certificate's SHA-256: 64 hex digits")
    return pin


def check_pin(fingerprint: str, pin: str | None, source: str) -> None:
    if pin and fingerprint != parse_pin(pin):
        raise BadInput(
            f"{shown(source)}: certificate SHA-256 is {fingerprint}, not the pinned {parse_pin(pin)}"
        )


def fetch(url: str) -> bytes:
    """GET `url` within TIMEOUT_SECONDS overall (a server trickling bytes cannot stretch it)."""
    return deadline.within(
        TIMEOUT_SECONDS, lambda: _get(url), lambda: _timed_out(f"--cert {shown(url)}"), "sealer-cert-fetch"
    )


def _timed_out(where: str) -> BadInput:
    return BadInput(f"{where}: no answer within {TIMEOUT_SECONDS:g} seconds")


def _opener() -> urllib.request.OpenerDirector:
    import ssl
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None  # the 3xx then surfaces as an HTTPError

    context = ssl.create_default_context()  # system CAs, hostname checked
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect)


def _get(url: str) -> bytes:
    import http.client
    import urllib.error
    import urllib.request

    where = f"--cert {shown(url)}"
    try:
        request = urllib.request.Request(url, headers={"Accept": "application/x-pem-file, */*"})
        with _opener().open(request, timeout=TIMEOUT_SECONDS) as response:
            return _bounded_body(response, where)
    except urllib.error.HTTPError as err:
        err.close()  # it holds the response and its socket
        if 300 <= err.code < 400:
            raise BadInput(f"{where}: redirected ({err.code}); give the final https:// URL") from None
        raise BadInput(f"{where}: HTTP {err.code} {_one_line(err.reason)}") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise _timed_out(where) from None
        raise BadInput(f"{where}: cannot fetch: {_one_line(err.reason)}") from None
    except TimeoutError:
        raise _timed_out(where) from None
    except (http.client.HTTPException, OSError, ValueError) as err:
        raise BadInput(f"{where}: cannot fetch: {_one_line(err) or type(err).__name__}") from None


def _bounded_body(response: http.client.HTTPResponse, where: str) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.strip().isdigit() and int(length) > MAX_BYTES:
        raise BadInput(f"{where}: response is larger than {MAX_BYTES // 1024} KiB")
    body = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise BadInput(f"{where}: response is larger than {MAX_BYTES // 1024} KiB")
    return body


def _one_line(reason: object) -> str:
    """A server's words, as one short line with no terminal control characters."""
    return _printable(terminal.cut(" ".join(str(reason).split()), 200))


def _printable(text: str) -> str:
    """No terminal control characters from a URL or a server's words reach stderr."""
    return "".join(c if c.isprintable() else "?" for c in text)
