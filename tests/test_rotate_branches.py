"""`sealer rotate` commits on its own branch and leaves the user where they started; a second
rotation of an environment whose previous rotation is not merged yet is refused (--replace)."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
from support.cli import sealer as cli
from support.git import branch, commit_all, git, head
from support.repos import copy_repo, keypairs, rotated_template, run_sealer, set_env_option

from sealer import git as sealer_git
from sealer.errors import BadInput
from sealer.rotation import plan

STAGING = [
    "sealed/staging/staging.yaml",
    "deploy/staging/values.yaml",
    "ledger/staging.yaml",
    "registry/staging/staging.yaml",  # the key registry (#16)
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    controllers = keypairs(tmp_path_factory, "staging", "production")
    return rotated_template(tmp_path_factory, controllers, folder="branches")


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return copy_repo(template, tmp_path / "repo")


def snapshot(repo: Path) -> dict[str, bytes]:
    return {rel: (repo / rel).read_bytes() for rel in STAGING}


def rotate(repo: Path, *args: str) -> dict:
    result = cli(repo, "rotate", *args, "-o", "json")
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_the_user_stays_on_their_branch_with_their_files(repo: Path) -> None:
    start, files = head(repo), snapshot(repo)
    result = cli(repo, "rotate", "staging")
    assert result.exit_code == 0, result.output
    assert "you are still on main" in result.stdout
    assert (branch(repo), head(repo), snapshot(repo)) == ("main", start, files)
    assert git(repo, "status", "--porcelain") == ""
    rotation = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/sealer/").split()
    assert len(rotation) == 1 and git(repo, "rev-parse", f"{rotation[0]}^").strip() == start
    changed = git(repo, "diff", "--name-only", "main", rotation[0]).split()
    assert sorted(changed) == sorted(STAGING)


def test_a_second_rotation_before_the_merge_is_refused(repo: Path) -> None:
    first = rotate(repo, "staging")
    refs, files = git(repo, "for-each-ref"), snapshot(repo)
    result = cli(repo, "rotate", "staging")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"sealer: staging has a rotation on branch {first['branch']} that main does not hold yet: "
        "merge it first (or delete the branch), or give --replace to rotate again from main "
        "and close its pull request\n"
    )
    assert git(repo, "for-each-ref") == refs and snapshot(repo) == files  # nothing changed
    assert cli(repo, "rotate", "production").exit_code == 0  # another environment is free


def test_a_dry_run_says_the_run_would_be_refused(repo: Path) -> None:
    """A dry run stacks nothing (exit 0), but it shows no plan as if the run would follow it:
    its one stderr line says the run would be refused, and why (the refusal's own words);
    with --replace it would not be."""
    first = rotate(repo, "staging")
    dry = cli(repo, "rotate", "staging", "--dry-run")
    assert (dry.exit_code, dry.stdout.startswith("would rotate staging: ")) == (0, True), dry.output
    assert dry.stderr == (
        f"sealer: would be refused: staging has a rotation on branch {first['branch']} that main "
        "does not hold yet: merge it first (or delete the branch), or give --replace to rotate "
        "again from main and close its pull request\n"
    )
    assert json.loads(cli(repo, "rotate", "staging", "--dry-run", "-o", "json").stdout)["refused"] == (
        dry.stderr.removeprefix("sealer: would be refused: ").removesuffix("\n")
    )  # a JSON reader is told too
    assert cli(repo, "rotate", "staging", "--dry-run", "--replace").stderr == ""
    assert cli(repo, "rotate", "production", "--dry-run").stderr == ""  # nothing waits there
    assert rotate(repo, "production", "--dry-run")["refused"] is None


def test_a_dry_run_over_uncommitted_changes_says_the_run_would_be_refused(repo: Path) -> None:
    """The run refuses uncommitted changes to sealer.yaml or a file it writes (exit 2): its dry
    run shows the plan and says so in the refusal's own words, in text and in JSON."""
    (repo / "sealer.yaml").write_text((repo / "sealer.yaml").read_text() + "# not committed\n")
    real = cli(repo, "rotate", "staging")
    assert real.exit_code == 2, real.output
    dry = cli(repo, "rotate", "staging", "--dry-run")
    assert (dry.exit_code, dry.stdout.startswith("would rotate staging: ")) == (0, True), dry.output
    assert dry.stderr == real.stderr.replace("sealer: ", "sealer: would be refused: ", 1)
    assert real.stderr == "sealer: uncommitted changes in sealer.yaml: commit or stash them first\n"
    data = rotate(repo, "staging", "--dry-run", "--replace")  # --replace does not let it by
    assert data["refused"] == "uncommitted changes in sealer.yaml: commit or stash them first"
    git(repo, "checkout", "--", "sealer.yaml")
    (repo / STAGING[0]).write_bytes((repo / STAGING[0]).read_bytes() + b"# edited\n")
    assert rotate(repo, "staging", "--dry-run")["refused"] == (
        f"uncommitted changes in {STAGING[0]}: commit or stash them first"
    )


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_a_file_git_does_not_look_at_refuses_the_run_and_its_dry_run(repo: Path, flag: str) -> None:
    """`git status` shows no change to a file so flagged: its local edit passed the clean-file
    check and went into the rotation's commit."""
    values = "deploy/staging/values.yaml"
    (repo / values).write_bytes((repo / values).read_bytes() + b"# local only\n")
    git(repo, "update-index", flag, values)
    before = head(repo)
    real = cli(repo, "rotate", "staging", "--no-branch")
    assert (real.exit_code, head(repo)) == (2, before), real.output
    assert real.stderr.startswith(f"sealer: git is told not to look at {values} (assume-unchanged, skip")
    dry = cli(repo, "rotate", "staging", "--dry-run")
    refused = real.stderr.replace("sealer: ", "sealer: would be refused: ", 1)
    assert (dry.exit_code, dry.stderr) == (0, refused)
    # each `git update-index` the refusal names, run as written, clears the flag (given
    # --no-assume-unchanged and --no-skip-worktree at once, git cleared the first alone)
    for command in re.findall(r"`git update-index ([^`]*)`", real.stderr):
        git(repo, "update-index", *command.replace("PATH", values).split())
    assert git(repo, "ls-files", "-v", "--", values).startswith("H ")


def test_a_sparse_checkout_leaving_a_file_out_is_told_how_to_bring_it_back(repo: Path) -> None:
    """A sparse checkout marks what it leaves out skip-worktree: `update-index --no-skip-worktree`
    alone is undone by its next reapply, so the refusal names `git sparse-checkout` too."""
    git(repo, "update-index", "-q", "--refresh")  # a copied template's stat data: else kept as edited
    git(repo, "sparse-checkout", "set", "--no-cone", "/*", "!/deploy/")
    assert not (repo / "deploy").exists()
    real = cli(repo, "rotate", "staging", "--no-branch")
    assert real.exit_code == 2, real.output
    assert "outside a sparse checkout" in real.stderr and "`git sparse-checkout disable`" in real.stderr


def test_an_untracked_file_git_ignores_refuses_the_run_and_its_dry_run(repo: Path) -> None:
    """`git status` lists no ignored file: a values file .gitignore names, untracked and edited
    locally, passed the clean-file check and the rotation committed what it held."""
    values = "deploy/staging/values.yaml"
    git(repo, "rm", "-q", "--cached", values)
    (repo / ".gitignore").write_text("deploy/\n")
    commit_all(repo, "untracked values")
    (repo / values).write_bytes((repo / values).read_bytes() + b"# local only\n")
    before = head(repo)
    real = cli(repo, "rotate", "staging", "--no-branch")
    assert (real.exit_code, head(repo)) == (2, before), real.output
    assert real.stderr == (
        f"sealer: untracked files git ignores in {values} (`git add -A` and `git stash` leave them out): "
        "`git add -f` and commit them first (`git check-ignore -v PATH` names the rule)\n"
    )
    assert rotate(repo, "staging", "--dry-run")["refused"] == real.stderr[len("sealer: ") : -1]
    (repo / "sealer.yaml").write_text((repo / "sealer.yaml").read_text() + "# not committed\n")
    both = cli(repo, "rotate", "staging", "--no-branch")  # each told what its own kind needs
    assert both.stderr.startswith("sealer: uncommitted changes in sealer.yaml: commit or stash them first; ")
    assert both.stderr.endswith(real.stderr[len("sealer: ") :]), both.stderr


def test_due_everywhere_rotates_the_others_and_skips_one_whose_rotation_waits(repo: Path) -> None:
    """A hand-run `--due` is not stopped for every environment by one unmerged rotation: that
    one is skipped, named with its branch, and the run is partly done (exit 4)."""
    for env in ("staging", "production"):  # a new entry: due in both
        set_env_option(repo, env, "keys", ["apiKey", "webhookKey"])
    commit_all(repo, "a second entry")
    waiting = rotate(repo, "staging")["branch"]
    result = cli(repo, "rotate", "--due", "-o", "json")
    assert result.exit_code == 4, (result.output, result.exception)
    data = json.loads(result.stdout)
    assert (data["env"], data["skipped"]) == ("production", {"staging": waiting})
    assert result.stderr == (
        f"sealer: rotated production, but skipped staging, whose rotation waits on branch {waiting}: "
        "merge it, then run `sealer rotate --due` again\n"
    )
    changed = git(repo, "diff", "--name-only", "main", data["branch"]).split()
    assert changed and all("production" in path for path in changed)
    dry = cli(repo, "rotate", "--due", "--dry-run")  # both wait now: a dry run only says so
    assert (dry.exit_code, dry.stdout) == (0, "nothing to rotate\n")
    assert dry.stderr.startswith("sealer: would skip ") and data["branch"] in dry.stderr
    refs, files = git(repo, "for-each-ref"), snapshot(repo)
    refused = cli(repo, "rotate", "--due")  # every due environment waits: nothing lands, so no exit 4
    assert (refused.exit_code, refused.stdout) == (2, "")
    assert refused.stderr.count("\n") == 1 and "has a rotation on branch " in refused.stderr, refused.stderr
    assert (git(repo, "for-each-ref"), snapshot(repo)) == (refs, files)


def test_a_dry_run_shows_the_skipped_branch_name_inert(repo: Path) -> None:
    """A branch name may hold a line separator or a bidirectional control (Git allows any
    non-ASCII): the dry run's skipped line shows them escaped, as the partly-done line does."""
    set_env_option(repo, "staging", "keys", ["apiKey", "webhookKey"])  # a new entry: due
    commit_all(repo, "a second entry")
    waiting = rotate(repo, "staging")["branch"]
    hostile = "sealer/x\u2028forged\u202ez"
    git(repo, "branch", "-m", waiting, hostile)
    dry = cli(repo, "rotate", "--due", "--dry-run")
    assert dry.exit_code == 0, (dry.output, dry.exception)
    assert "\u2028" not in dry.stderr and "\u202e" not in dry.stderr, dry.stderr
    assert "sealer/x\\u2028forged\\u202ez" in dry.stderr, dry.stderr


@pytest.mark.parametrize("merge", [("merge", "-q", "--no-edit"), ("merge", "-q", "--squash")])
def test_merged_rotations_no_longer_block(repo: Path, merge: tuple[str, ...]) -> None:
    first = rotate(repo, "staging")
    git(repo, *merge, first["branch"])
    if "--squash" in merge:
        git(repo, "commit", "-q", "--no-verify", "-m", "squashed")
    second = rotate(repo, "staging")
    assert second["keys"][0]["previous_key_id"] == first["keys"][0]["key_id"]


def test_replace_rotates_again_from_the_current_branch(repo: Path) -> None:
    first = rotate(repo, "staging")
    second = rotate(repo, "staging", "--replace")
    assert second["branch"] != first["branch"] and branch(repo) == "main"
    assert second["keys"][0]["previous_key_id"] == first["keys"][0]["previous_key_id"]  # both from main


@pytest.mark.parametrize("point", ["before-commit", "after-ref-move", "before-accept", "before-outputs"])
def test_killed_then_rerun_ends_on_the_start_branch(repo: Path, point: str) -> None:
    start, files = head(repo), snapshot(repo)
    done = run_sealer(repo, "rotate", "staging", env={"SEALER_TEST": "1", "SEALER_FAULT": f"{point}:kill"})
    assert done.returncode == -signal.SIGKILL, done.stderr
    again = cli(repo, "rotate", "staging")
    assert again.exit_code == 0, again.output
    assert (branch(repo), head(repo), snapshot(repo)) == ("main", start, files)
    assert git(repo, "status", "--porcelain") == ""
    assert len(git(repo, "for-each-ref", "refs/heads/sealer/").splitlines()) == 1  # one rotation


@pytest.mark.parametrize("command", [("rotate", "staging"), ("keys", "revoke", "staging", "{old}")])
def test_a_branch_of_the_users_choice_is_known_as_sealers_own(repo: Path, command: tuple[str, ...]) -> None:
    """A --branch name could be any branch's: the commit on it says it is sealer's own (drift and
    `rotate --finish` must not read it as the main line), and only there. Merged into main (a
    merge commit or a rebase), main is not one; a branch that merely names itself so is not."""
    from sealer import branches, ledger

    old = ledger.load(repo, "staging")[-1].key_id
    args = [part.format(old=old) for part in command]
    result = cli(repo, *args, "--branch", "review/keys", "-o", "json")
    assert result.exit_code == 0, result.output
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Sealer-Branch,valueonly)", "review/keys")
    assert trailers.split() == ["review/keys"]
    assert branches.is_own(repo, "review/keys") and not branches.is_own(repo, "main")
    git(repo, "branch", "-q", "review/other", "review/keys")  # the trailer names another branch
    assert not branches.is_own(repo, "review/other")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "review/keys")
    assert not branches.is_own(repo, "main")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    git(repo, "rebase", "-q", "review/keys")
    assert head(repo) == git(repo, "rev-parse", "review/keys").strip() and not branches.is_own(repo, "main")
    default = rotate(repo, "production")["branch"]
    assert default.startswith("sealer/rotate-") and branches.is_own(repo, default)


