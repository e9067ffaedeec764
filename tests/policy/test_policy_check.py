"""`sealer check` as users and CI run it: exit codes, outputs, --strict, the rotate --due loop."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import key_spellings
from support.cli import SEALER_SCRIPT
from support.policy_repos import (
    RepoFactory,
    age_keys,
    check_json,
    commit_all,
    edit_config,
    edit_ledger,
    problems,
    rendered_tables,
    sealer,
)
from support.records import pending_key

from sealer import apikey, cert_pins, ledger, yamlio
from sealer.errors import ConfigError
from sealer.policy import model
from sealer.policy.rules import key_distinct
from sealer.records import ciphertext_digest

REPO = Path(__file__).resolve().parents[2]


def key_ids(root: Path, env: str) -> list[str]:
    return [r.key_id for r in ledger.load(root, env) if r.status == "active"]


def test_a_rotation_waiting_on_its_branch_is_merged_first(repo_factory: RepoFactory) -> None:
    """A fix of `sealer rotate ENV` while a rotation of ENV waits on its own branch: that command
    is refused until the branch is merged, so the fix says to merge it; once merged, or for
    another environment, the plain command."""
    root = repo_factory()
    age_keys(root, "staging", 31)
    age_keys(root, "production", 95)
    commit_all(root, "old keys")
    assert sealer(root, "rotate", "staging").exit_code == 0  # on a branch of its own
    (branch,) = [
        b for b in subprocess_git(root, "branch", "--format=%(refname:short)").split() if "staging" in b
    ]
    fixes = {p["env"]: p["fix"] for p in check_json(root)[1]["problems"]}
    assert fixes == {
        "staging": f"merge branch {branch} first (a rotation of staging waits there: "
        "`sealer rotate staging --key apiKey` is refused until then)",
        "production": "sealer rotate production --key apiKey",
    }
    refused = sealer(root, "rotate", "staging", "--key", "apiKey")
    assert refused.exit_code == 2 and branch in refused.stderr  # as the fix says
    subprocess_git(root, "merge", "-q", "--ff-only", branch)
    fixes = {p["env"]: p["fix"] for p in check_json(root)[1]["problems"]}
    assert fixes == {"production": "sealer rotate production --key apiKey"}


def test_a_newer_rotation_on_main_is_merged_first(repo_factory: RepoFactory) -> None:
    """A checkout behind main, where main took in a rotation since: no rotation waits on main, so
    neither check's fix nor rotate's refusal says so; both say to merge main first."""
    root = repo_factory()
    age_keys(root, "staging", 31)
    commit_all(root, "old keys")
    main = subprocess_git(root, "branch", "--show-current").strip()
    subprocess_git(root, "branch", "feature")
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 0  # on main
    subprocess_git(root, "checkout", "-q", "feature")
    fixes = {p["env"]: p["fix"] for p in check_json(root)[1]["problems"]}
    assert fixes["staging"] == (
        f"merge branch {main} first (it holds a newer rotation of staging: "
        "`sealer rotate staging --key apiKey` is refused until then)"
    )
    refused = sealer(root, "rotate", "staging", "--key", "apiKey")
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"sealer: branch {main} holds a newer rotation of staging than feature does: merge {main} "
        "into feature first (a rotation from feature would stack on a stale ledger)\n"
    )


def test_only_a_fix_given_as_a_rotation_is_merged_first(repo_factory: RepoFactory) -> None:
    """What a fix rotates is data the rule gives (Problem.rotating), never its text read back: a
    fix that only reads like `sealer rotate ENV` is left as it is."""
    from sealer import config
    from sealer.policy.model import ERROR, Problem, Rotation
    from sealer.policy.runner import after_waiting_rotations

    root = repo_factory()
    assert sealer(root, "rotate", "staging").exit_code == 0  # on a branch of its own
    rotating = Problem.rotating("key-age", "staging", ERROR, "old", "apiKey")
    assert rotating.rotation == Rotation("staging", "apiKey")
    assert rotating.as_dict()["fix"] == "sealer rotate staging --key apiKey"  # the report as before
    alike = dataclasses.replace(rotating, rotation=None)
    fixed, kept = after_waiting_rotations(config.load(root), [rotating, alike])
    assert fixed.fix.startswith("merge branch sealer/rotate-staging-") and kept == alike


def test_without_git_to_ask_the_fix_is_the_plain_command(tmp_path: Path) -> None:
    """A copy of the repository without its `.git` (an export): nothing to merge, nothing refused."""
    from sealer.config import Config
    from sealer.policy.model import ERROR, Problem
    from sealer.policy.runner import after_waiting_rotations

    found = [Problem("key-age", "staging", ERROR, "old", "sealer rotate staging --key apiKey")]
    cfg = Config(root=tmp_path, environments={})
    assert after_waiting_rotations(cfg, found) == found


def subprocess_git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def git_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The arguments of every git process sealer starts from here on, in order."""
    from sealer import git

    asked: list[tuple[str, ...]] = []
    real_call = git._call

    def counted(where: Path | str, args: tuple[str, ...], *rest: Any, **named: Any) -> Any:
        asked.append(tuple(args))
        return real_call(where, args, *rest, **named)

    monkeypatch.setattr(git, "_call", counted)
    return asked


def test_check_fails_before_rotate_due_and_passes_after(repo_factory: RepoFactory) -> None:
    root = repo_factory()
    age_keys(root, "staging", 31)  # past its 30 days
    age_keys(root, "production", 95)  # past its 90 days
    age_keys(root, "dev", 20)  # far from its 180 days
    dev_key = key_ids(root, "dev")
    commit_all(root, "old keys")
    code, before = check_json(root)
    assert code == 1
    assert sorted((p["rule"], p["env"]) for p in before["problems"]) == [
        ("key-age", "production"),
        ("key-age", "staging"),
    ]

    rotated = sealer(root, "rotate", "--due", "--no-branch")
    assert rotated.exit_code == 0, rotated.output
    assert "rotated staging" in rotated.stdout and "rotated production" in rotated.stdout

    code, after = check_json(root)
    assert (code, after["problems"], after["ok"]) == (0, [], True)
    assert key_ids(root, "dev") == dev_key  # not due, not rotated


def test_warnings_pass_unless_strict(repo_factory: RepoFactory) -> None:
    root = repo_factory()
    age_keys(root, "production", 86)  # 4 days before the 90-day limit
    relaxed = sealer(root, "check")
    assert relaxed.exit_code == 0
    assert "warning" in relaxed.stdout and "passed with warnings: 0 errors, 1 warning" in relaxed.stdout
    strict = sealer(root, "check", "--strict")
    assert strict.exit_code == 1
    assert "failed: 0 errors, 1 warning" in strict.stdout
    code, report = check_json(root, "--strict")
    assert (code, report["ok"], report["strict"]) == (1, False, True)
    assert (report["warnings"], report["errors"]) == (1, 0)


