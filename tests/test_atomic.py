from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sealer.atomic import sync_filesystem, write_atomic, write_unsynced
from sealer.errors import BadInput


def test_writes_text_and_bytes_with_the_given_mode(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a.txt", "héllo")
    write_atomic(tmp_path / "b.key", b"\x00secret", mode=0o600)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert (tmp_path / "b.key").read_bytes() == b"\x00secret"
    assert stat.S_IMODE((tmp_path / "b.key").stat().st_mode) == 0o600


def test_replaces_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    write_atomic(target, "new", mode=0o600)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"cannot write .*/missing/f: No such file or directory"):
        write_atomic(tmp_path / "missing" / "f", "x")


def test_a_folder_in_the_way_is_bad_input_and_stays(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(BadInput, match="cannot write"):
        write_atomic(tmp_path / "d", "x")
    assert (tmp_path / "d").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_a_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    target = tmp_path / "f"
    target.write_text("old")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(BadInput, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_unsynced_write_creates_afresh_with_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.write_text("old, longer than the new text")
    target.chmod(0o600)
    write_unsynced(target, "new", mode=0o644)
    sync_filesystem(tmp_path)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_unsynced_write_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "t").symlink_to(victim)
    write_unsynced(tmp_path / "t", "sealer's temp")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "t").is_symlink() and (tmp_path / "t").read_text() == "sealer's temp"


def test_unsynced_write_and_sync_name_the_path_they_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"cannot write .*/missing/t: No such file"):
        write_unsynced(tmp_path / "missing" / "t", "x")
    with pytest.raises(BadInput, match=r"cannot write .*/missing: No such file"):
        sync_filesystem(tmp_path / "missing")


@pytest.mark.parametrize("through_symlink", [False, True])
def test_a_fifo_or_a_symlink_to_one_is_never_replaced(tmp_path: Path, through_symlink: bool) -> None:
    # the same for a device (`-w /dev/full`, `-w /dev/stdout`), which a test cannot create unprivileged
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "link" if through_symlink else fifo
    if through_symlink:
        target.symlink_to(fifo)
    with pytest.raises(BadInput, match="not a regular file"):
        write_atomic(target, "data")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and target.is_symlink() == through_symlink
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"pipe", target.name})


def test_a_dangling_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    link = tmp_path / "out.yaml"
    link.symlink_to(tmp_path / "elsewhere")
    write_atomic(link, "data")
    assert not link.is_symlink() and link.read_text() == "data" and not (tmp_path / "elsewhere").exists()