@pytest.mark.parametrize("via", ["fast-forward", "merge-title"])
def test_a_forged_trailer_on_main_does_not_make_it_sealers_own(repo: Path, via: str) -> None:
    """Anyone's pull request may end a commit message with `Sealer-Branch: main`: fast-forwarded
    (or squashed, or rebased) onto main, or as the merge commit's body (a forge puts the pull
    request's title there), it had `rotate --finish` refuse on main and drift read main's keys
    as never landed. Only sealer's own kind of commit (one that changes a ledger, not a merge)
    says whose branch it is."""
    from sealer import branches

    forged = "Sealer-Branch: main"
    if via == "fast-forward":
        git(repo, "checkout", "-q", "-b", "docs")
        (repo / "NOTES.md").write_text("typo fixed\n")
        git(repo, "add", "NOTES.md")
        git(repo, "commit", "-q", "--no-verify", "-m", f"docs: fix a typo\n\n{forged}")
        git(repo, "checkout", "-q", "main")
        git(repo, "merge", "-q", "--ff-only", "docs")
    else:
        rotation = rotate(repo, "staging")["branch"]
        git(repo, "merge", "-q", "--no-ff", "-m", f"Merge pull request #7\n\n{forged}", rotation)
    assert forged in git(repo, "log", "-1", "--format=%B") and not branches.is_own(repo, "main")
    assert cli(repo, "rotate", "--finish", "-o", "json").exit_code == 0
    git(repo, "checkout", "-q", "--detach", "main")
    assert cli(repo, "rotate", "--finish", "-o", "json").exit_code == 0


