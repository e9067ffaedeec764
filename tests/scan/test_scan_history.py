"""`sealer scan --history`: every blob in a range once, the introducing commit named."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sealer import apikey
from sealer.cli import cli
from sealer.scan import history


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    for name, text in files.items():
        if text is None:
            git(repo, "rm", "-q", name)
        else:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text)
            git(repo, "add", name)
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


KEY = apikey.generate("prod")


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    shas = {"start": commit(root, {"README.md": "hello\n"}, "start")}
    shas["leak"] = commit(root, {"config/app.env": f"LOG=info\nAPI_KEY={KEY}\n"}, "add config")
    shas["edit"] = commit(root, {"config/app.env": f"LOG=debug\nAPI_KEY={KEY}\n"}, "edit config")
    shas["delete"] = commit(root, {"config/app.env": None}, "remove the key")
    git(root, "checkout", "-q", "-b", "topic", shas["start"])
    other = apikey.generate("dev")
    shas["topic"] = commit(root, {"notes.txt": f"key {other}\n"}, "topic")
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-edit", "topic")
    return shas


def scan(*args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(cli, ["scan", *args, "-o", "json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("[") else []


def test_a_key_committed_and_deleted_later_is_found_once_at_its_commit(repo: dict[str, str]) -> None:
    assert not Path("config/app.env").exists()
    code, found = scan("--history")
    assert code == 1
    by_path = {f["path"]: f for f in found}
    assert set(by_path) == {"config/app.env", "notes.txt"}  # once, though two blobs hold the key
    assert by_path["config/app.env"]["commit"] == repo["leak"]
    assert by_path["config/app.env"]["line"] == 2
    assert by_path["notes.txt"]["commit"] == repo["topic"]  # brought in by a merged branch


def test_a_range_scans_only_what_it_reaches(repo: dict[str, str]) -> None:
    assert scan(f"--history={repo['delete']}..main")[1] == [
        f for f in scan("--history")[1] if f["path"] == "notes.txt"
    ]
    assert scan(f"--history={repo['edit']}..{repo['delete']}") == (0, [])  # a deletion adds no blob
    (edited,) = scan(f"--history={repo['leak']}..{repo['delete']}")[1]  # the edit's blob holds it still
    assert edited["commit"] == repo["edit"]


def test_every_blob_is_read_once(repo: dict[str, str]) -> None:
    blobs = history.blobs(".", "HEAD")
    assert len({b.sha for b in blobs}) == len(blobs) == 4  # README, two app.env versions, notes


def test_baseline_applies_to_history(repo: dict[str, str], tmp_path: Path) -> None:
    baseline = str(tmp_path / "baseline.json")
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["scan", "--history", "--baseline", baseline, "--update-baseline"]).exit_code == 0
    )
    assert scan("--history", "--baseline", baseline) == (0, [])


def test_text_and_sarif_name_the_commit(repo: dict[str, str]) -> None:
    text = CliRunner().invoke(cli, ["scan", "--history"]).output
    assert (
        "config/app.env:2:9: error: sealer-api-key: sealer API key (checksum verified) "
        f"(commit {repo['leak'][:12]})" in text
    )
    assert KEY not in text
    sarif = json.loads(CliRunner().invoke(cli, ["scan", "--history", "-o", "sarif"]).stdout)
    commits = {r["properties"]["commit"] for r in sarif["runs"][0]["results"]}
    assert commits == {repo["leak"], repo["topic"]}


@pytest.mark.parametrize("bad", ["--output=written", "-p", "a b", "nope..main"])
def test_a_bad_range_is_bad_input(repo: dict[str, str], bad: str) -> None:
    result = CliRunner().invoke(cli, ["scan", f"--history={bad}"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not Path("written").exists()  # never handed to git as an option


def test_a_large_blob_in_the_history_is_scanned_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 48 MiB blob is streamed from git and scanned piece by piece: peak Python memory stays
    under half its size (before streaming it was held whole: about 1.4 times its size)."""
    import tracemalloc

    from sealer.scan import rules, scanner

    root = tmp_path / "big"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    line = b"filler line of some config file, nothing to see here at all\n"
    lines = (48 << 20) // len(line)
    body = bytearray(line * lines)
    at = lines // 2 * len(line)  # a line start in the middle (a block boundary there, or near)
    body[at:at] = f"API_KEY={KEY}\n".encode()
    body += f"tail_key={KEY}\n".encode()
    size = len(body)
    sha = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=root, input=bytes(body), capture_output=True, check=True
    ).stdout.decode()
    del body
    git(root, "update-index", "--add", "--cacheinfo", f"100644,{sha.strip()},big.txt")
    git(root, "commit", "-qm", "big")
    policy = rules.load()
    tracemalloc.start()
    try:
        result = scanner.run(history.candidates(".", history.blobs(".", "HEAD")), policy, (), workers=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sorted(f.line for f in result.findings) == [lines // 2 + 1, lines + 2]
    assert not result.unexamined and result.size >= size
    assert peak < size // 2, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB blob"


def test_blobs_stream_without_a_thread_so_batches_can_fork(tmp_path: Path) -> None:
    """Thousands of blob ids reach git while the first blobs are read: no thread is left
    writing them (the scanner forks its workers only when no other thread runs)."""
    import threading

    root = tmp_path / "many"
    root.mkdir()
    git(root, "init", "-q")
    stream = b"".join(b"blob\ndata %d\nfile %d\n\n" % (len(b"file %d\n" % n), n) for n in range(4000))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=stream, check=True)
    shas = git(root, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    assert len(shas) == 4000  # ids past what a pipe holds (64 KiB)
    found = [history.Blob(sha, f"f{n}.txt", "") for n, sha in enumerate(shas)]
    read = 0
    threads = threading.active_count()  # the suite's own servers may run threads of their own
    for candidate in history.candidates(str(root), found):
        assert threading.active_count() == threads
        assert candidate.data is not None and candidate.data.startswith(b"file ")
        read += 1
    assert read == 4000
