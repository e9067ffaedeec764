"""Every read and write of a file in a sealer-managed repo (or a file a user hands in) goes
through here, so the rules for handling files an attacker may have written live in one place:

- no symlink is followed anywhere on the path (sealer.safeopen: openat per component,
  O_NOFOLLOW), only regular files are read or replaced, and opening never blocks (a FIFO
  or device is refused);
- reads are bounded (`MAX_BYTES`), text must be UTF-8, YAML is checked for alias bombs and
  deep nesting before it is built (sealer.yamlio);
- a write replaces the file in one step through a fresh temp (O_EXCL, random name, removed on
  every failure), keeps the old file's mode (never widens it) and its CRLF line endings, and
  makes the missing folders itself, so a symlinked folder is never written through.

Reads: `read_bytes`/`read_text` (a missing file is FileNotFoundError, for callers that treat it
as data; every other failure is one BadInput line), `read_text_if_exists`, `read_input` (a file
the user names: any failure is BadInput), `load_yaml`.
Writes: `write`, and the batch form a rotation uses, `write_unsynced` + `sync`.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sealer import faults, safeopen
from sealer.errors import BadInput

# sealer.atomic and sealer.yamlio (PyYAML) load on first use: the pre-commit hook reads files
# here and writes none, so it starts without them.

MAX_BYTES = 16 << 20  # 16 MiB: several times a 5,000-entry sealed file, far below the memory budget
NEW_FILE_MODE = 0o644
_CRLF_SNIFF = 1 << 16
_NO_HARD_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK)  # FAT and some network mounts
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _problem(path: str | Path, err: OSError, verb: str = "read") -> BadInput:
    if isinstance(err, safeopen.Refused):
        return BadInput(f"cannot {verb} {path}: {err.explain(path)}")
    return BadInput(f"cannot {verb} {path}: {err.strerror or err}")


def _users(path: str | Path) -> str | Path:
    """A path the user typed: the folders of an absolute one are theirs to choose (resolved);
    the file itself, and the folders of a relative path (which may be a checked-out
    repository's), are never followed through a symlink."""
    text = os.fspath(path)
    if not os.path.isabs(text):
        return path
    folder, name = safeopen.split(text)
    return os.path.join(os.path.realpath(folder), name)


def read_bytes(
    path: str | Path, limit: int = MAX_BYTES, user_path: bool = False, projected: bool = False
) -> bytes:
    """The bytes of the regular file at `path`; FileNotFoundError when there is none.
    `user_path`: see `_users`; `projected`: the file may be a ConfigMap or Secret volume's
    (`safeopen.open_projected`)."""
    if user_path:
        path = _users(path)
    try:
        faults.io_error("read", os.fspath(path))
        fd, info = safeopen.open_projected(path) if projected else safeopen.open_file(path)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise _problem(path, err) from None
    try:
        data = safeopen.read_open(fd, info.st_size, limit)
    except OSError as err:
        raise _problem(path, err) from None
    finally:
        os.close(fd)
    if data is None:
        raise BadInput(f"cannot read {path}: larger than the limit of {limit} bytes")
    return data


def read_text(path: str | Path, limit: int = MAX_BYTES, user_path: bool = False) -> str:
    """The file as UTF-8 text, CRLF read as LF (`write` puts CRLF back for such a file)."""
    text = safeopen.decode(read_bytes(path, limit, user_path), str(path))
    return text.replace("\r\n", "\n") if "\r" in text else text


def read_text_if_exists(path: str | Path) -> str | None:
    try:
        return read_text(path)
    except FileNotFoundError:
        return None


def read_input(
    path: str | Path, what: str = "file", user_path: bool = False, projected: bool = False
) -> bytes:
    """The bytes of a file a command needs; any failure (a missing file too) is one BadInput
    line. `user_path`: the user typed `path` (see `_users`); `projected`: see `read_bytes`."""
    shown = os.fspath(path)
    try:
        return read_bytes(path, user_path=user_path, projected=projected)
    except FileNotFoundError as err:
        raise BadInput(f"cannot read {what} {shown}: {err.strerror}") from None
    except BadInput as err:
        raise BadInput(f"{what} {err}".replace(f"{what} cannot read", f"cannot read {what}", 1)) from None


def load_yaml(path: str | Path) -> list[Any]:
    """Every non-empty YAML document of the file (safe loading; see yamlio.load_documents)."""
    from sealer import yamlio

    return yamlio.load_documents(read_text(path), str(path))


def write(
    path: str | Path,
    data: bytes | str,
    mode: int | None = None,
    user_path: bool = False,
    replace: bool = True,
) -> None:
    """Replace `path` with `data` in one step; a failure leaves the old file as it was and no
    temp behind. `mode` is for a new file (default 0644, the umask not applied); an existing
    file keeps its own, narrowed to `mode` when one is given. Missing folders are made, except
    for a `user_path` (one the user typed: see `_users`), whose folder must exist. Not `replace`:
    only a new file is written, one a concurrent writer made meanwhile is refused, never replaced."""
    folder, name = safeopen.split(path)
    if user_path and os.path.isabs(folder):
        folder = os.path.realpath(folder)
    try:
        dir_fd = safeopen.open_dir(folder, create=not user_path)
    except OSError as err:
        raise _problem(path, err, "write") from None
    try:
        payload, final_mode = _prepared(dir_fd, name, str(path), data, mode)
        tmp = _write_temp(dir_fd, name, str(path), payload, final_mode, durable=True)
        (_rename if replace else _place_new)(dir_fd, tmp, name, str(path))
        os.fsync(dir_fd)
    except OSError as err:
        raise _problem(path, err, "write") from None
    finally:
        os.close(dir_fd)


def _prepared(dir_fd: int, name: str, shown: str, data: bytes | str, mode: int | None) -> tuple[bytes, int]:
    """(the bytes to write, their mode): the old file's mode and line endings where there is one."""
    try:
        fd, info = safeopen.open_in(dir_fd, name, shown)
    except FileNotFoundError:
        text = data
        final = NEW_FILE_MODE if mode is None else mode
    else:
        try:
            crlf = isinstance(data, str) and _uses_crlf(os.read(fd, _CRLF_SNIFF))
        finally:
            os.close(fd)
        text = _to_crlf(data) if crlf and isinstance(data, str) else data
        final = info.st_mode & 0o777 & (0o777 if mode is None else mode)
    return (text.encode("utf-8") if isinstance(text, str) else text), final


def check_writable(path: str | Path) -> None:
    """BadInput now when `write(path)` would refuse the path (a symlink or FIFO at it or on the
    way, a folder in its place), so a command writing several files can check them all first.
    A path ending in `/.` is a folder: only the way to it is checked."""
    text = os.fspath(path)
    folder, name = (text[:-2], "") if text.endswith("/.") else safeopen.split(text)
    while True:
        try:
            dir_fd = safeopen.open_dir(folder)
            break
        except FileNotFoundError:
            parent = os.path.dirname(folder)
            if parent == folder:
                raise
            folder, name = parent, ""  # made by the write: only the way there is checked
        except OSError as err:
            raise _problem(path, err, "write") from None
    try:
        if name:
            _prepared(dir_fd, name, text, b"", None)
    except OSError as err:
        raise _problem(path, err, "write") from None
    finally:
        os.close(dir_fd)


def encode_like(path: str | Path, text: str) -> bytes:
    """`text` as the bytes `write` would put at `path`: CRLF when the file there uses CRLF."""
    folder, name = safeopen.split(path)
    try:
        dir_fd = safeopen.open_dir(folder)
    except FileNotFoundError:
        return text.encode("utf-8")
    except OSError as err:
        raise _problem(path, err, "write") from None
    try:
        return _prepared(dir_fd, name, str(path), text, None)[0]
    except OSError as err:
        raise _problem(path, err, "write") from None
    finally:
        os.close(dir_fd)


def rename_if_exists(source: str | Path, target: str | Path) -> None:
    """Move the file `source` over `target` in the same folder, if `source` is there; the
    folder is reached without following a symlink, and a symlink at `target` is refused."""
    folder, name = safeopen.split(source)
    target_folder, target_name = safeopen.split(target)
    if os.path.normpath(folder) != os.path.normpath(target_folder):
        raise ValueError(f"{source} and {target} are not in one folder")
    try:
        dir_fd = safeopen.open_dir(folder)
    except FileNotFoundError:
        return
    except OSError as err:
        raise _problem(target, err, "write") from None
    try:
        if _exists_in(dir_fd, name):
            _check_replaceable(dir_fd, target_name, str(target))
            os.replace(name, target_name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as err:
        raise _problem(target, err, "write") from None
    finally:
        os.close(dir_fd)


def _exists_in(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def remove(path: str | Path) -> None:
    """Remove the file at `path` if it is there (a symlink itself, never what it points to)."""
    folder, name = safeopen.split(path)
    try:
        dir_fd = safeopen.open_dir(folder)
    except OSError:
        return  # no folder, or not one sealer goes through: nothing of sealer's is in it
    try:
        _remove(dir_fd, name)
    finally:
        os.close(dir_fd)


def _uses_crlf(head: bytes) -> bool:
    line_end = head.find(b"\n")
    return line_end > 0 and head[line_end - 1 : line_end] == b"\r"


def _to_crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _write_temp(dir_fd: int, name: str, shown: str, payload: bytes, mode: int, durable: bool) -> str:
    """A fresh temp next to `name` holding `payload`: a random name created O_EXCL (never one
    left by an earlier run), chmod before any byte lands, removed again on any failure."""
    tmp = f".{name[:200]}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, _WRITE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)
            faults.io_error("write", shown)
            handle.write(payload)
            handle.flush()
            if durable:
                os.fsync(fd)
    except BaseException:
        _remove(dir_fd, tmp)
        raise
    return tmp


def _rename(dir_fd: int, tmp: str, name: str, shown: str) -> None:
    try:
        _check_replaceable(dir_fd, name, shown)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        _remove(dir_fd, tmp)
        raise


def _place_new(dir_fd: int, tmp: str, name: str, shown: str) -> None:
    """`tmp` at `name` only if nothing is there: a hard link fails on any name that exists,
    where a rename would replace it. A file system without hard links (FAT on a USB stick)
    gets a check and a rename."""
    try:
        os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        raise BadInput(f"refusing to overwrite {shown}: it appeared while sealer wrote") from None
    except OSError as err:
        if err.errno not in _NO_HARD_LINKS:
            raise
        if _exists_in(dir_fd, name):
            raise BadInput(f"refusing to overwrite {shown}: it appeared while sealer wrote") from None
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        _remove(dir_fd, tmp)  # the link's second name (gone already after a rename)


def _check_replaceable(dir_fd: int, name: str, shown: str) -> None:
    """Refuse to replace anything but a regular file (a symlink or FIFO planted meanwhile)."""
    try:
        existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    why = safeopen.describe(existing.st_mode)
    if why:
        raise safeopen.Refused(errno.EEXIST, why, shown)


def _remove(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass  # already gone, or the folder went away: nothing of ours is left to clean


def write_unsynced(path: Path, data: bytes | str, mode: int | None = None, like: Path | None = None) -> None:
    """Create `path` afresh with `data`, not yet durable: call `sync` before relying on it.
    Whatever was at `path` is removed first (never followed). `like` is the file `path` will
    replace: its mode and line endings are kept, as `write` keeps them."""
    folder, name = safeopen.split(path)
    try:
        dir_fd = safeopen.open_dir(folder, create=True)
    except OSError as err:
        raise _problem(path, err, "write") from None
    try:
        payload, final_mode = _like(like, data, mode) if like else _fresh(data, mode)
        _write_fresh(dir_fd, name, str(path), payload, final_mode)
    except OSError as err:
        raise _problem(path, err, "write") from None
    finally:
        os.close(dir_fd)


def write_temps_beside(items: list[tuple[Path, Path, str]]) -> list[tuple[bytes, bool]]:
    """For each (target, temp, text): `write_unsynced(temp, text, like=target)`, each folder
    reached (no symlink followed) once for the batch instead of three times a file; returns
    the bytes written (the target's line endings) and whether the target is executable."""
    folders: dict[str, int] = {}
    done = []
    try:
        for target, temp, text in items:
            folder, name = safeopen.split(target)
            temp_folder, temp_name = safeopen.split(temp)
            if os.path.normpath(folder) != os.path.normpath(temp_folder):
                raise ValueError(f"{temp} is not beside {target}")
            try:
                if folder not in folders:
                    folders[folder] = safeopen.open_dir(folder, create=True)
                dir_fd = folders[folder]
                payload, mode = _prepared(dir_fd, name, str(target), text, None)
                _write_fresh(dir_fd, temp_name, str(temp), payload, mode)
            except OSError as err:
                raise _problem(temp, err, "write") from None
            done.append((payload, bool(mode & stat.S_IXUSR)))  # open_in took only a regular file
    finally:
        for fd in folders.values():
            os.close(fd)
    return done


def encode_all_like(items: Iterable[tuple[Path, str]]) -> Iterator[tuple[bytes, bool]]:
    """For each (target, text): `encode_like(target, text)` and whether the target is
    executable, each folder reached (no symlink followed) once for the batch; yielded one by
    one, so that the caller can pass each on (to git, say) while the next is encoded."""
    folders: dict[str, int | None] = {}
    try:
        for target, text in items:
            folder, name = safeopen.split(target)
            try:
                if folder not in folders:
                    try:
                        folders[folder] = safeopen.open_dir(folder)
                    except FileNotFoundError:
                        folders[folder] = None  # made by the write: a new file
                dir_fd = folders[folder]
                if dir_fd is None:
                    payload, mode = text.encode("utf-8"), NEW_FILE_MODE
                else:
                    payload, mode = _prepared(dir_fd, name, str(target), text, None)
            except OSError as err:
                raise _problem(target, err, "write") from None
            yield payload, bool(mode & stat.S_IXUSR)
    finally:
        for fd in folders.values():
            if fd is not None:
                os.close(fd)


def remove_all(paths: list[Path]) -> None:
    """`remove` each of `paths`, each folder reached once."""
    folders: dict[str, int | None] = {}
    try:
        for path in paths:
            folder, name = safeopen.split(path)
            if folder not in folders:
                try:
                    folders[folder] = safeopen.open_dir(folder)
                except OSError:
                    folders[folder] = None  # no folder, or not one sealer goes through
            dir_fd = folders[folder]
            if dir_fd is not None:
                _remove(dir_fd, name)
    finally:
        for fd in folders.values():
            if fd is not None:
                os.close(fd)


def _write_fresh(dir_fd: int, name: str, shown: str, payload: bytes, mode: int) -> None:
    """`name` created afresh in `dir_fd` (whatever was there removed first, never followed)."""
    _remove(dir_fd, name)
    fd = os.open(name, _WRITE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)
            faults.io_error("write", shown)
            handle.write(payload)
    except BaseException:
        _remove(dir_fd, name)
        raise


def _fresh(data: bytes | str, mode: int | None) -> tuple[bytes, int]:
    return (data.encode("utf-8") if isinstance(data, str) else data), NEW_FILE_MODE if mode is None else mode


def _like(like: Path, data: bytes | str, mode: int | None) -> tuple[bytes, int]:
    folder, name = safeopen.split(like)
    dir_fd = safeopen.open_dir(folder, create=True)
    try:
        return _prepared(dir_fd, name, str(like), data, mode)
    finally:
        os.close(dir_fd)


def make_folder(path: str | Path, private: bool = False) -> None:
    """Make the folder `path` and its missing parents, no symlink followed. `private` (folders
    for private keys): new folders are 0700 whatever the umask, and the folders of an absolute
    path are the user's choice (like `read_input`); an existing folder stays as it is."""
    text = os.fspath(path)
    if private and os.path.isabs(text):
        text = os.path.realpath(text)
    try:
        existed = os.path.lexists(text)
        fd = safeopen.open_dir(text, create=True, mode=0o700 if private else 0o755)
        try:
            if private and not existed:
                os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
    except OSError as err:
        raise _problem(path, err, "create") from None


def is_executable(path: str | Path) -> bool:
    """Whether `path` is a regular file its owner may execute (Git records it as 100755)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and bool(info.st_mode & stat.S_IXUSR)


def sync(folder: Path) -> None:
    """Make every write to the file system holding `folder` durable."""
    from sealer import atomic

    atomic.sync_filesystem(folder)
