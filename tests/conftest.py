"""Shared fixtures. Tests never touch $HOME, global git config or the caller's identity: see
`isolated_session` and `isolated_env` (helpers live in tests/support/, see its docstring)."""

from __future__ import annotations

import base64
import contextlib
import os
import re
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


# A key's random part (38 base62 digits, however its `_` is spelt), shown or base64-encoded in an id.
_GENERATED = re.compile(r"[0-9A-Za-z]{38,}")
_SHOWN_ID_LENGTH = 100  # pytest names a longer string by its argument's name and index


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Every process collecting the suite (`pytest -n`) must see the same test ids: bytes (often
    compressed or random) go by their argument's name, and a key generated at collection by its
    environment only."""
    if isinstance(val, bytes):
        return argname
    if not isinstance(val, str) or len(val) > _SHOWN_ID_LENGTH:
        return None
    with contextlib.suppress(ValueError):
        decoded = base64.b64decode(val, validate=True).decode("latin-1") if val else ""
        if _GENERATED.search(decoded):
            return "base64:" + _escaped(_GENERATED.sub("KEY", decoded))
    return _escaped(_GENERATED.sub("KEY", val)) if _GENERATED.search(val) else None


def _escaped(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")


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
