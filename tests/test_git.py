"""sealer's Git commit (one `git fast-import`, one checked `update-ref`) against the real `git`:
exactly the given paths, the user's staged work left alone, the index in step with HEAD."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from support.git import git

from sealer import git as sealer_git
from sealer.errors import BadInput, GitError
from sealer.git import Commit, commit_paths

ODD_NAMES = ["with space.yaml", '"quoted".yaml', "back\\slash.yaml", "ünïcode/ß.yaml"]


def new_repo(root: Path, *extra: str) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main", *extra)
    return root


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = new_repo(tmp_path / "repo")
    for rel in ("a.yaml", "b.yaml", "gone.yaml", "user.txt"):
        write(root, rel, f"{rel} v1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def tree(root: Path, rev: str = "HEAD") -> dict[str, str]:
    names = git(root, "ls-tree", "-r", "-z", "--name-only", rev).split("\0")
    return {name: git(root, "show", f"{rev}:{name}") for name in names if name}


def test_commits_exactly_the_paths_and_leaves_the_users_staged_work(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD").strip()
    write(repo, "a.yaml", "a v2\n")
    write(repo, "new/c.yaml", "c v1\n")
    (repo / "gone.yaml").unlink()
    write(repo, "user.txt", "the user's own change\n")
    git(repo, "add", "user.txt")
    write(repo, "b.yaml", "not asked for\n")

    commit = commit_paths(repo, ["a.yaml", "new/c.yaml", "gone.yaml"], "sealer: rotate\n\nbody\n", None)

    assert git(repo, "rev-parse", "HEAD").strip() == commit
    assert git(repo, "rev-parse", "HEAD^").strip() == before
    assert git(repo, "log", "-1", "--format=%B", commit) == "sealer: rotate\n\nbody\n\n"
    assert tree(repo) == {
        "a.yaml": "a v2\n",
        "b.yaml": "b.yaml v1\n",
        "new/c.yaml": "c v1\n",
        "user.txt": "user.txt v1\n",
    }
    # The index agrees with the new HEAD for sealer's paths; the user's staged change is still staged.
    status = git(repo, "status", "--porcelain").splitlines()
    assert sorted(status) == [" M b.yaml", "M  user.txt"]
    assert git(repo, "for-each-ref", "refs/sealer/") == ""


def test_author_and_committer_are_the_users(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ann Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ci@sealer.invalid")
    write(repo, "a.yaml", "a v2\n")
    commit_paths(repo, ["a.yaml"], "m\n", None)
    assert git(repo, "log", "-1", "--format=%an|%ce").strip() == "Ann Author|ci@sealer.invalid"


def test_odd_file_names_commit_as_given(repo: Path) -> None:
    for rel in ODD_NAMES:
        write(repo, rel, f"{rel}\n")
    commit_paths(repo, ODD_NAMES, "odd names\n", None)
    committed = tree(repo)
    assert all(committed[rel] == f"{rel}\n" for rel in ODD_NAMES)
    assert git(repo, "status", "--porcelain") == ""


def test_new_branch_takes_head_and_leaves_main(repo: Path) -> None:
    main = git(repo, "rev-parse", "main").strip()
    write(repo, "a.yaml", "a v2\n")
    commit = commit_paths(repo, ["a.yaml"], "m\n", "sealer/rotate-x")
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"  # the user stays put
    assert (repo / "a.yaml").read_text() != "a v2\n"  # as main has it
    assert git(repo, "show", "sealer/rotate-x:a.yaml") == "a v2\n"
    assert git(repo, "rev-parse", "main").strip() == main
    assert git(repo, "rev-parse", "sealer/rotate-x^").strip() == main != commit
    assert git(repo, "status", "--porcelain") == ""


def test_an_existing_branch_is_never_moved(repo: Path) -> None:
    git(repo, "branch", "taken")
    taken = git(repo, "rev-parse", "taken").strip()
    write(repo, "a.yaml", "a v2\n")
    with pytest.raises(GitError, match="update-ref"):
        commit_paths(repo, ["a.yaml"], "m\n", "taken")
    assert git(repo, "rev-parse", "taken").strip() == taken
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(repo, "for-each-ref", "refs/sealer/") == ""


def test_a_branch_moved_meanwhile_is_not_overwritten(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    commit = Commit(repo)
    commit.add("a.yaml", b"a v2\n")
    git(repo, "commit", "-q", "--allow-empty", "-m", "someone else")
    moved = git(repo, "rev-parse", "HEAD").strip()
    # finish() builds on the HEAD it read; the branch moved since: the checked update must refuse.
    monkeypatch.setattr(sealer_git, "head", lambda root: first)
    with pytest.raises(GitError, match="update-ref"):
        commit.finish("m\n", None)
    assert git(repo, "rev-parse", "HEAD").strip() == moved
    assert git(repo, "for-each-ref", "refs/sealer/") == ""


def test_abort_leaves_head_index_and_refs_alone(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD").strip()
    write(repo, "a.yaml", "a v2\n")
    commit = Commit(repo)
    commit.add("a.yaml", b"a v2\n")
    commit.add("big.bin", os.urandom(1 << 21))  # more than the pipe holds: git reads before it is in
    commit._stop_feeder()  # every byte written: git has begun its (temp) pack
    assert [p for p in (repo / ".git/objects/pack").glob("tmp_pack_*")] != []
    commit.abort()
    assert [p.name for p in (repo / ".git/objects/pack").glob("tmp_*")] == []
    assert git(repo, "rev-parse", "HEAD").strip() == before
    assert git(repo, "status", "--porcelain") == " M a.yaml\n"
    assert git(repo, "for-each-ref", "refs/sealer/") == ""


def test_abort_looks_for_temp_packs_only_once_git_is_stopped(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A git just started opens its temp pack at any moment: looked for while it still ran, one
    opened between the look and the kill was left behind (a flaky stray pack after a rotation
    refused at once). The look comes once git is stopped, so nothing it opens is missed."""
    states = []
    look = Commit._temp_packs

    def stopped_first(commit: Commit) -> list[str]:
        stat = Path(f"/proc/{commit._proc.pid}/stat").read_text()
        states.append(stat[stat.rindex(")") + 2])  # the state letter after the command's name
        return look(commit)

    monkeypatch.setattr(Commit, "_temp_packs", stopped_first)
    for _ in range(3):  # at once, and after a blob began its pack
        commit = Commit(repo)
        if states:
            commit.add("big.bin", os.urandom(1 << 21))
        commit.abort()
    assert states == ["T", "T", "T"]
    assert [p.name for p in (repo / ".git/objects/pack").glob("tmp_*")] == []


