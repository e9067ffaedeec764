"""`sealer review [BASE [HEAD]]`: explain every change to sealed data between two revisions.

It needs no private key: files are read at each revision from Git, ciphertext is judged by
its layout, key ids come from the ledger at each revision, and which certificate sealed an
entry from its provenance annotation, checked against the pins in sealer.yaml at HEAD.
Findings (exit 1) are what a reviewer must not approve: a hand-edited ciphertext, an entry
sealed with a certificate that is not pinned, one key in two places, a plaintext value, a
changed scope, namespace, name or pin, and values files that disagree with the sealed files.
Besides BASE..HEAD as a whole, every commit of the range is checked on its own, so a hand edit
on top of a clean rotation, or a plaintext key committed and deleted again, is still found.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sealer import apikey, config, git, hybrid, layout, ledger, provenance, yamlio
from sealer.backends.base import ACTIVE, PENDING, KeyRecord, iso
from sealer.config import Cluster, Config, Environment
from sealer.errors import BadInput, SealerError
from sealer.scope import scope_of

HAND_EDIT = "hand-edit"
UNPINNED = "unpinned-cert"
DUPLICATE = "duplicate-key"
PLAINTEXT = "plaintext"
SCOPE_CHANGE = "scope-change"
NAMESPACE_CHANGE = "namespace-change"
NAME_CHANGE = "name-change"
PIN_CHANGE = "pin-change"
MISMATCH = "values-mismatch"
LEDGER_ONLY = "ledger-only"
MALFORMED = "malformed"
MAIN_BRANCHES = ("refs/heads/main", "refs/heads/master", "refs/remotes/origin/HEAD")
MAX_SCAN_BYTES = 4 << 20  # plaintext scan of changed files: bigger files are not configuration
_KEY_RE = re.compile(apikey.KEY_PATTERN)


@dataclass(frozen=True)
class Finding:
    code: str
    env: str
    path: str
    entry: str | None
    message: str


@dataclass(frozen=True)
class Change:
    env: str
    cluster: str
    secret: str
    namespace: str
    scope: str
    entry: str
    action: str  # rotated | added | removed | changed
    old_key_id: str | None
    new_key_id: str | None
    new_fingerprint: str | None  # first 12 hex digits of the new key's SHA-256
    sealed_with: str | None  # certificate fingerprint from the provenance annotation
    pinned: bool
    old_key_created: str | None
    old_key_age_days: int | None  # at the HEAD commit
    old_key_status: str | None  # the old key's ledger status at HEAD
    new_key_expires: str | None
    files: tuple[str, ...]


@dataclass
class Report:
    base: str
    head: str
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "ok": not self.findings,
            "changes": [asdict(c) for c in self.changes],
            "findings": [asdict(f) for f in self.findings],
            "notes": list(self.notes),
        }


# -- reading revisions -----------------------------------------------------------------------


def resolve(root: Path, rev: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "-q", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if done.returncode or not done.stdout.strip():
        raise BadInput(f"unknown revision {rev!r}")
    return done.stdout.strip()


def default_base(root: Path) -> str:
    """The merge-base of HEAD with the main branch (main, else master, else origin/HEAD)."""
    for ref in MAIN_BRANCHES:
        if subprocess.run(["git", "-C", str(root), "show-ref", "-q", "--verify", ref]).returncode == 0:
            try:
                return git.run(root, "merge-base", "HEAD", ref).strip()
            except git.GitError:
                raise BadInput(f"HEAD shares no history with {ref}: give BASE") from None
    raise BadInput("no main, master or origin/HEAD to compare with: give BASE (e.g. `sealer review HEAD~1`)")


def read_files(root: Path, rev: str, paths: Iterable[str]) -> dict[str, str | None]:
    """path -> text at `rev` (None when absent), through one `git cat-file --batch`."""
    wanted = sorted(set(paths))
    if not wanted:
        return {}
    done = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch"],
        capture_output=True,
        input="".join(f"{rev}:{p}\n" for p in wanted).encode(),
    )
    if done.returncode:
        raise BadInput(f"git cat-file: {done.stderr.decode(errors='replace').strip() or 'failed'}")
    out, pos = done.stdout, 0
    result: dict[str, str | None] = {}
    for path in wanted:
        end = out.index(b"\n", pos)
        header, pos = out[pos:end].decode(errors="replace"), end + 1
        parts = header.rsplit(" ", 2)
        if len(parts) != 3 or not parts[2].isdigit():  # "<rev:path> missing"
            result[path] = None
            continue
        size = int(parts[2])
        result[path] = out[pos : pos + size].decode("utf-8", "replace") if parts[1] == "blob" else None
        pos += size + 1
    return result


def changed_paths(root: Path, base: str, head: str) -> list[str]:
    return [p for p in git.run(root, "diff", "--name-only", "--no-renames", base, head).splitlines() if p]


def commit_time(root: Path, rev: str) -> dt.datetime:
    seconds = int(git.run(root, "show", "-s", "--format=%ct", rev).strip())
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def config_at(root: Path, rev: str, text: str | None) -> Config | None:
    if text is None:
        return None
    docs = yamlio.load_documents(text, f"{rev[:12]}:{config.CONFIG_FILE}")
    return config.parse(docs[0] if docs else None, root)


def parse_ledger(env: str, text: str | None) -> list[KeyRecord]:
    """The records of a ledger file's text; a broken ledger reads as empty (reported elsewhere)."""
    try:
        docs = yamlio.load_documents(text or "", f"ledger/{env}.yaml")
        keys = docs[0].get("keys") if docs and isinstance(docs[0], dict) else []
        return [KeyRecord.from_dict({**item, "env": env}) for item in keys or []]
    except (SealerError, KeyError, TypeError, ValueError, AttributeError):
        return []


