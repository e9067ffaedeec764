"""The `sealer-scan-message` hook under the real pre-commit, installed the way `sealer init`'s
config asks (`default_install_hook_types`), in a temp Git repository with real commits."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from test_scan_precommit import committed, local_config, run

from sealer import apikey, templating
from sealer.scan import message

HOOK_NAME = "sealer scan (no plaintext secrets in the commit message)"


def generated_install_types() -> list[str]:
    hooks = SimpleNamespace(url="https://git.example.internal/platform/sealer.git", rev="0" * 40)
    config = yaml.safe_load(templating.render("pre-commit-config.yaml.j2", hooks=hooks))
    hook_ids = [h["id"] for h in config["repos"][0]["hooks"]]
    assert hook_ids == ["sealer-scan", "sealer-scan-message", "sealer-check"]
    return list(config["default_install_hook_types"])


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    root = tmp_path / "repo"
    root.mkdir()
    assert run(root, "git", "init", "-q").returncode == 0
    config = local_config("sealer-scan", "sealer-scan-message", install=tuple(generated_install_types()))
    (root / ".pre-commit-config.yaml").write_text(config)
    installed = run(root, sys.executable, "-m", "pre_commit", "install")  # no --hook-type: the config's
    assert installed.returncode == 0, installed.stderr
    assert (root / ".git/hooks/commit-msg").exists()
    (root / "README.md").write_text("docs\n")
    assert run(root, "git", "add", ".").returncode == 0
    return root


def test_a_key_in_a_commit_message_is_blocked_and_never_printed(repo: Path) -> None:
    key = apikey.generate("prod")
    done = run(repo, "git", "commit", "-m", f"rotate {key}")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and not committed(repo)
    assert HOOK_NAME in out and "Failed" in out
    assert ":1:8: error: sealer-api-key: sealer API key (checksum verified)" in out
    assert key not in out


def test_a_config_that_filters_the_message_file_out_fails_the_commit(repo: Path) -> None:
    """pre-commit applies the config's `exclude` to the message file too: the hook still runs
    (always_run), is handed nothing, and fails rather than pass a message it never saw."""
    config = repo / ".pre-commit-config.yaml"
    config.write_text("exclude: ^\\.git/\n" + config.read_text())
    assert run(repo, "git", "add", ".").returncode == 0
    key = apikey.generate("prod")
    done = run(repo, "git", "commit", "-m", f"rotate {key}")
    assert done.returncode != 0 and not committed(repo) and key not in done.stdout + done.stderr


def test_an_ordinary_message_passes(repo: Path) -> None:
    done = run(repo, "git", "commit", "-m", "docs: a typo\n\n# not a comment under -m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert HOOK_NAME in done.stderr and "Passed" in done.stderr


def test_a_key_on_a_comment_line_of_a_dash_m_message_is_blocked(repo: Path) -> None:
    """Without an editor git keeps `#` lines: they are committed, so they are scanned."""
    key = apikey.generate("prod")
    done = run(repo, "git", "commit", "-m", f"rotate\n\n# {key}")
    assert done.returncode != 0 and not committed(repo)
    assert key not in done.stdout + done.stderr


def test_a_key_in_the_message_of_an_amend_is_blocked(repo: Path) -> None:
    assert run(repo, "git", "commit", "-m", "docs").returncode == 0
    key = apikey.generate("prod")
    done = run(repo, "git", "commit", "--amend", "-m", f"docs\n\nold key: {key}")
    assert done.returncode != 0 and key not in done.stdout + done.stderr
    assert run(repo, "git", "log", "-1", "--format=%B").stdout.strip() == "docs"


def test_a_verbose_commit_whose_diff_removes_a_key_passes(repo: Path, tmp_path: Path) -> None:
    """`git commit -v`: the diff below the scissors line shows the key being removed; the
    message above it and git's comment lines (a deleted file named after the key) pass."""
    key = apikey.generate("staging")
    (repo / "values.yaml").write_text(f"apiKey: {key}\n")
    (repo / f"{key}.txt").write_text("oops\n")
    assert run(repo, "git", "add", ".").returncode == 0
    assert run(repo, "git", "commit", "-q", "--no-verify", "-m", "leak").returncode == 0
    (repo / "values.yaml").write_text("apiKey: sealed elsewhere\n")
    assert run(repo, "git", "rm", "-q", f"{key}.txt").returncode == 0
    seen = tmp_path / "seen-message"
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import shutil, sys\n"
        "text = open(sys.argv[1]).read()\n"
        f"open(sys.argv[1], 'w').write('remove the leaked key\\n' + text)\n"
        f"shutil.copy(sys.argv[1], {str(seen)!r})\n"
    )
    done = run(repo, "git", "-c", f"core.editor={sys.executable} {editor}", "commit", "-a", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert HOOK_NAME in done.stderr and "Passed" in done.stderr
    text = seen.read_text()
    assert f"-apiKey: {key}" in text.split(">8")[1] and f"deleted:    {key}.txt" in text.split(">8")[0]


def test_a_key_above_the_scissors_of_a_verbose_commit_is_blocked(repo: Path, tmp_path: Path) -> None:
    key = apikey.generate("staging")
    editor = tmp_path / "editor.py"
    editor.write_text(
        f"import sys\ntext = open(sys.argv[1]).read()\nopen(sys.argv[1], 'w').write({key!r} + '\\n' + text)\n"
    )
    done = run(repo, "git", "-c", f"core.editor={sys.executable} {editor}", "commit", "-v")
    assert done.returncode != 0 and not committed(repo) and key not in done.stdout + done.stderr


SCISSORS = "# ------------------------ >8 ------------------------"
CUT = f"{SCISSORS}\n# Do not modify or remove the line above.\n# Everything below it will be ignored."


@pytest.mark.parametrize("edited", [False, True])
def test_a_key_below_a_typed_scissors_line_is_blocked(repo: Path, tmp_path: Path, edited: bool) -> None:
    """Git cuts a typed scissors line only under `-v` or `--cleanup=scissors`: here it commits
    the key below it (`-m`, or an editor without `-v`), so the hook must not cut there."""
    key = apikey.generate("prod")
    text = f"msg\n{SCISSORS}\n{key}\n"
    if edited:
        editor = tmp_path / "editor.py"
        editor.write_text(f"import sys\nopen(sys.argv[1], 'w').write({text!r})\n")
        done = run(repo, "git", "-c", f"core.editor={sys.executable} {editor}", "commit")
    else:
        done = run(repo, "git", "commit", "-m", text)
    assert done.returncode != 0 and not committed(repo) and key not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("text", "comment", "drop", "kept"),
    [
        (f"msg\n{CUT}\n-key\n", b"#", True, "msg"),
        (f"msg\n{CUT}\n-key\n", b"#", False, "msg"),
        (f"msg\n{SCISSORS}\n-key\n", b"#", False, f"msg\n{SCISSORS}\n-key\n"),  # typed: git keeps
        (f"msg\n{SCISSORS}\r\n# a\n# b\n-key", b"#", False, f"msg\n{SCISSORS}\r\n# a\n# b\n-key"),
        ("msg\n# comment\nbody\n", b"#", True, "msg\n\nbody\n"),  # line numbers stay
        ("msg\n# comment\nbody\n", b"#", False, "msg\n# comment\nbody\n"),  # -m: git keeps it
        (f"msg\n; note\n{SCISSORS}\n", b";", True, f"msg\n\n{SCISSORS}\n"),  # commentChar ';'
        (f"msg\n# c\n{SCISSORS}\n", None, False, f"msg\n# c\n{SCISSORS}\n"),  # auto: all of it
    ],
)
def test_the_committed_part_of_a_message(text: str, comment: bytes | None, drop: bool, kept: str) -> None:
    assert message.committed(text.encode(), comment, drop) == kept.encode()


