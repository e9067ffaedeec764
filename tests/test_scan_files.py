"""Which files a scan reads: paths, the staged blobs, every tracked file; skips with reasons."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sealer import apikey
from sealer.cli import cli
from sealer.errors import BadInput
from sealer.scan import files

LIMIT = 1 << 20


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    monkeypatch.chdir(root)
    return root


def skipped(candidates: list[files.Candidate]) -> dict[str, str | None]:
    """Why each candidate is skipped once read (as the worker that scans it reads it)."""
    return {c.path: files.read(c, LIMIT).skipped for c in candidates}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"plain text\n", None),
        ("naïve café\n".encode(), None),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary"),
        (b"caf\xe9 latin-1\n", "not UTF-8 text"),
        ("utf-16 text".encode("utf-16"), "binary"),  # NUL bytes
        (b"", None),
    ],
)
def test_text_problem(data: bytes, problem: str | None) -> None:
    assert files.text_problem(data) == problem


def test_paths_and_folders_with_every_skip_reason(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("k: v\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    (tmp_path / "big.txt").write_bytes(b"x" * (LIMIT + 1))
    (tmp_path / "bin.dat").write_bytes(b"\0\1\2")
    (tmp_path / "latin.txt").write_bytes(b"\xe9t\xe9\n")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")
    got = skipped(list(files.from_paths([str(tmp_path)], LIMIT)))
    base = str(tmp_path).lstrip("/")
    assert {k.replace(f"/{base}/", ""): v for k, v in got.items()} == {
        "a.txt": None,
        "sub/b.yaml": None,
        "big.txt": f"over the size limit ({LIMIT + 1} > {LIMIT} bytes)",
        "bin.dat": "binary",
        "latin.txt": "not UTF-8 text",
        "link.txt": "symlink",
        "dangling": "symlink",
        "fifo": "not a regular file",
    }


def test_listing_reads_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    (listed,) = files.from_paths([str(tmp_path / "a.txt")], LIMIT)
    assert (listed.data, listed.skipped, listed.size) == (None, None, 6)  # the worker scanning it reads it
    assert files.read(listed, LIMIT).data == b"hello\n"


def _link_in_place(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.parent / "other.txt")


def _fifo_in_place(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _folder_in_place(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _file_in_place_of_its_folder(path: Path) -> None:
    shutil.rmtree(path.parent)
    path.parent.write_text("")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (Path.unlink, "deleted"),
        (_link_in_place, "symlink"),  # not followed
        (_fifo_in_place, "not a regular file"),  # not waited on
        (_folder_in_place, "not a regular file"),
        (_file_in_place_of_its_folder, "unreadable (Not a directory)"),
        (lambda p: p.write_bytes(b"x" * (LIMIT + 3)), f"over the size limit ({LIMIT + 3} > {LIMIT} bytes)"),
        (lambda p: p.write_bytes(b"\0\1"), "binary"),
        (lambda p: p.write_bytes(b"caf\xe9\n"), "not UTF-8 text"),
    ],
)
def test_a_file_changed_between_listing_and_reading_is_skipped_with_one_reason(
    tmp_path: Path, change: Callable[[Path], object], reason: str
) -> None:
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "a.txt"
    target.write_text("hello\n")
    (tmp_path / "sub" / "other.txt").write_text("other\n")
    (listed,) = files.from_paths([str(target)], LIMIT)
    change(target)
    assert files.read(listed, LIMIT) == files.Candidate(listed.path, None, reason)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_made_unreadable_before_reading_is_skipped(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("hello\n")
    (listed,) = files.from_paths([str(target)], LIMIT)
    target.chmod(0)
    assert files.read(listed, LIMIT).skipped == "unreadable (Permission denied)"


def test_a_path_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("fine\n")
    with pytest.raises(BadInput, match="nope.txt: no such file or folder"):  # before anything is read
        files.from_paths([str(tmp_path / "a.txt"), str(tmp_path / "nope.txt")], LIMIT)


def test_staged_reads_the_index_not_the_working_tree(repo: Path) -> None:
    key = apikey.generate("dev")
    (repo / "staged.env").write_text(f"API_KEY={key}\n")
    (repo / "unstaged.env").write_text("API_KEY=placeholder\n")
    git(repo, "add", "staged.env", "unstaged.env")
    (repo / "staged.env").write_text("API_KEY=fixed-in-worktree-only\n")  # not staged
    (repo / "unstaged.env").write_text(f"API_KEY={key}\n")  # not staged either
    result = CliRunner().invoke(cli, ["scan", "--staged", "-o", "json"])
    assert result.exit_code == 1
    assert '"path": "staged.env"' in result.output and "unstaged.env" not in result.output
    assert key not in result.output


def test_staged_set_handles_deleted_symlinks_submodules_binary_large_and_latin1(repo: Path) -> None:
    (repo / "gone.txt").write_text("bye\n")
    git(repo, "add", "gone.txt")
    git(repo, "commit", "-qm", "first")
    git(repo, "rm", "-q", "gone.txt")
    (repo / "link").symlink_to("target-that-does-not-exist")
    (repo / "big.txt").write_bytes(b"y" * (LIMIT + 5))
    (repo / "bin.dat").write_bytes(b"GIF89a\0\0")
    (repo / "latin.txt").write_bytes(b"caf\xe9\n")
    (repo / "name with space é.txt").write_text("fine\n")
    git(repo, "add", "link", "big.txt", "bin.dat", "latin.txt", "name with space é.txt")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{'a' * 40},vendor/sub")
    root, candidates = files.select((), True, False, LIMIT)
    assert Path(root) == repo
    assert skipped(list(candidates)) == {
        "gone.txt": "deleted",
        "link": "symlink",
        "vendor/sub": "submodule",
        "big.txt": f"over the size limit ({LIMIT + 5} > {LIMIT} bytes)",
        "bin.dat": "binary",
        "latin.txt": "not UTF-8 text",
        "name with space é.txt": None,
    }


def test_verbose_says_why_files_were_skipped(repo: Path) -> None:
    (repo / "bin.dat").write_bytes(b"\0\0")
    (repo / "ok.txt").write_text("nothing to see\n")
    git(repo, "add", ".")
    result = CliRunner().invoke(cli, ["scan", "--staged", "-v"])
    assert result.exit_code == 0
    assert "sealer scan: skipped bin.dat: binary" in result.output
    assert "1 file(s)" in result.output and "1 skipped" in result.output


def test_all_files_reads_tracked_files_from_the_working_tree(repo: Path) -> None:
    (repo / "tracked.txt").write_text("clean\n")
    (repo / "removed.txt").write_text("clean\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "deep.txt").write_text("clean\n")
    git(repo, "add", ".")
    (repo / "removed.txt").unlink()
    (repo / "tracked.txt").write_text(f"key: {apikey.generate('dev')}\n")  # changed, unstaged
    (repo / "untracked.txt").write_text(f"key: {apikey.generate('dev')}\n")
    os.chdir(repo / "sub")  # paths stay relative to the repository root
    root, candidates = files.select((), False, True, LIMIT)
    got = {c.path: (c.skipped, c.data is not None) for c in (files.read(c, LIMIT) for c in candidates)}
    assert got == {
        "tracked.txt": (None, True),
        "removed.txt": ("deleted", False),
        "sub/deep.txt": (None, True),
    }
    result = CliRunner().invoke(cli, ["scan", "--all-files", "-o", "json"])
    assert result.exit_code == 1 and '"path": "tracked.txt"' in result.output


def test_git_modes_outside_a_repository_are_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    result = CliRunner().invoke(cli, ["scan", "--staged"])
    assert result.exit_code == 2
    assert result.output.startswith("sealer: git rev-parse: not a git repository")
    assert "Traceback" not in result.output
