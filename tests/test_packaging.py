"""Packaging: every package is declared, and a real install (plain and editable) finds the
templates, policies and chart that the repo's top-level folders hold."""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_PACKAGES = {"sealer.templates": "templates", "sealer.policies": "policies", "sealer.chart": "chart"}


def declared_packages() -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["options"]["packages"].split()


def test_every_python_package_and_data_folder_is_declared() -> None:
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "sealer").rglob("__init__.py")}
    assert found | set(DATA_PACKAGES) == set(declared_packages())


def test_classifiers_list_the_pythons_the_matrix_runs() -> None:
    """What setup.cfg promises (classifiers, python_requires) is what noxfile.py tests."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    classifiers = config["metadata"]["classifiers"].split("\n")
    listed = [
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    noxfile = ast.parse((ROOT / "noxfile.py").read_text())
    [matrix] = [
        ast.literal_eval(node.value)
        for node in noxfile.body
        if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["PYTHONS"]
    ]
    assert listed == matrix
    assert config["options"]["python_requires"] == f">={matrix[0]}"


def files_under(folder: Path) -> list[str]:
    """Relative paths of the files a data folder ships (dotfiles too, bytecode caches not)."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def source_copy(dest: Path) -> Path:
    """The working tree's files as a fresh clone would have them (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


PROBE = """
import json, sealer
from sealer import resources
print(json.dumps({"sealer": sealer.__file__,
                  **{name: str(getattr(resources, name)()) for name in ("templates", "policies", "chart")}}))
"""


def probe(python: Path, cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(
        [str(python), "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


def check_resources(found: dict[str, str], expected_root: Path) -> None:
    for name, folder in (("templates", "templates"), ("policies", "policies"), ("chart", "chart")):
        installed = Path(found[name])
        assert installed.is_relative_to(expected_root), (name, installed)
        assert files_under(installed) == files_under(ROOT / folder), name


def pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_plain_and_editable_installs_find_their_data(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "src")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)  # a plain venv: nothing from the system site-packages
    python = env_dir / "bin" / "python"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    pip(python, str(source))  # a regular, non-editable install
    version = subprocess.run([str(env_dir / "bin" / "sealer"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "sealer, version" in version.stdout, version.stderr
    found = probe(python, elsewhere)
    site = Path(found["sealer"]).parent.parent
    assert site.is_relative_to(env_dir)
    check_resources(found, site)

    pip(python, "--no-deps", "-e", str(source))  # editable: the repo's folders themselves
    for cwd in (elsewhere, source):
        found = probe(python, cwd)
        assert Path(found["sealer"]).is_relative_to(source)
        check_resources(found, source)


def test_a_source_checkout_imported_directly_finds_its_data_folders(tmp_path: Path) -> None:
    """`python -c` (the README's chart one-liner) or `python -m sealer` run inside a checkout
    imports the checkout's `sealer/` ahead of any install; its data folders sit beside it. -I -S
    leaves out site-packages, so no install (editable or not) can answer instead."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from sealer import resources; "
        "print(resources.templates(), resources.policies(), resources.chart(), sep='\\n')"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(ROOT)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(ROOT / folder) for folder in DATA_PACKAGES.values()]


def test_an_installed_sealer_never_takes_another_distributions_folder(tmp_path: Path) -> None:
    """Beside an installed `sealer/` lies site-packages: a top-level `policies/` there is some
    other distribution's, never sealer's default policy (a broken install says so instead)."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "sealer", site / "sealer", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "policies").mkdir()
    (site / "policies" / "__init__.py").write_text("")
    code = "import sys; sys.path.insert(0, sys.argv[1]); from sealer import resources; resources.policies()"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(site)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode != 0 and "sealer is installed without sealer.policies" in done.stderr, done


@pytest.mark.parametrize("extra", ["k8s", "vault", "all"])
def test_the_extras_reading_answers_in_part_need_a_urllib3_that_bounds_decoding(extra: str) -> None:
    """`kube._Bounded` and `vault_auth` read an answer to a bound: a urllib3 before 2.6 decodes a
    compressed read whole (8 MiB of gzip: gigabytes), and kubernetes 29 and requests allow 1.26."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "urllib3>=2.7" in config["options.extras_require"][extra].split()
