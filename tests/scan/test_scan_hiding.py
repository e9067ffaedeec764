"""Credentials hidden from error lines by the built-in token rules (sealer.scan.hiding)."""

from __future__ import annotations

import random

import pytest
from support import token_vectors

from sealer.cli import _shown
from sealer.scan.hiding import hide_credentials

GITHUB = token_vectors.render("ghp_{b62:30}{crc}", random.Random(1))
AZURE = token_vectors.render("{b62:3}8Q~{url:34}", random.Random(1))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"environments.{GITHUB}: unknown", "environments.<github-token: not shown>: unknown"),
        (f"environments.staging.{AZURE}: x", "environments.staging.<azure-ad-client-secret: not shown>: x"),
        ("no credential here, ü \udc80", "no credential here, ü \udc80"),
        (token_vectors.render("ghp_{b62:30}{crc}", random.Random(1), True), None),  # a wrong checksum
    ],
)
def test_a_credential_is_shown_as_its_kind(text: str, shown: str | None) -> None:
    assert hide_credentials(text) == (text if shown is None else shown)


def test_an_error_line_hides_a_pem_block_before_its_line_breaks_are_escaped() -> None:
    pem = token_vectors.pem(random.Random(1))
    line = _shown(f"bad name {pem} here")
    assert line == "bad name <private-key: not shown> here", line


def test_a_sealer_key_is_left_to_redaction_which_names_its_environment() -> None:
    key = token_vectors.render("slr_prod-eu_{b62:32}{crcall}", random.Random(1))
    assert hide_credentials(key) == key
    assert _shown(f"x {key} y") == "x slr_prod-eu_[redacted] y"
