"""The suite on every Python sealer supports, each in its own venv under .nox/ (reused):
`nox` runs them all, `nox -s tests-3.12` one, `nox -- -m "not slow"` passes pytest options.

Interpreters are the machine's own, never downloaded: on PATH, or in a pyenv install. A missing
one is reported; under CI (the `CI` variable set) it fails the run instead of being skipped.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# What the tests see as PATH: the caller's, without the interpreter folders added below (the
# suite must not depend on what PATH holds).
CALLER_PATH = os.environ.get("PATH", os.defpath)

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = "CI" in os.environ


def pyenv_bins() -> list[str]:
    """The bin folders of pyenv's interpreters, newest patch first; pyenv is found through
    $PYENV_ROOT or the account's home from the password database ($HOME may be a bare one)."""
    roots = {os.environ.get("PYENV_ROOT", ""), os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".pyenv")}
    found = [path for root in roots if root for path in Path(root, "versions").glob("3.*/bin")]
    newest_first = sorted(found, key=lambda p: [int(n) for n in p.parent.name.split(".") if n.isdigit()])
    return [str(path) for path in reversed(newest_first)]


os.environ["PATH"] = os.pathsep.join([*pyenv_bins(), CALLER_PATH])
# The suite on every core, at most 4 (each worker starts its own servers); a test file stays in
# one worker, so its module fixtures are built once. `-- -n 0` after it runs one process.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
WORKERS = ["-n", str(min(4, CORES)), "--dist", "loadfile"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[all,test]")
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *WORKERS,
        *session.posargs,
        env={"PATH": CALLER_PATH},
    )
