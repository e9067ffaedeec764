"""Disaster recovery for the controller's sealing key: escrow tls.key and tls.crt in Vault
KV v2 and bring them back as the files `sealer keypair` writes.

A target reads `vault:MOUNT/PATH`; the first segment is the KV v2 mount (`vault:secret/
sealer/escrow/prod` is mount `secret`, path `sealer/escrow/prod`). Writes are check-and-set:
a backup only lands where there is none, unless `force` replaces the version just read.
The private key goes to Vault and to the output folder (0600) because the user asked for
exactly that; it never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from sealer import certs, extras, keypair, repofiles, strictjson, yamlio
from sealer.backends import CasConflict, VaultKV, check_segment
from sealer.errors import BackendError, BadInput, InterruptedInFlight, PartlyDone, SealerError
from sealer.records import iso, utcnow

FORMAT = "sealer-escrow/v1"
LIST_FORMAT = "sealer-escrow-list/v1"  # the controller's whole list of key Secrets
LIST_FILE = "sealed-secrets-key.yaml"
_SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
SCHEME = "vault:"


@dataclass(frozen=True)
class EscrowResult:
    target: str
    fingerprint: str
    version: int = 0
    unchanged: bool = False
    paths: dict[str, Path] = field(default_factory=dict)


def parse_target(target: str) -> tuple[str, str]:
    """(mount, path) of `vault:MOUNT/PATH`."""
    if not target.startswith(SCHEME):
        raise BadInput(f"escrow target {target!r}: expected vault:MOUNT/PATH")
    segments = [s for s in target[len(SCHEME) :].strip("/").split("/") if s]
    if len(segments) < 2:
        raise BadInput(f"escrow target {target!r}: expected vault:MOUNT/PATH, like vault:secret/escrow")
    for segment in segments:
        check_segment(segment, "escrow path segment")
    return segments[0], "/".join(segments[1:])


# -- reading a keypair from files ------------------------------------------------------------
def _from_secret(doc: Any, source: str) -> tuple[list[rsa.RSAPrivateKey], list[x509.Certificate]]:
    is_secret = isinstance(doc, Mapping) and doc.get("kind") == "Secret"
    if not is_secret or not isinstance(doc.get("data"), Mapping):
        raise BadInput(f"{source}: expected PEM files or a kubernetes.io/tls key Secret")
    try:
        crt = base64.b64decode(str(doc["data"].get("tls.crt", "")), validate=True)
        key = base64.b64decode(str(doc["data"].get("tls.key", "")), validate=True)
    except binascii.Error:
        raise BadInput(f"{source}: tls.crt or tls.key is not valid base64") from None
    keys = [keypair.load_private_key(key, source)] if key else []
    return keys, ([certs.parse_certificate(crt, source)] if crt else [])


def _read_file(path: Path) -> tuple[list[rsa.RSAPrivateKey], list[x509.Certificate]]:
    data = repofiles.read_input(path, "key file", user_path=True)
    if b"-----BEGIN" not in data:
        keys: list[rsa.RSAPrivateKey] = []
        found: list[x509.Certificate] = []
        for doc in yamlio.load_documents(data, str(path)):
            more_keys, more_certs = _from_secret(doc, str(path))
            keys += more_keys
            found += more_certs
        return keys, found
    keys = [keypair.load_private_key(data, str(path))] if b"PRIVATE KEY-----" in data else []
    found = [certs.parse_certificate(data, str(path))] if b"CERTIFICATE-----" in data else []
    return keys, found


def _files_of(source: Path) -> list[Path]:
    if not source.is_dir():
        return [source]
    pems = [source / "tls.key", source / "tls.crt"]
    if all(p.is_file() for p in pems):
        return pems
    if (source / "sealed-secrets-key.yaml").is_file():
        return [source / "sealed-secrets-key.yaml"]
    raise BadInput(f"{source}: holds neither tls.key + tls.crt nor sealed-secrets-key.yaml")


def _matching(key: rsa.RSAPrivateKey, cert: x509.Certificate, source: str) -> keypair.Keypair:
    public = cert.public_key()
    mine = key.public_key().public_numbers()
    if not isinstance(public, rsa.RSAPublicKey) or public.public_numbers() != mine:
        raise BadInput(f"{source}: the private key does not belong to the certificate")
    return keypair.Keypair(key, cert)


def load_keypair(sources: Path | Sequence[Path]) -> keypair.Keypair:
    """One keypair from a key folder (`sealer keypair` output), PEM files or a key Secret."""
    paths = [p for s in ([sources] if isinstance(sources, Path) else sources) for p in _files_of(Path(s))]
    keys: list[rsa.RSAPrivateKey] = []
    found: list[x509.Certificate] = []
    for path in paths:
        more_keys, more_certs = _read_file(path)
        keys += more_keys
        found += more_certs
    where = ", ".join(str(p) for p in paths)
    if len(keys) != 1 or len(found) != 1:
        raise BadInput(
            f"{where}: need exactly one private key and one certificate (found {len(keys)} and {len(found)})"
        )
    return _matching(keys[0], found[0], where)


# -- backup and restore ------------------------------------------------------------------------
def _payload(pair: keypair.Keypair) -> dict[str, str]:
    return {
        "format": FORMAT,
        "fingerprint": certs.fingerprint(pair.cert),
        "not_after": iso(pair.cert.not_valid_after_utc) or "",
        "created": iso(utcnow()) or "",
        "tls.crt": keypair.cert_pem(pair).decode(),
        "tls.key": keypair.key_pem(pair).decode(),
    }


def _same(existing: Mapping[str, Any], payload: Mapping[str, str]) -> bool:
    secret = "secrets" if payload["format"] == LIST_FORMAT else "tls.key"
    return existing.get("fingerprint") == payload["fingerprint"] and hmac.compare_digest(
        str(existing.get(secret, "")).encode(), payload[secret].encode()
    )


def backup(
    sources: Path | Sequence[Path], target: str, *, force: bool = False, kv: VaultKV | None = None
) -> EscrowResult:
    """Store the keypair at `target`; an existing different backup stays unless `force`."""
    mount, path = parse_target(target)
    listed = key_list(sources)
    payload = _list_payload(listed) if listed is not None else _payload(load_keypair(sources))
    if kv is None:
        extras.require("vault-escrow")
    kv = kv or VaultKV.from_env(mount)
    version, existing = kv.read(path)
    if existing and _same(existing, payload):
        return EscrowResult(target, payload["fingerprint"], version, unchanged=True)
    if existing and not force:
        held = str(existing.get("fingerprint", "unknown"))[:16]
        raise BadInput(f"{target} already holds a backup (certificate {held}...); pass --force to replace it")
    try:
        written = kv.write(path, payload, cas=version)
    except CasConflict:
        raise BackendError(f"{target} changed while the backup was written; run again") from None
    return EscrowResult(target, payload["fingerprint"], written)


def backup_after_write(folder: Path, target: str, *, force: bool, written: bool) -> EscrowResult:
    """`backup`; when it fails after `sealer keypair` wrote a new keypair to `folder`, say that
    the keypair landed and how to escrow it (PartlyDone), never "nothing changed"."""
    try:
        return backup(folder, target, force=force)
    except (SealerError, InterruptedInFlight) as err:  # Ctrl-C leaving the backup's write under way too
        if not written:
            raise
        raise PartlyDone(
            f"a new keypair is written to {folder}, but its backup to {target} failed: {err}; "
            f"fix that and run `sealer keypair --out {folder} --backup {target}` again to escrow that keypair"
        ) from None


def restore(
    target: str, out: Path, *, namespace: str = "kube-system", kv: VaultKV | None = None
) -> EscrowResult:
    """Write tls.crt, tls.key (0600) and sealed-secrets-key.yaml (0600) from the backup at `target`."""
    mount, path = parse_target(target)
    keypair.outside_git(out)  # a keypair, or the List of every key: never into a work tree (asked first)
    if kv is None:
        extras.require("vault-escrow")
    kv = kv or VaultKV.from_env(mount)
    version, data = kv.read(path)
    if not data:
        raise BadInput(f"{target}: no backup there")
    if data.get("format") == LIST_FORMAT:
        return _restore_list(target, data, version, out, namespace)
    if data.get("format") != FORMAT:
        raise BadInput(f"{target}: not a sealer escrow backup")
    cert = certs.parse_certificate(str(data.get("tls.crt", "")).encode(), target)
    pair = _matching(keypair.load_private_key(str(data.get("tls.key", "")).encode(), target), cert, target)
    fingerprint = certs.fingerprint(cert)
    if data.get("fingerprint") != fingerprint:
        raise BadInput(f"{target}: the recorded fingerprint does not match the stored certificate")
    paths = keypair.write(pair, out, namespace)
    return EscrowResult(target, fingerprint, version, paths=paths)


# -- the controller's whole list of key Secrets --------------------------------------------------
@dataclass(frozen=True)
class NamedKeypair:
    """One key Secret of the controller: its name (kept on restore) and its keypair."""

    name: str
    pair: keypair.Keypair


def key_list(sources: Path | Sequence[Path]) -> list[NamedKeypair] | None:
    """The key Secrets of a `v1 List` file, as `kubectl get secret -l
    sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` prints it; None for any other source."""
    paths = [p for s in ([sources] if isinstance(sources, Path) else sources) for p in _files_of(Path(s))]
    if len(paths) != 1:
        return None
    data = repofiles.read_input(paths[0], "key file", user_path=True)
    docs = [] if b"-----BEGIN" in data else yamlio.load_documents(data, str(paths[0]))
    if len(docs) != 1 or not isinstance(docs[0], Mapping) or docs[0].get("kind") != "List":
        return None
    items = docs[0].get("items")
    if not isinstance(items, list) or not items:
        raise BadInput(f"{paths[0]}: the List holds no key Secret")
    found = [_named_pair(item, f"{paths[0]}: items[{i}]") for i, item in enumerate(items)]
    for what in ("name", "fingerprint"):
        values = [p.name if what == "name" else certs.fingerprint(p.pair.cert) for p in found]
        if len(set(values)) != len(values):
            raise BadInput(f"{paths[0]}: the List holds a key Secret {what} twice")
    return found


def _named_pair(item: Any, where: str) -> NamedKeypair:
    keys, found = _from_secret(item, where)
    if len(keys) != 1 or len(found) != 1:
        raise BadInput(f"{where}: a key Secret needs tls.key and tls.crt")
    name = str(((item.get("metadata") or {}) if isinstance(item, Mapping) else {}).get("name") or "")
    if not _SECRET_NAME.fullmatch(name):
        raise BadInput(f"{where}: a key Secret needs a valid metadata.name")
    return NamedKeypair(name, _matching(keys[0], found[0], where))


def _list_payload(pairs: Sequence[NamedKeypair]) -> dict[str, str]:
    secrets = [
        {
            "name": p.name,
            "fingerprint": certs.fingerprint(p.pair.cert),
            "tls.crt": keypair.cert_pem(p.pair).decode(),
            "tls.key": keypair.key_pem(p.pair).decode(),
        }
        for p in pairs
    ]
    return {
        "format": LIST_FORMAT,
        "fingerprint": ",".join(s["fingerprint"] for s in secrets),
        "created": iso(utcnow()) or "",
        "secrets": json.dumps(secrets, sort_keys=True),
    }


def _restore_list(
    target: str, data: Mapping[str, Any], version: int, out: Path, namespace: str
) -> EscrowResult:
    """Write the List back (0600), every Secret under its own name, each key checked against
    its certificate and the recorded fingerprints."""
    try:
        stored = strictjson.loads(str(data.get("secrets", "")))
    except ValueError:
        raise BadInput(f"{target}: the escrowed key list is damaged") from None
    if not isinstance(stored, list) or not stored or not all(isinstance(s, Mapping) for s in stored):
        raise BadInput(f"{target}: the escrowed key list is damaged")
    items = []
    for i, entry in enumerate(stored):
        where = f"{target}: key {i}"
        cert = certs.parse_certificate(str(entry.get("tls.crt", "")).encode(), where)
        pair = _matching(keypair.load_private_key(str(entry.get("tls.key", "")).encode(), where), cert, where)
        name = str(entry.get("name", ""))
        if entry.get("fingerprint") != certs.fingerprint(cert) or not _SECRET_NAME.fullmatch(name):
            raise BadInput(f"{where}: the recorded name or fingerprint does not match the stored key")
        items.append(keypair.key_secret(pair, namespace, name))
    fingerprints = ",".join(str(e["fingerprint"]) for e in stored)
    if data.get("fingerprint") != fingerprints:
        raise BadInput(f"{target}: the recorded fingerprints do not match the stored keys")
    path = out / LIST_FILE
    if os.path.lexists(path):  # a dangling symlink too
        raise BadInput(f"refusing to overwrite {path}")
    repofiles.make_folder(out, private=True)  # #13: 0700, no symlink followed
    doc = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}
    text = yamlio.dump_documents([doc])
    repofiles.write(path, text, keypair.SECRET_MODE, user_path=True, replace=False)  # another run's: kept
    return EscrowResult(target, fingerprints, version, paths={"secret": path})


@dataclass(frozen=True)
class KeypairRequest:
    """What `sealer keypair` was asked for: make (or restore) a keypair in `out`, maybe escrow it."""

    out: Path
    bits: int = 4096
    days: int = keypair.DEFAULT_DAYS
    namespace: str = "kube-system"
    backup_to: str | None = None
    restore_from: str | None = None
    force: bool = False


def provide_keypair(request: KeypairRequest) -> dict[str, object]:
    """Restore the escrowed keypair into `out`; or make one there, unless a backup is asked for
    and `out` already holds a keypair (then that one is escrowed), and escrow it when asked.
    Returns what to report: the files, the certificate, the backup."""
    out = request.out
    if request.restore_from:
        restored = restore(request.restore_from, out, namespace=request.namespace)
        report: dict[str, object] = {"restored_from": restored.target, "fingerprint": restored.fingerprint}
        return report | {k: str(v) for k, v in restored.paths.items()}
    if request.backup_to:
        parse_target(request.backup_to)  # a bad target fails before a keypair is made
        extras.require("vault-escrow")  # …and so does a missing client library
    report = {}
    held = any((out / name).exists() for name in ("tls.key", "sealed-secrets-key.yaml"))
    if not (request.backup_to and held):
        pair = keypair.generate(bits=request.bits, days=request.days)
        paths = keypair.write(pair, out, request.namespace)
        report.update({k: str(v) for k, v in paths.items()})
        report.update(certs.describe(pair.cert, str(paths["cert"])).as_dict())
    if request.backup_to:
        saved = backup_after_write(out, request.backup_to, force=request.force, written=not held)
        report.update(backup=saved.target, fingerprint=saved.fingerprint, backup_unchanged=saved.unchanged)
    return report
