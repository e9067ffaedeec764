"""Small loopback servers that speak the GitHub REST, GitLab REST v4 and Gitea (Forgejo) v1 APIs
as far as sealer uses them, with the hosts' status codes and error bodies: 401 for a wrong
token, 404 for an unknown repository, GitHub's 422, GitLab's 409 and Gitea's 409 (422 before)
for a second open request from one branch, 422 (Gitea: 404) for a head branch the remote does
not have (they read the real bare remote), pagination (Link / X-Next-Page / Gitea's `limit`
with X-Total-Count, with a small page size so that it happens) and rate-limit headers."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from support.fake_http import FakeServer, Fault, Request, Response

TOKEN = "ghp_TESTtokenNotARealOne0123456789abcdef"


@dataclass
class Pull:
    number: int
    head: str
    base: str
    title: str
    body: str
    state: str = "open"
    fork: bool = False
    labels: list[str] = field(default_factory=list)
    assignees: list[Any] = field(default_factory=list)
    reviewers: list[Any] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


class FakeForge(FakeServer):
    page_size = 2
    auth_scheme = "Bearer"  # the scheme of the Authorization header the host takes its token in

    def __init__(self, remote: Path) -> None:
        super().__init__()
        self.remote = remote
        self.token = TOKEN
        self.user = "sealer-bot"
        self.pulls: dict[int, Pull] = {}
        self.requests: list[Request] = []
        self.comment_ids = 100
        self.on_create: Any = None  # called before a create is handled (a concurrent run)
        self.app_token = False  # GitHub: an App installation token, which is no user
        self.user_hidden = False  # GitLab: a token that may not read its own user

    def reset(self, remote: Path) -> None:
        with self.lock:
            self.remote, self.pulls, self.requests, self.app_token = remote, {}, [], False
            self.user_hidden = False
            self.clear_faults()
            self.clear_log()

    def open_pulls(self) -> list[Pull]:
        return [p for p in self.pulls.values() if p.state == "open"]

    def add_pull(self, head: str, body: str = "", fork: bool = False, title: str = "by hand") -> Pull:
        number = max(self.pulls, default=0) + 1
        self.pulls[number] = Pull(number, head, "main", title, body, fork=fork)
        return self.pulls[number]

    def sent(self) -> bytes:
        """Everything sealer sent: paths, queries, headers other than the token, bodies."""
        parts = []
        for r in self.requests:
            headers = {k: v for k, v in r.headers.items() if k != "authorization"}
            parts.append(f"{r.method} {r.path} {r.query} {headers}".encode() + r.body)
        return b"\n".join(parts)

    def branch_exists(self, branch: str) -> bool:
        return bool(self.head_sha(branch))

    def head_sha(self, branch: str) -> str:
        """The commit `branch` is at on the real bare remote ("" when it has no such branch)."""
        done = subprocess.run(
            ["git", "-C", str(self.remote), "rev-parse", "-q", "--verify", f"refs/heads/{branch}^{{commit}}"],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            if request.headers.get("authorization") != f"{self.auth_scheme} {self.token}":
                return self.unauthorized()
            return self.route(request)

    def paginate(self, request: Request, items: list[Any], link: bool) -> Response:
        page = int(request.query.get("page", ["1"])[0])
        size = min(int(request.query.get("per_page", ["30"])[0]), self.page_size)
        chunk = items[(page - 1) * size : page * size]
        headers = {}
        if page * size < len(items):
            if link:
                query = "&".join(f"{k}={v[0]}" for k, v in request.query.items() if k != "page")
                headers["Link"] = f'<{self.url}{request.path}?{query}&page={page + 1}>; rel="next"'
            else:
                headers["X-Next-Page"] = str(page + 1)
        headers["X-Page"] = str(page)
        return Response.json(200, chunk, headers)

    def route(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def unauthorized(self) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


class FakeGitHub(FakeForge):
    repository = "acme/deploy"

    def unauthorized(self) -> Response:
        return Response.json(401, {"message": "Bad credentials", "documentation_url": "https://docs"})

    def fault_response(self, fault: Fault) -> Response:
        messages = {403: "API rate limit exceeded for installation", 429: "secondary rate limit"}
        return Response.json(
            fault.status, {"message": messages.get(fault.status, "Server Error")}, fault.headers
        )

    def route(self, request: Request) -> Response:
        if request.path == "/user" and self.app_token:
            return Response.json(403, {"message": "Resource not accessible by integration"})
        if request.path == "/user":
            return Response.json(200, {"login": self.user, "id": 5, "type": "User"})
        prefix = f"/repos/{self.repository}"
        if not request.path.startswith(prefix):
            return Response.json(404, {"message": "Not Found"})
        rest, method = request.path[len(prefix) :], request.method
        if rest == "" and method == "GET":
            return Response.json(200, {"full_name": self.repository, "default_branch": "main"})
        if rest == "/pulls" and method == "GET":
            pulls = [self.pull_json(p) for p in self.open_pulls()]
            return self.paginate(request, pulls, link=True)
        if rest == "/pulls" and method == "POST":
            return self.create(request.json())
        found = re.fullmatch(r"/(pulls|issues)/(\d+)(/[a-z_]+)?", rest)
        if found and int(found.group(2)) in self.pulls:
            return self.on_pull(request, self.pulls[int(found.group(2))], found.group(3) or "")
        found = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if found and method == "PATCH":
            for pull in self.pulls.values():
                for comment in pull.comments:
                    if comment["id"] == int(found.group(1)):
                        comment["body"] = request.json()["body"]
                        return Response.json(200, comment)
        return Response.json(404, {"message": "Not Found"})

    def create(self, data: dict[str, Any]) -> Response:
        if self.on_create:
            hook, self.on_create = self.on_create, None
            hook(data)
        if not self.branch_exists(data["head"]):
            return self.invalid("head", "invalid")
        if any(p.head == data["head"] and not p.fork for p in self.open_pulls()):
            return Response.json(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for acme:{data['head']}.",
                        }
                    ],
                },
            )
        pull = self.add_pull(data["head"], data["body"], title=data["title"])
        pull.base = data["base"]
        return Response.json(201, self.pull_json(pull))

    def invalid(self, field_name: str, code: str) -> Response:
        error = {"resource": "PullRequest", "field": field_name, "code": code}
        return Response.json(422, {"message": "Validation Failed", "errors": [error]})

    def on_pull(self, request: Request, pull: Pull, sub: str) -> Response:
        data = request.json() if request.body else {}
        if sub == "" and request.method == "PATCH":
            pull.title, pull.body = data.get("title", pull.title), data.get("body", pull.body)
            pull.state = data.get("state", pull.state)
            return Response.json(200, self.pull_json(pull))
        if sub == "/comments" and request.method == "POST":
            self.comment_ids += 1
            app = {"slug": "sealer-app", "name": "sealer app"} if self.app_token else None
            comment = {
                "id": self.comment_ids,
                "body": data["body"],
                "user": {"login": "sealer-app[bot]", "id": 9, "type": "Bot"}
                if self.app_token
                else {"login": self.user, "id": 5, "type": "User"},
                "performed_via_github_app": app,
            }
            pull.comments.append(comment)
            return Response.json(201, comment)
        if sub == "/comments" and request.method == "GET":
            return self.paginate(request, pull.comments, link=True)
        if sub == "/labels":
            pull.labels += data["labels"]
            return Response.json(200, [{"name": n} for n in pull.labels])
        if sub == "/assignees":
            pull.assignees += data["assignees"]
            return Response.json(201, self.pull_json(pull))
        if sub == "/requested_reviewers":
            if set(data["reviewers"]) - {"alice", self.user}:
                message = (
                    "Reviews may only be requested from collaborators. One or more of the users or teams "
                    f"you specified is not a collaborator of the {self.repository} repository."
                )
                return Response.json(422, {"message": message})
            pull.reviewers += data["reviewers"] + [f"team:{t}" for t in data["team_reviewers"]]
            return Response.json(201, self.pull_json(pull))
        return Response.json(404, {"message": "Not Found"})

    def pull_json(self, pull: Pull) -> dict[str, Any]:
        repo = "someone/fork" if pull.fork else self.repository
        return {
            "number": pull.number,
            "html_url": f"https://github.example/{self.repository}/pull/{pull.number}",
            "state": pull.state,
            "title": pull.title,
            "body": pull.body,
            "head": {"ref": pull.head, "sha": self.head_sha(pull.head), "repo": {"full_name": repo}},
            "base": {"ref": pull.base},
        }


class FakeGitLab(FakeForge):
    project_id = 42

    def unauthorized(self) -> Response:
        return Response.json(401, {"message": "401 Unauthorized"})

    def fault_response(self, fault: Fault) -> Response:
        return Response.json(fault.status, {"message": "Retry later"}, fault.headers)

    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/api/v4/user" and self.user_hidden:
            return Response.json(403, {"message": "403 Forbidden"})
        if path == "/api/v4/user":
            return Response.json(200, {"id": 7, "username": self.user, "bot": True})
        if path == "/api/v4/users":
            name = request.query.get("username", [""])[0]
            known = {"alice": 11, "bob": 12, self.user: 7}
            return Response.json(200, [{"id": known[name], "username": name}] if name in known else [])
        prefix = f"/api/v4/projects/{self.project_id}"
        if not path.startswith(prefix):
            return Response.json(404, {"message": "404 Project Not Found"})
        rest = path[len(prefix) :]
        if rest == "" and method == "GET":
            return Response.json(200, {"id": self.project_id, "default_branch": "main"})
        if rest == "/merge_requests" and method == "GET":
            state = request.query.get("state", ["all"])[0]
            items = [self.mr_json(p) for p in self.pulls.values()]
            items = [m for m in items if state == "all" or m["state"] == state]
            return self.paginate(request, items, link=False)
        if rest == "/merge_requests" and method == "POST":
            return self.create(request.json())
        found = re.fullmatch(r"/merge_requests/(\d+)(/notes)?(/\d+)?", rest)
        if found and int(found.group(1)) in self.pulls:
            return self.on_mr(request, self.pulls[int(found.group(1))], found.group(2), found.group(3))
        return Response.json(404, {"message": "404 Not found"})

    def create(self, data: dict[str, Any]) -> Response:
        if self.on_create:
            hook, self.on_create = self.on_create, None
            hook(data)
        if not self.branch_exists(data["source_branch"]):
            return Response.json(422, {"message": ["Source branch does not exist"]})
        for pull in self.open_pulls():
            if pull.head == data["source_branch"] and not pull.fork:
                message = f"Another open merge request already exists for this source branch: !{pull.number}"
                return Response.json(409, {"message": [message]})
        pull = self.add_pull(data["source_branch"], data["description"], title=data["title"])
        return Response.json(201, self.mr_json(pull))

    def on_mr(self, request: Request, pull: Pull, notes: str | None, note_id: str | None) -> Response:
        data = request.json() if request.body else {}
        if not notes and request.method == "PUT":
            pull.title, pull.body = data.get("title", pull.title), data.get("description", pull.body)
            if data.get("state_event") == "close":
                pull.state = "closed"
            pull.labels += [x for x in data.get("add_labels", "").split(",") if x]
            pull.assignees += data.get("assignee_ids", [])
            pull.reviewers += data.get("reviewer_ids", [])
            return Response.json(200, self.mr_json(pull))
        if notes and not note_id and request.method == "POST":
            self.comment_ids += 1
            note = {
                "id": self.comment_ids,
                "body": data["body"],
                "author": {"id": 7, "username": self.user, "bot": True},
                "system": False,
            }
            pull.comments.append(note)
            return Response.json(201, note)
        if notes and not note_id and request.method == "GET":
            return self.paginate(request, pull.comments, link=False)
        if notes and note_id and request.method == "PUT":
            for note in pull.comments:
                if note["id"] == int(note_id[1:]):
                    note["body"] = data["body"]
                    return Response.json(200, note)
        return Response.json(404, {"message": "404 Not found"})

    def mr_json(self, pull: Pull) -> dict[str, Any]:
        return {
            "iid": pull.number,
            "id": 1000 + pull.number,
            "web_url": f"https://gitlab.example/acme/deploy/-/merge_requests/{pull.number}",
            "state": "opened" if pull.state == "open" else pull.state,
            "title": pull.title,
            "description": pull.body,
            "source_branch": pull.head,
            "sha": self.head_sha(pull.head),
            "target_branch": pull.base,
            "source_project_id": 999 if pull.fork else self.project_id,
        }


class FakeGitea(FakeGitHub):
    """Gitea's API under /api/v1: GitHub's shapes where Gitea has them, its own differences
    (the `token` scheme, `limit`, labels by id, assignees on the pull request, 409 or 422 for a
    second pull request from one branch, 404 for a head branch that does not exist)."""

    labels = {"keys": 1, "sealer": 2, "bug": 3}
    users = {"sealer-bot": 5, "alice": 11, "bob": 12}
    conflict_status = 409  # some Gitea and Forgejo versions answer 422
    auth_scheme = "token"

    def unauthorized(self) -> Response:
        return Response.json(401, {"message": "user does not exist [uid: 0, name: ]", "url": self.docs})

    @property
    def docs(self) -> str:
        return f"{self.url}/api/swagger"

    def fault_response(self, fault: Fault) -> Response:
        return Response.json(fault.status, {"message": "Too Many Requests", "url": self.docs}, fault.headers)

    def route(self, request: Request) -> Response:
        if not request.path.startswith("/api/v1/"):
            return Response.json(404, {"message": "not found", "url": self.docs})
        inner = replace(request, path=request.path[len("/api/v1") :])
        if inner.path == "/user" and self.user_hidden:
            message = "token does not have at least one of required scope(s): [read:user]"
            return Response.json(403, {"message": message, "url": self.docs})
        if inner.path == "/user":
            return Response.json(200, {"id": 5, "login": self.user, "username": self.user})
        if inner.path == f"/repos/{self.repository}/labels" and inner.method == "GET":
            items = [{"id": i, "name": n, "color": "00aabb"} for n, i in self.labels.items()]
            return self.paginate(inner, items, link=True)
        return super().route(inner)

    def paginate(self, request: Request, items: list[Any], link: bool) -> Response:
        page = int(request.query.get("page", ["1"])[0])
        size = min(int(request.query.get("limit", ["30"])[0]), self.page_size)
        headers = {"X-Total-Count": str(len(items))}
        if page * size < len(items):
            query = "&".join(f"{k}={v[0]}" for k, v in request.query.items() if k != "page")
            headers["Link"] = f'<{self.url}/api/v1{request.path}?{query}&page={page + 1}>; rel="next"'
        return Response.json(200, items[(page - 1) * size : page * size], headers)

    def create(self, data: dict[str, Any]) -> Response:
        if self.on_create:
            hook, self.on_create = self.on_create, None
            hook(data)
        if not self.branch_exists(data["head"]):
            return Response.json(404, {"message": "The target couldn't be found.", "url": self.docs})
        for pull in self.open_pulls():
            if pull.head == data["head"] and not pull.fork:
                message = (
                    f"pull request already exists for these targets [id: {pull.number}, issue_id: "
                    f"{pull.number}, head_repo_id: 1, base_repo_id: 1, head_branch: {pull.head}, "
                    f"base_branch: {pull.base}]"
                )
                return Response.json(self.conflict_status, {"message": message, "url": self.docs})
        pull = self.add_pull(data["head"], data["body"], title=data["title"])
        pull.base = data["base"]
        return Response.json(201, self.pull_json(pull))

    def on_pull(self, request: Request, pull: Pull, sub: str) -> Response:
        data = request.json() if request.body else {}
        if sub == "" and request.method == "PATCH" and "assignees" in data:
            unknown = [n for n in data["assignees"] if n not in self.users]
            if unknown:
                return self.no_user(unknown[0])
            pull.assignees = list(data["assignees"])
        if sub == "/labels" and request.method == "POST":
            if not all(type(i) is int and i in self.labels.values() for i in data["labels"]):
                return Response.json(422, {"message": "[Labels]: must be label ids", "url": self.docs})
            names = {i: n for n, i in self.labels.items()}
            pull.labels += [names[i] for i in data["labels"]]
            return Response.json(200, [{"id": i, "name": names[i]} for i in data["labels"]])
        if sub == "/requested_reviewers" and request.method == "POST":
            unknown = [n for n in data["reviewers"] if n not in self.users]
            if unknown:
                return self.no_user(unknown[0])
            pull.reviewers += data["reviewers"] + [f"team:{t}" for t in data.get("team_reviewers", [])]
            return Response.json(201, [])
        if sub == "/comments" and request.method == "POST":
            self.comment_ids += 1
            user = {"id": 5, "login": self.user, "username": self.user}
            comment = {"id": self.comment_ids, "body": data["body"], "user": user}
            pull.comments.append(comment)
            return Response.json(201, comment)
        if sub == "/comments" and request.method == "GET":  # Gitea lists an issue's comments at once
            return Response.json(200, pull.comments)
        return super().on_pull(request, pull, sub)

    def no_user(self, name: str) -> Response:
        return Response.json(
            422, {"message": f"user does not exist [uid: 0, name: {name}]", "url": self.docs}
        )

    def pull_json(self, pull: Pull) -> dict[str, Any]:
        data = super().pull_json(pull)
        data["html_url"] = f"https://gitea.example/{self.repository}/pulls/{pull.number}"
        data["head"]["repo_id"] = 2 if pull.fork else 1
        return data


def ci_env(fake: FakeForge) -> dict[str, str]:
    """The variables the CI of `fake`'s kind sets, and sealer's token (Gitea: as Gitea Actions
    sets them, GITHUB_API_URL pointing at Gitea's API)."""
    if isinstance(fake, FakeGitea):
        return {
            "GITEA_ACTIONS": "true",
            "GITHUB_API_URL": f"{fake.url}/api/v1",
            "GITHUB_SERVER_URL": fake.url,
            "GITHUB_REPOSITORY": fake.repository,
            "GITEA_TOKEN": fake.token,
        }
    if isinstance(fake, FakeGitHub):
        return {"GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.repository, "GITHUB_TOKEN": fake.token}
    return {
        "CI_API_V4_URL": f"{fake.url}/api/v4",
        "CI_PROJECT_ID": str(FakeGitLab.project_id),
        "GITLAB_TOKEN": fake.token,
    }


def dumps(pull: Pull) -> str:
    return json.dumps(pull.__dict__, default=str)
