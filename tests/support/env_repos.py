"""Helpers for the GitOps-repo tests (init, config, pins, render): temp Git repos, the CLI,
controller keypairs and certificates that sealer must refuse, file snapshots."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from sealer import hybrid, keypair
from sealer.cli import main
from sealer.scope import Scope, label
from support.cli import in_dir, sealer
from support.git import commit_all, init_repo
from support.repos import load_yaml


def invoke(root: Path, *args: str) -> Result:
    """`sealer ARGS` run in `root` through click's runner (stdout and stderr kept apart)."""
    return sealer(root, *args, catch_exceptions=False)


def run_main(root: Path, capsys: Any, *args: str) -> tuple[int, str, str]:
    """`sealer ARGS` through `sealer.cli.main`, the console entry point: (exit code, stdout, stderr)."""
    capsys.readouterr()
    with in_dir(root):
        code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the work tree (not .git) by relative path, with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


# -- controller keypairs and certificates -------------------------------------------------------


@dataclass(frozen=True)
class Controller:
    """A controller keypair written out like `sealer keypair` does: tls.crt, tls.key."""

    folder: Path
    pair: keypair.Keypair

    @property
    def cert(self) -> Path:
        return self.folder / "tls.crt"

    @property
    def key(self) -> Path:
        return self.folder / "tls.key"

    @property
    def fingerprint(self) -> str:
        from sealer import certs

        return certs.fingerprint(self.pair.cert)


@functools.cache
def _pair(name: str) -> keypair.Keypair:
    """One RSA-2048 keypair per name for the whole session (shared by every test module)."""
    return keypair.generate(bits=2048, common_name=f"controller-{name}")


class Controllers:
    """Named controller keypairs under one session folder: `controllers["staging"]`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __getitem__(self, name: str) -> Controller:
        out = self.folder / name
        if not out.exists():
            keypair.write(_pair(name), out)
        return Controller(out, _pair(name))


def _self_signed(key: Any, days_valid: tuple[int, int], algorithm: Any = None) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd-controller")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days_valid[0]))
        .not_valid_after(now + dt.timedelta(days=days_valid[1]))
        .sign(key, algorithm or hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def reissued_cert(controller: Controller) -> bytes:
    """Another certificate of the controller's own key (as `openssl req -x509 -key tls.key`
    makes one): another fingerprint, the same public key."""
    return _self_signed(controller.pair.key, (-1, 365))


@functools.cache
def unfit_cert(kind: str) -> bytes:
    """A PEM certificate sealer must refuse to pin: expired, rsa1024 or ec."""
    if kind == "expired":
        return _self_signed(_pair("expired").key, (-30, -1))
    if kind == "rsa1024":
        return _self_signed(rsa.generate_private_key(public_exponent=65537, key_size=1024), (-1, 30))
    if kind == "ec":
        return _self_signed(ec.generate_private_key(ec.SECP256R1()), (-1, 30))
    raise ValueError(kind)


def unseal_values(values_file: Path, controller: Controller) -> dict[str, bytes]:
    """Open every `sealer.encryptedData` entry of a values file with the controller's private key,
    bound to the rendered secretName/namespace/scope (what the controller would do)."""
    from sealer.unseal import load_private_keys

    tree = load_yaml(values_file)["sealer"]
    (private_key,) = load_private_keys(controller.key)
    bound = label(Scope(tree["scope"]), tree["namespace"], tree["secretName"])
    return {
        name: hybrid.decrypt(private_key, bound, base64.b64decode(value, validate=True))
        for name, value in tree["encryptedData"].items()
    }


# -- fixtures (a plugin of the root conftest) ---------------------------------------------------


@pytest.fixture(scope="session")
def controllers(tmp_path_factory: pytest.TempPathFactory) -> Controllers:
    return Controllers(tmp_path_factory.mktemp("controllers"))


def rotate(root: Path, env: str = "staging", *extra: str) -> dict[str, Any]:
    """`sealer rotate ENV --no-branch -o json` (commits on the current branch); its JSON."""
    result = invoke(root, "rotate", env, "--no-branch", "--output", "json", *extra)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _copy(template: Path, tmp_path: Path) -> Path:
    """A private copy of a session-built repo (a Git repo is relocatable): cheaper than rebuilding."""
    return Path(shutil.copytree(template, tmp_path / "repo", symlinks=True))


@pytest.fixture(scope="session")
def repo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = init_repo(tmp_path_factory.mktemp("template") / "repo")
    result = invoke(root, "init")
    assert result.exit_code == 0, result.stderr
    commit_all(root, "sealer init")
    return root


@pytest.fixture(scope="session")
def pinned_template(
    repo_template: Path, controllers: Controllers, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = _copy(repo_template, tmp_path_factory.mktemp("template"))
    result = invoke(root, "cert", "add", "staging", "--file", str(controllers["staging"].cert))
    assert result.exit_code == 0, result.stderr
    commit_all(root, "pin staging")
    return root


@pytest.fixture(scope="session")
def rotated_template(pinned_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _copy(pinned_template, tmp_path_factory.mktemp("template"))
    rotate(root)
    return root


@pytest.fixture
def repo(repo_template: Path, tmp_path: Path) -> Path:
    """A Git repo after `sealer init` (dev, staging, production), committed."""
    return _copy(repo_template, tmp_path)


@pytest.fixture
def pinned(pinned_template: Path, tmp_path: Path) -> Path:
    """`repo` with the `staging` controller's certificate pinned for staging, committed."""
    return _copy(pinned_template, tmp_path)


@pytest.fixture
def rotated(rotated_template: Path, tmp_path: Path) -> Path:
    """`pinned` after one rotation of staging (committed on main)."""
    return _copy(rotated_template, tmp_path)
