"""Hostile repository content (#13): every managed and configuration file sealer reads, in
each hostile form a pull request can give it, through the real commands that read it.

Each cell shows: exit 1 or 2, one line on stderr, no traceback, nothing written outside the
repository, nothing committed, nothing left behind. The forms that could hang or exhaust
memory (FIFO, /dev/zero, a device, an alias bomb, deep nesting) run in a subprocess under a
5-second timeout with its peak memory measured; the rest run in-process through CliRunner.
OS errors are injected through SEALER_IO_FAULT (CI runs as root, which never sees EACCES);
one test drops to an unprivileged user and one fills a small tmpfs for the real thing.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import sealer as cli
from support.fake_kube import FakeKube
from support.git import commit_all, git
from support.isolation import isolated
from support.repos import EnvSpec, copy_repo, make_repo

from sealer import apikey, layout, state
from sealer.errors import BadInput

ENV = "staging"
CANARY = "CANARY-runner-credential-4f1d"
TIMEOUT = 5
MAX_RSS_KB = 200 * 1024

COMMANDS: dict[str, list[str]] = {
    "rotate": ["rotate", ENV, "--no-branch"],
    "render": ["render", ENV],
    "check": ["check", "--policy", "policy.yaml"],
    "audit": ["audit"],
    "keys": ["keys", "list", ENV],
    "cert": ["cert", "status"],
    "status": ["status", ENV, "--kubeconfig", "{kubeconfig}"],
    "seal": ["seal", "-f", "input.yaml", "--cert", "certs/staging.pem"],
    "scan": ["scan", "--policy", "detectors.yaml", "deploy"],
}
# Each file sealer reads, and the commands that read it.
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "config": ("sealer.yaml", ("rotate", "render", "check", "audit", "keys", "cert", "status")),
    "values": ("deploy/staging/values.yaml", ("rotate", "render", "check")),
    "sealed": ("sealed/staging/staging.yaml", ("rotate", "render", "check", "cert")),
    "ledger": ("ledger/staging.yaml", ("rotate", "render", "check", "audit", "keys", "status")),
    "registry": ("registry/staging/staging.yaml", ("rotate", "render", "check")),  # #16's GitOps registry
    "cert": ("certs/staging.pem", ("rotate", "check", "cert")),  # audit: an inventory, exits 0
    "policy": ("policy.yaml", ("check",)),
    "detectors": ("detectors.yaml", ("scan",)),
    "seal-input": ("input.yaml", ("seal",)),
}
ALIAS_BOMB = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)
DEEP = "a: " + "[" * 200_000 + "]" * 200_000 + "\n"


def _symlink_to_file(target: Path, outside: Path) -> None:
    target.unlink()
    target.symlink_to(outside / "credential.yaml")


def _symlink_to_folder(target: Path, outside: Path) -> None:
    """The target's folder swapped for a symlink to a copy outside (the copy is what it would read)."""
    copy = outside / "folder"
    shutil.copytree(target.parent, copy)
    (copy / target.name).write_text(f"stolen: {CANARY}\n")
    shutil.rmtree(target.parent)
    target.parent.symlink_to(copy)


def _replace(make: Callable[[Path], None]) -> Callable[[Path, Path], None]:
    def form(target: Path, outside: Path) -> None:
        target.unlink()
        make(target)

    return form


def _content(data: bytes) -> Callable[[Path, Path], None]:
    return lambda target, outside: target.write_bytes(data)


