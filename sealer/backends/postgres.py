"""`postgres` store: one table in a self-hosted PostgreSQL, through psycopg 3.

Where the connection comes from: libpq's own places (PGHOST, PGPORT, PGUSER, PGDATABASE,
PGPASSFILE or ~/.pgpass, PGSERVICE and pg_service.conf, PGSSLMODE …). sealer.yaml may name a
`service`, the `schema` and `table`, and a `connect_timeout`; never a password. An environment's
credential source (#17) may name the variables holding its conninfo and its passfile's path;
those come first, and a passfile so named is read instead of PGPASSWORD.

The table is created on first use, and its version recorded in `sealer_schema_version` (one
row per key table), under an advisory lock so two first users do not race. A partial unique
index lets the database itself refuse a second active key per (env, name); an activation
locks the rows it reads (FOR UPDATE, in key order, so two activations cannot deadlock) and
writes the demotions and the activation in one transaction.

Each transaction is one request bounded in wall-clock time (`deadline.request`); the server
ends what sealer leaves behind (statement, lock and idle-transaction timeouts of twice the
bound), and a transaction given up before its COMMIT is rolled back rather than committed (a
plain BackendError: nothing changed). A write whose COMMIT is not answered (the connection lost
or ended) is of unknown fate: WriteUnconfirmed; one given up on with its COMMIT under way may
still land: WriteInFlight (InterruptedInFlight when Ctrl-C gave up on it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sealer import deadline
from sealer.backends.base import shown
from sealer.backends.credentials import PostgresSource
from sealer.errors import BackendError, BadInput, InterruptedInFlight, WriteInFlight, WriteUnconfirmed
from sealer.records import (
    ACTIVE,
    PENDING,
    STATUSES,
    GraceEnds,
    KeyRecord,
    must_remove,
    parse_iso,
    plan_accept,
    plan_activate,
    plan_copy,
    plan_drop,
    plan_revoke,
    utcnow,
    verdict,
)

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)
T = TypeVar("T")

Records = list[KeyRecord]  # `list` is a method name in the store class

DEFAULT_TABLE = "sealer_keys"
DEFAULT_SCHEMA = "public"
VERSION_TABLE = "sealer_schema_version"
SCHEMA_VERSION = 2
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
_COLUMNS = "env, name, key_id, fingerprint, created, expires, status, actor, revoke_at, sealed_with"

# MIGRATIONS[n] brings a key table from version n to n + 1. {table}, {one_active} are identifiers.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE {table} (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            env text NOT NULL,
            name text NOT NULL,
            key_id text NOT NULL,
            fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{{64}}$'),
            created timestamptz NOT NULL,
            expires timestamptz,
            status text NOT NULL CHECK (status IN ('pending', 'active', 'grace', 'revoked')),
            actor text NOT NULL DEFAULT '',
            revoke_at timestamptz,
            sealed_with text[] NOT NULL DEFAULT '{{}}',
            PRIMARY KEY (env, key_id))""",
        "CREATE UNIQUE INDEX {one_active} ON {table} (env, name) WHERE status = 'active'",
    ],
    [  # v2: accepted keys (a committed rotation, valid beside the active key until deployed)
        "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {status_check}",
        "ALTER TABLE {table} ADD CONSTRAINT {status_check} "
        "CHECK (status IN ('pending', 'accepted', 'active', 'grace', 'revoked'))",
    ],
]


