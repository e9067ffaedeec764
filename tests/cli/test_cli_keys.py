from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from support import git
from support.cli import assert_one_line_error, invoke, run_main

from sealer import apikey


def test_keygen_prints_a_key_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = invoke(["keygen", "--env", "staging"])
    assert run.code == 0
    key = run.stdout.strip()
    assert re.fullmatch(r"slr_staging_[0-9A-Za-z]{38}", key) and apikey.checksum_ok(key)
    assert list(tmp_path.iterdir()) == []  # nothing on disk


def test_keygen_json_carries_fingerprint_and_id() -> None:
    data = json.loads(invoke(["keygen", "--env", "dev", "-o", "json"]).stdout)
    assert data["fingerprint"] == apikey.fingerprint(data["key"])
    assert data["key_id"] == apikey.key_id(data["fingerprint"])
    assert data["env"] == "dev"


@pytest.mark.parametrize("env", ["", "Prod", "a_b", "-x"])
def test_keygen_refuses_a_bad_environment_tag(capsys: pytest.CaptureFixture[str], env: str) -> None:
    assert_one_line_error(run_main(["keygen", "--env", env], capsys), 2, "environment tag")


def test_keypair_writes_three_files(tmp_path: Path) -> None:
    run = invoke(["keypair", "--out", str(tmp_path / "k"), "--bits", "2048", "--days", "30", "-o", "json"])
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["key_bits"] == 2048 and len(data["fingerprint"]) == 64
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [
        "sealed-secrets-key.yaml",
        "tls.crt",
        "tls.key",
    ]
    assert "PRIVATE KEY" not in run.stdout


def test_keypair_refuses_to_overwrite_and_leaves_files_alone(
    keypair_2048_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p.name: p.read_bytes() for p in keypair_2048_dir.iterdir()}
    run = run_main(["keypair", "--out", str(keypair_2048_dir), "--bits", "2048"], capsys)
    assert_one_line_error(run, 2, "refusing to overwrite")
    assert {p.name: p.read_bytes() for p in keypair_2048_dir.iterdir()} == before


@pytest.mark.parametrize("ignored", [False, True], ids=["tracked", "git-ignored"])
def test_keypair_refuses_a_folder_inside_a_git_work_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ignored: bool
) -> None:
    """One `git add -A` would commit the controller's private key: refused, ignored or not (#14)."""
    repo = tmp_path / "repo"
    git.init_repo(repo)
    if ignored:
        (repo / ".gitignore").write_text("controllers/\n")
    out = repo / "controllers" / "staging"
    run = run_main(["keypair", "--out", str(out), "--bits", "2048"], capsys)
    assert_one_line_error(run, 2, f"a private key inside the Git work tree {repo.resolve()}")
    assert "outside it and any other repository, e.g. ~/sealer-keys/<cluster>" in run.stderr
    assert not (repo / "controllers").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another account needs root")
def test_keypair_refuses_another_accounts_work_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """git will not name a work tree another account owns ("dubious ownership"): that is no
    reason to write a private key its owner's next `git add .` commits."""
    repo = tmp_path / "theirs"
    git.init_repo(repo)
    for path in (repo, *repo.rglob("*")):
        os.lchown(path, 65534, 65534)
    run = run_main(["keypair", "--out", str(repo / "k"), "--bits", "2048"], capsys)
    assert_one_line_error(run, 2, f"a private key inside the Git work tree {repo.resolve()}")
    assert not (repo / "k").exists()


def test_keypair_in_a_home_kept_in_git_names_no_folder_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home folder that is a work tree (dotfiles): ~/sealer-keys is no way out of it."""
    home = tmp_path / "home"
    git.init_repo(home)
    monkeypatch.setenv("HOME", str(home))
    run = run_main(["keypair", "--out", str(home / "k"), "--bits", "2048"], capsys)
    assert_one_line_error(run, 2, "use an --out folder outside it and any other repository")
    assert "~/sealer-keys" not in run.stderr


@pytest.mark.parametrize(("option", "value"), [("--bits", "1024"), ("--bits", "4000"), ("--days", "0")])
def test_keypair_refuses_bad_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    assert_one_line_error(
        run_main(["keypair", "--out", str(tmp_path / "k"), option, value], capsys), 2, option
    )
    assert not (tmp_path / "k").exists()