def test_text_output_names_rule_environment_problem_and_fix(repo_factory: RepoFactory) -> None:
    root = repo_factory()
    age_keys(root, "staging", 40)
    result = sealer(root, "check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["error", "staging", "key-age"]
    assert "is 40 days old; staging allows 30 days" in lines[0]
    assert lines[1].strip() == "fix: sealer rotate staging --key apiKey"
    assert lines[-1] == "failed: 1 error, 0 warnings in 3 environments"
    assert "\x1b[" not in result.stdout  # not a terminal: no colours


def test_check_only_the_named_environments(repo_factory: RepoFactory) -> None:
    root = repo_factory()
    age_keys(root, "staging", 45)
    code, report = check_json(root, "dev", "production")
    assert (code, report["environments"], report["problems"]) == (0, ["dev", "production"], [])
    code, report = check_json(root, "staging")
    assert (code, [p["env"] for p in report["problems"]]) == (1, ["staging"])


def test_unknown_environment_is_bad_input(repo_factory: RepoFactory) -> None:
    result = sealer(repo_factory(), "check", "qa")
    assert result.exit_code == 2
    assert result.stderr.strip() == "sealer: unknown environment 'qa' (known: dev, staging, production)"


def test_json_output_shape(repo_factory: RepoFactory) -> None:
    root = repo_factory()
    age_keys(root, "staging", 45)
    code, report = check_json(root)
    assert code == 1
    assert set(report) == {"ok", "strict", "environments", "errors", "warnings", "policy", "problems"}
    assert report["policy"] == ["policies/default.yaml", "sealer.yaml"]
    (problem,) = report["problems"]
    assert set(problem) == {"rule", "env", "level", "message", "fix"}
    assert (problem["rule"], problem["env"], problem["level"]) == ("key-age", "staging", "error")


def test_markdown_output_renders_as_a_table(repo_factory: RepoFactory) -> None:
    root = repo_factory()
    age_keys(root, "staging", 45)
    age_keys(root, "production", 86)
    result = sealer(root, "check", "--output", "markdown")
    assert result.exit_code == 1
    (table,) = rendered_tables(result.stdout)
    assert table[0] == ["Level", "Environment", "Rule", "Problem", "Fix"]
    _, report = check_json(root)
    assert [row[:3] for row in table[1:]] == [[p["level"], p["env"], p["rule"]] for p in report["problems"]]
    assert [row[3:] for row in table[1:]] == [[p["message"], p["fix"]] for p in report["problems"]]


def test_markdown_cells_escape_pipes_and_angle_brackets() -> None:
    from sealer.policy.model import Problem
    from sealer.policy.report import markdown
    from sealer.policy.runner import Report

    problem = Problem(
        "namespace", "dev", "error", "a | b <script>x</script>", "set x: <y> then `sealer rotate dev`"
    )
    (table,) = rendered_tables(markdown(Report(("dev",), (problem,), ())))
    assert table[1] == [
        "error",
        "dev",
        "namespace",
        "a | b <script>x</script>",
        "set x: <y> then sealer rotate dev",
    ]


def test_markdown_cells_make_no_link_image_or_emphasis_of_anyones_text() -> None:
    """A message names key ids a ledger holds and paths sealer.yaml holds: a pull request's text.
    It made links, images and bold text in the table a CI job posts ("**approved**")."""
    import markdown as md

    from sealer.policy.model import Problem
    from sealer.policy.report import markdown
    from sealer.policy.runner import Report

    forged = "kid_x [approved](https://evil.example) ![i](https://evil.example/p.png) **LGTM** _a_"
    problem = Problem("key-ledger", "dev", "error", f"apiKey key {forged} is accepted", f"revoke {forged}")
    prose = Problem(
        "key-ledger", "dev", "error", "m", f"run `sealer keys revoke dev {forged}` then **merge**"
    )
    text = markdown(Report(("dev",), (problem, prose), ()))
    html = md.markdown(text, extensions=["tables"])
    assert not re.search(r"<(a|img|strong|em|del)\b", html.split("<table>", 1)[1]), html
    (table,) = rendered_tables(text)
    assert table[1][3:] == [f"apiKey key {forged} is accepted", f"revoke {forged}"]
    assert table[2][4] == f"run sealer keys revoke dev {forged} then **merge**"
    assert "<code>sealer keys revoke dev kid_x [approved]" in html  # the command stays code
    spoofed = markdown(
        Report(("dev",), (Problem("r", "dev", "error", "kid_\u202ex", "revoke kid_\u202ex"),), ())
    )
    assert "\u202e" not in spoofed and spoofed.count("kid_\\u202ex") == 1  # shown, not obeyed
    # GitHub's strikethrough (python-markdown has none, nor reads `\~` as an escape)
    assert "\\~b\\~" in markdown(Report(("dev",), (Problem("r", "dev", "error", "~b~", "f"),), ()))


def test_markdown_without_problems_is_a_summary(repo_factory: RepoFactory) -> None:
    result = sealer(repo_factory(), "check", "-o", "markdown")
    assert result.exit_code == 0
    assert result.stdout == "**sealer check** — ok: 3 environments comply with the policy\n"
    assert rendered_tables(result.stdout) == []


def test_installed_command_and_its_imports(repo_factory: RepoFactory) -> None:
    """The pre-commit hook path: the real `sealer` executable, and no Jinja2 or ruamel loaded."""
    root = repo_factory()
    done = subprocess.run([SEALER_SCRIPT, "check"], cwd=root, capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "ok: 3 environments comply with the policy")
    probe = (
        "import sys; from sealer.cli import main; code = main(['check', '-o', 'json']); "
        "print(sorted(m for m in ('jinja2', 'ruamel.yaml') if m in sys.modules), code, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True)
    assert done.stderr.strip() == "[] 0"


def check_hook() -> dict[str, Any]:
    from pre_commit.clientlib import load_manifest

    manifest = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    hooks = [hook for hook in manifest if hook["id"] == "sealer-check"]
    assert len(hooks) == 1
    return dict(hooks[0])


def test_pre_commit_hook_entry() -> None:
    hook = check_hook()
    assert (hook["entry"], hook["language"]) == ("sealer check", "python")
    assert (hook["pass_filenames"], hook["always_run"]) == (False, True)


def test_hook_blocks_a_commit_that_breaks_the_policy(
    repo_factory: RepoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pre-commit framework runs the hook as the manifest declares it; only `language`
    and `entry` change (`system`, this interpreter), so pre-commit builds no environment."""
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    root = repo_factory()
    hook = {k: v for k, v in check_hook().items() if k in ("id", "name", "pass_filenames", "always_run")}
    hook.update(language="system", entry=f"{sys.executable} -m sealer check")
    local = {"repos": [{"repo": "local", "hooks": [hook]}]}
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(local))
    commit_all(root, "hook config")
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=root, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr

    (root / "README.md").write_text("docs\n")  # a harmless change: the hook runs and passes
    commit_all(root, "docs")
    age_keys(root, "staging", 40)  # the ledger now records an overdue key
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    done = subprocess.run(["git", "commit", "-m", "old key"], cwd=root, capture_output=True, text=True)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "sealer check (key policy)" in out and "Failed" in out
    assert "key-age  apiKey key" in out and "fix: sealer rotate staging --key apiKey" in out


def test_list_rules_names_every_rule_with_its_description(tmp_path: Path) -> None:
    """Needs no sealer.yaml: one line per rule, its id then what it checks, in report order."""
    from sealer.policy.rules import RULES

    result = sealer(tmp_path, "check", "--list-rules")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(RULES)
    assert "key-age" in lines[11] and lines[11].endswith(
        "  keys are rotated before they reach the maximum age"
    )
    listed = json.loads(sealer(tmp_path, "check", "--list-rules", "-o", "json").stdout)
    assert {item["id"]: item["description"] for item in listed} == {
        r.ID: r.DESCRIPTION for r in RULES.values()
    }
    assert all(item["description"] for item in listed)
    markdown = sealer(tmp_path, "check", "--list-rules", "-o", "markdown").stdout
    assert "| `cert-file` | every environment pins a readable certificate that matches its pin |" in markdown


def test_list_rules_with_an_env_is_a_usage_error(tmp_path: Path) -> None:
    result = sealer(tmp_path, "check", "--list-rules", "dev")
    assert result.exit_code == 2 and result.stderr == "sealer: --list-rules takes no ENV\n"


# Paths in sealer.yaml and a ledger's actor are a pull request's text: a CR ends a line (in a CI
# log, a terminal, a Markdown table) and ESC moves the cursor, so neither reaches the output raw.
HOSTILE = "x\r\x1b[2Kok: every environment complies\n| forged | row |"


def test_a_path_in_sealer_yaml_that_would_forge_lines_is_refused(repo_factory: RepoFactory) -> None:
    """sealer.yaml is anyone's text: a path holding a line break or an escape is refused in one
    line (its characters shown escaped), before any output could carry it."""
    root = repo_factory()
    with pytest.raises(ConfigError, match="holds a control character"):  # sealer's own edit refuses it
        edit_config(
            root, lambda doc: doc["environments"]["staging"]["clusters"][0].update(cert=f"certs/{HOSTILE}")
        )
    cfg = yaml.safe_load((root / "sealer.yaml").read_text())
    cfg["environments"]["staging"]["clusters"][0]["cert"] = f"certs/{HOSTILE}"
    (root / "sealer.yaml").write_text(json.dumps(cfg))  # as anyone may write it
    for output in ("text", "markdown", "json"):
        result = sealer(root, "check", "-o", output)
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert result.stderr.count("\n") == 1 and "holds a control character" in result.stderr
        assert "\r" not in result.stderr and "\x1b" not in result.stderr


def test_audit_output_holds_no_row_a_ledger_actor_forged(repo_factory: RepoFactory) -> None:
    root = repo_factory()
    edit_ledger(root, "staging", lambda records: [dataclasses.replace(r, actor=HOSTILE) for r in records])
    for args in ([], ["-o", "markdown"]):
        result = sealer(root, "audit", *args)
        assert result.exit_code == 0 and "\r" not in result.stdout and "\x1b" not in result.stdout
        assert not [line for line in result.stdout.splitlines() if line.startswith(("ok:", "| forged"))]


def test_a_ledger_time_beyond_the_calendar_is_one_line_of_bad_input(repo_factory: RepoFactory) -> None:
    """A ledger is anyone's text: a key created in year 9999 overflowed the age arithmetic of
    `check` and `audit` (a traceback, exit 3); it is bad input, named once, like any broken record."""
    root = repo_factory()
    moment = dt.datetime(9999, 12, 28, tzinfo=dt.timezone.utc)
    edit_ledger(
        root, "staging", lambda records: [dataclasses.replace(r, created=moment) for r in records], False
    )
    for args in (["check"], ["audit", "-o", "json"], ["audit", "-o", "html"]):
        result = sealer(root, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1 and "ledger/staging.yaml" in result.stderr, result.stderr
        assert "no time sealer gave it" in result.stderr


@pytest.mark.parametrize("change", ["accepted", "unmanaged", "behind-pending"])
def test_a_valid_key_no_rule_bounds_fails_check(repo_factory: RepoFactory, change: str) -> None:
    """The key registry lists `accepted` and active records of any entry: a ledger edit marking
    a key of anyone's choosing `accepted`, making a key valid under an entry sealer.yaml does not
    list, or putting a pending record after an entry's active key (key-age and `rotate --due` then
    judge the pending one) passed `check` while every verifier accepted that key."""
    root = repo_factory()
    fingerprint = "ab" * 32
    current = ledger.load(root, "staging")[-1]
    added = dataclasses.replace(
        current,
        key_id=f"kid_{fingerprint[:12]}",
        fingerprint=fingerprint,
        status={"accepted": "accepted", "unmanaged": "active", "behind-pending": "pending"}[change],
        name="oldKey" if change == "unmanaged" else "apiKey",
    )
    edit_ledger(root, "staging", lambda records: [*records, added])
    commit_all(root, "a stray valid key")
    valid = current if change == "behind-pending" else added
    assert valid.key_id in (root / "registry/staging/staging.yaml").read_text()
    code, report = check_json(root, "staging")
    assert code == 1
    found = [p for p in report["problems"] if p["rule"] == "key-ledger" and p["level"] == "error"]
    assert len(found) == 1 and valid.key_id in found[0]["message"], report["problems"]
    assert found[0]["fix"] == f"sealer keys revoke staging {valid.key_id}"


def removed_from_sealer_yaml(root: Path, env: str) -> None:
    edit_config(root, lambda doc: doc["environments"].pop(env))


def test_what_is_left_of_an_environment_removed_from_sealer_yaml_fails(repo_factory: RepoFactory) -> None:
    """Its SealedSecrets (and key registries) stay in Git, applied by GitOps: the cluster keeps
    accepting its keys, and no rule of an environment's own looks at them any more."""
    root = repo_factory()
    removed_from_sealer_yaml(root, "dev")
    code, report = check_json(root)
    assert code == 1
    assert [(p["rule"], p["env"], p["fix"]) for p in report["problems"]] == [
        ("leftover-environment", "dev", "git rm -r sealed/dev"),
        ("leftover-environment", "dev", "git rm -r registry/dev"),
    ]
    assert "keeps accepting its keys" in report["problems"][0]["message"]
    code, named = check_json(root, "staging")  # only what the named environments hold
    assert (code, named["problems"]) == (0, [])
    subprocess.run(["git", "rm", "-rq", "sealed/dev", "registry/dev"], cwd=root, check=True)
    code, after = check_json(root)
    assert (code, after["problems"]) == (0, [])


def sealed_for_a_second_cluster(root: Path) -> None:
    """staging pinned and rotated for a second cluster, eu (behind the same controller)."""
    cert_pins.pin(root, "staging", (root / "certs/staging.pem").read_bytes(), "tls.crt", "eu")
    commit_all(root, "a second cluster")
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 0
    assert (root / "sealed/staging/eu.yaml").is_file()


def test_a_sealed_file_of_a_cluster_removed_from_sealer_yaml_fails(repo_factory: RepoFactory) -> None:
    """A cluster taken out of `clusters:` (its key registry removed too) leaves its sealed file
    in Git: a GitOps tool keeps applying it and no rotation reseals it again, so an older
    ciphertext put back there is delivered for good. check ENV looks at ENV's folder too."""
    root = repo_factory()
    sealed_for_a_second_cluster(root)
    code, report = check_json(root)
    assert (code, report["problems"]) == (0, [])  # both clusters listed: nothing left over
    edit_config(root, lambda doc: doc["environments"]["staging"]["clusters"].pop(1))
    subprocess_git(root, "rm", "-q", "registry/staging/eu.yaml")
    commit_all(root, "eu gone")
    left = ("leftover-cluster", "staging", "git rm sealed/staging/eu.yaml")
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (1, [left])
    assert "sealed/staging/eu.yaml is no sealed file of a cluster" in report["problems"][0]["message"]
    text = sealer(root, "check").stdout.splitlines()
    assert "leftover-cluster" in text[0] and text[1].strip() == "fix: git rm sealed/staging/eu.yaml"
    assert "| `leftover-cluster` |" in sealer(root, "check", "--output", "markdown").stdout
    assert check_json(root, "production")[0] == 0  # another environment's folder is not looked at
    subprocess_git(root, "rm", "-q", "sealed/staging/eu.yaml")
    code, after = check_json(root)
    assert (code, after["problems"]) == (0, [])


def test_check_asks_git_for_its_index_once(
    repo_factory: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-commit hook's `sealer check` lists what Git's index holds once (each process ~3 ms
    on every commit) for leftover-cluster, leftover-environment, certs/ and case-collision alike,
    and check ENV too (its case-collision reads its values files); each still finds its leftover."""

    root = repo_factory()
    (root / "sealed/staging/eu.yml").write_bytes((root / "sealed/staging/staging.yaml").read_bytes())
    (root / "sealed/gone").mkdir()
    (root / "sealed/gone/gone.yaml").write_text("kind: SealedSecret\n")
    commit_all(root, "leftovers")
    asked = git_calls(monkeypatch)
    for named, listed, rules in (
        ((), ".", ["leftover-cluster", "leftover-environment"]),
        (("staging",), ".", ["leftover-cluster"]),
    ):
        asked.clear()
        code, report = check_json(root, *named)
        assert (code, sorted(p["rule"] for p in report["problems"])) == (1, rules)
        assert [args[-1] for args in asked if "ls-files" in args] == [listed], asked


@pytest.mark.parametrize(
    ("path", "fix"),
    [
        ("sealed/staging/eu.yaml", "git rm sealed/staging/eu.yaml"),
        ("sealed/staging/eu.yml", "git rm sealed/staging/eu.yml"),  # a GitOps tool applies it too
        ("sealed/staging/old/eu.yaml", "git rm -r sealed/staging/old"),
        ("sealed/staging/old/README.md", "git rm -r sealed/staging/old"),  # a folder counts whole
        ("sealed/staging/notes.yml", "git rm sealed/staging/notes.yml"),
        ("sealed/staging/EU.YAML", "git rm sealed/staging/EU.YAML"),  # Argo CD on macOS, say
        ("sealed/staging/kustomization.yaml", "git rm sealed/staging/kustomization.yaml"),
        ("sealed/staging/Kustomization", "git rm sealed/staging/Kustomization"),
        ("sealed/staging/eu.jsonnet", "git rm sealed/staging/eu.jsonnet"),  # Argo CD evaluates it
        ("sealed/staging/registry.json", "git rm sealed/staging/registry.json"),
    ],
)
def test_a_file_in_a_sealed_folder_counts_once_git_holds_it(
    repo_factory: RepoFactory, path: str, fix: str
) -> None:
    """Only what Git holds is delivered (and `git rm` could remove nothing else): the file on
    disk alone passes, staged it fails."""
    root = repo_factory()
    (root / path).parent.mkdir(exist_ok=True)
    (root / path).write_bytes((root / "sealed/staging/staging.yaml").read_bytes())
    code, report = check_json(root)
    assert (code, report["problems"]) == (0, [])
    subprocess_git(root, "add", "--", path)
    code, report = check_json(root)
    assert (code, [(p["rule"], p["fix"]) for p in report["problems"]]) == (1, [("leftover-cluster", fix)])


@pytest.mark.parametrize("name", [".gitkeep", "README.md", ".DS_Store", "notes.txt"])
def test_a_file_no_gitops_tool_applies_in_a_sealed_folder_passes(
    repo_factory: RepoFactory, name: str
) -> None:
    """Argo CD and Flux apply a folder's manifests, jsonnet and kustomization only: a `.gitkeep`
    or a README a team committed into sealed/<env>/ delivers nothing, and the pre-commit hook
    must not refuse every commit over it. The same name as a symlink may point at anything."""
    root = repo_factory()
    (root / "sealed/staging" / name).write_text("kept\n")
    commit_all(root, name)
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        assert (code, report["problems"]) == (0, [])
    subprocess_git(root, "rm", "-q", f"sealed/staging/{name}")
    (root / "sealed/staging" / name).symlink_to("staging.yaml")
    subprocess_git(root, "add", "--", f"sealed/staging/{name}")
    code, report = check_json(root, "staging")
    assert (code, [p["rule"] for p in report["problems"]]) == (1, ["leftover-cluster"])


ONE_FILE = "a case-insensitive file system (macOS, Windows) checks both out as one file"


@pytest.mark.parametrize(
    ("path", "copied", "managed"),
    [
        ("SEALER.yaml", "sealer.yaml", "sealer.yaml"),
        ("Ledger/staging.yaml", "ledger/staging.yaml", "ledger/staging.yaml"),
        ("sealed/staging/Staging.yaml", "sealed/staging/staging.yaml", "sealed/staging/staging.yaml"),
        ("Sealed/other/other.yaml", "sealed/staging/staging.yaml", "sealed/"),
        (".Sealer/approvers", "sealer.yaml", ".sealer/"),
    ],
)
def test_a_managed_path_git_holds_in_another_case_fails(
    repo_factory: RepoFactory, path: str, copied: str, managed: str
) -> None:
    """On macOS or Windows Git checks `Ledger/staging.yaml` out over `ledger/staging.yaml`, and
    sealer reads whichever came last. The fix removes it from Git alone: there the file in the
    work tree is the real one's too."""
    root = repo_factory()
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes((root / copied).read_bytes())
    commit_all(root, "another spelling")
    code, report = check_json(root)
    assert code == 1 and report["problems"] == [
        {
            "rule": "case-collision",
            "env": "",
            "level": "error",
            "message": f"{path} is sealer's {managed} spelt in another case: {ONE_FILE}",
            "fix": f"git rm --cached -- {path}, and keep one spelling",
        }
    ]
    subprocess_git(root, "rm", "-q", "--cached", "--", path)
    code, report = check_json(root)
    assert (code, report["problems"]) == (0, [])


@pytest.mark.parametrize(
    ("path", "copied", "env", "fails"),
    [
        ("sealed/staging/Staging.yaml", "sealed/staging/staging.yaml", "staging", True),
        ("Ledger/staging.yaml", "ledger/staging.yaml", "staging", True),
        ("Registry/Staging/staging.yaml", "registry/staging/staging.yaml", "staging", True),
        ("sealed/staging/STAGING.yaml", "sealed/staging/staging.yaml", "dev", False),  # not dev's
        ("SEALER.yaml", "sealer.yaml", "staging", False),  # no environment's own: `check` alone
        # a file where a folder above staging's values file is, spelt otherwise: one on such a system
        ("Deploy/Staging", "deploy/staging/values.yaml", "staging", True),
    ],
)
def test_a_named_environment_path_git_holds_in_another_case_fails(
    repo_factory: RepoFactory, path: str, copied: str, env: str, fails: bool
) -> None:
    """`check staging` (one environment named) fails what `check` fails of staging's own paths:
    `sealed/staging/Staging.yaml` is checked out over staging's sealed file on macOS or Windows."""
    root = repo_factory()
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes((root / copied).read_bytes())
    commit_all(root, "another spelling")
    code, report = check_json(root, env)
    found = [(p["rule"], p["fix"]) for p in report["problems"]]
    assert (code, found) == (
        (1, [("case-collision", f"git rm --cached -- {path}, and keep one spelling")]) if fails else (0, [])
    )
    if fails:  # as `check` alone finds it
        assert [
            (p["rule"], p["fix"]) for p in check_json(root)[1]["problems"] if p["rule"] == "case-collision"
        ] == found


def test_two_spellings_git_holds_in_a_managed_folder_fail_once(repo_factory: RepoFactory) -> None:
    """Neither is a path sealer.yaml names, yet both lie in ledger/; two spellings of a file
    sealer does not manage are no problem of check's."""
    root = repo_factory()
    for path in ("ledger/gone.yaml", "ledger/GONE.yaml", "docs/README.md", "docs/Readme.md"):
        (root / path).parent.mkdir(exist_ok=True)
        (root / path).write_text("[]\n")
    commit_all(root, "two spellings")
    code, report = check_json(root)
    assert code == 1 and [(p["rule"], p["message"]) for p in report["problems"]] == [
        ("case-collision", f"ledger/GONE.yaml differs from ledger/gone.yaml only in case: {ONE_FILE}")
    ]


def test_a_delivered_folder_that_cannot_be_listed_is_never_passed(
    repo_factory: RepoFactory, tmp_path: Path
) -> None:
    """sealed/ a symlink: the environments' own rules refuse to read through it (exit 2), and
    the look for leftovers says it could not list it rather than find nothing."""
    from sealer import config
    from sealer.policy import leftovers

    root = repo_factory()
    (tmp_path / "elsewhere").mkdir()
    (root / "sealed").rename(tmp_path / "elsewhere" / "sealed")
    (root / "sealed").symlink_to(tmp_path / "elsewhere" / "sealed")
    result = sealer(root, "check")
    assert result.exit_code == 2 and "symlink" in result.stderr, result.output
    cfg = config.load(root)
    found = leftovers.problems(cfg, leftovers.tracked(cfg, "."))
    assert [(p.rule, p.level, p.message.split(":")[0]) for p in found] == [
        ("leftover-environment", "error", "sealed/ cannot be listed")
    ]


def test_a_file_in_a_delivered_folder_is_no_leftover_environment(repo_factory: RepoFactory) -> None:
    """A `.gitkeep`, a README or a Finder `.DS_Store` beside the environments' folders was never
    an environment: the pre-commit hook must not refuse every commit over one."""
    root = repo_factory()
    for name in (".gitkeep", "README.md", ".DS_Store"):
        (root / "sealed" / name).write_text("x\n")
        (root / "registry" / name).write_text("x\n")
    code, report = check_json(root)
    assert (code, report["problems"]) == (0, [])
    commit_all(root, "kept beside the folders")  # nor once Git holds them: no GitOps tool applies them
    code, report = check_json(root)
    assert (code, report["problems"]) == (0, [])


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("sealed/extra.yaml", "sealer writes no such file (only sealed/<env>/<cluster>.yaml)"),
        ("sealed/extra.json", "sealer writes no such file (only sealed/<env>/<cluster>.yaml)"),
        ("registry/extra.yaml", "no environment's key registry is rendered there"),
        ("registry/Kustomization", "no environment's key registry is rendered there"),
    ],
)
def test_a_file_git_holds_beside_the_environment_folders_fails(
    repo_factory: RepoFactory, path: str, said: str
) -> None:
    """A GitOps tool applying sealed/ or registry/ recursively applies a manifest right in it, as
    review says of it; only what Git holds is delivered, and `check ENV` leaves it to `check`."""
    root = repo_factory()
    (root / path).write_bytes((root / "sealed/staging/staging.yaml").read_bytes())
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})  # on disk alone: not delivered
    subprocess_git(root, "add", "--", path)
    code, report = check_json(root)
    assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
        1,
        [("leftover-file", "", f"git rm {path}")],
    )
    assert report["problems"][0]["message"].startswith(f"{path}: {said}")
    text = sealer(root, "check").stdout.splitlines()
    assert "leftover-file" in text[0] and text[1].strip() == f"fix: git rm {path}"
    assert "| `leftover-file` |" in sealer(root, "check", "--output", "markdown").stdout
    assert check_json(root, "staging")[0] == 0  # no named environment's: `check` alone
    subprocess_git(root, "rm", "-qf", "--", path)
    assert check_json(root)[1]["problems"] == []


