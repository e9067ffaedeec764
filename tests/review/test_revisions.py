"""sealer.review.revisions: files read from Git at a revision."""

from __future__ import annotations

from pathlib import Path

from support.git import commit_all, git, init_repo

from sealer.review.revisions import read_files


def test_a_name_holding_a_line_break_never_shifts_what_the_other_files_read(tmp_path: Path) -> None:
    """git reads one name a line: `sealed/dev/a` + line break + a blob's id asked for that blob
    too, and every later path got the answer meant for the one before it (a merge's parent
    seemed to hold what the author chose)."""
    root = init_repo(tmp_path / "repo")
    (root / "decoy.txt").write_text("what the author wants read\n")
    (root / "sealed" / "dev").mkdir(parents=True)
    (root / "sealed" / "dev" / "b.yaml").write_text("the real file\n")
    commit_all(root)
    decoy = git(root, "rev-parse", "HEAD:decoy.txt").strip()
    odd = f"sealed/dev/a\n{decoy}"
    (root / odd).write_text("odd\n")
    commit_all(root)
    found = read_files(root, "HEAD", [odd, "sealed/dev/b.yaml"])
    assert found == {odd: None, "sealed/dev/b.yaml": "the real file\n"}
