"""What a file's bytes hold for the scanner: text pieces, or why a file (or an archive member) is
skipped or could not be examined. Nothing staged passes unexamined (fail closed):

- text in any encoding is scanned as bytes (the tokens are ASCII), a stray non-UTF-8 byte
  changes nothing; UTF-16 and UTF-32 (by BOM, or UTF-16 by its NUL pattern) are decoded first;
- NUL bytes become spaces, so the text runs of a binary file are scanned where they stand; and
  the text without its NULs is searched for checksum-verified tokens (wide strings in a binary);
- a large file is read and scanned in overlapping chunks, never skipped;
- zip, tar, gzip, bzip2 and xz are opened and their members scanned, within ARCHIVE_DEPTH levels,
  ARCHIVE_BYTES unpacked and ARCHIVE_MEMBERS members; past a bound, encrypted, damaged or in a
  format this module cannot read (7z, rar, zstd), the file counts as NOT examined;
- images, audio, video and fonts (told by content, not by name) are not decoded: `-v` lists
  them. Their raw bytes are scanned like every file's (text appended to an image, or to an
  archive, is found).

A member of an archive is reported as `archive!member`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

CHUNK_OVERLAP = 64 << 10  # longer than any single match a rule makes (a PEM header and its body)
ARCHIVE_DEPTH = 3  # archives inside archives: a .tar.gz holding a .zip is depth 3
ARCHIVE_BYTES = 64 << 20  # unpacked bytes read from one file's archives, all levels together
ARCHIVE_MEMBERS = 10_000
GROWTH_SLACK = 1 << 20  # a file read from disk may grow this much past its size before it counts as changing


class Piece(NamedTuple):
    """Text to scan: all of a file, or one chunk of it (`first_line` lines precede it)."""

    path: str
    data: bytes
    first_line: int = 0
    keep_lines: int | None = None  # findings on later lines are left to the next piece (it has them whole)
    squeezed: bool = False  # the text without its NULs: only checksum-verified tokens are looked for


class Skip(NamedTuple):
    """A file or member not scanned: `examined` False means the scan must fail."""

    path: str
    reason: str
    examined: bool


class _Budget:
    def __init__(self) -> None:
        self.left = ARCHIVE_BYTES
        self.members = ARCHIVE_MEMBERS


_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_MEDIA: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "PNG image"),
    (0, b"\xff\xd8\xff", "JPEG image"),
    (0, b"GIF87a", "GIF image"),
    (0, b"GIF89a", "GIF image"),
    (0, b"II*\x00", "TIFF image"),
    (0, b"MM\x00*", "TIFF image"),
    (0, b"\x00\x00\x01\x00", "icon"),
    (8, b"WEBP", "WebP image"),
    (8, b"WAVE", "WAV audio"),
    (8, b"AVI ", "AVI video"),
    (4, b"ftyp", "MP4/QuickTime media"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM media"),
    (0, b"OggS", "Ogg media"),
    (0, b"fLaC", "FLAC audio"),
    (0, b"ID3", "MP3 audio"),
    (0, b"wOFF", "WOFF font"),
    (0, b"wOF2", "WOFF2 font"),
    (0, b"\x00\x01\x00\x00\x00", "TrueType font"),
    (0, b"OTTO", "OpenType font"),
)
_UNREADABLE: tuple[tuple[int, bytes, str], ...] = (
    (0, b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (0, b"Rar!\x1a\x07", "RAR archive"),
    (0, b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (0, b"\x04\x22\x4d\x18", "LZ4-compressed data"),
)
SNIFF = 1024


def _magic(head: bytes, table: tuple[tuple[int, bytes, str], ...]) -> str | None:
    return next((name for at, magic, name in table if head.startswith(magic, at)), None)


def _container(head: bytes) -> str | None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 by BOM, or UTF-16 without one: text whose every other byte is NUL."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    sample = head[: SNIFF - SNIFF % 2]
    if len(sample) >= 8 and b"\0" in sample:
        odd, even = sample[1::2], sample[0::2]
        if odd.count(0) >= len(odd) * 0.9 and even.count(0) <= len(even) * 0.1:
            return "utf-16-le"
        if even.count(0) >= len(even) * 0.9 and odd.count(0) <= len(odd) * 0.1:
            return "utf-16-be"
    return None


def from_blocks(
    path: str, blocks: Iterable[bytes], chunk: int, depth: int = 0, budget: _Budget | None = None
) -> Iterator[Piece | Skip]:
    """The pieces and skips of one file whose bytes arrive in `blocks` (a disk file is read as it
    is scanned, so a large one is never held whole unless it is an archive or wide text)."""
    stream = iter(blocks)
    head = b""
    for block in stream:  # enough bytes to tell the format (blocks may be short)
        head += block
        if len(head) >= SNIFF:
            break
    media = _magic(head, _MEDIA)
    if media:
        yield Skip(path, f"{media}: not decoded, raw bytes scanned (media, told by content)", True)
    whole = None if media else _container(head) or _magic(head, _UNREADABLE) or wide_encoding(head)
    if whole is None:
        yield from _chunks(path, _prepend(head, stream), chunk)
        return
    data = _read_bounded(head, stream, ARCHIVE_BYTES)  # an archive or wide text: all of it, within the bound
    if data is None:
        yield Skip(path, f"{whole} larger than {ARCHIVE_BYTES} bytes: not examined", False)
        return
    yield from from_bytes(path, data, chunk, depth, budget)


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


def _read_bounded(head: bytes, rest: Iterator[bytes], limit: int) -> bytes | None:
    parts, size = [head], len(head)
    for block in rest:
        size += len(block)
        if size > limit:
            return None
        parts.append(block)
    return b"".join(parts)


def from_bytes(
    path: str, data: bytes, chunk: int, depth: int = 0, budget: _Budget | None = None
) -> Iterator[Piece | Skip]:
    """The pieces and skips of a file held in memory (a staged blob, an archive member).

    The raw bytes are always scanned (their text runs), and then what they decode to: text
    appended to an archive or an image, or ASCII after a UTF-16-looking start, is not missed."""
    budget = budget or _Budget()
    head = data[:SNIFF]
    yield from _chunks(path, _blocks_of(data, chunk), chunk)
    media = _magic(head, _MEDIA)
    if media:
        yield Skip(path, f"{media}: not decoded, raw bytes scanned (media, told by content)", True)
        return
    unreadable = _magic(head, _UNREADABLE)
    if unreadable:
        yield Skip(path, f"{unreadable}: a format sealer cannot open, not examined", False)
        return
    container = _container(head)
    if container:
        yield from _archive(path, container, data, chunk, depth, budget)
        return
    wide = wide_encoding(head)
    if wide:
        text = data.decode(wide, "replace").encode("utf-8")
        yield from _chunks(path, _blocks_of(text, chunk), chunk)


def _blocks_of(data: bytes, chunk: int) -> Iterator[bytes]:
    return (data[i : i + chunk] for i in range(0, len(data), chunk)) if data else iter([b""])


def _chunks(path: str, blocks: Iterable[bytes], chunk: int) -> Iterator[Piece]:
    """Blocks regrouped into pieces of about `chunk` bytes, each starting with the last lines of
    the piece before (at least CHUNK_OVERLAP bytes, from a line start) so no match is cut in two:
    what a piece finds on those last lines is left to the next, which sees them whole."""
    carry, lines_before, pending = b"", 0, b""
    for block in blocks:
        pending += block
        if len(pending) < chunk:
            continue
        text = carry + pending
        cut = _cut(text)
        whole_lines = text.count(b"\n", 0, cut)
        at_line_start = cut > 0 and text[cut - 1] == 10
        yield from _pieces(path, text, lines_before, whole_lines if at_line_start else None)
        carry, lines_before, pending = text[cut:], lines_before + whole_lines, b""
    if pending or not lines_before and not carry:
        yield from _pieces(path, carry + pending, lines_before, None)


def _cut(text: bytes) -> int:
    """Where the overlap carried into the next piece starts: a line start at least CHUNK_OVERLAP
    bytes before the end, unless the line is very long (minified code): then mid-line."""
    cut = max(len(text) - CHUNK_OVERLAP, 0)
    line_start = text.rfind(b"\n", max(cut - CHUNK_OVERLAP * 4, 0), cut) + 1
    return line_start if line_start > 0 else cut


def _pieces(path: str, data: bytes, first_line: int, keep_lines: int | None) -> Iterator[Piece]:
    """NULs as spaces: the text runs of a binary file keep their offsets and stay apart. Then the
    text without its NULs: UTF-16 and UTF-32 strings in a binary (a .NET assembly keeps its string
    literals so) or after an ASCII start read as text there. Joined runs could spell anything, so
    only tokens a checksum proves are looked for in it."""
    if b"\0" not in data:
        yield Piece(path, data, first_line, keep_lines)
        return
    yield Piece(path, data.replace(b"\0", b" "), first_line, keep_lines)
    yield Piece(path, data.replace(b"\0", b""), first_line, keep_lines, squeezed=True)


def _archive(
    path: str, kind: str, data: bytes, chunk: int, depth: int, budget: _Budget
) -> Iterator[Piece | Skip]:
    if depth >= ARCHIVE_DEPTH:
        yield Skip(path, f"{kind} nested more than {ARCHIVE_DEPTH} levels deep: not examined", False)
        return
    try:
        members = list(_members(kind, data, budget))
    except _TooBig as err:
        yield Skip(path, f"{kind}: {err}: not examined", False)
        return
    except _parse_errors() as err:  # hostile or damaged bytes: not examined, never a traceback
        yield Skip(path, f"{kind} could not be read ({type(err).__name__}): not examined", False)
        return
    for name, content in members:
        if content is None:
            yield Skip(f"{path}!{name}", f"encrypted {kind} member: not examined", False)
        else:
            yield from from_bytes(f"{path}!{name}" if name else path, content, chunk, depth + 1, budget)


class _TooBig(Exception):
    pass


def _parse_errors() -> tuple[type[BaseException], ...]:
    import lzma
    import struct
    import tarfile
    import zipfile
    import zlib

    # NotImplementedError: a zip compression method Python lacks; RuntimeError: zip passwords
    return (
        zipfile.BadZipFile,
        tarfile.TarError,
        lzma.LZMAError,
        zlib.error,
        struct.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    )


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _count(budget: _Budget) -> None:
    budget.members -= 1
    if budget.members < 0:
        raise _TooBig(f"more than {ARCHIVE_MEMBERS} members")


def _take(budget: _Budget, handle: _Readable) -> bytes:
    """Read a member, never more than the budget left (a gzip bomb stops here)."""
    _count(budget)
    content = handle.read(budget.left + 1)
    if len(content) > budget.left:
        raise _TooBig(f"unpacks to more than {ARCHIVE_BYTES} bytes")
    budget.left -= len(content)
    return bytes(content)


def _members(kind: str, data: bytes, budget: _Budget) -> Iterator[tuple[str, bytes | None]]:
    """(name, content) of each regular file in the archive; content None when encrypted. A
    compressed stream (gzip, bzip2, xz) is one member without a name."""
    if kind == "zip":
        yield from _zip_members(data, budget)
    elif kind == "tar":
        yield from _tar_members(data, budget)
    else:
        yield "", _take(budget, _decompressor(kind, data))


def _decompressor(kind: str, data: bytes) -> _Readable:
    import bz2
    import gzip
    import lzma

    if kind == "gzip":
        return gzip.GzipFile(fileobj=io.BytesIO(data))
    return bz2.BZ2File(io.BytesIO(data)) if kind == "bzip2" else lzma.LZMAFile(io.BytesIO(data))


def _zip_members(data: bytes, budget: _Budget) -> Iterator[tuple[str, bytes | None]]:
    import zipfile

    # zipfile reads the whole directory at once, a folder entry costing memory like a file's:
    # the entries' headers counted first (their signature: an upper bound, as compressed bytes
    # may hold it too); the files are counted again as they are read.
    if data.count(b"PK\x01\x02") > budget.members:
        raise _TooBig(f"more than {ARCHIVE_MEMBERS} members")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                yield info.filename, None
                continue
            with archive.open(info) as member:
                yield info.filename, _take(budget, member)


def _tar_members(data: bytes, budget: _Budget) -> Iterator[tuple[str, bytes | None]]:
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for info in archive:
            if not info.isfile():  # links, folders, devices hold no bytes of their own, but
                _count(budget)  # tarfile keeps each entry it read: they count all the same
                continue
            member = archive.extractfile(info)
            if member is not None:
                yield info.name, _take(budget, member)