def removed_from_disk(root: Path, *paths: str) -> None:
    """Deleted by hand, without `git rm`: Git's index still holds them."""
    for path in paths:
        entry = root / path
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def test_a_leftover_deleted_on_disk_alone_still_fails(repo_factory: RepoFactory) -> None:
    """A plain `git commit` keeps what the index holds: a leftover deleted from disk without
    `git rm` is still delivered, and a hand-run `check` says so rather than pass."""
    root = repo_factory()
    (root / "sealed/staging/eu.yaml").write_bytes((root / "sealed/staging/staging.yaml").read_bytes())
    (root / "sealed/extra.yaml").write_text("kind: SealedSecret\n")
    removed_from_sealer_yaml(root, "dev")
    commit_all(root, "leftovers")
    left = [
        ("leftover-cluster", "git rm sealed/staging/eu.yaml"),
        ("leftover-environment", "git rm -r sealed/dev"),
        ("leftover-file", "git rm sealed/extra.yaml"),
        ("leftover-environment", "git rm -r registry/dev"),
    ]
    code, report = check_json(root)
    assert (code, [(p["rule"], p["fix"]) for p in report["problems"]]) == (1, left)
    removed_from_disk(root, "sealed/staging/eu.yaml", "sealed/extra.yaml", "sealed/dev", "registry/dev")
    code, report = check_json(root)
    assert (code, [(p["rule"], p["fix"]) for p in report["problems"]]) == (1, left)
    assert all("deleted on disk without `git rm`" in p["message"] for p in report["problems"])
    subprocess_git(
        root, "rm", "-rq", "--", "sealed/staging/eu.yaml", "sealed/extra.yaml", "sealed/dev", "registry/dev"
    )
    assert check_json(root)[1]["problems"] == []