def test_a_rotation_known_only_through_a_remote_whose_name_has_a_slash(repo: Path, tmp_path: Path) -> None:
    """A remote's name may hold a slash (team/origin): its copy of a rotation branch, the only
    branch holding a detached checkout, is still sealer's own, and `rotate --finish` there is
    refused (it read the branch as `origin/sealer/rotate-…`, not a rotation, and ran)."""
    remote = tmp_path / "team.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "team/origin", str(remote))
    rotation = rotate(repo, "staging", "--push", "team/origin")["branch"]
    git(repo, "fetch", "-q", "team/origin")
    git(repo, "branch", "-q", "-D", rotation)
    git(repo, "checkout", "-q", "--detach", f"team/origin/{rotation}")
    refused = cli(repo, "rotate", "--finish")
    assert refused.exit_code == 2 and f"detached at rotation branch {rotation}" in refused.stderr, (
        refused.stderr
    )


def test_a_tag_named_like_the_rotation_branch_does_not_hide_it(repo: Path) -> None:
    """Anyone who may push a tag can name one like the (predictable) rotation branch: git then
    shortens the checked-out branch to heads/sealer/rotate-…, no rotation branch by its name,
    and `rotate --finish` ran there, activating keys no reviewer approved."""
    rotation = rotate(repo, "staging")["branch"]
    git(repo, "tag", rotation, "main")
    git(repo, "checkout", "-q", rotation)
    refused = cli(repo, "rotate", "--finish")
    assert refused.exit_code == 2 and f"{rotation} is a rotation branch" in refused.stderr, refused.stderr


