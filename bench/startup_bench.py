"""How fast `sealer --version` starts, against `python -c "import click"`.

    python3 bench/startup_bench.py [--runs 20]

Both are whole processes, timed in this run and interleaved so that a busy moment hits both
alike; figures are medians and the ratio is the median of the per-run ratios. The target is
sealer within 1.5x of the bare click import. `python -c pass` and `sealer --help` are
printed for reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 1.5


def sealer_command() -> list[str]:
    script = Path(sys.executable).with_name("sealer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sealer"]


# Bytecode is cached as in any install: a PYTHONDONTWRITEBYTECODE inherited from the shell
# would make every run compile sealer's modules again and time the compiler instead.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    commands = {
        "bare": [sys.executable, "-c", "pass"],
        "click": [sys.executable, "-c", "import click"],
        "version": [*sealer_command(), "--version"],
        "help": [*sealer_command(), "--help"],
    }
    for command in commands.values():
        timed(command)  # warm caches and bytecode
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(timed(command))
    ratio = statistics.median(v / c for v, c in zip(times["version"], times["click"], strict=True))
    bare, click, version, helps = (statistics.median(times[name]) for name in commands)
    print(f"python -c pass:           {bare:.3f} s   (for reference; medians of {args.runs} runs)")
    print(f"python -c 'import click': {click:.3f} s")
    print(f"sealer --version:         {version:.3f} s")
    print(f"sealer --help:            {helps:.3f} s   (for reference)")
    verdict = "ok" if ratio <= TARGET else "MISSED"
    print(f"ratio --version / click:  {ratio:.2f}x (target <= {TARGET:.1f}x): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