def test_a_values_file_deleted_on_disk_alone_fails(repo_factory: RepoFactory) -> None:
    """A values file not made yet is fine (`render` makes it), but one Git holds and the disk
    does not goes on delivering its old ciphertexts through a plain `git commit`."""
    root = repo_factory()
    assert check_json(root)[1]["problems"] == []
    removed_from_disk(root, "deploy/staging/values.yaml")
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
            1,
            [("deleted-file", "staging", "git checkout -- deploy/staging/values.yaml")],
        )
    assert report["problems"][0]["message"].startswith(
        "deploy/staging/values.yaml is deleted on disk without `git rm`: Git's index still holds it"
    )
    assert check_json(root, "dev")[0] == 0  # another environment's file
    subprocess_git(root, "checkout", "--", "deploy/staging/values.yaml")
    assert check_json(root)[1]["problems"] == []


def test_a_values_file_outside_the_sparse_checkout_fails_with_the_sparse_fix(
    repo_factory: RepoFactory,
) -> None:
    """In a sparse checkout Git holds staging's values file (skip-worktree) and the disk does not:
    no deletion, but no rule reads it, and `git checkout --` brings nothing back there."""
    root = repo_factory()
    subprocess_git(root, "update-index", "-q", "--refresh")  # a copy's stale index: `set` would keep them all
    subprocess_git(
        root,
        "sparse-checkout",
        "set",
        "sealed",
        "registry",
        "ledger",
        "certs",
        "deploy/dev",
        "deploy/production",
    )
    assert not (root / "deploy/staging/values.yaml").exists()
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
            1,
            [("deleted-file", "staging", "git sparse-checkout add -- deploy/staging")],
        )
    assert report["problems"][0]["message"].startswith(
        "deploy/staging/values.yaml is outside the sparse checkout (skip-worktree): Git holds it"
    )
    assert "`git sparse-checkout disable`" in report["problems"][0]["message"]
    assert check_json(root, "dev")[0] == 0  # another environment's file
    subprocess_git(root, "sparse-checkout", "add", "deploy/staging")
    assert check_json(root)[1]["problems"] == []


def test_the_sparse_fix_of_a_values_file_below_a_dash_folder_runs_as_written(
    repo_factory: RepoFactory,
) -> None:
    """A configured values file may lie below a folder named like an option (`-x/values.yaml`):
    the fix of it outside the sparse checkout, and the check-ignore of it ignored, end git's
    options first, or git refuses the folder as an unknown switch."""
    root = repo_factory()
    rel = "-x/values.yaml"
    (root / "-x").mkdir()
    shutil.move(root / "deploy/dev/values.yaml", root / rel)
    edit_config(root, lambda doc: doc["environments"]["dev"]["clusters"][0].__setitem__("valuesFile", rel))
    commit_all(root, "dev's values below a dash folder")
    assert check_json(root)[1]["problems"] == []
    subprocess_git(root, "sparse-checkout", "set", "deploy", "sealed", "registry", "ledger", "certs")
    assert not (root / rel).exists()
    fix = check_json(root)[1]["problems"][0]["fix"]
    assert fix == "git sparse-checkout add -- -x"
    subprocess.run(fix, shell=True, cwd=root, check=True, capture_output=True)
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})
    subprocess_git(root, "sparse-checkout", "disable")
    with (root / ".gitignore").open("a") as ignore:
        ignore.write("/-x/\n")
    subprocess_git(root, "rm", "-q", "--cached", "--", rel)
    commit_all(root, "dev's values file ignored")
    (message,) = [p["message"] for p in check_json(root)[1]["problems"]]
    named = re.search(r"`(git check-ignore [^`]*)` names the rule", message)
    assert named and named[1] == "git check-ignore -v -- -x/values.yaml"
    rule = subprocess.run(named[1], shell=True, cwd=root, check=True, capture_output=True, text=True)
    assert "/-x/" in rule.stdout


def test_a_values_file_marked_skip_worktree_by_hand_fails_with_a_fix_that_works(
    repo_factory: RepoFactory,
) -> None:
    """`git update-index --skip-worktree` with no sparse checkout on, then the file deleted: the
    sparse fix (`git sparse-checkout add`) fails there (no sparse checkout to add to), so the fix
    clears the mark and checks the file out; run as written, it leaves check clean."""
    root = repo_factory()
    rel = "deploy/staging/values.yaml"
    subprocess_git(root, "update-index", "--skip-worktree", "--", rel)
    (root / rel).unlink()
    code, report = check_json(root)
    fix = f"git update-index --no-skip-worktree -- {rel} && git checkout -- {rel}"
    assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
        1,
        [("deleted-file", "staging", fix)],
    )
    assert report["problems"][0]["message"].startswith(f"{rel} is marked skip-worktree by hand (no sparse")
    subprocess.run(fix, shell=True, cwd=root, check=True, capture_output=True)
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})


@pytest.mark.parametrize(
    ("rel", "env"),
    [
        ("deploy/staging/values.yaml", "staging"),
        ("sealed/staging/staging.yaml", "staging"),
        ("registry/staging/staging.yaml", "staging"),
        ("ledger/staging.yaml", "staging"),
        ("sealer.yaml", ""),
    ],
)
@pytest.mark.parametrize("intent_to_add", [False, True], ids=["rm-cached", "then-add-N"])
def test_a_managed_file_taken_out_of_the_index_fails(
    repo_factory: RepoFactory, rel: str, env: str, intent_to_add: bool
) -> None:
    """`git rm --cached FILE`: HEAD and the disk hold it, Git's index does not, so every rule
    reading the disk passes while the hook's commit deletes it from Git (and the cluster's).
    `git add -N FILE` after it puts an intent-to-add entry in the index, which no commit
    carries either."""
    root = repo_factory()
    subprocess_git(root, "rm", "-q", "--cached", "--", rel)
    if intent_to_add:
        subprocess_git(root, "add", "-N", "--", rel)
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
            1,
            [("untracked-file", env, f"git reset -q -- {rel}")],
        )
    assert report["problems"][0]["message"].startswith(f"{rel} is on disk and in HEAD, but Git's index no")
    text = sealer(root, "check").stdout.splitlines()
    assert "untracked-file" in text[0] and text[1].strip() == f"fix: git reset -q -- {rel}"
    assert "| `untracked-file` |" in sealer(root, "check", "--output", "markdown").stdout
    assert check_json(root, "dev")[0] == (1 if rel == "sealer.yaml" else 0)  # sealer.yaml: everyone's
    subprocess_git(root, "reset", "-q", "--", rel)
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})


def test_an_empty_managed_file_git_holds_is_no_untracked_file(repo_factory: RepoFactory) -> None:
    """The index holds the empty blob for an intent-to-add entry and for an empty file alike:
    only the first is one the next commit lacks."""
    from sealer import config
    from sealer.policy import leftovers, unheld

    root = repo_factory()
    rel = "registry/staging/staging.yaml"
    (root / rel).write_text("")
    commit_all(root, "an empty registry file")
    cfg = config.load(root)
    assert unheld.problems(cfg, cfg.environments.values(), leftovers.tracked(cfg, ".")) == []
    subprocess_git(root, "rm", "-q", "--cached", "--", rel)
    subprocess_git(root, "add", "-N", "--", rel)
    found = unheld.problems(cfg, cfg.environments.values(), leftovers.tracked(cfg, "."))
    assert [(p.rule, p.fix) for p in found] == [("untracked-file", f"git reset -q -- {rel}")]


@pytest.mark.parametrize(
    ("marks", "tag"),
    [(["assume-unchanged"], "h"), (["skip-worktree"], "S"), (["assume-unchanged", "skip-worktree"], "s")],
)
def test_a_managed_file_git_does_not_look_at_on_disk_fails(
    repo_factory: RepoFactory, marks: list[str], tag: str
) -> None:
    """A bad values file staged, then marked so Git does not look at the disk, and the good one
    put back there: check read the disk and passed, while the commit (pre-commit stashes no
    change Git does not see) carries the staged one. The fix, run as written, shows it."""
    root = repo_factory()
    rel = "deploy/staging/values.yaml"
    good = (root / rel).read_text()
    (root / rel).write_text(good.replace("sealer:", "sealer_:"))
    subprocess_git(root, "add", "--", rel)
    assert check_json(root)[0] == 1
    for mark in marks:  # one at a time: given both, git sets the first alone
        subprocess_git(root, "update-index", f"--{mark}", "--", rel)
    assert subprocess_git(root, "ls-files", "-v", "--", rel)[0] == tag
    (root / rel).write_text(good)
    assert subprocess_git(root, "diff", "--name-only") == ""  # nothing for pre-commit to stash
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        fix = " && ".join(f"git update-index --no-{mark} -- {rel}" for mark in marks)
        assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
            1,
            [("unwatched-file", "staging", fix)],
        )
    assert check_json(root, "dev")[0] == 0
    subprocess.run(fix, shell=True, cwd=root, check=True, capture_output=True)
    assert subprocess_git(root, "diff", "--name-only").strip() == rel
    subprocess_git(root, "add", "--", rel)
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})


def test_core_ignore_stat_is_turned_off_by_the_unwatched_file_fix(repo_factory: RepoFactory) -> None:
    """core.ignoreStat marks each file `git add` takes assume-unchanged: a fix clearing the mark
    alone is undone by the next `git add`, so it turns the setting off first."""
    root = repo_factory()
    rel = "deploy/staging/values.yaml"
    subprocess_git(root, "config", "core.ignoreStat", "true")
    (root / rel).write_text((root / rel).read_text() + "# a comment\n")
    subprocess_git(root, "add", "--", rel)
    code, report = check_json(root)
    fix = f"git config core.ignoreStat false && git update-index --no-assume-unchanged -- {rel}"
    assert (code, [(p["rule"], p["fix"]) for p in report["problems"]]) == (1, [("unwatched-file", fix)])
    assert "core.ignoreStat is on" in report["problems"][0]["message"]
    subprocess.run(fix, shell=True, cwd=root, check=True, capture_output=True)
    (root / rel).write_text((root / rel).read_text() + "# another\n")
    subprocess_git(root, "add", "--", rel)
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})


