"""Review of a cluster's certificate set: a certificate added, `sealWith` moved, a certificate
file out of step with its pin, and whether an entry's claimed certificate can be believed.

Adding a certificate is the most sensitive change there is: the next rotation seals production's
key for it. It is a `cert-added` finding that needs an approval the pull request's author cannot
give (the approval mechanism is review's, see the README), never a note.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sealer.config import Cluster, Environment
from sealer.errors import SealerError
from sealer.review.model import CERT_ADDED  # sensitive: an approval from outside the PR

if TYPE_CHECKING:
    from cryptography import x509

CERT_FILE = "cert-file-mismatch"
# Its pin and more (a second certificate, a key, text): kubeseal and a reviewer may read another
# part of it. Not sensitive: no approval lets it through, as `sealer check` refuses it.
CERT_FILE_CONTENT = "cert-file-content"
NEEDS_APPROVAL = "needs owner approval"


@dataclass(frozen=True)
class CertFacts:
    fingerprint: str
    key_bits: int | None  # None: not an RSA key
    self_signed: bool
    spki: str  # SHA-256 of the public key: two certificates of one key share it
    not_before: str
    not_after: str


def facts(pem: str | None) -> CertFacts | None:
    """What a reviewer needs to know about a certificate file; None when it is not one."""
    if not pem:
        return None
    from cryptography.hazmat.primitives.asymmetric import rsa

    from sealer import certs

    try:
        cert = certs.parse_certificate(pem.encode(), "certificate")
    except SealerError:
        return None
    key = cert.public_key()
    return CertFacts(
        fingerprint=certs.fingerprint(cert),
        key_bits=key.key_size if isinstance(key, rsa.RSAPublicKey) else None,
        self_signed=_self_signed(cert),
        spki=certs.key_fingerprint(cert),
        not_before=f"{cert.not_valid_before_utc:%Y-%m-%d}",
        not_after=f"{cert.not_valid_after_utc:%Y-%m-%d}",
    )


def _beside(pem: str | None) -> str | None:
    """What a pinned file that holds its certificate holds besides it (sealer.certs)."""
    from sealer import certs

    return certs.beside_the_certificate((pem or "").encode())


def content_problem(path: str, data: bytes | None, pinned: bool) -> str | None:
    """What is wrong with a version of a certificate file (`data`: None when too big to hold),
    one a cluster pins or any other of the certificates folder: it must hold one PEM certificate
    and nothing else (kubeseal's `--cert`, a reviewer or a script may take any file there for a
    certificate). Each version a commit adds is judged: one undone later stays in Git's history."""
    from sealer import certs

    what = "too many bytes for one certificate" if data is None else certs.not_just_a_certificate(data)
    if what is None:
        return None
    return f"{path} holds {what}: {certs.PINNED_RULE if pinned else certs.FOLDER_RULE}"


def _self_signed(cert: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def set_findings(
    old: Environment | None, new: Environment | None, files: Mapping[str, str | None]
) -> Iterator[tuple[str, str, str]]:
    """(code, path, message) for each cluster of `new`: certificates added to its set and
    certificate files that do not hold their pin. `files`: the texts at HEAD."""
    from sealer import certs

    before = {c.name: c for c in old.clusters} if old else {}
    for cluster in new.clusters if new else ():
        held = {h.fingerprint: facts(files.get(h.cert)) for h in cluster.cert_set}
        for h in cluster.cert_set:
            found = held[h.fingerprint]
            if found is None or found.fingerprint != h.fingerprint:
                yield (
                    CERT_FILE,
                    h.cert,
                    f"{cluster.name}: {h.cert} does not hold the pinned {h.fingerprint[:16]}…",
                )
            elif extra := _beside(files.get(h.cert)):
                yield (
                    CERT_FILE_CONTENT,
                    h.cert,
                    f"{cluster.name}: {h.cert} holds {extra}: {certs.PINNED_RULE}",
                )
        was = before.get(cluster.name)
        if old is None:
            continue  # a new environment: review reports it
        for h in cluster.cert_set:
            if was is None or not was.holds(h.fingerprint):
                yield CERT_ADDED, h.cert, _added_message(cluster, h.fingerprint, held)


def _added_message(cluster: Cluster, fp: str, held: Mapping[str, CertFacts | None]) -> str:
    found = held.get(fp)
    role = "and seals with it (sealWith)" if fp == cluster.fingerprint else "(sealWith unchanged)"
    text = f"{cluster.name}: certificate {fp[:16]}… added to the set {role}; {NEEDS_APPROVAL}"
    if found is None:
        return text
    traits = [f"valid {found.not_before} to {found.not_after}"]
    traits.append(f"RSA-{found.key_bits}" if found.key_bits else "not an RSA key")
    if not found.self_signed:
        traits.append("not self-signed (the controller makes self-signed certificates)")
    twins = [f[:16] + "…" for f, o in held.items() if o and f != fp and o.spki == found.spki]
    if twins:
        traits.append(f"same public key as {', '.join(twins)}")
    return f"{text}: {'; '.join(traits)}; verify it out of band against the controller"


def claimed_size(cluster: Cluster | None, fp: str, files: Mapping[str, str | None]) -> int | None:
    """Modulus bytes of the certificate an entry claims, when the claim names one of the set;
    0 when it names none (the claim is false); None when nothing can be told."""
    if cluster is None or fp == "unknown":
        return None
    held = cluster.held_cert(fp)
    if held is None:
        return 0
    found = facts(files.get(held.cert))
    return found.key_bits // 8 if found and found.key_bits else None