def test_a_branch_whose_history_git_cannot_read_is_an_error_not_anyones(repo: Path) -> None:
    """`is_own` reads a branch's commits for sealer's trailer: git failing there (a corrupt
    object) is an error in one line, never "not a rotation branch" (drift would read its keys as
    landed, `rotate --finish` go ahead on it); review's read of the range fails alike. A branch
    that is not there is still none of sealer's."""
    from sealer import branches
    from sealer.errors import GitError

    git(repo, "checkout", "-q", "-b", "topic")
    for name in ("one", "two"):
        (repo / f"{name}.txt").write_text(f"{name}\n")
        git(repo, "add", f"{name}.txt")
        git(repo, "commit", "-q", "-m", name)
    loose = repo / ".git/objects" / (oid := git(repo, "rev-parse", "HEAD~1").strip())[:2] / oid[2:]
    loose.chmod(0o644)
    loose.write_bytes(b"not zlib")  # the commit below the tip: its ref is fine, its history not
    for read in (lambda: branches.is_own(repo, "topic"), lambda: branches.claims(repo, "main..topic")):
        with pytest.raises(GitError) as raised:
            read()
        assert str(raised.value).startswith("git log: ") and "\n" not in str(raised.value)
    assert not branches.is_own(repo, "no-such-branch")