def test_a_managed_file_no_commit_holds_yet_is_no_untracked_file(
    repo_factory: RepoFactory, tmp_path: Path
) -> None:
    """A new environment's files, on disk before their first `git add`, are not flagged (HEAD
    lacks them: `git add` takes them), nor is anything before a repository's first commit."""
    root = repo_factory()
    for rel in ("deploy/staging/values.yaml", "ledger/staging.yaml", "sealer.yaml"):
        subprocess_git(root, "rm", "-q", "--cached", "--", rel)
    subprocess_git(root, "commit", "-q", "-m", "as if never added")
    assert not subprocess_git(
        root, "ls-files", "--", "deploy/staging/values.yaml", "ledger/staging.yaml", "sealer.yaml"
    )
    assert check_json(root)[1]["problems"] == []
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".git"))
    subprocess_git(fresh, "init", "-q")
    assert check_json(fresh)[1]["problems"] == []  # no commit yet: nothing is in HEAD
    subprocess_git(fresh, "add", "-A")
    subprocess_git(fresh, "rm", "-q", "--cached", "--", "deploy/staging/values.yaml")
    assert check_json(fresh)[1]["problems"] == []


@pytest.mark.parametrize("where", ["gitignore", "excludes-file"])
def test_a_managed_file_git_ignores_and_does_not_hold_fails(
    repo_factory: RepoFactory, tmp_path: Path, where: str
) -> None:
    """`*.yaml` ignored: a managed file Git does not hold (a new environment's, say) is one that
    `git add -A` leaves out, so no commit carries it; `git add -f` takes it. What Git holds is
    not subject to ignore rules: an untouched repository passes under the same rules."""
    root = repo_factory()
    if where == "gitignore":
        (root / ".gitignore").write_text("*.yaml\n")
    else:
        (tmp_path / "excludes").write_text("*.yaml\n")
        subprocess_git(root, "config", "core.excludesFile", str(tmp_path / "excludes"))
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})
    subprocess_git(root, "rm", "-q", "--cached", "--", "deploy/staging/values.yaml", "sealer.yaml")
    subprocess_git(root, "commit", "-q", "-m", "as if never added")
    code, report = check_json(root)
    assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
        1,
        [
            ("ignored-file", "staging", "git add -f -- deploy/staging/values.yaml"),
            ("ignored-file", "", "git add -f -- sealer.yaml"),
        ],
    )
    assert report["problems"][0]["message"].startswith(
        "deploy/staging/values.yaml is on disk, but Git ignores it and does not hold it"
    )
    assert check_json(root, "dev")[1]["problems"][0]["fix"] == "git add -f -- sealer.yaml"
    subprocess_git(root, "add", "-f", "--", "deploy/staging/values.yaml", "sealer.yaml")
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})


@pytest.mark.parametrize("named", [(), ("staging",)], ids=["check", "check-env"])
def test_a_registry_leftover_deleted_on_disk_alone_fails(
    repo_factory: RepoFactory, named: tuple[str, ...]
) -> None:
    """key-registry fails a file in registry/<env>/ no ledger renders, reading the disk: one
    deleted there without `git rm` is still in Git after a plain `git commit`, and still applied."""
    root = repo_factory()
    for rel in ("registry/staging/old.yaml", "registry/staging/old/api.yaml", "registry/staging/notes.md"):
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_bytes((root / "registry/staging/staging.yaml").read_bytes())
    commit_all(root, "registry leftovers")
    removed_from_disk(root, "registry/staging/old.yaml", "registry/staging/old", "registry/staging/notes.md")
    code, report = check_json(root, *named)
    assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
        1,
        [
            ("deleted-file", "staging", "git rm -r registry/staging/old"),
            ("deleted-file", "staging", "git rm registry/staging/old.yaml"),
        ],
    )
    assert report["problems"][0]["message"].startswith(
        "registry/staging/old is deleted on disk without `git rm`: Git's index still holds it"
    )
    subprocess_git(root, "rm", "-rq", "--", "registry/staging/old.yaml", "registry/staging/old")
    assert check_json(root, *named)[1]["problems"] == []


def test_a_leftover_folder_name_neither_forges_lines_nor_commands(repo_factory: RepoFactory) -> None:
    """The folder's name is any PR author's text: in the text report it stays on its line, and
    the fix to copy removes that folder, never runs what the name spells."""
    root = repo_factory()
    name = "x\nok: 2 environments comply $(touch pwned)"
    (root / "sealed" / name).mkdir()
    (root / "sealed" / name / "api.yaml").write_text("kind: SealedSecret\n")
    subprocess.run(["git", "add", "--", f"sealed/{name}/api.yaml"], cwd=root, check=True)
    result = sealer(root, "check")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("error   x\\x0aok: 2"), lines
    assert lines[1].strip() == "fix: git rm -r 'sealed/x\\x0aok: 2 environments comply $(touch pwned)'", lines
    code, report = check_json(root)
    assert report["problems"][0]["env"] == name


def test_a_folder_git_holds_nothing_under_is_no_leftover_environment(repo_factory: RepoFactory) -> None:
    """Git removes what it tracks of an environment on a branch switch, but a `.DS_Store` it
    ignores keeps the folder: it delivers nothing, `git rm -r` cannot remove it, and the
    pre-commit hook must not refuse every commit over it. Once staged, it is a leftover."""
    root = repo_factory()
    (root / ".gitignore").write_text(".DS_Store\n")
    for top in ("sealed", "registry"):
        (root / top / "qa").mkdir()
        (root / top / "qa" / ".DS_Store").write_text("x\n")
    code, report = check_json(root)
    assert (code, report["problems"]) == (0, [])
    (root / "sealed" / "qa" / "api.yaml").write_text("kind: SealedSecret\n")
    subprocess.run(["git", "add", "sealed/qa/api.yaml"], cwd=root, check=True)
    code, report = check_json(root)
    assert [(p["env"], p["fix"]) for p in report["problems"]] == [("qa", "git rm -r sealed/qa")]


@pytest.mark.parametrize("kept", [".gitkeep", "README.md", ".DS_Store"])
def test_a_removed_environment_folder_holding_nothing_applied_is_no_leftover(
    repo_factory: RepoFactory, kept: str
) -> None:
    """A folder of an environment taken out of sealer.yaml in which Git holds only what no GitOps
    tool applies (`layout.may_be_applied`) delivers nothing: the pre-commit hook must not refuse
    every commit over it. What may be applied there, in a subfolder too, still counts."""
    root = repo_factory()
    removed_from_sealer_yaml(root, "dev")
    subprocess_git(root, "rm", "-rq", "sealed/dev", "registry/dev")
    for top in ("sealed", "registry"):
        (root / top / "dev").mkdir()
        (root / top / "dev" / kept).write_text("kept\n")
        subprocess_git(root, "add", "-f", "--", f"{top}/dev/{kept}")
    code, report = check_json(root)
    assert (code, report["problems"]) == (0, [])
    (root / "sealed/dev/old").mkdir()
    (root / "sealed/dev/old/api.yaml").write_text("kind: SealedSecret\n")
    (root / "registry/dev" / "notes").symlink_to(kept)  # a link may point anywhere
    subprocess_git(root, "add", "--", "sealed/dev/old/api.yaml", "registry/dev/notes")
    code, report = check_json(root)
    assert [(p["rule"], p["fix"]) for p in report["problems"]] == [
        ("leftover-environment", "git rm -r sealed/dev"),
        ("leftover-environment", "git rm -r registry/dev"),
    ]


def test_a_link_in_a_delivered_folder_is_a_leftover_environment(repo_factory: RepoFactory) -> None:
    """A GitOps tool may follow a link committed in sealed/ to SealedSecrets elsewhere in the
    repository: one named after no environment is never passed as a file beside the folders."""
    root = repo_factory()
    (root / "archive").mkdir()
    (root / "archive" / "api.yaml").write_text("kind: SealedSecret\n")
    (root / "sealed" / "old").symlink_to("../archive")
    subprocess.run(["git", "add", "archive", "sealed/old"], cwd=root, check=True)
    code, report = check_json(root)
    assert [(p["rule"], p["env"]) for p in report["problems"]] == [("leftover-environment", "old")]


@pytest.mark.parametrize("disk", ["checked-out", "empty-folder", "folder-removed"])
def test_a_submodule_in_a_delivered_folder_is_a_leftover_environment(
    repo_factory: RepoFactory, disk: str
) -> None:
    """Argo CD checks submodules out: one committed right in sealed/ or registry/ delivers
    another repository's SealedSecrets. Git holds it as one entry with no file below it, and a
    checkout that does not follow submodules (CI's) leaves an empty folder there; one removed by
    hand counts too (Git's mode says submodule, and the next checkout makes the folder again)."""
    root = repo_factory()
    head = subprocess_git(root, "rev-parse", "HEAD").strip()
    for path in ("sealed/vendor", "registry/vendor"):
        subprocess_git(root, "update-index", "--add", "--cacheinfo", f"160000,{head},{path}")
        if disk != "folder-removed":
            (root / path).mkdir()
        if disk == "checked-out":
            (root / path / "api.yaml").write_text("kind: SealedSecret\n")
    code, report = check_json(root)
    assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
        1,
        [
            ("leftover-environment", "vendor", "git rm -r sealed/vendor"),
            ("leftover-environment", "vendor", "git rm -r registry/vendor"),
        ],
    )


@pytest.mark.parametrize("folder", ["sealed/staging", "registry/staging", "deploy/staging"])
@pytest.mark.parametrize("on_disk", [True, False], ids=["checked-out", "folder-removed"])
def test_an_environments_own_folder_as_a_submodule_fails(
    repo_factory: RepoFactory, folder: str, on_disk: bool
) -> None:
    """staging's sealed, registry or values folder a submodule: checked out (`clone --recursive`,
    Argo CD), it holds another repository's files, which check would read as staging's own and
    pass, though no commit here holds them (review fails it as file-mode too). Its folder
    removed by hand, Git's mode still says submodule, and every checkout makes the folder again."""
    root = repo_factory()
    head = subprocess_git(root, "rev-parse", "HEAD").strip()
    subprocess_git(root, "rm", "-rq", "--cached", "--", folder)  # its files stay: the checkout
    subprocess_git(root, "update-index", "--add", "--cacheinfo", f"160000,{head},{folder}")
    if not on_disk:
        removed_from_disk(root, folder)
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        told = [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]
        if not on_disk:  # the rules reading staging's files find none: theirs, and no deletion
            told = [p for p in told if p[0] not in ("key-present", "key-registry")]
        assert (code, told) == (
            1,
            [("file-mode", "staging", f"git rm --cached {folder}, and commit sealer's files there")],
        )
    [said] = [p["message"] for p in report["problems"] if p["rule"] == "file-mode"]
    assert said.startswith(f"{folder} is a submodule (Git holds it as one entry)")
    assert check_json(root, "dev")[0] == 0  # another environment's folder


