"""What "invalidated at once" means per store (docs/revocation.md): DynamoDB reads are strongly
consistent on the wire; PostgreSQL writes go to the primary only — a standby (a real one,
streamed from the session cluster by pg_basebackup) or a read-only session is refused with
one line. Vault's check-and-set is tested in test_backends_http.py (`test_vault_cas_*`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.sql_stores import PgCluster, _as_postgres, _pg_bindir, _start_postgres, _unique
from test_backends_contract import ENV, activated, refused, statuses

from sealer.records import ACTIVE, REVOKED, KeyRecord

pytestmark = pytest.mark.slow

# -- DynamoDB -----------------------------------------------------------------------------------


def wire_log(store: Any) -> list[tuple[str, dict[str, Any]]]:
    """(operation, JSON body) of every request the store's client sends from now on, as moto
    receives it."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def capture(request: Any, **_: Any) -> None:
        operation = str(request.headers.get("X-Amz-Target", b"").decode()).rpartition(".")[2]
        sent.append((operation, json.loads(request.body or b"{}")))

    store.client.meta.events.register("before-send.dynamodb", capture)
    return sent


def test_dynamodb_reads_that_decide_are_strongly_consistent(dynamo_store: Any) -> None:
    record = activated(dynamo_store)
    sent = wire_log(dynamo_store)
    dynamo_store.revoke(ENV, record.key_id)
    assert dynamo_store.verify(ENV, record.fingerprint) == REVOKED  # the next read sees it
    reads = [(op, body) for op, body in sent if op in ("Query", "GetItem", "Scan", "BatchGetItem")]
    # the revocation's plan, its read-back, then the verification
    assert [op for op, _ in reads] == ["Query", "BatchGetItem", "Query"]
    consistent = [
        body.get("ConsistentRead")
        if op != "BatchGetItem"
        else body["RequestItems"][dynamo_store.table]["ConsistentRead"]
        for op, body in reads
    ]
    assert consistent == [True, True, True], reads
    assert any(op == "TransactWriteItems" for op, _ in sent)


# -- PostgreSQL ---------------------------------------------------------------------------------


def test_postgres_refuses_a_revocation_in_a_read_only_session(
    postgres_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = activated(postgres_store)
    monkeypatch.setenv("PGOPTIONS", "-c default_transaction_read_only=on")
    message = refused(lambda: postgres_store.revoke(ENV, record.key_id))
    assert message == (
        "postgres: the session is read-only (a standby?): "
        "sealer writes to the primary only: point PGHOST or the service at it"
    )
    assert statuses(postgres_store) == {record.key_id: ACTIVE}  # reads still work


@dataclass(frozen=True)
class Standby:
    port: int
    schema: str
    record: KeyRecord  # active on the primary when the standby was cloned


@pytest.fixture(scope="module")
def standby(pg_cluster: PgCluster) -> Iterator[Standby]:
    """A hot standby of the session cluster, streaming from it, cloned after a key table with
    one active key was written on the primary."""
    from sealer.backends.postgres import PostgresStore

    schema = _unique("standby_")
    with pytest.MonkeyPatch.context() as patch:
        for var, value in pg_cluster.env().items():
            patch.setenv(var, value)
        record = activated(PostgresStore({"schema": schema}, Path(tempfile.gettempdir())))
    bindir = _pg_bindir()
    assert bindir is not None  # pg_cluster skipped otherwise
    base = Path(tempfile.mkdtemp(prefix="sealer-pg-standby-"))
    as_postgres = _as_postgres(base)
    # -c fast: checkpoint now, not spread over minutes
    clone = [str(bindir / "pg_basebackup"), "-D", str(base / "data"), "-R", "-X", "stream", "-c", "fast"]
    source = ["-h", str(pg_cluster.socket_dir), "-p", str(pg_cluster.port), "-U", "postgres"]
    try:
        subprocess.run([*as_postgres, *clone, *source], capture_output=True, text=True, check=True)
        yield Standby(_start_postgres(bindir, base, as_postgres), schema, record)
    finally:
        stop = [str(bindir / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "-w", "stop"]
        subprocess.run([*as_postgres, *stop], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_refuses_to_write_to_a_standby(
    standby: Standby, pg_env: PgCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sealer.backends.postgres import PostgresStore

    monkeypatch.setenv("PGPORT", str(standby.port))
    replica = PostgresStore({"schema": standby.schema}, tmp_path)
    assert statuses(replica) == {standby.record.key_id: ACTIVE}  # a verifier may read a replica
    message = refused(lambda: replica.revoke(ENV, standby.record.key_id))
    assert message == (
        f"postgres: 127.0.0.1:{standby.port} is a standby (in recovery): "
        "sealer writes to the primary only: point PGHOST or the service at it"
    )
    monkeypatch.setenv("PGPORT", str(pg_env.port))  # the primary takes it, and keeps it
    primary = PostgresStore({"schema": standby.schema}, tmp_path)
    assert statuses(primary) == {standby.record.key_id: ACTIVE}
    primary.revoke(ENV, standby.record.key_id)
    assert statuses(primary) == {standby.record.key_id: REVOKED}