# -- rotations waiting on the remote: what a CI job's fresh clone holds -------------------------


def with_remote(repo: Path, tmp_path: Path) -> Path:
    """`repo` with a second due entry in each environment, its main pushed to a bare `origin`."""
    for env in ("staging", "production"):
        set_env_option(repo, env, "keys", ["apiKey", "webhookKey"])
    commit_all(repo, "a second entry")
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return remote


def fresh_clone(remote: Path, tmp_path: Path) -> Path:
    """A clone with every branch of the remote as origin/…, none local but main (a CI checkout)."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    return clone


@pytest.mark.parametrize(
    ("push", "named"),
    [((), ()), (("--push", "origin"), ()), (("--push", "URL"), ()), ((), ("--branch", "keys/staging"))],
)
def test_due_skips_a_rotation_waiting_on_the_remote(
    repo: Path, tmp_path: Path, push: tuple[str, ...], named: tuple[str, ...]
) -> None:
    """The scheduled job runs in a fresh clone: a rotation whose pull request waits is only a
    remote-tracking branch there. `--due` skips its environment as a local branch makes it do,
    where it rotated it again every run and superseded the open pull request. A --branch name
    is sealer's by its commit's trailer, read on the remote's copy. A --push URL (or path)
    watches origin as no --push does: git keeps no copies of its branches."""
    remote = with_remote(repo, tmp_path)
    push = tuple(str(remote) if arg == "URL" else arg for arg in push)
    waiting = rotate(repo, "staging", *named, "--push", "origin")["branch"]
    clone = fresh_clone(remote, tmp_path)
    result = cli(clone, "rotate", "--due", *push, "-o", "json")
    assert result.exit_code == 4, (result.output, result.exception)
    data = json.loads(result.stdout)
    assert (data["env"], data["skipped"]) == ("production", {"staging": f"origin/{waiting}"})
    assert f"skipped staging, whose rotation waits on branch origin/{waiting}: " in result.stderr
    refused = cli(clone, "rotate", "staging", *push)  # named by hand: refused alike, saying how to go on
    assert refused.exit_code == 2 and refused.stderr == (
        f"sealer: staging has a rotation on branch origin/{waiting} that main does not hold yet: merge "
        "it first (or, when it is deleted there, `git fetch --prune`), or give --replace to rotate "
        "again from main and close its pull request\n"
    )
    dry = rotate(clone, "staging", *push, "--dry-run")  # a dry run, with the run's --push, says so
    assert f"sealer: {dry['refused']}\n" == refused.stderr, dry
    fixes = [p["fix"] for p in json.loads(cli(clone, "check", "staging", "-o", "json").stdout)["problems"]]
    assert any(
        f.startswith(f"merge branch origin/{waiting} first (a rotation of staging waits") for f in fixes
    ), fixes


def test_a_squash_merged_remote_rotation_does_not_wait(repo: Path, tmp_path: Path) -> None:
    """Merged by content (a squash, a rebase) is merged, on the remote as here."""
    remote = with_remote(repo, tmp_path)
    waiting = rotate(repo, "staging", "--key", "apiKey", "--push", "origin")["branch"]
    git(repo, "merge", "-q", "--squash", waiting)
    git(repo, "commit", "-q", "--no-verify", "-m", "squashed")
    git(repo, "push", "-q", "origin", "main")
    git(repo, "branch", "-q", "-D", waiting)  # as the Git host leaves it: the branch stays there
    data = rotate(fresh_clone(remote, tmp_path), "--due")  # webhookKey is due in staging still
    assert (sorted(r["env"] for r in data["rotations"]), data["skipped"]) == (["production", "staging"], {})


@pytest.mark.parametrize("where", ["another branch", "another remote", "origin/fork"])
def test_only_sealers_own_branches_of_the_watched_remote_wait(repo: Path, tmp_path: Path, where: str) -> None:
    """A branch of origin that is not sealer's (a feature branch that took a rotation in), or
    sealer's branch on another remote (a contributor's fork: anyone's), holds no rotation off:
    else whoever may push there could keep a due key from ever being rotated."""
    remote = with_remote(repo, tmp_path)
    waiting = rotate(repo, "staging", "--key", "apiKey")["branch"]
    if where == "another branch":
        git(repo, "push", "-q", "origin", f"{waiting}:refs/heads/feature/keys")
    clone = fresh_clone(remote, tmp_path)
    if where != "another branch":  # a remote named origin/fork keeps its copies under origin/ too
        fork = tmp_path / "fork.git"
        git(tmp_path, "clone", "-q", "--bare", str(remote), str(fork))
        git(repo, "push", "-q", str(fork), waiting)
        name = "fork" if where == "another remote" else where
        git(clone, "remote", "add", name, str(fork))
        git(clone, "fetch", "-q", name)
    data = rotate(clone, "--due", "--push", "origin")
    assert (sorted(r["env"] for r in data["rotations"]), data["skipped"]) == (["production", "staging"], {})


def test_a_remote_rotation_deleted_there_waits_until_pruned(repo: Path, tmp_path: Path) -> None:
    """A stale copy (the branch deleted on the remote, its pull request closed) holds the
    rotation off as `rotate --finish` reads it (not abandoned) until a `git fetch --prune`;
    --replace rotates without waiting."""
    remote = with_remote(repo, tmp_path)
    waiting = rotate(repo, "staging", "--push", "origin")["branch"]
    clone = fresh_clone(remote, tmp_path)
    git(repo, "push", "-q", "origin", "--delete", waiting)
    assert cli(clone, "rotate", "staging").exit_code == 2
    assert rotate(clone, "staging", "--replace", "--dry-run")["env"] == "staging"
    git(clone, "fetch", "-q", "--prune")
    assert rotate(clone, "staging")["env"] == "staging"


def test_many_remote_branches_read_each_ledger_once(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monorepo's clone holds thousands of remote branches, and `check` (the pre-commit hook)
    asks for the waiting rotations whenever a key is due: the ledgers read are the few distinct
    ones among them, not each branch's of each environment (a clone of 3,000 branches and 20
    environments took 3 s a commit)."""
    from sealer import git as sealer_git

    remote = with_remote(repo, tmp_path)
    waiting = rotate(repo, "staging", "--key", "apiKey", "--push", "origin")["branch"]
    clone = fresh_clone(remote, tmp_path)
    tips = [  # unmerged work on main as it is and as before production's rotation (another ledger)
        git(clone, "commit-tree", "-p", base, "-m", "feature", f"{base}^{{tree}}").strip()
        for base in ("HEAD", "HEAD~2")
    ]
    made = "".join(f"create refs/remotes/origin/feature/f{i} {tips[i % 2]}\n" for i in range(300))
    git(clone, "update-ref", "--stdin", data=made.encode())
    read: list[str] = []
    reading = sealer_git.read_blobs
    monkeypatch.setattr(sealer_git, "read_blobs", lambda root, revs: read.extend(revs) or reading(root, revs))
    fixes = [p["fix"] for p in json.loads(cli(clone, "check", "-o", "json").stdout)["problems"]]
    assert any(f.startswith(f"merge branch origin/{waiting} first") for f in fixes), fixes
    assert len(read) <= 3 * 2, read  # HEAD's, the rotation's and the older ledger of each environment
    read.clear()
    dry = cli(clone, "rotate", "--due", "--dry-run")
    assert f"would skip staging, whose rotation waits on branch origin/{waiting}" in dry.stderr, dry.output
    assert len(read) <= 3 * 2, read