def parse_mapping(text: str | None, source: str) -> dict[str, Any] | None:
    """The first YAML document of `text` if it is a mapping; None when absent or broken."""
    if text is None:
        return None
    try:
        docs = yamlio.load_documents(text, source)
    except SealerError:
        return None
    return docs[0] if docs and isinstance(docs[0], dict) else None


# -- one side of the comparison ----------------------------------------------------------------


@dataclass
class Side:
    """The files of one revision, each parsed once."""

    rev: str
    cfg: Config | None
    files: dict[str, str | None]
    parsed: dict[tuple[str, str], Any] = field(default_factory=dict)

    def env(self, name: str) -> Environment | None:
        return self.cfg.environments.get(name) if self.cfg else None

    def records(self, env: str) -> list[KeyRecord]:
        path = str(ledger.ledger_path(Path(""), env))
        if ("ledger", path) not in self.parsed:
            self.parsed["ledger", path] = parse_ledger(env, self.files.get(path))
        return list(self.parsed["ledger", path])

    def doc(self, path: str) -> dict[str, Any] | None:
        if ("doc", path) not in self.parsed:
            self.parsed["doc", path] = parse_mapping(self.files.get(path), f"{self.rev[:12]}:{path}")
        found: dict[str, Any] | None = self.parsed["doc", path]
        return found

    def values(self, path: str | None) -> dict[str, Any]:
        """The `sealer:` subtree of a values file, or {}."""
        sub = (self.doc(path) or {}).get("sealer") if path else None
        return sub if isinstance(sub, dict) else {}


def current(records: list[KeyRecord], name: str) -> KeyRecord | None:
    """The key an entry carries: its newest active (or pending) record."""
    found = None
    for record in records:
        if record.name == name and record.status in (ACTIVE, PENDING):
            found = record
    return found


def encrypted(doc: Mapping[str, Any] | None) -> dict[str, str]:
    data = ((doc or {}).get("spec") or {}).get("encryptedData") if isinstance(doc, Mapping) else None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def values_encrypted(sub: Mapping[str, Any]) -> dict[str, str]:
    data = sub.get("encryptedData")
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


# -- which files matter ------------------------------------------------------------------------


def env_files(env: Environment | None, name: str) -> set[str]:
    if env is None:
        return {str(ledger.ledger_path(Path(""), name))}
    files = {env.values_file, str(ledger.ledger_path(Path(""), name))}
    for cluster in env.clusters:
        files |= {layout.sealed_file(name, cluster.name), cluster.values_file, cluster.cert}
    return files


