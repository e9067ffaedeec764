"""Without an extra's client library, each command that needs it says in one line what to
install (exit 2), never a traceback. The import is made to fail in a subprocess (a None
entry in sys.modules), as it fails where the extra was never installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.cli import sealer_without
from support.repos import initialized_repo

from sealer import config


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return initialized_repo(tmp_path / "repo")


def without(repo: Path, modules: str, *args: str) -> subprocess.CompletedProcess[str]:
    return sealer_without(repo, modules, *args, env={"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "t"})


def need(what: str, dist: str, extra: str) -> str:
    return f"sealer: {what} needs {dist}: pip install 'sealer[{extra}]'\n"


@pytest.mark.parametrize(
    "modules, args, expected",
    [
        (
            "psycopg",
            ("backend", "set", "staging", "postgres"),
            need("the postgres key store", "psycopg", "postgres"),
        ),
        (
            "boto3,botocore",
            ("backend", "set", "staging", "dynamodb", "--option", "table=t"),
            need("the dynamodb key store", "boto3", "aws"),
        ),
        ("hvac", ("backend", "set", "staging", "vault"), need("the vault key store", "hvac", "vault")),
        (
            "auth0",
            ("backend", "set", "staging", "auth0", "--option", "user_id=auth0|x"),
            need("the auth0 key store", "auth0-python", "auth0"),
        ),
        (
            "kubernetes",
            ("status", "staging"),
            need("talking to a cluster (status, cert fetch)", "kubernetes", "k8s"),
        ),
        (
            "kubernetes",
            ("cert", "fetch", "staging"),
            need("talking to a cluster (status, cert fetch)", "kubernetes", "k8s"),
        ),
        (
            "hvac",
            ("keypair", "--out", "never-written", "--backup", "vault:secret/x"),
            need("a vault backup of a controller key", "hvac", "vault"),
        ),
    ],
    ids=["postgres", "dynamodb", "vault", "auth0", "status", "cert-fetch", "keypair-backup"],
)
def test_one_line_naming_the_extra(repo: Path, modules: str, args: tuple[str, ...], expected: str) -> None:
    before = (repo / "sealer.yaml").read_text()
    done = without(repo, modules, *args)
    assert (done.returncode, done.stderr, done.stdout) == (2, expected, "")
    assert (repo / "sealer.yaml").read_text() == before and not (repo / "never-written").exists()


def test_a_store_chosen_earlier_says_it_too(repo: Path) -> None:
    """sealer.yaml names postgres (set where psycopg was installed); this machine lacks it."""
    with config.edit(repo) as doc:  # `backend set` would reach the store to move the keys into it
        doc["environments"]["staging"]["backend"] = {"kind": "postgres"}
    for args in (
        ("keys", "list", "staging"),
        ("backend", "check", "staging"),
        ("keys", "revoke", "staging", "kid_000000000000"),
    ):
        done = without(repo, "psycopg", *args)
        assert (done.returncode, done.stderr) == (2, need("the postgres key store", "psycopg", "postgres"))


def test_a_direct_registry_checked_without_kubernetes_says_it(repo: Path) -> None:
    """`backend check` of k8s-secrets with direct delivery reads the live registry: without the
    kubernetes client it names the extra (exit 2), as every store's missing client does, rather
    than report the store unhealthy."""
    with config.edit(repo) as doc:
        doc["environments"]["staging"]["backend"] = {"kind": "k8s-secrets", "options": {"delivery": "direct"}}
    done = without(repo, "kubernetes", "backend", "check", "staging")
    expected = need("talking to a cluster (status, cert fetch)", "kubernetes", "k8s")
    assert (done.returncode, done.stderr, done.stdout) == (2, expected, "")
