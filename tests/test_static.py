"""The typing and lint gate: mypy (config in setup.cfg), ruff (ruff.toml) and the import contracts
(.importlinter) must pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_mypy_passes() -> None:
    done = run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_passes() -> None:
    done = run("ruff", "check", "--no-cache", "sealer", "tests", "noxfile.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_applied() -> None:
    done = run("ruff", "format", "--check", "--no-cache", "sealer", "tests", "bench", "demo", "noxfile.py")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "bench").glob("*.py")))
def test_each_bench_script_starts(script: str) -> None:
    """mypy does not read bench/: a script importing what sealer no longer has fails here."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr


# import-linter's current releases need Python 3.11+ (setup.cfg installs it there only).
@pytest.mark.skipif(sys.version_info < (3, 11), reason="import-linter>=2.17 needs Python 3.11+")
def test_import_contracts_are_kept() -> None:
    """Stores independent of each other and reached through the registry, click in cli/ only,
    no import cycle (the contracts are in .importlinter)."""
    done = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
        + ["--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout
