"""What sealer needs from a Git host (GitHub, GitLab): the `Forge` protocol and its records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sealer.errors import SealerError


class ForgeError(SealerError):
    """The host refused or could not be reached; the message is one line and holds no token."""

    def __init__(self, message: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ChangeRequest:
    """A pull request (GitHub) or merge request (GitLab) whose head is in the repository itself."""

    number: int  # GitHub's number, GitLab's iid
    url: str
    head: str
    title: str
    body: str
    head_sha: str = ""  # the commit its head branch is at


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str  # login (GitHub), username (GitLab)
    author_id: int | None = None
    app: str | None = None  # GitHub: the slug of the App it was written through


@dataclass(frozen=True)
class Identity:
    """Who the token writes as: a user (name and id), or a GitHub App (its `<slug>[bot]`)."""

    login: str
    user_id: int | None = None
    app: str | None = None

    def wrote(self, comment: Comment) -> bool:
        """Is `comment` this identity's own? Name and id (where both are known) must agree, and the
        App it was written through: none for a user; for an App, its own (GitHub names an App's
        bot user `<slug>[bot]`, a name no one else can hold, and may leave the App out)."""
        same_id = self.user_id is None or comment.author_id is None or self.user_id == comment.author_id
        same_app = comment.app == self.app or (self.app is not None and comment.app is None)
        return comment.author == self.login and same_id and same_app


@dataclass(frozen=True)
class Extras:
    """Who and what to attach to a rotation's pull request (sealer.yaml `pullRequests`)."""

    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()  # users, or `org/team` (GitHub teams)
    assignees: tuple[str, ...] = ()


class Forge(Protocol):
    name: str  # "GitHub", "GitLab": for messages
    noun: str  # "pull request", "merge request"

    def default_branch(self) -> str: ...

    def open_requests(self) -> list[ChangeRequest]:
        """Open requests whose head branch lives in this repository (never a fork's)."""
        ...

    def create(self, head: str, base: str, title: str, body: str) -> ChangeRequest:
        """Open a request; `AlreadyOpen` when one exists for `head`."""
        ...

    def update(self, request: ChangeRequest, title: str, body: str) -> ChangeRequest: ...

    def close(self, request: ChangeRequest, comment: str) -> None: ...

    def attach(self, request: ChangeRequest, extras: Extras) -> None: ...

    def comments(self, request: ChangeRequest) -> list[Comment]: ...

    def add_comment(self, request: ChangeRequest, body: str) -> None: ...

    def edit_comment(self, request: ChangeRequest, comment: Comment, body: str) -> None: ...

    def viewer(self) -> Identity | None:
        """Who the token writes as, or None when neither the host nor the CI's settings say."""
        ...

    def current_request_number(self) -> int | None:
        """The request the CI job runs for, from the CI's environment, if it says."""
        ...


class AlreadyOpen(ForgeError):
    """The host refused a second open request for the same head branch."""