@pytest.mark.parametrize("where", ["here", "on the remote"])
def test_a_rotation_branch_naming_a_missing_commit_is_an_error(
    repo: Path, tmp_path: Path, where: str
) -> None:
    """A rotation's branch whose commit git lacks (a broken clone, a hand-edited packed-refs)
    might hold the rotation that waits: `git for-each-ref --no-merged` leaves it out without a
    word, and the environment was rotated again. Refused in one line instead."""
    remote = with_remote(repo, tmp_path)
    waiting = rotate(repo, "staging", "--key", "apiKey", *(() if where == "here" else ("--push", "origin")))[
        "branch"
    ]
    root = repo if where == "here" else fresh_clone(remote, tmp_path)
    ref = f"refs/heads/{waiting}" if where == "here" else f"refs/remotes/origin/{waiting}"
    git(root, "pack-refs", "--all")
    packed = root / ".git/packed-refs"
    tip = git(root, "rev-parse", ref).strip()
    packed.write_text(packed.read_text().replace(f"{tip} {ref}\n", f"{'1' * 40} {ref}\n"))
    for args in (("rotate", "staging"), ("rotate", "--due", "--dry-run")):
        refused = cli(root, *args)
        assert refused.exit_code == 2 and refused.stderr.count("\n") == 1, refused.output
        assert refused.stderr.startswith("sealer: git for-each-ref: ") and ref in refused.stderr, (
            refused.stderr
        )


