"""The suite runs on several processes (pytest-xdist, see README "Development"): each collects it,
and they must agree on every test id, or the run stops before its first test."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from conftest import pytest_make_parametrize_id

from sealer import apikey

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "spell",
    [
        lambda key: f"a: {key}\n",
        lambda key: key.replace("_", "\\_"),
        lambda key: key.replace("_", "%5F"),
        lambda key: key.replace("_", "&#95;"),
        lambda key: base64.b64encode(key.encode()).decode(),
    ],
    ids=["plain", "markdown", "url", "html", "base64"],
)
def test_a_key_generated_at_collection_gets_the_same_id_every_time(
    pytestconfig: pytest.Config, spell: object
) -> None:
    assert callable(spell)
    first, second = (
        pytest_make_parametrize_id(pytestconfig, spell(apikey.generate("dev")), "v") for _ in "12"
    )
    assert first == second and first is not None and "KEY" in first


def test_bytes_go_by_their_argument_name(pytestconfig: pytest.Config) -> None:
    assert pytest_make_parametrize_id(pytestconfig, apikey.generate("dev").encode(), "data") == "data"


def test_other_values_keep_pytests_ids(pytestconfig: pytest.Config) -> None:
    assert pytest_make_parametrize_id(pytestconfig, "plain text", "v") is None
    assert pytest_make_parametrize_id(pytestconfig, 3, "v") is None


def test_the_test_commands_spread_the_suite_over_the_cores() -> None:
    """What the README promises: `./dev test` and `./dev matrix` run pytest-xdist, a file per worker."""
    assert '-m pytest -n "$(workers)" --dist loadfile "$@"' in (ROOT / "dev").read_text()
    noxfile = (ROOT / "noxfile.py").read_text()
    assert 'WORKERS = ["-n", str(min(4, CORES)), "--dist", "loadfile"]' in noxfile
    assert "*WORKERS,\n        *session.posargs," in noxfile