def touched_envs(base: Config | None, head: Config | None, changed: list[str]) -> list[str]:
    """Environments whose sealed data, values, ledger, certificates or settings changed."""
    names = sorted({*(base.environments if base else {}), *(head.environments if head else {})})
    result = []
    for name in names:
        old = base.environments.get(name) if base else None
        new = head.environments.get(name) if head else None
        files = env_files(old, name) | env_files(new, name)
        if old != new or any(p in files or p.startswith(f"{layout.SEALED_DIR}/{name}/") for p in changed):
            result.append(name)
    return result


def clusters_of(
    name: str, base: Environment | None, head: Environment | None, changed: list[str]
) -> dict[str, str]:
    """cluster -> values file, over both revisions and any changed sealed file of the env."""
    result: dict[str, str] = {}
    for env in (base, head):
        for cluster in env.clusters if env else ():
            result[cluster.name] = cluster.values_file
    prefix = f"{layout.SEALED_DIR}/{name}/"
    for path in changed:
        if path.startswith(prefix) and path.endswith(".yaml") and "/" not in path[len(prefix) :]:
            result.setdefault(path[len(prefix) : -5], layout.values_file(name, path[len(prefix) : -5]))
    return result


# -- checks ----------------------------------------------------------------------------------


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


def plaintext_lines(text: str) -> list[int]:
    """1-based lines holding something in the API key format with a valid checksum."""
    return sorted({number for number, _ in plaintext_keys(text)})


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
                        str(ledger.ledger_path(Path(""), env)),
                        None,
                        f"key {apikey.key_id(fp)} (sha256 {fp[:12]}…) is in more than one place: {where}",
                    )
                )
    return findings


TARGET_FIELDS = ((NAME_CHANGE, "name"), (NAMESPACE_CHANGE, "namespace"), (SCOPE_CHANGE, "scope"))


def target(doc: Mapping[str, Any]) -> tuple[str, str, str]:
    """(name, namespace, scope) a SealedSecret is sealed for."""
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return str(meta.get("name")), str(meta.get("namespace")), scope_of(meta.get("annotations")).value


def wanted_target(env: Environment) -> tuple[str, str, str]:
    return env.secret_name, env.namespace, env.scope.value


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
        return str(ledger.ledger_path(Path(""), self.name))

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
            was, now = wanted_target(old)[index], wanted_target(new)[index]
            if was != now:
                self.find(code, config.CONFIG_FILE, None, f"{what} changed from {was} to {now}")

    def check_pins(self, old: Environment | None, new: Environment | None) -> None:
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
                    config.CONFIG_FILE,
                    None,
                    f"{cluster.name}: pinned certificate changed from {(was or 'none')[:16]}… to "
                    f"{cluster.fingerprint[:16]}…: verify the new certificate out of band",
                )

    def check_target(self, path: str, old_doc: dict[str, Any] | None, new_doc: dict[str, Any] | None) -> None:
        """Scope, namespace and name of the SealedSecret: unchanged, and what sealer.yaml says."""
        if new_doc is None:
            return
        env = self.head.env(self.name)
        have = target(new_doc)
        was = target(old_doc) if old_doc is not None else None
        want = wanted_target(env) if env else None
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
        sides = (
            (path, encrypted(old_doc), encrypted(new_doc)),
            (values_file, values_encrypted(self.base.values(values_file)), values_encrypted(new_values)),
        )
        self.check_ciphertext(cluster, sides)
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
        self, cluster: str, sides: tuple[tuple[str, dict[str, str], dict[str, str]], ...]
    ) -> None:
        """Every value at HEAD must be well-formed ciphertext for a key of the pinned size."""
        pin = self.pin(cluster)
        size = modulus_bytes(self.head.files.get(pin.cert)) if pin else None
        for path, _, new in sides:
            for entry, value in new.items():
                problem = value_problem(value, size)
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
                f"not the one pinned for {self.name}/{cluster}",
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


# -- putting it together -----------------------------------------------------------------------


def _needed(names: list[str], base: Side, head: Side, changed: list[str]) -> set[str]:
    paths = {p for p in changed if p.startswith(f"{layout.SEALED_DIR}/")}
    for name in names:
        paths |= env_files(base.env(name), name) | env_files(head.env(name), name)
    return paths


def _all_ledgers(root: Path, rev: str) -> dict[str, list[KeyRecord]]:
    listing = git.run(root, "ls-tree", "-r", "--name-only", rev, "--", f"{ledger.LEDGER_DIR}/").split()
    files = read_files(root, rev, [p for p in listing if p.endswith(".yaml") and p.count("/") == 1])
    return {Path(p).stem: parse_ledger(Path(p).stem, text) for p, text in files.items()}


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