@pytest.mark.parametrize("minutes", [10, 0, -10])
def test_a_replaced_rotation_left_on_the_remote_waits_no_more(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minutes: int
) -> None:
    """`--replace` closes the old pull request (with --open-pr) and leaves its branch on the
    remote: once the replacement is merged, that rotation can never be merged, and it held the
    environment back for good (--due skipped it, check's fix said to merge it). Judged by key
    ids, not times: a replacement made in the same second, or on a machine whose clock is
    behind the CI runner's, replaces it as well."""
    import datetime as dt

    from sealer.rotation import phases

    remote = with_remote(repo, tmp_path)
    made = phases.utcnow()
    monkeypatch.setattr(phases, "utcnow", lambda: made)
    replaced = rotate(repo, "staging", "--key", "apiKey", "--push", "origin")["branch"]
    later = made + dt.timedelta(minutes=minutes)  # the replacement's clock
    monkeypatch.setattr(phases, "utcnow", lambda: later)
    replacement = rotate(repo, "staging", "--key", "apiKey", "--replace", "--push", "origin")["branch"]
    monkeypatch.undo()
    git(repo, "merge", "-q", "--no-edit", replacement)
    git(repo, "push", "-q", "origin", "main")
    clone = fresh_clone(remote, tmp_path)
    assert f"origin/{replaced}" in git(clone, "branch", "-r")
    fixes = [p["fix"] for p in json.loads(cli(clone, "check", "staging", "-o", "json").stdout)["problems"]]
    assert "sealer rotate staging --key webhookKey" in fixes, fixes
    data = rotate(clone, "--due")  # webhookKey is due in staging still
    assert (sorted(r["env"] for r in data["rotations"]), data["skipped"]) == (["production", "staging"], {})


