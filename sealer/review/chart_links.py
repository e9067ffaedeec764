"""Where the symlinks of the Helm charts kept in a repository lead. Helm follows a chart's
symlink when it loads the chart (a `templates` folder linked elsewhere, a values file), so what
the link leads to renders as the chart's own files; review does not resolve links the way Helm
does, so a chart holding one counts as a chart whose templates review cannot read
(sealer.review.charts' rule for a file it cannot read), and a file a chart's link leads to, or
a link met on the way, counts as that chart's file. Read from one tree listing (HEAD's: a link
a commit adds, changes or removes in a chart fails by itself).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from sealer.review import charts

LINK = "120000"
MAX_LINKS = 2000  # links of charts followed for one revision: more is not passed


def reached(
    listing: dict[str, tuple[str, str]], text: Callable[[str], bytes | None]
) -> dict[str, str] | None:
    """Path (a file or folder) a chart's symlink leads to, link after link -> the chart; `listing`
    is a revision's tree (path -> (mode, blob)), `text` reads a link's blob. None past MAX_LINKS."""
    chart_folders = {posixpath.dirname(p) for p in listing if posixpath.basename(p) == charts.CHART_FILE}
    links = {path: blob for path, (mode, blob) in listing.items() if mode == LINK}
    queue = [(link, chart) for link in links if (chart := _chart_of(link, chart_folders)) is not None]
    found: dict[str, str] = {}
    followed: set[str] = set()
    while queue:
        link, chart = queue.pop()
        if link in followed:
            continue
        followed.add(link)
        if len(followed) > MAX_LINKS:
            return None
        target = _led(link, text(links[link]))
        for _ in range(MAX_LINKS):  # a folder's link on the target's way: Helm follows it too
            above = next((f for f in charts.folders_on_the_way(target) if f in links), None)
            if above is None or _outside(target):
                break
            target = _led(above, text(links[above])) + target[len(above) :]
            target = posixpath.normpath(target)
        if _outside(target):
            continue  # outside the repository: nothing here to change
        target = "" if target == "." else target  # the repository's top: all of it
        found.setdefault(target, chart)
        queue += [(other, chart) for other in links if other == target or _below(other, target)]
    return found


def chart_reaching(path: str, found: dict[str, str]) -> str | None:
    """The chart whose links lead to `path` (or a folder above it), if any."""
    for folder in (path, *charts.folders_above(path)):
        if folder in found:
            return found[folder]
    return None


def _led(link: str, data: bytes | None) -> str:
    """Where the symlink at `link` (`data`: its blob) leads, from the repository's top."""
    return posixpath.normpath(
        posixpath.join(posixpath.dirname(link), (data or b"").decode("utf-8", "replace"))
    )


def _outside(path: str) -> bool:
    return path.startswith(("../", "/")) or path == ".."


def _below(path: str, folder: str) -> bool:
    return not folder or path.startswith(folder + "/")


def _chart_of(path: str, chart_folders: set[str]) -> str | None:
    return next((f for f in charts.folders_above(path) if f in chart_folders), None)
