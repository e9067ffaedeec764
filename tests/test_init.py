"""`sealer init`: a Git repository becomes a sealer-managed GitOps repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import SEALER_SCRIPT
from support.env_repos import invoke, load_yaml, run_main, snapshot
from support.git import git
from support.git import init_repo as make_repo

from sealer import config, init
from sealer.backends import DEFAULT_BACKEND
from sealer.init import ROTATION_DAYS_BY_ENV
from sealer.scope import Scope


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def test_default_environments(fresh: Path) -> None:
    result = invoke(fresh, "init")

    assert result.exit_code == 0, result.stderr
    cfg = config.load(fresh)
    assert list(cfg.environments) == ["dev", "staging", "production"]
    for name, env in cfg.environments.items():
        assert (env.namespace, env.secret_name, env.keys, env.scope) == (
            name,
            "engine-api-key",
            ("apiKey",),
            Scope.STRICT,
        )
        assert (env.backend_kind, env.backend_options, env.clusters, env.cert_history) == (
            DEFAULT_BACKEND,
            {},
            (),
            (),
        )
        assert env.values_file == f"deploy/{name}/values.yaml"
        assert env.rotation_days == ROTATION_DAYS_BY_ENV[name]
        assert env.key_lifetime_days > env.rotation_days
        values = load_yaml(fresh / env.values_file)
        assert isinstance(values, dict) and "sealer" not in values
    assert (fresh / "certs").is_dir()
    assert {line.removeprefix("created ") for line in result.stdout.splitlines()} == {
        "sealer.yaml",
        ".pre-commit-config.yaml",
        ".gitattributes",
        ".gitignore",
        "deploy/dev/values.yaml",
        "deploy/staging/values.yaml",
        "deploy/production/values.yaml",
    }


@pytest.mark.parametrize("ignores", ["", "*.yaml\n"], ids=["nothing-ignored", "yaml-ignored"])
def test_init_warns_of_the_files_it_wrote_that_git_ignores(fresh: Path, tmp_path: Path, ignores: str) -> None:
    """A `*.yaml` in the user's core.excludesFile: `git add -A` would leave sealer.yaml and the
    values files out, and `sealer check` fail on them (ignored-file). init says so on stderr,
    naming them, and still succeeds; with nothing ignored it says nothing."""
    (tmp_path / "excludes").write_text(ignores)
    git(fresh, "config", "core.excludesFile", str(tmp_path / "excludes"))
    result = invoke(fresh, "init", "--env", "qa")
    assert result.exit_code == 0, result.stderr
    if not ignores:
        assert result.stderr == ""
        return
    named = ".pre-commit-config.yaml, deploy/qa/values.yaml, sealer.yaml"
    assert result.stderr == (
        f"sealer: warning: untracked files git ignores in {named} "
        "(`git add -A` and `git stash` leave them out): "
        "`git add -f` and commit them first (`git check-ignore -v PATH` names the rule)\n"
    )
    assert "created sealer.yaml" in result.stdout


def test_chosen_environments_and_namespaces(fresh: Path) -> None:
    result = invoke(fresh, "init", "--env", "qa", "--env", "live", "--namespace-of", "live=engine-live")

    assert result.exit_code == 0, result.stderr
    cfg = config.load(fresh)
    assert list(cfg.environments) == ["qa", "live"]
    assert cfg.env("qa").namespace == "qa"
    assert cfg.env("live").namespace == "engine-live"
    assert cfg.env("live").rotation_days >= 1
    assert sorted(p.name for p in (fresh / "deploy").iterdir()) == ["live", "qa"]


def test_json_output_lists_created_files(fresh: Path) -> None:
    result = invoke(fresh, "init", "--env", "qa", "--output", "json")

    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)["created"]
    assert "sealer.yaml" in created and "deploy/qa/values.yaml" in created
    assert all((fresh / path).is_file() for path in created)


def test_pre_commit_config_runs_sealer_hooks(fresh: Path) -> None:
    invoke(fresh, "init")

    path = fresh / ".pre-commit-config.yaml"
    (repo,) = load_yaml(path)["repos"]  # sealer's own hooks repository, pinned (hooksrepo.py)
    # The checkout these tests run from: its origin (any clone has one), else its path, at its
    # tag or commit (test_hooksrepo.py covers each case; here: init writes what it finds).
    checkout = Path(config.__file__).resolve().parent.parent
    origin = git(checkout, "remote", "get-url", "origin", check=False).strip()
    tag = git(checkout, "describe", "--exact-match", "--tags", "HEAD", check=False).strip()
    assert repo["repo"] == (origin or str(checkout))
    assert repo["rev"] == (tag or git(checkout, "rev-parse", "HEAD").strip())
    assert ["sealer-scan", "sealer-scan-message", "sealer-check"] == [hook["id"] for hook in repo["hooks"]]
    assert load_yaml(path)["default_install_hook_types"] == ["pre-commit", "commit-msg"]
    assert "pip install sealer" not in path.read_text()
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(path)],
        capture_output=True,
        text=True,
        cwd=fresh,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_git_attributes_ignore_and_diff_driver(fresh: Path) -> None:
    invoke(fresh, "init")

    attrs = git(
        fresh,
        "check-attr",
        "diff",
        "--",
        "sealed/staging/staging.yaml",
        "deploy/dev/values.yaml",
        "README.md",
    )
    assert attrs.splitlines() == [
        "sealed/staging/staging.yaml: diff: sealer",
        "deploy/dev/values.yaml: diff: sealer",
        "README.md: diff: unspecified",
    ]
    assert (
        git(fresh, "check-ignore", ".sealer/out/sealer-rotate-x.md").strip()
        == ".sealer/out/sealer-rotate-x.md"
    )
    assert git(fresh, "config", "--local", "diff.sealer.textconv").strip() == init.textconv_command()
    assert git(fresh, "check-ignore", "keys/staging/tls.key", "a/sealed-secrets-key.yaml").split() == [
        "keys/staging/tls.key",
        "a/sealed-secrets-key.yaml",
    ]
    global_config = Path(os.environ["GIT_CONFIG_GLOBAL"])
    assert not global_config.exists() or "sealer" not in global_config.read_text()


def test_existing_git_files_are_extended_not_replaced(fresh: Path) -> None:
    (fresh / ".gitignore").write_text("node_modules/\n*.log")  # no final newline
    (fresh / ".gitattributes").write_text("*.png binary\n")
    (fresh / "deploy" / "staging").mkdir(parents=True)
    (fresh / "deploy" / "staging" / "values.yaml").write_text("# mine\nreplicaCount: 5\n")

    assert invoke(fresh, "init").exit_code == 0

    ignore = (fresh / ".gitignore").read_text().splitlines()
    assert ignore[:2] == ["node_modules/", "*.log"] and "/.sealer/out/" in ignore
    assert (fresh / ".gitattributes").read_text().startswith("*.png binary\n")
    assert "diff=sealer" in (fresh / ".gitattributes").read_text()
    assert (fresh / "deploy" / "staging" / "values.yaml").read_text() == "# mine\nreplicaCount: 5\n"


@pytest.mark.parametrize("name", [".gitattributes", ".gitignore"])
@pytest.mark.parametrize(
    "content, message",
    [
        (b"*.png binary\n\xff\xfe\n", "not valid UTF-8"),
        (b"#" * (16 * 1024 * 1024 + 1), "larger than the limit"),
    ],
    ids=["invalid-utf8", "too-large"],
)
def test_a_git_file_it_cannot_extend_stops_it_before_its_first_write(
    fresh: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, message: str
) -> None:
    """init extends .gitattributes and .gitignore: one it cannot read as text used to be found after
    sealer.yaml was written, leaving a half set-up that a rerun refuses (sealer.yaml exists)."""
    (fresh / name).write_bytes(content)
    before = snapshot(fresh)

    code, _, err = run_main(fresh, capsys, "init", "--env", "qa")

    assert code == 2
    assert err.count("\n") == 1 and name in err and message in err and "Traceback" not in err
    assert snapshot(fresh) == before
    assert git(fresh, "config", "--local", "--get-regexp", "^diff\\.", check=False) == ""


def test_refuses_to_overwrite_sealer_yaml(fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (fresh / "sealer.yaml").write_text("# my own\nversion: 1\nenvironments: {}\n")
    before = snapshot(fresh)

    code, out, err = run_main(fresh, capsys, "init", "--env", "qa")

    assert code == 2
    assert err.count("\n") == 1 and "sealer.yaml exists" in err and "Traceback" not in err
    assert snapshot(fresh) == before


def test_refuses_outside_a_git_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))

    code, _, err = run_main(folder, capsys, "init")

    assert code == 2
    assert err.count("\n") == 1 and "not inside a Git repository" in err
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "Staging"], "environment tag 'Staging' is not valid"),
        (["--env", "a_b"], "environment tag 'a_b' is not valid"),
        (["--env", "qa", "--env", "qa"], "each --env may be given once"),
        (["--env", "qa", "--namespace-of", "prod=x"], "--namespace-of names unknown environment(s): prod"),
        (["--namespace-of", "staging"], "use ENV=NAMESPACE"),
        (
            ["--namespace-of", "staging=Not_A_Label"],
            "invalid config: sealer.yaml: environments.staging.namespace: must be a DNS label",
        ),
    ],
)
def test_bad_arguments_write_nothing(
    fresh: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = snapshot(fresh)

    code, _, err = run_main(fresh, capsys, "init", *args)

    assert code == 2
    assert message in err and "Traceback" not in err
    assert snapshot(fresh) == before
    assert git(fresh, "config", "--local", "--get-regexp", "^diff\\.", check=False) == ""


def test_installed_command(fresh: Path) -> None:
    """One smoke test of the console script itself."""
    done = subprocess.run([SEALER_SCRIPT, "init", "--env", "qa"], cwd=fresh, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert list(config.load(fresh).environments) == ["qa"]


def test_a_pre_commit_config_already_there_without_sealer_hooks_is_said(fresh: Path) -> None:
    """init never overwrites a `.pre-commit-config.yaml`; one that runs no sealer hook leaves the
    plaintext guard off: init says so and what to add, and leaves the file as it was."""
    config_file = fresh / ".pre-commit-config.yaml"
    config_file.write_text(
        "repos:\n  - repo: local\n    hooks: [{id: black, name: b, entry: b, language: system}]\n"
    )
    before = config_file.read_bytes()
    result = invoke(fresh, "init", "--env", "qa")
    assert result.exit_code == 0, result.stderr
    said = "which runs no sealer-scan or sealer-scan-message or sealer-check hook"
    assert f"kept .pre-commit-config.yaml, {said}" in result.stdout
    assert "      - id: sealer-scan-message" in result.stdout and config_file.read_bytes() == before
    assert "run `pre-commit install --hook-type commit-msg`" in result.stdout


ALL_HOOKS = "{id: sealer-scan}, {id: sealer-scan-message}, {id: sealer-check}"


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        (f"repos:\n  - repo: x\n    rev: v1\n    hooks: [{ALL_HOOKS}]\n", []),
        (
            "repos:\n  - repo: x\n    rev: v1\n    hooks: [{id: sealer-scan}, {id: sealer-check}]\n",
            ["sealer-scan-message"],
        ),
        (
            "repos:\n  - repo: x\n    rev: v1\n    hooks: [{id: sealer-scan}]\n",
            ["sealer-scan-message", "sealer-check"],
        ),
        ("repos: [\n", ["sealer-scan", "sealer-scan-message", "sealer-check"]),
        ("repos: 3\n", ["sealer-scan", "sealer-scan-message", "sealer-check"]),
    ],
    ids=["all", "no-message-hook", "scan-only", "not-yaml", "not-a-list"],
)
def test_json_names_the_sealer_hooks_a_kept_pre_commit_config_lacks(
    fresh: Path, text: str, missing: list[str]
) -> None:
    (fresh / ".pre-commit-config.yaml").write_text(text)
    result = invoke(fresh, "init", "--env", "qa", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["hooks_missing"] == missing


@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize(
    ("types", "installs"), [("", False), ("[pre-commit]", False), ("[pre-commit, commit-msg]", True)]
)
def test_a_kept_config_whose_pre_commit_install_skips_the_message_hook_is_said(
    fresh: Path, types: str, installs: bool, as_json: bool
) -> None:
    """A config upgraded by hand (all three hooks listed) but without commit-msg in
    `default_install_hook_types`: `pre-commit install` in each new clone leaves the message hook off."""
    head = f"default_install_hook_types: {types}\n" if types else ""
    (fresh / ".pre-commit-config.yaml").write_text(
        f"{head}repos:\n  - repo: x\n    rev: v1\n    hooks: [{ALL_HOOKS}]\n"
    )
    said = invoke(fresh, "init", "--env", "qa", *(["-o", "json"] if as_json else []))
    assert said.exit_code == 0, said.stderr
    if as_json:
        assert json.loads(said.stdout)["installs_commit_msg"] is installs
    else:
        assert (
            "has no `default_install_hook_types: [pre-commit, commit-msg]`" in said.stdout
        ) is not installs


@pytest.mark.parametrize(
    "text",
    [
        "repos:\n  - repo: x\n    rev: v1\n    hooks: 5\n",
        "repos:\n  - repo: x\n    rev: v1\n    hooks: [{id: [sealer-scan]}]\n",
        "repos:\n  - repo: x\n    rev: v1\n    hooks: [{id: {a: 1}}]\n",
    ],
    ids=["hooks-not-a-list", "id-a-list", "id-a-mapping"],
)
def test_a_kept_pre_commit_config_of_any_shape_lacks_the_sealer_hooks(fresh: Path, text: str) -> None:
    (fresh / ".pre-commit-config.yaml").write_text(text)
    result = invoke(fresh, "init", "--env", "qa", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert {"sealer-scan", "sealer-check"} <= set(json.loads(result.stdout)["hooks_missing"])