@pytest.mark.parametrize("mode", ["160000", "120000"], ids=["submodule", "symlink"])
def test_what_git_holds_as_no_file_counts_by_its_mode_not_the_disk(
    repo_factory: RepoFactory, mode: str
) -> None:
    """A submodule or a link Git holds in sealed/, in sealed/<env>/ or registry/<env>/, its
    folder or link removed by hand: the next checkout (CI's) makes it again, and a GitOps tool
    may follow it anywhere. Git's mode says what it is, where the disk, read alone, showed a file
    named `vendor` no GitOps tool applies and passed it."""
    root = repo_factory()
    target = subprocess_git(
        root, "rev-parse", "HEAD" if mode == "160000" else "HEAD:sealed/dev/dev.yaml"
    ).strip()
    paths = ("sealed/vendor", "sealed/staging/vendor", "registry/staging/vendor")
    for path in paths:
        subprocess_git(root, "update-index", "--add", "--cacheinfo", f"{mode},{target},{path}")
    code, report = check_json(root)
    assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
        1,
        [
            ("leftover-cluster", "staging", "git rm sealed/staging/vendor"),
            ("deleted-file", "staging", "git rm registry/staging/vendor"),
            ("leftover-environment", "vendor", "git rm -r sealed/vendor"),
        ],
    )
    subprocess_git(root, "rm", "-q", "--cached", "--", *paths)
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})


def test_a_leftover_folder_replaced_on_disk_by_a_file_or_a_link_still_fails(
    repo_factory: RepoFactory,
) -> None:
    """What Git's index holds is what a plain `git commit` keeps: dev's folders, replaced on disk
    by a file and a dangling link (a folder on disk where Git holds a file too), still deliver."""
    root = repo_factory()
    removed_from_sealer_yaml(root, "dev")
    (root / "sealed/extra.yaml").write_text("kind: SealedSecret\n")
    commit_all(root, "dev removed, its files kept")
    removed_from_disk(root, "sealed/dev", "registry/dev", "sealed/extra.yaml")
    (root / "sealed/dev").write_text("moved away\n")
    (root / "registry/dev").symlink_to("nowhere")
    (root / "sealed/extra.yaml").mkdir()
    code, report = check_json(root)
    assert (code, [(p["rule"], p["fix"]) for p in report["problems"]]) == (
        1,
        [
            ("leftover-environment", "git rm -r sealed/dev"),
            ("leftover-environment", "git rm -r sealed/extra.yaml"),
            ("leftover-environment", "git rm -r registry/dev"),
        ],
    )


def test_leftovers_among_thousands_git_holds_are_told_quickly(repo_factory: RepoFactory) -> None:
    """A pull request's 3,000 folders in sealed/ beside 20,000 other paths Git holds: each
    folder's paths are found by bisection, where a scan of every path Git holds for each folder
    took seconds (quadratic). Deleted on disk, all still count."""
    import time

    from sealer import config
    from sealer.policy import leftovers

    root = repo_factory()
    held = set(subprocess_git(root, "ls-files").split())
    held |= {f"sealed/old{i:04}/api.yaml" for i in range(3_000)} | {f"docs/{i:05}.md" for i in range(20_000)}
    cfg = config.load(root)
    started = time.perf_counter()
    found = leftovers.problems(cfg, leftovers.Index(frozenset(held)))
    elapsed = time.perf_counter() - started
    assert [p.env for p in found] == [f"old{i:04}" for i in range(3_000)]
    assert elapsed < 1.0, f"{elapsed:.2f}s"


@pytest.fixture(params=["plain", "html-decimal", "html-named"])
def key_shown(repo_factory: RepoFactory, request: pytest.FixtureRequest) -> tuple[Path, str]:
    """dev's values file named after a real key and swapped for a symlink (a `values-file`
    problem names its path), and the key pasted into the actor of dev's ledger records; plain, or
    as HTML writes it (an HTML page and Markdown show its `&` as `&amp;`, Markdown its `#` as `\\#`)."""
    root, key = repo_factory(), apikey.generate("dev")
    shown = key if request.param == "plain" else key_spellings.spelt(key, request.param)
    rel = f"deploy/dev/{shown}.yaml"
    edit_config(root, lambda doc: doc["environments"]["dev"]["clusters"][0].__setitem__("valuesFile", rel))
    (root / rel).symlink_to("/etc/hostname")
    edit_ledger(root, "dev", lambda records: [dataclasses.replace(r, actor=f"Dev {shown}") for r in records])
    return root, key


@pytest.mark.parametrize(
    "args",
    [
        ("check",),
        ("check", "-o", "json"),
        ("check", "-o", "markdown"),
        ("audit",),
        ("audit", "-o", "json"),
        ("audit", "-o", "markdown"),
        ("audit", "-o", "html"),
    ],
    ids=" ".join,
)
def test_every_check_and_audit_output_redacts_a_key(
    key_shown: tuple[Path, str], args: tuple[str, ...]
) -> None:
    """README: like `sealer review`'s, every output of `check` and `audit` shows a sealer key a
    path or an actor holds as `slr_<env>_[redacted]` (the hook's and CI's logs keep them)."""
    root, key = key_shown
    result = sealer(root, *args)
    assert result.exit_code == (1 if args[0] == "check" else 0), result.output
    assert key[len("slr_dev_") :] not in result.output
    shown = result.stdout.replace("\\_", "_")  # Markdown escapes the underscores
    assert "slr_dev_[redacted]" in shown
    if args[0] == "check":
        assert "values-file" in shown and "slr_dev_[redacted].yaml" in shown
    else:
        assert "Dev slr_dev_[redacted]" in shown


def put_back_the_one_before(root: Path, folder: str) -> str:
    """The one file under `folder` the last commit changed, checked out as it was before it."""
    [rel] = subprocess.run(
        ["git", "diff", "--name-only", "HEAD~1", "--", folder],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    subprocess.run(["git", "checkout", "-q", "HEAD~1", "--", rel], cwd=root, check=True)
    return rel


def test_an_older_ciphertext_put_back_fails_check(repo_factory: RepoFactory) -> None:
    """README: the ledger records the digest of each ciphertext a rotation wrote; staging's key
    put back to the one before (from Git's history) is an error, though no one can open either."""
    root = repo_factory()
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 0
    code, report = check_json(root)
    assert (code, report["problems"]) == (0, [])
    rel = put_back_the_one_before(root, "sealed/staging/")

    code, report = check_json(root)

    assert code == 1
    # the values file still holds the new one: the sealed file and it now differ too
    assert problems(report) == [("key-sealed", "staging", "error"), ("values-file", "staging", "error")]
    problem = report["problems"][0]
    assert problem["message"].startswith(
        f"apiKey in {rel} is not the ciphertext sealer wrote for its current"
    )
    assert problem["fix"] == "sealer rotate staging --key apiKey"


def test_a_ciphertext_the_ledger_names_for_an_older_key_fails_check(repo_factory: RepoFactory) -> None:
    """Two rotations, then the first one's ciphertext put back behind a new record naming its
    digest: the record matches, but the ledger names that ciphertext for the revoked key too."""
    root = repo_factory()
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 0
    rel = next(p.relative_to(root) for p in (root / "sealed/staging").glob("*.yaml"))
    text = (root / rel).read_text()
    older = yaml.safe_load(text)["spec"]["encryptedData"]["apiKey"]
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 0
    (root / rel).write_text(text)

    def forge(records: list[Any]) -> list[Any]:
        current = next(r for r in records if r.status == "active")
        digests = tuple((cluster, ciphertext_digest(older)) for cluster, _ in current.sealed)
        return [dataclasses.replace(current, sealed=digests) if r is current else r for r in records]

    edit_ledger(root, "staging", forge)

    code, report = check_json(root)

    assert code == 1
    assert ("key-sealed", "staging", "error") in problems(report)
    assert any("for an older key too" in p["message"] for p in report["problems"]), report


def test_an_older_ciphertext_put_back_in_the_values_file_alone_fails_check(repo_factory: RepoFactory) -> None:
    """The chart builds its SealedSecret from the values file's `sealer.encryptedData`: the values
    file put back to the one before (the sealed file and ledger left as they are) is an error."""
    root = repo_factory()
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 0
    rel = put_back_the_one_before(root, "deploy/staging/")

    code, report = check_json(root)

    assert code == 1
    assert problems(report) == [("values-file", "staging", "error")]
    problem = report["problems"][0]
    assert problem["message"].startswith(f"sealer.encryptedData.apiKey in {rel} is not sealed/staging/")
    assert problem["fix"] == "sealer render staging"
    assert sealer(root, "render", "staging").exit_code == 0
    assert check_json(root)[0] == 0


@pytest.mark.parametrize(
    ("key", "was", "now"),
    [
        ("scope", "scope: strict", "scope: cluster-wide"),
        ("namespace", "namespace: staging", "namespace: other"),
        ("secretName", "secretName: engine-api-key", "secretName: other"),
    ],
)
def test_a_hand_edited_secret_name_namespace_or_scope_in_the_values_file_fails_check(
    repo_factory: RepoFactory, key: str, was: str, now: str
) -> None:
    """The chart names and binds its SealedSecret from the values file's `sealer:` subtree: a
    strict ciphertext delivered under another scope, name or namespace is one the controller
    cannot open, so a hand edit there is an error (it passed the hook, to fail only in review)."""
    root = repo_factory()
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 0
    values = root / "deploy/staging/values.yaml"
    text = values.read_text()
    assert text.count(f"  {was}\n") == 1
    values.write_text(text.replace(f"  {was}\n", f"  {now}\n"))

    code, report = check_json(root)

    assert code == 1
    assert problems(report) == [("values-file", "staging", "error")]
    problem = report["problems"][0]
    assert problem["message"] == (
        f"sealer.{key} in deploy/staging/values.yaml is not sealed/staging/staging.yaml's: "
        "the chart delivers the values file's"
    )
    assert problem["fix"] == "sealer render staging"
    assert sealer(root, "render", "staging").exit_code == 0
    assert check_json(root)[0] == 0


MERGED = "a merge key (`<<`) gives `sealer` or a key below it in deploy/staging/values.yaml: "


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # Helm's reader (Go yaml.v2) lets a later `<<` win over a key written before it; PyYAML,
        # which the rule reads with, the written key: each passed check as sealer rendered it.
        (lambda t: t + "<<: {sealer: {scope: cluster-wide}}\n", MERGED),
        (lambda t: t.replace("  scope: strict\n", "  scope: strict\n  <<: {scope: cluster-wide}\n"), MERGED),
        (lambda t: t.replace("  encryptedData:\n", "  encryptedData:\n    <<: {x: y}\n"), MERGED),
        (lambda t: t + "!!merge m: {sealer: {scope: cluster-wide}}\n", MERGED),  # a merge to PyYAML alone
        # The tag and the key written with escapes, no `<<` or `merge` in the text: a merge to both.
        (lambda t: t + '!!m%65rge "\\x3c\\x3c": {sealer: {scope: cluster-wide}}\n', MERGED),
        (lambda t: t + '! "\\x3c\\x3c": {sealer: {scope: cluster-wide}}\n', MERGED),  # `!`: resolved as plain
        # Helm reads the first document, here an empty one: no SealedSecret is delivered at all.
        (lambda t: "--- ~\n---\n" + t, "deploy/staging/values.yaml holds 2 YAML documents: "),
    ],
    ids=[
        "merge-gives-sealer",
        "merge-in-sealer",
        "merge-in-encryptedData",
        "tagged-merge",
        "escaped-merge",
        "escaped-plain-merge",
        "empty-first",
    ],
)
def test_a_values_file_helm_reads_otherwise_than_check_fails_check(
    repo_factory: RepoFactory, edit: Any, message: str
) -> None:
    """The subtree check reads what Helm delivers, or fails: several documents, or a merge key
    that could make Helm's subtree another than the one compared with the sealed file."""
    root = repo_factory()
    values = root / "deploy/staging/values.yaml"
    values.write_text(edit(values.read_text()))

    code, report = check_json(root)

    assert code == 1
    assert problems(report) == [("values-file", "staging", "error")]
    assert report["problems"][0]["message"].startswith(message)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: "defaults: &d {replicas: 2}\n<<: *d\n" + t,  # the user's own merge, not sealer's keys
        lambda t: "---\n" + t + "...\n",  # markers around the one document: nothing beyond them
    ],
    ids=["users-merge", "start-and-end-markers"],
)
def test_a_values_file_with_the_users_own_merge_or_document_markers_passes(
    repo_factory: RepoFactory, edit: Any
) -> None:
    root = repo_factory()
    values = root / "deploy/staging/values.yaml"
    values.write_text(edit(values.read_text()))

    assert check_json(root)[0] == 0


