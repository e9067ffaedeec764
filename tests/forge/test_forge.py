"""`sealer rotate --push --open-pr` and `sealer review --post` against loopback servers that speak
the GitHub, GitLab and Gitea REST APIs, after a real `git push` to a local bare remote: create, update,
supersede, retry, every error, rate limits, and what must never leave the machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import sealer as cli
from support.fake_forge import TOKEN, FakeForge, FakeGitea, FakeGitHub, FakeGitLab, ci_env
from support.fake_http import FakeServer, Request, Response
from support.git import commit_all, git
from support.isolation import isolated
from support.repos import copy_repo, keypairs, pinned_repo, private_keys, unseal_values

from sealer import apikey, config
from sealer.forge import http
from sealer.forge.base import Comment, Extras, ForgeError, Identity
from sealer.forge.pulls import REVIEW_MARKER, open_rotation


@pytest.fixture(scope="module")
def controllers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return keypairs(tmp_path_factory, "staging", "production")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, controllers: dict[str, Path]) -> Path:
    with isolated(tmp_path_factory.mktemp("home")):
        root = pinned_repo(tmp_path_factory, controllers)
        with config.edit(root) as doc:
            doc["pullRequests"] = {"labels": ["keys", "sealer"], "reviewers": ["alice"], "assignees": ["bob"]}
        git(root, "commit", "-qam", "pull-request settings")
    return root


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, FakeForge]]:
    found: dict[str, FakeForge] = {
        "github": FakeGitHub(Path("/")),
        "gitlab": FakeGitLab(Path("/")),
        "gitea": FakeGitea(Path("/")),
    }
    for server in found.values():
        server.start()
    yield found
    for server in found.values():
        server.stop()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(path))
    return path


@pytest.fixture(params=["github", "gitlab", "gitea"])
def fake(
    request: pytest.FixtureRequest,
    servers: dict[str, FakeForge],
    remote: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> FakeForge:
    server = servers[request.param]
    server.reset(remote)
    server.token = TOKEN
    for var, value in ci_env(server).items():
        monkeypatch.setenv(var, value)
    for var in (
        "GITHUB_REF",
        "GITHUB_HEAD_REF",
        "CI_MERGE_REQUEST_IID",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
        "SEALER_FORGE",
        "GITEA_URL",
        "GITEA_REPOSITORY",
        "FORGEJO_ACTIONS",
    ):
        monkeypatch.delenv(var, raising=False)
    if request.param != "gitlab":
        monkeypatch.delenv("CI_API_V4_URL", raising=False)
    if request.param != "gitea":
        monkeypatch.delenv("GITEA_ACTIONS", raising=False)
    if isinstance(server, FakeGitea):
        server.conflict_status = 409
    return server


def token_var(fake: FakeForge) -> str:
    return next(var for var in ci_env(fake) if var.endswith("_TOKEN"))


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Rate-limit waits the client asked for (recorded, not slept)."""
    asked: list[float] = []
    monkeypatch.setattr(http, "pause", asked.append)
    return asked


@pytest.fixture
def repo(template: Path, tmp_path: Path, remote: Path) -> Path:
    root = copy_repo(template, tmp_path / "repo")
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "origin", "main")
    return root


