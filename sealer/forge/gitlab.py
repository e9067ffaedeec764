"""GitLab's REST API v4 (gitlab.com and self-managed): merge requests, labels, reviewers, notes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sealer.forge.base import AlreadyOpen, ChangeRequest, Comment, Extras, ForgeError, Identity
from sealer.forge.http import Client
from sealer.terminal import clean

_PROJECT = re.compile(r"[0-9]{1,20}|[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+")


def error_text(data: Any) -> str:
    """GitLab's `message` (a string, a list, or a mapping of field -> list) or `error`."""
    if not isinstance(data, dict):
        return ""
    message = data.get("message", data.get("error", ""))
    if isinstance(message, list):
        return "; ".join(str(m) for m in message)
    if isinstance(message, dict):
        return "; ".join(
            f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in message.items()
        )
    return str(message)


class GitLab:
    name = "GitLab"
    noun = "merge request"

    def __init__(self, env: Mapping[str, str], token: str) -> None:
        api = env.get("CI_API_V4_URL", "")
        project = env.get("CI_PROJECT_ID", "")
        if not api:
            raise ForgeError(
                "CI_API_V4_URL is not set (GitLab CI sets it; e.g. https://gitlab.example/api/v4)"
            )
        if not _PROJECT.fullmatch(project) or ".." in project:
            raise ForgeError(f"CI_PROJECT_ID must be a project id or path, got {project[:100]!r}")
        self.env = env
        self.client = Client("GitLab", api, token, error_text=error_text)
        self._project_path = f"projects/{quote(project, safe='')}"
        self._project: dict[str, Any] | None = None

    def _info(self) -> dict[str, Any]:
        if self._project is None:
            data = self.client.get(self._project_path)
            if not isinstance(data, dict) or not isinstance(data.get("id"), int):
                raise ForgeError("GitLab answered without the project's id")
            self._project = data
        return self._project

    def default_branch(self) -> str:
        branch = self._info().get("default_branch")
        if not isinstance(branch, str) or not branch:
            raise ForgeError("GitLab answered without the project's default branch (is the project empty?)")
        return branch

    def open_requests(self) -> list[ChangeRequest]:
        project_id = self._info()["id"]
        found = self.client.pages(f"{self._project_path}/merge_requests", {"state": "opened"})
        return [
            self._request(m)
            for m in found
            if isinstance(m, dict) and m.get("source_project_id") == project_id
        ]

    def create(self, head: str, base: str, title: str, body: str) -> ChangeRequest:
        payload = {
            "source_branch": head,
            "target_branch": base,
            "title": title,
            "description": body,
            "remove_source_branch": True,
        }
        try:
            return self._request(self.client.send("POST", f"{self._project_path}/merge_requests", payload))
        except ForgeError as err:
            if err.status == 409 and "already exists" in err.detail:
                raise AlreadyOpen(str(err), err.status, err.detail) from None
            raise

    def update(self, request: ChangeRequest, title: str, body: str) -> ChangeRequest:
        payload = {"title": title, "description": body}
        return self._request(self.client.send("PUT", self._mr(request), payload))

    def close(self, request: ChangeRequest, comment: str) -> None:
        self.add_comment(request, comment)
        self.client.send("PUT", self._mr(request), {"state_event": "close"})

    def attach(self, request: ChangeRequest, extras: Extras) -> None:
        payload: dict[str, Any] = {}
        if extras.labels:
            payload["add_labels"] = ",".join(extras.labels)
        if extras.assignees:
            payload["assignee_ids"] = [self._user_id(name) for name in extras.assignees]
        if extras.reviewers:
            payload["reviewer_ids"] = [self._user_id(name) for name in extras.reviewers]
        if payload:
            self.client.send("PUT", self._mr(request), payload)

    def comments(self, request: ChangeRequest) -> list[Comment]:
        notes = self.client.pages(f"{self._mr(request)}/notes", {"sort": "asc"})
        return [
            _comment(n)
            for n in notes
            if isinstance(n, dict) and type(n.get("id")) is int and not n.get("system")
        ]

    def add_comment(self, request: ChangeRequest, body: str) -> None:
        self.client.send("POST", f"{self._mr(request)}/notes", {"body": body})

    def edit_comment(self, request: ChangeRequest, comment: Comment, body: str) -> None:
        self.client.send("PUT", f"{self._mr(request)}/notes/{comment.id}", {"body": body})

    def viewer(self) -> Identity | None:
        try:
            data = self.client.get("user")
        except ForgeError as err:
            if err.status in (403, 404):  # a token that may not read its user: no note is known as ours
                return None
            raise
        if not isinstance(data, dict) or not data.get("username") or type(data.get("id")) is not int:
            return None
        return Identity(str(data["username"]), data["id"])

    def current_request_number(self) -> int | None:
        iid = self.env.get("CI_MERGE_REQUEST_IID", "")
        return int(iid) if iid.isdigit() else None

    def _mr(self, request: ChangeRequest) -> str:
        return f"{self._project_path}/merge_requests/{request.number}"

    def _user_id(self, username: str) -> int:
        users = self.client.get("users", {"username": username})
        first = users[0] if isinstance(users, list) and users else None
        if not isinstance(first, dict) or type(first.get("id")) is not int:
            raise ForgeError(f"GitLab knows no user {clean(username)!r} (sealer.yaml pullRequests)")
        return int(first["id"])

    def _request(self, data: Any) -> ChangeRequest:
        if not isinstance(data, dict) or not isinstance(data.get("iid"), int):
            raise ForgeError("GitLab answered with something that is not a merge request")
        return ChangeRequest(
            number=data["iid"],
            url=clean(str(data.get("web_url") or "")),
            head=str(data.get("source_branch") or ""),
            title=str(data.get("title") or ""),
            body=str(data.get("description") or ""),
            head_sha=str(data.get("sha") or ""),
        )


def _comment(data: dict[str, Any]) -> Comment:
    author = data.get("author") if isinstance(data.get("author"), dict) else {}
    assert isinstance(author, dict)
    return Comment(
        id=data["id"],
        body=str(data.get("body") or ""),
        author=str(author.get("username") or ""),
        author_id=author["id"] if type(author.get("id")) is int else None,
    )