@pytest.mark.parametrize("tail", ["---\n", "...\n---\n", "---", "--- ~\n", "---\n# the end\n"])
def test_a_values_file_ending_with_an_empty_document_fails_check_as_the_editor_refuses_it(
    repo_factory: RepoFactory, tail: str
) -> None:
    """Helm skips a last `---` with nothing after it, but ruamel, which edits a values file it
    cannot splice (here its `sealer` key quoted), reads a second document and refuses it: the
    next rotation stops. check refuses it first, so the pre-commit hook stops the commit."""
    root = repo_factory()
    values = root / "deploy/staging/values.yaml"
    fixed = values.read_text().replace("\nsealer:\n", '\n"sealer":\n')
    assert fixed != values.read_text()
    values.write_text(fixed + tail)
    commit_all(root, "a trailing document")

    code, report = check_json(root, "staging")

    assert (code, [(p["rule"], p["fix"]) for p in report["problems"]]) == (
        1,
        [("values-file", "delete the last `---` line of deploy/staging/values.yaml")],
    )
    assert report["problems"][0]["message"].startswith(
        "deploy/staging/values.yaml ends with an empty YAML document (a last `---` with nothing after it)"
    )
    refused = sealer(root, "rotate", "staging", "--no-branch")
    assert (refused.exit_code, refused.stderr.strip()) == (2, f"sealer: {values}: {yamlio.SEVERAL_DOCUMENTS}")
    values.write_text(fixed)
    assert check_json(root)[1]["problems"] == []
    commit_all(root, "the trailing document gone")
    rotated = sealer(root, "rotate", "staging", "--no-branch")
    assert rotated.exit_code == 0, rotated.output


VALUES = "deploy/staging/values.yaml"
NOT_EDITABLE = f"{VALUES}: sealer's editor refuses it, so `sealer rotate staging` would stop on it: "


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        # PyYAML reads a blank line holding a tab after a plain scalar; ruamel refuses the file
        (lambda t: "a: 1\n \t\nb: 2\n" + t, "not valid YAML at line 2"),
        # a `|+` value at the end ruamel writes back otherwise, in a file it must round-trip
        # (its `sealer` key quoted: no splice)
        (
            lambda t: t.replace("\nsealer:\n", '\n"sealer":\n') + "note: |+\n  keep\n\n\u2028  \n",
            "sealer's editor cannot rewrite this file keeping its other values as they read",
        ),
    ],
    ids=["tab-on-a-blank-line", "round-trip-refused"],
)
def test_a_values_file_sealer_reads_but_its_editor_refuses_fails_check(
    repo_factory: RepoFactory, edit: Any, why: str
) -> None:
    """Valid YAML to check's reader, but `render` and `rotate` refuse to edit it: a pull request
    planting it would stop every rotation of the environment while the pre-commit hook passed."""
    root = repo_factory()
    values = root / VALUES
    fine = values.read_text()
    values.write_text(edit(fine))
    commit_all(root, "odd text in a values file")

    code, report = check_json(root, "staging")

    assert (code, [(p["rule"], p["fix"]) for p in report["problems"]]) == (
        1,
        [
            (
                "values-file",
                f"rewrite the odd text in {VALUES} as plain YAML where the message says "
                "(a tab on a blank line: delete it)",
            )
        ],
    )
    assert report["problems"][0]["message"].startswith(NOT_EDITABLE + why)
    assert "\n" not in report["problems"][0]["message"]
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 2
    values.write_text(fine)
    assert check_json(root, "staging")[0] == 0


@pytest.mark.parametrize(
    "edit",
    [lambda t: t, lambda t: t.replace("\n", "\r\n"), lambda t: "# mine\n\nreplicas: 2\n\n" + t],
    ids=["as-rendered", "crlf", "users-own-values"],
)
def test_a_values_file_the_editor_takes_passes(repo_factory: RepoFactory, edit: Any) -> None:
    root = repo_factory()
    values = root / VALUES
    values.write_bytes(edit(values.read_text()).encode())

    assert check_json(root, "staging")[0] == 0


def test_a_sealed_file_bound_elsewhere_than_sealer_yaml_says_is_not_a_values_file_error(
    repo_factory: RepoFactory,
) -> None:
    """The values file agrees with sealer.yaml and the sealed file does not: key-sealed says so
    and to rotate; values-file, whose fix (render) would not help, stays quiet."""
    root = repo_factory()
    assert sealer(root, "rotate", "staging", "--no-branch").exit_code == 0
    sealed = root / "sealed/staging/staging.yaml"
    sealed.write_text(sealed.read_text().replace("  namespace: staging\n", "  namespace: other\n", 1))

    code, report = check_json(root)

    assert code == 1
    assert problems(report) == [("key-sealed", "staging", "error")]


def test_a_ledger_an_older_sealer_wrote_is_a_warning(repo_factory: RepoFactory) -> None:
    """A record with no digest (written before sealer recorded them) cannot tie its ciphertext to
    the key: a warning, so every repository does not fail until its next rotation."""
    root = repo_factory()
    edit_ledger(root, "staging", lambda records: [dataclasses.replace(r, sealed=()) for r in records])

    code, report = check_json(root)

    assert code == 0
    assert problems(report) == [("key-sealed", "staging", "warning")]
    assert "the ledger records no digest" in report["problems"][0]["message"]
    assert check_json(root, "--strict")[0] == 1


def test_the_cert_strength_fix_typed_at_the_repository_root_is_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fix names a keypair folder: `sealer keypair` refuses one inside a Git work tree, so the
    fix, typed at the repository's root as `check` prints it, must name one outside (`new` was)."""
    from types import SimpleNamespace

    from sealer import keypair
    from sealer.policy.model import CertFacts
    from sealer.policy.rules import cert_strength

    root, home = tmp_path / "repo", tmp_path / "home"
    home.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(root)
    env: Any = SimpleNamespace(name="production")
    facts = CertFacts("certs/production.crt", key_type="RSA", key_bits=2048)
    [problem] = cert_strength._check(env, "production", "", facts, 4096)
    match = re.search(r"keypair --out (\S+) ", problem.fix)
    assert match is not None and f"--file {match[1]}/tls.crt" in problem.fix

    keypair.outside_git(Path(os.path.expanduser(match[1])))  # BadInput inside a work tree


def test_key_distinct_reads_each_ledger_once_per_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A pull request's sealer.yaml may list thousands of environments (16 MiB of them): the
    gate's `sealer check` must not look at every ledger once for each environment."""
    names = [f"e{i}" for i in range(60)]
    records = {name: [pending_key(name)[1]] for name in names}
    records["e1"] = [*records["e1"], records["e0"][0]]  # one key shared: still found
    reads: list[str] = []

    def counted(self: model.Context, env: str) -> list[Any]:
        reads.append(env)
        return records[env]

    monkeypatch.setattr(model.Context, "records", counted)
    cfg = types.SimpleNamespace(root=tmp_path, environments=dict.fromkeys(names))
    ctx = model.Context(cfg)  # type: ignore[arg-type]
    found = [p for name in names for p in key_distinct.check(ctx, types.SimpleNamespace(name=name), {})]  # type: ignore[arg-type]
    assert sorted(p.env for p in found) == ["e0", "e1"]
    assert len(reads) <= 3 * len(names), len(reads)


def test_a_reseal_due_while_a_rotation_waits_is_merged_first(
    repo_factory: RepoFactory, policy_certs: dict[str, Path]
) -> None:
    """key-sealed's `sealer rotate --due`, for an environment whose rotation waits on its own
    branch: --due plans that environment, so it is refused until the branch is merged, and the fix
    says to merge it. A reseal due only in some days is no rotation --due makes now: left as is."""
    from sealer import cert_pins

    root = repo_factory()
    cert_pins.pin(root, "staging", policy_certs["spare"].read_bytes(), "spare")
    edit_config(root, lambda doc: doc["environments"]["staging"].update(resealAfterDays=0))
    commit_all(root, "a new certificate, due at once")
    assert sealer(root, "rotate", "staging").exit_code == 0  # on a branch of its own
    (branch,) = [
        b for b in subprocess_git(root, "branch", "--format=%(refname:short)").split() if "staging" in b
    ]
    fixes = [(p["rule"], p["fix"]) for p in check_json(root)[1]["problems"]]
    assert fixes == [
        (
            "key-sealed",
            f"merge branch {branch} first (a rotation of staging waits there: `sealer rotate --due` "
            "skips staging until then)",
        )
    ]
    skipped = sealer(root, "rotate", "--due")  # only staging is due: nothing would land, refused
    assert skipped.exit_code == 2 and branch in skipped.stderr  # as the fix says
    edit_config(root, lambda doc: doc["environments"]["staging"].update(resealAfterDays=3))
    fixes = [(p["rule"], p["fix"]) for p in check_json(root)[1]["problems"]]
    assert fixes == [("key-sealed", "sealer rotate --due")]


