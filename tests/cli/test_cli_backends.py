"""`sealer backend set|check` and `sealer keys list|revoke|verify` through the CLI, against every
key store (the fixtures' real servers and fakes), in a repo configured with `backend set`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import (
    ENV,
    NAMES,
    Backend,
    configure,
    current_keys,
    finish,
    leaks,
    ok,
    one_line_error,
    rotate,
    secrets_in_env,
    statuses,
    store_of,
    verify,
)
from support.cli import sealer
from support.git import commit_all, git, head
from support.repos import ledger_records

from sealer import apikey, config, ledger, store_admin, yamlio
from sealer.backends import BACKENDS, open_store
from sealer.records import ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, utcnow

# Every option each store's constructor takes, as `backend set` records them (all strings).
STORE_OPTIONS = [
    ("postgres", {"table": "api_keys", "schema": "sealer", "service": "keys-db", "connect_timeout": "3"}),
    (
        "dynamodb",
        {
            "table": "sealer-keys",
            "region": "eu-west-1",
            "endpoint_url": "http://127.0.0.1:1",
            "create_table": "false",
            "max_attempts": "2",
        },
    ),
    ("vault", {"mount": "kv", "path": "teams/payments/sealer"}),
    ("auth0", {"client_id": "AbCdEf0123456789"}),
    ("auth0", {"user_id": "auth0|5f7c8ec7c33c6c004bbafe82"}),
    ("k8s-secrets", {}),
]
CREDENTIAL_OPTIONS = [
    ("postgres", "password"),
    ("postgres", "PGPASSWORD"),
    ("dynamodb", "aws_secret_access_key"),
    ("dynamodb", "access_key_id"),
    ("dynamodb", "session_token"),
    ("vault", "token"),
    ("vault", "secret_id"),
    ("auth0", "client_secret"),
    ("auth0", "management_token"),
    ("k8s-secrets", "private_key"),
]
UNKNOWN_OPTIONS = [
    ("postgres", "host", "table, schema, service, connect_timeout"),
    ("dynamodb", "tabel", "table, region, endpoint_url, max_attempts, create_table"),
    ("vault", "addr", "mount, path"),
    ("auth0", "domain", "user_id, client_id"),
    ("k8s-secrets", "namespace", "delivery, registry_kind, registry_namespace, registry_name, registry_env"),
]


def backend_block(repo: Path) -> Any:
    return yamlio.load_documents((repo / "sealer.yaml").read_bytes(), "sealer.yaml")[0]["environments"][ENV][
        "backend"
    ]


def comment_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


# -- backend set -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options"), STORE_OPTIONS, ids=lambda v: v if isinstance(v, str) else "-".join(v)
)
def test_every_option_the_store_takes_can_be_recorded(
    backend_repo: Path, kind: str, options: dict[str, str]
) -> None:
    args = tuple(f"{name}={value}" for name, value in options.items())
    assert store_admin.parse_options(kind, args) == options
    assert open_store(kind, options, backend_repo).kind == kind  # its constructor takes them all


def test_set_records_the_options_and_commits_keeping_the_comments(
    backend_repo: Path, backend: Backend
) -> None:
    before, start = (backend_repo / "sealer.yaml").read_text(), head(backend_repo)
    args = [*backend.option_args(), "--no-branch", "--output", "json"]
    data = json.loads(ok(sealer(backend_repo, "backend", "set", ENV, backend.kind, *args)).stdout)
    assert (data["env"], data["kind"], data["options"], data["previous_kind"]) == (
        ENV,
        backend.kind,
        backend.options,
        "k8s-secrets",
    )
    assert data["commit"] == head(backend_repo) and git(backend_repo, "rev-parse", "HEAD~1").strip() == start
    assert backend_block(backend_repo) == {"kind": backend.kind, "options": backend.options}
    after = (backend_repo / "sealer.yaml").read_text()
    assert comment_lines(after) == comment_lines(before)  # every comment, in place
    assert git(backend_repo, "diff", "--numstat", "HEAD~1", "HEAD").split()[:3] == [
        str(2 + len(backend.options)),
        "1",
        "sealer.yaml",
    ]  # only the old `kind:` line went
    assert git(backend_repo, "status", "--porcelain") == ""
    env = config.load(backend_repo).env(ENV)
    assert (env.backend_kind, env.backend_options) == (backend.kind, backend.options)


def test_set_replaces_earlier_options_and_keeps_the_comments(backend_repo: Path, vault_store: Any) -> None:
    before = (backend_repo / "sealer.yaml").read_text()
    ok(sealer(backend_repo, "backend", "set", ENV, "vault", "--option", "path=x/y", "--no-branch"))
    ok(sealer(backend_repo, "backend", "set", ENV, "vault", "--option", "path=x/z", "--no-branch"))
    assert backend_block(backend_repo) == {"kind": "vault", "options": {"path": "x/z"}}
    ok(sealer(backend_repo, "backend", "set", ENV, "k8s-secrets", "--no-branch"))
    assert (backend_repo / "sealer.yaml").read_text() == before
    assert "already" in ok(sealer(backend_repo, "backend", "set", ENV, "k8s-secrets")).stdout


@pytest.mark.parametrize(("kind", "name"), CREDENTIAL_OPTIONS)
def test_set_refuses_credentials_and_says_where_they_come_from(
    backend_repo: Path, kind: str, name: str
) -> None:
    before = (backend_repo / "sealer.yaml").read_bytes()
    line = one_line_error(
        sealer(backend_repo, "backend", "set", ENV, kind, "--option", f"{name}=hunter2-value"), 2
    )
    assert f"--option {name}" in line and BACKENDS[kind].credentials in line and "hunter2" not in line
    assert (backend_repo / "sealer.yaml").read_bytes() == before


@pytest.mark.parametrize(("kind", "name", "known"), UNKNOWN_OPTIONS)
def test_set_refuses_options_the_store_does_not_know(
    backend_repo: Path, kind: str, name: str, known: str
) -> None:
    before = (backend_repo / "sealer.yaml").read_bytes()
    line = one_line_error(sealer(backend_repo, "backend", "set", ENV, kind, "--option", f"{name}=x"), 2)
    assert name in line and known in line
    assert (backend_repo / "sealer.yaml").read_bytes() == before


def test_set_refuses_an_option_sealer_fills_itself(backend_repo: Path) -> None:
    """registry_env is the environment's own name, filled by sealer: given, it was replaced or unused."""
    before = (backend_repo / "sealer.yaml").read_bytes()
    options = ("--option", "delivery=direct", "--option", "registry_env=other")
    line = one_line_error(sealer(backend_repo, "backend", "set", ENV, "k8s-secrets", *options), 2)
    assert line == "sealer: --option registry_env: sealer sets it from the environment's name: leave it out"
    assert (backend_repo / "sealer.yaml").read_bytes() == before


