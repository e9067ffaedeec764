"""The checks a reviewer relies on, per environment and over the ledgers."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from sealer import apikey, hybrid, layout, provenance, state
from sealer.backends import DEFAULT_BACKEND
from sealer.config import Cluster, Environment
from sealer.durations import format_duration
from sealer.errors import SealerError
from sealer.records import (
    ACTIVE,
    GRACE,
    PENDING,
    KeyRecord,
    ciphertext_digest,
    digest_owners,
    iso,
    reviewed_grace,
)
from sealer.review import certset
from sealer.review.earlier import Earlier
from sealer.review.model import (
    DUPLICATE,
    HAND_EDIT,
    LEDGER_ONLY,
    MALFORMED,
    MISMATCH,
    NAME_CHANGE,
    NAMESPACE_CHANGE,
    PLAINTEXT,
    SCOPE_CHANGE,
    UNPINNED,
    Change,
    Finding,
)
from sealer.review.revisions import Side, clusters_of, current, encrypted


def value_problem(value: str, modulus_bytes: int | None) -> tuple[str, str] | None:
    """(finding code, why) when a sealed value is not ciphertext for the pinned key."""
    try:
        blob = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return PLAINTEXT, "is not base64: a plaintext value, not ciphertext"
    if apikey.holds_key(blob.decode("latin-1")):  # as redaction reads a key: escaped too (`slr\_…`)
        return PLAINTEXT, "holds a base64-encoded plaintext API key, not ciphertext"
    if base64.b64encode(blob).decode() != value:
        # the controller reads the same bytes from another spelling (unused bits of the last
        # character set): an older ciphertext respelt would escape every digest of it
        return HAND_EDIT, "is base64 no encoder writes (its last character's unused bits are set)"
    if not hybrid.looks_sealed(blob):
        return PLAINTEXT, "is not well-formed ciphertext (a plaintext value?)"
    problem = hybrid.layout_problem(blob, modulus_bytes) if modulus_bytes else None
    if problem:
        return UNPINNED, f"was not sealed for the pinned certificate ({problem})"
    return None


def plaintext_keys(text: str) -> list[tuple[int, str]]:
    """(1-based line, key id) of each API key (format and checksum) in `text`; never the key."""
    return [
        (number, apikey.key_id_of(key))
        for number, line in enumerate(text.splitlines(), 1)
        for key in apikey.keys_in(line)
    ]


def modulus_bytes(pem: str | None) -> int | None:
    if not pem:
        return None
    from sealer import certs

    try:
        key = certs.sealing_key(certs.parse_certificate(pem.encode(), "certificate"), "certificate")
    except SealerError:
        return None
    return int(key.key_size) // 8


def duplicate_findings(ledgers: dict[str, list[KeyRecord]]) -> list[Finding]:
    """The same key fingerprint in two environments (or under two entries)."""
    seen: dict[str, set[tuple[str, str]]] = {}
    for records in ledgers.values():
        for record in records:
            seen.setdefault(record.fingerprint, set()).add((record.env, record.name))
    findings = []
    for fp, owners in sorted(seen.items()):
        if len(owners) > 1:
            where = ", ".join(f"{env}/{name}" for env, name in sorted(owners))
            for env in sorted({env for env, _ in owners}):
                findings.append(
                    Finding(
                        DUPLICATE,
                        env,
                        layout.ledger_file(env),
                        None,
                        f"key {apikey.key_id(fp)} (sha256 {fp[:12]}…) is in more than one place: {where}",
                    )
                )
    return findings


TARGET_FIELDS = ((NAME_CHANGE, "name"), (NAMESPACE_CHANGE, "namespace"), (SCOPE_CHANGE, "scope"))


@dataclass
class EnvReview:
    """One environment compared at both revisions: its changes, findings and notes."""

    name: str
    base: Side
    head: Side
    head_time: dt.datetime
    changed: list[str]
    earlier: Earlier  # the ciphertexts that stood before BASE
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @functools.cached_property
    def head_digests(self) -> dict[str, set[str]]:
        """digest -> key ids of the records naming it in HEAD's ledger (read once, not per entry)."""
        return digest_owners(self.head.records(self.name))

    @property
    def ledger_file(self) -> str:
        return layout.ledger_file(self.name)

    def find(self, code: str, path: str, entry: str | None, message: str) -> None:
        finding = Finding(code, self.name, path, entry, message)
        if finding not in self.findings:
            self.findings.append(finding)

    def pin(self, cluster: str) -> Cluster | None:
        env = self.head.env(self.name)
        return next((c for c in env.clusters if c.name == cluster), None) if env else None

    def run(self) -> EnvReview:
        old, new = self.base.env(self.name), self.head.env(self.name)
        if new is None:
            self.notes.append(f"{self.name}: environment removed from sealer.yaml")
        if old is None and new is not None:
            pins = ", ".join(f"{c.name} {c.fingerprint[:16]}…" for c in new.clusters) or "nothing"
            self.notes.append(f"{self.name}: new environment pins {pins}")
        self.check_cert_set(old, new)
        rotated: set[str] = set()
        for cluster, values_file in clusters_of(self.name, old, new, self.changed).items():
            rotated |= self.review_cluster(cluster, values_file, new or old)
        self.check_ledger(rotated)
        return self

    def check_cert_set(self, old: Environment | None, new: Environment | None) -> None:
        """#15: certificates added to a cluster's set, certificate files not holding their pin
        (sealWith itself and the rest of sealer.yaml: sealer.review.sensitive)."""
        for code, path, message in certset.set_findings(old, new, self.head.files):
            self.find(code, path, None, message)

    def check_target(self, path: str, old_doc: dict[str, Any] | None, new_doc: dict[str, Any] | None) -> None:
        """Scope, namespace and name of the SealedSecret: unchanged, and what sealer.yaml says."""
        if new_doc is None:
            return
        env = self.head.env(self.name)
        have = state.sealed_target(new_doc)
        was = state.sealed_target(old_doc) if old_doc is not None else None
        want = state.wanted_target(env) if env else None
        for index, (code, what) in enumerate(TARGET_FIELDS):
            if was and was[index] != have[index]:
                self.find(code, path, None, f"SealedSecret {what} changed from {was[index]} to {have[index]}")
            elif want and want[index] != have[index]:
                self.find(
                    code,
                    path,
                    None,
                    f"SealedSecret {what} is {have[index]} but sealer.yaml says {want[index]}",
                )

    def review_cluster(self, cluster: str, values_file: str, env: Environment | None) -> set[str]:
        """Explain and check every changed entry of one cluster; returns the entries that changed."""
        path = layout.sealed_file(self.name, cluster)
        old_doc, new_doc = self.base.doc(path), self.head.doc(path)
        if self.head.files.get(path) is not None and new_doc is None:
            self.find(MALFORMED, path, None, "not a readable SealedSecret")
        self.check_target(path, old_doc, new_doc)
        new_values = self.head.values(values_file)
        self.check_values(cluster, values_file, new_doc, new_values)
        sides: tuple[tuple[str, dict[str, str], dict[str, str]], ...] = (
            (path, encrypted(old_doc), encrypted(new_doc)),
        )
        if not self.check_left_values(cluster, values_file):  # else not this cluster's any more
            old_values = self.base.values(values_file)
            sides += ((values_file, state.values_encrypted(old_values), state.values_encrypted(new_values)),)
        annotations = state.annotations_of(new_doc)
        claims = provenance.sealed_with(annotations, {e for _, _, n in sides for e in n})
        self.check_ciphertext(cluster, sides, claims)
        entries = sorted({entry for _, old, new in sides for entry in (*old, *new)})
        changed = [e for e in entries if any(old.get(e) != new.get(e) for _, old, new in sides)]
        sealed_with = provenance.sealed_with(annotations, changed)
        for entry in changed:
            files = tuple(p for p, old, new in sides if old.get(entry) != new.get(entry))
            present = any(entry in new for _, _, new in sides)
            change = self.explain(cluster, entry, files, sealed_with[entry] if present else None, env)
            self.changes.append(change)
            if change.new_key_id is not None and entry in sides[0][2]:
                self.check_digest(cluster, path, entry, change.new_key_id, sides[0][2][entry])
        return set(changed)

    def check_digest(self, cluster: str, path: str, entry: str, key_id: str, value: str) -> None:
        """The new key's record must name this very ciphertext, and one no earlier record named: an
        older ciphertext put back behind a new record would deliver the older key (nobody can open
        a ciphertext to tell). A new record without digests is refused: sealer writes them."""
        record = next(r for r in self.head.records(self.name) if r.key_id == key_id)
        digest = ciphertext_digest(value)
        if not record.sealed:
            why = f"the ledger records no digest of the ciphertext sealer wrote for {key_id}"
        elif record.digest_for(cluster) != digest:
            why = f"it is not the ciphertext the ledger records for {key_id}"
        elif digest in self.earlier.recorded or self.head_digests.get(digest, set()) - {key_id}:
            # a key this range rotated in and out is an older key too (BASE's ledgers never saw it)
            why = f"the ledger recorded it for an older key: {key_id} is not what it holds"
        elif self.earlier.held(digest):
            why = f"a sealed file held it before BASE: {key_id} is not what it holds"
        else:
            return
        self.find(
            HAND_EDIT,
            path,
            entry,
            f"{entry}: {why} (an older ciphertext put back? rotate with `sealer rotate`)",
        )

    def check_ciphertext(
        self,
        cluster: str,
        sides: tuple[tuple[str, dict[str, str], dict[str, str]], ...],
        claims: dict[str, str],
    ) -> None:
        """Every value at HEAD must be well-formed ciphertext for a key of the size of the
        certificate its annotation claims, and that claim must name a certificate of the set."""
        pin = self.pin(cluster)
        default = modulus_bytes(self.head.files.get(pin.cert)) if pin else None
        for path, _, new in sides:
            for entry, value in new.items():
                size = certset.claimed_size(pin, claims.get(entry, provenance.UNKNOWN), self.head.files)
                if size == 0:
                    claim = claims[entry]
                    self.find(
                        UNPINNED, path, entry, f"{entry} claims certificate {claim[:16]}…, not in the set"
                    )
                problem = value_problem(value, size or default)
                if problem:
                    self.find(problem[0], path, entry, f"{entry} {problem[1]}")

    def check_left_values(self, cluster: str, values_file: str) -> bool:
        """Whether HEAD's values file of a cluster HEAD's sealer.yaml no longer lists (for an
        environment it no longer lists, say) still carries a `sealer:` key: the chart keeps
        delivering the SealedSecret it holds, which no rotation updates again. Told as left
        behind, not as a ciphertext edited by hand against an unknown certificate."""
        env = self.head.env(self.name)
        listed = {env.values_file, *(c.values_file for c in env.clusters)} if env else set()
        doc = self.head.doc(values_file)
        carries = isinstance(doc, dict) and "sealer" in doc
        if self.pin(cluster) is not None or values_file in listed or not carries:
            return False
        message = (
            f"the values file of {self.name}/{cluster}, which sealer.yaml no longer lists, still carries "
            "sealer's `sealer:` subtree (the chart keeps delivering it, and no rotation updates it): "
            "remove the file, or its `sealer:` key"
        )
        self.find(MISMATCH, values_file, None, message)
        return True

    def check_values(
        self, cluster: str, values_file: str, doc: dict[str, Any] | None, values: dict[str, Any]
    ) -> None:
        """The values file must carry what the sealed file and the ledger hold at HEAD."""
        env = self.head.env(self.name)
        if doc is None or env is None:
            return
        if not values:
            self.find(
                MISMATCH,
                values_file,
                None,
                f"no `sealer:` values for {self.name}/{cluster}: run `sealer render {self.name}`",
            )
            return
        sealed = {k: v for k, v in encrypted(doc).items() if k in env.keys}
        shown = state.values_encrypted(values)
        for entry in sorted(set(sealed) | set(shown)):
            if sealed.get(entry) != shown.get(entry):
                self.find(
                    MISMATCH,
                    values_file,
                    entry,
                    f"{entry}: sealer.encryptedData differs from {layout.sealed_file(self.name, cluster)}",
                )
        for what, want in (
            ("secretName", env.secret_name),
            ("namespace", env.namespace),
            ("scope", env.scope.value),
        ):
            if values.get(what) != want:
                self.find(
                    MISMATCH,
                    values_file,
                    None,
                    f"sealer.{what} is {values.get(what)} but sealer.yaml says {want}",
                )
        self.check_key_ids(env, values_file, values.get("keys"))

    def check_key_ids(self, env: Environment, values_file: str, keys: Any) -> None:
        keys = keys if isinstance(keys, dict) else {}
        records = self.head.records(self.name)
        for entry in env.keys:
            record, meta = current(records, entry), keys.get(entry)
            shown = meta.get("keyId") if isinstance(meta, dict) else None
            if record is not None and shown != record.key_id:
                self.find(
                    MISMATCH,
                    values_file,
                    entry,
                    f"{entry}: keyId {shown} but the ledger's key is {record.key_id}",
                )

    def explain(
        self, cluster: str, entry: str, files: tuple[str, ...], cert: str | None, env: Environment | None
    ) -> Change:
        """One changed entry: old -> new key from the ledgers, and whether a finding applies."""
        old_records, new_records = self.base.records(self.name), self.head.records(self.name)
        before, after = current(old_records, entry), current(new_records, entry)
        known = {r.key_id for r in old_records}
        fresh = after if after is not None and after.key_id not in known and cert is not None else None
        pin = self.pin(cluster)
        pinned = pin is not None and cert == pin.fingerprint
        if cert is not None:
            self.check_change(cluster, entry, files[0], cert, pinned, fresh)
        old_now = next((r for r in new_records if before and r.key_id == before.key_id), None)
        # The window `rotate --finish` grants is this one, so the reviewer sees what is granted.
        grace = reviewed_grace(new_records, old_now) if old_now and fresh else None
        external = env is not None and env.backend_kind != DEFAULT_BACKEND
        action = (
            "removed" if cert is None else "added" if before is None else "rotated" if fresh else "changed"
        )
        return Change(
            env=self.name,
            cluster=cluster,
            secret=env.secret_name if env else "?",
            namespace=env.namespace if env else "?",
            scope=env.scope.value if env else "?",
            entry=entry,
            action=action,
            old_key_id=before.key_id if before else None,
            new_key_id=fresh.key_id if fresh else None,
            new_fingerprint=fresh.fingerprint if fresh else None,
            sealed_with=cert,
            pinned=pinned,
            old_key_created=iso(before.created) if before else None,
            old_key_age_days=(self.head_time - before.created).days if before else None,
            old_key_status=old_now.status if old_now else None,
            old_key_grace_seconds=int(grace.total_seconds()) if grace else None,
            grace_counted_from=None if grace is None else "rotate --finish" if external else "rotation",
            old_key_revoke_at=iso(old_now.revoke_at) if old_now else None,
            new_key_expires=iso(fresh.expires) if fresh else None,
            files=files,
        )

    def check_change(
        self, cluster: str, entry: str, path: str, cert: str, pinned: bool, fresh: KeyRecord | None
    ) -> None:
        if fresh is None:
            self.find(
                HAND_EDIT,
                path,
                entry,
                f"{entry}: the ciphertext changed but the ledger has no new key for it "
                "(edited by hand? rotate with `sealer rotate`)",
            )
        if not pinned:
            self.find(
                UNPINNED,
                path,
                entry,
                f"{entry}: sealed with {_certificate(cert)}, "
                f"not the sealing certificate (sealWith) of {self.name}/{cluster}",
            )
        pin = self.pin(cluster)
        if fresh is not None and pin is not None and pin.fingerprint not in fresh.sealed_with:
            self.find(
                UNPINNED,
                self.ledger_file,
                entry,
                f"{entry}: the ledger says {fresh.key_id} was not sealed with the pinned certificate",
            )

    def check_ledger(self, rotated: set[str]) -> None:
        """New keys in the ledger must come with new ciphertext (else the key never ships)."""
        old = {r.key_id: r.status for r in self.base.records(self.name)}
        for record in self.head.records(self.name):
            if record.key_id not in old and record.status in (ACTIVE, PENDING) and record.name not in rotated:
                self.find(
                    LEDGER_ONLY,
                    self.ledger_file,
                    record.name,
                    f"{record.name}: the ledger has a new key "
                    f"{record.key_id} but no sealed value changed for it",
                )
            elif record.key_id in old and old[record.key_id] != record.status:
                self.notes.append(
                    f"{self.name}/{record.name}: {record.key_id} {old[record.key_id]} -> {record.status}"
                )
            elif record.key_id not in old and record.status == GRACE:
                self.notes.append(self.retired_in_range(record))

    def retired_in_range(self, record: KeyRecord) -> str:
        """A key added and replaced within the range (two rotations in one pull request): no
        change line shows it, yet it keeps the grace its successor's rotation gave it."""
        grace = reviewed_grace(self.head.records(self.name), record)
        env = self.head.env(self.name)
        if grace is None:
            valid = "revoked at once"
        elif env is not None and env.backend_kind != DEFAULT_BACKEND:
            # --finish revokes it when one merge lands it with its successor (never served), and
            # keeps it this long when the main line took it in first (a rebase merge, say).
            valid = f"revoked by rotate --finish, or valid up to {format_duration(grace)} from it"
        else:
            valid = f"valid until {iso(record.revoke_at)}"
        return f"{self.name}/{record.name}: {record.key_id} added and replaced in this range, {valid}"


def _certificate(fp: str) -> str:
    """The certificate an entry's annotations claim, as a finding names it."""
    if fp == provenance.UNKNOWN:
        return "an unknown certificate (sealer's annotations name none that can be read)"
    return f"certificate {fp[:16]}…"