def test_without_an_editor_git_writes_no_scissors_so_none_is_cut() -> None:
    assert message.committed(f"msg\n{CUT}\n-key".encode(), b"#", False, edited=False).endswith(b"-key")


def test_a_message_file_that_cannot_be_read_fails_closed(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sealer.cli import cli

    done = CliRunner().invoke(cli, ["scan", "--commit-msg", str(tmp_path / "missing")])
    assert done.exit_code == 1 and "could not be examined" in done.output


def test_a_message_finding_is_advised_for_a_message(tmp_path: Path) -> None:
    """Neither sealing, an allow comment nor a baseline (refused with --commit-msg) fits a
    message: the footer says to take the secret out and commit again, naming the kept file."""
    from click.testing import CliRunner

    from sealer.cli import cli

    (tmp_path / "MSG").write_text(f"rotate\n\nthe key: {apikey.generate('prod')}\n")
    done = CliRunner().invoke(cli, ["scan", "--commit-msg", str(tmp_path / "MSG")])
    assert done.exit_code == 1
    footer = done.stdout.splitlines()[1:]
    assert footer == [
        "sealer scan: 1 finding(s) in the commit message — it must not hold secrets.",
        "A secret in a commit message cannot be sealed, and the message would stay in Git's history: "
        f"take it out of the message and commit again (what you wrote is kept in {tmp_path / 'MSG'}).",
    ]


@pytest.mark.parametrize("args", [[], ["a", "b"], ["--staged"], ["m", "--baseline", "b.json"]])
def test_commit_msg_takes_one_message_file_alone(tmp_path: Path, args: list[str]) -> None:
    from click.testing import CliRunner

    from sealer.cli import cli

    done = CliRunner().invoke(cli, ["scan", "--commit-msg", *args])
    assert done.exit_code == 2 and "--commit-msg scans one message file" in done.output


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_message_path_that_is_a_symlink_or_fifo_fails_closed_at_once(tmp_path: Path, kind: str) -> None:
    """The hook never follows a link (to a file holding a key, here) nor waits on a FIFO no one
    writes: it refuses the commit at once, the key unprinted."""
    import os
    import subprocess

    key = apikey.generate("prod")
    (tmp_path / "real").write_text(f"msg {key}\n")
    given = tmp_path / "given"
    if kind == "symlink":
        given.symlink_to(tmp_path / "real")
    else:
        os.mkfifo(given)
    done = subprocess.run(
        [sys.executable, "-m", "sealer", "scan", "--commit-msg", str(given)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "commit message not read" in done.stderr
    assert key not in done.stdout + done.stderr