@pytest.mark.parametrize(
    "command",
    [["keys", "list", ENV], ["backend", "check", ENV], ["rotate", ENV, "--no-branch"]],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_typo_in_the_k8s_secrets_options_is_refused_like_any_stores(
    backend_repo: Path, command: list[str]
) -> None:
    path = backend_repo / "sealer.yaml"  # by hand: `backend set` and config.edit refuse it
    doc = yamlio.round_trip_load(path.read_text(), str(path))
    doc["environments"][ENV]["backend"] = {"kind": "k8s-secrets", "options": {"namspace": "x"}}
    path.write_text(yamlio.round_trip_dump(doc))
    commit_all(backend_repo, "a typo in the store options")
    head = git(backend_repo, "rev-parse", "HEAD")
    line = one_line_error(sealer(backend_repo, *command), 2)
    assert f"sealer.yaml: environments.{ENV}.backend.options.namspace: unknown setting" in line
    assert git(backend_repo, "status", "--porcelain") == "" and git(backend_repo, "rev-parse", "HEAD") == head


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nosql"], "unknown backend 'nosql': use one of auth0, dynamodb, k8s-secrets, postgres, vault"),
        (["postgress"], "use one of auth0, dynamodb, k8s-secrets, postgres, vault; did you mean 'postgres'?"),
        (["Vault"], "unknown backend 'Vault': use one of auth0, dynamodb, k8s-secrets, postgres, vault; did"),
        (["postgres", "--option", "schema"], "--option 'schema': use NAME=VALUE"),
        (["postgres", "--option", "=x"], "use NAME=VALUE"),
        # a value pasted without its name is never echoed (a token, a conninfo with a password)
        (["vault", "--credential", "hvs.CAESIJ-not-a-name-0123456789abcdefgh"], "(not echoed): use NAME="),
        (["postgres", "--credential", "=host=db password=hunter2"], "--credential (not echoed): use"),
        (["vault", "--credential", "token_env"], "--credential 'token_env': use NAME=VALUE"),
        (["postgres", "--option", "connect_timeout=soon"], "connect_timeout 'soon' is not a whole number"),
        (["postgres", "--option", "schema=Robert'); DROP TABLE"], "schema name"),
        (["dynamodb", "--option", "max_attempts=0"], "max_attempts '0'"),
        (["vault", "--option", "path=../escape"], "cannot be used in a store path"),
        (["auth0"], "set exactly one of the options user_id, client_id"),
        (["auth0", "--option", "user_id=a", "--option", "client_id=b"], "exactly one"),
    ],
)
def test_set_refuses_bad_input_before_writing(backend_repo: Path, args: list[str], says: str) -> None:
    before = (backend_repo / "sealer.yaml").read_bytes()
    line = one_line_error(sealer(backend_repo, "backend", "set", ENV, *args), 2)
    assert says in line and "hvs.CAES" not in line and "hunter2" not in line
    assert (backend_repo / "sealer.yaml").read_bytes() == before


