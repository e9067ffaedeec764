"""Sealer-managed GitOps repos for the rotation, review and diff-driver tests.

Real `git` in temp folders, built with sealer's own `init` and `pins`; rotations through the
CLI (CliRunner in process, or `python -m sealer` in a subprocess for SIGKILL tests). Helpers
also unseal what a repo holds (with the test controllers' private keys) and look for the
plaintext keys everywhere Git may have put them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sealer import apikey, cert_pins, config, faults, init, keypair, registry, unseal, yamlio
from sealer.errors import SealerError
from sealer.records import ACTIVE, KeyRecord
from sealer.scope import Scope, scope_annotations
from support.cli import sealer as cli
from support.git import commit_all, git, git_bytes, init_repo
from support.isolation import isolated

JOURNAL = "sealer-rotation.json"
# Every faults.point() of a rotation, in the order it passes them (test_rotate checks the code agrees).
FAULT_POINTS = [
    "after-register",
    "before-temps",
    "before-journal",
    "before-rename",
    "before-commit",
    "after-ref-move",
    "before-index",
    "before-accept",
    "after-accept-one",
    "before-push",
    "before-outputs",
]
# The deployed phase (`sealer rotate --finish`) has its own.
FINISH_FAULT_POINTS = ["after-activate-one"]
# `backend set`'s move between stores (#17), injected in tests/backends/test_store_migration.py.
MIGRATION_FAULT_POINTS = ["migrate-after-copy-one", "migrate-before-verify", "migrate-before-commit"]
_KEYPAIRS: dict[str, Path] = {}


def keypairs(factory: pytest.TempPathFactory, *names: str) -> dict[str, Path]:
    """RSA-2048 controller keypairs by name (tls.crt, tls.key), made once per test process."""
    for name in names:
        if name not in _KEYPAIRS:
            out = factory.mktemp(f"controller-{name}")
            keypair.write(keypair.generate(bits=2048), out)
            _KEYPAIRS[name] = out
    return {name: _KEYPAIRS[name] for name in names}


def private_keys(*dirs: Path) -> list[Any]:
    return [key for folder in dirs for key in unseal.load_private_keys(folder / "tls.key")]


# -- the CLI in a subprocess ----------------------------------------------------------------------------


def run_sealer(
    repo: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m sealer ARGS` in a subprocess (for SIGKILL fault injection)."""
    return subprocess.run(
        [sys.executable, "-m", "sealer", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# -- building repos ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvSpec:
    name: str
    controller: Path  # keypair folder
    keys: tuple[str, ...] = ("apiKey",)
    backend: Mapping[str, Any] | None = None


def make_repo(root: Path, envs: Iterable[EnvSpec]) -> Path:
    """git init; `sealer init` for `envs`; pin each env's controller; commit on main."""
    envs = list(envs)
    init_repo(root)
    init.init(root, tuple(e.name for e in envs))
    for env in envs:
        cert = env.controller / "tls.crt"
        cert_pins.pin(root, env.name, cert.read_bytes(), str(cert))
    with config.edit(root) as doc:
        for env in envs:
            doc["environments"][env.name]["keys"] = list(env.keys)
            if env.backend:
                doc["environments"][env.name]["backend"] = dict(env.backend)
    commit_all(root, "sealer setup")
    return root


def pinned_repo(
    factory: pytest.TempPathFactory,
    controllers: Mapping[str, Path],
    envs: Sequence[str] = ("staging", "production"),
    folder: str = "template",
) -> Path:
    """A fresh repo in its own temp folder with `envs` pinned to their `controllers`, not yet
    rotated (call it inside `isolated()`)."""
    return make_repo(factory.mktemp(folder) / "repo", [EnvSpec(env, controllers[env]) for env in envs])


def rotated_template(
    factory: pytest.TempPathFactory,
    controllers: Mapping[str, Path],
    envs: Sequence[str] = ("staging", "production"),
    folder: str = "template",
    times: int = 1,
) -> Path:
    """`envs` pinned and each rotated `times` times (`--no-branch`), committed on main: the
    template that module-scoped fixtures build once and each test copies with `copy_repo`."""
    with isolated(factory.mktemp("home")):
        root = pinned_repo(factory, controllers, envs, folder)
        for env in envs:
            for _ in range(times):
                result = cli(root, "rotate", env, "--no-branch")
                assert result.exit_code == 0, result.output
    return root


def initialized_repo(root: Path, envs: Sequence[str] = ("staging",)) -> Path:
    """`git init` and `sealer init` for `envs` in a new folder `root`; nothing pinned or committed."""
    root.mkdir()
    git(root, "init", "-q")
    init.init(root, tuple(envs))
    return root


@contextlib.contextmanager
def at_point(wanted: str, action: Callable[[], None]) -> Iterator[None]:
    """Within the block, run `action` when a rotation reaches fault point `wanted` (then carry
    on as usual)."""
    real = faults.point

    def hook(name: str) -> None:
        if name == wanted:
            action()
        real(name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(faults, "point", hook)
        yield


def copy_repo(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def pr_checkout(template: Path, tmp_path: Path) -> Path:
    """A copy of `template` on a new branch `pr`: a pull request's checkout, main as it was."""
    root = copy_repo(template, tmp_path / "repo")
    git(root, "checkout", "-q", "-b", "pr")
    return root


def set_env_option(repo: Path, env: str, key: str, value: Any) -> None:
    with config.edit(repo) as doc:
        doc["environments"][env][key] = value


# -- reading what a repo holds -----------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    docs = yamlio.load_documents(path.read_bytes(), str(path))
    return docs[0] if docs else None


def ledger_records(repo: Path, env: str) -> list[KeyRecord]:
    from sealer import ledger

    return ledger.load(repo, env)


def active(records: list[KeyRecord], name: str = "apiKey") -> KeyRecord:
    found = [r for r in records if r.name == name and r.status == ACTIVE]
    assert len(found) == 1, f"expected one active {name} key, found {[(r.key_id, r.status) for r in records]}"
    return found[0]


def values_subtree(repo: Path, env: str) -> dict[str, Any]:
    cfg = config.load(repo)
    sub = load_yaml(repo / cfg.env(env).clusters[0].values_file)["sealer"]
    assert isinstance(sub, dict)
    return sub


def sealed_doc(repo: Path, env: str, cluster: str | None = None) -> dict[str, Any]:
    doc = load_yaml(repo / "sealed" / env / f"{cluster or env}.yaml")
    assert isinstance(doc, dict)
    return doc


def doc_from_values(sub: Mapping[str, Any]) -> dict[str, Any]:
    """The SealedSecret the chart makes of a values file's `sealer:` subtree."""
    meta = {
        "name": sub["secretName"],
        "namespace": sub["namespace"],
        "annotations": scope_annotations(Scope(sub["scope"])),
    }
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": meta,
        "spec": {"encryptedData": dict(sub["encryptedData"]), "template": {"metadata": dict(meta)}},
    }


def unseal_values(repo: Path, env: str, keys: list[Any]) -> dict[str, str]:
    """entry -> plaintext key, opened from the values file with the controller's private key."""
    spec = unseal.unseal(doc_from_values(values_subtree(repo, env)), keys, f"{env} values")
    return {name: value.decode() for name, value in spec.data.items()}


def plaintexts_in(text: str, keys: list[Any]) -> set[str]:
    """Every value a SealedSecret or values file in `text` holds that `keys` open."""
    try:
        doc = yamlio.load_documents(text, "file")[0]
    except (SealerError, IndexError):  # history may hold anything; only sealed files matter here
        return set()
    if isinstance(doc, dict) and isinstance(doc.get("sealer"), dict) and "encryptedData" in doc["sealer"]:
        doc = doc_from_values(doc["sealer"])
    if not isinstance(doc, dict) or doc.get("kind") != "SealedSecret":
        return set()
    found = set()
    for entry, value in (doc["spec"].get("encryptedData") or {}).items():
        single = {**doc, "spec": {**doc["spec"], "encryptedData": {entry: value}}}
        with contextlib.suppress(SealerError):  # tampered values, other controllers' values
            found |= {v.decode() for v in unseal.unseal(single, keys, "file").data.values()}
    return found


def all_plaintext_keys(repo: Path, keys: list[Any]) -> set[str]:
    """Every key ever sealed in the repo: each sealed and values file of every commit and of
    the working tree, opened with the controllers' private keys."""
    found: set[str] = set()
    for commit in git(repo, "rev-list", "--all").split():
        for path in git(repo, "ls-tree", "-r", "--name-only", commit, "--", "sealed", "deploy").split():
            found |= plaintexts_in(git(repo, "show", f"{commit}:{path}"), keys)
    for path in [*repo.glob("sealed/**/*.yaml"), *repo.glob("deploy/**/*.yaml")]:
        found |= plaintexts_in(path.read_text(), keys)
    return {k for k in found if apikey.checksum_ok(k)}


def places_holding(repo: Path, secrets: set[str]) -> list[str]:
    """Where any of `secrets` shows up: working tree and .git files, `git log -p --all`,
    `git fsck --lost-found` (and what it recovers), every object `git cat-file` can read."""
    assert secrets, "no keys to look for"
    git(repo, "fsck", "--lost-found", "--no-progress", check=False)
    sources: dict[str, bytes] = {
        "git log -p --all": git_bytes(repo, "log", "-p", "--all", "--no-textconv", "--binary", "--reflog"),
        "git cat-file --batch-all-objects": git_bytes(repo, "cat-file", "--batch-all-objects", "--batch"),
    }
    for path in repo.rglob("*"):
        if path.is_file() and not path.is_symlink():
            sources[str(path.relative_to(repo))] = path.read_bytes()
    return sorted(f"{where}" for where, data in sources.items() for key in secrets if key.encode() in data)


# -- consistency -------------------------------------------------------------------------------


def stray_temps(repo: Path) -> list[str]:
    return sorted(
        str(p.relative_to(repo))
        for p in repo.rglob("*")
        if ".git" not in p.relative_to(repo).parts and re.search(r"\.sealer-tmp$|\.tmp$", p.name)
    )


def assert_consistent(repo: Path, env: str, keys: list[Any]) -> None:
    """After a rotation (or its re-run): committed, clean, no leftovers, and every place agrees:
    ledger <-> sealed file <-> values file <-> what the ciphertext really holds."""
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    assert not (git_dir / JOURNAL).exists(), "journal left"
    assert not (git_dir / "sealer-temps.json").exists(), "temps marker left"
    assert stray_temps(repo) == []
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    cfg = config.load(repo).env(env)
    records = ledger_records(repo, env)
    sub, doc = values_subtree(repo, env), sealed_doc(repo, env)
    opened = unseal_values(repo, env, keys)
    for name in cfg.keys:
        record = active(records, name)
        assert doc["spec"]["encryptedData"][name] == sub["encryptedData"][name]
        assert sub["keys"][name]["keyId"] == record.key_id
        assert apikey.fingerprint(opened[name]) == record.fingerprint
        assert cfg.clusters[0].fingerprint in record.sealed_with
    made = registry.files(env, [c.name for c in cfg.clusters], cfg.registry, records)
    assert {rel: (repo / rel).read_bytes() for rel in made} == made, "key registry stale"
