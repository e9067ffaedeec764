"""Gitea's and Forgejo's REST API v1: GitHub's shape with its own differences, so `Gitea` is
`GitHub` where they agree. It differs in: the `token` auth scheme, `limit` for the page size,
labels added by id (names resolved through the repository's labels), assignees set by editing
the pull request, a 409 (some versions: 422) for a second open pull request from one branch,
no GitHub App identities, and where the API lives (Gitea and Forgejo Actions set GITHUB_API_URL
and GITHUB_REPOSITORY as GitHub Actions does)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sealer.forge.base import AlreadyOpen, ChangeRequest, ForgeError, Identity
from sealer.forge.github import GitHub
from sealer.forge.http import Client
from sealer.terminal import clean

# Gitea's user and repository names: letters, digits, `-`, `_`, `.` (its own rules, not GitHub's).
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,40}/[A-Za-z0-9_.-]{1,100}")
API_PATH = "/api/v1"


def error_text(data: Any) -> str:
    """Gitea's `message`, with its `errors` (a list of strings on a validation failure)."""
    if not isinstance(data, dict):
        return ""
    text = str(data.get("message") or "")
    errors = data.get("errors")
    details = [str(e) for e in errors if isinstance(e, (str, int))] if isinstance(errors, list) else []
    return "; ".join([text, *details]) if details else text


def api_url(env: Mapping[str, str], prefix: str) -> str:
    """The API root: the explicit `<PREFIX>_URL` (the server's address), else the Actions job's
    GITHUB_API_URL, else its GITHUB_SERVER_URL."""
    if env.get(f"{prefix}_URL"):
        return env[f"{prefix}_URL"].rstrip("/") + API_PATH
    if env.get("GITHUB_API_URL"):
        return env["GITHUB_API_URL"]
    if env.get("GITHUB_SERVER_URL"):
        return env["GITHUB_SERVER_URL"].rstrip("/") + API_PATH
    raise ForgeError(
        f"{prefix}_URL is not set: give the address of the {prefix.title()} server "
        "(Gitea and Forgejo Actions set GITHUB_API_URL)"
    )


class Gitea(GitHub):
    noun = "pull request"

    def __init__(self, env: Mapping[str, str], token: str, name: str = "Gitea") -> None:
        self.name = name
        prefix = name.upper()
        client = Client(
            name,
            api_url(env, prefix),
            token,
            error_text=error_text,
            auth_scheme="token",
            page_size_param="limit",
        )
        variable = f"{prefix}_REPOSITORY" if env.get(f"{prefix}_REPOSITORY") else "GITHUB_REPOSITORY"
        self._connect(env, client, variable, _REPOSITORY)
        self._label_ids: dict[str, int] | None = None

    def create(self, head: str, base: str, title: str, body: str) -> ChangeRequest:
        payload = {"title": title, "head": head, "base": base, "body": body}
        try:
            return self._request(self.client.send("POST", f"{self._repo_path}/pulls", payload))
        except ForgeError as err:
            if err.status in (409, 422) and "already exists" in err.detail:
                raise AlreadyOpen(str(err), err.status, err.detail) from None
            raise

    def _add_labels(self, request: ChangeRequest, labels: tuple[str, ...]) -> None:
        ids = [self._label_id(name) for name in labels]
        self.client.send("POST", f"{self._repo_path}/issues/{request.number}/labels", {"labels": ids})

    def _add_assignees(self, request: ChangeRequest, assignees: tuple[str, ...]) -> None:
        self.client.send("PATCH", f"{self._repo_path}/pulls/{request.number}", {"assignees": list(assignees)})

    def _label_id(self, name: str) -> int:
        if self._label_ids is None:
            found = self.client.pages(f"{self._repo_path}/labels")
            self._label_ids = {
                str(label["name"]): label["id"]
                for label in found
                if isinstance(label, dict)
                and isinstance(label.get("name"), str)
                and type(label.get("id")) is int
            }
        if name not in self._label_ids:
            raise ForgeError(
                f"{self.name} has no label {clean(name)!r} in this repository (sealer.yaml pullRequests)"
            )
        return self._label_ids[name]

    def viewer(self) -> Identity | None:
        """The token's user (`GET /user`), or None for a token that may not read it."""
        try:
            data = self.client.get("user")
        except ForgeError as err:
            if err.status in (403, 404):
                return None
            raise
        if not isinstance(data, dict) or not data.get("login") or type(data.get("id")) is not int:
            return None
        return Identity(str(data["login"]), data["id"])