def rotate(repo: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    result = cli(repo, "rotate", "staging", "--push", "origin", "--open-pr", "-o", "json", *args)
    data = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, data, result.stderr


# -- open, update, supersede, retry ---------------------------------------------------------------


def test_opens_a_request_from_the_pushed_branch(fake: FakeForge, repo: Path, remote: Path) -> None:
    code, data, err = rotate(repo)
    assert code == 0, err
    (pull,) = fake.open_pulls()
    assert data["pull_request"]["action"] == "created" and data["pull_request"]["number"] == pull.number
    assert data["pull_request"]["url"].endswith(f"/{pull.number}")
    assert pull.head == data["branch"] and pull.base == "main"
    assert git(remote, "rev-parse", f"refs/heads/{data['branch']}").strip() == data["commit"]
    assert pull.title == "Rotate API keys: staging"
    assert data["keys"][0]["key_id"] in pull.body and "<!-- sealer:rotation envs=staging -->" in pull.body
    assert sorted(pull.labels) == ["keys", "sealer"]
    assert pull.reviewers == (["alice"] if isinstance(fake, FakeGitHub) else [11])
    assert pull.assignees == (["bob"] if isinstance(fake, FakeGitHub) else [12])


def test_text_output_names_the_request(fake: FakeForge, repo: Path) -> None:
    result = cli(repo, "rotate", "staging", "--push", "origin", "--open-pr")
    assert result.exit_code == 0, result.stderr
    noun = "pull request" if isinstance(fake, FakeGitHub) else "merge request"
    assert f"{noun} created: https://" in result.stdout


def test_a_newer_rotation_supersedes_the_open_one(fake: FakeForge, repo: Path) -> None:
    first = rotate(repo)[1]
    git(repo, "checkout", "-q", "main")
    code, _, err = rotate(repo)
    assert code == 2 and first["branch"] in err  # an unmerged rotation is not stacked on silently
    code, second, err = rotate(repo, "--replace")  # replacing it supersedes its pull request
    assert code == 0, err
    (open_now,) = fake.open_pulls()
    assert open_now.head == second["branch"] != first["branch"]
    old = fake.pulls[first["pull_request"]["number"]]
    assert old.state == "closed"
    assert second["pull_request"]["url"] in old.comments[-1]["body"]
    assert second["pull_request"]["superseded"] == [first["pull_request"]["url"]]


def test_other_environments_and_other_peoples_requests_stay_open(fake: FakeForge, repo: Path) -> None:
    production = fake.add_pull("sealer/rotate-production-1", "<!-- sealer:rotation envs=production -->")
    by_hand = fake.add_pull("feature", "no marker here")
    forked = fake.add_pull("sealer/rotate-staging-1", "<!-- sealer:rotation envs=staging -->", fork=True)
    code, _data, err = rotate(repo)
    assert code == 0, err
    assert {p.number for p in fake.open_pulls()} >= {production.number, by_hand.number, forked.number}
    assert forked.body == "<!-- sealer:rotation envs=staging -->"  # a fork's request is never touched


def test_a_retry_whose_first_attempt_got_through_updates_it(fake: FakeForge, repo: Path) -> None:
    """Between sealer's listing and its create, the request appears (an earlier attempt whose
    answer was lost): the host's 422 / 409 leads to an update, not a second request."""

    def earlier_attempt(data: dict[str, Any]) -> None:
        head = data.get("head") or data.get("source_branch")
        fake.add_pull(str(head), "stale body")

    fake.on_create = earlier_attempt
    code, data, err = rotate(repo)
    assert code == 0, err
    (pull,) = fake.open_pulls()
    assert data["pull_request"]["action"] == "updated" and pull.body != "stale body"
    assert data["keys"][0]["key_id"] in pull.body


def test_the_request_of_the_same_branch_is_updated(fake: FakeForge, repo: Path, remote: Path) -> None:
    git(remote, "branch", "sealer/rotate-staging-x", "main")
    existing = fake.add_pull("sealer/rotate-staging-x", "old")
    forge, at = _forge(), git(remote, "rev-parse", "main").strip()
    opened = open_rotation(forge, "sealer/rotate-staging-x", at, ["staging"], "t", "new body", Extras())
    again = open_rotation(forge, "sealer/rotate-staging-x", at, ["staging"], "t", "new body", Extras())
    assert opened.number == again.number == existing.number and len(fake.open_pulls()) == 1
    assert existing.body.startswith("new body") and (opened.action, again.action) == ("updated", "updated")


def test_a_due_rotation_of_two_environments_supersedes_each_ones_request(fake: FakeForge, repo: Path) -> None:
    git(repo, "push", "-q", "origin", "main:both")
    staging = fake.add_pull("sealer/rotate-staging-1", "<!-- sealer:rotation envs=staging -->")
    dev = fake.add_pull("sealer/rotate-dev-1", "<!-- sealer:rotation envs=dev -->")
    at = git(repo, "rev-parse", "main").strip()
    opened = open_rotation(_forge(), "both", at, ["staging", "production"], "t", "b", Extras())
    assert opened.superseded == (fake.pull_json(staging)["html_url"] if isinstance(fake, FakeGitHub) else
                                 fake.mr_json(staging)["web_url"],)  # fmt: skip
    assert staging.state == "closed" and dev.state == "open"
    assert "<!-- sealer:rotation envs=production,staging -->" in fake.pulls[opened.number].body


# -- a branch someone else pushed under sealer's name ---------------------------------------------


def _foreign_branch(remote: Path, repo: Path, name: str) -> str:
    """Someone with push access puts a commit of theirs on the remote under `name`."""
    other = repo.parent / "mallory"
    git(repo.parent, "clone", "-q", str(remote), str(other))
    (other / "sealer.yaml").write_text((other / "sealer.yaml").read_text() + "# mine\n")
    git(other, "commit", "-qam", "weaker keys, please")
    git(other, "push", "-q", "origin", f"HEAD:refs/heads/{name}")
    return git(other, "rev-parse", "HEAD").strip()


def test_a_foreign_request_on_the_branch_is_never_adopted(fake: FakeForge, repo: Path, remote: Path) -> None:
    theirs = _foreign_branch(remote, repo, "sealer/rotate-staging-x")
    planted = fake.add_pull("sealer/rotate-staging-x", "<!-- sealer:rotation envs=staging --> looks fine")
    ours = git(repo, "rev-parse", "main").strip()
    with pytest.raises(ForgeError, match="someone else's content") as caught:
        open_rotation(_forge(), "sealer/rotate-staging-x", ours, ["staging"], "t", "sealer's body", Extras())
    assert theirs[:12] in str(caught.value)
    assert planted.body.endswith("looks fine") and planted.state == "open" and planted.labels == []


def test_a_head_the_server_names_is_one_clean_line(
    fake: FakeForge, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit the server says the head is at went into the error as it came: a line
    separator or a bidi override in it forged or reordered the line."""
    fake.add_pull("sealer/rotate-staging-x", "<!-- sealer:rotation envs=staging -->")
    monkeypatch.setattr(fake, "head_sha", lambda branch: "\u2028\u202eapproved\x1b[2K\u2029ok")
    ours = git(repo, "rev-parse", "main").strip()
    with pytest.raises(ForgeError, match="someone else's content") as caught:
        open_rotation(_forge(), "sealer/rotate-staging-x", ours, ["staging"], "t", "b", Extras())
    assert str(caught.value).isprintable() and " is at approved [2K, not " in str(caught.value)


def test_a_branch_pushed_under_the_predicted_name_gets_another(repo: Path, remote: Path) -> None:
    import datetime as dt

    from sealer.rotation import plan

    now = dt.datetime(2026, 12, 5, 4, 23, tzinfo=dt.timezone.utc)
    predicted = "sealer/rotate-staging-20261205T042300Z"
    _foreign_branch(remote, repo, predicted)
    request = plan.Request(envs=("staging",), push="origin")
    assert plan.branch_name(repo, request, ["staging"], now) == f"{predicted}-2"
    assert plan.branch_name(repo, plan.Request(envs=("staging",)), ["staging"], now) == predicted


def test_a_given_branch_that_exists_on_the_remote_is_refused(
    fake: FakeForge, repo: Path, remote: Path
) -> None:
    theirs = _foreign_branch(remote, repo, "keys")
    before = git(repo, "rev-parse", "HEAD").strip()
    code, data, err = rotate(repo, "--branch", "keys")
    assert code == 2 and "exists on origin" in err and err.count("\n") == 1
    assert git(repo, "rev-parse", "HEAD").strip() == before and not git(repo, "branch", "--list", "keys")
    assert git(remote, "rev-parse", "keys").strip() == theirs and fake.pulls == {}


def test_a_branch_that_appears_before_the_push_is_never_moved_or_adopted(
    fake: FakeForge, repo: Path, remote: Path, monkeypatch: Any
) -> None:
    """The name was free when chosen; someone pushes a branch under it before sealer's push."""
    monkeypatch.setenv("SEALER_FAULT", "before-push")
    code, data, err = rotate(repo)
    assert code == 4 and fake.pulls == {}
    monkeypatch.delenv("SEALER_FAULT")
    theirs = _foreign_branch(remote, repo, data["branch"])
    fake.add_pull(data["branch"], "<!-- sealer:rotation envs=staging -->")
    result = cli(repo, "rotate", "--resume")
    assert result.exit_code == 4 and "someone else's branch" in result.stderr
    assert git(remote, "rev-parse", data["branch"]).strip() == theirs


def test_a_retried_push_of_the_same_commit_goes_through(fake: FakeForge, repo: Path, remote: Path) -> None:
    from sealer import git as sealer_git

    code, data, err = rotate(repo)
    assert code == 0, err
    sealer_git.push_new_branch(repo, "origin", data["branch"])  # there already, at this commit: done
    assert git(remote, "rev-parse", data["branch"]).strip() == data["commit"]


# -- errors -----------------------------------------------------------------------------------


def test_nothing_changes_without_a_token_or_a_host(fake: FakeForge, repo: Path, monkeypatch: Any) -> None:
    before = git(repo, "rev-parse", "HEAD")
    monkeypatch.delenv(token_var(fake))
    code, _data, err = rotate(repo)
    assert code == 2 and "TOKEN is not set" in err and err.count("\n") == 1
    assert git(repo, "rev-parse", "HEAD") == before and fake.requests == []
    usage = cli(repo, "rotate", "staging", "--open-pr")
    assert usage.exit_code == 2 and "--push" in usage.stderr


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "HTTP 401 on GET"),
        (403, "HTTP 403 on GET"),
        (404, "HTTP 404 on GET"),
        (500, "HTTP 500 on GET"),
    ],
)
def test_host_errors_are_one_line_and_the_rotation_is_reported(
    fake: FakeForge, repo: Path, status: int, expected: str
) -> None:
    if status == 401:
        fake.token = "something-else"
    elif status == 404:
        fake.fail_next(404, match="/")
    else:
        fake.fail_next(status)
    code, data, err = rotate(repo)
    assert code == 4, err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert data["commit"] and data["pull_request"] is None and expected in data["pull_request_error"]
    assert TOKEN not in err


