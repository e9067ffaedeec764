"""The checks a reviewer relies on, per environment and over the ledgers."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sealer import apikey, hybrid, layout, provenance, state
from sealer.config import Cluster, Environment
from sealer.errors import SealerError
from sealer.records import ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, iso
from sealer.review import certset
from sealer.review.model import (
    BACKEND_CHANGE,
    DUPLICATE,
    HAND_EDIT,
    LEDGER_EDIT,
    LEDGER_ONLY,
    MALFORMED,
    MAX_SCAN_BYTES,
    MISMATCH,
    NAME_CHANGE,
    NAMESPACE_CHANGE,
    PIN_CHANGE,
    PLAINTEXT,
    SCOPE_CHANGE,
    TEMPLATE_CHANGE,
    UNPINNED,
    Change,
    Finding,
)
from sealer.review.revisions import Side, clusters_of, current, encrypted, values_encrypted

_KEY_RE = re.compile(apikey.KEY_PATTERN)


def value_problem(value: str, modulus_bytes: int | None) -> tuple[str, str] | None:
    """(finding code, why) when a sealed value is not ciphertext for the pinned key."""
    try:
        blob = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return PLAINTEXT, "is not base64: a plaintext value, not ciphertext"
    if _KEY_RE.search(blob.decode("latin-1")):
        return PLAINTEXT, "holds a base64-encoded plaintext API key, not ciphertext"
    if not hybrid.looks_sealed(blob):
        return PLAINTEXT, "is not well-formed ciphertext (a plaintext value?)"
    problem = hybrid.layout_problem(blob, modulus_bytes) if modulus_bytes else None
    if problem:
        return UNPINNED, f"was not sealed for the pinned certificate ({problem})"
    return None


def plaintext_keys(text: str) -> list[tuple[int, str]]:
    """(1-based line, key id) of each API key (format and checksum) in `text`; never the key."""
    return [
        (number, apikey.key_id(apikey.fingerprint(m.group(0))))
        for number, line in enumerate(text.splitlines(), 1)
        for m in _KEY_RE.finditer(line)
        if apikey.checksum_ok(m.group(0))
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
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
        self.check_settings(old, new)
        self.check_pins(old, new)
        rotated: set[str] = set()
        for cluster, values_file in clusters_of(self.name, old, new, self.changed).items():
            rotated |= self.review_cluster(cluster, values_file, new or old)
        self.check_ledger(rotated)
        return self

    def check_settings(self, old: Environment | None, new: Environment | None) -> None:
        if old is None or new is None:
            return
        for index, (code, what) in enumerate(TARGET_FIELDS):
            was, now = state.wanted_target(old)[index], state.wanted_target(new)[index]
            if was != now:
                self.find(code, layout.CONFIG_FILE, None, f"{what} changed from {was} to {now}")
        # Where keys are registered and published, and with what: a store's options name hosts
        # and files (endpoint_url, kubeconfig) that the runner's credentials go to or run.
        if (old.backend_kind, old.backend_options) != (new.backend_kind, new.backend_options):
            self.find(
                BACKEND_CHANGE,
                layout.CONFIG_FILE,
                None,
                f"key store changed from {_store(old)} to {_store(new)}: check every host and file it names",
            )

    def check_pins(self, old: Environment | None, new: Environment | None) -> None:
        for code, path, message in certset.set_findings(old, new, self.head.files):  # #15
            self.find(code, path, None, message)
        before = {c.name: c.fingerprint for c in old.clusters} if old else {}
        for cluster in new.clusters if new else ():
            was = before.get(cluster.name)
            if old is None:
                self.notes.append(
                    f"{self.name}/{cluster.name}: new environment pins {cluster.fingerprint[:16]}…"
                )
            elif was != cluster.fingerprint:
                self.find(
                    PIN_CHANGE,
                    layout.CONFIG_FILE,
                    None,
                    f"{cluster.name}: sealing certificate (sealWith) changed from {(was or 'none')[:16]}… "
                    f"to {cluster.fingerprint[:16]}…: verify the new certificate out of band",
                )

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

    def check_template(
        self, path: str, old_doc: dict[str, Any] | None, new_doc: dict[str, Any] | None
    ) -> None:
        """spec.template is the Secret the controller makes (its `data` templates are rendered
        over the decrypted entries): a change there changes what the cluster gets, no ciphertext
        changed. sealer keeps it as it is when it seals, so only a hand edit changes it."""
        if old_doc is None or new_doc is None:
            return
        was, now = (_template(doc) for doc in (old_doc, new_doc))
        if was != now:
            self.find(
                TEMPLATE_CHANGE,
                path,
                None,
                "spec.template changed (the data, type, labels or annotations of the Secret the "
                "controller makes): edited by hand?",
            )

    def review_cluster(self, cluster: str, values_file: str, env: Environment | None) -> set[str]:
        """Explain and check every changed entry of one cluster; returns the entries that changed."""
        path = layout.sealed_file(self.name, cluster)
        old_doc, new_doc = self.base.doc(path), self.head.doc(path)
        if self.head.files.get(path) is not None and new_doc is None:
            self.find(MALFORMED, path, None, "not a readable SealedSecret")
        self.check_target(path, old_doc, new_doc)
        self.check_template(path, old_doc, new_doc)
        new_values = self.head.values(values_file)
        self.check_values(cluster, values_file, new_doc, new_values)
        sides = (
            (path, encrypted(old_doc), encrypted(new_doc)),
            (values_file, values_encrypted(self.base.values(values_file)), values_encrypted(new_values)),
        )
        claims = provenance.sealed_with(
            ((new_doc or {}).get("metadata") or {}).get("annotations"), {e for _, _, n in sides for e in n}
        )
        self.check_ciphertext(cluster, sides, claims)
        entries = sorted({entry for _, old, new in sides for entry in (*old, *new)})
        changed = [e for e in entries if any(old.get(e) != new.get(e) for _, old, new in sides)]
        sealed_with = provenance.sealed_with(
            ((new_doc or {}).get("metadata") or {}).get("annotations"), changed
        )
        for entry in changed:
            files = tuple(p for p, old, new in sides if old.get(entry) != new.get(entry))
            present = any(entry in new for _, _, new in sides)
            self.changes.append(
                self.explain(cluster, entry, files, sealed_with[entry] if present else None, env)
            )
        return set(changed)

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
        shown = values_encrypted(values)
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
            new_fingerprint=fresh.fingerprint[:12] if fresh else None,
            sealed_with=cert,
            pinned=pinned,
            old_key_created=iso(before.created) if before else None,
            old_key_age_days=(self.head_time - before.created).days if before else None,
            old_key_status=next(
                (r.status for r in new_records if before and r.key_id == before.key_id), None
            ),
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
                f"{entry}: sealed with certificate {cert[:16]}…, "
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
        """New keys in the ledger must come with new ciphertext (else the key never ships), and
        no record may change the way no rotation changes it: the registry lists what the ledger
        says, so such an edit would change which keys a cluster accepts, unseen."""
        was = {r.key_id: r for r in self.base.records(self.name)}
        old = {key_id: r.status for key_id, r in was.items()}
        known = {r.fingerprint for r in was.values()}
        now = self.head.records(self.name)
        for gone in sorted(set(was) - {r.key_id for r in now}):
            removed = "was removed from the ledger (its history, a revocation with it)"
            self.find(LEDGER_EDIT, self.ledger_file, was[gone].name, f"{gone} {removed}")
        actives: dict[str, int] = {}
        for record in now:
            why = _forged(was.get(record.key_id), record, rotated)
            if record.status == ACTIVE:
                actives[record.name] = actives.get(record.name, 0) + 1
                if actives[record.name] > 1:
                    why = "is a second active key of its entry (a rotation leaves one)"
            if record.key_id not in was and record.fingerprint in known:
                why = "is a key the ledger held before under another id: an old key back as a new one"
            if why:
                self.find(LEDGER_EDIT, self.ledger_file, record.name, f"{record.key_id} {why}")
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


def _store(env: Environment) -> str:
    options = ", ".join(f"{k}={v}" for k, v in sorted(env.backend_options.items()))
    return f"{env.backend_kind} ({options})" if options else env.backend_kind


def _template(doc: Mapping[str, Any]) -> Any:
    spec = doc.get("spec")
    return spec.get("template") if isinstance(spec, Mapping) else None


# A record's status only moves forward; `accepted` (two-phase rotations) sits before active.
_ORDER = {PENDING: 0, "accepted": 1, ACTIVE: 2, GRACE: 3, REVOKED: 4}


def _forged(before: KeyRecord | None, after: KeyRecord, rotated: set[str]) -> str | None:
    """Why `after` (the record at HEAD; `before` at BASE) is not a change a rotation makes."""
    if before is None:
        if after.status == GRACE and after.name not in rotated:
            return "is a new key already in grace, with no rotation of its entry: the cluster would accept it"
        return None
    if (before.fingerprint, before.name, before.env) != (after.fingerprint, after.name, after.env):
        return "now stands for another key (its fingerprint or entry changed in the ledger)"
    if _ORDER.get(after.status, -1) < _ORDER.get(before.status, -1):
        return f"moved back from {before.status} to {after.status}: a revoked key valid again?"
    if before.status == GRACE == after.status and _later(after.revoke_at, before.revoke_at):
        return "has a longer grace window than before"
    if _later(after.expires, before.expires):
        return "expires later than before"
    return None


def _later(now: dt.datetime | None, was: dt.datetime | None) -> bool:
    """Is `now` later than `was`, where None means never?"""
    return was is not None and (now is None or now > was)


def _env_of_path(path: str) -> str:
    parts = path.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] in (layout.SEALED_DIR, layout.DEPLOY_DIR) else ""


def scan_plaintext(
    texts: Mapping[str, str | None], seen: set[tuple[str, str]], commit: str | None = None
) -> list[Finding]:
    """A finding per plaintext API key in `texts` not reported yet (`seen`: (path, key id))."""
    findings = []
    for path, text in sorted(texts.items()):
        for line, key_id in plaintext_keys(text) if text and len(text) <= MAX_SCAN_BYTES else []:
            if (path, key_id) in seen:
                continue
            seen.add((path, key_id))
            where = f"commit {commit[:12]} adds" if commit else "holds"
            findings.append(
                Finding(
                    PLAINTEXT,
                    _env_of_path(path),
                    path,
                    None,
                    f"line {line} {where} plaintext API key {key_id}: revoke it"
                    + (" (it stays in the branch's history)" if commit else ""),
                )
            )
    return findings
