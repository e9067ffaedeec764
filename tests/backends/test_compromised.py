"""`sealer keys compromised ENV KEY_ID` (#17) end to end: one commit revokes the key and rotates
its entry with no grace, the store revokes it right after the commit, the key registry follows,
and the report says where the key may have leaked; an interrupted run finishes on a rerun."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import (
    ENV,
    Backend,
    assert_one_active_per_name,
    configure,
    current_keys,
    finish,
    leaks,
    one_line_error,
    options_of,
    rotate,
    statuses,
    store_of,
    verify,
)
from support.cli import sealer
from support.git import commit_all, git, head
from support.repos import ledger_records, run_sealer

from sealer import layout, ledger
from sealer.errors import GitError
from sealer.records import ACCEPTED, ACTIVE, PENDING, REVOKED

JOURNAL = Path(".git") / "sealer-rotation.json"


def compromised(repo: Path, key_id: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = sealer(repo, "keys", "compromised", ENV, key_id, "-o", "json", *extra)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def leak(repo: Path, key: str) -> str:
    """Someone commits the plaintext key, then deletes it: still in the history."""
    (repo / "notes.txt").write_text(f"API_KEY={key}\n")
    leaked_at = commit_all(repo, "debug notes")
    (repo / "notes.txt").unlink()
    commit_all(repo, "remove the notes")
    return leaked_at


def test_compromised_key_end_to_end(backend: Backend, backend_repo: Path, keys: list[Any]) -> None:
    repo = backend_repo
    configure(repo, backend)
    rotate(repo)
    finish(repo)
    before = assert_one_active_per_name(store_of(repo).list(ENV))
    plaintext = current_keys(repo, keys)
    kid = before["apiKey"].key_id
    leaked_at = leak(repo, plaintext["apiKey"])
    result = sealer(repo, "keys", "compromised", ENV, kid, "-o", "json")
    assert result.exit_code == 1, (result.stdout, result.stderr)  # the history holds a plaintext key
    report = json.loads(result.stdout)
    assert leaks(result.stdout + result.stderr, set(plaintext.values())) == []
    # One commit, on its own branch: the key revoked in the ledger, its entry rotated.
    assert report["branch"].startswith(f"sealer/revoke-{ENV}-{kid}-compromised-")
    assert git(repo, "rev-parse", report["branch"]).strip() == report["commit"]
    committed = {
        r.key_id: r
        for r in ledger.parse(ENV, git(repo, "show", f"{report['commit']}:ledger/{ENV}.yaml"), "x")
    }
    new_kid = report["rotated"][0]["key_id"]
    assert [(k["name"], k["previous_key_id"]) for k in report["rotated"]] == [("apiKey", kid)]
    assert committed[kid].status == REVOKED and committed[new_kid].status == ACTIVE
    assert committed[before["adminKey"].key_id].status == ACTIVE  # the other entry is untouched
    message = git(repo, "log", "-1", "--format=%B", report["commit"])
    assert message.startswith(f"sealer: compromised {ENV} key {kid}: revoked, apiKey rotated with no grace")
    assert f"Sealer-Compromised-Key-Id: {kid}" in message
    assert f"The key store revokes {kid} right after this commit" in message
    # The store revoked it right after the commit (no grace, no --finish needed) and accepts the new key.
    in_store = statuses(store_of(repo).list(ENV))
    assert (in_store[kid], in_store[new_kid], in_store[before["adminKey"].key_id]) == (
        REVOKED,
        ACCEPTED,
        ACTIVE,
    )
    assert verify(repo, plaintext["apiKey"]) == (1, "revoked")
    # Where it leaked: the history scan finds this very key, at the commit that brought it in.
    assert [(f["path"], f["commit"]) for f in report["history"]["this_key"]] == [("notes.txt", leaked_at)]
    assert report["history"]["error"] is None
    touched = [c["commit"] for c in report["commits_touching_env"]]
    assert touched[0] == report["commit"] and leaked_at not in touched and len(touched) >= 2
    assert any("cluster keeps serving the old key" in item for item in report["not_done"])
    assert any("sealer rotate --finish" in item for item in report["not_done"])  # the store's phase
    # Nothing drifts once the incident's branch is checked out (merged): the store agrees with it.
    git(repo, "checkout", "-q", report["branch"])
    check = sealer(repo, "check", ENV, "--drift", "-o", "json")
    assert [p for p in json.loads(check.stdout)["problems"] if p["rule"] == "store-drift"] == []


def test_compromised_key_in_the_git_ledger_updates_the_key_registry(
    backend_repo: Path, keys: list[Any]
) -> None:
    """k8s-secrets: the committed ledger is the store; the key registry in the same commit stops
    listing the key, so verifiers refuse it once synced. No history finding: exit 0."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    registry_rel = f"registry/{ENV}/{ENV}.yaml"
    assert old.fingerprint in (backend_repo / registry_rel).read_text()
    code, report = compromised(backend_repo, old.key_id, "--no-branch")
    assert code == 0, report
    assert report["history"]["this_key"] == [] and report["history"]["findings"] == []
    # The merge is the Git ledger's activation: no `rotate --finish` is left to run.
    assert not any("--finish" in item for item in report["not_done"]) and len(report["not_done"]) == 2
    assert git(backend_repo, "rev-parse", "HEAD").strip() == report["commit"]
    shown = git(backend_repo, "show", "--name-only", "--format=", report["commit"]).split()
    assert registry_rel in shown and f"ledger/{ENV}.yaml" in shown
    registry_now = git(backend_repo, "show", f"HEAD:{registry_rel}")
    assert old.fingerprint not in registry_now
    assert report["rotated"][0]["fingerprint"] in registry_now
    assert {r.key_id: r.status for r in ledger_records(backend_repo, ENV)}[old.key_id] == REVOKED
    # No store revokes it before the merge: the commit and the description say when verifiers refuse it.
    message = git(backend_repo, "log", "-1", "--format=%B")
    description = Path(report["pr_body_file"]).read_text()
    for text in (message, description):
        assert "once this\nchange is merged and synced" in text or "until this change is merged and" in text
        assert "refuse it now" not in text and "from the revocation on" not in text