def test_a_request_the_host_refuses_still_names_what_due_skipped(fake: FakeForge, repo: Path) -> None:
    """`rotate --due` rotated production and skipped staging, whose rotation waits unmerged: the
    partly-done line of a request not opened says both, not the request alone."""
    waiting = cli(repo, "rotate", "staging")  # a local branch, not merged
    assert waiting.exit_code == 0, waiting.output
    fake.token = "something-else"
    result = cli(repo, "rotate", "--due", "--push", "origin", "--open-pr", "-o", "json")
    assert result.exit_code == 4 and result.stderr.count("\n") == 1, result.stderr
    assert "was not opened" in result.stderr and "skipped staging, whose rotation waits" in result.stderr
    assert json.loads(result.stdout)["skipped"] == {
        "staging": waiting.stdout.split("branch ")[1].split(";")[0]
    }


def test_a_refused_reviewer_leaves_the_request_open_and_reported(fake: FakeForge, repo: Path) -> None:
    with config.edit(repo) as doc:
        doc["pullRequests"]["reviewers"] = ["carol"]
    git(repo, "commit", "-qam", "carol reviews")
    code, data, err = rotate(repo)
    (pull,) = fake.open_pulls()
    assert code == 4 and data["pull_request"] and data["pull_request"]["number"] == pull.number
    assert "not set" in err and err.count("\n") == 1
    assert (
        "collaborator" in err
        or "no user 'carol'" in err
        or "user does not exist [uid: 0, name: carol]" in err
    )


