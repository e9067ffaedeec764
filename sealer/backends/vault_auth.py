"""Logging in to Vault through an auth mount (#17): JWT/OIDC ID tokens and AppRole.

CI runners reach Vault with a short-lived ID token (GitHub Actions, GitLab CI) or an AppRole's
role id and secret id instead of a long-lived token. The client token a login issues lives in
memory only, for the one environment whose source asked for it: never written, never printed.
A refused login is one line naming the environment, the method and the mount; what Vault said
is kept only when it cannot hold the credential that was sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from sealer import deadline, terminal
from sealer.errors import BackendError
from sealer.strictjson import TOO_DEEP

TIMEOUT_SECONDS = 10
METHODS = ("token", "jwt", "approle")  # token: the variable holding one, as before
DEFAULT_MOUNTS = {"jwt": "jwt", "approle": "approle"}
# sealer's records of an environment are a few KB, a login's answer less: a server sending more
# (a huge or endless body) is refused before it fills the runner's memory.
MAX_ANSWER_BYTES = 4 << 20
_STATUS = {"InvalidRequest": 400, "Unauthorized": 401, "Forbidden": 403, "InvalidPath": 404}


def client(address: str, token: str | None, namespace: str | None, verify: str | bool) -> Any:
    """An hvac client with `token` only (none for a login) that follows no redirect: requests
    would re-send X-Vault-Token (it drops only Authorization) and, for a 307, the login's body
    to whatever host a Location names."""
    import hvac
    import requests

    session = requests.Session()
    session.max_redirects = 0  # a redirect raises TooManyRedirects before anything is re-sent
    session.hooks["response"].append(_bounded)
    # Never None: hvac would take VAULT_TOKEN or ~/.vault-token, and a login would carry another
    # environment's token to this environment's address.
    return hvac.Client(
        url=address,
        token=token or "",
        namespace=namespace,
        verify=verify,
        timeout=TIMEOUT_SECONDS,
        session=session,
        adapter=_adapter(),
    )


def _adapter() -> Any:
    """hvac's JSON adapter, its errors carrying the answer's HTTP status (`status_code`): hvac
    maps a 504 or a 4xx it has no class for to one UnexpectedError, and a write answered 5xx
    (a gateway's, perhaps after Vault kept it) is a write of unknown fate."""
    import hvac.adapters
    import hvac.exceptions

    class Adapter(hvac.adapters.JSONAdapter):
        def _raise_for_error(self, method: str, url: str, response: Any) -> None:
            try:
                super()._raise_for_error(method, url, response)
            except hvac.exceptions.VaultError as err:
                err.status_code = response.status_code
                raise

    return Adapter


def _bounded(response: Any, *args: object, **kwargs: object) -> Any:
    """Read the answer's body here, at most MAX_ANSWER_BYTES of it (decoded): requests would read
    all a server sends. The hook runs before requests reads the body; what it read is the body."""
    body = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
    response.close()
    if len(body) > MAX_ANSWER_BYTES:
        parts = urlsplit(response.url)
        raise BackendError(
            f"vault: {parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]} sent an answer larger than "
            f"{MAX_ANSWER_BYTES >> 10} KiB: not read"
        )
    response._content = body
    return response


def redirect_refused(address: str) -> str:
    return (
        f"{address} answered with a redirect, not followed (the credential would go along): "
        "set the address it leads to"
    )


@contextlib.contextmanager
def _refusals(
    where: str, address: str, sent: Mapping[str, str], secretish: Callable[[str], object]
) -> Iterator[None]:
    """hvac and network failures of a login as one BackendError line, never the credentials."""
    import hvac.exceptions as vault_errors
    import requests

    try:
        yield
    except vault_errors.VaultDown:
        raise BackendError(f"{where}: {address} is sealed or down (503)") from None
    except vault_errors.VaultError as err:
        status = _STATUS.get(type(err).__name__) or "HTTP error"
        credentials = [value for name, value in sent.items() if name != "role"]  # a role is a name
        detail = vault_said(err, credentials, secretish)
        raise BackendError(f"{where} refused ({status}{': ' + detail if detail else ''})") from None
    except requests.exceptions.TooManyRedirects:
        raise BackendError(f"{where}: {redirect_refused(address)}") from None
    except requests.exceptions.RequestException as err:
        raise BackendError(f"{where}: cannot reach {address} ({type(err).__name__})") from None
    except RecursionError:  # json's, reading an answer nested past its depth
        raise BackendError(f"{where}: {address} {TOO_DEEP}") from None


def vault_said(err: Exception, credentials: Iterable[str], secretish: Callable[[str], object]) -> str:
    """What Vault said in an error answer (its `errors`), as one clean line cut to 200 characters;
    withheld when it quotes a credential that was sent or anything shaped like one: a proxy or a
    hostile server may echo the request, and the line goes to a CI log."""
    said = "; ".join(str(e) for e in getattr(err, "errors", None) or ())
    # All of it is checked: a credential quoted across the cut would leave its start.
    if any(value and value in said for value in credentials) or secretish(said):
        return "Vault's answer withheld: it quotes a credential"
    return terminal.clean(said, 200)  # a server's words: one line of them, nothing reordered


def login(
    method: str,
    mount: str,
    sent: Mapping[str, str],
    *,
    address: str,
    namespace: str | None,
    verify: str | bool,
    where: str,
    secretish: Callable[[str], object],
) -> str:
    """The client token Vault issues for `sent` at `auth/<mount>/login` in `namespace` (hvac
    keeps it off its own client: use_token=False). `where` names the environment, the method
    and the mount, and starts every failure's line."""
    vault = client(address, None, namespace, verify)

    def send() -> Any:
        if method == "jwt":
            return vault.auth.jwt.jwt_login(role=sent["role"], jwt=sent["jwt"], use_token=False, path=mount)
        return vault.auth.approle.login(
            role_id=sent["role_id"], secret_id=sent["secret_id"], use_token=False, mount_point=mount
        )

    with _refusals(where, address, sent, secretish):
        answer = deadline.request(f"{where}: {address}", "logging in", send)
    auth = answer.get("auth") if isinstance(answer, dict) else None
    token = auth.get("client_token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or not token:
        raise BackendError(f"{where} issued no client token")
    return token


def describe(method: str, mount: str, role: str | None) -> str:
    """The login, for a message: never a credential."""
    return f"the token of {method} login at auth mount {mount}" + (f" (role {role})" if role else "")
