"""`sealer rotate` end to end in temp Git repos: the commit, the ledger, the values files,
stable diffs, interrupt safety (an exception or a SIGKILL at every fault point, then a
re-run), the lock, and no plaintext key anywhere Git keeps things."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import rotated_repos
from support.cli import sealer as cli
from support.git import branch, commit_all, git, head
from support.repos import (
    FAULT_POINTS,
    FINISH_FAULT_POINTS,
    MIGRATION_FAULT_POINTS,
    EnvSpec,
    active,
    all_plaintext_keys,
    assert_consistent,
    ledger_records,
    make_repo,
    places_holding,
    run_sealer,
    sealed_doc,
    set_env_option,
    stray_temps,
    unseal_values,
    values_subtree,
)

from sealer import apikey, config, forkpool, layout, ledger, lock
from sealer.errors import BadInput
from sealer.faults import InjectedFault
from sealer.records import ACCEPTED, ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, utcnow
from sealer.rotation import phases, plan, transaction

STAGING_FILES = {
    "sealed/staging/staging.yaml",
    "deploy/staging/values.yaml",
    "ledger/staging.yaml",
    "registry/staging/staging.yaml",  # the key registry (#16), in the same commit as the ledger
}
PRODUCTION_FILES = (
    "sealed/production/production.yaml",
    "deploy/production/values.yaml",
    "ledger/production.yaml",
    "registry/production/production.yaml",
)
# The GitOps store has nothing to register or accept; the index step runs only when the commit
# could not sync it (see the index.lock tests), the push step only with --push.
NOT_REACHED = {"after-register", "after-accept-one", "before-index", "before-push"}
EXTERNAL_ONLY = {"after-register", "after-accept-one"}
BEFORE_COMMIT = {"after-register", "before-temps", "before-journal", "before-rename", "before-commit"}
BRANCH_RE = re.compile(r"sealer/rotate-staging-\d{8}T\d{6}Z")

# The repo every test here rotates in: a copy of staging and production, each rotated once.
controllers, keys, template, repo = (
    rotated_repos.controllers,
    rotated_repos.keys,
    rotated_repos.template,
    rotated_repos.repo,
)


def snapshot(repo: Path, paths: Any) -> dict[str, bytes | None]:
    return {p: (repo / p).read_bytes() if (repo / p).exists() else None for p in paths}


def rotate_json(repo: Path, *args: str) -> dict[str, Any]:
    result = cli(repo, "rotate", *args, "--output", "json")
    assert result.exit_code == 0, (result.output, result.exception)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def files_of(repo: Path, rev: str = "HEAD") -> set[str]:
    return set(git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", rev).split())


def trailer(repo: Path, key: str) -> list[str]:
    return git(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly)").split()


# -- end to end ------------------------------------------------------------------------------


def test_rotation_end_to_end(repo: Path, keys: list[Any]) -> None:
    main_before, old = head(repo), active(ledger_records(repo, "staging"))
    production = snapshot(repo, PRODUCTION_FILES)
    data = rotate_json(repo, "staging")

    assert {"env", "namespace", "branch", "commit", "values_file", "pr_body_file", "keys"} <= set(data)
    assert (data["env"], data["namespace"], data["values_file"]) == (
        "staging",
        "staging",
        "deploy/staging/values.yaml",
    )
    [key] = data["keys"]
    assert set(key) == {"name", "key_id", "fingerprint", "previous_key_id", "expires"}
    assert (
        re.fullmatch(r"[0-9a-f]{64}", key["fingerprint"])
        and key["key_id"] == "kid_" + key["fingerprint"][:12]
    )
    assert (key["name"], key["previous_key_id"]) == ("apiKey", old.key_id)

    # the commit is on its own branch; the user stays on main, files as main has them
    assert BRANCH_RE.fullmatch(data["branch"]) and branch(repo) == "main" and head(repo) == main_before
    assert git(repo, "rev-parse", data["branch"]).strip() == data["commit"]
    assert git(repo, "rev-parse", f"{data['branch']}^").strip() == main_before
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "checkout", "-q", data["branch"])
    assert files_of(repo) == STAGING_FILES
    assert trailer(repo, "Sealer-Env") == ["staging"] and trailer(repo, "Sealer-Key-Id") == [key["key_id"]]

    new = active(ledger_records(repo, "staging"))
    assert (new.key_id, new.fingerprint) == (key["key_id"], key["fingerprint"])
    assert apikey.fingerprint(unseal_values(repo, "staging", keys)["apiKey"]) == new.fingerprint
    assert next(r for r in ledger_records(repo, "staging") if r.key_id == old.key_id).status == REVOKED
    assert snapshot(repo, PRODUCTION_FILES) == production

    body = Path(data["pr_body_file"])
    assert body.is_file() and key["key_id"] in body.read_text() and old.key_id in body.read_text()
    assert json.loads(body.with_suffix(".json").read_text())["commit"] == data["commit"]
    assert_consistent(repo, "staging", keys)


def test_old_key_revoked_or_in_grace_and_no_plaintext_anywhere(repo: Path, keys: list[Any]) -> None:
    first = rotate_json(repo, "staging", "--no-branch")["keys"][0]
    second = rotate_json(repo, "staging", "--no-branch", "--grace", "7d")["keys"][0]
    assert second["previous_key_id"] == first["key_id"] and branch(repo) == "main"
    records = {r.key_id: r for r in ledger_records(repo, "staging")}
    assert records[first["key_id"]].status == GRACE
    revoke_at = records[first["key_id"]].revoke_at
    assert revoke_at is not None and abs(revoke_at - (utcnow() + dt.timedelta(days=7))) < dt.timedelta(
        minutes=5
    )
    assert records[second["key_id"]].status == ACTIVE
    third = rotate_json(repo, "staging", "--no-branch")["keys"][0]
    records = {r.key_id: r for r in ledger_records(repo, "staging")}
    assert records[second["key_id"]].status == REVOKED and records[third["key_id"]].status == ACTIVE
    assert_consistent(repo, "staging", keys)

    # Every key ever sealed (4 staging, 1 production), by unsealing all history; none in Git.
    found = all_plaintext_keys(repo, keys)
    fingerprints = {apikey.fingerprint(k) for k in found}
    assert {r.fingerprint for r in ledger_records(repo, "staging")} | {
        r.fingerprint for r in ledger_records(repo, "production")
    } == fingerprints
    assert len(found) == 5
    assert places_holding(repo, found) == []


def test_the_search_for_plaintext_does_find_a_key_put_in_git(repo: Path, keys: list[Any]) -> None:
    """The no-plaintext check above can fail: a key written to any file is found."""
    found = all_plaintext_keys(repo, keys)
    (repo / "notes.txt").write_text(sorted(found)[0])
    commit_all(repo, "oops")
    assert "git log -p --all" in places_holding(repo, found)
    assert "git cat-file --batch-all-objects" in places_holding(repo, found)


def test_dry_run_writes_nothing(repo: Path) -> None:
    tree = {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    refs = git(repo, "for-each-ref")
    data = rotate_json(repo, "staging", "--dry-run")
    assert data["dry_run"] is True and data["commit"] is None and data["keys"][0]["name"] == "apiKey"
    assert {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*") if p.is_file()} == tree
    assert git(repo, "for-each-ref") == refs and branch(repo) == "main"


def test_no_branch_commits_on_the_current_branch(repo: Path) -> None:
    before = head(repo)
    data = rotate_json(repo, "staging", "--no-branch")
    assert data["branch"] is None and branch(repo) == "main"
    assert git(repo, "rev-parse", "main^").strip() == before and head(repo) == data["commit"]
    assert files_of(repo) == STAGING_FILES


def test_uncommitted_changes_name_each_file_once(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index without the files (GIT_INDEX_FILE naming a missing one) lists each as staged for
    deletion and as untracked: the refusal names it once (#14)."""
    before = head(repo)
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo.parent / "no-such-index"))
    result = cli(repo, "rotate", "staging", "--no-branch")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    named = line.split("uncommitted changes in ", 1)[1].split(": commit or stash", 1)[0].split(", ")
    assert "sealer.yaml" in named and len(named) == len(set(named)), line
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert head(repo) == before and git(repo, "status", "--porcelain") == ""