def test_hostile_answers_are_errors_not_tracebacks(fake: FakeForge) -> None:
    nested = "[" * 200_000 + "]" * 200_000
    fake.fault_response = lambda fault: Response(200, nested.encode(), {})  # type: ignore[method-assign]
    fake.fail_next(200)
    try:
        with pytest.raises(ForgeError, match="not JSON"):
            _forge().default_branch()
    finally:
        del fake.fault_response


@pytest.mark.parametrize(
    "reply", [b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n[", b""]
)
def test_a_broken_server_is_one_error(reply: bytes) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(reply)

    worker = threading.Thread(target=answer, daemon=True)
    worker.start()
    client = http.Client("GitHub", f"http://127.0.0.1:{listener.getsockname()[1]}", TOKEN)
    try:
        with pytest.raises(
            ForgeError, match=r"^(cannot reach GitHub at http://127.0.0.1|GitHub sent an answer)"
        ):
            client.get("repos/a/b")
    finally:
        worker.join(timeout=10)
        listener.close()


def test_a_server_trickling_its_answer_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import threading

    monkeypatch.setattr(http, "MAX_REQUEST_SECONDS", 0.5)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:  # one byte at a time, each well within the socket timeout
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.wait(0.05):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    worker = threading.Thread(target=trickle, daemon=True)
    worker.start()
    client = http.Client("GitHub", f"http://127.0.0.1:{listener.getsockname()[1]}", TOKEN)
    try:
        with pytest.raises(ForgeError, match=r"^GitHub did not answer GET /repos/a/b within 0.5 seconds$"):
            client.get("repos/a/b")
    finally:
        stop.set()
        worker.join(timeout=10)
        listener.close()


def test_a_head_branch_the_remote_lacks_is_refused_with_the_hosts_reason(fake: FakeForge) -> None:
    with pytest.raises(ForgeError) as caught:
        open_rotation(_forge(), "never-pushed", "0" * 40, ["staging"], "t", "b", Extras())
    reason = {
        FakeGitHub: (422, "head invalid"),
        FakeGitLab: (422, "Source branch does not exist"),
        FakeGitea: (404, "The target couldn't be found."),
    }[type(fake)]
    assert (caught.value.status, reason[1] in str(caught.value)) == (reason[0], True)


def test_rate_limits_are_waited_out_as_the_server_asks(
    fake: FakeForge, repo: Path, waits: list[float]
) -> None:
    github = type(fake) is FakeGitHub  # Gitea sends none of GitHub's rate-limit headers, only Retry-After
    if github:
        fake.fail_next(403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"})
    fake.fail_next(429, count=2, headers={"Retry-After": "7"})
    code, data, err = rotate(repo)
    assert code == 0, err
    assert waits[-2:] == [7.0, 7.0] and len(waits) == (3 if github else 2)
    assert data["pull_request"]["action"] == "created"


def test_a_rate_limit_past_the_bound_fails_at_once(fake: FakeForge, repo: Path, waits: list[float]) -> None:
    fake.fail_next(429, count=20, headers={"Retry-After": "3600"})
    code, _data, err = rotate(repo)
    assert code == 4 and "rate limit" in err and "3600s" in err and waits == []


@pytest.mark.parametrize("header", ["Retry-After", "X-RateLimit-Reset", "RateLimit-Reset"])
def test_a_rate_limit_time_in_other_digits_is_one_error(
    fake: FakeForge, waits: list[float], header: str
) -> None:
    # `²` is one Latin-1 byte in a header; str.isdigit() takes it, float() does not.
    fake.fail_next(429, count=20, headers={header: "\xb2"})
    with pytest.raises(ForgeError, match="rate limit reached"):
        _forge().default_branch()
    assert waits == [60.0, 60.0, 60.0]


# -- what goes out, and where -------------------------------------------------------------------


def test_no_plaintext_key_and_no_token_in_anything_sent(
    fake: FakeForge, repo: Path, controllers: Any
) -> None:
    code, data, err = rotate(repo)
    assert code == 0, err
    git(repo, "checkout", "-q", data["branch"])  # the rotation's commit is on its own branch
    key = unseal_values(repo, "staging", private_keys(controllers["staging"]))["apiKey"]
    sent = fake.sent()
    assert key.encode() not in sent and TOKEN.encode() not in sent
    assert all(TOKEN not in r.path and not any(TOKEN in v for v in r.query.values()) for r in fake.requests)
    other = "y" if key.endswith("x") else "x"  # a last character that differs (its CRC no longer fits)
    assert apikey.holds_key(f"key {key}") and not apikey.holds_key(f"key {key[:-1]}{other}")


def test_a_key_in_a_review_comment_is_redacted(fake: FakeForge, repo: Path) -> None:
    from sealer.forge.pulls import post_review

    key = apikey.generate("staging")
    git(repo, "push", "-q", "origin", "main:feature")
    pull = fake.add_pull("feature")
    post_review(_forge(), "feature", f"found {key} in values.yaml")
    assert key not in pull.comments[0]["body"] and "slr_staging_[redacted]" in pull.comments[0]["body"]
    assert key.encode() not in fake.sent()


def test_a_text_holding_a_key_is_refused(fake: FakeForge, remote: Path) -> None:

    with pytest.raises(ForgeError, match="looks like an API key"):
        open_rotation(
            _forge(), "b", "0" * 40, ["staging"], "t", f"oops {apikey.generate('staging')}", Extras()
        )
    assert fake.requests == []


class Elsewhere(FakeServer):
    def handle(self, request: Request) -> Response:
        return Response.json(200, [])


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Elsewhere]:
    with Elsewhere() as server:
        yield server


def test_redirects_and_page_links_to_another_host_are_refused(fake: FakeForge, elsewhere: Elsewhere) -> None:
    elsewhere.clear_log()
    target = elsewhere.url.replace("127.0.0.1", "localhost")
    fake.fail_next(302, headers={"Location": f"{target}/steal"})
    with pytest.raises(ForgeError, match="redirected .* to another site"):
        _forge().default_branch()
    client = http.Client("GitHub", fake.url, TOKEN)
    with pytest.raises(ForgeError, match="another site"):
        client.get(f"{target}/next-page")
    assert elsewhere.log == []


def test_a_hostile_answer_cannot_echo_the_token_or_paint_the_terminal(fake: FakeForge) -> None:
    fake.fail_next(400)  # the body below is what a hostile server answers
    fake.fault_response = lambda fault: Response.json(  # type: ignore[method-assign]
        400, {"message": f"\x1b[31mbad {TOKEN}\x1b[0m\nline"}
    )
    try:
        with pytest.raises(ForgeError) as caught:
            _forge().default_branch()
    finally:
        del fake.fault_response
    err = caught.value
    assert TOKEN not in str(err) and "\x1b" not in str(err) and "\n" not in str(err) and "[token]" in str(err)


def test_a_hostile_answer_cannot_break_or_reorder_the_line(fake: FakeForge) -> None:
    fake.fail_next(400)
    fake.fault_response = lambda fault: Response.json(  # type: ignore[method-assign]
        400, {"message": "bad\u2028sealer: all keys rotated\u2029ok \u202egnp.exe\u2066x\u2069"}
    )
    try:
        with pytest.raises(ForgeError) as caught:
            _forge().default_branch()
    finally:
        del fake.fault_response
    text = str(caught.value)
    assert len(text.splitlines()) == 1 and not any(c in text for c in "\u2028\u2029\u202e\u2066\u2069")


@pytest.mark.parametrize("control", ["\u061c", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069"])
def test_every_bidirectional_control_the_review_shows_is_stripped_from_server_text(control: str) -> None:
    from sealer import terminal

    assert terminal.one_line(control) == f"\\u{ord(control):04x}"  # what every output shows
    assert terminal.clean(f"ok{control}txt.exe") == "ok txt.exe"


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("http://api.example.test", "must use https"),
        ("https://user:pw@api.example.test", "must not hold credentials"),
        ("ftp://api.example.test", "not an http"),
    ],
)
def test_unsafe_api_urls_are_refused(base: str, message: str) -> None:
    with pytest.raises(ForgeError, match=message):
        http.Client("GitHub", base, TOKEN)


def test_pagination_reads_every_page(fake: FakeForge) -> None:
    for n in range(7):
        fake.add_pull(f"b{n}", "<!-- sealer:rotation envs=dev -->")
    assert [p.head for p in _forge().open_requests()] == [f"b{n}" for n in range(7)]
    assert (
        sum(
            1
            for r in fake.requests
            if r.method == "GET" and ("/pulls" in r.path or "/merge_requests" in r.path)
        )
        == 4
    )


# -- review --post ------------------------------------------------------------------------------


def test_review_post_keeps_one_comment_up_to_date(fake: FakeForge, repo: Path, monkeypatch: Any) -> None:
    code, data, err = rotate(repo)
    assert code == 0, err
    pull = fake.pulls[data["pull_request"]["number"]]
    planted = {"id": 1, "body": f"{REVIEW_MARKER} all fine, merge it", "user": {"login": "mallory"}}
    planted["author"] = {"username": "mallory"}
    pull.comments.append(planted)
    git(repo, "checkout", "-q", data["branch"])  # a pull request's job runs on its branch
    for _ in range(2):
        result = cli(repo, "review", "--post", "main", "HEAD")
        assert result.exit_code == 0, result.stderr
    mine = [c for c in pull.comments if c is not planted]
    assert (
        len(mine) == 1 and REVIEW_MARKER in mine[0]["body"] and data["keys"][0]["key_id"] in mine[0]["body"]
    )
    assert planted["body"].endswith("merge it")
    assert "review comment updated" in result.stderr


def test_review_post_finds_the_request_of_the_ci_job(fake: FakeForge, repo: Path, monkeypatch: Any) -> None:
    """CI checkouts are detached or on another ref: the job's own variables name the request."""
    git(repo, "push", "-q", "origin", "main:feature")
    fake.add_pull("other")
    pull = fake.add_pull("feature")
    if isinstance(fake, FakeGitHub):
        monkeypatch.setenv("GITHUB_REF", f"refs/pull/{pull.number}/merge")
    else:
        monkeypatch.setenv("CI_MERGE_REQUEST_IID", str(pull.number))
    git(repo, "checkout", "-q", "--detach")
    _change(repo)
    result = cli(repo, "review", "--post", "-o", "json", "main", "HEAD")
    assert result.exit_code == 0, result.stderr
    assert len(pull.comments) == 1 and "findings" in json.loads(result.stdout)


def _change(repo: Path) -> None:
    """A commit for the review to judge: a range holding none reviews nothing, and fails."""
    (repo / "NOTES.md").write_text("release notes\n")
    commit_all(repo, "notes")


def _pr_of_a_branch(fake: FakeForge, repo: Path) -> Any:
    git(repo, "push", "-q", "origin", "main:feature")
    git(repo, "checkout", "-q", "-b", "feature")
    _change(repo)
    return fake.add_pull("feature")


def _other_bots_comment(fake: FakeForge) -> dict[str, Any]:
    """Another bot's comment carrying sealer's marker (anyone can type it)."""
    if isinstance(fake, FakeGitea):
        return {
            "id": 2,
            "body": f"{REVIEW_MARKER} all fine, merge it",
            "user": {"login": "renovate", "id": 77},
        }
    if isinstance(fake, FakeGitHub):
        return {
            "id": 2,
            "body": f"{REVIEW_MARKER} all fine, merge it",
            "user": {"login": "other-app[bot]", "id": 77, "type": "Bot"},
            "performed_via_github_app": {"slug": "other-app"},
        }
    return {
        "id": 2,
        "body": f"{REVIEW_MARKER} all fine, merge it",
        "author": {"id": 77, "username": "renovate"},
    }


def test_review_post_with_a_github_app_token_edits_only_its_apps_comment(
    fake: FakeForge, repo: Path, monkeypatch: Any
) -> None:
    if type(fake) is not FakeGitHub:
        pytest.skip("GitLab and Gitea tokens can say who they are")
    fake.app_token = True
    monkeypatch.setenv("SEALER_GITHUB_APP", "sealer-app")
    pull = _pr_of_a_branch(fake, repo)
    planted = [
        {"id": 1, "body": f"{REVIEW_MARKER} planted", "user": {"login": "eve", "id": 66, "type": "User"}},
        _other_bots_comment(fake),
    ]
    pull.comments += planted
    for _ in range(2):
        assert cli(repo, "review", "--post", "main", "HEAD").exit_code == 0
    assert [c["user"]["login"] for c in pull.comments] == ["eve", "other-app[bot]", "sealer-app[bot]"]
    assert [c["body"] for c in pull.comments[:2]] == [
        f"{REVIEW_MARKER} planted",
        f"{REVIEW_MARKER} all fine, merge it",
    ]


def test_review_post_never_edits_another_bots_comment(fake: FakeForge, repo: Path) -> None:
    """The token's own user is known (GET /user): a bot comment by anyone else stays as it is."""
    pull = _pr_of_a_branch(fake, repo)
    planted = _other_bots_comment(fake)
    pull.comments.append(planted)
    for _ in range(2):
        assert cli(repo, "review", "--post", "main", "HEAD").exit_code == 0
    assert planted["body"].endswith("merge it") and len(pull.comments) == 2


def test_review_post_without_a_known_identity_posts_anew(
    fake: FakeForge, repo: Path, monkeypatch: Any
) -> None:
    """A GitHub App token without SEALER_GITHUB_APP, a GitLab token that may not read its user:
    sealer cannot tell its own comment, so it edits none."""
    fake.app_token = fake.user_hidden = True
    monkeypatch.delenv("SEALER_GITHUB_APP", raising=False)
    pull = _pr_of_a_branch(fake, repo)
    planted = _other_bots_comment(fake)
    pull.comments.append(planted)
    for _ in range(2):
        result = cli(repo, "review", "--post", "main", "HEAD")
        assert result.exit_code == 0 and "review comment created" in result.stderr
    assert planted["body"].endswith("merge it") and len(pull.comments) == 3


def test_a_bad_app_slug_is_one_line(fake: FakeForge, repo: Path, monkeypatch: Any) -> None:
    if type(fake) is not FakeGitHub:
        pytest.skip("GitHub only")
    fake.app_token = True
    monkeypatch.setenv("SEALER_GITHUB_APP", "evil[bot]\x1b[2J")
    _pr_of_a_branch(fake, repo)
    result = cli(repo, "review", "--post", "main", "HEAD")
    assert result.exit_code == 2 and "SEALER_GITHUB_APP" in result.stderr and "\x1b" not in result.stderr


def test_review_post_without_a_request_is_one_line(fake: FakeForge, repo: Path) -> None:
    result = cli(repo, "review", "--post")
    assert result.exit_code == 2 and "no open" in result.stderr and "branch main" in result.stderr


def _forge() -> Any:
    from sealer.forge import detect

    return detect()


@pytest.mark.parametrize(
    ("identity", "comment", "own"),
    [
        (Identity("sealer-bot", 5), Comment(1, "", "sealer-bot", 5), True),
        (Identity("sealer-bot", 5), Comment(1, "", "sealer-bot", 6), False),  # a renamed account's old name
        (Identity("sealer-bot", 5), Comment(1, "", "sealer-bot", 5, app="other-app"), False),
        (Identity("sealer-bot", 5), Comment(1, "", "other-app[bot]", 9, app="other-app"), False),
        (
            Identity("sealer-app[bot]", app="sealer-app"),
            Comment(1, "", "sealer-app[bot]", 9, "sealer-app"),
            True,
        ),
        (Identity("sealer-app[bot]", app="sealer-app"), Comment(1, "", "sealer-app[bot]", 9), True),
        (
            Identity("sealer-app[bot]", app="sealer-app"),
            Comment(1, "", "other-app[bot]", 8, "other-app"),
            False,
        ),
        (
            Identity("sealer-app[bot]", app="sealer-app"),
            Comment(1, "", "sealer-app[bot]", 9, "other-app"),
            False,
        ),
    ],
)
def test_whose_comment_is_whose(identity: Identity, comment: Comment, own: bool) -> None:
    assert identity.wrote(comment) is own


# -- Gitea and Forgejo: what differs from GitHub --------------------------------------------------

on_gitea = pytest.mark.parametrize("fake", ["gitea"], indirect=True)


@on_gitea
def test_a_gitea_that_answers_422_for_a_second_request_gets_it_updated(fake: FakeGitea, repo: Path) -> None:
    fake.conflict_status = 422
    fake.on_create = lambda data: fake.add_pull(str(data["head"]), "stale body")
    code, data, err = rotate(repo)
    assert code == 0, err
    (pull,) = fake.open_pulls()
    assert data["pull_request"]["action"] == "updated" and data["keys"][0]["key_id"] in pull.body


@on_gitea
def test_gitea_labels_go_by_id_and_an_unknown_one_is_reported(fake: FakeGitea, repo: Path) -> None:
    with config.edit(repo) as doc:
        doc["pullRequests"]["labels"] = ["sealer", "nope"]
    git(repo, "commit", "-qam", "a label Gitea lacks")
    code, data, err = rotate(repo)
    (pull,) = fake.open_pulls()
    assert code == 4 and data["pull_request"]["number"] == pull.number and err.count("\n") == 1
    assert "Gitea has no label 'nope'" in err and pull.labels == []


@on_gitea
def test_gitea_labels_are_sent_as_the_ids_of_their_names(fake: FakeGitea, repo: Path) -> None:
    code, data, err = rotate(repo)
    assert code == 0, err
    (sent,) = [r.json() for r in fake.requests if r.path.endswith("/labels") and r.method == "POST"]
    assert sent == {"labels": [FakeGitea.labels["keys"], FakeGitea.labels["sealer"]]}
    assert fake.pulls[data["pull_request"]["number"]].labels == ["keys", "sealer"]
    assert fake.requests_to("/labels", "GET") == 2  # the label list is paginated (2 a page): read once


@on_gitea
def test_gitea_is_chosen_explicitly_outside_its_actions(
    fake: FakeGitea, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("GITEA_ACTIONS", "GITHUB_API_URL", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("SEALER_FORGE", "gitea")
    monkeypatch.setenv("GITEA_URL", f"{fake.url}/")
    monkeypatch.setenv("GITEA_REPOSITORY", fake.repository)
    code, data, err = rotate(repo)
    assert code == 0, err
    assert data["pull_request"]["url"].startswith("https://gitea.example/acme/deploy/pulls/")
    assert all(r.headers["authorization"] == f"token {TOKEN}" for r in fake.requests)


@on_gitea
def test_forgejo_actions_is_forgejo_with_its_own_token(
    fake: FakeGitea, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGEJO_ACTIONS", "true")
    before = git(repo, "rev-parse", "HEAD")
    code, _data, err = rotate(repo)
    assert code == 2 and "FORGEJO_TOKEN is not set: sealer needs a token to talk to Forgejo" in err
    assert git(repo, "rev-parse", "HEAD") == before and fake.requests == []
    monkeypatch.setenv("FORGEJO_TOKEN", TOKEN)
    fake.token = "something-else"
    code, data, err = rotate(repo)
    assert code == 4 and "Forgejo: HTTP 401 on GET /api/v1/repos/acme/deploy" in err
    assert data["pull_request"] is None and err.count("\n") == 1


@on_gitea
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SEALER_FORGE": "bitbucket"}, "SEALER_FORGE must be one of github, gitlab, gitea, forgejo"),
        ({"GITHUB_REPOSITORY": "acme/.."}, "GITHUB_REPOSITORY must be OWNER/REPO"),
        ({"GITEA_REPOSITORY": "acme/deploy/more"}, "GITEA_REPOSITORY must be OWNER/REPO"),
        ({"GITEA_URL": "http://gitea.example.test"}, "must use https"),
    ],
)
def test_gitea_settings_are_checked_before_anything_is_sent(
    fake: FakeGitea, repo: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    before = git(repo, "rev-parse", "HEAD")
    code, _data, err = rotate(repo)
    assert code == 2 and message in err and err.count("\n") == 1
    assert git(repo, "rev-parse", "HEAD") == before and fake.requests == []


@on_gitea
def test_gitea_without_an_address_is_one_line(fake: FakeGitea, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALER_FORGE", "gitea")
    for var in ("GITHUB_API_URL", "GITHUB_SERVER_URL"):
        monkeypatch.delenv(var)
    with pytest.raises(ForgeError, match="GITEA_URL is not set"):
        _forge()
    monkeypatch.setenv("GITHUB_SERVER_URL", f"{fake.url}/")  # the Actions server address alone will do
    assert _forge().client.base == f"{fake.url}/api/v1/"


@on_gitea
def test_gitea_review_post_finds_the_pull_request_of_its_actions_job(
    fake: FakeGitea, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "push", "-q", "origin", "main:feature")
    pull = fake.add_pull("feature")
    monkeypatch.setenv("GITHUB_REF", f"refs/pull/{pull.number}/head")  # Gitea Actions' ref of a pull request
    git(repo, "checkout", "-q", "--detach")
    _change(repo)
    for _ in range(2):
        result = cli(repo, "review", "--post", "-o", "json", "main", "HEAD")
        assert result.exit_code == 0, result.stderr
    assert len(pull.comments) == 1 and pull.comments[0]["user"]["login"] == fake.user


def test_a_key_the_review_markdown_escaped_is_redacted_too(fake: FakeForge, repo: Path) -> None:
    from sealer.forge.pulls import post_review
    from sealer.review import to_markdown
    from sealer.review.model import Finding, Report

    key = apikey.generate("my-env")
    git(repo, "push", "-q", "origin", "main:feature")
    pull = fake.add_pull("feature")
    finding = Finding("plaintext", "my-env", "values.yaml", None, f"a pull request's own text: {key}")
    markdown = to_markdown(Report("a" * 40, "b" * 40, findings=[finding]))
    assert key not in markdown  # Markdown writes each `_` as `\_`: the plain pattern misses it
    post_review(_forge(), "feature", markdown)
    body = pull.comments[0]["body"]
    assert "slr_my-env_[redacted]" in body and key[-38:] not in body
    assert key[-38:].encode() not in fake.sent()
