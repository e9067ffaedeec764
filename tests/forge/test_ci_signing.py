"""The signing key `sealer ci init` wires in, end to end: the rotate job's own shell lines, taken
from the generated YAML, run with bash in a temp repo (a generated SSH key and variables standing
in for the CI's secrets); then the gate's own `sealer review --require-signed` line passes the
rotation they sign, and fails one that is unsigned or signed by another key."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import sealer as cli
from support.git import commit_all, git, head
from support.isolation import isolated
from support.repos import copy_repo, keypairs, pinned_repo

PIN = ("--git", "https://git.example.test/acme/sealer.git@" + "0" * 40)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    controllers = keypairs(tmp_path_factory, "staging", "production")
    with isolated(tmp_path_factory.mktemp("home")):
        return pinned_repo(tmp_path_factory, controllers)


def ssh_key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "keys"
    folder.mkdir()
    return {name: ssh_key(folder, name) for name in ("pipeline", "mallory")}


def ci_init(repo: Path, kind: str, public_key: Path) -> dict[str, Any]:
    """`sealer ci init KIND --signing-key …` on main, with the allowed-signers line it prints
    committed there (what the user is told to do)."""
    result = cli(
        repo,
        "ci",
        "init",
        kind,
        "--owner",
        "@acme/platform",
        *PIN,
        "--signing-key",
        str(public_key),
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    told = json.loads(result.stdout)
    assert told["allowed_signers"]["file"] == ".sealer/allowed_signers"
    assert any(s["name"].endswith("SEALER_SIGNING_KEY") for s in told["secrets"])
    (repo / ".sealer").mkdir(exist_ok=True)
    (repo / ".sealer/allowed_signers").write_text(told["allowed_signers"]["line"] + "\n")
    commit_all(repo, "CI, and the rotation's signer")
    return told


def signing_script(repo: Path, kind: str) -> str:
    """The rotate job's lines before `sealer rotate`, as the YAML says them."""
    if kind != "gitlab":
        workflow = yaml.safe_load((repo / f".{kind}/workflows/sealer-rotate.yml").read_text())
        steps = workflow["jobs"]["rotate"]["steps"]
        (step,) = [s for s in steps if "SEALER_SIGNING_KEY" in s.get("env", {})]
        return str(step["run"])
    pipeline = yaml.safe_load((repo / ".gitlab/ci/sealer.yml").read_text())
    script = pipeline["sealer-rotate"]["script"]
    assert script[-1].startswith("sealer rotate ")
    return "\n".join(script[:-1])


def gate_script(repo: Path, kind: str) -> str:
    """The review gate's `sealer review` line, as the YAML says it."""
    if kind != "gitlab":
        workflow = yaml.safe_load((repo / f".{kind}/workflows/sealer-review.yml").read_text())
        runs = [s.get("run", "") for s in workflow["jobs"]["sealer"]["steps"]]
        (run,) = [r for r in runs if "sealer review" in r and "--post" not in r]
        return str(run)
    pipeline = yaml.safe_load((repo / ".gitlab/ci/sealer.yml").read_text())
    (line,) = [s for s in pipeline["sealer-review"]["script"] if s.startswith("sealer review")]
    return str(line)


