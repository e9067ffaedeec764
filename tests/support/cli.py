"""Running the CLI in tests: through click's CliRunner on `sealer.cli.cli`, or through
`sealer.cli.main` (what the `sealer` script runs), and checking how it fails."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sealer.cli import cli, main

# The `sealer` script installed next to this interpreter (the venv's), whatever PATH says.
SEALER_SCRIPT = str(Path(sys.executable).parent / "sealer")

_WITHOUT = """
import sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None  # `import name` raises ImportError, as when it is not installed
from sealer.cli import main
sys.exit(main(sys.argv[2:]))
"""


def sealer_without(
    root: Path, modules: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`sealer ARGS` in `root`, in a subprocess where the comma-separated `modules` cannot be
    imported (as where an extra was never installed)."""
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT, modules, *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


@contextlib.contextmanager
def in_dir(path: Path) -> Iterator[None]:
    """Run a block with `path` as the working directory (the CLI finds sealer.yaml from there);
    the previous one comes back afterwards, through monkeypatch."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        yield


def sealer(root: Path, *args: str, stdin: str | None = None, catch_exceptions: bool = True) -> Result:
    """`sealer ARGS` run in `root` through CliRunner, stdout and stderr apart; a bug's exception
    stays in `result.exception` (or propagates with `catch_exceptions=False`)."""
    with in_dir(root):
        return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=catch_exceptions)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def invoke(args: list[str], stdin: str | bytes | None = None) -> Run:
    """`sealer ARGS` through CliRunner on the click group."""
    result = CliRunner().invoke(cli, args, input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception  # a bug: show it rather than an exit code
    return Run(result.exit_code, result.stdout, result.stderr)


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> Run:
    """`sealer ARGS` through `sealer.cli.main`."""
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return Run(code, out, err)


def assert_one_line_error(run: Run, code: int = 2, contains: str = "") -> None:
    """Bad input: the exit code, one `sealer: …` line on stderr, no traceback, nothing on stdout."""
    assert run.code == code, (run.code, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sealer: "), run.stderr
    assert "Traceback" not in run.stderr
    assert contains in lines[0], lines[0]
    assert run.stdout == ""
