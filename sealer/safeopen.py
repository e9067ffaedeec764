"""Opening a path without following a symlink anywhere on the way, and without blocking.

Every component of the path is opened relative to the folder before it (openat) with
O_NOFOLLOW, so a symlink swapped in between a check and the open is refused, not followed:
there is no check separate from the open. A relative path starts at the current folder, an
absolute one at `/` — callers pass a resolved repository root (config.find_root resolves it),
so a path below it holds no symlink at all. The file itself is opened O_NONBLOCK (a FIFO is
never waited on) and must be a regular file (fstat on the open descriptor).

Errors are OSErrors; `Refused` (a subclass) says why a path was not opened in plain words.

One shape of symlinks is resolved, on request only (`open_projected`): a file of a ConfigMap or
Secret volume mounted in a Pod, which the kubelet lays out as `NAME -> ..data/NAME` and
`..data -> ..<timestamp>` (a folder), all in the mount's folder, so that it can swap every file
at once.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
PROJECTED_DATA = "..data"  # the kubelet's atomic writer: the link to the current payload folder
_PROJECTED_STAMP = re.compile(r"\.\.\d{4}(_\d{2}){5}\.\d{1,20}")  # ..2026_12_05_11_35_48.123456789
_NOT_PROJECTED = (
    "is a symlink, and not one of a ConfigMap or Secret volume (NAME -> ..data/NAME, ..data -> "
    "..<timestamp> in the same folder): not followed"
)


class Refused(OSError):
    """A path sealer will not open: a symlink on the way, a FIFO, a device, a folder.
    `filename` is the path up to the part refused, `strerror` why (`is a symlink …`)."""

    def explain(self, path: str | Path) -> str:
        """Why `path` was refused, naming the folder on the way when it was not the file."""
        if os.path.normpath(str(self.filename)) == os.path.normpath(os.fspath(path)):
            return f"it {self.strerror}"
        return f"{self.filename} {self.strerror}"


def _kind(dir_fd: int, name: str) -> str | None:
    """What `name` in the folder is, when it is not what sealer opens (None: a regular file)."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        return None
    return describe(mode)


def describe(mode: int) -> str | None:
    """Why a file of this mode is refused, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "is a symlink (sealer never follows symlinks)"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "is not a regular file"


def _refused(where: str, why: str) -> Refused:
    return Refused(errno.ELOOP if "symlink" in why else errno.EINVAL, why, where)


def _parts(path: str | Path) -> tuple[str, list[str]]:
    text = os.fspath(path)
    start = "/" if text.startswith("/") else "."
    return start, [part for part in text.split("/") if part not in ("", ".")]


def open_dir(path: str | Path, create: bool = False, mode: int = 0o755) -> int:
    """A descriptor of the folder at `path`, no symlink followed on the way; `create` makes the
    missing folders (with `mode`, umask applied as mkdir does)."""
    start, parts = _parts(path)
    fd = os.open(start, _DIR_FLAGS)
    walked = "" if start == "." else "/"
    try:
        for part in parts:
            walked = f"{walked}{part}" if walked in ("", "/") else f"{walked}/{part}"
            fd, parent = _step(fd, part, walked, create, mode), fd
            os.close(parent)
    except BaseException:
        os.close(fd)
        raise
    return fd


def list_dir(path: str | Path) -> list[tuple[str, bool]]:
    """The names in the folder at `path`, sorted, each with whether it is a folder (a symlink
    is not), opened as `open_dir` opens it; OSError when it cannot be (missing, a symlink)."""
    handle = open_dir(path)
    try:
        with os.scandir(handle) as entries:
            return sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries)
    finally:
        os.close(handle)


def _step(dir_fd: int, name: str, walked: str, create: bool, mode: int) -> int:
    """The descriptor of folder `name` in `dir_fd`."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(name, mode, dir_fd=dir_fd)
        except FileExistsError:
            pass  # made meanwhile: the open below checks what it is
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as err:
        why = _kind(dir_fd, name) if err.errno in (errno.ELOOP, errno.ENOTDIR) else None
        if why:
            raise _refused(walked, why) from None
        raise


