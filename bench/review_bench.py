"""Review cost next to reading the same history with Git (issue 19).

    python3 bench/review_bench.py [--envs 50] [--commits 200] [--runs 3] [--profile]

Builds a repo of ENVS environments (one RSA-2048 controller pinned for all), rotates every key
once on main, then makes COMMITS rotation commits on a branch (one environment each, round
robin). Measured in this run, median of --runs:
  git log -p      `git log -p --no-textconv main..pr` of the same range, output thrown away (the
                  repo's diff driver is sealer itself: with it git would spawn one per file)
  sealer review   one whole `python -m sealer review main pr --output json` process: every
                  commit walked, the ledger's state machine, every changed blob scanned, every
                  touched environment recomputed                           target <= 5x git log -p
--profile runs the review once in process under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rotate_bench import IDENTITY, build_repo, git  # the same repo builder

from sealer import config, keypair
from sealer.rotation import phases, plan
from sealer.review import review

TARGET = 5.0


def make_history(root: Path, commits: int) -> None:
    cfg = config.load(root)
    phases.rotate(cfg, plan.Request(envs=(), due=True, no_branch=True))
    git(root, "checkout", "-q", "-b", "pr")
    names = list(cfg.environments)
    for index in range(commits):
        phases.rotate(config.load(root), plan.Request(envs=(names[index % len(names)],), no_branch=True))


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=50)
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    os.environ.update(IDENTITY)
    with tempfile.TemporaryDirectory(prefix="sealer-review-bench-") as tmp:
        controller = Path(tmp) / "controller"
        keypair.write(keypair.generate(bits=2048), controller)
        root = build_repo(Path(tmp) / "repo", args.envs, 1, [controller])
        start = time.perf_counter()
        make_history(root, args.commits)
        print(
            f"built {args.commits} rotation commits over {args.envs} environments "
            f"in {time.perf_counter() - start:.1f}s"
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        os.environ.clear()
        os.environ.update(env)
        log, ours = [], []
        for _ in range(args.runs):  # alternated, so a busy machine slows both alike
            log.append(timed(["git", "log", "-p", "--no-textconv", "main..pr"], root))
            ours.append(
                timed([sys.executable, "-m", "sealer", "review", "main", "pr", "--output", "json"], root)
            )
        code = subprocess.run(
            [sys.executable, "-m", "sealer", "review", "main", "pr", "-o", "json"],
            cwd=root,
            capture_output=True,
        ).returncode
        startup = statistics.median(
            timed([sys.executable, "-m", "sealer", "--help"], root) for _ in range(args.runs)
        )
        git_s, review_s = statistics.median(log), statistics.median(ours)
        print(f"git log -p      {git_s * 1000:8.0f} ms")
        print(f"sealer review   {review_s * 1000:8.0f} ms  (exit {code}; whole process)")
        print(f"sealer --help   {startup * 1000:8.0f} ms  (the interpreter and CLI start-up in that)")
        ratio = review_s / git_s
        print(
            f"ratio           {ratio:8.1f}x  target <= {TARGET:.0f}x: "
            + ("met" if ratio <= TARGET else "MISSED")
        )
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(review, root, "main", "pr")
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
