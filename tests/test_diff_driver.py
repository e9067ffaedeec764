"""`sealer diff-driver`: the textconv that makes `git diff` show key ids and digests, through
real `git diff` with the config `sealer init` writes, and on odd input it must survive."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cli import in_dir as cwd
from support.cli import sealer as cli
from support.git import commit_all, git
from support.repos import copy_repo, keypairs, ledger_records, rotated_template

from sealer import apikey, diffdriver, init

SEALED = "sealed/staging/staging.yaml"
VALUES = "deploy/staging/values.yaml"
SUMMARY = re.compile(r"<sealed 2048-bit, sha256:([0-9a-f]{12})…(?:, key (kid_[0-9a-f]{12}) \((\w+)\))?>")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{300,}")


@pytest.fixture(scope="module")
def rotated_twice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    controllers = keypairs(tmp_path_factory, "staging")
    return rotated_template(tmp_path_factory, controllers, ["staging"], times=2)


@pytest.fixture
def repo(rotated_twice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy, with `sealer` on PATH running this checkout (git runs the textconv by name)."""
    shim = tmp_path / "bin" / "sealer"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sealer "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    return copy_repo(rotated_twice, tmp_path / "repo")


def digest(value: str) -> str:
    return hashlib.sha256(base64.b64decode(value)).hexdigest()[:12]


def test_init_sets_up_the_driver(repo: Path) -> None:
    assert git(repo, "config", "diff.sealer.textconv").strip() == init.textconv_command()
    assert git(repo, "check-attr", "diff", "--", SEALED, VALUES).count("diff: sealer") == 2


def test_git_diff_of_a_values_file_shows_both_key_ids(repo: Path) -> None:
    old, new = ledger_records(repo, "staging")
    out = git(repo, "diff", "HEAD~1", "HEAD", "--", VALUES)
    removed = [
        SUMMARY.search(line) for line in out.splitlines() if line.startswith("-") and "<sealed" in line
    ]
    added = [SUMMARY.search(line) for line in out.splitlines() if line.startswith("+") and "<sealed" in line]
    assert [m.groups()[1:] for m in removed if m] == [(old.key_id, "revoked")]
    assert [m.groups()[1:] for m in added if m] == [(new.key_id, "active")]
    assert not BASE64_RUN.search(out)
    raw = git(repo, "diff", "--no-textconv", "HEAD~1", "HEAD", "--", VALUES)
    values = BASE64_RUN.findall(raw)
    assert len(values) == 2 and [m.group(1) for m in removed + added if m] == [digest(v) for v in values]


def test_git_diff_of_a_sealed_file_shows_digests_and_the_current_key(repo: Path) -> None:
    new = ledger_records(repo, "staging")[-1]
    out = git(repo, "diff", "HEAD~1", "HEAD", "--", SEALED)
    lines = [line for line in out.splitlines() if "<sealed" in line]
    assert len(lines) == 2 and not BASE64_RUN.search(out)
    old_line, new_line = (SUMMARY.search(line) for line in lines)
    assert old_line and old_line.group(2) is None  # RSA-OAEP hides the key: the digest alone
    assert new_line and new_line.groups()[1:] == (new.key_id, "active")
    assert "apiKey: <sealed" in lines[1] and lines[1].startswith("+")


def test_git_log_and_a_hand_edit_in_the_working_tree(repo: Path) -> None:
    assert "<sealed 2048-bit" in git(repo, "log", "-p", "-1", "--", SEALED)
    text = (repo / SEALED).read_text()
    value = BASE64_RUN.search(text)
    assert value
    edited = base64.b64encode(b"\x01\x00" + bytes(256 + 16 + 40)).decode()
    (repo / SEALED).write_text(text.replace(value.group(0), edited))
    out = git(repo, "diff", "--", SEALED)
    assert f"+    apiKey: <sealed 2048-bit, sha256:{digest(edited)}…>" in out
    assert f"-    apiKey: <sealed 2048-bit, sha256:{digest(value.group(0))}…, key " in out


def test_output_is_stable(repo: Path) -> None:
    with cwd(repo):
        first = diffdriver.convert_file(VALUES)
        assert first == diffdriver.convert_file(VALUES) and first.count(b"<sealed") == 1
    assert cli(repo, "diff-driver", VALUES).stdout.encode() == first