def test_detached_head_without_a_branch_is_bad_input(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    write(repo, "a.yaml", "a v2\n")
    with pytest.raises(BadInput, match="detached"):
        commit_paths(repo, ["a.yaml"], "m\n", None)
    assert git(repo, "for-each-ref", "refs/sealer/") == ""


def test_first_commit_of_an_empty_repo(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "empty")
    write(root, "a.yaml", "a\n")
    commit = commit_paths(root, ["a.yaml"], "first\n", None)
    assert git(root, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(root, "rev-parse", "HEAD").strip() == commit
    assert tree(root) == {"a.yaml": "a\n"}


def test_sha256_repository(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "sha256", "--object-format=sha256")
    write(root, "a.yaml", "a\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    write(root, "a.yaml", "a v2\n")
    commit = commit_paths(root, ["a.yaml"], "m\n", "next")
    assert len(commit) == 64
    assert tree(root, "next") == {"a.yaml": "a v2\n"} and tree(root) == {"a.yaml": "a\n"}
    assert git(root, "status", "--porcelain") == ""


def test_not_a_repository_is_one_git_error(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError) as caught:
        commit_paths(tmp_path / "plain", ["a.yaml"], "m\n", None)
    assert "\n" not in str(caught.value) and "not a git repository" in str(caught.value)


def test_no_identity_is_one_clear_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    git(repo, "config", "user.useConfigOnly", "true")
    write(repo, "a.yaml", "a v2\n")
    with pytest.raises(GitError, match="identity"):
        commit_paths(repo, ["a.yaml"], "m\n", None)
    assert subprocess.run(["git", "-C", str(repo), "diff", "--quiet", "HEAD"]).returncode == 1


def test_a_commit_asks_git_for_its_identities_and_signing_side_by_side(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three gits started before the first is waited for: each costs milliseconds to start, on
    the way of every rotation's commit."""
    started: list[str] = []
    waited: list[int] = []
    real_popen, real_communicate = subprocess.Popen.__init__, subprocess.Popen.communicate

    def popen(self: subprocess.Popen[bytes], args: list[str], *rest: object, **named: object) -> None:
        started.append(" ".join(args[args.index(str(repo)) + 1 :][:2]) if str(repo) in args else "")
        real_popen(self, args, *rest, **named)  # type: ignore[arg-type]

    def communicate(self: subprocess.Popen[bytes], *rest: object, **named: object) -> tuple[bytes, bytes]:
        waited.append(len(started))
        return real_communicate(self, *rest, **named)  # type: ignore[arg-type]

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    monkeypatch.setattr(subprocess.Popen, "communicate", communicate)
    write(repo, "a.yaml", "a v2\n")
    commit_paths(repo, ["a.yaml"], "m\n", None)
    at = started.index("var GIT_AUTHOR_IDENT")
    assert started[at : at + 3] == ["var GIT_AUTHOR_IDENT", "var GIT_COMMITTER_IDENT", "config --bool"]
    assert at + 3 in waited and not any(at < count < at + 3 for count in waited)


def test_gits_run_side_by_side_answer_in_order_and_none_outlives_an_interrupt(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # none asks for a terminal or an editor: CI runs with neither (`git var GIT_EDITOR` fails there)
    asked = [("rev-parse", "HEAD"), ("cat-file", "-e", "0" * 40), ("rev-parse", "--is-inside-work-tree")]
    done = sealer_git._calls(repo, asked)
    assert [d.returncode for d in done] == [0, 1, 0]
    assert done[0].stdout.decode().strip() == git(repo, "rev-parse", "HEAD").strip()
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen.__init__

    def popen(self: subprocess.Popen[bytes], *args: object, **named: object) -> None:
        real_popen(self, *args, **named)  # type: ignore[arg-type]
        started.append(self)

    def interrupted(self: subprocess.Popen[bytes], *args: object, **named: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    monkeypatch.setattr(subprocess.Popen, "communicate", interrupted)
    monkeypatch.setattr(sealer_git, "_argv", lambda root, args: ["sleep", "30"])  # a git that hangs
    with pytest.raises(KeyboardInterrupt):
        sealer_git._calls(repo, asked)
    assert [proc.returncode for proc in started] == [-signal.SIGKILL] * 3


def test_a_blob_stream_stopped_early_ends_git_at_once(repo: Path) -> None:
    """Review stops reading on an error or Ctrl-C: with far more ids queued than the pipes hold,
    closing the stream must not wait for git to drain them (it used to hang here)."""
    blob = git(repo, "rev-parse", "HEAD:a.yaml").strip()
    ids = [blob] * 20_000  # ~800 KiB of ids in, ~1 MiB out: both pipes fill
    stream = sealer_git.stream_blobs(repo, ids, 1024)
    first = next(stream)
    assert first == (blob, b"a.yaml v1\n")
    closer = threading.Thread(target=stream.close, daemon=True)
    closer.start()
    closer.join(timeout=60)
    assert not closer.is_alive(), "closing the blob stream hung"
    assert sum(1 for _ in sealer_git.stream_blobs(repo, ids[:3], 1024)) == 3


def test_first_landed_is_the_main_lines_commit_and_unknown_in_a_shallow_clone(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    git(repo, "checkout", "-q", "-b", "side")
    write(repo, "ledger.yaml", "kid_1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "on the branch")
    git(repo, "checkout", "-q", "main")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "1900000000 +0000")
    git(repo, "merge", "-q", "--no-ff", "-m", "merged", "side")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    merged = dt.datetime.fromtimestamp(1900000000, dt.timezone.utc)
    assert sealer_git.first_landed(repo, "kid_1", "ledger.yaml") == merged
    assert sealer_git.first_landed(repo, "kid_2", "ledger.yaml") is None
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    assert sealer_git.first_landed(shallow, "kid_1", "ledger.yaml") is None


def test_first_landed_is_never_later_than_a_later_main_line_commit(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that lands by fast-forward keeps the committer time its author chose: one dated
    years ahead would postpone `finish_overdue` and stretch `finish_grace`. The main line's later
    commits were made after it, so the landing is dated no later than any of them."""
    import datetime as dt

    monkeypatch.setenv("GIT_COMMITTER_DATE", "4000000000 +0000")  # 2096
    write(repo, "ledger.yaml", "kid_1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "future-dated")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "1900000000 +0000")
    write(repo, "other.yaml", "x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "after it")
    later = dt.datetime.fromtimestamp(1900000000, dt.timezone.utc)
    assert sealer_git.first_landed(repo, "kid_1", "ledger.yaml") == later


def test_a_later_main_line_commit_whose_time_git_cannot_show_is_not_skipped(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git re-encodes a commit from its `encoding` header's encoding (EBCDIC here), garbling its
    committer line: `%ct` is empty. Skipping it would date a future-dated landing by its own time."""
    monkeypatch.setenv("GIT_COMMITTER_DATE", "4000000000 +0000")  # 2096
    write(repo, "ledger.yaml", "kid_1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "future-dated")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "1900000000 +0000")
    (repo / ".git" / "msg").write_bytes("after it\n".encode("cp037"))
    git(repo, "-c", "i18n.commitEncoding=IBM037", "commit", "-q", "--allow-empty", "-F", ".git/msg")
    with pytest.raises(BadInput, match="git shows no committer time"):
        sealer_git.first_landed(repo, "kid_1", "ledger.yaml")


MAGIC = [":(exclude)ledger/staging.yaml", "*", "ledger/*.yaml", ":(glob)**"]


@pytest.mark.parametrize("given", MAGIC)
def test_paths_from_sealer_yaml_are_read_literally_never_as_pathspec_magic(repo: Path, given: str) -> None:
    """A values file named like pathspec magic in sealer.yaml matches no other file: it cannot
    blind the clean-file check to a dirty ledger, nor have a roll-back put back or remove
    other files."""
    write(repo, "ledger/staging.yaml", "records: []\n")
    write(repo, "notes.txt", "mine\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "files")
    write(repo, "ledger/staging.yaml", "records: [edited]\n")
    write(repo, "notes.txt", "edited\n")
    assert sealer_git.changed_paths(repo, [given]) == []
    assert sealer_git.changed_paths(repo, [given, "ledger/staging.yaml"]) == ["ledger/staging.yaml"]
    sealer_git.restore_from_head(repo, [given])
    assert (repo / "ledger/staging.yaml").read_text() == "records: [edited]\n"
    assert (repo / "notes.txt").read_text() == "edited\n"
    assert not sealer_git.changes_path(repo, "HEAD", given)
    assert sealer_git.refs_holding(repo, "records", given) == []


def test_a_branch_git_cannot_read_fails_the_search_for_a_key_never_hides_it(repo: Path) -> None:
    """Which branches hold a key decides what is revoked as abandoned: a branch whose ledger git
    cannot read (an object missing, as a partial clone's may be) is an error, never "no branch
    holds it"."""
    write(repo, "ledger/staging.yaml", "kid_aaaaaaaaaaaa\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main's ledger")
    git(repo, "switch", "-q", "-c", "other")
    write(repo, "ledger/staging.yaml", "kid_aaaaaaaaaaaa\nkid_bbbbbbbbbbbb\n")
    git(repo, "commit", "-qam", "a rotation under review")
    git(repo, "switch", "-q", "main")
    assert sealer_git.refs_holding(repo, "kid_bbbbbbbbbbbb", "ledger/staging.yaml") == ["refs/heads/other"]
    blob = git(repo, "rev-parse", "other:ledger/staging.yaml").strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    with pytest.raises(GitError):
        sealer_git.refs_holding(repo, "kid_bbbbbbbbbbbb", "ledger/staging.yaml")


@pytest.mark.parametrize("space", ["\u00a0", "\u2028", "\u0085"])
def test_a_branch_name_holding_a_unicode_space_is_found_whole(repo: Path, space: str) -> None:
    """Git refuses only ASCII spaces in a ref name: a branch holding a key whose name has
    another space (or a line separator) is that branch, not two names that are none."""
    write(repo, "ledger/staging.yaml", "kid_aaaaaaaaaaaa\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main's ledger")
    name = f"sealer/rotate{space}HEAD"
    git(repo, "switch", "-q", "-c", name)
    write(repo, "ledger/staging.yaml", "kid_aaaaaaaaaaaa\nkid_bbbbbbbbbbbb\n")
    git(repo, "commit", "-qam", "a rotation under review")
    git(repo, "switch", "-q", "main")
    held = sealer_git.refs_holding(repo, "kid_bbbbbbbbbbbb", "ledger/staging.yaml", outside="HEAD")
    assert held == [f"refs/heads/{name}"]
    assert sealer_git.branches_containing(repo, "HEAD") == ["refs/heads/main", f"refs/heads/{name}"]


def test_a_remote_name_or_url_holding_a_space_is_read_whole(repo: Path) -> None:
    """A remote's name may hold a Unicode space, its URL (a local path) an ASCII one: each is
    one name and one URL, not pieces that name no remote (push refused it as unknown) and no
    repository (review did not see the repository as itself)."""
    name = "team\u00a0origin"
    git(repo, "remote", "add", name, "/srv/our repos/app.git")
    assert sealer_git.remotes(repo) == [name]
    assert sealer_git.remote_urls(repo) == ["/srv/our repos/app.git"]


def test_a_remote_branch_holding_a_line_separator_is_read_whole(repo: Path, tmp_path: Path) -> None:
    """A branch anyone pushed may hold U+2028, where str.splitlines() cut ls-remote's line: its
    first part read as a branch of that name (`sealer/rotate-dev`) at the pusher's commit."""
    write(repo, "a.txt", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    name = "sealer/rotate-dev\u2028x"
    git(repo, "push", "-q", str(remote), f"HEAD:refs/heads/{name}")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert sealer_git.remote_heads(repo, str(remote), "sealer/*") == {name: head}


def test_asking_which_paths_changed_writes_nothing_in_git_dir(repo: Path) -> None:
    """`rotate --dry-run` asks it and must write nothing: a plain `git status` refreshes a
    stat-dirty index and writes .git/index (and takes index.lock, refused in a read-only .git)."""
    later = (repo / "a.yaml").stat().st_mtime + 100
    os.utime(repo / "a.yaml", (later, later))  # the content as committed, its stat not
    index = repo / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    assert sealer_git.changed_paths(repo, ["a.yaml", "b.yaml"]) == []
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before


def test_intent_to_add_answers_for_more_paths_than_one_command_line_holds(repo: Path) -> None:
    write(repo, "new/held.yaml", "")
    write(repo, "gone.yaml", "")
    git(repo, "rm", "-q", "--cached", "gone.yaml")
    git(repo, "add", "-N", "new/held.yaml", "gone.yaml")  # HEAD holds the second
    asked = [f"deep/{'p' * 200}/{i}.yaml" for i in range(12_000)]  # ~2.6 MB of paths: over ARG_MAX
    asked[10] = "new/held.yaml"
    asked[-10] = "gone.yaml"

    assert sealer_git.intent_to_add(repo, asked) == {"new/held.yaml": False, "gone.yaml": True}


def test_path_batches_keep_order_and_stay_within_the_limit() -> None:
    paths = ["a" * 5, "b" * 5, "c" * 20, "d", "e" * 3]

    batches = list(sealer_git.batches(paths, limit=12))

    assert batches == [["a" * 5, "b" * 5], ["c" * 20], ["d", "e" * 3]]
    assert list(sealer_git.batches([], limit=12)) == []