@pytest.mark.parametrize("ledger_end", [b"# \xff\n", b"#" * (16 << 20) + b"\n"], ids=["not-utf8", "huge"])
def test_a_pushed_branch_with_a_hostile_ledger_does_not_cut_the_incident_report_short(
    backend_repo: Path, ledger_end: bytes
) -> None:
    """Anyone who can push a branch (a remote-tracking ref) can leave a ledger there that names
    the key: it is passed over as unreadable; the report after the revocation still comes."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    git(backend_repo, "checkout", "-q", "-b", "pushed")
    ledger_file = backend_repo / "ledger" / f"{ENV}.yaml"
    ledger_file.write_bytes(ledger_file.read_bytes() + ledger_end)
    git(backend_repo, "update-ref", "refs/remotes/origin/pushed", commit_all(backend_repo, "pushed"))
    git(backend_repo, "checkout", "-q", "main")
    git(backend_repo, "branch", "-q", "-D", "pushed")
    code, report = compromised(backend_repo, old.key_id, "--no-branch")
    assert code == 0, report
    assert report["branches_carrying_key"] == [] and report["commit"] == head(backend_repo)


def test_the_branch_the_incident_is_made_from_is_not_named_as_carrying_the_key(backend_repo: Path) -> None:
    """On its own branch (the default), the incident commit is made from main, whose ledger holds
    the key unrevoked until it is merged: main is not a branch to close unmerged. A branch the
    commit does not contain (a rotation under review, say) is."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    git(backend_repo, "checkout", "-q", "-b", "other")
    (backend_repo / "notes.md").write_text("other work\n")
    commit_all(backend_repo, "other work")
    git(backend_repo, "checkout", "-q", "main")
    git(backend_repo, "update-ref", "refs/remotes/origin/main", "main")
    code, report = compromised(backend_repo, old.key_id)
    assert code == 0, report
    assert report["branch"] and git(backend_repo, "rev-parse", report["branch"]).strip() == report["commit"]
    assert report["branches_carrying_key"] == ["refs/heads/other"]