ODD_INPUTS = [
    ("not-yaml.yaml", b"key: [unclosed\n  - what: {\n"),
    ("binary.bin", bytes(range(256)) * 4),
    ("empty.yaml", b""),
    ("latin1.yaml", "caf\xe9: 1\n".encode("latin-1")),
    ("no-sealed.yaml", b"a: 1\nb: [2, 3]\n"),
    ("long-base64-not-sealed.yaml", b"blob: " + base64.b64encode(bytes(400)) + b"\n"),
    ("multi.yaml", b"a: 1\n---\nb: 2\n"),
    ("tabs.yaml", b"a:\n\t- b\n"),
    ("deep.yaml", b"[" * 200_000 + b"]" * 200_000),  # libyaml's C loader segfaults on this
    (
        "deep-with-value.yaml",
        b"a: "
        + b"[" * 200_000
        + b"x]"
        + b"]" * 199_999
        + b"\nb: "
        + base64.b64encode(b"\x01\x00" + bytes(300))
        + b"\n",
    ),
    ("broken-with-value.yaml", b"a: [\nb: " + base64.b64encode(b"\x01\x00" + bytes(300)) + b"\n"),
]


@pytest.mark.parametrize(("name", "data"), ODD_INPUTS, ids=[n for n, _ in ODD_INPUTS])
def test_odd_input_is_printed_unchanged(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert diffdriver.convert_file(str(path), tmp_path) == data
    result = cli(tmp_path, "diff-driver", str(path))
    assert result.exit_code == 0 and result.stdout_bytes == data


def test_a_missing_file_prints_nothing(tmp_path: Path) -> None:
    result = cli(tmp_path, "diff-driver", str(tmp_path / "gone.yaml"))
    assert result.exit_code == 0 and result.stdout_bytes == b""


def test_outside_a_sealer_repo_and_in_json(repo: Path, tmp_path: Path) -> None:
    value = BASE64_RUN.search((repo / SEALED).read_text())
    assert value
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.json").write_text(f'{{"spec": {{"encryptedData": {{"apiKey": "{value.group(0)}"}}}}}}\n')
    out = diffdriver.convert_file(str(other / "x.json"), other).decode()
    summary = f"<sealed 2048-bit, sha256:{digest(value.group(0))}…>"
    assert out == f'{{"spec": {{"encryptedData": {{"apiKey": "{summary}"}}}}}}\n'


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("sealer.yaml", "environments: [not, a, mapping\n"),
        (
            "sealer.yaml",
            "environments:\n  staging:\n    namespace: staging\n    secretName: engine-api-key\n"
            "    clusters: 7\n    valuesFile: [1]\n",
        ),
        ("ledger/staging.yaml", "keys: 12\n"),
        ("ledger/staging.yaml", "keys: [1, two, {key_id: [x]}]\n"),
        (VALUES, "sealer: {encryptedData: 3, keys: []}\n"),
        (VALUES, ": : :\n"),
    ],
)
def test_broken_repo_files_do_not_break_it(repo: Path, path: str, text: str) -> None:
    (repo / path).write_text(text)
    with cwd(repo):
        assert diffdriver.convert_file(SEALED).count(b"<sealed 2048-bit") == 1


def test_it_takes_its_paths_from_layout_without_importing_the_config_model() -> None:
    """Git runs the driver for every file of a diff: it stays off sealer.config's imports."""
    code = "import sys, sealer.diffdriver\nfor m in ('config', 'layout'): print(f'sealer.{m}' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


def test_a_plaintext_key_is_left_visible(repo: Path) -> None:
    """The driver hides only ciphertext: a plaintext key in a diff must stay in plain sight."""
    key = apikey.generate("staging")
    with (repo / VALUES).open("a") as handle:
        handle.write(f"oops: {key}\n")
    assert key in git(repo, "diff", "--", VALUES)
    commit_all(repo, "oops")
    assert key in git(repo, "show", "HEAD", "--", VALUES)


SEALED_LIKE = base64.b64encode(b"\x01\x00" + bytes(300)).decode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.lists(
            st.sampled_from(
                [
                    "a: ",
                    "- ",
                    "[",
                    "]",
                    "{",
                    "}",
                    ":",
                    "\n",
                    "  ",
                    "'",
                    '"',
                    "#",
                    "---\n",
                    "&x ",
                    "*x ",
                    "!!binary ",
                    SEALED_LIKE,
                    "\t",
                    "\xe9",
                ]
            ),
            max_size=60,
        ).map(lambda parts: "".join(parts).encode()),
    )
)
def test_never_fails_on_any_input(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "any.yaml"
    path.write_bytes(data)
    out = diffdriver.convert_file(str(path), tmp_path)
    assert out == data or b"<sealed 2048-bit" in out