def test_named_branch_and_refused_names(repo: Path) -> None:
    assert rotate_json(repo, "staging", "--branch", "keys/staging-now")["branch"] == "keys/staging-now"
    assert branch(repo) == "main" and git(repo, "rev-parse", "-q", "--verify", "keys/staging-now")
    git(repo, "checkout", "-q", "keys/staging-now")
    refs = git(repo, "for-each-ref")
    refused = {
        "keys/staging-now": "branch keys/staging-now exists already",
        "bad..name": "'bad..name' is not a valid branch name",
        "@{-1}": "'@{-1}' is not a valid branch name",  # git reads it as the branch before (main)
        "keys-\udcff": "'keys-\\udcff' is not a valid branch name",  # argv bytes not UTF-8
    }
    for name, reason in refused.items():
        result = cli(repo, "rotate", "staging", "--branch", name)
        assert result.exit_code == 2 and reason in result.stderr, result.stderr
    assert git(repo, "for-each-ref") == refs
    assert cli(repo, "rotate", "staging", "--branch", "x", "--no-branch").exit_code == 2


def test_push_to_a_bare_remote(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "internal", str(remote))
    data = rotate_json(repo, "staging", "--push", "internal")
    assert git(remote, "rev-parse", f"refs/heads/{data['branch']}").strip() == data["commit"]
    assert files_of(remote, data["commit"]) == STAGING_FILES


@pytest.mark.parametrize(
    "spelling",
    [
        "vendor/mirror",
        "vendor/mirror/",
        "./vendor/mirror",
        "file://{root}/vendor/mirror",
        "file://localhost{root}/vendor/mirror",  # git ignores a file:// URL's host
        "file://%2F{root}/vendor/mirror",  # and decodes it
        "file://{encoded}/vendor/mirror",
        "mirror",  # a configured remote whose URL is that folder
    ],
)
def test_push_never_goes_to_a_repository_inside_the_work_tree(repo: Path, spelling: str) -> None:
    """A pull request can commit a bare repository with hooks: `--push vendor/mirror` (a remote
    name mistyped, or not configured on this runner) would run them here. Refused before the
    rotation, in one line; a path outside the work tree still works."""
    mirror = repo / "vendor" / "mirror"
    git(repo, "init", "-q", "--bare", str(mirror))
    hook = mirror / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch {repo.parent / 'pwned'}\n")
    hook.chmod(0o755)
    commit_all(repo, "a mirror")
    git(repo, "remote", "add", "mirror", "vendor/mirror")
    start = head(repo)
    result = cli(
        repo,
        "rotate",
        "staging",
        "--push",
        spelling.format(root=repo, encoded=f"/%{ord(str(repo)[1]):02X}{str(repo)[2:]}"),
    )
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "is a folder of this repository" in lines[0], lines
    assert not (repo.parent / "pwned").exists() and head(repo) == start
    assert git(repo, "for-each-ref", "refs/heads/sealer/").strip() == ""


