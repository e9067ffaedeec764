"""Repository paths: each spelled once in sealer.layout, and read back from a path the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealer import layout


def test_paths_of_an_environment() -> None:
    assert layout.ledger_path(Path("/r"), "prod") == Path("/r/ledger/prod.yaml")
    assert layout.sealed_path(Path("/r"), "prod", "eu") == Path("/r/sealed/prod/eu.yaml")
    assert layout.config_path(Path("/r")) == Path("/r/sealer.yaml")
    assert layout.out_path(Path("/r")) == Path("/r/.sealer/out")
    assert (
        layout.cert_file("prod", "prod") == "certs/prod.pem"
        and layout.cert_file("prod", "eu") == "certs/prod-eu.pem"
    )
    assert layout.values_file("prod", "eu") == "deploy/prod/values-eu.yaml"


@pytest.mark.parametrize(
    ("rel", "env"),
    [
        ("ledger/prod.yaml", "prod"),
        ("ledger/a/b.yaml", None),
        ("ledger/prod.yml", None),
        ("sealed/prod.yaml", None),
    ],
)
def test_ledger_env(rel: str, env: str | None) -> None:
    assert layout.ledger_env(rel) == env
    if env:
        assert layout.ledger_file(env) == rel


@pytest.mark.parametrize(
    ("rel", "cluster"),
    [
        ("sealed/prod/eu.yaml", "eu"),
        ("sealed/prod/a/eu.yaml", None),
        ("sealed/dev/eu.yaml", None),
        ("ledger/prod.yaml", None),
    ],
)
def test_sealed_cluster(rel: str, cluster: str | None) -> None:
    assert layout.sealed_cluster("prod", rel) == cluster
    if cluster:
        assert layout.sealed_file("prod", cluster) == rel


@pytest.mark.parametrize(
    ("rel", "below"),
    [
        ("certs/prod.pem", True),
        ("Certs/prod.pem", True),  # a case-insensitive file system's certs/
        ("CERTS/a/b.pem", True),
        ("cert\u017f/prod.pem", True),  # long s: Unicode folds it to s (folding wide errs to checking)
        ("cert\u200cs/prod.pem", True),  # HFS+ ignores a zero-width non-joiner in a name (as git's
        ("\ufeffCerts/prod.pem", True),  # core.protectHFS knows): that folder is certs/ there
        ("certs\u200d", False),
        ("certs", False),  # the folder itself (or what stands in its place) is not below it
        ("certsx/prod.pem", False),
        ("deploy/certs/prod.pem", False),
    ],
)
def test_in_certs_dir(rel: str, below: bool) -> None:
    assert layout.in_certs_dir(rel) is below
