"""`k8s-secrets` store, the default: the key ledger in the repo, for air-gapped clusters.

The records are the ledger files (`sealer.ledger`), so register, activate and revoke are
ledger edits that the rotation commits. What a verifier reads is the key registry the ledger
gives (`sealer.registry`): committed beside the ledger (GitOps delivery, the default), or with
`delivery: direct` written through the Kubernetes API (`k8s_registry`) by each phase of a
rotation (`sealer.registry_delivery`), and by this store after every activation and revocation
it is asked for, a re-run included, so an interrupted one converges.
Writers on one machine are serialised by an exclusive `flock` on the ledger folder (a lock on
the folder survives the atomic renames of the files in it and leaves nothing behind in the
working tree).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from sealer import layout, ledger, registry, safeopen
from sealer.backends import k8s_registry
from sealer.errors import BackendError, BadInput, MissingExtra
from sealer.records import (
    PENDING,
    GraceEnds,
    KeyRecord,
    must_remove,
    oldest_first,
    plan_accept,
    plan_activate,
    plan_copy,
    plan_drop,
    plan_revoke,
    utcnow,
    verdict,
)

log = logging.getLogger(__name__)

Records = list[KeyRecord]  # `list` is a method name in the store classes


class K8sSecretsStore:
    kind: ClassVar[str] = "k8s-secrets"

    def __init__(self, options: dict[str, str], repo: Path) -> None:
        self.repo = Path(repo)
        self.direct: registry.Settings | None = None
        self.direct_env: str | None = None  # None: whichever environment it is asked about
        if options.get("delivery", registry.GITOPS) != registry.GITOPS:
            # sealer.yaml gives a direct delivery's options their registry namespace and name
            namespace, name = options.get("registry_namespace", ""), options.get("registry_name", "")
            self.direct = registry.settings(options, namespace, name)
            self.direct_env = options.get("registry_env")

    def register(self, record: KeyRecord) -> None:
        with self._editing(record.env) as records:
            if any(known.key_id == record.key_id for known in records):
                raise BackendError(f"k8s-secrets: {record.env}: key {record.key_id} is registered already")
            records.append(record.with_status(PENDING))
        log.debug("k8s-secrets: registered %s for %s/%s", record.key_id, record.env, record.name)

    def accept(self, env_name: str, key_id: str) -> None:
        with self._editing(env_name) as records:
            found = next((known for known in records if known.key_id == key_id), None)
            changed = plan_accept(found, env_name, key_id)
            _apply(records, [changed] if changed else [])

    def activate(self, env_name: str, name: str, key_id: str, revoke_previous_at: GraceEnds) -> None:
        with self._editing(env_name, publish=True) as records:
            _apply(records, plan_activate(records, env_name, name, key_id, revoke_previous_at, utcnow()))
        log.debug("k8s-secrets: activated %s for %s/%s", key_id, env_name, name)

    def revoke(self, env_name: str, key_id: str, at: dt.datetime | None = None) -> None:
        with self._editing(env_name, publish=True) as records:
            changed = plan_revoke(_find(records, env_name, key_id), at, utcnow())
            _apply(records, [changed] if changed else [])
        log.debug("k8s-secrets: revoked %s of %s (at %s)", key_id, env_name, at)

    def remove_pending(self, env_name: str, key_id: str) -> None:
        with self._editing(env_name) as records:
            record = next((known for known in records if known.key_id == key_id), None)
            if record is not None and must_remove(record, env_name, key_id):
                records.remove(record)
                log.debug("k8s-secrets: removed pending %s of %s", key_id, env_name)

    def copy_in(self, record: KeyRecord) -> None:
        with self._editing(record.env) as records:
            if plan_copy(records, record):
                records.append(record)

    def drop_copy(self, record: KeyRecord) -> None:
        with self._editing(record.env) as records:
            found = next((known for known in records if known.key_id == record.key_id), None)
            if plan_drop(found, record):
                records.remove(record)

    def list(self, env_name: str) -> list[KeyRecord]:
        return oldest_first(ledger.load_expected(self._checked_repo(), env_name))

    def verify(self, env_name: str, fingerprint: str, now: dt.datetime | None = None) -> str:
        return verdict(ledger.load_expected(self._checked_repo(), env_name), fingerprint, now or utcnow())

    def health(self) -> str:
        folder = self._checked_repo() / layout.LEDGER_DIR
        count = len(list(folder.glob("*.yaml"))) if folder.is_dir() else 0
        report = f"k8s-secrets: ledger in {folder} ({count} environment{'s' if count != 1 else ''})"
        if self.direct is not None:
            report += self._live_serials(self.direct)
        return report

    def _live_serials(self, direct: registry.Settings) -> str:
        parts = ""
        for context in direct.contexts or (None,):
            try:
                live = k8s_registry.read_live(direct, context)
            except MissingExtra:  # this machine lacks the client: said as for every store (exit 2)
                raise
            except BadInput as err:  # no kubeconfig, a malformed registry: a store that cannot be used
                raise BackendError(f"k8s-secrets: {err}") from None
            serial = f"serial {live.serial}" if live else "not written yet"
            where = f"{direct.kind} {direct.namespace}/{direct.name}"
            parts += f"; {where} in {context or 'the current context'}: {serial}"
        return parts

    def _checked_repo(self) -> Path:
        if not self.repo.is_dir():
            raise BackendError(f"k8s-secrets: repository folder {self.repo} does not exist")
        return self.repo

    @contextlib.contextmanager
    def _editing(self, env_name: str, publish: bool = False) -> Iterator[Records]:
        """The records of `env` under an exclusive lock; saved on exit when changed, then (with
        `publish`, in direct delivery) the registry written, still under the lock so that two
        writers publish in the order of their serials."""
        folder = layout.ledger_path(self._checked_repo(), env_name).parent
        try:
            handle = safeopen.open_dir(folder, create=True)  # #13: never a symlinked ledger/
        except OSError as err:
            raise BackendError(f"k8s-secrets: cannot open the ledger in {folder}: {err.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            records = ledger.load(self.repo, env_name)
            before = list(records)
            yield records
            if records != before:
                ledger.save(self.repo, env_name, records)
            if publish and self.direct is not None and self.direct_env in (None, env_name):
                k8s_registry.publish(self.direct, env_name, records)
        except OSError as err:
            raise BackendError(
                f"k8s-secrets: cannot write the ledger of {env_name}: {err.strerror}"
            ) from None
        finally:
            os.close(handle)  # releases the lock


def _find(records: list[KeyRecord], env_name: str, key_id: str) -> KeyRecord:
    for record in records:
        if record.key_id == key_id:
            return record
    raise BackendError(f"k8s-secrets: {env_name}: no key {key_id}")


def _apply(records: list[KeyRecord], changes: list[KeyRecord]) -> None:
    """Replace, in place and in order, each record that has a new version in `changes`."""
    new = {change.key_id: change for change in changes}
    records[:] = [new.get(record.key_id, record) for record in records]
