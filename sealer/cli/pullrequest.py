"""Output of `sealer rotate --open-pr`: the rotation, then its pull request (or why there is none)."""

from __future__ import annotations

from typing import Any

from sealer.cli.common import emit
from sealer.config import Config
from sealer.errors import PartlyDone
from sealer.forge.base import Forge, ForgeError


def open_and_report(
    forge: Forge, cfg: Config, result: dict[str, Any], view: dict[str, Any], text: str, output: str
) -> int:
    """Open the pull request of a pushed rotation. Past the push nothing is undone: when the host
    refuses, the rotation is still reported, and the exit code (4) says only the request is missing."""
    from sealer.forge.rotation import open_pull_request

    try:
        opened = open_pull_request(forge, cfg, result)
    except ForgeError as err:
        view["pull_request"] = None
        view["pull_request_error"] = str(err)
        emit(view, output, text)
        raise PartlyDone(
            f"rotated and pushed branch {result['branch']}, but the {forge.noun} was not opened: {err}. "
            f"Open it by hand from {result['branch']}, or run again: the next rotation supersedes this one"
        ) from None
    view["pull_request"] = {
        "number": opened.number,
        "url": opened.url,
        "action": opened.action,
        "superseded": list(opened.superseded),
        "problems": list(opened.problems),
    }
    lines = [text, f"{forge.noun} {opened.action}: {opened.url}"]
    lines += [f"superseded and closed: {url}" for url in opened.superseded]
    emit(view, output, "\n".join(lines))
    if opened.problems:
        raise PartlyDone(f"{forge.noun} {opened.url} is open, but: {'; '.join(opened.problems)}")
    return 0
