"""What sealer does on a Git host: open (or update, or supersede) a rotation's pull request, and
keep one review comment per pull request up to date.

sealer's own pull requests and comments carry hidden HTML markers. A marker alone proves
nothing (anyone can type one), so sealer acts only on pull requests whose head branch lives in
the repository itself (pushing there needs write access) and edits only comments written by the
token's own identity (user name and id, or GitHub App); when that identity is unknown it posts a
new comment rather than edit one it cannot tell is its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sealer import apikey
from sealer.forge.base import AlreadyOpen, ChangeRequest, Extras, Forge, ForgeError
from sealer.terminal import clean

REVIEW_MARKER = "<!-- sealer:review -->"
_ROTATION_MARKER = re.compile(r"<!-- sealer:rotation envs=([a-z0-9,-]{1,2000}) -->")
MAX_TEXT = 60_000  # both hosts refuse bodies past 65,536 characters


@dataclass(frozen=True)
class Opened:
    number: int
    url: str
    action: str  # "created" or "updated"
    superseded: tuple[str, ...]  # URLs of the requests closed in favour of this one
    problems: tuple[str, ...] = ()  # what failed after the request was open (it stays open)


@dataclass(frozen=True)
class Posted:
    url: str  # the pull request's
    action: str  # "created" or "updated"


def rotation_marker(envs: Sequence[str]) -> str:
    return f"<!-- sealer:rotation envs={','.join(sorted(envs))} -->"


def envs_of(request: ChangeRequest) -> set[str]:
    found = _ROTATION_MARKER.search(request.body)
    return set(found.group(1).split(",")) if found else set()


def open_rotation(
    forge: Forge, branch: str, commit: str, envs: Sequence[str], title: str, body: str, extras: Extras
) -> Opened:
    """The one open sealer request for `envs`, from `branch` at `commit`: created, or updated when
    it exists (a retried run); older open sealer requests for any of `envs` are closed with a link.
    A request whose branch is at any other commit is someone else's content: never adopted."""
    if apikey.holds_key(title) or apikey.holds_key(body):
        raise ForgeError(f"refused to send the {forge.noun}: its text holds what looks like an API key")
    text = _bounded(body).rstrip() + "\n\n" + rotation_marker(envs) + "\n"
    base = forge.default_branch()
    if branch == base:
        raise ForgeError(
            f"the rotation is on {branch}, the default branch: nothing to open a {forge.noun} for"
        )
    already = forge.open_requests()
    mine = next((r for r in already if r.head == branch), None)
    action = "updated"
    if mine is None:
        try:
            mine, action = forge.create(branch, base, title, text), "created"
        except AlreadyOpen:  # an earlier attempt got through although its answer did not
            mine = next((r for r in forge.open_requests() if r.head == branch), None)
            if mine is None:
                raise
    _check_head(forge, mine, commit)
    if action == "updated":
        mine = forge.update(mine, title, text)
    # The request is open now: what fails from here on is reported with its URL, not instead of it.
    problems = []
    try:
        forge.attach(mine, extras)
    except ForgeError as err:
        problems.append(f"labels, reviewers or assignees not set: {err}")
    superseded = []
    for other in already:
        if other.head != branch and envs_of(other) & set(envs):
            try:
                forge.close(other, f"Superseded by {mine.url}: a newer sealer rotation of {_names(other)}.")
            except ForgeError as err:
                problems.append(f"{other.url} not closed: {err}")
                continue
            superseded.append(other.url)
    return Opened(mine.number, mine.url, action, tuple(superseded), tuple(problems))


def _check_head(forge: Forge, request: ChangeRequest, commit: str) -> None:
    if request.head_sha != commit:
        # The server's words (a created request's branch, any head): no line break or reordering.
        raise ForgeError(
            f"the {forge.noun} {request.url} from {clean(request.head)} is at "
            f"{clean(request.head_sha)[:12] or 'an unknown commit'}, not this rotation's {commit[:12]}: "
            "someone else's content, not taken as sealer's"
        )


def _names(request: ChangeRequest) -> str:
    return ", ".join(sorted(envs_of(request)))


def post_review(forge: Forge, branch: str | None, markdown: str) -> Posted:
    """Put `markdown` on the request of this CI job (or of `branch`), in sealer's one comment."""
    request = _request_for(forge, branch)
    text = REVIEW_MARKER + "\n" + _bounded(apikey.redact(markdown))
    viewer = forge.viewer()
    found = forge.comments(request) if viewer else []
    mine = [c for c in found if REVIEW_MARKER in c.body and viewer is not None and viewer.wrote(c)]
    if mine:
        forge.edit_comment(request, mine[-1], text)
        return Posted(request.url, "updated")
    forge.add_comment(request, text)
    return Posted(request.url, "created")


def _request_for(forge: Forge, branch: str | None) -> ChangeRequest:
    number = forge.current_request_number()
    for request in forge.open_requests():
        if request.number == number or (number is None and branch and request.head == branch):
            return request
    where = f"#{number}" if number is not None else f"branch {branch}" if branch else "this job"
    raise ForgeError(f"no open {forge.noun} from this repository for {where}")


def _bounded(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + "\n\n… (cut: the full text is in the job's output)\n"