def _age_ledger(repo: Path, env: str, days: int) -> None:
    records = [
        dataclasses.replace(r, created=r.created - dt.timedelta(days=days)) for r in ledger_records(repo, env)
    ]
    ledger.save(repo, env, records)
    commit_all(repo, f"age {env} keys")


def test_due_rotates_only_keys_past_their_period(repo: Path, keys: list[Any]) -> None:
    _age_ledger(repo, "staging", 31)  # staging rotates every 30 days, production every 90
    production, before = snapshot(repo, PRODUCTION_FILES), head(repo)
    data = rotate_json(repo, "--due", "--no-branch")
    assert data["env"] == "staging" and files_of(repo) == STAGING_FILES
    assert snapshot(repo, PRODUCTION_FILES) == production
    assert_consistent(repo, "staging", keys)
    again = cli(repo, "rotate", "--due", "--no-branch")
    assert again.exit_code == 0 and "nothing to rotate" in again.stdout
    assert git(repo, "rev-parse", "HEAD~1").strip() == before


def test_due_rotates_a_key_that_expires_before_its_period_ends(repo: Path, keys: list[Any]) -> None:
    """A key made under a shorter lifetime (rotationDays raised since, or a ledger edit) expires
    before its rotation period ends: `--due` passed it by while `check` reported it expired."""
    records = [
        dataclasses.replace(r, expires=utcnow() - dt.timedelta(days=1))
        for r in ledger_records(repo, "staging")
    ]
    ledger.save(repo, "staging", records)
    commit_all(repo, "staging keys made under a shorter lifetime")
    data = rotate_json(repo, "--due", "--no-branch")
    assert data["env"] == "staging" and files_of(repo) == STAGING_FILES
    assert_consistent(repo, "staging", keys)


@pytest.mark.parametrize(
    ("lifetime", "left", "due"),
    [
        (365, 89, False),  # made under a 90-day lifetime, keyLifetimeDays raised since: its period does
        (365, 29, True),  # less than a period (30 days) left: due now, or it expires before rotated
        (40, 11, False),  # the configured margin (10 days) is below a period: that margin counts
        (40, 10, True),
    ],
)
def test_due_within_the_roll_out_margin_of_at_most_one_period(
    repo: Path, lifetime: int, left: int, due: bool
) -> None:
    """A key made a day ago under a shorter lifetime: due when it expires within the roll-out
    margin (keyLifetimeDays - rotationDays, at most one rotation period), so raising
    keyLifetimeDays does not rotate every current key at once."""
    now = utcnow()
    env = dataclasses.replace(
        config.load(repo).env("staging"), keys=("apiKey",), rotation_days=30, key_lifetime_days=lifetime
    )
    made, expires = now - dt.timedelta(days=1), now + dt.timedelta(days=left)
    record = KeyRecord("staging", "apiKey", apikey.key_id("0" * 64), "0" * 64, made, expires, ACTIVE, "")
    assert (plan.due_keys(env, [record], now) == ["apiKey"]) is due


def test_due_uses_the_given_time(repo: Path, keys: list[Any]) -> None:
    request = plan.Request(envs=(), due=True, no_branch=True)
    later = utcnow() + dt.timedelta(days=100)
    assert phases.rotate(config.load(repo), request, now=utcnow()).envs == []
    result = phases.rotate(config.load(repo), request, now=later)
    assert [e.env for e in result.envs] == ["staging", "production"]
    assert files_of(repo) == STAGING_FILES | set(PRODUCTION_FILES)
    for env in ("staging", "production"):
        assert_consistent(repo, env, keys)


def test_due_over_everything_skips_environments_that_pin_no_certificate(repo: Path, keys: list[Any]) -> None:
    with config.edit(repo) as doc:  # an environment added to sealer.yaml, its controller not pinned yet
        doc["environments"]["qa"] = {
            "namespace": "qa",
            "secretName": "engine-api-key",
            "valuesFile": "deploy/qa/values.yaml",
        }
    git(repo, "commit", "-qam", "Add qa")
    _age_ledger(repo, "staging", 31)
    data = rotate_json(repo, "--due", "--no-branch")
    assert data["env"] == "staging" and not (repo / "ledger/qa.yaml").exists()
    named = cli(repo, "rotate", "qa", "--due", "--no-branch")  # named explicitly: still an error
    assert named.exit_code == 2 and "qa pins no certificate" in named.output


def test_no_commit_then_commit_then_rerun_activates(repo: Path, keys: list[Any]) -> None:
    before = head(repo)
    data = rotate_json(repo, "staging", "--no-commit")
    assert data["commit"] is None and data["branch"] is None and head(repo) == before
    assert {line[3:] for line in git(repo, "status", "--porcelain").splitlines()} == STAGING_FILES
    waiting = cli(repo, "rotate")
    assert waiting.exit_code == 2 and "waits for its commit" in waiting.stderr
    commit_all(repo, "rotate staging by hand")
    done = cli(repo, "rotate")
    assert done.exit_code == 0, done.output
    assert active(ledger_records(repo, "staging")).key_id == data["keys"][0]["key_id"]
    assert_consistent(repo, "staging", keys)


def test_no_commit_waiting_on_a_file_git_ignores_says_to_add_it_with_force(repo: Path) -> None:
    """`git add -A` (what "commit" means to most) leaves an ignored file out: the rotation kept
    waiting, told to commit what was seemingly committed."""
    values = "deploy/staging/values.yaml"
    git(repo, "rm", "-q", values)  # the rotation writes it anew
    (repo / ".gitignore").write_text("deploy/\n")
    commit_all(repo, "values ignored")
    rotate_json(repo, "staging", "--no-commit")
    commit_all(repo, "rotate staging by hand")
    waiting = cli(repo, "rotate")
    assert waiting.exit_code == 2 and f"(`git add -f` {values}: git ignores it)" in waiting.stderr
    git(repo, "add", "-f", values)
    git(repo, "commit", "-qm", "the values file too")
    assert cli(repo, "rotate").exit_code == 0


