"""Small texts a newcomer reads: durations, first keys, grammar, hook output, suggestions,
the scanner's advice for a controller's private key."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import markdown
import pytest
from support.cli import sealer as cli
from support.git import commit_all, git
from support.isolation import isolated
from support.repos import EnvSpec, keypairs, make_repo

from sealer import config, init, keypair
from sealer.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    "seconds, text",
    [(86400, "1d"), (3600 * 24 * 7, "7d"), (5400, "1h30m"), (90061, "1d1h1m1s"), (45, "45s")],
)
def test_durations_read_as_they_are_written(seconds: int, text: str) -> None:
    assert format_duration(dt.timedelta(seconds=seconds)) == text
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("args", [("rotate", "staging"), ("keys", "revoke", "staging", "kid_000000000000")])
@pytest.mark.parametrize("grace", ["99999999999999h", "3000000d", "3651d"])
def test_a_grace_beyond_any_calendar_is_one_line(repo: Path, args: tuple[str, ...], grace: str) -> None:
    """A duration past datetime's range was an OverflowError traceback (exit 3)."""
    before = git(repo, "rev-parse", "HEAD")
    result = cli(repo, *args, "--no-branch", "--grace", grace)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"sealer: duration {grace!r} is longer than 3650d (10 years)\n"
    assert git(repo, "rev-parse", "HEAD") == before


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    controllers = keypairs(tmp_path_factory, "staging")
    with isolated(tmp_path_factory.mktemp("home")):
        return make_repo(
            tmp_path_factory.mktemp("texts") / "repo", [EnvSpec("staging", controllers["staging"])]
        )


def test_first_keys_then_a_grace_window_in_the_pr_and_the_commit(repo: Path) -> None:
    first = cli(repo, "rotate", "staging", "--no-branch", "-o", "json")
    assert first.exit_code == 0, first.output
    body = Path(json.loads(first.stdout)["pr_body_file"]).read_text()
    assert "**Old keys:** none: these are the first keys of their entries." in body
    assert "revoked at once" not in body
    message = git(repo, "log", "-1", "--format=%B")
    assert "These are the first keys: no old key to revoke." in message and "revoked at once" not in message

    second = cli(repo, "rotate", "staging", "--no-branch", "--grace", "24h", "-o", "json")
    assert second.exit_code == 0, second.output
    body = Path(json.loads(second.stdout)["pr_body_file"]).read_text()
    assert "stay valid for a grace window of 1d, then are revoked." in body and "day," not in body
    assert "Old keys are valid for a grace window of 1d." in git(repo, "log", "-1", "--format=%B")


def test_a_values_file_holding_backticks_stays_one_code_span_in_the_pr_body(
    tmp_path: Path, keypair_2048_dir: Path
) -> None:
    """sealer.yaml allows a valuesFile any printable character: a backtick run in it closed the
    PR description's code span, and the rest (an image, a link) was the repository's Markdown."""
    hostile = "deploy/a` ![approved](x.png) [ok](y) `.yaml"
    with isolated(tmp_path / "home"):
        root = make_repo(tmp_path / "repo", [EnvSpec("staging", keypair_2048_dir)])
        with config.edit(root) as doc:
            doc["environments"]["staging"]["clusters"][0]["valuesFile"] = hostile
        commit_all(root, "a values file with backticks")
        result = cli(root, "rotate", "staging", "--no-branch", "-o", "json")
    assert result.exit_code == 0, result.output
    page = markdown.markdown(Path(json.loads(result.stdout)["pr_body_file"]).read_text())
    assert "<img" not in page and "<a " not in page
    assert f"<code>{hostile}</code>" in page


def test_one_environment_complies(tmp_path: Path, keypair_2048_dir: Path) -> None:
    with isolated(tmp_path / "home"):
        root = make_repo(tmp_path / "repo", [EnvSpec("staging", keypair_2048_dir)])
        assert cli(root, "rotate", "staging", "--no-branch").exit_code == 0
        checked = cli(root, "check")
        audited = cli(root, "audit")
    assert checked.stdout.strip().endswith("ok: 1 environment complies with the policy")
    assert "policy: 1 environment complies" in audited.stdout


@pytest.mark.parametrize(
    "typed, meant", [("stagin", "staging"), ("prod", "production"), ("STAGING", "staging")]
)
def test_an_unknown_environment_suggests_the_nearest(tmp_path: Path, typed: str, meant: str) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    init.init(root)
    result = cli(root, "render", typed)
    assert result.exit_code == 2
    assert result.stderr == (
        f"sealer: unknown environment {typed!r}: did you mean {meant!r}? (known: dev, staging, production)\n"
    )


