"""Stores whose server answers what no honest one would: an error quoting the credential that
was sent, a body of the wrong shape, a 200 that confirms nothing, a redirect. Each is one
BackendError line (exit 2), never a traceback, a credential in the text, or a write counted as
done. The real client libraries talk to the fake servers of tests/support, which answer so
through `answer_next`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from support.fake_http import Request, Response
from support.fake_vault import FakeVault
from support.records import pending_key

from sealer.backends.vault import VaultStore
from sealer.errors import BackendError
from sealer.records import KeyRecord, utcnow

ENV = "dev"


def new_record() -> KeyRecord:
    return pending_key(ENV, "apiKey", utcnow() - dt.timedelta(minutes=5))[1]


def backend_error(call: Any) -> str:
    with pytest.raises(BackendError) as err:
        call()
    message = str(err.value)
    assert message and "\n" not in message
    return message


# -- Vault ------------------------------------------------------------------------------------


def _quoting_the_token(request: Request) -> Response:
    """An error answer that quotes the X-Vault-Token it was sent (a proxy, a hostile server)."""
    sent = request.headers.get("x-vault-token", "")
    return Response.json(400, {"errors": [f"invalid request: token {sent} is not allowed here"]})


@pytest.mark.parametrize("token", ["batch-token-of-no-known-shape-0123", None], ids=["sent", "vault-shaped"])
def test_vault_error_quoting_the_token_is_withheld(
    vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str | None
) -> None:
    if token:
        monkeypatch.setenv("VAULT_TOKEN", token)
    store = VaultStore({"path": "sealer/hostile"}, tmp_path)
    vault_env.answer_next(_quoting_the_token, match="/data/")
    message = backend_error(lambda: store.list(ENV))
    assert (token or vault_env.token) not in message
    assert "withheld" in message and "secret/sealer/hostile/dev" in message
