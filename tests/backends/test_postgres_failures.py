"""The `postgres` store's failure paths, against the throwaway PostgreSQL cluster: a COMMIT
whose answer is lost is a write of unknown fate (WriteUnconfirmed: a rotation removes what it
may have registered), and each request is bounded in wall-clock time by sealer and, for what
sealer leaves behind, by the server itself (statement, lock and idle-transaction timeouts)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import ENV as REPO_ENV
from support.backend_repos import Backend, configure, one_line_error, options_of, store_of
from support.cli import sealer
from support.git import git
from support.records import pending_key

from sealer.backends import KeyStore
from sealer.errors import BackendError, WriteInFlight, WriteUnconfirmed
from sealer.records import KeyRecord, utcnow

pytestmark = pytest.mark.slow

ENV = "dev"
NAME = "apiKey"
Step = Callable[[KeyStore, KeyRecord, KeyRecord], None]


def _keys() -> tuple[KeyRecord, KeyRecord]:
    return (
        pending_key(ENV, NAME, utcnow() - dt.timedelta(minutes=9))[1],
        pending_key(ENV, NAME, utcnow() - dt.timedelta(minutes=5))[1],
    )


def _activate_old(store: KeyStore, old: KeyRecord, new: KeyRecord) -> None:
    store.register(old)
    store.activate(ENV, NAME, old.key_id, None)
    store.register(new)


# operation -> (what is in the store before, the write whose COMMIT's answer is lost, what it then holds)
OPERATIONS: dict[str, tuple[Step, Step, Callable[[KeyRecord, KeyRecord], dict[str, str]]]] = {
    "register": (
        lambda s, old, new: None,
        lambda s, old, new: s.register(new),
        lambda old, new: {new.key_id: "pending"},
    ),
    "activate": (
        _activate_old,
        lambda s, old, new: s.activate(ENV, NAME, new.key_id, None),
        lambda old, new: {old.key_id: "revoked", new.key_id: "active"},
    ),
    "revoke": (
        _activate_old,
        lambda s, old, new: s.revoke(ENV, old.key_id),
        lambda old, new: {old.key_id: "revoked", new.key_id: "pending"},
    ),
}


def _connection_lost_after_commit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The next transaction that wrote is committed, then its connection ends (the server
    terminates the session) before sealer reads the answer: what a network cut or a server
    restart right after COMMIT looks like. Returns the list noting when it happened."""
    import psycopg

    commit = psycopg.Connection.commit
    happened: list[str] = []

    def committed_then_lost(conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("SELECT pg_current_xact_id_if_assigned()::text").fetchone()
        commit(conn)
        if row and row[0] is not None and not happened:
            happened.append(row[0])
            conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(psycopg.Connection, "commit", committed_then_lost)
    return happened


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_postgres_write_whose_commit_answer_is_lost_is_unconfirmed(
    postgres_store: Any, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    before, step, held = OPERATIONS[operation]
    old, new = _keys()
    before(postgres_store, old, new)
    lost = _connection_lost_after_commit(monkeypatch)
    with pytest.raises(WriteUnconfirmed) as caught:
        step(postgres_store, old, new)
    assert lost, "the write was never committed"
    assert str(caught.value).startswith("postgres: the database did not confirm the commit (")
    assert str(caught.value).endswith("it may have been written; not counted as done")
    assert "\n" not in str(caught.value)
    # it did land: "unknown fate", never "nothing changed"
    assert {r.key_id: r.status for r in postgres_store.list(ENV)} == held(old, new)


def test_postgres_read_whose_connection_is_lost_is_a_plain_outage(
    postgres_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    postgres_store.health()  # the table exists

    def lost(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(psycopg.Connection, "commit", lost)
    with pytest.raises(BackendError) as caught:
        postgres_store.list(ENV)
    assert not isinstance(caught.value, WriteUnconfirmed)
    assert str(caught.value).startswith("postgres: cannot use the database: ")


@pytest.fixture
def postgres_repo(backend_repo: Path, postgres_store: Any) -> Path:
    configure(backend_repo, Backend("postgres", options_of("postgres", postgres_store)))
    return backend_repo


def test_rotate_whose_registration_commit_answer_is_lost_removes_it(
    postgres_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL commits the first registration, then the connection ends before its answer:
    read as a plain outage, exit 2 said "nothing changed" with the pending record left behind.
    Of unknown fate, it is removed again."""
    head = git(postgres_repo, "rev-parse", "HEAD")
    lost = _connection_lost_after_commit(monkeypatch)
    line = one_line_error(sealer(postgres_repo, "rotate", REPO_ENV, "--no-branch"), 2)
    assert lost
    assert "did not confirm the commit" in line
    assert git(postgres_repo, "rev-parse", "HEAD") == head
    assert store_of(postgres_repo).list(REPO_ENV) == []


# -- each request bounded in wall-clock time, by sealer and by the server -----------------------


@pytest.fixture
def locked_table(postgres_store: Any) -> Iterator[Any]:
    """Another session holding an ACCESS EXCLUSIVE lock on the key table (a DBA's migration, a
    stuck session): every statement of sealer's on it waits."""
    import psycopg
    from psycopg import sql

    postgres_store.health()  # the table exists
    with psycopg.connect(application_name="blocker") as blocker:
        table = sql.Identifier(postgres_store.schema, postgres_store.table)
        blocker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
        yield blocker
        blocker.rollback()


def _sealer_sessions_waiting(observer: Any) -> int:
    row = observer.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sealer' AND wait_event_type = 'Lock'"
    ).fetchone()
    return int(row[0])


def _until(check: Callable[[], bool], seconds: float) -> bool:
    """Poll `check` every 50 ms for at most `seconds`."""
    ends = time.monotonic() + seconds
    while not check():
        if time.monotonic() > ends:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize(
    ("call", "what", "error"),
    [
        (lambda s: s.list(ENV), "reading the keys of dev", BackendError),
        (lambda s: s.register(_keys()[1]), "registering key", BackendError),  # never committed
    ],
    ids=["read", "write"],
)
def test_postgres_request_waiting_on_a_lock_is_cut_off_and_ended_by_the_server(
    postgres_store: Any,
    locked_table: Any,
    monkeypatch: pytest.MonkeyPatch,
    call: Callable[[Any], object],
    what: str,
    error: type[BackendError],
) -> None:
    """Without a bound the command would wait as long as the lock is held. sealer gives up
    after the request bound with one line (a write given up before its COMMIT: rolled back,
    nothing changed); the session it leaves behind is ended by the server's own timeouts (twice
    the bound), while the lock is still held."""
    import psycopg

    from sealer import deadline

    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 0.5)
    with pytest.raises(BackendError) as caught:
        call(postgres_store)
    assert type(caught.value) is error
    assert str(caught.value).startswith("postgres: the database did not answer within 0.5 seconds while ")
    assert what in str(caught.value)
    with psycopg.connect(autocommit=True) as observer:
        assert _sealer_sessions_waiting(observer) == 1
        assert _until(lambda: _sealer_sessions_waiting(observer) == 0, 5), "the server kept waiting"


def test_postgres_write_given_up_is_rolled_back_not_committed_later(
    postgres_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sealer gives up on a registration waiting for another session's insert of the same key
    to end; its rotation then removes the key (nothing is there yet). That session then rolls
    back, before the server's own bound: the registration left behind must not be committed
    after its undoing ran."""
    import psycopg
    from psycopg import sql

    from sealer import deadline

    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 0.5)
    record = _keys()[1]
    postgres_store.health()  # the table exists
    table = sql.Identifier(postgres_store.schema, postgres_store.table)
    with psycopg.connect(application_name="blocker") as blocker:
        blocker.execute(
            sql.SQL(
                "INSERT INTO {} (env, name, key_id, fingerprint, created, status) "
                "VALUES (%s, %s, %s, %s, now(), 'pending')"
            ).format(table),
            (ENV, NAME, record.key_id, record.fingerprint),
        )
        with pytest.raises(BackendError) as caught:
            postgres_store.register(record)
        assert not isinstance(caught.value, WriteUnconfirmed)  # never committed: nothing changed
        assert str(caught.value).endswith(
            f"while registering key {record.key_id} of {ENV}: rolled back, nothing changed"
        )
        postgres_store.remove_pending(ENV, record.key_id)  # the rotation's compensation: nothing there
        blocker.rollback()  # the session left behind goes on
    with psycopg.connect(autocommit=True) as observer:
        assert _until(lambda: _sealer_sessions(observer) == 0, 5), "the session left behind kept going"
    assert postgres_store.list(ENV) == []


def _sealer_sessions(observer: Any) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sealer'"
    return int(observer.execute(query).fetchone()[0])


def test_postgres_write_interrupted_is_rolled_back_not_committed_after_its_undoing(
    postgres_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a registration waits (here on another session's insert of the same key):
    the rotation's compensation runs at once and finds nothing to remove (exit 130, nothing
    changed). The request's thread, left behind well within its time bound, must roll back
    once it can go on, never commit the key after its undoing ran."""
    import signal
    import threading

    import psycopg
    from psycopg import sql

    from sealer import deadline

    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 30.0)
    record = _keys()[1]
    postgres_store.health()  # the table exists
    table = sql.Identifier(postgres_store.schema, postgres_store.table)
    main = threading.main_thread().ident
    assert main is not None
    with psycopg.connect(application_name="blocker") as blocker:
        blocker.execute(
            sql.SQL(
                "INSERT INTO {} (env, name, key_id, fingerprint, created, status) "
                "VALUES (%s, %s, %s, %s, now(), 'pending')"
            ).format(table),
            (ENV, NAME, record.key_id, record.fingerprint),
        )
        with psycopg.connect(autocommit=True) as observer:
            ctrl_c = threading.Thread(
                target=lambda: (
                    _until(lambda: _sealer_sessions_waiting(observer) == 1, 5)
                    and signal.pthread_kill(main, signal.SIGINT)
                )
            )
            ctrl_c.start()
            with pytest.raises(KeyboardInterrupt):
                postgres_store.register(record)
            ctrl_c.join()
        postgres_store.remove_pending(ENV, record.key_id)  # the rotation's compensation: nothing there
        blocker.rollback()  # the registration left behind goes on
    with psycopg.connect(autocommit=True) as observer:
        assert _until(lambda: _sealer_sessions(observer) == 0, 5), "the session left behind kept going"
    assert postgres_store.list(ENV) == []


def test_postgres_write_given_up_with_its_commit_under_way_may_still_land(
    postgres_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound passes while the COMMIT is on its way: sealer cannot know whether it lands (it
    then does), so it is a WriteInFlight, which a rotation reports as maybe left (exit 4)."""
    import threading

    import psycopg

    from sealer import deadline

    postgres_store.health()  # the table exists
    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 0.5)
    commit, released, landed = psycopg.Connection.commit, threading.Event(), threading.Event()

    def slow_commit(conn: psycopg.Connection[Any]) -> None:
        released.wait(10)  # the COMMIT's answer held up past the bound
        commit(conn)
        landed.set()

    monkeypatch.setattr(psycopg.Connection, "commit", slow_commit)
    record = _keys()[1]
    with pytest.raises(WriteInFlight) as caught:
        postgres_store.register(record)
    released.set()
    assert landed.wait(10)
    monkeypatch.setattr(psycopg.Connection, "commit", commit)
    assert str(caught.value).startswith("postgres: the database did not answer within 0.5 seconds while ")
    assert [r.key_id for r in postgres_store.list(ENV)] == [record.key_id]


def test_postgres_ctrl_c_with_its_commit_under_way_says_it_may_still_land(
    postgres_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C once the COMMIT was sent: it cannot be rolled back and may land after the
    rotation's undoing, so the interrupt says so (InterruptedInFlight: exit 4, the key named),
    never a plain Ctrl-C ("interrupted, nothing changed": 130)."""
    import signal
    import threading

    import psycopg

    from sealer.errors import InterruptedInFlight

    postgres_store.health()  # the table exists
    commit, committing = psycopg.Connection.commit, threading.Event()
    released, landed = threading.Event(), threading.Event()

    def slow_commit(conn: psycopg.Connection[Any]) -> None:
        committing.set()
        released.wait(10)  # the COMMIT's answer held up past Ctrl-C
        commit(conn)
        landed.set()

    monkeypatch.setattr(psycopg.Connection, "commit", slow_commit)
    main = threading.main_thread().ident
    assert main is not None

    def press() -> None:
        if committing.wait(10):
            signal.pthread_kill(main, signal.SIGINT)

    ctrl_c = threading.Thread(target=press)
    ctrl_c.start()
    record = _keys()[1]
    try:
        with pytest.raises(KeyboardInterrupt) as caught:  # a plain one would end pytest's run
            postgres_store.register(record)
    finally:
        ctrl_c.join()
        released.set()
    assert landed.wait(10)
    monkeypatch.setattr(psycopg.Connection, "commit", commit)
    assert isinstance(caught.value, InterruptedInFlight)
    assert str(caught.value).startswith("interrupted with a write to postgres: the database (")
    assert str(caught.value).endswith("still under way: its COMMIT was sent, it may still land")
    assert [r.key_id for r in postgres_store.list(ENV)] == [record.key_id]
