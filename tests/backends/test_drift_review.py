"""Drift while a rotation's pull request is open: the store accepts the new keys before HEAD's
ledger holds them. Only a rotation branch of sealer's own whose ledger records each key as the
store does excuses it, and only for `drift.REVIEW_WITHIN`; a branch of any other name, a record
that disagrees, or a wait longer than that is drift (someone with store write and push access
must not hide a rogue accepted key by pushing a branch that names it)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from support.backend_repos import ENV, Backend, configure, finish, ok, options_of, rotate, statuses, store_of
from support.cli import sealer
from support.git import git
from support.tamper import tamper

from sealer import config, drift
from sealer.records import ACCEPTED, utcnow


@pytest.fixture
def vault_backend(request: pytest.FixtureRequest) -> Backend:
    return Backend("vault", options_of("vault", request.getfixturevalue("vault_store")))


def rotation_under_review(repo: Path, backend: Backend) -> tuple[str, list[str]]:
    """A deployed key, then a rotation on its own branch (HEAD stays on main): (branch, new key ids)."""
    configure(repo, backend)
    rotate(repo)
    finish(repo)
    data = json.loads(ok(sealer(repo, "rotate", ENV, "-o", "json")).stdout)
    new = [k["key_id"] for k in data["keys"]]
    assert {statuses(store_of(repo).list(ENV))[kid] for kid in new} == {ACCEPTED}
    return data["branch"], new


def drift_at(repo: Path, now: dt.datetime | None = None) -> list[tuple[str, str | None, str]]:
    return sorted((d.kind, d.key_id, d.fix) for d in drift.compare(config.load(repo), ENV, now))


def test_a_rotation_branch_under_review_excuses_its_keys_for_a_bounded_time(
    backend_repo: Path, vault_backend: Backend
) -> None:
    branch, new = rotation_under_review(backend_repo, vault_backend)
    assert drift_at(backend_repo) == []
    assert drift_at(backend_repo, utcnow() + drift.REVIEW_WITHIN - dt.timedelta(hours=1)) == []
    late = drift_at(backend_repo, utcnow() + drift.REVIEW_WITHIN + dt.timedelta(days=1))
    fix = f"merge {branch}, or sealer rotate --abandon {branch}"
    assert late == sorted((drift.UNKNOWN_IN_STORE, kid, fix) for kid in new)


@pytest.mark.parametrize("name", ["notes", "feature/sealer-rotate"])
def test_a_branch_not_of_sealers_own_excuses_nothing(
    backend_repo: Path, vault_backend: Backend, name: str
) -> None:
    """The same ledger on a branch of another name (and no `Sealer-Branch:` trailer for it):
    anyone with push access could push it to hide a key they accepted in the store."""
    branch, new = rotation_under_review(backend_repo, vault_backend)
    git(backend_repo, "branch", "-q", "-m", branch, name)
    assert drift_at(backend_repo) == sorted(
        (drift.UNKNOWN_IN_STORE, kid, f"sealer keys revoke {ENV} {kid}") for kid in new
    )


def test_a_branch_whose_ledger_records_another_key_excuses_nothing(
    backend_repo: Path, vault_backend: Backend, request: pytest.FixtureRequest
) -> None:
    """The rotation branch names the key id, but the store's record of it says another expiry
    (or fingerprint): the branch does not vouch for the key the store accepts."""
    _, new = rotation_under_review(backend_repo, vault_backend)
    tamper(request, vault_backend, new[0], expires="2099-01-01T00:00:00Z")
    assert drift_at(backend_repo) == [(drift.UNKNOWN_IN_STORE, new[0], f"sealer keys revoke {ENV} {new[0]}")]
    tamper(request, vault_backend, new[1], fingerprint="0" * 64)
    assert [kid for _, kid, _ in drift_at(backend_repo)] == sorted(new[:2])