def test_no_suggestion_when_nothing_is_close(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    init.init(root)
    assert (
        cli(root, "render", "zzz").stderr
        == "sealer: unknown environment 'zzz' (known: dev, staging, production)\n"
    )


def test_a_clean_hook_batch_is_silent_under_pre_commit(tmp_path: Path) -> None:
    """pre-commit shows every batch's output when one fails: a clean one must not claim
    "no plaintext secrets" above another's findings."""
    (tmp_path / "clean.txt").write_text("nothing here\n")
    run = [sys.executable, "-m", "sealer", "scan", "clean.txt"]
    alone = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True)
    hooked = subprocess.run(
        run, cwd=tmp_path, capture_output=True, text=True, env={"PRE_COMMIT": "1", "PATH": ""}
    )
    assert (alone.returncode, alone.stdout) == (0, "sealer scan: no plaintext secrets in 1 file(s)\n")
    assert (hooked.returncode, hooked.stdout, hooked.stderr) == (0, "", "")


def test_a_controller_key_is_never_to_be_sealed(tmp_path: Path) -> None:
    keypair.write(keypair.generate(bits=2048), tmp_path / "keys")
    result = cli(tmp_path, "scan", "keys")
    assert result.exit_code == 1
    assert "seal it with sealer seal" not in result.stdout
    assert "a controller's private key: keep it out of the repository, never seal it" in result.stdout
    assert "does not belong in the repository, sealed or not" in result.stdout
    assert "Seal secrets instead" not in result.stdout  # the advice for every other secret
    assert "If a finding is not a secret, add a `sealer: allow` comment" in result.stdout


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    """A file name, a commit subject or a server's words may hold ESC or CR: shown as \\xNN, so
    they can neither erase nor forge a line printed above them."""
    from sealer.terminal import inert, one_line

    hostile = "ok\x1b[2K\x1b[1Aclean\rfake\x9b\x07"
    assert inert(hostile + "\n\tnext") == "ok\\x1b[2K\\x1b[1Aclean\\x0dfake\\x9b\\x07\n\tnext"
    assert one_line(hostile + "\n") == "ok\\x1b[2K\\x1b[1Aclean\\x0dfake\\x9b\\x07\\x0a"
    # A log viewer (and str.splitlines()) breaks the line at U+2028 and U+2029; a bidi override
    # reorders what follows it.
    apart = "a\u2028b\u2029c\u202ed\u2066e\u061c"
    assert one_line(apart) == inert(apart) == "a\\u2028b\\u2029c\\u202ed\\u2066e\\u061c"


def repo_holding(tmp_path: Path, name: str, text: str) -> Path:
    """A repository with one staged file `name` holding `text`."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / name).write_text(text)
    git(root, "add", "-A")
    return root


def test_a_hostile_file_name_in_scan_output_is_inert(tmp_path: Path) -> None:
    root = repo_holding(tmp_path, "x\x1b[2Ky.env", "AWS_ACCESS_KEY_ID=AKIAQ3EGUS5RZ7XN2KPB\n")
    result = cli(root, "scan", "--all-files")
    assert result.exit_code == 1
    assert "x\\x1b[2Ky.env:1:" in result.stdout and "\x1b" not in result.stdout + result.stderr


def test_a_hostile_file_name_in_a_verbose_scan_note_is_inert(tmp_path: Path) -> None:
    """`scan -v` notes a manifest it could not read by the file's name: printed as it was."""
    root = repo_holding(tmp_path, "x\ry.yaml", "apiVersion: v1\nkind: Secret\nstringData:\n  password: [\n")
    result = cli(root, "scan", "-v", "--all-files")
    assert "sealer scan: x\\x0dy.yaml: not valid YAML at line 5: manifest checks skipped" in result.stderr
    assert "\r" not in result.stderr


def test_a_file_name_holding_a_line_separator_stays_on_its_line(tmp_path: Path) -> None:
    """A CI log's viewer breaks lines at U+2028: the rest of the name read as a line of its own."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "x.env\u2028sealer scan: no plaintext secrets\u202e").write_text(
        "AWS_ACCESS_KEY_ID=AKIAQ3EGUS5RZ7XN2KPB\n"
    )
    git(root, "add", "-A")
    result = cli(root, "scan", "--all-files")
    assert result.exit_code == 1
    assert "x.env\\u2028sealer scan: no plaintext secrets\\u202e:1:" in result.stdout
    assert "\u2028" not in result.stdout + result.stderr and "\u202e" not in result.stdout + result.stderr
