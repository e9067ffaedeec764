"""`dynamodb` store: one table, through boto3, for AWS deployments.

Credentials come from the AWS chain (environment, shared files, SSO, instance or task roles),
or from the environment's credential source (#17: a profile, or a role assumed with STS; each
environment gets a boto3 session of its own, never the shared default one). sealer.yaml names
the `table`, `region`, `endpoint_url`, and may set `max_attempts` (botocore's attempts per
call, the first included; like AWS_MAX_ATTEMPTS) and `create_table` ("false" to refuse
creating a missing table).

Layout: string keys `pk` (hash) and `sk` (range), on-demand billing.

    pk = <env>  sk = key#<key_id>    one item per key record: KeyRecord's fields and `seq`
    pk = <env>  sk = active#<name>   the guard of (env, name): `key_id` of its active key, "" if none

One partition per environment, so listing is a Query. Register is a Put conditioned on the
item being new. Every other change is one TransactWriteItems conditioned on the state each
item had when read (status and revoke_at of records, key_id of the guard); a change of the
active key always writes the guard, so two activations of one (env, name) conflict in the
database and at most one key is active. A cancelled transaction changed nothing; the store
re-reads and re-plans a few times, so a lost race ends in the rules' own error (e.g. "is
revoked: only a pending key can be activated").
A committed write is read back (one BatchGetItem with ConsistentRead of the items it wrote):
an endpoint that answers 200 without storing is an error, never a change done.

The table is created on first use when missing (needs dynamodb:CreateTable); `create_table`
creates it ahead of time for accounts where sealer may not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sealer import deadline, headers
from sealer.backends.base import reading_back
from sealer.backends.credentials import AWS_NO_REGION, AwsSource, url_problem
from sealer.errors import BackendError, BadInput, WriteUnconfirmed
from sealer.records import (
    ACTIVE,
    PENDING,
    GraceEnds,
    KeyRecord,
    from_store,
    iso,
    must_remove,
    plan_accept,
    plan_activate,
    plan_copy,
    plan_drop,
    plan_revoke,
    utcnow,
    verdict,
)
from sealer.strictjson import TOO_DEEP

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_TABLE = "sealer-keys"
KEY_PREFIX = "key#"
GUARD_PREFIX = "active#"
CONFLICT_ATTEMPTS = 5  # re-reads after a cancelled transaction before giving up
# A Query page holds up to 1 MB: an environment's records (a few hundred bytes each) fill a few
# pages. An endpoint that keeps naming a next page (endpoint_url may be a pull request's) would
# otherwise be read for ever.
MAX_PAGES = 1000
_CONFLICTS = ("TransactionCanceledException", "TransactionConflictException")

Item = dict[str, Any]
Records = list[KeyRecord]  # `list` is a method name in the store class
Writes = list[Item]


class DynamoStore:
    kind: ClassVar[str] = "dynamodb"

    def __init__(self, options: dict[str, str], repo: Path, *, source: AwsSource | None = None) -> None:
        self.source = source or AwsSource()
        self.table = options.get("table", DEFAULT_TABLE)
        self.region = options.get("region")
        self.endpoint_url = _endpoint(options.get("endpoint_url"))
        self.max_attempts = _whole(options.get("max_attempts", "3"), "max_attempts")
        self.may_create = options.get("create_table", "true").lower() not in ("false", "no", "0")
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._ready = False

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client (thread-safe; made once)."""
        return self._made_client()

    def _made_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                from botocore.config import Config

                config = Config(
                    retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=15,
                )
                # Getting credentials may ask STS, a metadata or SSO endpoint: bounded like a request.
                fetching = f"dynamodb: {self._env()}AWS ({self.source.describe()})"
                with self._translated(f"credentials from {self.source.describe()}"):
                    session = deadline.request(
                        fetching, "fetching credentials", lambda: self.source.session(self.region)
                    )
                with self._translated():
                    self._client = deadline.request(
                        fetching,
                        "fetching credentials",
                        lambda: session.client(
                            "dynamodb", region_name=self.region, endpoint_url=self.endpoint_url, config=config
                        ),
                    )
                self._client.meta.events.register("needs-retry.dynamodb", _note_attempt)
                self._client.meta.events.register("before-send.dynamodb", self._sendable)
            return self._client

    def _sendable(self, request: Any, **_: Any) -> None:
        """A credential a header cannot carry (a session token ending in a line break) refused
        before it is sent: botocore's HTTPClientError quotes http.client's error, the value whole."""
        headers.refuse_unsendable(request.headers, f"dynamodb: {self._env()}AWS ({self.source.describe()})")

    def create_table(self) -> None:
        """Create the key table and wait until it is usable (an existing table is fine); the
        request, then the wait, each within the one request bound (`deadline.request`)."""
        client, table = self.client, self.table
        try:
            self._bounded(
                f"creating table {table}",
                lambda: client.create_table(
                    TableName=table,
                    AttributeDefinitions=[
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ],
                    KeySchema=[
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                ),
            )
            log.debug("dynamodb: created table %s", table)
        except client.exceptions.ResourceInUseException:
            pass  # another first user created it
        wait = client.get_waiter("table_exists").wait
        config = {"Delay": 2, "MaxAttempts": max(1, int(deadline.MAX_REQUEST_SECONDS // 2))}
        self._bounded(
            f"waiting for table {table} to be created", lambda: wait(TableName=table, WaiterConfig=config)
        )

    def register(self, record: KeyRecord) -> None:
        item = _item(record.with_status(PENDING), time.time_ns())
        what, put = f"registering {record.key_id}", [{"Put": {"TableName": self.table, "Item": item}}]
        with self._translated():
            self._ensure_table()
            try:
                self._write(
                    what,
                    lambda: self.client.put_item(
                        TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                    ),
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                # botocore retries a put whose answer was lost: the item there may be that put's
                if not self._held(put, what):
                    raise BackendError(
                        f"dynamodb: {record.env}: key {record.key_id} exists already"
                    ) from None
            else:
                self._confirm(put, what)
        log.debug("dynamodb: registered %s for %s/%s", record.key_id, record.env, record.name)

    def activate(self, env_name: str, name: str, key_id: str, revoke_previous_at: GraceEnds) -> None:
        def writes() -> Writes:
            records, guards = self._partition(env_name)
            changes = plan_activate(records, env_name, name, key_id, revoke_previous_at, utcnow())
            if not changes:
                return []
            before = {record.key_id: record for record in records}
            updates = [self._state_write(before[change.key_id], change) for change in changes]
            return [*updates, self._guard_write(env_name, name, guards.get(name), key_id)]

        self._commit(writes, f"activating {key_id} of {env_name}")
        log.debug("dynamodb: activated %s for %s/%s", key_id, env_name, name)

    def accept(self, env_name: str, key_id: str) -> None:
        def writes() -> Writes:
            records, _ = self._partition(env_name)
            record = next((known for known in records if known.key_id == key_id), None)
            changed = plan_accept(record, env_name, key_id)
            return [self._state_write(record, changed)] if record and changed else []

        self._commit(writes, f"accepting {key_id} of {env_name}")
        log.debug("dynamodb: accepted %s of %s", key_id, env_name)

    def revoke(self, env_name: str, key_id: str, at: dt.datetime | None = None) -> None:
        def writes() -> Writes:
            records, guards = self._partition(env_name)
            record = next((known for known in records if known.key_id == key_id), None)
            if record is None:
                raise BackendError(f"dynamodb: {env_name}: no key {key_id}")
            changed = plan_revoke(record, at, utcnow())
            if changed is None:
                return []
            updates = [self._state_write(record, changed)]
            if record.status == ACTIVE:  # the active key goes: so does the guard's hold on it
                updates.append(self._guard_write(env_name, record.name, guards.get(record.name), ""))
            return updates

        self._commit(writes, f"revoking {key_id} of {env_name}")
        log.debug("dynamodb: revoked %s of %s (at %s)", key_id, env_name, at)

    def remove_pending(self, env_name: str, key_id: str) -> None:
        def writes() -> Writes:
            records, _ = self._partition(env_name)
            record = next((known for known in records if known.key_id == key_id), None)
            if not must_remove(record, env_name, key_id):
                return []
            return [
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": _key(env_name, KEY_PREFIX + key_id),
                        "ConditionExpression": "#s = :pending",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":pending": {"S": PENDING}},
                    }
                }
            ]

        self._commit(writes, f"removing {key_id} of {env_name}")

    def copy_in(self, record: KeyRecord) -> None:
        def writes() -> Writes:
            records, guards = self._partition(record.env)
            if not plan_copy(records, record):
                return []
            put: Item = {
                "TableName": self.table,
                "Item": _item(record, time.time_ns()),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
            if record.status != ACTIVE:
                return [{"Put": put}]
            return [
                {"Put": put},
                self._guard_write(record.env, record.name, guards.get(record.name), record.key_id),
            ]

        self._commit(writes, f"copying {record.key_id} of {record.env}")

    def drop_copy(self, record: KeyRecord) -> None:
        def writes() -> Writes:
            records, guards = self._partition(record.env)
            found = next((known for known in records if known.key_id == record.key_id), None)
            if not plan_drop(found, record):
                return []
            delete: Item = {
                "TableName": self.table,
                "Key": _key(record.env, KEY_PREFIX + record.key_id),
                "ConditionExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": record.status}},
            }
            if record.status != ACTIVE:
                return [{"Delete": delete}]
            return [
                {"Delete": delete},
                self._guard_write(record.env, record.name, guards.get(record.name), ""),
            ]

        self._commit(writes, f"removing the copy of {record.key_id} of {record.env}")

    def list(self, env_name: str) -> list[KeyRecord]:
        return self._partition(env_name)[0]

    def verify(self, env_name: str, fingerprint: str, now: dt.datetime | None = None) -> str:
        return verdict(self.list(env_name), fingerprint, now or utcnow())

    def health(self) -> str:
        with self._translated():
            try:
                table = self._describe().get("Table")
            except self.client.exceptions.ResourceNotFoundException:
                missing = "does not exist yet (created on first use)"
                return f"dynamodb: table {self.table} {missing} at {self._where()}"
        status = table.get("TableStatus") if isinstance(table, dict) else None
        if not isinstance(status, str) or not _TABLE_STATUS.fullmatch(status):  # a line break forges a line
            raise BackendError(
                f"dynamodb: {self._env()}table {self.table}: {self._where()} answered DescribeTable "
                "without the table's status: not read"
            )
        return f"dynamodb: table {self.table} is {status} at {self._where()}"

    # -- plumbing ---------------------------------------------------------------------------

    def _where(self) -> str:
        if self.endpoint_url or self._client is None:  # no client yet: still getting credentials
            return self.endpoint_url or f"region {self.region or '(default)'}"
        return f"region {self.client.meta.region_name}"

    def _bounded(self, what: str, call: Callable[[], T], writes: bool = False) -> T:
        self._made_client()  # first: fetching credentials is bounded on its own, and says so
        return deadline.request(f"dynamodb: {self._where()}", what, call, writes)

    def _write(self, what: str, call: Callable[[], T]) -> T:
        """One write request (botocore retrying in it). A failure that may have reached the table
        is a WriteUnconfirmed; any other (never sent; a condition or a conflict refused) passes
        on, for the caller to handle or translate."""
        from botocore.exceptions import ClientError

        landed: list[bool] = []

        def attempts() -> T:
            _ATTEMPTS.landed = landed  # what botocore's attempts (retries) in this call note
            return call()

        try:
            return self._bounded(what, attempts, writes=True)
        except Exception as err:
            # An earlier attempt may have landed though the last one never connected; a last
            # one the table refused (a condition, a conflict) is the caller's to read.
            if not (_may_have_landed(err) or (landed and not isinstance(err, ClientError))):
                raise
            with self._translated(error=WriteUnconfirmed):
                raise

    def _describe(self) -> Any:
        return self._bounded(
            f"describing table {self.table}", lambda: self.client.describe_table(TableName=self.table)
        )

    @contextlib.contextmanager
    def _translated(self, what: str = "", error: type[BackendError] = BackendError) -> Iterator[None]:
        """botocore's errors as one-line BackendErrors (about the table, or `what`), or `error`s."""
        what = what or f"table {self.table}"
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoRegionError
        from botocore.exceptions import ConnectionError as Unreachable

        try:
            yield
        except NoRegionError:  # botocore's "You must specify a region." says not where to
            raise error(f"dynamodb: {self._env()}{AWS_NO_REGION}") from None
        except (Unreachable, HTTPClientError) as err:
            raise error(f"dynamodb: cannot reach {self._where()}: {_first_line(str(err))}") from None
        except ClientError as err:
            said = err.response.get("Error", {})
            code, message = said.get("Code", "Error"), _first_line(said.get("Message", ""))
            raise error(f"dynamodb: {self._env()}{what}: {code}: {message}") from None
        except BotoCoreError as err:
            raise error(f"dynamodb: {self._env()}{what}: {_first_line(str(err))}") from None
        except RecursionError:  # json's, in botocore's parser: an answer nested past its depth
            raise error(f"dynamodb: {self._env()}{what}: {self._where()} {TOO_DEEP}") from None
        except (AttributeError, TypeError, KeyError, ValueError) as err:
            if not _unreadable(err):
                raise
            raise error(f"dynamodb: {self._env()}{what}: {self._where()} {_WRONG_SHAPE}") from None

    def _env(self) -> str:
        return f"{self.source.env}: " if self.source.env else ""

    def _ensure_table(self) -> None:
        if self._ready:
            return
        try:
            self._describe()
        except self.client.exceptions.ResourceNotFoundException:
            if not self.may_create:
                missing = f"dynamodb: table {self.table} does not exist and create_table is off"
                raise BackendError(missing) from None
            self.create_table()
        self._ready = True

    def _partition(self, env_name: str) -> tuple[Records, dict[str, str]]:
        """Every record of `env` (oldest first) and its guards (name -> active key id)."""
        rows: list[tuple[KeyRecord, int]] = []
        guards: dict[str, str] = {}
        with self._translated():
            self._ensure_table()
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :env",
                ExpressionAttributeValues={":env": {"S": env_name}},
                ConsistentRead=True,
            )
            for item in self._bounded(
                f"reading the items of {env_name}", lambda: list(_items(pages, self.table))
            ):
                try:
                    sort_key = item["sk"]["S"]
                    if sort_key.startswith(KEY_PREFIX):
                        rows.append((_record(item), int(item["seq"]["N"])))
                    elif sort_key.startswith(GUARD_PREFIX):
                        guards[sort_key[len(GUARD_PREFIX) :]] = str(item["key_id"]["S"])
                except (KeyError, TypeError, ValueError, AttributeError):  # a hand edit, another tool
                    raise BackendError(
                        f"dynamodb: table {self.table} holds an item of {env_name} sealer cannot read"
                    ) from None
        rows.sort(key=lambda row: (row[0].created, row[1]))
        return [record for record, _ in rows], guards

    def _commit(self, plan: Callable[[], Writes], what: str) -> None:
        """Run `plan()` (read, decide, list the writes) and commit its writes in one
        transaction; re-plan when a concurrent writer cancelled it."""
        for _ in range(CONFLICT_ATTEMPTS):
            writes = plan()
            if not writes or self._transact(writes, what):
                return
        raise BackendError(
            f"dynamodb: {what} kept conflicting with other writers; nothing changed, try again"
        )

    def _transact(self, writes: Writes, what: str) -> bool:
        """True when committed (and read back), False when cancelled by a condition or a conflict."""
        from botocore.exceptions import ClientError

        with self._translated():
            try:
                self._write(what, lambda: self.client.transact_write_items(TransactItems=writes))
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in _CONFLICTS:
                    raise
                log.debug("dynamodb: transaction cancelled (%s), re-reading", _reasons(err))
                return False
            self._confirm(writes, what)
        return True

    def _confirm(self, writes: Writes, what: str) -> None:
        """One strongly consistent read of every item `writes` touched: a proxy or a fake
        endpoint may answer 200 `{}` without storing anything, and a change the table does not
        hold must never count as done."""
        if not self._held(writes, what):
            raise WriteUnconfirmed(
                f"dynamodb: {self._env()}{what}: the table does not hold what was written (or another "
                "writer changed it since): not counted as done; read the store again before relying on it"
            )

    def _held(self, writes: Writes, what: str) -> bool:
        """Whether the table, read strongly consistent, holds what each of `writes` wrote (a
        read that fails: WriteUnconfirmed)."""
        keys = [_written_key(write) for write in writes]
        with reading_back(), self._translated():
            held = self._consistent_items(keys, what)
        return all(_holds(held.get(_key_id(key)), write) for key, write in zip(keys, writes, strict=True))

    def _consistent_items(self, keys: Writes, what: str) -> dict[tuple[str, str], Item]:
        """The items at `keys` (at most 100: a transaction's bound) read with ConsistentRead."""
        held: dict[tuple[str, str], Item] = {}
        wanted = keys
        for _ in range(CONFLICT_ATTEMPTS):  # DynamoDB may leave keys unprocessed under load
            answer = self._bounded(
                f"reading back {what}",
                functools.partial(
                    self.client.batch_get_item,
                    RequestItems={self.table: {"Keys": wanted, "ConsistentRead": True}},
                ),
            )
            found, wanted = _batch_answer(answer, self.table)
            if found is None:  # no answer for the table at all reads as no item: a delete "confirmed"
                break
            held.update({_key_id(item): item for item in found})
            if not wanted:
                return held
        raise BackendError(
            f"dynamodb: {self._env()}{what}: the table could not be read back: not counted as done"
        )

    def _state_write(self, old: KeyRecord, new: KeyRecord) -> Item:
        """Status and revoke_at of `new`, on condition that the item still is `old`."""
        values = {":old": {"S": old.status}, ":new": {"S": new.status}}
        condition = "#s = :old AND " + (
            "revoke_at = :old_at" if old.revoke_at else "attribute_not_exists(revoke_at)"
        )
        if old.revoke_at:
            values[":old_at"] = {"S": iso(old.revoke_at) or ""}
        expression = "SET #s = :new REMOVE revoke_at"
        if new.revoke_at:
            expression = "SET #s = :new, revoke_at = :at"
            values[":at"] = {"S": iso(new.revoke_at) or ""}
        return {
            "Update": {
                "TableName": self.table,
                "Key": _key(new.env, KEY_PREFIX + new.key_id),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values,
            }
        }

    def _guard_write(self, env_name: str, name: str, seen: str | None, active: str) -> Item:
        """The guard of (env, name) set to `active`, on condition that it still is `seen`."""
        put: Item = {
            "TableName": self.table,
            "Item": {**_key(env_name, GUARD_PREFIX + name), "key_id": {"S": active}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if seen is not None:
            put["ConditionExpression"] = "key_id = :seen"
            put["ExpressionAttributeValues"] = {":seen": {"S": seen}}
        return {"Put": put}


# Per request thread (`bounded` runs each in its own): the list the attempts of a write note in.
_ATTEMPTS = threading.local()


def _note_attempt(caught_exception: Exception | None = None, response: Any = None, **_: Any) -> None:
    """botocore's question after each attempt (whether to retry it), answered by its own retry
    handler: here an attempt of a write that may have landed (answered 5xx, or its answer lost)
    is noted, so that a last attempt that never connected does not read as nothing sent."""
    landed = getattr(_ATTEMPTS, "landed", None)
    if landed is None:
        return
    status = getattr(response[0], "status_code", 0) if isinstance(response, tuple) and response else 0
    if (caught_exception is not None and _may_have_landed(caught_exception)) or status >= 500:
        landed.append(True)


def _may_have_landed(err: Exception) -> bool:
    """Whether a write that failed this way may have reached the table: its connection failed
    once open (a read timeout, closed before the answer: botocore's HTTPClientErrors), or it was
    answered 5xx (a proxy's, or DynamoDB's own InternalServerError, whose outcome AWS leaves
    open). A connection never made (refused, no such host, its TLS or connect timing out:
    botocore's ConnectionErrors) sent nothing."""
    from botocore.exceptions import ClientError, HTTPClientError

    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return isinstance(status, int) and status >= 500
    return isinstance(err, HTTPClientError) or _unreadable(err)  # answered: it reached the endpoint


_WRONG_SHAPE = "answered in a shape DynamoDB never gives: not read"
_TABLE_STATUS = re.compile(r"[A-Z][A-Z_]{0,63}")  # ACTIVE, CREATING, …


def _unreadable(err: BaseException) -> bool:
    """Whether `err` is botocore's parser meeting an answer of a shape DynamoDB never gives (a
    map where a list goes, a number for a list): it trusts the types an endpoint sends (one a
    pull request may name), so that is a TypeError or AttributeError raised inside it; JSON nested
    past json's depth is its RecursionError."""
    if isinstance(err, RecursionError):
        return True
    if not isinstance(err, (AttributeError, TypeError, KeyError, ValueError)):
        return False
    innermost = err.__traceback__
    while innermost is not None and innermost.tb_next is not None:
        innermost = innermost.tb_next
    return innermost is not None and innermost.tb_frame.f_globals.get("__name__") == "botocore.parsers"


def _items(pages: Iterable[Any], table: str) -> Iterator[Any]:
    """The items of a Query's pages, at most MAX_PAGES of them: more, or a page without its
    list of items, is an error, never a partial read."""
    for number, page in enumerate(pages):
        items = page.get("Items") if isinstance(page, dict) else None
        if number == MAX_PAGES or not isinstance(items, list):
            what = f"more than {MAX_PAGES} pages" if number == MAX_PAGES else "a page without items"
            raise BackendError(f"dynamodb: table {table} answered {what}: not read")
        yield from items


def _batch_answer(answer: Any, table: str) -> tuple[list[Item] | None, list[Item]]:
    """(items found, keys left unprocessed) of a BatchGetItem answer; None for the items when the
    answer does not list the table's (DynamoDB gives an empty list when none was found) or names
    keys left unprocessed in a shape not read."""
    responses = answer.get("Responses") if isinstance(answer, dict) else None
    found = responses.get(table) if isinstance(responses, dict) else None
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
        return None, []
    unprocessed = answer.get("UnprocessedKeys") or {}
    left = unprocessed.get(table) if isinstance(unprocessed, dict) else unprocessed
    if left is None:
        return found, []
    keys = left.get("Keys") if isinstance(left, dict) else None
    if not isinstance(keys, list):  # keys left unread, unnamed: none of them may read as gone
        return None, []
    return found, keys


def _written_key(write: Item) -> Item:
    """pk and sk of the item a TransactWriteItems entry (Put, Update or Delete) writes."""
    ((action, body),) = write.items()
    source = body["Item"] if action == "Put" else body["Key"]
    return {"pk": source["pk"], "sk": source["sk"]}


def _key_id(item: Item) -> tuple[str, str]:
    try:
        return str(item["pk"]["S"]), str(item["sk"]["S"])
    except (KeyError, TypeError):
        return "", ""  # an item without sealer's keys matches no write


def _holds(item: Item | None, write: Item) -> bool:
    """Does `item`, as read back, hold what `write` wrote? A Put its whole item, a Delete nothing,
    an Update (`_state_write`'s, the only kind sealer sends) its status and revoke_at."""
    ((action, body),) = write.items()
    if action == "Put":
        return item == body["Item"]
    if action == "Delete":
        return item is None
    values = body["ExpressionAttributeValues"]
    return (
        item is not None
        and item.get("status") == values[":new"]
        and item.get("revoke_at") == values.get(":at")
    )


def _key(env_name: str, sort_key: str) -> Item:
    return {"pk": {"S": env_name}, "sk": {"S": sort_key}}


def _item(record: KeyRecord, seq: int) -> Item:
    item: Item = {**_key(record.env, KEY_PREFIX + record.key_id), "seq": {"N": str(seq)}}
    for field, value in record.as_dict().items():
        if isinstance(value, list):
            item[field] = {"L": [{"S": str(entry)} for entry in value]}
        elif value is not None:
            item[field] = {"S": str(value)}
    return item


def _record(item: Item) -> KeyRecord:
    plain = {field: _plain(value) for field, value in item.items()}
    return from_store(plain)


def _plain(value: Item) -> Any:
    if "L" in value:
        return [_plain(entry) for entry in value["L"]]
    return value.get("S", value.get("N"))


def _reasons(err: Any) -> str:
    reasons = err.response.get("CancellationReasons") or []
    return ", ".join(str(reason.get("Code")) for reason in reasons) or "conflict"


def _first_line(text: str) -> str:
    """The first line of an error the endpoint (one a pull request may name) wrote: a sealer key
    it quotes is redacted, as every error line sealer prints is."""
    from sealer import apikey

    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return apikey.redact(lines[0]) if lines else "no details"


def _whole(value: str, what: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise BadInput(f"dynamodb: {what} {value!r} is not a whole number above 0")
    return int(value)


def _endpoint(url: str | None) -> str | None:
    """`endpoint_url` as sealer.yaml gives it (a pull request may have written it): the runner's
    AWS-signed requests, and the keys they carry, never go there in clear text."""
    problem = url_problem(url) if url is not None else None
    if problem:
        raise BadInput(f"dynamodb: endpoint_url {problem}")
    return url
