"""Key-store fixtures: a throwaway PostgreSQL cluster, moto in server mode, temp-repo ledgers.

A plugin of the root conftest. For each store fixture `X_store` there is `X_store_raw`: a callable
returning everything the backend holds as text (rows, items, files), for the no-key-material
checks. `X_outage` fixtures (listed in OUTAGES) put a `ToggleProxy` between a store and its
server, so a test can take the backend down and bring it back between any two steps without
stopping the server the rest of the session shares.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sealer.backends import KeyStore
from sealer.repofiles import write as write_atomic

__all__ = [
    "OUTAGES",
    "Outage",
    "PgCluster",
    "ToggleProxy",
    "aws_env",
    "dynamo_outage",
    "dynamo_store",
    "dynamo_store_raw",
    "k8s_secrets_store",
    "k8s_secrets_store_raw",
    "moto_endpoint",
    "pg_cluster",
    "pg_env",
    "pg_local_password_cluster",
    "postgres_outage",
    "postgres_store",
    "postgres_store_raw",
]

OUTAGES = ["postgres_outage", "dynamo_outage"]
LOOPBACK = "127.0.0.1"
PG_VARS_CLEARED = (
    "PGPASSWORD",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSSLMODE",
    "PGOPTIONS",
    "PGHOSTADDR",
    "PGAPPNAME",
    "PGREQUIRESSL",
    "PGTARGETSESSIONATTRS",
)
AWS_VARS_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


# -- a switchable TCP forwarder -------------------------------------------------------------


class ToggleProxy:
    """A TCP forwarder on 127.0.0.1 that can go down (new connections refused, open ones cut)
    and come back on the same port. Created down; while down its port stays bound but not
    listening, so a connection is refused at once and no other process can take the port."""

    def __init__(self, target_port: int) -> None:
        self.target = (LOOPBACK, target_port)
        self._listener = self._bound(0)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor: threading.Thread | None = None
        self.is_up = False

    @staticmethod
    def _bound(port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        return sock

    def up(self) -> None:
        if self.is_up:
            return
        self._listener.listen(64)
        self.is_up = True
        self._acceptor = threading.Thread(target=self._accept, args=(self._listener,), daemon=True)
        self._acceptor.start()

    def down(self) -> None:
        """Refuse new connections and cut open ones; returns once every forwarder stopped."""
        if not self.is_up:
            return
        self.is_up = False
        listener = self._listener
        _quietly(listener.shutdown, socket.SHUT_RDWR)  # wakes the blocked accept()
        if self._acceptor:
            self._acceptor.join()  # no new connection after this
        listener.close()
        self._listener = self._bound(self.port)
        with self._lock:
            for sock in self._open:
                _quietly(sock.shutdown, socket.SHUT_RDWR)
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def close(self) -> None:
        self.down()
        self._listener.close()

    def __enter__(self) -> ToggleProxy:
        """`with ToggleProxy(port) as proxy:` up for the block, closed after it."""
        self.up()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for sock in (client, server):  # small writes must not wait for delayed ACKs
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(client, server), daemon=True)
            with self._lock:
                self._open |= {client, server}
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket, server: socket.socket) -> None:
        pumps = [
            threading.Thread(target=_pump, args=pair, daemon=True)
            for pair in ((client, server), (server, client))
        ]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        with self._lock:
            self._open -= {client, server}
        client.close()
        server.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        _quietly(sink.shutdown, socket.SHUT_WR)
    except OSError:
        for sock in (source, sink):
            _quietly(sock.shutdown, socket.SHUT_RDWR)


def _quietly(call: Callable[..., None], *args: Any) -> None:
    try:
        call(*args)
    except OSError:
        pass


@dataclass
class Outage:
    """A store reached through a ToggleProxy: `down()` is the backend failing, `up()` its return."""

    store: KeyStore
    proxy: ToggleProxy

    def down(self) -> None:
        self.proxy.down()

    def up(self) -> None:
        self.proxy.up()


# -- k8s-secrets ------------------------------------------------------------------------------


@pytest.fixture
def k8s_secrets_store(tmp_path: Path) -> KeyStore:
    from sealer.backends.k8s_secrets import K8sSecretsStore

    repo = tmp_path / "repo"
    repo.mkdir()
    return K8sSecretsStore({}, repo)


@pytest.fixture
def k8s_secrets_store_raw(k8s_secrets_store: Any) -> Callable[[], str]:
    def dump() -> str:
        return "\n".join(
            path.read_text() for path in sorted(k8s_secrets_store.repo.rglob("*")) if path.is_file()
        )

    return dump


# -- PostgreSQL ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgCluster:
    port: int
    user: str
    database: str
    passfile: Path
    password: str  # only for tests that check it is never echoed
    socket_dir: Path

    def env(self, port: int | None = None) -> dict[str, str]:
        """libpq's environment for the test role (the password comes from the passfile)."""
        return {
            "PGHOST": LOOPBACK,
            "PGPORT": str(port or self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.database,
            "PGPASSFILE": str(self.passfile),
            "PGCONNECT_TIMEOUT": "5",
        }


def _pg_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _as_postgres(folder: Path) -> list[str]:
    """initdb refuses root: as root, run the server as the `postgres` system user."""
    if os.geteuid() != 0:
        return []
    import pwd

    account = pwd.getpwnam("postgres")
    os.chown(folder, account.pw_uid, account.pw_gid)
    # runuser lives in /usr/sbin, which a PATH without the sbin folders (`env -i PATH=/usr/bin:/bin`,
    # as the README shows) lacks: looked up there too.
    runuser = shutil.which(
        "runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    )
    if runuser is None:
        raise RuntimeError("the PostgreSQL tests run as root need runuser (util-linux) to start the server")
    return [runuser, "-u", "postgres", "--"]


def _start_postgres(bindir: Path, base: Path, as_postgres: list[str], sockets: str | None = None) -> int:
    """Start the cluster on a free port (`pg_ctl -w` waits until it accepts connections)."""
    for _ in range(3):  # another process may grab the free port before the server binds it
        port = free_port()
        settings = (
            f"-p {port} -k {','.join([str(base), *([sockets] if sockets else [])])} "
            f"-c listen_addresses={LOOPBACK} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        started = subprocess.run(
            [
                *as_postgres,
                str(bindir / "pg_ctl"),
                "-D",
                str(base / "data"),
                "-l",
                str(base / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                settings,
                "start",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode == 0:
            return port
    log = (base / "server.log").read_text() if (base / "server.log").exists() else started.stderr
    raise RuntimeError(f"PostgreSQL did not start: {log[-2000:]}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster for the session: a role and database for the tests,
    reached over TCP with scram-sha-256 and a passfile; removed at the end."""
    import psycopg
    from psycopg import sql

    with _throwaway_cluster() as (base, port):
        yield _create_role(base, port, psycopg, sql)


@pytest.fixture(scope="session")
def pg_local_password_cluster() -> Iterator[PgCluster]:
    """A second throwaway cluster whose pg_hba.conf asks a local (Unix-socket) client of the test
    role for its password (`password`, what `require_auth=!password,!md5` refuses), with a socket
    in libpq's default directory, so a connection naming no host at all reaches it."""
    import psycopg
    from psycopg import sql

    default = _libpq_socket_dir(psycopg)
    if default is None or not (os.geteuid() == 0 or os.access(default, os.W_OK)):
        pytest.skip(f"libpq's default socket directory ({default}) cannot hold a test server's socket")
    hba = "local all postgres trust\nlocal all all password\n"
    with _throwaway_cluster(hba=hba, sockets=default) as (base, port):
        yield _create_role(base, port, psycopg, sql, passfile_host="*")


def _libpq_socket_dir(psycopg: Any) -> str | None:
    """The directory libpq connects to when no host is given (it says so when nothing listens)."""
    import re

    try:
        psycopg.connect(f"host='' port={free_port()} connect_timeout=2").close()
    except psycopg.OperationalError as err:
        found = re.search(r'on socket "(/[^"]+)/\.s\.PGSQL\.\d+"', str(err))
        return found.group(1) if found else None
    return None


@contextlib.contextmanager
def _throwaway_cluster(hba: str | None = None, sockets: str | None = None) -> Iterator[tuple[Path, int]]:
    """initdb, start (sockets in its own folder, and `sockets` too), yield (folder, port), remove.
    `hba` replaces pg_hba.conf's `local` lines (host lines stay scram-sha-256)."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are not installed (./dev installs the postgresql package)")
    base = Path(tempfile.mkdtemp(prefix="sealer-pg-"))  # not under pytest's 0700 root-only tmp
    as_postgres = _as_postgres(base)
    try:
        subprocess.run(
            [
                *as_postgres,
                str(bindir / "initdb"),
                "-D",
                str(base / "data"),
                "-U",
                "postgres",
                "--no-sync",
                "--no-locale",
                "-E",
                "UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        if hba is not None:
            _set_local_hba(base / "data" / "pg_hba.conf", hba)
        yield base, _start_postgres(bindir, base, as_postgres, sockets)
    finally:
        if (base / "data" / "postmaster.pid").exists():
            subprocess.run(
                [
                    *as_postgres,
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(base / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)


def _set_local_hba(path: Path, local: str) -> None:
    kept = [line for line in path.read_text().splitlines() if not line.startswith("local")]
    path.write_text(local + "\n".join(kept) + "\n")  # the server's own file: the owner stays


def _create_role(base: Path, port: int, psycopg: Any, sql: Any, passfile_host: str = LOOPBACK) -> PgCluster:
    password = secrets.token_hex(16)
    superuser = {"host": str(base), "port": port, "user": "postgres", "dbname": "postgres"}
    with psycopg.connect(**superuser, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE sealer_test LOGIN PASSWORD {}").format(sql.Literal(password)))
        conn.execute("CREATE DATABASE sealer_test OWNER sealer_test")
    passfile = base / "pgpass"  # removed with the cluster
    write_atomic(passfile, f"{passfile_host}:*:sealer_test:sealer_test:{password}\n", mode=0o600)
    return PgCluster(
        port=port,
        user="sealer_test",
        database="sealer_test",
        passfile=passfile,
        password=password,
        socket_dir=base,
    )


@pytest.fixture
def pg_env(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> PgCluster:
    """libpq's environment pointed at the session cluster, nothing else leaking in."""
    for var in PG_VARS_CLEARED:
        monkeypatch.delenv(var, raising=False)
    for var, value in pg_cluster.env().items():
        monkeypatch.setenv(var, value)
    return pg_cluster


@pytest.fixture
def postgres_store(pg_env: PgCluster, tmp_path: Path) -> KeyStore:
    """A store on its own fresh schema in the session cluster."""
    from sealer.backends.postgres import PostgresStore

    return PostgresStore({"schema": _unique("t_")}, tmp_path)


@pytest.fixture
def postgres_store_raw(postgres_store: Any) -> Callable[[], str]:
    def dump() -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect() as conn:
            rows = conn.execute(
                sql.SQL("SELECT row_to_json(t)::text FROM {} t ORDER BY seq").format(
                    sql.Identifier(postgres_store.schema, postgres_store.table)
                )
            ).fetchall()
        return "\n".join(row[0] for row in rows)

    return dump


@pytest.fixture
def postgres_outage(pg_env: PgCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Outage]:
    from sealer.backends.postgres import PostgresStore

    with ToggleProxy(pg_env.port) as proxy:
        monkeypatch.setenv("PGPORT", str(proxy.port))
        yield Outage(PostgresStore({"schema": _unique("t_"), "connect_timeout": "2"}, tmp_path), proxy)


# -- DynamoDB (moto in server mode) ---------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server app on 127.0.0.1, one request at a time.

    Not ThreadedMotoServer as is: moto applies a TransactWriteItems item by item (and on a
    failed condition restores a copy of the whole table taken before), so two concurrent
    requests interleave in ways DynamoDB never allows. Serialising requests gives DynamoDB's
    guarantee (each request is atomic and isolated) while the server stays multi-threaded."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    server = make_server(LOOPBACK, 0, serialised, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Fake credentials through the AWS chain's environment; no profile or metadata lookups."""
    for var in AWS_VARS_CLEARED:
        monkeypatch.delenv(var, raising=False)
    fake = {
        "AWS_ACCESS_KEY_ID": "AKIATESTSEALER000000",
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for var, value in fake.items():
        monkeypatch.setenv(var, value)
    return fake


@pytest.fixture
def dynamo_store(moto_endpoint: str, aws_env: dict[str, str], tmp_path: Path) -> KeyStore:
    """A store on its own fresh table (created on first use)."""
    from sealer.backends.dynamodb import DynamoStore

    options = {"table": _unique("sealer-keys-"), "region": "eu-west-1", "endpoint_url": moto_endpoint}
    return DynamoStore(options, tmp_path)


@pytest.fixture
def dynamo_store_raw(dynamo_store: Any) -> Callable[[], str]:
    def dump() -> str:
        pages = dynamo_store.client.get_paginator("scan").paginate(TableName=dynamo_store.table)
        return "\n".join(json.dumps(item, sort_keys=True) for page in pages for item in page["Items"])

    return dump


@pytest.fixture
def dynamo_outage(moto_endpoint: str, aws_env: dict[str, str], tmp_path: Path) -> Iterator[Outage]:
    from sealer.backends.dynamodb import DynamoStore

    with ToggleProxy(int(moto_endpoint.rsplit(":", 1)[1])) as proxy:
        options = {
            "table": _unique("sealer-keys-"),
            "region": "eu-west-1",
            "endpoint_url": f"http://{LOOPBACK}:{proxy.port}",
            "max_attempts": "1",
        }
        yield Outage(DynamoStore(options, tmp_path), proxy)
