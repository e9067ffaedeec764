"""Helpers for the policy and audit tests: sample GitOps repos built through sealer itself.

A repo is made the way a user makes one (`git init`, `sealer init`, `sealer cert add`,
`sealer rotate`), then broken on purpose with direct edits of sealer.yaml, the ledger, the
sealed files or the pinned certificates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html.parser
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from sealer import cert_pins, config, keypair, layout, ledger, registry_delivery, state, yamlio
from sealer.init import init
from sealer.records import KeyRecord
from support import cli
from support.git import commit_all as commit_everything
from support.git import init_repo
from support.repos import copy_repo

ENVS = ("dev", "staging", "production")
# A compliant repo: each environment its own controller key, production's of 4096 bits.
COMPLIANT_CERTS = {"dev": "rsa2048", "staging": "rsa3072", "production": "rsa4096"}


def commit_all(root: Path, message: str = "test change") -> None:
    commit_everything(root, message, allow_empty=True)


def sealer(root: Path, *args: str) -> Result:
    """`sealer ARGS` run in `root` through click's CliRunner (a bug's exception propagates)."""
    return cli.sealer(root, *args, catch_exceptions=False)


def check_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = sealer(root, "check", "--output", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def make_certs(out: Path, dirs: Mapping[str, Path]) -> dict[str, Path]:
    """Name -> tls.crt: the session keypairs, plus a spare and two that expire soon (2048 bits)."""
    certs = {name: folder / "tls.crt" for name, folder in dirs.items()}
    for name, days in (("spare", 3650), ("expires-10d", 10), ("expires-45d", 45)):
        certs[name] = keypair.write(keypair.generate(bits=2048, days=days), out / name)["cert"]
    return certs


def build_repo(root: Path, certs: Mapping[str, Path], env_certs: Mapping[str, str | None]) -> Path:
    """A repo with dev, staging and production; each env in `env_certs` with a cert name gets
    that certificate pinned and its keys rotated in, all committed on main."""
    root.mkdir(parents=True)
    init_repo(root)
    init(root, ENVS)
    pinned = [env for env, name in env_certs.items() if name]
    for env in pinned:
        cert_pins.pin(root, env, certs[env_certs[env] or ""].read_bytes(), env_certs[env] or "")
    commit_all(root, "sealer init")
    if pinned:
        result = sealer(root, "rotate", *pinned, "--no-branch")
        assert result.exit_code == 0, result.output
    return root


# ---- direct edits ---------------------------------------------------------------------------


def edit_config(root: Path, change: Callable[[Any], None]) -> None:
    """Change sealer.yaml's round-trip tree (validated before it is written)."""
    with config.edit(root) as doc:
        change(doc)


def edit_ledger(
    root: Path, env: str, change: Callable[[list[KeyRecord]], list[KeyRecord]], registry: bool = True
) -> None:
    """Change the ledger; its key registry follows, as sealer keeps them (unless `registry` is False)."""
    ledger.save(root, env, change(ledger.load(root, env)))
    if registry:
        registry_delivery.write_files(config.load(root), env)


def age_keys(root: Path, env: str, days: float) -> None:
    """Make every key of `env` `days` older: creation, expiry and grace end move back together."""
    shift = dt.timedelta(days=days)

    def older(records: list[KeyRecord]) -> list[KeyRecord]:
        return [
            dataclasses.replace(
                r,
                created=r.created - shift,
                expires=r.expires - shift if r.expires else None,
                revoke_at=r.revoke_at - shift if r.revoke_at else None,
            )
            for r in records
        ]

    edit_ledger(root, env, older)


def edit_sealed(root: Path, env: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = layout.sealed_path(root, env, env)
    doc = state.load(root, env, env)
    assert doc is not None
    change(doc)
    path.write_text(state.dump(doc), encoding="utf-8")


def problems(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(rule, env, level) of each problem in a `sealer check --output json` report, sorted."""
    return sorted((p["rule"], p["env"], p["level"]) for p in report["problems"])


def yaml_text(data: Any) -> str:
    return yamlio.dump(data)


# ---- rendered Markdown ----------------------------------------------------------------------


class _Tables(html.parser.HTMLParser):
    """The cells of every <table> in an HTML fragment, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rendered_tables(text: str) -> list[list[list[str]]]:
    import markdown

    parser = _Tables()
    parser.feed(markdown.markdown(text, extensions=["tables"]))
    return parser.tables


# ---- fixtures (import them into the test module that uses them) ------------------------------


@pytest.fixture(scope="session")
def policy_certs(
    tmp_path_factory: pytest.TempPathFactory,
    keypair_2048_dir: Path,
    keypair_3072_dir: Path,
    keypair_dir: Path,
) -> dict[str, Path]:
    dirs = {"rsa2048": keypair_2048_dir, "rsa3072": keypair_3072_dir, "rsa4096": keypair_dir}
    return make_certs(tmp_path_factory.mktemp("policy-certs"), dirs)


@pytest.fixture(scope="session")
def compliant_repo(tmp_path_factory: pytest.TempPathFactory, policy_certs: dict[str, Path]) -> Path:
    """Built once per session, copied by `repo_factory` for each test."""
    return build_repo(tmp_path_factory.mktemp("compliant") / "repo", policy_certs, COMPLIANT_CERTS)


RepoFactory = Callable[..., Path]


@pytest.fixture
def repo_factory(tmp_path: Path, policy_certs: dict[str, Path], compliant_repo: Path) -> RepoFactory:
    """make() copies the compliant repo; make({"dev": "spare"}) builds one with other pins
    (None: leave the environment without a certificate)."""
    count = iter(range(1000))

    def make(env_certs: Mapping[str, str | None] | None = None) -> Path:
        target = tmp_path / f"repo{next(count)}"
        if env_certs is None:
            return copy_repo(compliant_repo, target)
        return build_repo(target, policy_certs, {**COMPLIANT_CERTS, **env_certs})

    return make
