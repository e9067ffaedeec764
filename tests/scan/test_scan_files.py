"""Which files a scan reads: paths, the staged blobs, every tracked file; skips with reasons."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.cli import sealer as sealer_cli

from sealer import apikey
from sealer.cli import cli
from sealer.errors import BadInput
from sealer.scan import files
from sealer.scan.contents import Piece, Skip

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


def read(candidate: files.Candidate) -> str | None:
    """How a candidate reads (as the worker that scans it reads it): None when scanned whole,
    else its skip reason (`(not examined)` appended when the scan must fail)."""
    reasons = [
        f"{item.reason}{'' if item.examined else ' (not examined)'}"
        for item in files.items(candidate, LIMIT)
        if isinstance(item, Skip)
    ]
    return reasons[0] if reasons else None


def skipped(candidates: list[files.Candidate]) -> dict[str, str | None]:
    return {c.path: read(c) for c in candidates}


def test_paths_and_folders_with_every_skip_reason(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("k: v\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    (tmp_path / "big.txt").write_bytes(b"x" * (LIMIT + 1))
    (tmp_path / "bin.dat").write_bytes(b"\0\1\2")
    (tmp_path / "latin.txt").write_bytes(b"\xe9t\xe9\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    (tmp_path / "a.7z").write_bytes(b"7z\xbc\xaf\x27\x1c\0\4")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")
    got = skipped(list(files.from_paths([str(tmp_path)])))
    base = str(tmp_path).lstrip("/")
    assert {k.replace(f"/{base}/", ""): v for k, v in got.items()} == {
        "a.txt": None,
        "sub/b.yaml": None,
        "big.txt": None,  # scanned in chunks
        "bin.dat": None,  # its text runs
        "latin.txt": None,
        "image.png": "PNG image: not decoded, raw bytes scanned (media, told by content)",
        "a.7z": "7z archive: a format sealer cannot open, not examined (not examined)",
        "link.txt": None,  # its target text, scanned (never followed)
        "dangling": None,
        "fifo": "not a regular file",
    }


def test_a_named_fifo_fails_the_scan_a_walked_one_does_not(tmp_path: Path) -> None:
    """The hook names the files being committed: one that is a FIFO on disk was not read, so
    whatever Git commits under its name went unexamined; met on a folder's walk it is nothing Git
    can commit (listed as skipped)."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "a.txt").write_text("hello\n")
    named = sealer_cli(tmp_path, "scan", "fifo", "a.txt")
    assert named.exit_code == 1 and "could not be examined" in named.stderr and "fifo" in named.stderr
    walked = sealer_cli(tmp_path, "scan", ".")
    assert walked.exit_code == 0, walked.stderr


