"""Credentials hidden from error lines by the built-in token rules (sealer.scan.hiding)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from support import token_vectors
from support.env_repos import run_main
from support.git import init_repo

from sealer.cli import MAX_SHOWN, shown
from sealer.errors import ConfigError
from sealer.scan import hiding, rules
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
    line = shown(f"bad name {pem} here")
    assert line == "bad name <private-key: not shown> here", line


def test_a_sealer_key_is_left_to_redaction_which_names_its_environment() -> None:
    key = token_vectors.render("slr_prod-eu_{b62:32}{crcall}", random.Random(1))
    assert hide_credentials(key) == key
    assert shown(f"x {key} y") == "x slr_prod-eu_[redacted] y"


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("sealer is installed without sealer.policies: reinstall it"), ConfigError("x", "broken")],
)
def test_rules_that_cannot_be_loaded_show_nothing_of_the_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """A broken install (the built-in detector file missing or unreadable) fails closed: the line
    says why its text is not shown, where the error raised while showing it was a traceback
    quoting the credential (exit 3)."""

    def broken(path: str | None = None) -> None:
        raise failure

    init_repo(tmp_path)
    (tmp_path / "sealer.yaml").write_text(f"{GITHUB}: 1\n")
    monkeypatch.setattr(rules, "load", broken)
    hiding._token_rules.cache_clear()
    try:
        code, _, err = run_main(tmp_path, capsys, "check")
    finally:
        hiding._token_rules.cache_clear()
    assert code == 2 and err.count("\n") == 1, err
    assert GITHUB not in err and "could not be loaded" in err, err


def test_a_long_error_line_is_cut_before_credentials_are_looked_for() -> None:
    """A message quoting a value of a 16 MiB file was searched by every token rule for a minute
    and printed whole: it is cut to MAX_SHOWN, never through a credential."""
    glued = "A" * (MAX_SHOWN - 10) + GITHUB  # the credential runs past the cut: gone whole
    assert shown(f"got {glued} x") == "got…"
    spaced = "a " * (MAX_SHOWN // 2 - 30) + GITHUB + " b" * 100
    line = shown(spaced)
    assert len(line) <= MAX_SHOWN + 1 and GITHUB not in line and line.endswith(" b b…")
    assert "<github-token: not shown>" in line


def test_the_longest_error_line_costs_a_second_at_most() -> None:
    """The JWT rule read each `eyJ` of a run to its end (64 KiB of `eyJ-` took ten seconds); it
    starts near a run's start now, and the cut bounds the line all the same."""
    began = time.monotonic()
    shown("eyJ-" * (MAX_SHOWN // 4 - 10) + " x")  # one run, kept whole by the cut
    assert time.monotonic() - began < 5


def test_a_pem_block_cut_through_is_hidden_to_the_line_end() -> None:
    pem = token_vectors.pem(random.Random(1), size=3000)
    line = shown("a " * (MAX_SHOWN // 2 - 600) + pem)  # cut a few lines into its body
    assert line.endswith("<private-key: not shown>") and "-----BEGIN" not in line, line[-200:]


def test_thousands_of_hits_in_one_run_cost_what_the_text_holds() -> None:
    """Each hit's span reached its run's ends by walking it: 64 KiB of `ABSK/` (a hit every five
    characters, one run) took a minute; the runs are now found once."""
    text = "ABSK/" * ((64 << 10) // 5)
    began = time.monotonic()
    hidden = hide_credentials(text)
    assert time.monotonic() - began < 5
    assert hidden == "<aws-bedrock-api-key: not shown>"
