"""`sealer check` over every environment: the files of the certificates folder no cluster pins.

Rule `cert-file` reads the pinned ones; any other file there (a pull request's
`certs/prod/extra.pem`) no rule would read, yet whoever takes the folder for certificates
(kubeseal's `--cert`, a reviewer, a script) may take it for one. So it must hold one PEM
certificate and nothing else too, as review's `cert-file-content` says of the files a range
changes there. Only what Git holds counts (a `.DS_Store` beside them is in no commit).
"""

from __future__ import annotations

import bisect
import stat
from collections.abc import Iterator
from pathlib import Path

from sealer import certs, layout, repofiles, safeopen
from sealer.config import Config
from sealer.errors import BadInput
from sealer.policy.leftovers import Index
from sealer.policy.model import ERROR, Problem

RULE = "cert-file-content"
RULE_TEXT = certs.FOLDER_RULE


def problems(cfg: Config, tracked: Index | None) -> list[Problem]:
    """`tracked`: what Git's index holds (`leftovers.tracked`), None when Git cannot say."""
    pinned = cfg.cert_files()
    held = _in_certs(None if tracked is None else tracked.paths)
    folded = None if held is None else sorted({layout.normalised(p) for p in held})
    found = []
    for path, unlisted in _walk(cfg.root):
        if path in pinned or not _in_git(path, folded):
            continue
        what = unlisted or _content(cfg.root, path)
        if what:
            fix = f"keep one PEM certificate in {path}, or `git rm` it"
            found.append(Problem(RULE, "", ERROR, f"{path} {what}", fix))
    for path in _submodules(cfg.root, held or set(), tracked.gitlinks if tracked else frozenset()):
        fix = f"`git rm` {path}: keep certificates here as files"
        found.append(Problem(RULE, "", ERROR, f"{path} is a submodule: {RULE_TEXT}", fix))
    return found


def _submodules(root: Path, held: set[str], gitlinks: frozenset[str]) -> list[str]:
    """What Git holds there as a submodule (`gitlinks`: its mode says so, though a hand removed
    the empty folder a checkout makes there) or the disk shows as a folder: its files another
    repository's (none of them a file Git holds here, each would pass unread)."""
    return sorted(path for path in held if path in gitlinks or _is_folder(root / path))


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)  # a link to a folder is a link (listed above)
    except OSError:
        return False  # gone, or behind what is no folder: nothing checked out there


def _in_certs(held: frozenset[str] | None) -> set[str] | None:
    """The paths of `held` in the certificates folder, in any case (`Certs/x.pem` too:
    layout.is_certs_dir)."""
    if held is None:
        return None
    tops = {top for top in {p.partition("/")[0] for p in held} if layout.is_certs_dir(top)}
    return {p for p in held if p.partition("/")[0] in tops} if tops else set()


def _in_git(path: str, folded: list[str] | None) -> bool:
    """Git's index holds `path`, or a file below it (None: Git cannot say, so it counts).
    Compared without case: a case-insensitive file system shows `Certs/x.pem` in the one folder
    it checked out, whichever case that has (`folded`: Git's paths as layout.normalised gives,
    sorted: the paths below a folder follow one another, so a bisection finds them, where a
    scan of every path for each file on disk took a certs/ of thousands quadratic time)."""
    if folded is None:
        return True
    key = layout.normalised(path)
    return _first_from(folded, key) == key or _first_from(folded, f"{key}/").startswith(f"{key}/")


def _first_from(ordered: list[str], text: str) -> str:
    """The first of `ordered` not sorting before `text` ("" when none)."""
    at = bisect.bisect_left(ordered, text)
    return ordered[at] if at < len(ordered) else ""


def _walk(root: Path) -> Iterator[tuple[str, str | None]]:
    """`_files` of every top-level folder that is the certificates folder in another case."""
    try:
        tops = [name for name, _ in safeopen.list_dir(root) if layout.is_certs_dir(name)]
    except OSError:
        tops = [layout.CERTS_DIR]  # `_files` says why it cannot be listed
    for top in tops:
        yield from _files(root, top)


def _files(root: Path, folder: str) -> Iterator[tuple[str, str | None]]:
    """(path, why it cannot be listed or None) of every file below `folder`, in name order; a
    symlink is a file here (never followed: reading it refuses it). A loop, not a call a folder:
    Git holds a path a thousand folders deep as any other."""
    pending = [(folder, True)]
    while pending:
        path, is_folder = pending.pop()
        if not is_folder:
            yield path, None
            continue
        try:
            names = safeopen.list_dir(root / path)
        except FileNotFoundError:
            continue
        except OSError as err:
            why = err.explain(root / path) if isinstance(err, safeopen.Refused) else str(err)
            yield path, f"cannot be listed: {why}; {RULE_TEXT}"
            continue
        pending += [(f"{path}/{name}", sub) for name, sub in reversed(names)]


def _content(root: Path, path: str) -> str | None:
    try:
        data = repofiles.read_bytes(root / path)
    except FileNotFoundError:
        return None  # gone since it was listed
    except BadInput as err:
        why = str(err).removeprefix(f"cannot read {root / path}: ")
        return f"cannot be examined: {why}; {RULE_TEXT}"
    what = certs.not_just_a_certificate(data)
    return f"holds {what}: {RULE_TEXT}" if what else None
