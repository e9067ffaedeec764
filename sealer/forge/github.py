"""GitHub's REST API (and GitHub Enterprise Server's): pull requests, labels, reviewers, comments."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sealer.forge.base import AlreadyOpen, ChangeRequest, Comment, Extras, ForgeError, Identity
from sealer.forge.http import Client
from sealer.terminal import clean

DEFAULT_API_URL = "https://api.github.com"
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_PULL_REF = re.compile(r"refs/pull/(\d+)/(?:merge|head)")
_APP_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


def error_text(data: Any) -> str:
    """GitHub's `message`, with the first validation error's `message` (e.g. "A pull request
    already exists for o:b.")."""
    if not isinstance(data, dict):
        return ""
    text = str(data.get("message") or "")
    errors = data.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    detail = first.get("message") or " ".join(str(first[k]) for k in ("field", "code") if first.get(k))
    return f"{text}: {detail}" if detail else text


class GitHub:
    name = "GitHub"
    noun = "pull request"

    def __init__(self, env: Mapping[str, str], token: str) -> None:
        client = Client(
            "GitHub",
            env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            token,
            extra_headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
            error_text=error_text,
        )
        self._connect(env, client, "GITHUB_REPOSITORY", _REPOSITORY)

    def _connect(
        self, env: Mapping[str, str], client: Client, variable: str, pattern: re.Pattern[str]
    ) -> None:
        """Talk through `client` about the repository OWNER/REPO that `variable` of `env` names."""
        repository = env.get(variable, "")
        if not pattern.fullmatch(repository) or repository.endswith(".") or "/.." in f"/{repository}/":
            raise ForgeError(f"{variable} must be OWNER/REPO, got {clean(repository[:100])!r}")
        self.owner, self.repo = repository.split("/")
        self.env = env
        self.client = client
        self._repo_path = f"repos/{quote(self.owner)}/{quote(self.repo)}"

    def default_branch(self) -> str:
        data = self.client.get(self._repo_path)
        return _text(data, "default_branch", self.name)

    def open_requests(self) -> list[ChangeRequest]:
        pulls = self.client.pages(f"{self._repo_path}/pulls", {"state": "open"})
        return [self._request(p) for p in pulls if self._own_head(p)]

    def create(self, head: str, base: str, title: str, body: str) -> ChangeRequest:
        payload = {"title": title, "head": head, "base": base, "body": body, "maintainer_can_modify": False}
        try:
            return self._request(self.client.send("POST", f"{self._repo_path}/pulls", payload))
        except ForgeError as err:
            if err.status == 422 and "already exists" in err.detail:
                raise AlreadyOpen(str(err), err.status, err.detail) from None
            raise

    def update(self, request: ChangeRequest, title: str, body: str) -> ChangeRequest:
        data = self.client.send(
            "PATCH", f"{self._repo_path}/pulls/{request.number}", {"title": title, "body": body}
        )
        return self._request(data)

    def close(self, request: ChangeRequest, comment: str) -> None:
        self.client.send("POST", f"{self._repo_path}/issues/{request.number}/comments", {"body": comment})
        self.client.send("PATCH", f"{self._repo_path}/pulls/{request.number}", {"state": "closed"})

    def attach(self, request: ChangeRequest, extras: Extras) -> None:
        if extras.labels:
            self._add_labels(request, extras.labels)
        if extras.assignees:
            self._add_assignees(request, extras.assignees)
        if extras.reviewers:
            teams = [r.split("/", 1)[1] for r in extras.reviewers if "/" in r]
            users = [r for r in extras.reviewers if "/" not in r]
            self.client.send(
                "POST",
                f"{self._repo_path}/pulls/{request.number}/requested_reviewers",
                {"reviewers": users, "team_reviewers": teams},
            )

    def _add_labels(self, request: ChangeRequest, labels: tuple[str, ...]) -> None:
        self.client.send(
            "POST", f"{self._repo_path}/issues/{request.number}/labels", {"labels": list(labels)}
        )

    def _add_assignees(self, request: ChangeRequest, assignees: tuple[str, ...]) -> None:
        self.client.send(
            "POST", f"{self._repo_path}/issues/{request.number}/assignees", {"assignees": list(assignees)}
        )

    def comments(self, request: ChangeRequest) -> list[Comment]:
        found = self.client.pages(f"{self._repo_path}/issues/{request.number}/comments")
        return [_comment(c) for c in found if isinstance(c, dict) and type(c.get("id")) is int]

    def add_comment(self, request: ChangeRequest, body: str) -> None:
        self.client.send("POST", f"{self._repo_path}/issues/{request.number}/comments", {"body": body})

    def edit_comment(self, request: ChangeRequest, comment: Comment, body: str) -> None:
        self.client.send("PATCH", f"{self._repo_path}/issues/comments/{comment.id}", {"body": body})

    def viewer(self) -> Identity | None:
        """The token's user (`GET /user`); for a GitHub App's or Actions' own token, which is no
        user and cannot say which App it is, the App named in SEALER_GITHUB_APP (its slug:
        `github-actions` for Actions' token), whose comments are `<slug>[bot]`'s."""
        try:
            data = self.client.get("user")
        except ForgeError as err:
            if err.status not in (403, 404):
                raise
            return _app_identity(self.env)
        user_id = data.get("id") if isinstance(data, dict) else None
        return Identity(_text(data, "login", self.name), user_id if type(user_id) is int else None)

    def current_request_number(self) -> int | None:
        found = _PULL_REF.fullmatch(self.env.get("GITHUB_REF", ""))
        return int(found.group(1)) if found else None

    def _own_head(self, pull: Any) -> bool:
        head = pull.get("head") if isinstance(pull, dict) else None
        repo = head.get("repo") if isinstance(head, dict) else None
        return isinstance(repo, dict) and repo.get("full_name") == f"{self.owner}/{self.repo}"

    def _request(self, data: Any) -> ChangeRequest:
        if not isinstance(data, dict) or not isinstance(data.get("number"), int):
            raise ForgeError(f"{self.name} answered with something that is not a pull request")
        head = data.get("head")
        return ChangeRequest(
            number=data["number"],
            url=clean(_text(data, "html_url", self.name)),
            head=_text(head, "ref", self.name),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            head_sha=str(head.get("sha") or "") if isinstance(head, dict) else "",
        )


def _app_identity(env: Mapping[str, str]) -> Identity | None:
    slug = env.get("SEALER_GITHUB_APP", "")
    if not slug:
        return None
    if not _APP_SLUG.fullmatch(slug):
        raise ForgeError(f"SEALER_GITHUB_APP must be a GitHub App's slug, got {clean(slug[:100])!r}")
    return Identity(f"{slug}[bot]", app=slug)


def _comment(data: dict[str, Any]) -> Comment:
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    app = data.get("performed_via_github_app")
    assert isinstance(user, dict)
    return Comment(
        id=data["id"],
        body=str(data.get("body") or ""),
        author=str(user.get("login") or ""),
        author_id=user["id"] if type(user.get("id")) is int else None,
        app=str(app["slug"]) if isinstance(app, dict) and app.get("slug") else None,
    )


def _text(data: Any, key: str, host: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise ForgeError(f"{host} answered without {key!r}")
    return value
