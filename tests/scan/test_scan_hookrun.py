"""One pre-commit run of the `sealer-scan` hook (sealer/scan/hookrun.py): the mark a run leaves
in the git directory, and the README's promise that it is gone after a day."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from sealer.scan import hookrun

DAY = 86400


@pytest.fixture()
def git_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("a\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.txt"], check=True)  # an index: the run's id
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".git"


def marks(git_dir: Path) -> set[str]:
    return {p.name for p in git_dir.glob("sealer-hook-run-*")}


def test_only_the_first_batch_of_a_run_claims_it(git_dir: Path) -> None:
    assert hookrun.claim() is True
    assert hookrun.claim() is False  # another batch of the same pre-commit process
    assert len(marks(git_dir)) == 1


def test_a_claim_removes_marks_over_a_day_old_and_keeps_recent_ones(git_dir: Path) -> None:
    old, recent = git_dir / "sealer-hook-run-old", git_dir / "sealer-hook-run-recent"
    for mark, age in ((old, DAY + 60), (recent, DAY - 60)):
        mark.touch()
        then = time.time() - age
        os.utime(mark, (then, then))
    assert hookrun.claim() is True
    left = marks(git_dir)
    assert old.name not in left and recent.name in left and len(left) == 2