def split(path: str | Path) -> tuple[str, str]:
    """(folder, name) of a file path; the folder is `.` for a bare name."""
    text = os.fspath(path)
    folder, _, name = text.rpartition("/")
    if not name or name in (".", ".."):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", text)
    return (folder or ("/" if text.startswith("/") else ".")), name


def open_file(path: str | Path) -> tuple[int, os.stat_result]:
    """(descriptor, fstat) of the regular file at `path`, opened for reading."""
    folder, name = split(path)
    dir_fd = open_dir(folder)
    try:
        return open_in(dir_fd, name, os.fspath(path))
    finally:
        os.close(dir_fd)


def open_in(dir_fd: int, name: str, shown: str) -> tuple[int, os.stat_result]:
    """(descriptor, fstat) of the regular file `name` in the folder `dir_fd`."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as err:
        why = _kind(dir_fd, name) if err.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR) else None
        if why:
            raise _refused(shown, why) from None
        raise
    info = os.fstat(fd)
    why = describe(info.st_mode)
    if why:
        os.close(fd)
        raise _refused(shown, why)
    return fd, info


def open_projected(path: str | Path) -> tuple[int, os.stat_result]:
    """(descriptor, fstat) of the regular file at `path`, which may also be a file of a
    kubelet-projected volume: only `NAME -> ..data/NAME` with `..data -> ..<timestamp>`, a real
    folder beside it, is resolved (each link read, never followed by the kernel); any other
    symlink is refused, and so are a FIFO and a device, as `open_file` refuses them."""
    folder, name = split(path)
    shown = os.fspath(path)
    dir_fd = open_dir(folder)
    try:
        try:
            return open_in(dir_fd, name, shown)
        except Refused as err:
            if err.errno != errno.ELOOP:
                raise
        return _open_in_payload(dir_fd, name, shown)
    finally:
        os.close(dir_fd)


def _open_in_payload(dir_fd: int, name: str, shown: str) -> tuple[int, os.stat_result]:
    """The file `name` of the payload folder `..data` names; the kubelet may swap `..data` and
    remove the old folder in between (before we open the folder, or before we open the file in
    it): read the link once more then."""
    if name.startswith("..") or _link(dir_fd, name) != f"{PROJECTED_DATA}/{name}":
        raise _refused(shown, _NOT_PROJECTED)
    for attempt in (1, 2):
        stamp = _link(dir_fd, PROJECTED_DATA)
        if stamp is None or not _PROJECTED_STAMP.fullmatch(stamp):
            raise _refused(shown, _NOT_PROJECTED)
        try:
            payload = os.open(stamp, _DIR_FLAGS, dir_fd=dir_fd)  # O_NOFOLLOW: a real folder
        except FileNotFoundError:
            if attempt == 2:
                raise
            continue
        except OSError:
            raise _refused(shown, _NOT_PROJECTED) from None
        try:
            return open_in(payload, name, shown)
        except FileNotFoundError:  # its folder emptied after we opened it: swapped, read again
            if attempt == 2:
                raise
        finally:
            os.close(payload)
    raise AssertionError("unreachable")


def _link(dir_fd: int, name: str) -> str | None:
    """The target of the symlink `name` in the folder, or None when it is not a symlink."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


def read_open(fd: int, size: int, limit: int) -> bytes | None:
    """At most `limit` bytes of the open file, or None when it holds more. One read of a byte
    more than fstat said first: a file growing after fstat is read on, up to the limit."""
    if size > limit:
        return None
    data = os.read(fd, size + 1)
    if len(data) > size:
        chunks = [data]
        total = len(data)
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        data = b"".join(chunks)
    return None if len(data) > limit else data


def decode(data: bytes, shown: str) -> str:
    """`data` as UTF-8 text; anything else is one line naming the file and the first bad byte."""
    from sealer.errors import BadInput

    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"{shown}: not valid UTF-8 text (byte {err.start})") from None
