"""What a repository's size adds to `sealer check`, the pre-commit hook's every run.

    python3 bench/check_bench.py [--files 50000] [--runs 5]

`sealer check` over every environment also judges every path Git holds (the certificates
folder, and paths spelt like sealer's own in another case), so it grows with the repository.
Timed in this run, as whole processes interleaved so that a busy moment hits both alike:
`sealer check` in a repository of one environment and a handful of files, and in the same
repository with FILES more tracked files (500 folders of source files). Also printed: what
`git ls-files` alone takes there (sealer must read that list). Target: the big repository
within 1.5x of the small one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.5
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@sealer.invalid",
    "GIT_COMMITTER_EMAIL": "bench@sealer.invalid",
}
# Bytecode is cached as in any install (see startup_bench.py).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=ENV)


def sealer_repo(root: Path, files: int) -> Path:
    """`sealer init` (one environment), with `files` more tracked files; committed."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    subprocess.run(
        [sys.executable, "-m", "sealer", "init"], cwd=root, check=True, capture_output=True, env=ENV
    )
    per_folder = 100
    for index in range(files):
        folder = root / "src" / f"pkg{index // per_folder}" / "sub"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file_{index % per_folder}.py").touch()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "repo")
    return root


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ENV.update(IDENTITY, GIT_CONFIG_NOSYSTEM="1")
    with tempfile.TemporaryDirectory(prefix="sealer-check-bench-") as tmp:
        ENV.update(HOME=tmp, GIT_CONFIG_GLOBAL=str(Path(tmp) / ".gitconfig"))
        small, big = sealer_repo(Path(tmp) / "small", 0), sealer_repo(Path(tmp) / "big", args.files)
        check = [sys.executable, "-m", "sealer", "check"]
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(args.runs):
            times[0].append(timed(check, small))
            times[1].append(timed(check, big))
        listing = statistics.median(timed(["git", "ls-files", "-z"], big) for _ in range(args.runs))
    one, many = statistics.median(times[0]), statistics.median(times[1])
    print(f"sealer check, median of {args.runs} runs")
    print(f"  small repository (a handful of files)         {one * 1000:8.1f} ms")
    print(
        f"  with {args.files} more tracked files{'':<14}{many * 1000:8.1f} ms  "
        f"{many / one:.2f}x the small one (target <= {TARGET}x)"
    )
    print(f"  git ls-files alone there                      {listing * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
