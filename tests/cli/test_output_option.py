"""The output-format option is spelled the same on every command: `-o/--output`, `--format` too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from support.cli import sealer as run
from support.repos import initialized_repo

from sealer.cli import cli

WITHOUT_OUTPUT = {"diff-driver", "completion"}  # a git textconv and a shell script: one format each


def leaves(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from leaves(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


COMMANDS = list(leaves(cli))


@pytest.mark.parametrize("name, command", COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_spells_it_the_same(name: str, command: click.Command) -> None:
    spelled = [p for p in command.params if "--output" in p.opts or "--format" in p.opts]
    if name.split()[0] in WITHOUT_OUTPUT:
        assert spelled == []
        return
    assert len(spelled) == 1, name
    assert set(spelled[0].opts) == {"-o", "--output", "--format"}, name


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return initialized_repo(tmp_path / "repo")


@pytest.mark.parametrize("spelling", ["-o", "--output", "--format"])
def test_audit_html_and_check_json_with_each_spelling(repo: Path, spelling: str) -> None:
    page = run(repo, "audit", spelling, "html")
    assert page.exit_code == 0 and page.stdout.lstrip().lower().startswith("<!doctype html>")
    checked = run(repo, "check", spelling, "json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"] is True


def test_keygen_json_with_format(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["keygen", "--env", "staging", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["env"] == "staging"
