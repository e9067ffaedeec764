"""`sealer completion bash|zsh|fish` and the completion of environment names from sealer.yaml,
through click's completion protocol and through a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.git import git

from sealer import init
from sealer.cli import cli


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    init.init(root, ("dev", "staging", "production"))
    return root


def complete(cwd: Path, line: str) -> tuple[int, list[str]]:
    """What bash would be offered for `line` (click's bash_complete protocol)."""
    words = line.split(" ")
    done = subprocess.run(
        [sys.executable, "-m", "sealer"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "_SEALER_COMPLETE": "bash_complete",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
        },
        timeout=60,
    )
    return done.returncode, [item.split(",", 1)[1] for item in done.stdout.splitlines() if item]


@pytest.mark.parametrize(
    "shell, marker", [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files")]
)
def test_each_shell_gets_its_script(shell: str, marker: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0 and marker in result.stdout and "_SEALER_COMPLETE" in result.stdout


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["completion", "tcsh"])
    assert result.exit_code == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.output


@pytest.mark.parametrize(
    "line, offered",
    [
        ("sealer rotate st", ["staging"]),
        ("sealer rotate staging p", ["production"]),
        ("sealer keys list ", ["dev", "staging", "production"]),
        ("sealer status d", ["dev"]),
        ("sealer cert fetch pro", ["production"]),
        ("sealer check ", ["dev", "staging", "production"]),
        ("sealer backend set s", ["staging"]),
        ("sealer rot", ["rotate"]),
    ],
)
def test_environment_names_come_from_sealer_yaml(repo: Path, line: str, offered: list[str]) -> None:
    assert complete(repo, line) == (0, offered)


def test_nothing_to_offer_outside_a_repo_or_with_a_broken_file(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    assert complete(tmp_path / "elsewhere", "sealer rotate ") == (0, [])
    (repo / "sealer.yaml").write_text("environments: [unclosed\n")
    assert complete(repo, "sealer rotate ") == (0, [])


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_a_real_bash_completes_an_environment(repo: Path, tmp_path: Path) -> None:
    shim = tmp_path / "bin" / "sealer"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sealer "$@"\n')
    shim.chmod(0o755)
    script = 'eval "$(sealer completion bash)"; COMP_WORDS=(sealer rotate st); COMP_CWORD=2; '
    script += '_sealer_completion sealer; echo "${COMPREPLY[@]}"'
    path = os.pathsep.join([str(shim.parent), os.path.dirname(str(shutil.which("bash")))])
    done = subprocess.run(
        [str(shutil.which("bash")), "--norc", "-c", script],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=60,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "staging"), done.stderr