def test_a_values_path_shaped_like_pathspec_magic_hides_no_commit_from_the_report(backend_repo: Path) -> None:
    """sealer.yaml is anyone's text: a values file named `:(exclude)ledger/ENV.yaml` is a file
    like any other, never git's pathspec magic that would drop the ledger's commits from the
    commits said to touch the environment."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    hostile = f":(exclude)ledger/{ENV}.yaml"
    text = (backend_repo / "sealer.yaml").read_text()
    (backend_repo / "sealer.yaml").write_text(
        text.replace(f"valuesFile: deploy/{ENV}/values.yaml", f'valuesFile: "{hostile}"')
    )
    (backend_repo / hostile).parent.mkdir()
    (backend_repo / hostile).write_bytes((backend_repo / "deploy" / ENV / "values.yaml").read_bytes())
    commit_all(backend_repo, "values elsewhere")
    ledger_file = backend_repo / "ledger" / f"{ENV}.yaml"
    ledger_file.write_text(ledger_file.read_text() + "# a hand edit\n")
    edited = commit_all(backend_repo, "ledger only")
    code, report = compromised(backend_repo, old.key_id, "--no-branch")
    assert code == 0, report
    assert edited in [c["commit"] for c in report["commits_touching_env"]]


@pytest.mark.parametrize(
    ("path", "line"),
    [("debug.map", "API_KEY={key}\n"), ("notes.txt", "API_KEY={key}  # sealer: allow\n")],
    ids=["allowlisted-path", "allow-comment"],
)
def test_the_leaked_key_is_found_whatever_the_file_claims(
    backend_repo: Path, keys: list[Any], path: str, line: str
) -> None:
    """A plaintext key under a name `sealer scan` passes over (`*.map`) or on a line that says
    `sealer: allow` is still where the key leaked: never "the history is clean" (exit 0)."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    (backend_repo / path).write_text(line.format(key=current_keys(backend_repo, keys)["apiKey"]))
    leaked_at = commit_all(backend_repo, "debug output")
    code, report = compromised(backend_repo, old.key_id, "--no-branch")
    assert code == 1, report
    assert [(f["path"], f["commit"]) for f in report["history"]["this_key"]] == [(path, leaked_at)]


def test_the_leaked_key_is_found_by_its_id_whatever_fingerprint_a_ledger_claims(
    backend_repo: Path, keys: list[Any]
) -> None:
    """The key id the user names is the fingerprint's first 12 digits: a ledger (a pushed
    branch's, a hand edit) keeping the id with another fingerprint must not make the history
    search look for another key and call the leak's history clean."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    (backend_repo / "notes.txt").write_text(f"API_KEY={current_keys(backend_repo, keys)['apiKey']}\n")
    leaked_at = commit_all(backend_repo, "debug output")
    ledger_file = backend_repo / "ledger" / f"{ENV}.yaml"
    forged = old.fingerprint[:12] + "0" * (len(old.fingerprint) - 12)
    assert old.fingerprint in ledger_file.read_text() and forged != old.fingerprint
    ledger_file.write_text(ledger_file.read_text().replace(old.fingerprint, forged))
    commit_all(backend_repo, "another fingerprint")
    code, report = compromised(backend_repo, old.key_id, "--no-branch")
    assert code == 1, report
    assert [(f["path"], f["commit"]) for f in report["history"]["this_key"]] == [("notes.txt", leaked_at)]


def test_an_unknown_key_changes_nothing(backend_repo: Path) -> None:
    rotate(backend_repo)
    start = head(backend_repo)
    result = sealer(backend_repo, "keys", "compromised", ENV, "kid_000000000000")
    assert one_line_error(result, 2) == (
        f"sealer: k8s-secrets: {ENV}: no key kid_000000000000: `sealer keys list {ENV}` lists its keys"
    )
    assert head(backend_repo) == start


def vault_backend(request: pytest.FixtureRequest) -> Backend:
    return Backend("vault", options_of("vault", request.getfixturevalue("vault_store")))


def deployed_on(repo: Path, backend: Backend) -> str:
    """staging moved to `backend`, rotated and finished: apiKey's active key id in the store."""
    configure(repo, backend)
    rotate(repo)
    finish(repo)
    return assert_one_active_per_name(store_of(repo).list(ENV))["apiKey"].key_id


