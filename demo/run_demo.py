"""The demo of sealer's main job, run by `./dev demo`. Prints each step and what it made.

Everything happens in a fresh temp folder (or --workdir); nothing outside it is touched.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def run(args: list[str], cwd: Path, stdin: str | None = None) -> str:
    print(f"\n$ sealer {shlex.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "sealer", *args], cwd=cwd, input=stdin,
                          text=True, capture_output=True)
    print(done.stdout, end="")
    if done.returncode:
        print(done.stderr, end="", file=sys.stderr)
        raise SystemExit(f"demo: step failed with exit {done.returncode}")
    return done.stdout


def foundation(work: Path) -> None:
    print("== 1. a controller keypair, a sealed Secret, validated and unsealed offline")
    run(["keypair", "--out", "controller"], work)
    run(["cert", "show", "controller/tls.crt"], work)
    key = run(["keygen", "--env", "demo"], work).strip()
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: engine-api-key\n  namespace: demo\n"
        f"stringData:\n  apiKey: {key}\n"
    )
    run(["seal", "--cert", "controller/tls.crt", "-w", "sealed.yaml"], work, stdin=secret)
    print((work / "sealed.yaml").read_text())
    run(["validate", "-f", "sealed.yaml", "--cert", "controller/tls.crt", "--key", "controller/tls.key"], work)
    run(["unseal", "--key", "controller/sealed-secrets-key.yaml", "-f", "sealed.yaml"], work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, help="folder to work in (default: a new temp folder)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sealer-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"demo folder: {work}")
    foundation(work)
    print(f"\ndemo finished; everything is in {work}")


if __name__ == "__main__":
    main()
