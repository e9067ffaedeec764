"""The demo of sealer's main job, run by `./dev demo`. Prints each step and what it made.

Everything happens in a fresh temp folder (or --workdir); nothing outside it is touched.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def run(args: list[str], cwd: Path, stdin: str | None = None) -> str:
    print(f"\n$ sealer {shlex.join(args)}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "sealer", *args], cwd=cwd, input=stdin, text=True, capture_output=True
    )
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
    run(
        ["validate", "-f", "sealed.yaml", "--cert", "controller/tls.crt", "--key", "controller/tls.key"], work
    )
    run(["unseal", "--key", "controller/sealed-secrets-key.yaml", "-f", "sealed.yaml"], work)


def git(args: list[str], cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def gitops(work: Path) -> None:
    print("\n== 2. a GitOps repo with dev, staging and production, each with its own controller keypair")
    repo = work / "gitops"
    repo.mkdir()
    git(["init", "-q", "-b", "main"], repo)
    for key, value in (("user.name", "Demo Admin"), ("user.email", "admin@demo.invalid")):
        git(["config", key, value], repo)
    git(["commit", "-q", "--allow-empty", "-m", "Empty repo"], repo)
    run(["init"], repo)
    for env in ("dev", "staging", "production"):
        run(["keypair", "--out", f"../controllers/{env}"], repo)
        run(["cert", "add", env, "--file", f"../controllers/{env}/tls.crt"], repo)
    git(["add", "-A"], repo)
    git(["commit", "-q", "-m", "Pin the controllers' certificates"], repo)
    print("\n== 3. first keys for every environment, committed on main")
    run(["rotate", "dev", "staging", "production", "--no-branch"], repo)
    print((repo / "deploy/staging/values.yaml").read_text())

    print("== 4. rotate staging as a pull request: branch, commit, review summary")
    result = json.loads(run(["rotate", "staging", "--output", "json"], repo))
    print(git(["log", "-1", "--stat", result["branch"]], repo))  # rotate leaves us on main
    print(Path(result["pr_body_file"]).read_text())
    run(["review", "main", result["branch"], "--output", "markdown"], repo)
    run(["keys", "list", "staging"], repo)

    print("== 5. the chart rendered for staging with its values (the real Helm engine)")
    helm_render(repo, work)


def helm_render(repo: Path, work: Path) -> None:
    import helm_python
    import yaml

    values = helm_python.values_from_yaml((repo / "deploy/staging/values.yaml").read_text())
    chart_dir = Path(__file__).resolve().parents[1] / "chart"
    with helm_python.Chart.load(chart_dir) as chart:
        rendered = chart.render(values, name="engine", namespace="staging")
    out = work / "rendered-staging.yaml"
    out.write_text("".join(f"---\n# {path}\n{text}" for path, text in sorted(rendered.items())))
    for path, text in sorted(rendered.items()):
        if not path.endswith(".yaml"):
            continue  # NOTES.txt
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") in ("SealedSecret", "Deployment"):
                print(yaml.safe_dump(doc, sort_keys=False, width=100)[:2600])
    print(f"full render: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, help="folder to work in (default: a new temp folder)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sealer-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"demo folder: {work}")
    foundation(work)
    gitops(work)
    print(f"\ndemo finished; everything is in {work}")


if __name__ == "__main__":
    main()