def test_listing_reads_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    (listed,) = files.from_paths([str(tmp_path / "a.txt")])
    assert (listed.data, listed.skipped, listed.size) == (None, None, 6)  # the worker scanning it reads it
    assert list(files.items(listed, LIMIT)) == [Piece(listed.path, b"hello\n")]


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
        (_file_in_place_of_its_folder, "unreadable (Not a directory): not examined (not examined)"),
        (lambda p: p.write_bytes(b"x" * (LIMIT + 3)), None),
        (lambda p: p.write_bytes(b"\0\1"), None),
        (lambda p: p.write_bytes(b"caf\xe9\n"), None),
    ],
)
def test_a_file_changed_between_listing_and_reading_is_read_as_it_is_now(
    tmp_path: Path, change: Callable[[Path], object], reason: str | None
) -> None:
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "a.txt"
    target.write_text("hello\n")
    (tmp_path / "sub" / "other.txt").write_text("other\n")
    (listed,) = files.from_paths([str(target)])
    change(target)
    assert read(listed) == reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_made_unreadable_before_reading_is_not_examined(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("hello\n")
    (listed,) = files.from_paths([str(target)])
    target.chmod(0)
    assert read(listed) == "unreadable (Permission denied): not examined (not examined)"


def test_a_path_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("fine\n")
    with pytest.raises(BadInput, match="nope.txt: no such file or folder"):  # before anything is read
        files.from_paths([str(tmp_path / "a.txt"), str(tmp_path / "nope.txt")])


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
    root, candidates = files.select((), True, False)
    assert Path(root) == repo
    assert skipped(list(candidates)) == {
        "gone.txt": "deleted",
        "link": None,  # its target text, scanned
        "vendor/sub": "submodule",
        "big.txt": None,  # in chunks
        "bin.dat": "GIF image: not decoded, raw bytes scanned (media, told by content)",
        "latin.txt": None,
        "name with space é.txt": None,
    }


def test_verbose_says_why_files_were_skipped(repo: Path) -> None:
    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    (repo / "ok.txt").write_text("nothing to see\n")
    git(repo, "add", ".")
    result = CliRunner().invoke(cli, ["scan", "--staged", "-v"])
    assert result.exit_code == 0
    assert (
        "sealer scan: skipped logo.png: PNG image: not decoded, raw bytes scanned (media, told by content)"
        in result.output
    )
    assert "2 file(s)" in result.output and "1 skipped" in result.output


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
    root, candidates = files.select((), False, True)
    assert skipped(list(candidates)) == {"tracked.txt": None, "removed.txt": "deleted", "sub/deep.txt": None}
    result = CliRunner().invoke(cli, ["scan", "--all-files", "-o", "json"])
    assert result.exit_code == 1 and '"path": "tracked.txt"' in result.output


@pytest.mark.parametrize("mode", [["--staged"], ["--all-files"], ["--history"]])
def test_git_modes_outside_a_repository_are_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    """One line in sealer's words, saying what to do (not git's rev-parse complaint)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    result = CliRunner().invoke(cli, ["scan", *mode])
    assert result.exit_code == 2
    assert result.output == (
        f"sealer: {tmp_path} is not inside a Git work tree: --staged, --all-files and --history read "
        "one (run it there, or give PATHs to scan files)\n"
    )


# A symlink's target is text Git stores as the link's blob: a key hidden there is committed
# like any file's contents, so the target is scanned (never followed).


def _key_link(where: Path) -> str:
    key = apikey.generate("production")
    (where / "api-key").symlink_to(key)
    return key


@pytest.mark.parametrize(
    "args", [["--staged"], ["--all-files"], ["api-key"]], ids=["staged", "all-files", "hook-paths"]
)
def test_a_key_as_a_symlink_target_is_found(repo: Path, args: list[str]) -> None:
    key = _key_link(repo)
    git(repo, "add", "api-key")
    result = CliRunner().invoke(cli, ["scan", *args, "-o", "json"])
    assert result.exit_code == 1, result.output
    assert '"path": "api-key"' in result.output and key not in result.output


def test_a_key_as_a_symlink_target_is_found_in_history(repo: Path) -> None:
    _key_link(repo)
    git(repo, "add", "api-key")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "link")
    git(repo, "rm", "-q", "api-key")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "gone")
    result = CliRunner().invoke(cli, ["scan", "--history", "-o", "json"])
    assert result.exit_code == 1 and '"path": "api-key"' in result.output, result.output
    assert git(repo, "rev-parse", "HEAD~1").strip() in result.output  # the commit that brought it


# Skip-worktree entries (sparse checkouts, `update-index --skip-worktree`) are committed as the
# index holds them even when the working tree lacks them: --all-files scans their index blob.


def test_all_files_scans_skip_worktree_entries_from_the_index_when_absent(repo: Path) -> None:
    key, other = apikey.generate("prod"), apikey.generate("dev")
    (repo / "sparse.env").write_text(f"API_KEY={key}\n")
    (repo / "kept.env").write_text("clean\n")
    (repo / "plain.txt").write_text("clean\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    git(repo, "update-index", "--skip-worktree", "sparse.env", "kept.env")
    (repo / "sparse.env").unlink()  # as a sparse checkout leaves it
    (repo / "kept.env").write_text(f"API_KEY={other}\n")  # present: the working tree copy is scanned
    _, candidates = files.select((), False, True)
    assert skipped(list(candidates)) == {"kept.env": None, "plain.txt": None, "sparse.env": None}
    result = CliRunner().invoke(cli, ["scan", "--all-files", "-o", "json"])
    assert result.exit_code == 1
    found = {(f["path"], f["line"]) for f in json.loads(result.stdout)}
    assert found == {("sparse.env", 1), ("kept.env", 1)}
    assert key not in result.output and other not in result.output


def test_a_blob_git_cannot_produce_is_not_examined_and_fails_the_scan(repo: Path) -> None:
    (repo / "a.txt").write_text("clean\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-qm", "first")
    ghost = "1234567890" * 4  # in the index, not in the object store (as in a partial clone)
    git(repo, "update-index", "--add", "--info-only", "--cacheinfo", f"100644,{ghost},ghost.txt")
    git(repo, "update-index", "--skip-worktree", "ghost.txt")
    for mode in ("--all-files", "--staged"):
        result = CliRunner().invoke(cli, ["scan", mode])
        assert result.exit_code == 1, mode
        assert f"could not be examined, so the scan fails: ghost.txt (blob {ghost} missing" in result.output


def test_large_staged_blobs_are_streamed_and_one_left_unread_does_not_shift_the_next(repo: Path) -> None:
    from sealer.scan import blobs

    key, other = apikey.generate("prod"), apikey.generate("dev")
    filler = b"nothing to see on this line, just filler text\n" * (blobs.STREAM_BYTES // 40)
    (repo / "a-big.txt").write_bytes(filler + f"API_KEY={key}\n".encode())  # past the stream limit
    (repo / "b-allowed.txt").write_bytes(filler + f"API_KEY={key}\n".encode())  # dropped unread
    (repo / "c-small.env").write_text(f"API_KEY={other}\n")
    git(repo, "add", ".")
    (repo / "policy.yaml").write_text(  # no checksum-verified rule: an allowed path is not read at all
        "version: 1\nallow_paths: ['b-allowed.txt']\n"
        "rules: [{id: env-key, kind: token, keywords: [API_KEY], regex: 'API_KEY=slr_[a-z]+_\\w+'}]\n"
    )
    _, candidates = files.select((), True, False)
    streamed = {c.path: c.blocks is not None for c in candidates}
    assert streamed == {"a-big.txt": True, "b-allowed.txt": True, "c-small.env": False}
    result = CliRunner().invoke(cli, ["scan", "--staged", "--policy", "policy.yaml", "-o", "json"])
    assert result.exit_code == 1, result.output
    found = {(f["path"], f["line"]) for f in json.loads(result.stdout)}
    assert found == {("a-big.txt", filler.count(b"\n") + 1), ("c-small.env", 1)}


def test_a_folder_kept_open_between_files_never_follows_a_symlink_put_in_its_place(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("first\n")
    (tmp_path / "sub" / "b.txt").write_text("second\n")
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "b.txt").write_text("elsewhere\n")
    first, second = files.from_paths([str(tmp_path / "sub")])
    folders = files.Folders()
    try:
        assert [p.data for p in files.items(first, LIMIT, folders)] == [b"first\n"]
        (tmp_path / "sub").rename(tmp_path / "moved")
        (tmp_path / "sub").symlink_to(tmp_path / "evil")
        # the folder as it was opened (now `moved`), never the symlink's target
        assert [p.data for p in files.items(second, LIMIT, folders)] == [b"second\n"]
    finally:
        folders.close()
    assert read(second) == "symlink"  # opened afresh: the symlink on the way is refused


# A `working-tree-encoding` attribute is the repository's own say: a fresh checkout (a CI runner's)
# writes the file re-encoded, while Git holds the UTF-8 blob the pull request committed.


@pytest.mark.parametrize(
    "args", [["--all-files"], ["creds.txt", "plain.txt"], ["."]], ids=["all-files", "hook-paths", "folder"]
)
def test_the_blob_of_a_file_git_reencodes_on_checkout_is_scanned(
    repo: Path, tmp_path: Path, args: list[str]
) -> None:
    key = apikey.generate("prod")
    (repo / "creds.txt").write_text(f"API_KEY={key}\n")
    (repo / "plain.txt").write_text("clean\n")
    git(repo, "add", "creds.txt", "plain.txt")
    (repo / ".gitattributes").write_text("creds.txt working-tree-encoding=IBM037\n")  # EBCDIC
    git(repo, "add", ".gitattributes")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "first")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(repo), str(checkout))
    assert key.encode() not in (checkout / "creds.txt").read_bytes()  # what the runner's disk holds
    os.chdir(checkout)
    result = CliRunner().invoke(cli, ["scan", *args, "-o", "json"])
    assert result.exit_code == 1, result.output
    assert [f["path"] for f in json.loads(result.stdout)] == ["creds.txt"] and key not in result.output
