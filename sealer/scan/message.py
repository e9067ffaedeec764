"""The commit message a `commit-msg` hook is handed: the part of it Git commits.

Git cuts a message at its scissors line (`git commit -v` puts the diff below it: a diff that
removes a key must not block) and, when the message was edited, drops its comment lines. The
hook cannot see Git's `--cleanup` option, so it only drops what it knows Git drops: comment
lines when an editor was used (Git exports GIT_EDITOR=: to the hook when none was, and then
keeps them: `git commit -m "# …"` commits that line), with the comment character `#` or the
configured one, and `commit.cleanup` unset or strip. When unsure, more is scanned, never less.
"""

from __future__ import annotations

import os

from sealer.scan.files import Candidate

SCISSORS = b" ------------------------ >8 ------------------------"
MAX_BYTES = 64 << 20  # a message (with a `-v` diff) past this is not examined: the scan fails
_STRIPPING = (b"", b"strip", b"default")  # commit.cleanup values that drop comment lines


def candidate(path: str) -> Candidate:
    """The message file at `path` as one candidate to scan; one it cannot read fails the scan."""
    from sealer import safeopen

    try:
        fd, info = safeopen.open_file(path)
        try:
            data = safeopen.read_open(fd, info.st_size, MAX_BYTES)
        finally:
            os.close(fd)
    except OSError as err:
        return Candidate(path, None, f"commit message not read: {err.strerror or err}", failed=True)
    if data is None:
        return Candidate(path, None, f"commit message larger than {MAX_BYTES >> 20} MB", failed=True)
    comment, drop_comments = _cleanup()
    return Candidate(path, committed(data, comment, drop_comments, _editor_used()))


def committed(data: bytes, comment: bytes | None, drop_comments: bool, edited: bool = True) -> bytes:
    """The message up to Git's scissors line, comment lines blanked when Git drops them (line
    numbers stay). `comment` None: Git's `auto` character, unknown here: nothing is cut."""
    if comment is None:
        return data
    lines = data.split(b"\n")
    cut = [k for k in range(len(lines)) if edited and _gits_scissors(lines, k, comment)]
    lines = lines[: cut[0]] if cut else lines
    if drop_comments:
        lines = [b"" if line.startswith(comment) else line for line in lines]
    return b"\n".join(lines)


def _gits_scissors(lines: list[bytes], k: int, comment: bytes) -> bool:
    """Whether line k is a scissors line Git wrote into an edited message (`-v`, cleanup=scissors):
    exactly Git's line followed by its two commented explanation lines. Git cuts a scissors line
    the user typed only under `-v` or `--cleanup=scissors`, which the hook cannot see: one without
    Git's explanation under it (or ending in CR, which Git does not match) is scanned past."""
    below = lines[k + 1 : k + 3]
    return lines[k] == comment + SCISSORS and len(below) == 2 and all(b.startswith(comment) for b in below)


def _editor_used() -> bool:
    """Git exports GIT_EDITOR=: to the hook when no editor was run (`-m`, `-F`)."""
    return os.environ.get("GIT_EDITOR") != ":"


def _cleanup() -> tuple[bytes | None, bool]:
    """(the comment character or string, whether Git drops comment lines from this message):
    it does when an editor was used (without one Git exports GIT_EDITOR=: to the hook and keeps
    them) and `commit.cleanup` is unset or strip."""
    config = _config()
    char = config.get(b"core.commentstring", config.get(b"core.commentchar", b"#"))
    if char in (b"auto", b""):  # auto: Git picks a character the message does not use
        return None, False
    return char, _editor_used() and config.get(b"commit.cleanup", b"") in _STRIPPING


def _config() -> dict[bytes, bytes]:
    """The settings that decide it, as git reads them here (none set: an empty dict)."""
    from sealer import git

    out = git.probe(".", "config", "-z", "--get-regexp", r"^(core\.comment(char|string)|commit\.cleanup)$")
    pairs = (entry.partition("\n") for entry in (out or "").split("\0") if entry)
    return {name.lower().encode(): value.encode() for name, _, value in pairs}