# -- commit by commit ------------------------------------------------------------------------

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def ciphertexts(doc: Mapping[str, Any] | None) -> dict[str, str]:
    """entry -> value of a SealedSecret (spec.encryptedData) or a values file (sealer.encryptedData)."""
    doc = doc or {}
    if "spec" in doc:
        return encrypted(doc)
    sub = doc.get("sealer")
    return values_encrypted(sub) if isinstance(sub, dict) else {}


def data_owner(path: str, configs: list[Config]) -> str | None:
    """The environment whose sealed data `path` holds (a sealed or values file), if any."""
    for cfg in configs:
        for name, env in cfg.environments.items():
            if path.startswith(f"{layout.SEALED_DIR}/{name}/") or path in (
                env.values_file,
                *(c.values_file for c in env.clusters),
            ):
                return name
    return None


def commits(root: Path, base: str, head: str) -> list[tuple[str, list[str]]]:
    """(commit, parents) of every commit in base..head, oldest first."""
    lines = git.run(
        root, "rev-list", "--reverse", "--topo-order", "--parents", f"{base}..{head}"
    ).splitlines()
    return [(parts[0], parts[1:]) for parts in (line.split() for line in lines) if parts]


def commit_findings(
    root: Path, commit: str, parents: list[str], configs: list[Config], seen: set[tuple[str, str]]
) -> list[Finding]:
    """Hand edits (a value changed with no new ledger key in the same commit; in a merge, a value
    no parent had) and plaintext keys added by one commit."""
    first = parents[0] if parents else EMPTY_TREE
    changed = changed_paths(root, first, commit)
    findings = scan_plaintext(read_files(root, commit, changed), seen, commit)
    owned = {p: env for p in changed if (env := data_owner(p, configs))}
    wanted = [*owned, *{str(ledger.ledger_path(Path(""), env)) for env in owned.values()}]
    now, before = (Side(rev, None, read_files(root, rev, wanted)) for rev in (commit, first))
    others = [Side(p, None, read_files(root, p, owned)) for p in parents[1:]]
    for path, env in sorted(owned.items()):
        known = {r.key_id for r in before.records(env)}
        fresh = {r.name for r in now.records(env) if r.key_id not in known}
        old, new = ciphertexts(before.doc(path)), ciphertexts(now.doc(path))
        merged = [ciphertexts(other.doc(path)) for other in others]
        for entry, value in sorted(new.items()):
            from_parent = any(values.get(entry) == value for values in merged)
            if old.get(entry) != value and not from_parent and (others or entry not in fresh):
                message = (
                    f"{entry}: commit {commit[:12]} changed the ciphertext with no new key in the ledger"
                )
                findings.append(Finding(HAND_EDIT, env, path, entry, message + " (edited by hand?)"))
    return findings


def history_findings(root: Path, base: str, head: str, configs: list[Config]) -> list[Finding]:
    """Every commit of the range on its own (skipped when the range is one plain commit on BASE,
    which the whole-range comparison already is)."""
    found = commits(root, base, head)
    if len(found) == 1 and found[0][1] == [base]:
        return []
    seen: set[tuple[str, str]] = set()
    return [f for commit, parents in found for f in commit_findings(root, commit, parents, configs, seen)]


def review(root: Path, base: str | None = None, head: str | None = None) -> Report:
    """Compare sealed data at `base` (default: merge-base with main) and `head` (default HEAD)."""
    head_rev = resolve(root, head or "HEAD")
    base_rev = resolve(root, base) if base else default_base(root)
    report = Report(base_rev, head_rev)
    changed = changed_paths(root, base_rev, head_rev)
    base_side, head_side = _sides(root, base_rev, head_rev, head or "HEAD")
    names = touched_envs(base_side.cfg, head_side.cfg, changed)
    needed = _needed(names, base_side, head_side, changed)
    base_side.files, head_side.files = read_files(root, base_rev, needed), read_files(root, head_rev, needed)
    head_time = commit_time(root, head_rev)
    for name in names:
        done = EnvReview(name, base_side, head_side, head_time, changed).run()
        report.changes += done.changes
        report.findings += done.findings
        report.notes += done.notes
    if names:
        report.findings += duplicate_findings(_all_ledgers(root, head_rev))
    _add_history(report, root, changed, base_side, head_side)
    return report