class PostgresStore:
    kind: ClassVar[str] = "postgres"

    def __init__(self, options: dict[str, str], repo: Path, *, source: PostgresSource | None = None) -> None:
        self.source = source or PostgresSource()
        self.table = _identifier(options.get("table", DEFAULT_TABLE), "table")
        self.schema = _identifier(options.get("schema", DEFAULT_SCHEMA), "schema")
        self.service = options.get("service")
        self.connect_timeout = _timeout(options.get("connect_timeout", "5"))
        self._ready = False

    def register(self, record: KeyRecord) -> None:
        import psycopg

        row = _row(record.with_status(PENDING))
        insert = self._sql(f"INSERT INTO {{table}} ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(row))})")

        def work(cur: psycopg.Cursor[Any]) -> None:
            try:
                cur.execute(insert, row)
            except psycopg.errors.UniqueViolation:
                raise BackendError(f"postgres: {record.env}: key {record.key_id} exists already") from None

        self._run(f"registering key {record.key_id} of {record.env}", work)
        log.debug("postgres: registered %s for %s/%s", record.key_id, record.env, record.name)

    def activate(self, env_name: str, name: str, key_id: str, revoke_previous_at: GraceEnds) -> None:
        import psycopg

        query = (
            f"SELECT {_COLUMNS} FROM {{table}} WHERE env = %s AND (key_id = %s OR "
            "(name = %s AND status IN ('pending', 'accepted', 'active'))) ORDER BY key_id FOR UPDATE"
        )

        def work(cur: psycopg.Cursor[Any]) -> int:
            cur.execute(self._sql(query), (env_name, key_id, name))
            records = [_record(row) for row in cur.fetchall()]
            changes = plan_activate(records, env_name, name, key_id, revoke_previous_at, utcnow())
            try:
                self._write_states(cur, changes)
            except psycopg.errors.UniqueViolation:
                raise BackendError(
                    f"postgres: {env_name}: another {name!r} key became active meanwhile"
                ) from None
            return len(changes)

        changed = self._run(f"activating key {key_id} of {env_name}", work)
        log.debug("postgres: activated %s for %s/%s (%d records changed)", key_id, env_name, name, changed)

    def accept(self, env_name: str, key_id: str) -> None:
        def work(cur: psycopg.Cursor[Any]) -> None:
            changed = plan_accept(self._locked(cur, env_name, key_id), env_name, key_id)
            self._write_states(cur, [changed] if changed else [])

        self._run(f"accepting key {key_id} of {env_name}", work)
        log.debug("postgres: accepted %s of %s", key_id, env_name)

    def revoke(self, env_name: str, key_id: str, at: dt.datetime | None = None) -> None:
        def work(cur: psycopg.Cursor[Any]) -> None:
            record = self._locked(cur, env_name, key_id)
            if record is None:
                raise BackendError(f"postgres: {env_name}: no key {key_id}")
            changed = plan_revoke(record, at, utcnow())
            self._write_states(cur, [changed] if changed else [])

        self._run(f"revoking key {key_id} of {env_name}", work)
        log.debug("postgres: revoked %s of %s (at %s)", key_id, env_name, at)

    def remove_pending(self, env_name: str, key_id: str) -> None:
        def work(cur: psycopg.Cursor[Any]) -> None:
            if must_remove(self._locked(cur, env_name, key_id), env_name, key_id):
                cur.execute(
                    self._sql("DELETE FROM {table} WHERE env = %s AND key_id = %s"), (env_name, key_id)
                )

        self._run(f"removing pending key {key_id} of {env_name}", work)
        log.debug("postgres: removed pending %s of %s (if it was there)", key_id, env_name)

    def copy_in(self, record: KeyRecord) -> None:
        import psycopg

        row = _row(record)
        insert = self._sql(f"INSERT INTO {{table}} ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(row))})")

        def work(cur: psycopg.Cursor[Any]) -> None:
            found = self._locked(cur, record.env, record.key_id)
            actives = self._active_of(cur, record) if found is None and record.status == ACTIVE else []
            if not plan_copy([r for r in (found, *actives) if r is not None], record):
                return
            try:
                cur.execute(insert, row)
            except psycopg.errors.UniqueViolation:
                raise BackendError(
                    f"postgres: {record.env}: key {record.key_id} (or another active {record.name!r} key) "
                    "appeared meanwhile"
                ) from None

        self._run(f"copying key {record.key_id} of {record.env}", work)
        log.debug("postgres: copied %s of %s (%s)", record.key_id, record.env, record.status)

    def drop_copy(self, record: KeyRecord) -> None:
        def work(cur: psycopg.Cursor[Any]) -> None:
            if plan_drop(self._locked(cur, record.env, record.key_id), record):
                cur.execute(
                    self._sql("DELETE FROM {table} WHERE env = %s AND key_id = %s"),
                    (record.env, record.key_id),
                )

        self._run(f"removing the copy of {record.key_id} of {record.env}", work)

    def _active_of(self, cur: psycopg.Cursor[Any], record: KeyRecord) -> Records:
        query = f"SELECT {_COLUMNS} FROM {{table}} WHERE env = %s AND name = %s AND status = 'active'"
        cur.execute(self._sql(query), (record.env, record.name))
        return [_record(row) for row in cur.fetchall()]

    def list(self, env_name: str) -> list[KeyRecord]:
        def work(cur: psycopg.Cursor[Any]) -> Records:
            query = f"SELECT {_COLUMNS} FROM {{table}} WHERE env = %s ORDER BY created, seq"
            cur.execute(self._sql(query), (env_name,))
            return [_record(row) for row in cur.fetchall()]

        return self._run(f"reading the keys of {env_name}", work, write=False)

    def verify(self, env_name: str, fingerprint: str, now: dt.datetime | None = None) -> str:
        return verdict(self.list(env_name), fingerprint, now or utcnow())

    def health(self) -> str:
        def work(cur: psycopg.Cursor[Any]) -> tuple[str, str, str, str]:
            cur.execute("SELECT current_setting('server_version'), current_database(), current_user")
            version, database, user = cur.fetchone() or ("?", "?", "?")
            where = f"{cur.connection.info.host}:{cur.connection.info.port}"
            return shown(version, _SERVER_VERSION), shown(database, _NAME), shown(user, _NAME), where

        version, database, user, where = self._run("checking its health", work, write=False)
        return (
            f"postgres: PostgreSQL {version} at {where}, database {database} as {user}, "
            f"table {self.schema}.{self.table} (schema v{SCHEMA_VERSION})"
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _run(self, what: str, work: Callable[[psycopg.Cursor[Any]], T], write: bool = True) -> T:
        """`work(cursor)` in one transaction on a new connection, bounded in wall-clock time
        (`deadline.request`) and on the server (`_bounded_on_the_server`); driver errors become
        BackendError. A write cut off by the bound may still commit: WriteUnconfirmed. Once this
        thread leaves (the bound, or Ctrl-C: the request's thread goes on), the work is rolled back
        when it reaches its commit."""
        fate = _Fate(time.monotonic() + deadline.MAX_REQUEST_SECONDS)
        transaction = functools.partial(self._transaction, work, write, fate)
        try:
            # settle=False: Ctrl-C leaves at once; the transaction left behind rolls back itself.
            return deadline.request("postgres: the database", what, transaction, write, settle=False)
        except WriteInFlight as err:
            if fate.give_up():
                raise  # its COMMIT under way: it may still land
            raise BackendError(f"{err}: rolled back, nothing changed") from None
        except KeyboardInterrupt as err:
            if fate.give_up() and write and not isinstance(err, InterruptedInFlight):
                raise InterruptedInFlight(
                    f"interrupted with a write to postgres: the database ({what}) still under way: "
                    "its COMMIT was sent, it may still land"
                ) from None
            raise
        except BaseException:
            fate.give_up()
            raise

    def _transaction(self, work: Callable[[psycopg.Cursor[Any]], T], write: bool, fate: _Fate) -> T:
        """A write refuses a standby: a revocation there would fail, or worse land nowhere visible.
        A COMMIT sent whose answer never came (the connection lost or ended) may have landed: a
        WriteUnconfirmed, so a rotation undoes it too, never a plain outage. Once the caller has
        given up (or the bound passed: `fate`) the work is rolled back, not committed: its
        undoing may have run already, and must not be outlived by the write it undid."""
        import psycopg

        with _translated(), self._connect() as conn:
            if not self._ready:
                self._ensure_schema(conn)
            with conn.cursor() as cur:
                _bounded_on_the_server(cur)
                if write:
                    _refuse_standby(cur)
                result = work(cur)
            if not fate.may_commit():
                raise BackendError("postgres: the request was given up before its commit: rolled back")
            try:
                conn.commit()
            except psycopg.OperationalError as err:
                if not write:
                    raise
                raise WriteUnconfirmed(
                    f"postgres: the database did not confirm the commit ({_first_line(err)}): "
                    "it may have been written; not counted as done"
                ) from None
            return result

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        conninfo, own = self.source.settings()  # #17: this environment's conninfo and passfile
        settings: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            "application_name": "sealer",
            **own,
        }
        if self.service:
            settings["service"] = self.service
        settings.update(_password_never_in_clear(conninfo, self.service))
        try:
            return psycopg.connect(conninfo, **settings)
        except psycopg.OperationalError as err:
            raise BackendError(f"postgres: cannot reach the database: {_first_line(err)}") from None

    def _sql(self, template: str) -> psycopg.sql.Composed:
        from psycopg import sql

        return sql.SQL(template).format(
            table=sql.Identifier(self.schema, self.table),
            version_table=sql.Identifier(self.schema, VERSION_TABLE),
            one_active=sql.Identifier(f"{self.table}_one_active"),
            status_check=sql.Identifier(f"{self.table}_status_check"),
            schema=sql.Identifier(self.schema),
        )

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        """Bring the table to SCHEMA_VERSION; a role with only row privileges skips all DDL
        once the table is current."""
        with conn.transaction(), conn.cursor() as cur:
            _bounded_on_the_server(cur)
            if self._schema_version(cur) != SCHEMA_VERSION:
                cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self._lock_name(),))
                self._migrate(cur)
        self._ready = True

    def _schema_version(self, cur: psycopg.Cursor[Any]) -> int:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{self.schema}.{VERSION_TABLE}",))
        if not (row := cur.fetchone()) or not row[0]:
            return 0
        cur.execute(self._sql("SELECT version FROM {version_table} WHERE table_name = %s"), (self.table,))
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,))
        if cur.fetchone() is None:
            cur.execute(self._sql("CREATE SCHEMA {schema}"))
        cur.execute(
            self._sql(
                "CREATE TABLE IF NOT EXISTS {version_table} (table_name text PRIMARY KEY, "
                "version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        current = self._schema_version(cur)
        if current > SCHEMA_VERSION:
            raise BackendError(
                f"postgres: table {self.schema}.{self.table} has schema v{current}, newer than this "
                f"sealer knows (v{SCHEMA_VERSION}): upgrade sealer"
            )
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                cur.execute(self._sql(statement))
        cur.execute(
            self._sql(
                "INSERT INTO {version_table} (table_name, version) VALUES (%s, %s) ON CONFLICT (table_name) "
                "DO UPDATE SET version = EXCLUDED.version, applied_at = now()"
            ),
            (self.table, SCHEMA_VERSION),
        )
        log.debug("postgres: %s.%s at schema v%d (was v%d)", self.schema, self.table, SCHEMA_VERSION, current)

    def _lock_name(self) -> str:
        return f"sealer:{self.schema}.{self.table}"

    def _locked(self, cur: psycopg.Cursor[Any], env_name: str, key_id: str) -> KeyRecord | None:
        cur.execute(
            self._sql(f"SELECT {_COLUMNS} FROM {{table}} WHERE env = %s AND key_id = %s FOR UPDATE"),
            (env_name, key_id),
        )
        row = cur.fetchone()
        return _record(row) if row else None

    def _write_states(self, cur: psycopg.Cursor[Any], changes: Records) -> None:
        """Status and revoke_at of each changed record, in the given order."""
        statement = self._sql("UPDATE {table} SET status = %s, revoke_at = %s WHERE env = %s AND key_id = %s")
        for change in changes:
            cur.execute(statement, (change.status, change.revoke_at, change.env, change.key_id))


class _Fate:
    """Whether a transaction's COMMIT is sent, decided once against its caller giving up (or
    its bound passing): a transaction given up before it never commits."""

    def __init__(self, bound: float) -> None:
        self._lock = threading.Lock()
        self._bound = bound
        self._given_up = self._committing = False

    def may_commit(self) -> bool:
        with self._lock:
            self._committing = not self._given_up and time.monotonic() < self._bound
            return self._committing

    def give_up(self) -> bool:
        """The caller leaves; True when the COMMIT was sent already (it may land)."""
        with self._lock:
            self._given_up = True
            return self._committing


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """psycopg's errors as one-line BackendErrors. libpq quotes a conninfo URI it cannot parse
    whole, password too: the CLI hides it as every error line's credentials (`cli.shown`)."""
    import psycopg

    try:
        yield
    except psycopg.errors.ReadOnlySqlTransaction:
        raise BackendError(f"postgres: the session is read-only (a standby?): {_TO_PRIMARY}") from None
    except psycopg.OperationalError as err:
        raise BackendError(f"postgres: cannot use the database: {_first_line(err)}") from None
    except psycopg.Error as err:
        raise BackendError(f"postgres: {type(err).__name__}: {_first_line(err)}") from None


_TO_PRIMARY = "sealer writes to the primary only: point PGHOST or the service at it"


def _bounded_on_the_server(cur: psycopg.Cursor[Any]) -> None:
    """The server's own bounds for this transaction, so it stops too when sealer gave up on it
    (`deadline.request` leaves the request's thread behind): a statement, a wait for a lock, and
    the transaction left idle each end within twice the request bound (sealer gives up first
    and says so in its own words)."""
    bound = f"{int(deadline.MAX_REQUEST_SECONDS * 2000)}ms"
    cur.execute(
        "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
        "set_config('idle_in_transaction_session_timeout', %s, true)",
        (bound, bound, bound),
    )


def _refuse_standby(cur: psycopg.Cursor[Any]) -> None:
    """Revocations must reach the primary, where every verifier reading it sees them at once."""
    cur.execute("SELECT pg_is_in_recovery()")
    row = cur.fetchone()
    if row and row[0]:
        where = f"{cur.connection.info.host}:{cur.connection.info.port}"
        raise BackendError(f"postgres: {where} is a standby (in recovery): {_TO_PRIMARY}")


def _first_line(err: BaseException) -> str:
    """The first line of the server's error; a sealer key it quotes (a value echoed back) redacted."""
    from sealer import apikey

    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return apikey.redact(lines[0]) if lines else type(err).__name__


# What `backend check` shows of what the server names (its version, database and user), each only
# when so shaped, else `?`: the server may be a pull request's, and a line break or an escape
# sequence there would forge a line of the output. `16.2 (Debian 16.2-1.pgdg120+2)` is a version.
_SERVER_VERSION = re.compile(r"[0-9][0-9A-Za-z .+~_()-]{0,79}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.$@-]{0,62}")


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise BadInput(f"postgres: {what} name {value!r} is not valid: use lowercase letters, digits and _")
    return value


def _timeout(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise BadInput(f"postgres: connect_timeout {value!r} is not a whole number of seconds")
    return int(value)


def _row(record: KeyRecord) -> tuple[Any, ...]:
    return (
        record.env,
        record.name,
        record.key_id,
        record.fingerprint,
        parse_iso(record.created),
        parse_iso(record.expires),
        record.status,
        record.actor,
        parse_iso(record.revoke_at),
        list(record.sealed_with),
    )


def _record(row: Sequence[Any]) -> KeyRecord:
    """A row as KeyRecord; BackendError for one no rule reads (a DBA dropped a constraint and
    wrote a NULL time, or a status sealer never gives)."""
    try:
        record = _fields(row)
    except (AttributeError, TypeError, ValueError):
        raise BackendError(f"postgres: the key table holds a row sealer cannot read (key {row[2]})") from None
    if record.status not in STATUSES:
        raise BackendError(f"postgres: the key table holds a row sealer cannot read (key {record.key_id})")
    return record


def _fields(row: Sequence[Any]) -> KeyRecord:
    env, name, key_id, fingerprint, created, expires, status, actor, revoke_at, sealed_with = row
    return KeyRecord(
        env=env,
        name=name,
        key_id=key_id,
        fingerprint=fingerprint,
        created=created.astimezone(dt.timezone.utc),
        expires=_utc(expires),
        status=status,
        actor=actor,
        revoke_at=_utc(revoke_at),
        sealed_with=tuple(sealed_with),
    )


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.astimezone(dt.timezone.utc) if moment else None


# libpq's default `sslmode=prefer` lets whoever sits on the way decline TLS and ask for the
# password in clear (`password`) or as an MD5 it can attack offline. Unless the connection
# verifies the server (`verify-full`) or names its own `require_auth`, sealer refuses both:
# SCRAM, certificates, Kerberos and trust still work. libpq before 16 has no such setting.
_WEAK_PASSWORDS = "!password,!md5"


def _password_never_in_clear(conninfo: str, service: str | None = None) -> dict[str, str]:
    from psycopg import pq
    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(conninfo)
    sslmode = given.get("sslmode") or os.environ.get("PGSSLMODE")
    if pq.version() < 160000 or "require_auth" in given or os.environ.get("PGREQUIREAUTH"):
        return {}
    if sslmode == "verify-full" or _unix_sockets_only(given, service):
        return {}
    return {"require_auth": _WEAK_PASSWORDS}


def _unix_sockets_only(given: dict[str, Any], service: str | None) -> bool:
    """Whether every host named is a Unix-domain socket (a directory, or `@` for Linux's abstract
    namespace): nothing sits on the way there and TLS cannot be had, so a local `md5` or
    `password` line of pg_hba.conf keeps working. Not when a service file may name another host
    or an address (`hostaddr` wins over `host`). No host at all, or an empty one in a list, is
    libpq's default: its socket directory on POSIX systems, localhost over TCP on Windows
    (libpq's documentation of `host`)."""
    if service or given.get("service") or os.environ.get("PGSERVICE"):
        return False
    if given.get("hostaddr") or os.environ.get("PGHOSTADDR"):
        return False
    hosts = str(given.get("host") or os.environ.get("PGHOST") or "").split(",")
    return all(host.startswith(("/", "@")) or (not host and os.name == "posix") for host in hosts)