def test_set_without_the_stores_global_variable_names_the_environment(
    backend_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every command's refusal does (README: `sealer: staging: vault: VAULT_ADDR is not set`)."""
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    before = (backend_repo / "sealer.yaml").read_bytes()
    line = one_line_error(sealer(backend_repo, "backend", "set", ENV, "vault"), 2)
    assert line == f"sealer: {ENV}: vault: VAULT_ADDR is not set"
    assert (backend_repo / "sealer.yaml").read_bytes() == before


def test_set_for_an_unknown_environment(backend_repo: Path) -> None:
    assert "unknown environment 'qa'" in one_line_error(
        sealer(backend_repo, "backend", "set", "qa", "vault"), 2
    )


# -- backend check -----------------------------------------------------------------------------


def test_check_reaches_each_store(backend_repo: Path, backend: Backend) -> None:
    configure(backend_repo, backend)
    result = ok(sealer(backend_repo, "backend", "check", ENV))
    assert result.stdout.startswith(f"{ENV}: {backend.kind}") and len(result.stdout.splitlines()) == 1
    data = json.loads(ok(sealer(backend_repo, "backend", "check", ENV, "-o", "json")).stdout)
    assert data["ok"] is True and data["health"] == result.stdout.strip().removeprefix(f"{ENV}: ")
    assert not leaks(result.stdout, secrets_in_env())


def test_check_of_the_gitops_default(backend_repo: Path) -> None:
    result = ok(sealer(backend_repo, "backend", "check", ENV))
    assert result.stdout.startswith(f"{ENV}: k8s-secrets: ledger in ")


def test_check_of_a_store_that_is_down(
    backend_repo: Path, outage_backend: Backend, request: pytest.FixtureRequest
) -> None:
    assert outage_backend.outage
    configure(backend_repo, outage_backend)
    ok(sealer(backend_repo, "backend", "check", ENV))
    outage_backend.outage.down()
    result = sealer(backend_repo, "backend", "check", ENV)
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{ENV}: {outage_backend.kind}") and result.stderr == ""
    password = request.getfixturevalue("pg_cluster").password if outage_backend.kind == "postgres" else ""
    assert not leaks(result.stdout, [*secrets_in_env(), password])
    data = json.loads(sealer(backend_repo, "backend", "check", ENV, "-o", "json").stdout)
    assert data["ok"] is False and data["error"] == lines[0].removeprefix(f"{ENV}: ")
    outage_backend.outage.up()
    ok(sealer(backend_repo, "backend", "check", ENV))


def test_check_hides_a_credential_the_stores_error_quotes(
    backend_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store's error is shown as any error line is, in text and JSON: libpq quotes a conninfo
    URI it cannot parse whole, password and all."""
    from sealer import store_admin
    from sealer.errors import BackendError

    uri = "postgresql://app:Xq7vR2mN9pL4sT8w@[::1/orders"

    class Broken:
        def health(self) -> str:
            raise BackendError(f'postgres: ProgrammingError: end of string reached in URI: "{uri}"')

    monkeypatch.setattr(store_admin, "store_for", lambda cfg, env: Broken())
    for args in ((), ("-o", "json")):
        result = sealer(backend_repo, "backend", "check", ENV, *args)
        assert result.exit_code == 1 and "not shown>" in result.stdout, result.stdout
        assert "Xq7vR2mN9pL4sT8w" not in result.stdout, result.stdout


def test_check_with_credentials_missing(
    backend_repo: Path, vault_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(sealer(backend_repo, "backend", "set", ENV, "vault", "--option", "path=sealer/check", "--no-branch"))
    monkeypatch.delenv("VAULT_TOKEN")
    result = sealer(backend_repo, "backend", "check", ENV)
    assert result.exit_code == 1 and result.stdout == f"{ENV}: vault: VAULT_TOKEN is not set\n"


def test_check_of_a_direct_registry_with_no_kubeconfig_is_unhealthy(
    backend_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot be used for want of its credentials is unhealthy (exit 1, `ok: false`),
    whichever store: the kubeconfig of a direct registry as Vault's VAULT_TOKEN."""
    with config.edit(backend_repo) as doc:
        doc["environments"][ENV]["backend"] = {"kind": "k8s-secrets", "options": {"delivery": "direct"}}
    commit_all(backend_repo, "direct delivery")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    result = sealer(backend_repo, "backend", "check", ENV, "-o", "json")
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    data = json.loads(result.stdout)
    assert data["ok"] is False and "no kubeconfig found" in data["error"] and result.stderr == ""


# -- keys list / revoke / verify -----------------------------------------------------------------


def two_rotations(repo: Path, keys: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Rotate staging twice through its store, each deployed (`--finish`): (the first keys, the
    current keys) by entry."""
    rotate(repo)
    finish(repo)
    first = current_keys(repo, keys)
    rotate(repo)
    finish(repo)
    return first, current_keys(repo, keys)


def test_keys_commands_against_each_store(backend_repo: Path, backend: Backend, keys: list[Any]) -> None:
    configure(backend_repo, backend)
    first, now = two_rotations(backend_repo, keys)
    ids = {name: apikey.key_id_of(key) for name, key in now.items()}
    old_ids = {name: apikey.key_id_of(key) for name, key in first.items()}

    listed = json.loads(ok(sealer(backend_repo, "keys", "list", ENV, "-o", "json")).stdout)
    assert {row["key_id"]: row["status"] for row in listed} == {
        **{i: ACTIVE for i in ids.values()},
        **{i: REVOKED for i in old_ids.values()},
    }
    assert {row["fingerprint"] for row in listed} == {
        apikey.fingerprint(k) for k in [*first.values(), *now.values()]
    }
    text = ok(sealer(backend_repo, "keys", "list", ENV)).stdout
    assert len(text.splitlines()) == 4 and all(i in text for i in [*ids.values(), *old_ids.values()])
    assert not leaks(text + json.dumps(listed), [*first.values(), *now.values()])

    for key in now.values():
        assert verify(backend_repo, key) == (0, "valid")
    for key in first.values():
        assert verify(backend_repo, key) == (1, "revoked")
    assert verify(backend_repo, apikey.generate(ENV)) == (1, "unknown")
    assert verify(backend_repo, now["apiKey"][:-1] + ("A" if now["apiKey"][-1] != "A" else "B")) == (
        1,
        "malformed",
    )
    assert verify(backend_repo, "") == (1, "malformed")
    data = json.loads(sealer(backend_repo, "keys", "verify", ENV, "-o", "json", stdin=now["apiKey"]).stdout)
    assert data == {"env": ENV, "result": "valid"}


def test_verify_tells_an_expired_key(backend_repo: Path, backend: Backend, keys: list[Any]) -> None:
    configure(backend_repo, backend)
    rotate(backend_repo)
    store = store_of(backend_repo)
    legacy = apikey.generate(ENV)
    fp, past = apikey.fingerprint(legacy), utcnow() - dt.timedelta(days=400)
    store.register(
        KeyRecord(
            ENV, "legacyKey", apikey.key_id(fp), fp, past, past + dt.timedelta(days=30), PENDING, "test"
        )
    )
    store.activate(ENV, "legacyKey", apikey.key_id(fp), None)
    assert verify(backend_repo, legacy) == (1, "expired")
    assert verify(backend_repo, current_keys(backend_repo, keys)["apiKey"]) == (0, "valid")


def test_revoke_with_grace_then_now_is_mirrored_in_the_ledger(
    backend_repo: Path, backend: Backend, keys: list[Any]
) -> None:
    configure(backend_repo, backend)
    rotate(backend_repo)
    finish(backend_repo)
    key = current_keys(backend_repo, keys)["adminKey"]
    key_id = apikey.key_id_of(key)
    start = git(backend_repo, "rev-parse", "HEAD").strip()

    result = ok(sealer(backend_repo, "keys", "revoke", ENV, key_id, "--grace", "24h", "-o", "json"))
    record = json.loads(result.stdout)
    until = dt.datetime.fromisoformat(record["revoke_at"].replace("Z", "+00:00"))
    assert record["status"] == GRACE and abs(until - (utcnow() + dt.timedelta(hours=24))) < dt.timedelta(
        minutes=1
    )
    assert verify(backend_repo, key) == (0, "valid")
    # Each revocation lands as a commit of the ledger on a branch of its own, like a rotation;
    # you stay on your branch, and an external store is revoked right after that commit.
    revoke_branch = record["branch"]
    assert revoke_branch.startswith(f"sealer/revoke-{ENV}-{key_id}-")
    assert git(backend_repo, "status", "--porcelain") == "" and head(backend_repo) == start
    # the ledger, and the values file `sealer render` makes of it (the entry's key metadata)
    changed = git(backend_repo, "diff", "--name-only", start, revoke_branch).split()
    assert changed == ["deploy/staging/values.yaml", "ledger/staging.yaml"]
    in_store = {r.key_id: r for r in store_of(backend_repo).list(ENV)}
    committed = git(backend_repo, "show", f"{revoke_branch}:ledger/{ENV}.yaml")
    mirrored = {r.key_id: r for r in ledger.parse(ENV, committed, revoke_branch)}
    assert in_store[key_id].status == mirrored[key_id].status == GRACE
    assert in_store[key_id].revoke_at == mirrored[key_id].revoke_at == until
    text = ok(sealer(backend_repo, "keys", "revoke", ENV, key_id, "--no-branch")).stdout
    assert text.startswith(f"{ENV}: {key_id} is revoked\ncommit ")
    assert verify(backend_repo, key) == (1, "revoked")
    assert verify(backend_repo, current_keys(backend_repo, keys)["apiKey"]) == (0, "valid")
    assert statuses(store_of(backend_repo).list(ENV))[key_id] == REVOKED
    assert statuses(ledger_records(backend_repo, ENV))[key_id] == REVOKED
    assert git(backend_repo, "status", "--porcelain") == ""
    rotate(backend_repo, "--key", "adminKey")  # a rotation after a revocation gets a new adminKey
    assert verify(backend_repo, current_keys(backend_repo, keys)["adminKey"]) == (0, "valid")


def test_revoke_of_an_unknown_key_id(backend_repo: Path, backend: Backend) -> None:
    configure(backend_repo, backend)
    rotate(backend_repo)
    line = one_line_error(sealer(backend_repo, "keys", "revoke", ENV, "kid_000000000000"), 2)
    assert "kid_000000000000" in line
    assert git(backend_repo, "status", "--porcelain") == ""


def test_keys_commands_with_the_gitops_default(backend_repo: Path, keys: list[Any]) -> None:
    first, now = two_rotations(backend_repo, keys)
    assert verify(backend_repo, now["apiKey"]) == (0, "valid")
    assert verify(backend_repo, first["apiKey"]) == (1, "revoked")
    key_id = apikey.key_id_of(now["apiKey"])
    revoked = json.loads(ok(sealer(backend_repo, "keys", "revoke", ENV, key_id, "-o", "json")).stdout)
    # The Git ledger is the store: the revocation takes effect when its branch is merged.
    assert verify(backend_repo, now["apiKey"]) == (0, "valid")
    git(backend_repo, "merge", "-q", "--ff-only", revoked["branch"])
    assert verify(backend_repo, now["apiKey"]) == (1, "revoked")
    listed = json.loads(ok(sealer(backend_repo, "keys", "list", ENV, "-o", "json")).stdout)
    assert len(listed) == 2 * len(NAMES)


def test_keys_list_prints_no_row_a_ledger_forged(backend_repo: Path) -> None:
    """The Git ledger is anyone's text: a newline in a record's key id or name stays in its row."""
    rotate(backend_repo)
    ledger_file = backend_repo / "ledger" / f"{ENV}.yaml"
    real = ledger.load(backend_repo, ENV)
    fingerprint = "ab" * 32
    forged = dataclasses.replace(
        real[0],
        key_id=apikey.key_id(fingerprint),
        fingerprint=fingerprint,
        name="apiKey\nkid_bbbbbbbbbbbb  apiKey       active",
        status=REVOKED,
    )
    ledger_file.write_text(ledger.dump(ENV, [*real, forged]))
    commit_all(backend_repo, "forged")
    result = ok(sealer(backend_repo, "keys", "list", ENV))
    assert len(result.stdout.splitlines()) == len(real) + 1
    assert not [line for line in result.stdout.splitlines() if line.startswith("kid_bbbbbbbbbbbb")]
    # In the key id: the ledger is refused (not its fingerprint's id), in one line.
    forged = dataclasses.replace(real[0], key_id="kid_aaaaaaaaaaaa\nkid_bbbbbbbbbbbb  apiKey       active")
    ledger_file.write_text(ledger.dump(ENV, [*real[1:], forged]))
    refused = sealer(backend_repo, "keys", "list", ENV)
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1 and refused.stdout == ""


@pytest.mark.parametrize(
    ("removed", "says"),
    [
        ("deleted", "HEAD holds it: restore it with `git checkout HEAD -- ledger/staging.yaml`"),
        ("never committed", "sealed/staging/ holds staging's keys: restore the ledger from Git"),
    ],
    ids=["deleted", "never-committed"],
)
def test_a_missing_ledger_that_had_keys_is_refused_not_read_as_no_keys(
    backend_repo: Path, kubeconfig: Path, removed: str, says: str
) -> None:
    """The Git ledger is the store: deleted from the working tree (or never committed) while
    the environment has sealed keys, every command reading it fails in one line (exit 2)."""
    rotate(backend_repo)
    (backend_repo / "ledger" / f"{ENV}.yaml").unlink()
    if removed == "never committed":
        commit_all(backend_repo, "the ledger leaves Git")
    key = apikey.generate(ENV)
    for args in (
        ["keys", "list", ENV],
        ["keys", "verify", ENV],
        ["status", ENV, "--kubeconfig", str(kubeconfig)],
        ["check", ENV],
        ["audit"],
    ):
        line = one_line_error(sealer(backend_repo, *args, stdin=key), 2)
        assert line == f"sealer: ledger/{ENV}.yaml is missing, but {says}", (args, line)
    # `render` would write the key registry of an empty ledger: every key revoked once synced.
    registry_file = backend_repo / "registry" / ENV / f"{ENV}.yaml"
    before = registry_file.read_text()
    assert one_line_error(sealer(backend_repo, "render", ENV), 2).endswith(says)
    assert registry_file.read_text() == before
    # An environment that never had a key (what `sealer init` leaves) still has none to list.
    git(backend_repo, "rm", "-q", "-r", f"sealed/{ENV}", f"registry/{ENV}")
    commit_all(backend_repo, "no keys at all")
    assert ok(sealer(backend_repo, "keys", "list", ENV)).stdout == f"{ENV}: no keys\n"


def test_keys_list_of_a_store_that_is_down(backend_repo: Path, outage_backend: Backend) -> None:
    assert outage_backend.outage
    configure(backend_repo, outage_backend)
    outage_backend.outage.down()
    for args in (["keys", "list", ENV], ["keys", "revoke", ENV, "kid_000000000000"]):
        line = one_line_error(sealer(backend_repo, *args), 2)
        assert line.startswith(f"sealer: {outage_backend.kind}") and not leaks(line, secrets_in_env())
    result = sealer(backend_repo, "keys", "verify", ENV, stdin=apikey.generate(ENV))
    assert result.exit_code == 2 and result.stdout == ""  # never "unknown" when it cannot tell


def test_set_drops_the_old_kind_line_comment_and_keeps_the_next_one(
    backend_repo: Path, vault_env: Any
) -> None:
    path = backend_repo / "sealer.yaml"
    text = path.read_text()
    staging = text.index("  staging:")
    at = text.index("kind: k8s-secrets", staging) + len("kind: k8s-secrets")
    path.write_text(text[:at] + "  # the default" + text[at:])
    commit_all(backend_repo, "a comment")
    ok(sealer(backend_repo, "backend", "set", ENV, "vault", "--option", "path=p", "--no-branch"))
    after = path.read_text()
    assert "# the default" not in after and comment_lines(after) == comment_lines(text)
