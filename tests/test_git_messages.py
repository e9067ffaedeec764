"""git's multi-line complaints become one clear line (sealer.git.one_line), checked on git's
real texts and through a real `git` that has no identity."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sealer import git
from sealer.errors import SealerError

WHO_ARE_YOU = """Author identity unknown

*** Please tell me who you are.

Run

  git config --global user.email "you@example.com"
  git config --global user.name "Your Name"

to set your account's default identity.
Omit --global to set the identity only in this repository.

fatal: unable to auto-detect email address (got 'root@host.(none)')
"""
REJECTED = """To ../remote.git
 ! [rejected]        main -> main (fetch first)
error: failed to push some refs to '../remote.git'
hint: Updates were rejected because the remote contains work that you do not
hint: have locally. This is usually caused by another repository pushing to
hint: the same ref.
"""
NO_REMOTE = """fatal: 'origin' does not appear to be a git repository
fatal: Could not read from remote repository.

Please make sure you have the correct access rights
and the repository exists.
"""


@pytest.mark.parametrize(
    "stderr, line",
    [
        (WHO_ARE_YOU, git.NO_IDENTITY),
        (
            REJECTED,
            "[rejected] main -> main (fetch first); failed to push some refs to '../remote.git'",
        ),
        (
            NO_REMOTE,
            "'origin' does not appear to be a git repository; Could not read from remote repository",
        ),
        ("warning: something\nplain last line\n", "plain last line"),
        ("", "failed"),
    ],
    ids=["identity", "push-rejected", "no-remote", "no-prefix", "silent"],
)
def test_one_line(stderr: str, line: str) -> None:
    assert git.one_line(stderr) == line


def test_a_real_git_without_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "config", "user.useConfigOnly", "true"], check=True)
    (tmp_path / "a").write_text("a\n")
    with pytest.raises(SealerError) as caught:
        git.run(tmp_path, "add", "a")
        git.run(tmp_path, "commit", "-q", "-m", "x")
    assert str(caught.value) == f"git commit: {git.NO_IDENTITY}"


@pytest.mark.parametrize("before", [470, 480, 490, 499])
def test_a_key_cut_by_the_bound_is_not_shown_in_part(before: int) -> None:
    """The one line is bounded (500 characters): cut inside a key, it would show most of it,
    which redaction (by checksum) cannot tell from text. The cut drops the word it falls in."""
    from sealer import apikey

    key = apikey.generate("dev")
    line = git.one_line(f"fatal: {'x ' * (before // 2)}{key} and more\n")
    assert len(line) <= 501 and line.endswith("…")
    assert key[:12] not in apikey.redact(line), line


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("short", 10, "short"),
        ("one two three", 7, "one two…"),  # the cut after a whole word
        ("one two three", 9, "one two…"),  # the cut inside `three`: dropped
        ("one twothree", 8, "one…"),
        ("onewordonly", 4, "…"),  # nothing but the word cut: nothing shown
    ],
)
def test_the_cut_never_goes_through_a_word(text: str, limit: int, shown: str) -> None:
    from sealer import terminal

    assert terminal.cut(text, limit) == shown
    assert terminal.clean(text, limit) == shown