def bash(repo: Path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As the runners run a step: bash, exiting on the first failing line; `sealer` is this
    venv's script, whatever PATH held before."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=repo,
        env={**os.environ, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ci_secrets(kind: str, private_key: Path, tmp_path: Path) -> dict[str, str]:
    """The variables the host sets from its secrets (GitLab: the key as one line of base64)."""
    runner = tmp_path / "runner"
    runner.mkdir(exist_ok=True)
    text = private_key.read_text()
    if kind == "github":
        return {"SEALER_SIGNING_KEY": text.rstrip("\n"), "RUNNER_TEMP": str(runner)}
    if kind != "gitlab":  # Gitea, Forgejo: the file's content; a private folder of mktemp's
        return {"SEALER_SIGNING_KEY": text.rstrip("\n"), "TMPDIR": str(runner)}
    return {
        "SEALER_SIGNING_KEY": base64.b64encode(text.encode()).decode(),
        "TMPDIR": str(runner),
        # the job fetches origin's branches from here: the test's bare remote, as a URL
        "CI_SERVER_URL": tmp_path.as_uri(),
        "CI_PROJECT_PATH": "remote",
    }


def gate_env(kind: str, base: str, commit: str) -> dict[str, str]:
    if kind != "gitlab":
        return {"BASE_SHA": base, "HEAD_SHA": commit}
    return {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": commit}


@pytest.fixture(params=["github", "gitlab", "gitea", "forgejo"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    """A copy of the template, cloned from a remote as the CI's checkout is."""
    root = copy_repo(template, tmp_path / "repo")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(tmp_path / "remote.git"))
    git(root, "remote", "add", "origin", str(tmp_path / "remote.git"))
    return root


def rotated(repo: Path) -> str:
    """`sealer rotate staging` as the job runs it (on its own branch); the branch's commit."""
    result = cli(repo, "rotate", "staging", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return str(json.loads(result.stdout)["commit"])


def test_the_rotate_jobs_signature_passes_the_gate(
    repo: Path, kind: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    ci_init(repo, kind, keys["pipeline"].with_suffix(".pub"))
    base = head(repo)
    done = bash(repo, signing_script(repo, kind), ci_secrets(kind, keys["pipeline"], tmp_path))
    assert done.returncode == 0, done.stderr
    written = Path(git(repo, "config", "user.signingkey").strip())
    assert written.is_relative_to(tmp_path / "runner") and written.read_text() == keys["pipeline"].read_text()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert git(repo, "status", "--porcelain") == ""  # nothing of the key in the checkout
    commit = rotated(repo)
    gate = bash(repo, gate_script(repo, kind), gate_env(kind, base, commit))
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_the_gate_fails_an_unsigned_rotation(
    repo: Path, kind: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    ci_init(repo, kind, keys["pipeline"].with_suffix(".pub"))
    base = head(repo)  # no signing step ran: the job's commit is unsigned
    commit = rotated(repo)
    gate = bash(repo, gate_script(repo, kind), gate_env(kind, base, commit))
    assert gate.returncode == 1 and "unsigned-commit" in gate.stdout, gate.stdout + gate.stderr


def test_the_gate_fails_a_rotation_signed_by_another_key(
    repo: Path, kind: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    ci_init(repo, kind, keys["pipeline"].with_suffix(".pub"))
    base = head(repo)
    done = bash(repo, signing_script(repo, kind), ci_secrets(kind, keys["mallory"], tmp_path))
    assert done.returncode == 0, done.stderr
    commit = rotated(repo)
    assert git(repo, "cat-file", "commit", commit).count("BEGIN SSH SIGNATURE") == 1  # signed, by mallory
    gate = bash(repo, gate_script(repo, kind), gate_env(kind, base, commit))
    assert gate.returncode == 1 and "unsigned-commit" in gate.stdout, gate.stdout + gate.stderr


def test_a_missing_signing_secret_stops_the_job(
    repo: Path, kind: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    ci_init(repo, kind, keys["pipeline"].with_suffix(".pub"))
    secrets = {**ci_secrets(kind, keys["pipeline"], tmp_path), "SEALER_SIGNING_KEY": ""}
    done = bash(repo, signing_script(repo, kind), secrets)
    assert done.returncode != 0 and "SEALER_SIGNING_KEY is not set" in done.stderr
    assert git(repo, "config", "--get", "commit.gpgsign", check=False) == ""


@pytest.mark.parametrize(
    "text",
    [
        "ssh-ed25519 AAAA\nevil: 1",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        "not a key",
    ],
)
def test_a_signing_key_that_is_no_public_key_writes_nothing(repo: Path, tmp_path: Path, text: str) -> None:
    path = tmp_path / "key.pub"
    path.write_text(text)
    result = cli(repo, "ci", "init", "github", "--owner", "@acme", *PIN, "--signing-key", str(path))
    assert result.exit_code == 2 and "--signing-key" in result.stderr and result.stderr.count("\n") == 1
    assert not (repo / ".github").exists()


@pytest.mark.parametrize("shape", ["fifo", "folder"])
def test_a_signing_key_that_is_no_regular_file_is_one_line(repo: Path, tmp_path: Path, shape: str) -> None:
    """A FIFO given as --signing-key blocked `ci init` for ever (a plain open() waits for a writer)."""
    path = tmp_path / "key.pub"
    os.mkfifo(path) if shape == "fifo" else path.mkdir()
    result = cli(repo, "ci", "init", "github", "--owner", "@acme", *PIN, "--signing-key", str(path))
    assert result.exit_code == 2 and "--signing-key" in result.stderr and result.stderr.count("\n") == 1
    assert not (repo / ".github").exists()


def test_a_signer_removed_on_the_target_since_the_branch_point_counts_no_more(
    repo: Path, kind: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    """The gate reviews the pull request's own commits from where they branched off, but reads
    the trust anchors at the target branch's tip (GitHub: the base branch's head; GitLab: the
    target's tip in merged-results pipelines, else the merge-base)."""
    ci_init(repo, kind, keys["pipeline"].with_suffix(".pub"))
    base = head(repo)
    done = bash(repo, signing_script(repo, kind), ci_secrets(kind, keys["pipeline"], tmp_path))
    assert done.returncode == 0, done.stderr
    commit = rotated(repo)  # on its own branch; main stays at `base`
    (repo / ".sealer/allowed_signers").write_text("")
    target = commit_all(repo, "the pipeline key is withdrawn")
    if kind != "gitlab":  # the base branch's head is what GitHub (and Gitea) pass as BASE_SHA
        env = {"BASE_SHA": target, "HEAD_SHA": commit}
    else:
        env = {**gate_env(kind, base, commit), "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": target}
    gate = bash(repo, gate_script(repo, kind), env)
    assert gate.returncode == 1 and "unsigned-commit" in gate.stdout, gate.stdout + gate.stderr
    if kind == "gitlab":  # a plain merge request pipeline names no target tip: the merge-base's
        gate = bash(repo, gate_script(repo, kind), gate_env(kind, base, commit))
        assert gate.returncode == 0, gate.stdout + gate.stderr


@pytest.mark.parametrize("kind", ["gitea", "forgejo"])
def test_the_signing_key_is_removed_after_the_job(
    repo: Path, kind: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    """No runner empties a host-mode job's temp folder on Gitea or Forgejo: the job's last step
    (run whatever failed before it) removes the key and its private folder."""
    ci_init(repo, kind, keys["pipeline"].with_suffix(".pub"))
    done = bash(repo, signing_script(repo, kind), ci_secrets(kind, keys["pipeline"], tmp_path))
    assert done.returncode == 0, done.stderr
    written = Path(git(repo, "config", "user.signingkey").strip())
    assert written.is_file() and stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    workflow = yaml.safe_load((repo / f".{kind}/workflows/sealer-rotate.yml").read_text())
    last = workflow["jobs"]["rotate"]["steps"][-1]
    assert last["if"] == "${{ always() }}"
    removed = bash(repo, last["run"], {})
    assert removed.returncode == 0, removed.stderr
    assert (
        not written.exists() and not written.parent.exists() and list((tmp_path / "runner").iterdir()) == []
    )
    assert bash(repo, last["run"], {}).returncode == 0  # nothing left to remove: still fine


@pytest.mark.parametrize("kind", ["gitea", "forgejo"])
def test_the_key_removal_step_never_removes_the_runner_users_own_key(
    repo: Path, kind: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    """The removal step runs whatever failed before it, also when the signing step never set the
    checkout's user.signingkey (no secret): a host-mode runner's user may have a key of its own in
    its global git config, which is not the job's to remove."""
    ci_init(repo, kind, keys["pipeline"].with_suffix(".pub"))
    own = tmp_path / "runner-home/.ssh/id_ed25519"
    own.parent.mkdir(parents=True)
    own.write_bytes(keys["mallory"].read_bytes())
    global_config = tmp_path / "runner-home.gitconfig"
    global_config.write_text(f"[user]\n\tsigningkey = {own}\n")
    workflow = yaml.safe_load((repo / f".{kind}/workflows/sealer-rotate.yml").read_text())
    removed = bash(
        repo, workflow["jobs"]["rotate"]["steps"][-1]["run"], {"GIT_CONFIG_GLOBAL": str(global_config)}
    )
    assert removed.returncode == 0, removed.stderr
    assert own.is_file() and own.parent.is_dir()