@pytest.mark.parametrize("point", ["before-commit", "before-accept"])
def test_a_failure_then_a_rerun_completes(
    backend_repo: Path,
    keys: list[Any],
    point: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Before the commit everything is undone; past it (the store step fails) exit 4 says so,
    the old key is still valid, and running the command again finishes the incident."""
    kid = deployed_on(backend_repo, vault_backend(request))
    start = head(backend_repo)
    monkeypatch.setenv("SEALER_FAULT", point)
    failed = sealer(backend_repo, "keys", "compromised", ENV, kid, "--no-branch")
    monkeypatch.delenv("SEALER_FAULT")
    if point == "before-commit":
        assert head(backend_repo) == start and not (backend_repo / JOURNAL).exists()
    else:
        line = one_line_error(failed, 4)
        assert "committed on the current branch" in line and "injected fault at before-accept" in line
        assert head(backend_repo) != start and (backend_repo / JOURNAL).exists()
    assert statuses(store_of(backend_repo).list(ENV))[kid] == ACTIVE  # not revoked yet
    code, report = compromised(backend_repo, kid, "--no-branch")
    assert code == 0, report
    assert not (backend_repo / JOURNAL).exists()
    assert statuses(store_of(backend_repo).list(ENV))[kid] == REVOKED
    new = assert_one_active_per_name(ledger_records(backend_repo, ENV))["apiKey"]
    assert statuses(store_of(backend_repo).list(ENV))[new.key_id] == ACCEPTED
    assert git(backend_repo, "rev-list", "--count", f"{start}..HEAD").strip() == "1"  # one commit, not two


def test_killed_after_the_commit_then_a_rerun_completes(
    backend_repo: Path, keys: list[Any], request: pytest.FixtureRequest
) -> None:
    kid = deployed_on(backend_repo, vault_backend(request))
    start = head(backend_repo)
    done = run_sealer(
        backend_repo,
        "keys",
        "compromised",
        ENV,
        kid,
        "--no-branch",
        env={"SEALER_FAULT": "after-ref-move:kill"},
    )
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)
    assert (backend_repo / JOURNAL).exists() and statuses(store_of(backend_repo).list(ENV))[kid] == ACTIVE
    code, report = compromised(backend_repo, kid, "--no-branch")
    assert code == 0, report
    assert statuses(store_of(backend_repo).list(ENV))[kid] == REVOKED
    assert git(backend_repo, "rev-list", "--count", f"{start}..HEAD").strip() == "1"
    assert git(backend_repo, "status", "--porcelain") == ""


def test_a_key_the_store_lost_is_still_replaced(backend_repo: Path, request: pytest.FixtureRequest) -> None:
    """The store no longer holds the key (deleted behind sealer's back): the commit still
    revokes and rotates it, and the store step has nothing to revoke instead of failing forever."""
    vault = request.getfixturevalue("vault_env")
    backend = vault_backend(request)
    kid = deployed_on(backend_repo, backend)
    path = f"{backend.options['path']}/{ENV}"
    data = vault.read_direct("secret", path)
    vault.write_direct("secret", path, {"records": [r for r in data["records"] if r["key_id"] != kid]})
    code, report = compromised(backend_repo, kid, "--no-branch")
    assert code == 0 and report["left"] == [], report
    new = report["rotated"][0]["key_id"]
    assert kid not in statuses(store_of(backend_repo).list(ENV))
    assert statuses(store_of(backend_repo).list(ENV))[new] == ACCEPTED
    assert {r.key_id: r.status for r in ledger_records(backend_repo, ENV)}[kid] == REVOKED


def test_an_older_key_in_its_grace_window(backend_repo: Path, request: pytest.FixtureRequest) -> None:
    """The leaked key is the old one, still valid in its grace window: revoked at once in the
    store; the entry is rotated, its current key (not known to be leaked) valid until --finish."""
    old = deployed_on(backend_repo, vault_backend(request))
    rotate(backend_repo, "--grace", "7d")
    finish(backend_repo)
    current = assert_one_active_per_name(store_of(backend_repo).list(ENV))["apiKey"].key_id
    assert statuses(store_of(backend_repo).list(ENV))[old] == "grace"
    code, report = compromised(backend_repo, old, "--no-branch")
    assert code == 0, report
    new = report["rotated"][0]["key_id"]
    assert [(k["name"], k["previous_key_id"]) for k in report["rotated"]] == [("apiKey", current)]
    in_store = statuses(store_of(backend_repo).list(ENV))
    assert (in_store[old], in_store[current], in_store[new]) == (REVOKED, ACTIVE, ACCEPTED)
    in_ledger = {r.key_id: r.status for r in ledger_records(backend_repo, ENV)}
    assert (in_ledger[old], in_ledger[current], in_ledger[new]) == (REVOKED, REVOKED, ACTIVE)
    check = sealer(backend_repo, "check", ENV, "--drift", "-o", "json")
    assert [p for p in json.loads(check.stdout)["problems"] if p["rule"] == "store-drift"] == []
    finish(backend_repo)
    in_store = statuses(store_of(backend_repo).list(ENV))
    assert (in_store[current], in_store[new]) == (REVOKED, ACTIVE)


def test_the_text_report_holds_no_terminal_control(backend_repo: Path) -> None:
    """A commit subject or author name with ESC sequences cannot erase the report's lines."""
    rotate(backend_repo)
    kid = assert_one_active_per_name(ledger_records(backend_repo, ENV))["apiKey"].key_id
    git(backend_repo, "commit", "-q", "--amend", "-m", "evil\x1b[2K\x1b[1A\rsubject")  # the rotation's
    result = sealer(backend_repo, "keys", "compromised", ENV, kid, "--no-branch")
    assert result.exit_code in (0, 1), result.output
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "evil\\x1b[2K\\x1b[1A\\x0dsubject" in result.stdout


# -- a rerun for a key already handled (the operator retries) -----------------------------------


def incident_branches(repo: Path, kid: str) -> list[str]:
    return git(
        repo, "for-each-ref", "--format=%(refname:short)", f"refs/heads/sealer/revoke-{ENV}-{kid}-*"
    ).split()


def bare_remote(repo: Path, tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def test_a_rerun_after_it_succeeded_mints_no_second_key(backend_repo: Path) -> None:
    """On its own branch (the default) the checkout's ledger still holds the key valid: running the
    command again must say what the first run did, not rotate the entry a second time."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    code, first = compromised(backend_repo, old.key_id)
    assert code == 0 and not first["already_handled"], first
    start = head(backend_repo)
    code, again = compromised(backend_repo, old.key_id)
    assert code == 0 and again["already_handled"], again
    assert (again["branch"], again["commit"]) == (first["branch"], first["commit"])
    assert again["rotated"] == first["rotated"] and again["record"]["status"] == REVOKED
    assert incident_branches(backend_repo, old.key_id) == [first["branch"]]
    assert head(backend_repo) == start and git(backend_repo, "status", "--porcelain") == ""
    # Another spelling of the rerun (--no-branch, another --branch) is the same incident.
    text = sealer(backend_repo, "keys", "compromised", ENV, old.key_id, "--no-branch")
    assert text.exit_code == 0, text.output
    assert f"commit {first['commit'][:12]} on {first['branch']}" in text.stdout
    assert "already handled by an earlier run: no new key minted" in text.stdout
    assert head(backend_repo) == start and incident_branches(backend_repo, old.key_id) == [first["branch"]]


def test_a_rerun_rebuilds_the_description_where_git_holds_none(backend_repo: Path) -> None:
    """The incident's description a commit brought (`git add -f`) is anyone's text: the rerun
    writes the one its run wrote beside it, where Git holds nothing, and leaves that file be."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    code, first = compromised(backend_repo, old.key_id)
    assert code == 0 and not first["already_handled"], first
    described = Path(first["pr_body_file"])
    body = described.read_text()
    described.write_text("## Routine clean-up, nothing to check\n")
    git(backend_repo, "add", "-f", str(described.relative_to(backend_repo)))
    commit_all(backend_repo, "docs")
    code, again = compromised(backend_repo, old.key_id)
    assert code == 0 and again["already_handled"] and again["left"] == [], again
    rebuilt = Path(again["pr_body_file"])
    assert rebuilt == described.with_suffix(".rebuilt.md") and rebuilt.read_text() == body
    assert described.read_text() == "## Routine clean-up, nothing to check\n"


def test_a_rerun_from_the_incidents_own_branch_names_its_commit(backend_repo: Path) -> None:
    """Checked out on the incident's branch (the ledger there holds the key revoked), a rerun
    names the incident's commit and what it rotated, not a bare "is revoked"."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    code, first = compromised(backend_repo, old.key_id)
    assert code == 0 and not first["already_handled"], first
    git(backend_repo, "checkout", "-q", first["branch"])
    code, again = compromised(backend_repo, old.key_id)
    assert code == 0 and again["already_handled"], again
    assert (again["branch"], again["commit"], again["rotated"]) == (
        first["branch"],
        first["commit"],
        first["rotated"],
    )
    assert head(backend_repo) == first["commit"] and git(backend_repo, "status", "--porcelain") == ""
    # A revocation that is not this repository's own incident commit stays a plain "is revoked".
    git(backend_repo, "checkout", "-q", "-b", "copy", first["commit"])
    (backend_repo / ".git" / "sealer-made-commits").unlink()
    code, plain = compromised(backend_repo, old.key_id)
    assert code == 0 and not plain["already_handled"] and plain["commit"] is None, plain


def test_a_rerun_with_an_external_store_accepts_no_second_key(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    """The rerun accepts no second key; a store set back since (the key valid again) is revoked again."""
    vault = request.getfixturevalue("vault_env")
    backend = vault_backend(request)
    kid = deployed_on(backend_repo, backend)
    code, first = compromised(backend_repo, kid)
    assert code == 0, first
    path = f"{backend.options['path']}/{ENV}"
    data = vault.read_direct("secret", path)
    for record in data["records"]:
        record.update({"status": ACTIVE, "revoke_at": None} if record["key_id"] == kid else {})
    vault.write_direct("secret", path, data)
    code, again = compromised(backend_repo, kid)
    assert code == 0 and again["already_handled"] and again["commit"] == first["commit"], again
    assert again["store_revoked_outside_commit"] is True
    in_store = statuses(store_of(backend_repo).list(ENV))
    assert in_store[kid] == REVOKED
    assert sorted(k for k, s in in_store.items() if s == ACCEPTED) == [first["rotated"][0]["key_id"]]


def test_a_rerun_accepts_again_a_replacement_the_store_lost(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    """A store set back to before the incident (the key active, its replacement pending, never
    valid): the rerun revokes the key and accepts the replacement again, minting nothing."""
    vault = request.getfixturevalue("vault_env")
    backend = vault_backend(request)
    kid = deployed_on(backend_repo, backend)
    code, first = compromised(backend_repo, kid)
    assert code == 0, first
    replacement = first["rotated"][0]["key_id"]
    path = f"{backend.options['path']}/{ENV}"
    data = vault.read_direct("secret", path)
    for record in data["records"]:
        if record["key_id"] in (kid, replacement):
            record.update(status=ACTIVE if record["key_id"] == kid else PENDING, revoke_at=None)
    vault.write_direct("secret", path, data)
    code, again = compromised(backend_repo, kid)
    assert code == 0 and again["already_handled"] and again["commit"] == first["commit"], again
    in_store = statuses(store_of(backend_repo).list(ENV))
    assert (in_store[kid], in_store[replacement]) == (REVOKED, ACCEPTED)
    assert sorted(k for k, s in in_store.items() if s in (ACCEPTED, PENDING)) == [replacement]


def test_a_rerun_never_accepts_a_replacement_its_branch_revoked_since(
    backend_repo: Path, request: pytest.FixtureRequest
) -> None:
    """On the incident's branch a later commit revoked the replacement too (it leaked as well); a
    store set back since holds it pending. The rerun names the incident, yet must not make a key
    the checked-out ledger revoked valid again."""
    vault = request.getfixturevalue("vault_env")
    kid = deployed_on(backend_repo, vault_backend(request))
    code, first = compromised(backend_repo, kid)
    assert code == 0, first
    replacement = first["rotated"][0]["key_id"]
    git(backend_repo, "checkout", "-q", first["branch"])
    records = ledger.load(backend_repo, ENV)
    records = [replace(r, status=REVOKED) if r.key_id == replacement else r for r in records]
    ledger.save(backend_repo, ENV, records)
    commit_all(backend_repo, "the replacement leaked too")
    path = f"{vault_backend(request).options['path']}/{ENV}"
    data = vault.read_direct("secret", path)
    for record in data["records"]:
        if record["key_id"] == replacement:
            record.update(status=PENDING, revoke_at=None)
    vault.write_direct("secret", path, data)
    code, again = compromised(backend_repo, kid)
    assert code == 0 and again["already_handled"] and again["commit"] == first["commit"], again
    assert statuses(store_of(backend_repo).list(ENV))[replacement] != ACCEPTED, again


def test_a_rerun_after_a_failed_push_pushes_the_first_branch(
    backend_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push fails (a network blip): exit 4; the rerun finishes that incident's push from its
    journal and mints nothing."""
    rotate(backend_repo)
    remote = bare_remote(backend_repo, tmp_path)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    monkeypatch.setenv("SEALER_FAULT", "before-push")
    failed = sealer(backend_repo, "keys", "compromised", ENV, old.key_id, "--push", "origin")
    monkeypatch.delenv("SEALER_FAULT")
    assert "the push to origin failed" in one_line_error(failed, 4)
    [branch] = incident_branches(backend_repo, old.key_id)
    code, again = compromised(backend_repo, old.key_id, "--push", "origin")
    assert code == 0, again
    assert again["branch"] == branch and again["left"] == [] and not (backend_repo / JOURNAL).exists()
    assert incident_branches(backend_repo, old.key_id) == [branch]
    assert git(remote, "for-each-ref", "--format=%(refname:short)").split() == [branch]


def test_a_rerun_with_push_pushes_the_branch_the_first_run_made(backend_repo: Path, tmp_path: Path) -> None:
    rotate(backend_repo)
    remote = bare_remote(backend_repo, tmp_path)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    code, first = compromised(backend_repo, old.key_id)
    assert code == 0, first
    code, again = compromised(backend_repo, old.key_id, "--push", "origin")
    assert code == 0 and again["already_handled"] and again["left"] == [], again
    assert git(remote, "rev-parse", f"refs/heads/{first['branch']}").strip() == first["commit"]
    assert incident_branches(backend_repo, old.key_id) == [first["branch"]]


def test_a_rerun_whose_push_fails_says_to_run_it_again(backend_repo: Path, tmp_path: Path) -> None:
    rotate(backend_repo)
    remote = bare_remote(backend_repo, tmp_path)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    code, first = compromised(backend_repo, old.key_id)
    assert code == 0, first
    remote.rename(tmp_path / "gone.git")  # the remote is unreachable now
    line = one_line_error(sealer(backend_repo, "keys", "compromised", ENV, old.key_id, "--push", "origin"), 4)
    assert f"committed on branch {first['branch']}" in line and "the push to origin failed" in line
    assert f"run `sealer keys compromised {ENV} {old.key_id}` again" in line
    assert incident_branches(backend_repo, old.key_id) == [first["branch"]]


def test_a_pushed_branch_claiming_the_incident_does_not_stop_the_replacement(backend_repo: Path) -> None:
    """Anyone with push access could push a branch whose commit looks like the incident (with a key
    of their own making): only a local branch stands for an earlier run."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    code, first = compromised(backend_repo, old.key_id)
    assert code == 0, first
    git(backend_repo, "update-ref", f"refs/remotes/origin/{first['branch']}", first["commit"])
    git(backend_repo, "branch", "-q", "-D", first["branch"])
    code, again = compromised(backend_repo, old.key_id)
    assert code == 0 and not again["already_handled"] and again["commit"] != first["commit"], again


def test_a_branch_checked_out_from_anyone_claiming_the_incident_does_not_stop_it(
    backend_repo: Path, tmp_path: Path
) -> None:
    """A pull request's branch checked out locally (`gh pr checkout`) whose commit is shaped as the
    incident, made elsewhere (with a key of its author's making): only a commit a run made in this
    repository stands for an earlier run, so even the first run replaces the key."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    elsewhere = tmp_path / "elsewhere"
    git(tmp_path, "clone", "-q", str(backend_repo), str(elsewhere))
    code, forged = compromised(elsewhere, old.key_id)
    assert code == 0 and forged["branch"], forged
    git(backend_repo, "fetch", "-q", str(elsewhere), f"{forged['branch']}:pr-42")
    code, report = compromised(backend_repo, old.key_id)
    assert code == 0 and not report["already_handled"], report
    assert report["commit"] != forged["commit"] and report["branch"] != "pr-42", report


@pytest.mark.parametrize(
    ("step", "stop", "says"),
    [
        ("scan_history", KeyboardInterrupt(), "the search of the history was interrupted"),
        # which branches carry the key: git grep could not read one (an object missing)
        ("carrying", GitError("git grep: error: unable to read 1b26"), "the search of the history failed"),
    ],
    ids=["ctrl-c", "git-error"],
)
def test_a_report_stopped_past_the_commit_says_the_key_was_replaced(
    backend_repo: Path, monkeypatch: pytest.MonkeyPatch, step: str, stop: BaseException, says: str
) -> None:
    """Past the commit an interruption or a failure of the report is exit 4 (README), not 130 or
    2 as if nothing had happened; the rerun gives the report and mints no second key."""
    from sealer import incident

    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]

    def stopped(*args: object) -> None:
        raise stop

    real = getattr(incident, step)
    monkeypatch.setattr(incident, step, stopped)
    line = one_line_error(sealer(backend_repo, "keys", "compromised", ENV, old.key_id), 4)
    assert says in line
    [branch] = incident_branches(backend_repo, old.key_id)
    assert f"on {branch}" in line
    monkeypatch.setattr(incident, step, real)
    code, again = compromised(backend_repo, old.key_id)
    assert code == 0 and again["already_handled"] and again["branch"] == branch, again


def test_an_earlier_run_left_unfinished_is_finished_first_and_nothing_is_minted(
    backend_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `keys revoke` whose push failed left its journal: `keys compromised` finishes it first;
    while that still fails it stops with exit 4, that journal kept and no incident begun."""
    rotate(backend_repo)
    bare_remote(backend_repo, tmp_path)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    monkeypatch.setenv("SEALER_FAULT", "before-push")
    assert "the push to origin failed" in one_line_error(
        sealer(backend_repo, "keys", "revoke", ENV, old.key_id, "--push", "origin"), 4
    )
    journaled = (backend_repo / JOURNAL).read_text()
    branches = git(backend_repo, "for-each-ref", "--format=%(refname)", "refs/heads/")
    line = one_line_error(sealer(backend_repo, "keys", "compromised", ENV, old.key_id), 4)
    assert "the revocation of" in line and "the push to origin failed" in line, line
    assert json.loads((backend_repo / JOURNAL).read_text())["kind"] == json.loads(journaled)["kind"]
    assert git(backend_repo, "for-each-ref", "--format=%(refname)", "refs/heads/") == branches
    monkeypatch.delenv("SEALER_FAULT")
    code, report = compromised(backend_repo, old.key_id)
    assert code == 0 and not (backend_repo / JOURNAL).exists(), report


def test_an_incident_reverted_on_its_branch_does_not_stop_the_replacement(backend_repo: Path) -> None:
    """The branch's commit was reverted there since (the key valid again at the branch's tip): a
    rerun that names it leaves the key with no replacement anywhere."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    code, first = compromised(backend_repo, old.key_id)
    assert code == 0, first
    start = git(backend_repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    git(backend_repo, "checkout", "-q", first["branch"])
    git(backend_repo, "revert", "--no-edit", first["commit"])
    git(backend_repo, "checkout", "-q", start)
    code, again = compromised(backend_repo, old.key_id)
    assert code == 0 and not again["already_handled"] and again["commit"] != first["commit"], again


def test_a_local_branch_with_a_ledger_sealer_never_wrote_does_not_stop_the_incident(
    backend_repo: Path,
) -> None:
    """A branch checked out from anyone's pull request, its commit shaped like the incident's but
    its ledger unreadable (a status sealer never gives): the replacement goes ahead (it was exit 2)."""
    rotate(backend_repo)
    old = {r.name: r for r in ledger_records(backend_repo, ENV)}["apiKey"]
    start = git(backend_repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    git(backend_repo, "checkout", "-q", "-b", "pr-42")
    path = backend_repo / layout.ledger_file(ENV)
    path.write_text(path.read_text().replace('"status": "active"', '"status": "Revoked"'))
    message = f"sealer: compromised {ENV} key {old.key_id}\n\nSealer-Compromised-Key-Id: {old.key_id}"
    git(backend_repo, "commit", "-qam", message)
    git(backend_repo, "checkout", "-q", start)
    code, out = compromised(backend_repo, old.key_id)
    assert code == 0 and not out["already_handled"] and out["branch"] != "pr-42", out
