"""What the contract suite cannot see: how the PostgreSQL and DynamoDB stores use their
databases (schema, constraints, transactions, guard items), how they take credentials, and
that a store whose server is down fails with one clear line."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.sql_stores import PgCluster
from test_backends_contract import ENV, NAME, activated, new_key, refused, registered, statuses

from sealer import layout, ledger
from sealer.backends import KeyStore, open_store
from sealer.errors import BackendError, BadInput
from sealer.records import ACTIVE, PENDING, REVOKED

# -- PostgreSQL -------------------------------------------------------------------------------------


def _superuser(cluster: PgCluster) -> Any:
    import psycopg

    return psycopg.connect(
        host=str(cluster.socket_dir),
        port=cluster.port,
        user="postgres",
        dbname=cluster.database,
        autocommit=True,
    )


def _as_owner(sql_text: str, store: Any, *params: Any) -> list[tuple[Any, ...]]:
    """Run SQL as the test role (through libpq's environment) with {table} filled in."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(autocommit=True) as conn:
        cur = conn.execute(
            sql.SQL(sql_text).format(
                table=sql.Identifier(store.schema, store.table),
                version_table=sql.Identifier(store.schema, "sealer_schema_version"),
                status_check=sql.Identifier(f"{store.table}_status_check"),
            ),
            params,
        )
        return cur.fetchall() if cur.description else []


@pytest.mark.slow
def test_postgres_creates_table_version_row_and_partial_unique_index(postgres_store: Any) -> None:
    assert "schema v2" in postgres_store.health()
    versions = _as_owner("SELECT table_name, version FROM {version_table}", postgres_store)
    assert versions == [(postgres_store.table, 2)]
    (definition,) = _as_owner(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
        postgres_store,
        postgres_store.schema,
        f"{postgres_store.table}_one_active",
    )[0]
    assert definition.startswith("CREATE UNIQUE INDEX") and "WHERE (status = 'active'::text)" in definition


@pytest.mark.slow
def test_postgres_itself_refuses_a_second_active_key(postgres_store: Any) -> None:
    import psycopg

    first = activated(postgres_store)
    second = new_key()[1]
    insert = (
        "INSERT INTO {table} (env, name, key_id, fingerprint, created, status) "
        "VALUES (%s, %s, %s, %s, now(), %s)"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        _as_owner(insert, postgres_store, ENV, NAME, second.key_id, second.fingerprint, ACTIVE)
    with pytest.raises(psycopg.errors.CheckViolation):
        _as_owner(insert, postgres_store, ENV, NAME, second.key_id, second.fingerprint, "bogus")
    assert statuses(postgres_store) == {first.key_id: ACTIVE}


@pytest.mark.slow
def test_postgres_activation_is_one_transaction(postgres_store: Any) -> None:
    old, new = activated(postgres_store), registered(postgres_store)
    refuse = f"{postgres_store.schema}.refuse"
    _as_owner(
        f"""CREATE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$""",
        postgres_store,
    )
    _as_owner(
        f"""CREATE TRIGGER refuse BEFORE UPDATE ON {{table}} FOR EACH ROW
                  WHEN (NEW.status = 'active') EXECUTE FUNCTION {refuse}()""",
        postgres_store,
    )
    message = refused(lambda: postgres_store.activate(ENV, NAME, new.key_id, None))
    assert "refused by a test trigger" in message
    assert statuses(postgres_store) == {old.key_id: ACTIVE, new.key_id: PENDING}  # the demotion rolled back


@pytest.mark.slow
def test_postgres_refuses_a_table_newer_than_it_knows(postgres_store: Any, tmp_path: Path) -> None:
    from sealer.backends.postgres import PostgresStore

    postgres_store.health()
    _as_owner("UPDATE {version_table} SET version = 3", postgres_store)
    later = PostgresStore({"schema": postgres_store.schema}, tmp_path)
    assert "upgrade sealer" in refused(later.health)


@pytest.mark.slow
def test_postgres_v1_table_is_migrated_to_accept_keys(postgres_store: Any, tmp_path: Path) -> None:
    """A table made by the sealer before accepted keys existed (v1) is upgraded on first use."""
    from sealer.backends.postgres import PostgresStore

    postgres_store.health()
    _as_owner("ALTER TABLE {table} DROP CONSTRAINT {status_check}", postgres_store)
    _as_owner(
        "ALTER TABLE {table} ADD CONSTRAINT {status_check} "
        "CHECK (status IN ('pending', 'active', 'grace', 'revoked'))",
        postgres_store,
    )
    _as_owner("UPDATE {version_table} SET version = 1", postgres_store)
    upgraded = PostgresStore({"schema": postgres_store.schema}, tmp_path)
    assert "schema v2" in upgraded.health()
    record = new_key()[1]
    upgraded.register(record)
    upgraded.accept(record.env, record.key_id)
    assert {r.key_id: r.status for r in upgraded.list(record.env)} == {record.key_id: "accepted"}


@pytest.mark.slow
def test_postgres_first_use_by_two_stores_at_once(pg_env: PgCluster, tmp_path: Path) -> None:
    from sealer.backends.postgres import PostgresStore

    schema = f"t_{uuid.uuid4().hex[:12]}"
    stores = [PostgresStore({"schema": schema}, tmp_path) for _ in range(2)]
    barrier = threading.Barrier(2, timeout=30)
    failures: list[str] = []

    def first_use(store: PostgresStore) -> None:
        barrier.wait()
        try:
            store.register(new_key()[1])
        except BackendError as err:
            failures.append(str(err))

    threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(stores[0].list(ENV)) == 2
    assert _as_owner("SELECT count(*) FROM {version_table}", stores[0]) == [(1,)]


@pytest.mark.slow
def test_postgres_role_with_row_privileges_only(
    postgres_store: Any, pg_env: PgCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Once the table exists, a role that may only read and write rows works; DDL is only
    needed on first use, and its refusal is one line."""
    from psycopg import sql

    from sealer.backends.postgres import PostgresStore
    from sealer.repofiles import write as write_atomic

    key = activated(postgres_store)
    role, password = f"rw_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with _superuser(pg_env) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(postgres_store.schema), sql.Identifier(role)
            )
        )
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
                sql.Identifier(postgres_store.schema), sql.Identifier(role)
            )
        )
    passfile = tmp_path / "pgpass"
    write_atomic(passfile, f"127.0.0.1:*:{pg_env.database}:{role}:{password}\n", mode=0o600)
    monkeypatch.setenv("PGUSER", role)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    limited = PostgresStore({"schema": postgres_store.schema}, tmp_path)
    assert limited.verify(ENV, key.fingerprint) == "valid"
    limited.revoke(ENV, key.key_id)
    assert statuses(limited) == {key.key_id: REVOKED}
    message = refused(PostgresStore({"schema": f"t_{uuid.uuid4().hex[:12]}"}, tmp_path).health)
    assert "permission denied" in message and password not in message


@pytest.mark.slow
def test_postgres_password_comes_from_libpq_and_is_never_echoed(
    pg_env: PgCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sealer.backends.postgres import PostgresStore

    with pytest.raises(BadInput) as err:
        open_store("postgres", {"password": pg_env.password}, tmp_path)
    assert "password" in str(err.value) and pg_env.password not in str(err.value)
    wrong = uuid.uuid4().hex
    monkeypatch.setenv("PGPASSWORD", wrong)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "absent"))
    message = refused(PostgresStore({}, tmp_path).health)
    assert "password authentication failed" in message and wrong not in message
    monkeypatch.delenv("PGPASSWORD")
    assert "no password supplied" in refused(PostgresStore({}, tmp_path).health)


def test_postgres_options_are_checked_before_any_connection(tmp_path: Path) -> None:
    for options in ({"table": "Keys; DROP"}, {"schema": "1x"}, {"connect_timeout": "soon"}, {"dsn": "x"}):
        with pytest.raises(BadInput):
            open_store("postgres", options, tmp_path)
    store = open_store("postgres", {"table": "api_keys", "schema": "ops"}, tmp_path)
    assert (store.kind, store.table, store.schema) == ("postgres", "api_keys", "ops")  # type: ignore[attr-defined]


# -- DynamoDB -------------------------------------------------------------------------------------


def _calls(store: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every API call the store's client makes from now on: (operation, parameters)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, params))

    store.client.meta.events.register("provide-client-params.dynamodb.*", record)
    return seen


@pytest.mark.slow
def test_dynamo_creates_its_table_on_first_use(dynamo_store: Any) -> None:
    assert "does not exist yet" in dynamo_store.health()
    registered(dynamo_store)
    table = dynamo_store.client.describe_table(TableName=dynamo_store.table)["Table"]
    key_schema = {(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]}
    assert key_schema == {("pk", "HASH"), ("sk", "RANGE")}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "is ACTIVE" in dynamo_store.health()


@pytest.mark.slow
def test_dynamo_without_create_table_needs_the_helper(dynamo_store: Any, tmp_path: Path) -> None:
    from sealer.backends.dynamodb import DynamoStore

    options = {
        "table": dynamo_store.table,
        "region": "eu-west-1",
        "endpoint_url": dynamo_store.endpoint_url,
        "create_table": "false",
    }
    store = DynamoStore(options, tmp_path)
    assert "does not exist" in refused(lambda: store.register(new_key()[1]))
    store.create_table()
    store.create_table()  # an existing table is fine
    registered(store)


@pytest.mark.slow
def test_dynamo_activation_is_one_transaction_through_the_guard(dynamo_store: Any) -> None:
    old, new = activated(dynamo_store), registered(dynamo_store)
    calls = _calls(dynamo_store)
    dynamo_store.activate(ENV, NAME, new.key_id, None)
    writes = [
        (operation, params) for operation, params in calls if operation not in ("Query", "BatchGetItem")
    ]
    assert [operation for operation, _ in writes] == ["TransactWriteItems"]
    assert [operation for operation, _ in calls][-1] == "BatchGetItem"  # read back once, after it
    items = writes[0][1]["TransactItems"]
    assert sorted(next(iter(item)) for item in items) == ["Put", "Update", "Update"]
    assert all("ConditionExpression" in next(iter(item.values())) for item in items)
    assert _guard(dynamo_store, NAME) == new.key_id
    dynamo_store.revoke(ENV, new.key_id)
    assert _guard(dynamo_store, NAME) == ""
    assert statuses(dynamo_store) == {old.key_id: REVOKED, new.key_id: REVOKED}


def _guard(store: Any, name: str) -> str:
    item = store.client.get_item(
        TableName=store.table, Key={"pk": {"S": ENV}, "sk": {"S": f"active#{name}"}}, ConsistentRead=True
    )["Item"]
    return str(item["key_id"]["S"])


@pytest.mark.slow
def test_dynamo_cancelled_transactions_change_nothing(dynamo_store: Any) -> None:
    """A writer that changes the guard between every read and write: the activation gives up
    after its retries, and none of its writes happened."""
    import boto3

    old, new = activated(dynamo_store), registered(dynamo_store)
    rival = boto3.session.Session().client(
        "dynamodb", region_name="eu-west-1", endpoint_url=dynamo_store.endpoint_url
    )

    def interfere(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            rival.put_item(
                TableName=dynamo_store.table,
                Item={"pk": {"S": ENV}, "sk": {"S": f"active#{NAME}"}, "key_id": {"S": uuid.uuid4().hex}},
            )

    dynamo_store.client.meta.events.register("provide-client-params.dynamodb.*", interfere)
    assert "conflicting" in refused(lambda: dynamo_store.activate(ENV, NAME, new.key_id, None))
    assert statuses(dynamo_store) == {old.key_id: ACTIVE, new.key_id: PENDING}


@pytest.mark.slow
def test_dynamo_credentials_and_region_come_from_the_aws_chain(
    moto_endpoint: str, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sealer.backends.dynamodb import DynamoStore

    with pytest.raises(BadInput) as err:
        open_store("dynamodb", {"aws_secret_access_key": aws_env["AWS_SECRET_ACCESS_KEY"]}, tmp_path)
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in str(err.value)
    no_region = DynamoStore({"endpoint_url": moto_endpoint}, tmp_path)
    assert "region" in refused(no_region.health)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert "dynamodb: table" in DynamoStore({"endpoint_url": moto_endpoint}, tmp_path).health()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert "credentials" in refused(DynamoStore({"endpoint_url": moto_endpoint}, tmp_path).health)


def test_dynamo_options_are_checked(tmp_path: Path) -> None:
    for options in ({"max_attempts": "0"}, {"max_attempts": "many"}, {"profile": "admin"}):
        with pytest.raises(BadInput):
            open_store("dynamodb", options, tmp_path)


# -- the ledger store ---------------------------------------------------------------------------------


def test_k8s_secrets_records_are_the_ledger_file_and_leave_nothing_else(k8s_secrets_store: Any) -> None:
    old, new = activated(k8s_secrets_store), registered(k8s_secrets_store)
    k8s_secrets_store.activate(ENV, NAME, new.key_id, None)
    files = sorted(path.relative_to(k8s_secrets_store.repo) for path in k8s_secrets_store.repo.rglob("*"))
    assert files == [Path(layout.LEDGER_DIR), Path(layout.LEDGER_DIR) / f"{ENV}.yaml"]
    assert ledger.load(k8s_secrets_store.repo, ENV) == k8s_secrets_store.list(ENV)
    assert [(record.key_id, record.status) for record in ledger.load(k8s_secrets_store.repo, ENV)] == [
        (old.key_id, REVOKED),
        (new.key_id, ACTIVE),
    ]
    assert layout.ledger_path(k8s_secrets_store.repo, ENV).read_text() == ledger.dump(
        ENV, k8s_secrets_store.list(ENV)
    )


def test_k8s_secrets_store_needs_an_existing_repo(tmp_path: Path) -> None:
    store: KeyStore = open_store("k8s-secrets", {}, tmp_path / "missing")
    assert "does not exist" in refused(store.health)
    assert "does not exist" in refused(lambda: store.register(new_key()[1]))
