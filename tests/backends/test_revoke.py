"""`sealer keys revoke`: the pull-request description says when verifiers refuse the key (README,
the key registry: "A revocation takes effect when that commit is merged and synced, not before;
the pull request says so")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.backend_repos import ENV, Backend, configure, finish, options_of, rotate
from support.cli import sealer
from support.repos import ledger_records


def revoked(repo: Path, *extra: str) -> tuple[dict[str, str], str]:
    """apiKey's active key revoked: the command's JSON and its pull-request description."""
    kid = {r.name: r for r in ledger_records(repo, ENV)}["apiKey"].key_id
    result = sealer(repo, "keys", "revoke", ENV, kid, "-o", "json", *extra)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return data, Path(data["pr_body_file"]).read_text()


def test_a_gitops_revocation_says_it_takes_effect_once_merged(backend_repo: Path) -> None:
    rotate(backend_repo)
    data, body = revoked(backend_repo)
    assert body.startswith(f"## Revoke `{data['key_id']}` ({ENV} / `apiKey`)")
    assert "verifiers accept it until this change is merged and synced" in body


def test_a_revocation_with_grace_names_its_end(backend_repo: Path) -> None:
    rotate(backend_repo)
    data, body = revoked(backend_repo, "--grace", "2h")
    assert f"valid until {data['revoke_at']} (its grace window), then revoked" in body


def test_an_external_store_revocation_says_verifiers_refuse_it_after_the_commit(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    configure(backend_repo, Backend("vault", options_of("vault", request.getfixturevalue("vault_store"))))
    rotate(backend_repo)
    finish(backend_repo)
    _, body = revoked(backend_repo, "--no-branch")
    assert "in the key store right after its commit: verifiers refuse it from then on" in body