def test_check_asks_git_once_whether_head_holds_the_missing_ledgers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 environments `sealer init` set up, none rotated: `sealer check` asks Git once whether
    HEAD holds their ledgers (a process each cost ~3 ms), and a ledger HEAD holds that the working
    tree lost is still refused in one line."""
    from support.git import init_repo

    from sealer import init

    root = init_repo(tmp_path / "repo")
    init.init(root, tuple(f"env{i:03}" for i in range(200)))
    (root / "ledger").mkdir()
    (root / "ledger/env007.yaml").write_text(ledger.dump("env007", []))
    commit_all(root, "sealer setup")
    (root / "ledger/env007.yaml").unlink()
    asked = git_calls(monkeypatch)
    result = sealer(root, "check")
    assert (result.exit_code, result.stderr) == (
        2,
        "sealer: ledger/env007.yaml is missing, but HEAD holds it: "
        "restore it with `git checkout HEAD -- ledger/env007.yaml`\n",
    )
    assert len([args for args in asked if "cat-file" in args]) == 1, asked


def test_check_asks_git_a_fixed_number_of_times_for_files_its_index_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """untracked-file and ignored-file ask Git only when a managed file is on disk that its index
    lacks, and then as often for 60 such files as for one: never a process a file."""
    from support.git import init_repo

    from sealer import init

    root = init_repo(tmp_path / "repo")
    init.init(root, tuple(f"env{i:03}" for i in range(60)))
    commit_all(root, "sealer setup")
    asked = git_calls(monkeypatch)
    runs = []
    for removed in ([], ["deploy/env007/values.yaml"], ["deploy"]):
        if removed:
            subprocess_git(root, "rm", "-rq", "--cached", "--", *removed)
        asked.clear()
        code, report = check_json(root)
        untracked = [p["fix"] for p in report["problems"] if p["rule"] == "untracked-file"]
        assert (code, len(untracked)) == (
            (1, 60) if removed == ["deploy"] else (int(bool(removed)), len(removed))
        )
        runs.append(len(asked))
    assert runs[1] == runs[2] <= runs[0] + 3, runs


def _separate_git_dir(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The work tree's .git moved away, named by GIT_DIR and GIT_WORK_TREE alone, sealer.yaml
    taken out of its index first: a repository sealer does not see (it drops both variables)."""
    subprocess_git(root, "rm", "-q", "--cached", "--", "sealer.yaml")
    elsewhere = root.parent / f"{root.name}.git"
    (root / ".git").rename(elsewhere)
    monkeypatch.setenv("GIT_DIR", str(elsewhere))
    monkeypatch.setenv("GIT_WORK_TREE", str(root))
    return f"no Git repository at {root} (sealer ignores GIT_DIR and GIT_WORK_TREE: use a .git file or folder"


def _broken_index(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (root / ".git/index").write_bytes(b"DIRC\0\0\0\x02garbage")
    return "Git cannot say what its index holds (git ls-files: "


def _exported(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    shutil.rmtree(root / ".git")
    return f"no Git repository at {root} ("


def _another_owner(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A checkout another account owns (CI as root over a runner's clone): git's "dubious
    ownership", where check said no repository was there and to run it in the work tree."""
    for path in (root, *root.rglob("*")):
        os.lchown(path, 65534, 65534)
    return "Git cannot say what its index holds (git ls-files: detected dubious ownership"


def _below_anothers_repository(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """No .git of its own, in a folder of another account's repository (a /tmp/.git anyone can
    make): git's "dubious ownership" names that one, whose trust is no fix for this folder."""
    shutil.rmtree(root / ".git")
    subprocess_git(root.parent, "init", "-q")
    for path in (root.parent, *(root.parent / ".git").rglob("*"), root.parent / ".git"):
        os.lchown(path, 65534, 65534)
    return f"no Git repository at {root}: the one above it, at {root.parent.resolve()}, is another account's"


_AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another account needs root")


@pytest.mark.parametrize(
    "cause",
    [
        _separate_git_dir,
        _broken_index,
        _exported,
        pytest.param(_another_owner, marks=_AS_ROOT),
        pytest.param(_below_anothers_repository, marks=_AS_ROOT),
    ],
    ids=["git-dir", "index", "export", "owner", "below-anothers"],
)
def test_check_fails_where_git_cannot_say_what_its_index_holds(
    repo_factory: RepoFactory, monkeypatch: pytest.MonkeyPatch, cause: Callable[..., str]
) -> None:
    """Every rule reading Git's index (leftovers, deleted-file, untracked-file...) has nothing to
    read there: check says so in one error, where it passed a sealer.yaml the next commit deletes."""
    root = repo_factory()
    said = cause(root, monkeypatch)
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        assert (code, [(p["rule"], p["env"], p["level"]) for p in report["problems"]]) == (
            1,
            [("git-index-unreadable", "", "error")],
        )
        assert report["problems"][0]["message"].startswith(said), report["problems"][0]["message"]
        assert report["problems"][0]["fix"]
        if cause is _another_owner:
            trust = f"git config --global --add safe.directory {root.resolve()}"
            assert report["problems"][0]["fix"].endswith(trust)
        else:  # never another account's repository to trust
            assert "safe.directory" not in report["problems"][0]["fix"]
    text = sealer(root, "check").stdout.splitlines()
    assert "git-index-unreadable" in text[0] and text[1].strip().startswith("fix: ")
    assert "| `git-index-unreadable` |" in sealer(root, "check", "--output", "markdown").stdout


def test_a_managed_file_held_as_intent_to_add_and_deleted_fails_with_a_fix_that_works(
    repo_factory: RepoFactory,
) -> None:
    """`git rm --cached`, `git add -N`, then the file deleted: the index's intent-to-add entry
    commits nothing, so the next commit deletes HEAD's file (no plain `git commit` keeps it), and
    `git checkout --` alone wrote the entry's empty file. The fix, run as written, leaves check clean."""
    root = repo_factory()
    rel = "deploy/staging/values.yaml"
    subprocess_git(root, "rm", "-q", "--cached", "--", rel)
    subprocess_git(root, "add", "-N", "--", rel)
    (root / rel).unlink()
    fix = f"git reset -q -- {rel} && git checkout -- {rel}"
    for named in ((), ("staging",)):
        code, report = check_json(root, *named)
        assert (code, [(p["rule"], p["env"], p["fix"]) for p in report["problems"]]) == (
            1,
            [("deleted-file", "staging", fix)],
        )
    message = report["problems"][0]["message"]
    assert message.startswith(f"{rel} is deleted on disk, and Git's index holds it only as intent-to-add")
    assert "the next commit deletes it from Git" in message and "keeps" not in message
    subprocess.run(fix, shell=True, cwd=root, check=True, capture_output=True)
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})


def test_an_intent_to_add_entry_no_commit_holds_deleted_from_disk_passes(repo_factory: RepoFactory) -> None:
    """A file HEAD lacks, `git add -N` of it, then deleted: no commit carries it, as the disk says
    (a values file not rendered yet passes); a real empty file staged and deleted is kept."""
    root = repo_factory()
    values, registry = "deploy/staging/values.yaml", "registry/staging/extra.yaml"
    subprocess_git(root, "rm", "-q", "--cached", "--", values)
    subprocess_git(root, "commit", "-q", "-m", "as if never added")
    for rel in (values, registry):
        (root / rel).write_text("")
        subprocess_git(root, "add", "-N", "--", rel)
        (root / rel).unlink()
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})
    (root / registry).write_text("")
    subprocess_git(root, "add", "--", registry)  # a real (empty) file: the next commit delivers it
    (root / registry).unlink()
    assert [(p["rule"], p["fix"]) for p in check_json(root)[1]["problems"]] == [
        ("deleted-file", f"git rm {registry}")
    ]


def test_an_unmerged_path_is_held_as_a_link_if_any_of_its_stages_is_one(repo_factory: RepoFactory) -> None:
    """A merge conflict (modify/delete) over sealed/staging/notes: the base held a symlink, which
    one side deleted and the other made a plain file. The index keeps both stages, the disk the
    file; its last stage alone said "a plain file", which no GitOps tool applies, while the
    resolution may take any stage (`git checkout-index --stage=1` puts the link back)."""
    from sealer import config
    from sealer.policy import leftovers

    root = repo_factory()
    rel = "sealed/staging/notes"
    (root / rel).symlink_to("staging.yaml")
    commit_all(root, "a link")
    main = subprocess_git(root, "branch", "--show-current").strip()
    subprocess_git(root, "checkout", "-q", "-b", "plain")
    (root / rel).unlink()
    (root / rel).write_text("notes\n")
    commit_all(root, "a plain file")
    subprocess_git(root, "checkout", "-q", main)
    subprocess_git(root, "rm", "-q", "--", rel)
    commit_all(root, "no link")
    merged = subprocess.run(["git", "-C", str(root), "merge", "-q", "plain"], capture_output=True, text=True)
    assert merged.returncode == 1 and "CONFLICT (modify/delete)" in merged.stdout, merged
    stages = subprocess_git(root, "ls-files", "-s", "--", rel).splitlines()
    assert [line.split()[0] for line in stages] == ["120000", "100644"]  # stages 1 and 3
    assert (root / rel).is_file() and not (root / rel).is_symlink()
    assert rel in leftovers.tracked(config.load(root), ".").links
    code, report = check_json(root, "staging")
    assert (code, [(p["rule"], p["fix"]) for p in report["problems"]]) == (
        1,
        [("leftover-cluster", f"git rm {rel}")],
    )
    subprocess_git(root, "rm", "-q", "--", rel)
    assert check_json(root) == (0, {**check_json(root)[1], "problems": []})


class _Looked(frozenset[str]):
    """Paths that count how often something walks them all."""

    walks = 0

    def __iter__(self) -> Any:
        _Looked.walks += 1
        return super().__iter__()


def test_the_leftover_rules_walk_the_index_paths_once(repo_factory: RepoFactory) -> None:
    """At 100,000 index entries a walk over every path costs ~15 ms: the leftovers of sealed/
    and registry/, those of each environment's folder and its registry's deleted files read the
    two folders' sorted paths from one walk, where each sorted its own out of all four times."""
    from sealer import config
    from sealer.policy import leftovers

    root = repo_factory()
    cfg = config.load(root)
    index = leftovers.tracked(cfg, ".")
    held = dataclasses.replace(index, paths=_Looked(index.paths))
    envs = list(cfg.environments.values())
    _Looked.walks = 0
    found = [
        *leftovers.problems(cfg, held),
        *leftovers.cluster_problems(cfg, envs, held),
        *leftovers.deleted_problems(cfg, envs, held),
    ]
    assert (found, _Looked.walks) == ([], 1)


@pytest.mark.parametrize(
    ("spoil", "fix"),
    [
        (lambda v: v.write_bytes(b"a: \xff\xfe\n"), "save deploy/staging/values.yaml as UTF-8 text"),
        (lambda v: v.write_text("a: 1\n \t\nb: 2\n"), "rewrite the odd text in deploy/staging/values.yaml"),
        (lambda v: v.write_text("a: [1\n"), "correct the YAML in deploy/staging/values.yaml"),
    ],
    ids=["not-utf8", "editor-refuses", "not-yaml"],
)
def test_a_values_file_of_an_environment_with_no_cluster_yet_is_checked(
    tmp_path: Path, spoil: Callable[[Path], object], fix: str
) -> None:
    """With no certificate pinned there is no cluster, but the environment's values file is
    there: Helm reads it, and the first rotation after `cert add` edits it. It was not read."""
    from support.git import init_repo

    from sealer import init

    root = init_repo(tmp_path / "repo")
    init.init(root, ("staging",))
    commit_all(root, "sealer setup")
    assert not [p for p in check_json(root)[1]["problems"] if p["rule"] == "values-file"]

    spoil(root / "deploy/staging/values.yaml")
    commit_all(root, "spoilt")
    code, report = check_json(root)
    found = [p for p in report["problems"] if p["rule"] == "values-file"]
    assert code == 1 and len(found) == 1 and found[0]["fix"].startswith(fix), found