def _sides(root: Path, base: str, head: str, head_name: str) -> tuple[Side, Side]:
    texts = {rev: read_files(root, rev, [config.CONFIG_FILE])[config.CONFIG_FILE] for rev in (base, head)}
    head_cfg = config_at(root, head, texts[head])
    if head_cfg is None:
        raise BadInput(f"no {config.CONFIG_FILE} at {head_name}: not a sealer-managed repo")
    return Side(base, config_at(root, base, texts[base]), {}), Side(head, head_cfg, {})


def _add_history(report: Report, root: Path, changed: list[str], base: Side, head: Side) -> None:
    """Plaintext keys at HEAD, then commit by commit: a hand edit hidden behind a later clean
    rotation, or a key committed and deleted again, still counts."""
    seen: set[tuple[str, str]] = set()
    missing = [p for p in changed if p not in head.files]
    report.findings += scan_plaintext({**head.files, **read_files(root, head.rev, missing)}, seen)
    history = history_findings(root, base.rev, head.rev, [c for c in (head.cfg, base.cfg) if c])
    edited = {(f.env, f.path, f.entry) for f in history if f.code == HAND_EDIT}
    report.findings = [
        f for f in report.findings if f.code != HAND_EDIT or (f.env, f.path, f.entry) not in edited
    ]
    report.findings += history


# -- output ------------------------------------------------------------------------------------


def _key_cell(change: Change) -> str:
    new = change.new_key_id or ("(removed)" if change.action == "removed" else "?")
    return f"{change.old_key_id or '(none)'} -> {new}"


def _cert_cell(change: Change) -> str:
    if change.sealed_with is None:
        return "-"
    return f"{change.sealed_with[:12]} ({'pinned' if change.pinned else 'NOT pinned'})"


def _age_cell(change: Change) -> str:
    if change.old_key_age_days is None:
        return "-"
    return f"{change.old_key_age_days}d" + (f", now {change.old_key_status}" if change.old_key_status else "")


def to_text(report: Report) -> str:
    lines = [
        f"sealer review {report.base[:12]}..{report.head[:12]}: {len(report.changes)} change(s), "
        f"{len(report.findings)} finding(s)"
    ]
    for c in report.changes:
        lines.append(
            f"  {c.env}/{c.cluster} {c.namespace}/{c.secret} ({c.scope}) {c.entry}: {c.action} {_key_cell(c)}"
            + (f", sha256 {c.new_fingerprint}" if c.new_fingerprint else "")
            + f"; sealed with {_cert_cell(c)}; old key age {_age_cell(c)}"
            + (f"; expires {c.new_key_expires}" if c.new_key_expires else "")
        )
    lines += [f"  note: {n}" for n in report.notes]
    lines += [f"FINDING [{f.code}] {f.env or '-'} {f.path}: {f.message}" for f in report.findings]
    if not report.changes and not report.findings:
        lines.append("  no sealed data changed")
    return "\n".join(lines)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


COLUMNS = (
    "Environment",
    "Cluster",
    "Secret",
    "Entry",
    "Change",
    "Old key → new key",
    "Fingerprint",
    "Sealed with",
    "Scope",
    "Old key age",
)


def to_markdown(report: Report) -> str:
    lines = [f"### sealer review `{report.base[:12]}..{report.head[:12]}`", ""]
    if report.changes:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for c in report.changes:
            cells = [
                c.env,
                c.cluster,
                f"{c.namespace}/{c.secret}",
                f"`{c.entry}`",
                c.action,
                f"`{c.old_key_id or '—'}` → `{c.new_key_id or '—'}`",
                f"`{c.new_fingerprint or '—'}`",
                _cert_cell(c),
                c.scope,
                _age_cell(c),
            ]
            lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    else:
        lines.append("No sealed data changed.")
    lines += ["", f"**Findings ({len(report.findings)}):**" if report.findings else "**No findings.**"]
    lines += [
        f"- **{f.code}** `{_md(f.path)}`{f' `{f.entry}`' if f.entry else ''}: {_md(f.message)}"
        for f in report.findings
    ]
    if report.notes:
        lines += ["", "Notes:"] + [f"- {_md(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"