def test_second_rotation_keeps_other_ciphertext_byte_for_byte(repo: Path, keys: list[Any]) -> None:
    set_env_option(repo, "staging", "keys", ["apiKey", "adminKey"])
    commit_all(repo, "staging manages two keys")
    rotate_json(repo, "staging", "--no-branch")
    admin = sealed_doc(repo, "staging")["spec"]["encryptedData"]["adminKey"]
    production = snapshot(repo, PRODUCTION_FILES)
    data = rotate_json(repo, "staging", "--no-branch", "--key", "apiKey")
    assert [k["name"] for k in data["keys"]] == ["apiKey"] and files_of(repo) == STAGING_FILES
    assert sealed_doc(repo, "staging")["spec"]["encryptedData"]["adminKey"] == admin
    assert values_subtree(repo, "staging")["encryptedData"]["adminKey"] == admin
    assert snapshot(repo, PRODUCTION_FILES) == production
    changed = [
        line
        for line in git(
            repo, "diff", "--no-textconv", "-U0", "HEAD~1", "HEAD", "--", "sealed", "deploy"
        ).splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed and not [line for line in changed if "adminKey" in line or admin in line]
    assert {line.split(":")[0].strip("+- ") for line in changed} <= {
        "apiKey",
        "keyId",
        "fingerprintPrefix",
        "created",
        "expires",
        "checksum",
    }
    assert_consistent(repo, "staging", keys)
    assert cli(repo, "rotate", "staging", "--key", "nope").exit_code == 2


def test_lock_stops_a_second_rotation(repo: Path) -> None:
    before, tree = head(repo), snapshot(repo, STAGING_FILES)
    with lock.hold(Path(git(repo, "rev-parse", "--absolute-git-dir").strip())):
        result = cli(repo, "rotate", "staging")
    assert result.exit_code == 2 and result.stdout == ""
    assert "another sealer rotation is running in this repo" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert head(repo) == before and snapshot(repo, STAGING_FILES) == tree


# -- a dry run in a read-only checkout ---------------------------------------------------------

# Linux capabilities by which root writes through mode bits (CI runs as root): dropped from the
# bounding set before sealer starts, a folder without write bits is read-only to root too.
_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 24, 1, 2, 3


def _without_root_overrides() -> None:
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # without CAP_SETPCAP it fails: `_freeze` tells


def _run_read_only(repo: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`argv` in `repo` by a process that cannot write through a folder's missing write bits."""
    return subprocess.run(
        list(argv),
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        preexec_fn=_without_root_overrides,
    )


def _sealer_in(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run_read_only(repo, sys.executable, "-m", "sealer", *args)


@pytest.fixture
def read_only(repo: Path) -> Iterator[Path]:
    """`repo`, to be made read-only with `_freeze` (write bits given back afterwards)."""
    try:
        yield repo
    finally:
        for path in (repo, *repo.rglob("*")):
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _freeze(repo: Path) -> None:
    """Every file and folder of `repo` without write bits: a read-only checkout to `_sealer_in`
    (checked, so the tests below cannot pass for a checkout that was writable after all)."""
    for path in (repo, *repo.rglob("*")):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    probe = "import os, sys; os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY)"
    tried = _run_read_only(repo, sys.executable, "-c", probe, str(repo / ".git" / "probe"))
    if tried.returncode == 0:
        pytest.skip("root that may not drop CAP_DAC_OVERRIDE (no CAP_SETPCAP) writes any folder")
    assert "PermissionError" in tried.stderr, tried.stderr


def _everything(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("lock_file", ["left by an earlier run", "never made"])
def test_a_dry_run_works_in_a_checkout_it_cannot_write(read_only: Path, lock_file: str) -> None:
    """A dry run writes nothing, so a read-only CI workspace (or a checkout of another user's)
    must not stop it at the lock it cannot create: it goes on (holding the lock shared where the
    file exists). A real rotation there is still refused at the lock, nothing changed."""
    lock_path = read_only / ".git" / "sealer.lock"
    if lock_file == "never made":
        lock_path.unlink(missing_ok=True)
    else:
        lock_path.touch()
    _freeze(read_only)
    before = _everything(read_only)
    dry = _sealer_in(read_only, "rotate", "staging", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    data = json.loads(dry.stdout)
    assert data["dry_run"] is True and data["commit"] is None and data["keys"][0]["name"] == "apiKey"
    real = _sealer_in(read_only, "rotate", "staging")
    assert real.returncode == 2 and real.stdout == "", real.stderr
    assert real.stderr.startswith("sealer: cannot take the lock") and real.stderr.count("\n") == 1
    assert _everything(read_only) == before


def test_a_dry_run_in_a_checkout_it_cannot_write_still_waits_for_a_running_rotation(read_only: Path) -> None:
    with lock.hold(read_only / ".git"):  # taken while it can be: a rotation running as the owner
        _freeze(read_only)
        dry = _sealer_in(read_only, "rotate", "staging", "--dry-run")
    assert dry.returncode == 2 and dry.stdout == "", dry.stderr
    assert dry.stderr.startswith("sealer: another sealer rotation is running in this repo (pid ")


def test_a_dry_run_in_a_checkout_it_cannot_write_still_refuses_an_interrupted_run(read_only: Path) -> None:
    git(read_only, "remote", "add", "origin", str(read_only.parent / "gone.git"))  # the push fails
    left = cli(read_only, "rotate", "staging", "--push", "origin")
    assert left.exit_code == 4, left.output
    _freeze(read_only)
    before = _everything(read_only)
    dry = _sealer_in(read_only, "rotate", "staging", "--dry-run", "-o", "json")
    assert dry.returncode == 2 and dry.stdout == "", dry.stderr
    assert "run `sealer rotate --resume` first" in dry.stderr and dry.stderr.count("\n") == 1
    assert _everything(read_only) == before


# -- fault injection: the GitOps default ------------------------------------------------------


def staging_files(repo: Path) -> set[str]:
    """What a rotation of staging writes: no key registry when its store is not k8s-secrets."""
    if config.load(repo).env("staging").registry is None:
        return STAGING_FILES - {"registry/staging/staging.yaml"}
    return STAGING_FILES


def _assert_all_or_nothing(repo: Path, before: dict[str, bytes | None]) -> bool:
    """The rotated files are all as they were, or all rotated. Returns True when rotated."""
    now = snapshot(repo, before)
    same = [p for p in before if now[p] == before[p]]
    assert len(same) in (0, len(before)), f"half rotated: {same} unchanged"
    return not same


def _after_rerun(repo: Path, keys: list[Any], old_key_id: str, count: int) -> None:
    """Re-run `sealer rotate staging`: one rotation in all (`count` ledger records), consistent."""
    result = cli(repo, "rotate", "staging", "--no-branch")
    assert result.exit_code == 0, (result.output, result.exception)
    assert_consistent(repo, "staging", keys)
    records = ledger_records(repo, "staging")
    assert len(records) == count and {r.key_id: r.status for r in records}[old_key_id] == REVOKED
    assert staging_files(repo) <= files_of(repo)


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_fault_exception_then_rerun(
    repo: Path, keys: list[Any], point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, old, start = snapshot(repo, STAGING_FILES), active(ledger_records(repo, "staging")), head(repo)
    count = len(ledger_records(repo, "staging")) + 1
    monkeypatch.setenv("SEALER_FAULT", point)
    result = cli(repo, "rotate", "staging", "--no-branch")
    if point in BEFORE_COMMIT and point not in NOT_REACHED:  # rolled back: as if nothing happened
        assert isinstance(result.exception, InjectedFault), (point, result.output)
        assert snapshot(repo, STAGING_FILES) == before and head(repo) == start and branch(repo) == "main"
        assert stray_temps(repo) == [] and not (repo / ".git" / "sealer-rotation.json").exists()
        assert active(ledger_records(repo, "staging")) == old
    elif point in ("before-accept", "before-outputs"):  # committed; a step left to the journal: exit 4
        assert result.exit_code == 4, (result.output, result.exception)
        step = (
            "accepting the new keys" if point == "before-accept" else "writing the pull-request description"
        )
        assert f"{step} in the key store failed: injected fault" in result.stderr or (
            f"{step} failed: injected fault" in result.stderr
        )
        assert _assert_all_or_nothing(repo, before) and head(repo) != start
        assert git(repo, "status", "--porcelain") == "" and (repo / ".git" / "sealer-rotation.json").exists()
    else:  # not reached, or past the ref move (rolled forward at once): the rotation finished
        assert result.exit_code == 0, (point, result.output, result.exception)
        assert len(ledger_records(repo, "staging")) == count
        assert not (repo / ".git" / "sealer-rotation.json").exists()
        assert_consistent(repo, "staging", keys)
        return
    monkeypatch.delenv("SEALER_FAULT")
    _after_rerun(repo, keys, old.key_id, count)


def test_git_failing_to_store_the_commit_rolls_everything_back(repo: Path, keys: list[Any]) -> None:
    before, old, start = snapshot(repo, STAGING_FILES), active(ledger_records(repo, "staging")), head(repo)
    packs = repo / ".git" / "objects" / "pack"
    packs.rmdir()
    packs.write_text("not a folder: fast-import cannot write its pack\n")
    result = cli(repo, "rotate", "staging", "--no-branch")
    assert result.exit_code == 2 and result.stderr.startswith("sealer: git fast-import: "), result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(repo, STAGING_FILES) == before and head(repo) == start
    assert stray_temps(repo) == [] and not (repo / ".git" / "sealer-rotation.json").exists()
    assert git(repo, "for-each-ref", "refs/sealer/") == ""
    packs.unlink()
    packs.mkdir()
    assert rotate_json(repo, "staging", "--no-branch")["keys"][0]["previous_key_id"] == old.key_id
    assert_consistent(repo, "staging", keys)


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_fault_sigkill_then_rerun(repo: Path, keys: list[Any], point: str) -> None:
    before, old, start = snapshot(repo, STAGING_FILES), active(ledger_records(repo, "staging")), head(repo)
    count = len(ledger_records(repo, "staging")) + 1
    done = run_sealer(
        repo, "rotate", "staging", "--no-branch", env={"SEALER_TEST": "1", "SEALER_FAULT": f"{point}:kill"}
    )
    killed = done.returncode == -signal.SIGKILL
    assert killed == (point not in NOT_REACHED), (point, done.returncode, done.stderr)
    rotated = _assert_all_or_nothing(repo, before)
    if killed and point in ("after-register", "before-temps", "before-journal", "before-rename"):
        assert not rotated and head(repo) == start
    if rotated and head(repo) == start:  # renamed, not committed yet: the journal must know
        assert (repo / ".git" / "sealer-rotation.json").exists()
    if not killed:  # nothing to register or activate: the rotation simply finished
        assert done.returncode == 0 and len(ledger_records(repo, "staging")) == count
        assert_consistent(repo, "staging", keys)
        return
    _after_rerun(repo, keys, old.key_id, count)


# -- fault injection with an external key store in the loop ----------------------------------


def _store(repo: Path) -> Any:
    from sealer.backends import open_store

    env = config.load(repo).env("staging")
    return open_store(env.backend_kind, env.backend_options, repo)


def _backend_repo(repo: Path, kind: str, options: dict[str, str]) -> Path:
    """staging moved to an external store and rotated once through it."""
    set_env_option(repo, "staging", "backend", {"kind": kind, "options": options})
    commit_all(repo, f"staging keys in {kind}")
    result = cli(repo, "rotate", "staging", "--no-branch")
    assert result.exit_code == 0, (result.output, result.exception)
    finished = cli(repo, "rotate", "--finish")  # deployed: the store's first active key
    assert finished.exit_code == 0, (finished.output, finished.exception)
    return repo


def _committed_key_ids(repo: Path) -> set[str]:
    text = git(repo, "show", "HEAD:ledger/staging.yaml")
    return set(re.findall(r"kid_[0-9a-f]{12}", text))


def _check_store_safe(repo: Path, old_key_id: str) -> None:
    """Before the deployed phase the old key stays the active one; a key the store accepts
    beside it is one the commit delivers."""
    records = {r.key_id: r for r in _store(repo).list("staging")}
    assert [r.key_id for r in records.values() if r.status == ACTIVE] == [old_key_id]
    accepted = {r.key_id for r in records.values() if r.status == ACCEPTED}
    assert accepted <= _committed_key_ids(repo)


def _check_store_final(repo: Path, old_key_id: str) -> None:
    """Accepted after the re-run; `rotate --finish` (deployed) activates it and revokes the old."""
    records = {r.key_id: r for r in _store(repo).list("staging")}
    new = active(ledger_records(repo, "staging")).key_id
    assert (records[old_key_id].status, records[new].status) == (ACTIVE, ACCEPTED)
    finished = cli(repo, "rotate", "--finish", "-o", "json")
    assert finished.exit_code == 0, finished.output
    assert [a["key_id"] for a in json.loads(finished.stdout)["activated"]] == [new]
    records = {r.key_id: r for r in _store(repo).list("staging")}
    assert records[old_key_id].status == REVOKED
    assert [r.key_id for r in records.values() if r.status == ACTIVE] == [
        active(ledger_records(repo, "staging")).key_id
    ]
    assert not [r for r in records.values() if r.status == PENDING]


def _fault_with_store(
    repo: Path, keys: list[Any], point: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, before = active(ledger_records(repo, "staging")), snapshot(repo, staging_files(repo))
    count = len(ledger_records(repo, "staging")) + 1
    assert [r.key_id for r in _store(repo).list("staging") if r.status == ACTIVE] == [old.key_id]
    reached = point not in ("before-index", "before-push")
    if mode == "kill":
        done = run_sealer(repo, "rotate", "staging", "--no-branch", env={"SEALER_FAULT": f"{point}:kill"})
        assert done.returncode == (-signal.SIGKILL if reached else 0), (done.returncode, done.stderr)
    else:
        monkeypatch.setenv("SEALER_FAULT", point)
        result = cli(repo, "rotate", "staging", "--no-branch")
        monkeypatch.delenv("SEALER_FAULT")
        if point in BEFORE_COMMIT:  # rolled back, the pending keys removed
            assert isinstance(result.exception, InjectedFault), result.output
        else:  # past the ref move: rolled forward, or the store step left for the re-run (exit 4)
            want = 4 if point in ("before-accept", "after-accept-one", "before-outputs") else 0
            assert result.exit_code == want, (point, result.output, result.exception)
    _assert_all_or_nothing(repo, before)
    _check_store_safe(repo, old.key_id)
    if (repo / ".git" / "sealer-rotation.json").exists() or len(ledger_records(repo, "staging")) < count:
        _after_rerun(repo, keys, old.key_id, count)
    assert_consistent(repo, "staging", keys)
    _check_store_final(repo, old.key_id)


@pytest.mark.parametrize("mode", ["raise", "kill"])
@pytest.mark.parametrize("point", FAULT_POINTS)
def test_fault_with_vault_in_the_loop(
    repo: Path, keys: list[Any], point: str, mode: str, vault_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend_repo(repo, "vault", {"mount": "secret", "path": f"sealer/t-{uuid.uuid4().hex[:12]}"})
    _fault_with_store(repo, keys, point, mode, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("point", FAULT_POINTS)
def test_fault_sigkill_with_postgres_in_the_loop(
    repo: Path, keys: list[Any], point: str, pg_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend_repo(repo, "postgres", {"schema": f"t_{uuid.uuid4().hex[:12]}"})
    _fault_with_store(repo, keys, point, "kill", monkeypatch)


def test_no_commit_activates_in_the_store_only_after_the_commit(
    repo: Path, keys: list[Any], vault_env: Any
) -> None:
    _backend_repo(repo, "vault", {"mount": "secret", "path": f"sealer/t-{uuid.uuid4().hex[:12]}"})
    old = active(ledger_records(repo, "staging"))
    new = rotate_json(repo, "staging", "--no-commit")["keys"][0]["key_id"]
    statuses = {r.key_id: r.status for r in _store(repo).list("staging")}
    assert (statuses[old.key_id], statuses[new]) == (ACTIVE, PENDING)
    commit_all(repo, "rotate staging by hand")
    assert cli(repo, "rotate").exit_code == 0
    assert {r.key_id: r.status for r in _store(repo).list("staging")}[new] == ACCEPTED
    _check_store_final(repo, old.key_id)
    assert_consistent(repo, "staging", keys)


MANY_ENVS = [f"env{i}" for i in range(2 * plan.MIN_ENVS_PER_WORKER)]


@pytest.fixture
def many_envs(controllers: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Enough environments that planning them forks a worker (forced on a one-core machine)."""
    monkeypatch.setattr(forkpool, "cores", lambda: 2)
    monkeypatch.setattr(forkpool, "can_fork", lambda: True)
    return make_repo(tmp_path / "many", [EnvSpec(env, controllers["staging"]) for env in MANY_ENVS])


def test_many_environments_are_planned_on_every_core(
    many_envs: Path, keys: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[tuple[int, int]] = []
    spawn = forkpool._spawn

    def recorded(*args: Any) -> tuple[int, int]:
        spawned.append(spawn(*args))
        return spawned[-1]

    monkeypatch.setattr(forkpool, "_spawn", recorded)
    data = rotate_json(many_envs, "--due", "--no-branch")
    assert len(spawned) == 1  # one worker planned half the environments
    assert [e["env"] for e in data["rotations"]] == MANY_ENVS
    for env in MANY_ENVS:
        assert_consistent(many_envs, env, keys)
    key_ids = [k["key_id"] for e in data["rotations"] for k in e["keys"]]
    assert len(set(key_ids)) == len(MANY_ENVS)


def recorded_sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files each early send hands to Git, in order, until the test ends (sent as before)."""
    sent: list[str] = []
    send = transaction.Sending.send

    def recorded(self: transaction.Sending, files: dict[str, plan.FileChange]) -> None:
        sent.extend(files)
        send(self, files)

    monkeypatch.setattr(transaction.Sending, "send", recorded)
    return sent


def test_many_environments_on_their_own_branch_go_to_git_while_the_worker_plans(
    many_envs: Path, keys: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = recorded_sends(monkeypatch)
    before = head(many_envs)
    data = rotate_json(many_envs, "--due")
    committed = files_of(many_envs, data["branch"])
    assert set(sent) < committed  # this process's share, sent before the worker's came back
    assert sent and len(sent) == len(set(sent))
    assert head(many_envs) == before and git(many_envs, "status", "--porcelain") == ""
    git(many_envs, "checkout", "-q", data["branch"])
    for env in MANY_ENVS:
        assert_consistent(many_envs, env, keys)


def test_a_failed_early_send_is_redone_and_refusals_keep_their_order(
    many_envs: Path, keys: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    send_files, calls = transaction._send_files, []

    def fails_first(*args: Any) -> dict[str, bytes]:
        calls.append(args)
        if len(calls) == 1:
            raise BadInput("refused while planning")
        return send_files(*args)

    monkeypatch.setattr(transaction, "_send_files", fails_first)
    before = head(many_envs)
    result = cli(many_envs, "rotate", "--due", "--branch", "bad..name")
    assert result.exit_code == 2 and "bad..name" in result.stderr  # the branch's refusal, as before
    assert calls and head(many_envs) == before and stray_packs(many_envs) == []
    calls.clear()
    data = rotate_json(many_envs, "--due")  # the failed send is redone where the commit began
    git(many_envs, "checkout", "-q", data["branch"])
    for env in MANY_ENVS:
        assert_consistent(many_envs, env, keys)


def test_a_refusal_after_the_early_sends_stops_git_and_leaves_no_pack(
    many_envs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = recorded_sends(monkeypatch)
    branches = git(many_envs, "branch", "--list")
    result = cli(many_envs, "rotate", "--due", "--branch", "bad..name")
    assert result.exit_code == 2 and "bad..name" in result.stderr and sent
    assert git(many_envs, "branch", "--list") == branches and git(many_envs, "status", "--porcelain") == ""
    assert stray_packs(many_envs) == []


def stray_packs(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / ".git" / "objects" / "pack").glob("tmp_*"))


def test_a_bad_environment_planned_by_a_worker_stops_the_rotation(
    many_envs: Path, controllers: dict[str, Path]
) -> None:
    last = MANY_ENVS[-1]  # in the worker's share
    (many_envs / "certs" / f"{last}.pem").write_bytes((controllers["rogue"] / "tls.crt").read_bytes())
    commit_all(many_envs, "a cert that no longer matches its pin")
    before, tree = head(many_envs), git(many_envs, "status", "--porcelain")
    result = cli(many_envs, "rotate", "--due", "--no-branch")
    assert result.exit_code == 2 and f"does not match the fingerprint pinned for {last}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert head(many_envs) == before and git(many_envs, "status", "--porcelain") == tree
    assert stray_temps(many_envs) == []


def test_a_killed_rotation_leaves_no_temps_behind_another_env_rotation(repo: Path, keys: list[Any]) -> None:
    # In the checkout (a commit on its own branch writes no temps there).
    done = run_sealer(repo, "rotate", "staging", "--no-branch", env={"SEALER_FAULT": "before-journal:kill"})
    assert done.returncode == -signal.SIGKILL and len(stray_temps(repo)) == 4  # with the registry
    assert cli(repo, "rotate", "production", "--no-branch").exit_code == 0
    assert stray_temps(repo) == []
    assert_consistent(repo, "production", keys)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("namespace", "staging-two"), ("scope", "namespace-wide"), ("secretName", "other-key")],
)
def test_rotating_every_key_reseals_for_a_new_target(
    repo: Path, keys: list[Any], setting: str, value: str
) -> None:
    set_env_option(repo, "staging", setting, value)
    commit_all(repo, f"staging {setting} {value}")
    result = cli(repo, "rotate", "staging", "--no-branch")
    assert result.exit_code == 0, result.output
    meta = sealed_doc(repo, "staging")["metadata"]
    sub = values_subtree(repo, "staging")
    assert value in (meta["name"], meta["namespace"], *meta.get("annotations", {})) or sub["scope"] == value
    assert_consistent(repo, "staging", keys)


# -- the values file fast path (render.splice_values) -----------------------------------------

VALUES_VARIANTS = {
    "sealer last": "# Helm values\nreplicaCount: 1\n{sealer}",
    "keys after": "replicaCount: 1\n{sealer}image:\n  tag: v1\n",
    "comment after": "replicaCount: 1\n{sealer}# about the image\nimage:\n  tag: v1\n",
    "indented comment after": "replicaCount: 1\n{sealer}  # trailing\nimage: 1\n",
    "blank lines after": "{sealer}\n\nimage: 1\n",
    "comment on the key": "a: 1\n{sealer_comment}b: 2\n",
    "four-space indent": "resources:\n    limits:\n        cpu: 1\n{sealer4}",
    # no `sealer:` key yet (a first rotation): the subtree is appended
    "as sealer init writes it": "# Helm values for staging.\n# Yours to edit.\nreplicaCount: 1\n",
    "no key yet, comment last": "replicaCount: 1\n# the end\n",
    "no key yet, four-space indent": "resources:\n    limits:\n        cpu: 1\n",
}


@pytest.mark.parametrize("variant", list(VALUES_VARIANTS))
def test_values_fast_path_writes_what_the_round_trip_writes(
    repo: Path, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealer import render

    old_sub = (repo / "deploy/staging/values.yaml").read_text().split("sealer:\n", 1)[1]
    new_sub = "".join(line[2:] for line in old_sub.splitlines(keepends=True)).replace("kid_", "kid_0")
    text = VALUES_VARIANTS[variant].format(
        sealer="sealer:\n" + old_sub,
        sealer_comment="sealer:  # managed by sealer\n" + old_sub,
        sealer4="sealer:\n" + "".join("  " + line for line in old_sub.splitlines(keepends=True)),
    )
    fast = render.splice_values(text, new_sub)
    monkeypatch.setattr(render, "splice_values", lambda *args: None)
    assert fast is not None and fast == render.render_values(text, new_sub, "values.yaml")


@pytest.mark.parametrize(
    "text",
    [
        "sealer: {a: 1}\n",  # flow style
        "a: 1\nsealer:\n  x: 1\n---\nb: 2\n",  # two documents
        "sealer:\r\n  x: 1\r\n",  # CRLF
        "sealer:\n  x: &b 1\nother: *b\n",  # an anchor in the block, used after it
        '"sealer": {}\nother: 1\n',  # a key written some other way: appending would repeat it
        "a: 1",  # no newline after the last line
        "a: 1\n...\n",  # a document end marker: what follows would be a second document
    ],
)
def test_values_fast_path_declines_what_it_cannot_do_safely(text: str) -> None:
    from sealer import render

    assert render.splice_values(text, "secretName: x\n") is None


def test_render_after_rotation_is_a_no_op(repo: Path) -> None:
    assert cli(repo, "render", "staging").exit_code == 0
    assert git(repo, "status", "--porcelain") == ""


def test_every_fault_point_in_the_code_is_injected_above() -> None:
    import sealer

    sources = "".join(p.read_text() for p in Path(sealer.__file__).parent.rglob("*.py"))
    assert set(re.findall(r'faults\.point\("([^"]+)"\)', sources)) == set(
        FAULT_POINTS + FINISH_FAULT_POINTS + MIGRATION_FAULT_POINTS
    )


@pytest.mark.parametrize("command", ["revoke", "compromised"])
def test_a_key_of_another_environment_is_named_as_such(repo: Path, command: str) -> None:
    """A tired operator types the wrong ENV: the key is unknown there (exit 2, nothing changed),
    and the line says which environment's ledger holds it."""
    key_id = next(r.key_id for r in ledger.load(repo, "production") if r.status == ACTIVE)
    refs = git(repo, "show-ref")
    result = cli(repo, "keys", command, "staging", key_id)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"sealer: k8s-secrets: staging: no key {key_id}; it is a key of production\n"
    assert git(repo, "show-ref") == refs
    unknown = cli(repo, "keys", command, "staging", "kid_000000000000")
    assert unknown.stderr == (  # where to look its ids up
        "sealer: k8s-secrets: staging: no key kid_000000000000: `sealer keys list staging` lists its keys\n"
    )


@pytest.mark.parametrize("command", ["rotate", "revoke", "compromised"])
def test_uncommitted_sealer_yaml_stops_every_key_change(repo: Path, command: str) -> None:
    """The stores and targets come from the working tree's sealer.yaml, the commit from HEAD's:
    with the two apart (a hand edit, a move between stores killed after its commit) a change
    could reach one store while its commit names another. Nothing changes, exit 2."""
    key_id = next(r.key_id for r in ledger.load(repo, "staging") if r.status == ACTIVE)
    args = {
        "rotate": ["rotate", "staging"],
        "revoke": ["keys", "revoke", "staging", key_id],
        "compromised": ["keys", "compromised", "staging", key_id],
    }[command]
    config_text = (repo / "sealer.yaml").read_text()
    (repo / "sealer.yaml").write_text(config_text + "# an edit not committed\n")
    watched = ["sealer.yaml", layout.ledger_file("staging")]
    before, refs = snapshot(repo, watched), git(repo, "show-ref")
    result = cli(repo, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr == "sealer: uncommitted changes in sealer.yaml: commit or stash them first\n"
    assert snapshot(repo, watched) == before and before[watched[1]] is not None
    assert git(repo, "show-ref") == refs
    # A rotation's commit on its own branch began before the check: its git is stopped, its
    # temp pack removed, no journal written.
    assert list((repo / ".git" / "objects" / "pack").glob("tmp_*")) == []
    assert list((repo / ".git").glob("sealer-rotation*")) == []
