"""sealer.repofiles: the one place files of a repository are read and written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sealer import repofiles, yamlio
from sealer.atomic import sync_filesystem
from sealer.errors import BadInput


def test_writes_text_and_bytes_with_the_given_mode(tmp_path: Path) -> None:
    repofiles.write(tmp_path / "a.txt", "héllo")
    repofiles.write(tmp_path / "b.key", b"\x00secret", mode=0o600)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert (tmp_path / "b.key").read_bytes() == b"\x00secret"
    assert stat.S_IMODE((tmp_path / "b.key").stat().st_mode) == 0o600


def test_a_rewrite_keeps_mode_and_crlf_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"a: 1\r\nb: 2\r\n")
    target.chmod(0o440)
    assert repofiles.read_text(target) == "a: 1\nb: 2\n"
    repofiles.write(target, "a: 3\nb: 4\n")
    assert target.read_bytes() == b"a: 3\r\nb: 4\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o440
    repofiles.write(target, "x\n", mode=0o600)  # a narrower mode narrows, never widens
    assert stat.S_IMODE(target.stat().st_mode) == 0o400
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_missing_folders_are_made_but_never_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ledger").symlink_to(outside)
    repofiles.write(repo / "deploy" / "prod" / "values.yaml", "x")
    assert (repo / "deploy" / "prod" / "values.yaml").read_text() == "x"
    with pytest.raises(BadInput, match=r"ledger is a symlink \(sealer never follows symlinks\)"):
        repofiles.write(repo / "ledger" / "prod.yaml", "x")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_only_a_regular_file_is_replaced(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "t"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    {"symlink": lambda: target.symlink_to(victim), "fifo": lambda: os.mkfifo(target), "folder": target.mkdir}[
        kind
    ]()
    with pytest.raises(BadInput, match="cannot write"):
        repofiles.write(target, "x")
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t", "victim"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    monkeypatch.setenv("SEALER_TEST", "1")
    monkeypatch.setenv("SEALER_IO_FAULT", "write:ENOSPC:/f")
    with pytest.raises(BadInput, match="No space left"):
        repofiles.write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_the_fault_hook_needs_sealer_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEALER_TEST", raising=False)
    monkeypatch.setenv("SEALER_IO_FAULT", "write:ENOSPC:")
    repofiles.write(tmp_path / "f", "x")
    assert (tmp_path / "f").read_text() == "x"


def test_temps_have_fresh_names_and_never_reuse_a_planted_one(tmp_path: Path) -> None:
    planted = tmp_path / ".f.0000000000000000.tmp"
    planted.symlink_to(tmp_path / "elsewhere")
    repofiles.write(tmp_path / "f", "x")
    assert not (tmp_path / "elsewhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [planted.name, "f"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.symlink_to("/etc/hostname"), "is a symlink"),
        (lambda p: p.symlink_to("/dev/zero"), "is a symlink"),
        (lambda p: os.mkfifo(p), "is a FIFO"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b"x" * 65), "larger than the limit of 64 bytes"),
    ],
)
def test_reads_refuse_what_is_not_a_small_regular_file(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    make(tmp_path / "f")
    with pytest.raises(BadInput, match=message):
        repofiles.read_bytes(tmp_path / "f", limit=64)


def test_a_device_is_refused() -> None:
    with pytest.raises(BadInput, match="cannot read /dev/null: it is a device"):
        repofiles.read_bytes("/dev/null")


def test_a_folder_symlinked_on_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(BadInput, match=r"link is a symlink"):
        repofiles.read_text(tmp_path / "link" / "f")
    with pytest.raises(BadInput, match=r"link is a symlink"):
        repofiles.read_text(os.path.relpath(tmp_path / "link" / "f"))


def test_a_user_path_may_go_through_their_own_folders_but_not_end_in_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "real" / "l").symlink_to(tmp_path / "real" / "f")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert repofiles.read_input(tmp_path / "link" / "f", "input", user_path=True) == b"x"
    with pytest.raises(BadInput, match=r"cannot read input .*link/f: .*link is a symlink"):
        repofiles.read_input(tmp_path / "link" / "f", "input")
    with pytest.raises(BadInput, match=r"cannot read input .*/l: it is a symlink"):
        repofiles.read_input(tmp_path / "link" / "l", "input", user_path=True)
    with pytest.raises(BadInput, match=r"cannot read input .*/missing: No such file"):
        repofiles.read_input(tmp_path / "missing", "input")


@pytest.mark.parametrize("data", [b"a: \xff\n", "a: 1\n".encode("utf-16")])
def test_text_must_be_utf8_and_the_error_names_the_byte(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "f.yaml").write_bytes(data)
    with pytest.raises(BadInput, match=r"f.yaml: not valid UTF-8 text \(byte \d+\)"):
        repofiles.load_yaml(tmp_path / "f.yaml")


def test_private_folders_are_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        repofiles.make_folder(tmp_path / "a" / "keys", private=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


def test_unsynced_write_creates_afresh_like_its_target(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.write_bytes(b"old\r\n")
    target.chmod(0o600)
    repofiles.write_unsynced(tmp_path / ".t.new", "new\n", like=target)
    sync_filesystem(tmp_path)
    assert (tmp_path / ".t.new").read_bytes() == b"new\r\n"
    assert stat.S_IMODE((tmp_path / ".t.new").stat().st_mode) == 0o600


def test_unsynced_write_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "t").symlink_to(victim)
    repofiles.write_unsynced(tmp_path / "t", "sealer's temp")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "t").is_symlink() and (tmp_path / "t").read_text() == "sealer's temp"


def test_sync_names_the_path_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"cannot write .*/missing: No such file"):
        sync_filesystem(tmp_path / "missing")


def test_the_executable_bit_is_seen(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("#!/bin/sh\n")
    (tmp_path / "x").chmod(0o755)
    (tmp_path / "y").write_text("y")
    (tmp_path / "l").symlink_to(tmp_path / "x")
    assert [repofiles.is_executable(tmp_path / n) for n in "xyl"] == [True, False, False]


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("load", [yamlio.load_documents, yamlio.round_trip_load])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_bomb(), "expands to more than"),
        ("[" * 5000 + "]" * 5000, "nests deeper than 100 levels|not valid YAML"),  # libyaml stops at 1000
        ("a:\n" + "".join(f"{' ' * i}b{i}:\n" for i in range(1, 150)), "nests deeper than 100 levels"),
        ("a: &a [*a]\n", "refers to itself"),
        ("".join(f"k{i}: &x{i} 1\nv{i}: *x{i}\n" for i in range(1001)), "more than 1000 aliases"),
    ],
)
def test_yaml_is_refused_before_it_is_built(load, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadInput, match=message):
        load(text, "f.yaml")


def test_a_few_aliases_are_fine() -> None:
    text = "base: &b {x: 1}\none: *b\ntwo: *b\n"
    assert yamlio.load_documents(text, "f.yaml") == [{"base": {"x": 1}, "one": {"x": 1}, "two": {"x": 1}}]
    assert yamlio.round_trip_load(text, "f.yaml")["two"]["x"] == 1


def test_a_file_sealer_edits_is_bounded_below_the_read_limit() -> None:
    """ruamel's round trip is slow: a values file it keeps the layout of has its own bound."""
    text = "".join(f"k{i}: v\n" for i in range(yamlio.MAX_ROUND_TRIP_CHARS // 6))
    with pytest.raises(
        BadInput, match=r"f.yaml: larger than 262144 characters, the limit for a file sealer edits"
    ):
        yamlio.round_trip_load(text, "f.yaml")
