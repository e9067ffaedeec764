"""Shared fixtures. Tests never touch $HOME, global git config or the caller's identity: see
`isolated_session` and `isolated_env` (helpers live in tests/support/, see its docstring)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("support")  # helpers' asserts explain themselves too

# A shell ignores SIGINT in what it starts in the background (`./dev test &`, nohup), and an
# ignored signal stays ignored across exec: the sealer processes the SIGINT tests start would
# never see theirs. A handled one is reset to the default at exec, where Python takes it again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from support.isolation import isolate, isolated  # noqa: E402 (after the rewrite hook)

# Fixture modules, for every test: external key stores and the sample repos.
pytest_plugins = [
    "support.sql_stores",
    "support.http_stores",
    "support.env_repos",
    "support.backend_repos",
    "support.policy_repos",
]


@pytest.fixture(scope="session", autouse=True)
def isolated_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Session fixtures (template repos, servers) run before any function-scoped fixture: they
    get an empty HOME, no global git config and the test identity too."""
    with isolated(tmp_path_factory.mktemp("session-home")):
        yield


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path_factory.mktemp("home"))
    os.umask(0o022)


@pytest.fixture(scope="session")
def keypair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One RSA-4096 controller keypair for the whole session (generating one takes a while)."""
    from sealer import keypair

    out = tmp_path_factory.mktemp("keypair")
    keypair.write(keypair.generate(bits=4096), out)
    return out


@pytest.fixture(scope="session")
def keypair_2048_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An RSA-2048 controller keypair for the session (fast: property tests, many values)."""
    from sealer import keypair

    out = tmp_path_factory.mktemp("keypair2048")
    keypair.write(keypair.generate(bits=2048), out)
    return out


@pytest.fixture(scope="session")
def keypair_3072_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An RSA-3072 controller keypair for the session."""
    from sealer import keypair

    out = tmp_path_factory.mktemp("keypair3072")
    keypair.write(keypair.generate(bits=3072), out)
    return out


@pytest.fixture(params=[2048, 3072, 4096], ids=lambda bits: f"rsa{bits}")
def any_keypair_dir(request: pytest.FixtureRequest) -> Path:
    """Each session keypair in turn: 2048, 3072 and 4096 bits."""
    names = {2048: "keypair_2048_dir", 3072: "keypair_3072_dir", 4096: "keypair_dir"}
    path: Path = request.getfixturevalue(names[request.param])
    return path
