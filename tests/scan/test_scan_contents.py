"""Fail closed: what a file's bytes become for the scanner, hostile ones included."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from pathlib import Path

import pytest

from sealer import apikey
from sealer.scan import contents, files, rules, scanner
from sealer.scan.contents import Skip
from sealer.scan.files import Candidate

CHUNK = 1 << 20


@pytest.fixture(scope="module")
def policy() -> rules.Policy:
    return rules.load()


def zipped(members: dict[str, bytes], encrypted: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    raw = out.getvalue()
    if encrypted:  # set the "encrypted" flag in every header: Python then refuses to read it
        raw = raw.replace(b"PK\x03\x04\x14\x00\x00\x00", b"PK\x03\x04\x14\x00\x01\x00")
        raw = raw.replace(b"PK\x01\x02\x14\x03\x14\x00\x00\x00", b"PK\x01\x02\x14\x03\x14\x00\x01\x00")
    return raw


def tarred(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return out.getvalue()


def scan(policy: rules.Policy, name: str, data: bytes) -> scanner.Result:
    return scanner.run([Candidate(name, data)], policy, workers=1)


KEY = apikey.generate("prod")
LINE = f"API_KEY={KEY}\n".encode()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("latin1.txt", b"caf\xe9 au lait\n" + LINE),
        ("nul.bin", b"\x7fELF\0\0\0\0" + bytes(range(1, 200)) + b"\0" + LINE + b"\0\0"),
        ("utf16.txt", LINE.decode().encode("utf-16")),
        ("utf16be.txt", LINE.decode().encode("utf-16-be")),  # no BOM: told by its NULs
        ("utf32.txt", LINE.decode().encode("utf-32")),
        ("utf32le.txt", LINE.decode().encode("utf-32-le")),  # no BOM: NULs taken out, the key is there
        ("utf16-late.txt", b"an ASCII start\n" * 100 + LINE.decode().encode("utf-16-le")),
        ("App.dll", b"MZ\x90\0" + bytes(range(256)) * 8 + b"\x5d" + KEY.encode("utf-16-le") + b"\0\x01"),
        ("big.txt", b"filler line\n" * 200_000 + LINE + b"more\n" * 10),
        ("app.zip", zipped({"conf/app.env": LINE})),
        ("app.tar", tarred({"conf/app.env": LINE})),
        ("app.tar.gz", gzip.compress(tarred({"conf/app.env": LINE}))),
        ("app.env.bz2", bz2.compress(LINE)),
        ("app.env.xz", lzma.compress(LINE)),
        ("zip-in-tar.tgz", gzip.compress(tarred({"dist/bundle.zip": zipped({"app.env": LINE})}))),
    ],
)
def test_a_key_is_found_whatever_holds_it(policy: rules.Policy, name: str, data: bytes) -> None:
    result = scan(policy, name, data)
    assert [f.rule for f in result.findings] == ["sealer-api-key"]
    assert result.unexamined == []


@pytest.mark.parametrize(
    "around",
    ["OLD_{key}", "{key}_v2", "x_{key}_y", "({key})", "A{key}", "{key}0", "ab{key}cd", "slr_x_{key}"],
)
def test_a_key_is_found_whatever_stands_next_to_it(policy: rules.Policy, around: str) -> None:
    """The checksum tells a key: `_` (a word character), letters or digits around it, or a
    lookalike's start before it (`slr_x_` would take the key's first characters) hide nothing."""
    result = scan(policy, "app.env", f"API_KEY={around.format(key=KEY)}\n".encode())
    assert [f.rule for f in result.findings] == ["sealer-api-key"]


@pytest.mark.parametrize("tail", ["", "XYZ"])
def test_a_lookalike_whose_checksum_fails_is_left_to_the_assignment_rules(
    policy: rules.Policy, tail: str
) -> None:
    """Key-shaped alone, it is a sealer test value (no finding); inside a longer run it is some
    other token, judged as any high-entropy value."""
    lookalike = KEY[:-1] + ("0" if KEY[-1] != "0" else "1") + tail
    found = [f.rule for f in scan(policy, "app.env", f"API_KEY={lookalike}\n".encode()).findings]
    assert found == (["generic-secret-assignment"] if tail else [])


def test_members_are_named_inside_their_archive(policy: rules.Policy) -> None:
    data = gzip.compress(tarred({"dist/bundle.zip": zipped({"app.env": b"\n\n" + LINE})}))
    (finding,) = scan(policy, "release.tgz", data).findings
    assert (finding.path, finding.line) == ("release.tgz!dist/bundle.zip!app.env", 3)


def test_a_line_past_a_chunk_boundary_keeps_its_number_and_is_reported_once(policy: rules.Policy) -> None:
    lines = [b"x" * 99 + b"\n"] * 25_000  # 2.5 MB: three chunks
    for at in (10_480, 10_490, 20_972):  # around the chunk ends (10 486 lines per MB)
        lines[at] = LINE
    result = scan(policy, "big.log", b"".join(lines))
    assert [f.line for f in result.findings] == [10_481, 10_491, 20_973]


def test_one_long_line_across_chunks(policy: rules.Policy) -> None:
    data = b"a" * (CHUNK - 20) + b" " + LINE.strip() + b" " + b"b" * CHUNK
    # The piece cut in the key's middle may see a random value too; the key itself is found.
    assert "sealer-api-key" in {f.rule for f in scan(policy, "min.js", data).findings}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"7z\xbc\xaf\x27\x1c\0\4" + bytes(64), "7z archive: a format sealer cannot open"),
        (b"Rar!\x1a\x07\0" + bytes(64), "RAR archive: a format sealer cannot open"),
        (b"PK\x03\x04" + bytes(40), "zip could not be read"),
        (b"\x1f\x8b\x08\0garbage", "gzip could not be read"),
        (zipped({"a.env": LINE}, encrypted=True), "encrypted zip member"),
    ],
)
def test_what_cannot_be_read_is_not_examined(policy: rules.Policy, data: bytes, reason: str) -> None:
    result = scan(policy, "thing.bin", data)
    assert len(result.unexamined) == 1 and reason in result.unexamined[0].reason
    assert result.findings == []


def test_a_gzip_bomb_stops_at_the_bound(policy: rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contents, "ARCHIVE_BYTES", 4 << 20)
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MB of zeros in about 64 kB
    assert len(bomb) < 100_000
    (skip,) = scan(policy, "bomb.gz", bomb).unexamined
    assert "unpacks to more than 4194304 bytes" in skip.reason


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_folder_entries_count_toward_the_member_bound(
    policy: rules.Policy, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """zipfile reads every entry of an archive's directory at once and tarfile keeps each one it
    read: folders hold no bytes, but 600,000 of them cost hundreds of MB all the same."""
    monkeypatch.setattr(contents, "ARCHIVE_MEMBERS", 50)

    def archive(folders: int) -> bytes:
        if kind == "tar":
            out = io.BytesIO()
            with tarfile.open(fileobj=out, mode="w") as tar:
                for index in range(folders):
                    info = tarfile.TarInfo(f"d{index}")
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                info = tarfile.TarInfo("app.env")
                info.size = len(LINE)
                tar.addfile(info, io.BytesIO(LINE))
            return out.getvalue()
        return zipped({**{f"d{index}/": b"" for index in range(folders)}, "app.env": LINE})

    (skip,) = scan(policy, f"many.{kind}", archive(60)).unexamined
    assert "more than 50 members" in skip.reason
    few = scan(policy, f"few.{kind}", archive(10))
    assert few.unexamined == [] and len(few.findings) == 1


def test_nesting_past_the_depth_bound_is_not_examined(policy: rules.Policy) -> None:
    data = LINE
    for level in range(contents.ARCHIVE_DEPTH + 1):
        data = zipped({f"level{level}.zip" if level else "app.env": data})
    (skip,) = scan(policy, "deep.zip", data).unexamined
    assert f"nested more than {contents.ARCHIVE_DEPTH} levels deep" in skip.reason


def test_a_zip_quine_like_self_nesting_ends(policy: rules.Policy) -> None:
    inner = zipped({"a.zip": zipped({"b.zip": zipped({"c.zip": zipped({"d.txt": b"x"})})})})
    assert scan(policy, "q.zip", inner).unexamined  # depth bound, not recursion without end


def test_symlinks_in_a_tar_are_not_followed(policy: rules.Policy) -> None:
    data = tarred({"ok.txt": b"fine\n"}, links={"passwd": "/etc/passwd", "up": "../../secret.env"})
    result = scan(policy, "links.tar", data)
    assert result.findings == [] and result.unexamined == []


def test_text_appended_to_an_image_or_an_archive_is_found(policy: rules.Policy) -> None:
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(100) + b"IEND\xaeB`\x82\n" + LINE
    polyglot = zipped({"readme.txt": b"nothing\n"}) + b"\n" + LINE  # zipfile reads past it
    for name, data in (("logo.png", png), ("bundle.zip", polyglot)):
        assert [f.rule for f in scan(policy, name, data).findings] == ["sealer-api-key"], name


def test_ascii_after_a_utf16_looking_start_is_found(policy: rules.Policy) -> None:
    data = "padding ".encode("utf-16-le") * 80 + b"\n" + LINE
    assert [f.rule for f in scan(policy, "mixed.txt", data).findings] == ["sealer-api-key"]


def test_wide_strings_in_a_binary_are_searched_for_checksum_verified_tokens_only(
    policy: rules.Policy,
) -> None:
    """Without its NULs a binary's runs join up and could spell anything: a random value after a
    secret-looking name there is no finding, a key whose checksum holds is."""
    binary = b"MZ\x90\0" + bytes(range(256)) * 8
    assignment = "password = Xk93mQz7LpR2vT8wQ4nB6yHj\n"  # sealer: allow (test payload)
    assert [f.rule for f in scan(policy, "a.txt", assignment.encode()).findings] == [
        "generic-secret-assignment"
    ]
    assert scan(policy, "App.dll", binary + assignment.encode("utf-16-le")).findings == []
    found = scan(policy, "App.dll", binary + f"apiKey = {KEY}\n".encode("utf-16-le")).findings
    assert [(f.rule, f.line) for f in found] == [("sealer-api-key", binary.count(b"\n") + 1)]


@pytest.mark.parametrize("env", ["dev", "prod", "staging", "production"])
def test_a_wide_string_touching_a_length_or_the_next_string_is_found(policy: rules.Policy, env: str) -> None:
    """A .NET #US heap puts a length byte before each UTF-16 string (`_` for a 47-character
    `slr_prod_` key, a letter for most others) and a Windows string table a 16-bit length before
    each and the next string after: without the NULs they touch the key, and no word boundary
    is there to ask for."""
    key = apikey.generate(env)
    wide = key.encode("utf-16-le")
    binary = b"MZ\x90\0" + bytes(range(256)) * 8
    heap = b"#US\0\0" + bytes([len(wide) + 1]) + wide + b"\x00" + b"\x0bA\0b\0c\0"
    table = len(key).to_bytes(2, "little") + wide + (5).to_bytes(2, "little") + "Hello".encode("utf-16-le")
    for data in (binary + heap, binary + table):
        assert [f.rule for f in scan(policy, "App.dll", data).findings] == ["sealer-api-key"]


def test_media_is_told_by_content_not_by_name(policy: rules.Policy) -> None:
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(100)
    result = scanner.run([Candidate("notes.txt", png), Candidate("logo.png", LINE)], policy, workers=1)
    assert result.skipped == [
        ("notes.txt", "PNG image: not decoded, raw bytes scanned (media, told by content)")
    ]
    assert [f.path for f in result.findings] == ["logo.png"]  # named .png, but text


def test_growth_past_the_size_at_open_is_cut_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contents, "GROWTH_SLACK", 0)
    target = tmp_path / "grows.log"
    target.write_bytes(b"a" * 10)
    reads = iter([b"a" * 10, b"b" * 5, b""])  # the file grew by 5 bytes after fstat
    monkeypatch.setattr(files.os, "read", lambda fd, n: next(reads))
    items = list(files.items(files.listed("grows.log", str(target)), CHUNK))
    assert items[-1] == Skip("grows.log", "kept growing while read (past 10 bytes): not examined", False)


def test_unexamined_fails_the_cli_with_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sealer.cli import cli

    (tmp_path / "a.7z").write_bytes(b"7z\xbc\xaf\x27\x1c\0\4")
    (tmp_path / "b.txt").write_text("fine\n")
    result = CliRunner().invoke(cli, ["scan", str(tmp_path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "could not be examined" in line]
    assert len(lines) == 1 and "a.7z (7z archive" in lines[0]
    assert "no plaintext secrets in 1 file(s) examined" in result.output