def test_a_rotation_waits_though_main_holds_a_key_of_a_later_time(repo: Path) -> None:
    """A key main holds from before the branch, made on a machine whose clock ran ahead (a
    `created` time after the branch's new key), does not make the branch's rotation a replaced
    one: the branch holds that key, so nothing merged since rotated its entry again."""
    import datetime as dt

    from sealer.rotation import phases

    ahead = phases.utcnow() + dt.timedelta(days=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(phases, "utcnow", lambda: ahead)
        rotate(repo, "staging", "--no-branch")
    waiting = rotate(repo, "staging")["branch"]
    refused = cli(repo, "rotate", "staging")
    assert refused.exit_code == 2 and f"on branch {waiting} " in refused.stderr, refused.output


def test_a_rotation_of_several_environments_replaced_in_one_waits_in_none(repo: Path, tmp_path: Path) -> None:
    """One branch rotating staging and production, replaced by a merged `rotate staging
    --replace` (its pull request closed, the branch kept by the Git host): it can no longer be
    merged, so production's rotation waits on it no more either, where --due skipped production
    for good."""
    remote = with_remote(repo, tmp_path)
    replaced = rotate(repo, "staging", "production", "--push", "origin")["branch"]
    replacement = rotate(repo, "staging", "--replace")["branch"]
    git(repo, "merge", "-q", "--no-edit", replacement)
    git(repo, "push", "-q", "origin", "main")
    clone = fresh_clone(remote, tmp_path)
    assert f"origin/{replaced}" in git(clone, "branch", "-r")
    data = rotate(clone, "--due")  # production's webhookKey is due: main never issued it
    assert (data["env"], data["skipped"]) == ("production", {}), data


def test_a_ledger_too_large_to_read_is_not_read_and_proves_nothing(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone who may push a branch to origin may push a ledger of any size: git is asked its
    size first, and one larger than a file sealer reads is not read (every hook run read it
    whole when a key was due). It proves nothing: on a branch of sealer's own its rotation
    waits; on anyone's, nothing does."""
    from sealer import git as sealer_git
    from sealer import repofiles

    remote = with_remote(repo, tmp_path)
    ledger = repo / "ledger/staging.yaml"
    large = ledger.read_text() + "#" * repofiles.MAX_BYTES + "\n"  # HEAD's keys, no new one
    for name in ("feature/big", "sealer/rotate-big"):
        git(repo, "checkout", "-q", "-b", name, "main")
        ledger.write_text(large)
        commit_all(repo, "a large ledger")
        git(repo, "push", "-q", "origin", name)
    git(repo, "checkout", "-q", "main")
    big = git(repo, "rev-parse", "feature/big:ledger/staging.yaml").strip()
    clone = fresh_clone(remote, tmp_path)
    read: list[str] = []
    reading = sealer_git.read_blobs
    monkeypatch.setattr(sealer_git, "read_blobs", lambda root, revs: read.extend(revs) or reading(root, revs))
    result = cli(clone, "rotate", "--due", "-o", "json")
    assert (result.exit_code, big in read) == (4, False), (result.output, read)
    data = json.loads(result.stdout)
    assert (data["env"], data["skipped"]) == ("production", {"staging": "origin/sealer/rotate-big"}), data


def test_a_fresh_branch_name_asks_git_once_per_name_whether_it_is_taken(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each git costs a rotation milliseconds: the name found free is not asked about again."""
    git(repo, "branch", "sealer/rotate-x")
    asked: list[str] = []
    real_call = sealer_git._call

    def counted(root: Path, args: list[str], *rest: object, **named: object) -> object:
        asked.append(args[0])
        return real_call(root, args, *rest, **named)  # type: ignore[arg-type]

    monkeypatch.setattr(sealer_git, "_call", counted)
    assert plan.fresh_branch(repo, "sealer/rotate-x") == "sealer/rotate-x-2"
    assert asked.count("show-ref") == 2  # sealer/rotate-x, then sealer/rotate-x-2
    with pytest.raises(BadInput, match="not a valid branch name"):
        plan.fresh_branch(repo, "sealer/rotate..y")