def _device(target: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is


FORMS: dict[str, Callable[[Path, Path], None]] = {
    "symlink-file": _symlink_to_file,
    # a symlink to nothing: Path.exists() follows it and says False, as for no file at all
    "symlink-dangling": _replace(lambda t: t.symlink_to(t.parent / "nowhere" / t.name)),
    "symlink-folder": _symlink_to_folder,
    "dev-zero": _replace(lambda t: t.symlink_to("/dev/zero")),
    "fifo": _replace(os.mkfifo),
    "device": _replace(_device),
    "alias-bomb": _content(ALIAS_BOMB.encode()),
    "deep-nesting": _content(DEEP.encode()),
    "invalid-utf8": _content(b"a: \xff\xfe\n"),
    "utf16": _content("apiVersion: v1\nkind: Secret\n".encode("utf-16")),
    "eacces": lambda target, outside: None,  # injected: see _fault
}
IN_A_CHILD = {"dev-zero", "fifo", "device", "alias-bomb", "deep-nesting"}
# A file at the top of the repository has no folder of its own to swap for a symlink.
TOP_LEVEL = {"config", "policy", "detectors", "seal-input"}
# render compares a registry file as text and replaces it with the ledger's: its YAML is never
# parsed there, so valid text that would be a hostile YAML document is simply rewritten.
AS_TEXT = {("registry", "render")}

POLICY = "rules: {}\n"
DETECTORS = "extends: builtin\n"
INPUT = "apiVersion: v1\nkind: Secret\nmetadata: {name: app, namespace: staging}\nstringData: {k: v}\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, keypair_dir: Path) -> Path:
    """staging pinned and rotated once, plus the policy, detector and input files, committed."""
    with isolated(tmp_path_factory.mktemp("home")):
        root = make_repo(tmp_path_factory.mktemp("hostile") / "repo", [EnvSpec(ENV, keypair_dir)])
        result = cli(root, "rotate", ENV, "--no-branch")
        assert result.exit_code == 0, result.output
        (root / "policy.yaml").write_text(POLICY)
        (root / "detectors.yaml").write_text(DETECTORS)
        (root / "input.yaml").write_text(INPUT)
        commit_all(root, "policy, detectors and an input")
    return root


@pytest.fixture
def world(template: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(a private copy of the repo, a folder outside it holding a runner's credential)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "credential.yaml").write_text(f"token: {CANARY}\n")
    return copy_repo(template, tmp_path / "repo"), outside


def _kubeconfig(kube: FakeKube, folder: Path) -> Path:
    """The session's API server, serving a Secret for staging (so `status` has something to compare)."""
    kube.reset()
    kube.add_secret(ENV, "engine-api-key", {"apiKey": b"served"})
    return kube.kubeconfig(folder)


def _args(command: str, kubeconfig: Path) -> list[str]:
    return [arg.replace("{kubeconfig}", str(kubeconfig)) for arg in COMMANDS[command]]


def _fault(form: str, rel: str) -> dict[str, str]:
    return {"SEALER_TEST": "1", "SEALER_IO_FAULT": f"read:EACCES:{rel}"} if form == "eacces" else {}


class Outcome:
    def __init__(self, code: int, stdout: str, stderr: str, seconds: float = 0.0, rss_kb: int = 0) -> None:
        self.code, self.stdout, self.stderr, self.seconds, self.rss_kb = code, stdout, stderr, seconds, rss_kb


def _in_process(repo: Path, args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = cli(repo, *args)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


# The peak is VmHWM, this process's own: ru_maxrss would carry the forking pytest's over exec.
_CHILD = """
import atexit, re, runpy, sys
report = sys.argv.pop(1)
def peak():
    status = open("/proc/self/status").read()
    open(report, "w").write(re.search(r"VmHWM:\\s*(\\d+) kB", status).group(1))
atexit.register(peak)
sys.argv[0] = "sealer"
runpy.run_module("sealer", run_name="__main__")
"""


def _in_a_child(repo: Path, args: list[str], env: dict[str, str], tmp_path: Path, stdin: str = "") -> Outcome:
    """`sealer ARGS` in a subprocess: killed after TIMEOUT seconds, its peak memory measured."""
    import time

    report = tmp_path / "maxrss"
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(report), *args],
            cwd=repo,
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"sealer {' '.join(args)} still running after {TIMEOUT} s")
    rss = int(report.read_text()) if report.exists() else 0
    return Outcome(done.returncode, done.stdout, done.stderr, time.monotonic() - started, rss)


def _state(repo: Path, outside: Path) -> dict[str, Any]:
    """What a failed command must leave as it was: every file name in the repository (the
    objects Git keeps aside; the rotation lock file may appear), the refs, the folder outside."""
    names = sorted(
        str(p.relative_to(repo))
        for p in repo.rglob("*")
        if not str(p.relative_to(repo)).startswith((".git/objects", ".git/sealer.lock"))
    )
    files = {str(p): p.read_bytes() for p in outside.rglob("*") if p.is_file() and not p.is_symlink()}
    return {
        "names": names,
        "refs": git(repo, "for-each-ref"),
        "head": git(repo, "rev-parse", "HEAD"),
        "out": files,
    }


CELLS = [
    pytest.param(target, form, command, id=f"{target}-{form}-{command}")
    for target, (_, commands) in TARGETS.items()
    for form in FORMS
    if not (form == "symlink-folder" and target in TOP_LEVEL)
    for command in commands
    if not ((target, command) in AS_TEXT and form in ("alias-bomb", "deep-nesting"))
]


@pytest.mark.parametrize(("target", "form", "command"), CELLS)
def test_hostile_file(
    world: tuple[Path, Path],
    kube_server: FakeKube,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    form: str,
    command: str,
) -> None:
    repo, outside = world
    rel = TARGETS[target][0]
    kubeconfig = _kubeconfig(kube_server, tmp_path)
    FORMS[form](repo / rel, outside)
    before = _state(repo, outside)
    args, env = _args(command, kubeconfig), _fault(form, rel)
    if form in IN_A_CHILD:
        outcome = _in_a_child(repo, args, env, tmp_path)
        assert outcome.seconds < TIMEOUT and 0 < outcome.rss_kb < MAX_RSS_KB, (
            outcome.seconds,
            outcome.rss_kb,
        )
    else:
        outcome = _in_process(repo, args, env, monkeypatch)
    assert outcome.code in (1, 2), (outcome.code, outcome.stdout, outcome.stderr)
    lines = outcome.stderr.splitlines()
    if outcome.code == 2:
        assert len(lines) == 1 and "Traceback" not in outcome.stderr, outcome.stderr
    else:  # a finding (check, audit, status, scan): reported on stdout, a traceback never
        assert "Traceback" not in outcome.stderr and len(lines) <= 1, outcome.stderr
    assert CANARY not in outcome.stdout + outcome.stderr
    assert _state(repo, outside) == before


def test_the_table_runs_clean_on_a_healthy_repo(
    world: tuple[Path, Path], kube_server: FakeKube, tmp_path: Path
) -> None:
    """Without this, a cell could pass because its command fails for some other reason."""
    repo, _ = world
    kubeconfig = _kubeconfig(kube_server, tmp_path)
    for command in COMMANDS:
        result = cli(repo, *_args(command, kubeconfig))
        allowed = (1,) if command == "status" else (0,)  # the Secret served is not the ledger's key
        assert result.exit_code in allowed, (command, result.output)


@pytest.mark.parametrize("form", ["symlink-file", "fifo", "dev-zero"])
def test_the_verifier_refuses_a_hostile_registry_file(
    world: tuple[Path, Path], tmp_path: Path, form: str
) -> None:
    """`keys verify --registry FILE` names a file of the user's, read like every other: never
    through a symlink, never blocking; it fails closed and remembers no serial."""
    repo, outside = world
    registry_file, state = repo / TARGETS["registry"][0], tmp_path / "seen.json"
    FORMS[form](registry_file, outside)
    args = ["keys", "verify", ENV, "--registry", str(registry_file), "--state", str(state), "--init-state"]
    outcome = _in_a_child(repo, args, {}, tmp_path, stdin="sk_staging_0000\n")
    assert outcome.seconds < TIMEOUT and outcome.code == 2, (outcome.code, outcome.stderr)
    assert len(outcome.stderr.splitlines()) == 1 and "key registry" in outcome.stderr, outcome.stderr
    assert CANARY not in outcome.stdout + outcome.stderr and not state.exists()
    assert form != "symlink-file" or "is a symlink" in outcome.stderr, outcome.stderr


def _assert_failed_cleanly(code: int, stderr: str, before: dict[str, Any], repo: Path, outside: Path) -> None:
    assert code == 2 and len(stderr.splitlines()) == 1 and "Traceback" not in stderr, (code, stderr)
    assert _state(repo, outside) == before


@pytest.mark.parametrize("folder", ["deploy/staging/", "sealed/staging/", "ledger/"])
def test_a_full_disk_while_rotating(
    world: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    repo, outside = world
    before = _state(repo, outside)
    outcome = _in_process(
        repo,
        COMMANDS["rotate"],
        {"SEALER_TEST": "1", "SEALER_IO_FAULT": f"write:ENOSPC:{folder}"},
        monkeypatch,
    )
    assert "No space left on device" in outcome.stderr
    _assert_failed_cleanly(outcome.code, outcome.stderr, before, repo, outside)


def test_rewritten_files_keep_their_line_endings_and_mode(world: tuple[Path, Path]) -> None:
    """CRLF stays CRLF; a read-only file stays read-only, an executable one executable, in
    the working tree and in the commit."""
    repo, _ = world
    crlf, readonly, executable = (
        repo / rel
        for rel in ("deploy/staging/values.yaml", "sealed/staging/staging.yaml", "ledger/staging.yaml")
    )
    crlf.write_bytes(crlf.read_bytes().replace(b"\n", b"\r\n"))
    readonly.chmod(0o444)
    executable.chmod(0o755)
    commit_all(repo, "CRLF, read-only, executable")
    result = cli(repo, *COMMANDS["rotate"])
    assert result.exit_code == 0, result.output
    data = crlf.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") > 0
    assert [stat.S_IMODE(p.stat().st_mode) for p in (readonly, executable)] == [0o444, 0o755]
    tree = git(repo, "ls-tree", "-r", "HEAD", "--", "ledger/staging.yaml", "sealed/staging/staging.yaml")
    assert [line.split()[0] for line in tree.splitlines()] == ["100755", "100644"]
    assert git(repo, "status", "--porcelain") == ""


def test_a_hard_link_to_a_file_outside_is_never_written_through(world: tuple[Path, Path]) -> None:
    repo, outside = world
    values = repo / "deploy/staging/values.yaml"
    os.link(values, outside / "linked.yaml")
    kept = (outside / "linked.yaml").read_bytes()
    assert cli(repo, *COMMANDS["rotate"]).exit_code == 0
    assert (outside / "linked.yaml").read_bytes() == kept and values.read_bytes() != kept


def test_a_folder_swapped_for_a_symlink_between_check_and_open(
    world: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOCTOU: the folder is swapped right before sealer opens it; opening it relative to its
    parent with O_NOFOLLOW refuses the symlink there is no earlier check to fool."""
    from sealer import safeopen

    repo, outside = world
    real_open = os.open

    def swapping_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if path == "ledger" and not (repo / "ledger").is_symlink():
            shutil.copytree(repo / "ledger", outside / "ledger")
            shutil.rmtree(repo / "ledger")
            (repo / "ledger").symlink_to(outside / "ledger")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(safeopen.os, "open", swapping_open)
    ledger = (repo / "ledger/staging.yaml").read_bytes()
    head = git(repo, "rev-parse", "HEAD")
    result = cli(repo, *COMMANDS["rotate"])
    assert result.exit_code == 2 and "ledger is a symlink" in result.stderr, result.output
    assert (outside / "ledger/staging.yaml").read_bytes() == ledger
    assert sorted(p.name for p in (outside / "ledger").iterdir()) == ["staging.yaml"]
    assert git(repo, "rev-parse", "HEAD") == head


def test_private_key_folders_are_0700_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        result = cli(tmp_path, "keypair", "--out", "keys/new")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert [stat.S_IMODE((tmp_path / p).stat().st_mode) for p in ("keys", "keys/new")] == [0o700, 0o700]
    assert stat.S_IMODE((tmp_path / "keys/new/tls.key").stat().st_mode) == 0o600


def _public_copy(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of `repo` where an unprivileged user can work (the test folders are root's)."""
    base = Path(tmp_path_factory.mktemp("public"))
    for folder in (base, *base.parents):
        if folder == Path("/"):
            break
        folder.chmod(folder.stat().st_mode | 0o005)
    return copy_repo(repo, base / "repo")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_a_real_permission_error_as_an_unprivileged_user(
    template: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": "*",
    }.items():
        monkeypatch.setenv(name, value)  # root's git, looking at nobody's repository
    probe = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        sys.executable,
        "-c",
        "import sealer",
    ]
    if subprocess.run(probe, capture_output=True).returncode:
        pytest.skip("this interpreter cannot run as an unprivileged user (it lives in root's home)")
    repo = _public_copy(template, tmp_path_factory)
    for path in (repo, *repo.rglob("*")):
        os.lchown(path, 65534, 65534)
    ledger = repo / "ledger/staging.yaml"
    os.chown(ledger, 0, 0)
    ledger.chmod(0o600)  # root's alone: nobody cannot read it
    before = _state(repo, repo.parent / "none")
    done = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "sealer",
            "rotate",
            ENV,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(repo.parent)},
        timeout=60,
    )
    assert "ledger/staging.yaml: Permission denied" in done.stderr
    _assert_failed_cleanly(done.returncode, done.stderr, before, repo, repo.parent / "none")


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    return done.returncode == 0


def test_a_real_full_disk(template: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount_tmpfs(disk, "8m"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        repo = copy_repo(template, disk / "repo")
        filler = disk / "filler"
        with filler.open("wb", buffering=0) as handle:  # fill the disk to its last block
            try:
                while True:
                    handle.write(b"\0" * 4096)

            except OSError:
                pass
        before = _state(repo, tmp_path / "none")
        result = cli(repo, *COMMANDS["rotate"])
        assert re.search("No space left on device|Out of diskspace", result.stderr), (
            result.stderr
        )  # sealer's, git's
        _assert_failed_cleanly(result.exit_code, result.stderr, before, repo, tmp_path / "none")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.parametrize("planted", [".gitignore", "deploy"])
def test_init_writes_nothing_when_a_path_it_needs_is_a_symlink(tmp_path: Path, planted: str) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    outside.mkdir()
    (outside / "credential.yaml").write_text(f"token: {CANARY}\n")
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / planted).symlink_to(outside / "credential.yaml" if planted == ".gitignore" else outside)
    before = _state_without_head(repo, outside)
    result = cli(repo, "init", "--env", ENV)
    assert result.exit_code == 2 and re.search(rf"{planted}(: it)? is a symlink", result.stderr), (
        result.output
    )
    assert len(result.stderr.splitlines()) == 1 and CANARY not in result.output
    assert _state_without_head(repo, outside) == before


def _state_without_head(repo: Path, outside: Path) -> dict[str, Any]:
    names = sorted(str(p.relative_to(repo)) for p in repo.rglob("*"))
    return {"names": names, "out": {str(p): p.read_bytes() for p in outside.rglob("*") if p.is_file()}}


@pytest.mark.parametrize(
    ("rel", "text"),
    [
        ("sealed/staging/staging.yaml", ALIAS_BOMB),
        ("sealer.yaml", DEEP),
        ("ledger/staging.yaml", "a: \udcff\n"),
    ],
)
def test_review_of_a_hostile_commit(world: tuple[Path, Path], tmp_path: Path, rel: str, text: str) -> None:
    """review reads blobs from Git, not files: the same limits hold there (in a child: 5 s, 200 MB)."""
    repo, outside = world
    git(repo, "switch", "-q", "-c", "pr")
    (repo / rel).write_bytes(text.encode("utf-8", "surrogateescape"))
    commit_all(repo, "hostile")
    outcome = _in_a_child(repo, ["review", "main", "pr"], {}, tmp_path)
    assert outcome.seconds < TIMEOUT and 0 < outcome.rss_kb < MAX_RSS_KB
    assert outcome.code in (1, 2) and "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.code == 1 or len(outcome.stderr.splitlines()) == 1, outcome.stderr


@pytest.mark.parametrize(
    "body",
    [
        ALIAS_BOMB,
        DEEP,
        "".join(f"{' ' * i}k{i}:\n" for i in range(150)) + f"{' ' * 150}k: v\n",
        "kind: SealedSecret\nkind: Secret\n",
        "spec:\n  encryptedData:\n    apiKey: a\n    apiKey: b\n",
        "spec:\n  encryptedData: [\n",
        "- a\n",
    ],
    ids=["alias-bomb", "deep-flow", "deep-block", "twice", "twice-nested", "broken", "a-list"],
)
def test_a_sealed_file_with_sealers_header_is_still_checked(tmp_path: Path, body: str) -> None:
    """sealer reads the files it wrote itself without a YAML parser (yamlio.load_dumped): a
    hostile file under the same header must still be refused as any other."""
    path = layout.sealed_path(tmp_path, ENV, ENV)
    path.parent.mkdir(parents=True)
    path.write_text(state.HEADER + body)

    with pytest.raises(BadInput):
        state.load(tmp_path, ENV, ENV)


@pytest.mark.parametrize(
    ("part", "value", "says"),
    [
        ("spec", ["x"], "no spec.encryptedData map"),
        ("spec.encryptedData", ["x"], "no spec.encryptedData map"),
        ("metadata.annotations", ["x"], "metadata.annotations must be a map"),
        ("kind", None, "not a bitnami.com/v1alpha1 SealedSecret"),
    ],
)
def test_a_sealed_file_of_the_wrong_shape_is_refused_by_a_rotation(
    world: tuple[Path, Path], part: str, value: Any, says: str
) -> None:
    """A rotation fills the sealed file it finds: one whose parts a pull request made no maps
    is bad input in one line (it was a traceback, exit 3), nothing committed."""
    repo, outside = world
    path = layout.sealed_path(repo, ENV, ENV)
    doc = state.load(repo, ENV, ENV)
    assert doc is not None
    *parents, last = part.split(".")
    node = doc
    for name in parents:
        node = node[name]
    node[last] = value
    path.write_text(yaml.safe_dump(doc))
    commit_all(repo, "hand-edited")
    before = _state(repo, outside)
    result = cli(repo, "rotate", ENV, "--no-branch")
    assert result.exit_code == 2 and says in result.stderr, (result.output, result.exception)
    assert len(result.stderr.splitlines()) == 1
    assert _state(repo, outside) == before


def test_a_bare_repository_committed_beside_sealer_yaml_is_not_the_repository(
    template: Path, tmp_path: Path
) -> None:
    """A monorepo keeps sealer's files in a folder; a pull request adds HEAD, objects/ and refs/
    there (a bare clone of a clean sealer repo): git's discovery took that folder for the
    repository, and `sealer review` run there passed a branch that adds a key (0 findings)."""
    repo = copy_repo(template, tmp_path / "repo")
    folder = repo / "platform"
    folder.mkdir()
    for path in list(repo.iterdir()):
        if path.name not in (".git", "platform"):
            shutil.move(str(path), str(folder / path.name))
    commit_all(repo, "sealer's files in a folder of the monorepo")
    made_up = tmp_path / "made-up.git"
    git(tmp_path, "clone", "-q", "--bare", str(template), str(made_up))
    git(repo, "switch", "-q", "-c", "pr")
    for name in ("HEAD", "objects", "refs", "packed-refs", "config"):
        if (made_up / name).exists():
            (shutil.copytree if (made_up / name).is_dir() else shutil.copy)(made_up / name, folder / name)
    (folder / "refs" / ".keep").write_text("")  # git commits no empty folder
    (folder / "debug.env").write_text(f"API_KEY={apikey.generate(ENV)}\n")
    commit_all(repo, "a key, and a repository of its own")
    result = subprocess.run(
        [sys.executable, "-m", "sealer", "review"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, (result.stdout, result.stderr)
    assert "cannot use bare repository" in result.stderr


def test_no_filter_or_diff_driver_the_repository_routes_files_to_ever_runs(
    world: tuple[Path, Path], tmp_path: Path
) -> None:
    """A runner's git config defines drivers (git-lfs's filter, a textconv); a pull request's
    .gitattributes routes every file through them: scan, review and rotate, and the history
    searches (`git log -S`, grep, show) run none of their commands."""
    repo, _ = world
    markers = tmp_path / "markers"
    markers.mkdir()
    git(repo, "switch", "-q", "-c", "pr")
    (repo / ".gitattributes").write_text("* filter=runner diff=runner\n")
    commit_all(repo, "every file through the runner's drivers")
    ran = {kind: markers / kind for kind in ("clean", "smudge", "textconv", "command")}
    git(repo, "config", "filter.runner.clean", f"sh -c 'touch {ran['clean']}; cat'")
    git(repo, "config", "filter.runner.smudge", f"sh -c 'touch {ran['smudge']}; cat'")
    git(repo, "config", "diff.runner.textconv", f"sh -c 'touch {ran['textconv']}; cat \"$1\"' -")
    git(repo, "config", "diff.runner.command", f"sh -c 'touch {ran['command']}' -")
    later = os.stat(repo / layout.CONFIG_FILE).st_mtime + 60
    for path in repo.rglob("*"):  # stat data no longer the index's: git compares the contents
        if ".git" not in path.parts and path.is_file():
            os.utime(path, (later, later))

    for args in (
        ["scan", "deploy", "sealer.yaml", "ledger"],
        ["scan", "--staged"],
        ["scan", "--all-files"],
        ["review", "main", "pr"],
        ["rotate", ENV],  # on a branch of its own: the working tree put back as HEAD has it
        ["rotate", ENV, "--no-branch", "--replace"],
    ):
        result = cli(repo, *args)
        assert (
            result.exit_code in (0, 1)
            and result.exception is None
            or isinstance(result.exception, SystemExit)
        ), (args, result.output)
        assert not list(markers.iterdir()), (args, result.output)
    from sealer import git as sealer_git

    key_id = (repo / "ledger" / f"{ENV}.yaml").read_text().split('"key_id": "')[-1].split('"')[0]
    assert (
        sealer_git.landing_commit(repo, key_id, f"ledger/{ENV}.yaml")
        == git(repo, "rev-parse", "HEAD").strip()
    )
    assert sealer_git.refs_holding(repo, key_id, f"ledger/{ENV}.yaml")
    assert sealer_git.file_at(repo, "HEAD", f"ledger/{ENV}.yaml")
    assert sealer_git.changed_paths(repo, [layout.CONFIG_FILE]) == []
    assert not list(markers.iterdir())


def test_no_fsmonitor_or_hook_of_git_config_runs(world: tuple[Path, Path], tmp_path: Path) -> None:
    """A `core.fsmonitor` program and hooks (reference-transaction on every ref move,
    post-index-change, post-checkout) are commands from git's configuration too: what sealer runs
    on a CI runner, to read or to commit, starts none of them."""
    repo, _ = world
    markers = tmp_path / "markers"
    markers.mkdir()
    git(repo, "switch", "-q", "-c", "pr")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name in ("reference-transaction", "post-index-change", "post-checkout", "post-commit"):
        (hooks / name).write_text(f"#!/bin/sh\ntouch {markers / name}\n")
        (hooks / name).chmod(0o755)
    git(repo, "config", "core.fsmonitor", f"sh -c 'touch {markers / 'fsmonitor'}'")
    git(repo, "config", "core.hooksPath", str(hooks))

    for args in (
        ["scan", "--staged"],
        ["scan", "--all-files"],
        ["check", "--policy", "policy.yaml"],
        ["rotate", ENV],  # on a branch of its own: the working tree put back as HEAD has it
        ["rotate", ENV, "--no-branch", "--replace"],
        ["review", "main", "pr"],
    ):
        result = cli(repo, *args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.output)
        assert sorted(p.name for p in markers.iterdir()) == [], (args, result.output)
    git(repo, "commit", "-q", "--allow-empty", "-m", "the hooks do run for git itself")
    assert {"fsmonitor", "post-commit", "reference-transaction"} <= {p.name for p in markers.iterdir()}
