"""Secrets in, SealedSecrets out: the same objects kubeseal makes, plus provenance."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from sealer import certs, hybrid, parallel_seal, provenance, yamlio
from sealer.errors import BadInput
from sealer.scope import Scope, label, scope_annotations, scope_of, without_scope
from sealer.secret import SecretSpec, check_name, check_namespace

if TYPE_CHECKING:
    from cryptography import x509

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"


@dataclass(frozen=True)
class CertSealer:
    """A certificate checked once and ready to seal with."""

    public_key: RSAPublicKey
    fingerprint: str

    @classmethod
    def from_certificate(cls, cert: x509.Certificate, source: str) -> CertSealer:
        return cls(certs.sealing_key(cert, source), certs.fingerprint(cert))

    @classmethod
    def from_pem(cls, data: bytes, source: str) -> CertSealer:
        """Like `from_certificate(certs.parse_certificate(data))`, without loading
        `cryptography.x509` when the certificate is plainly fit (the common case)."""
        fast = certs.fast_sealing_key(data)
        if fast:
            return cls(*fast)
        return cls.from_certificate(certs.parse_certificate(data, source), source)

    def seal_values(self, scope: Scope, namespace: str, name: str, values: list[bytes]) -> list[str]:
        """Base64 ciphertext for each value, bound to the scope's label."""
        seal = functools.partial(hybrid.encrypt, self.public_key, label(scope, namespace, name))
        return parallel_seal.seal_all(seal, values)


def sealed_secret(spec: SecretSpec, sealer: CertSealer, scope: Scope) -> dict[str, Any]:
    """The SealedSecret kubeseal makes of `spec`, plus the sealing certificate's fingerprint.

    Both the top-level and the template annotations carry exactly `scope`'s annotation, as
    kubeseal's --scope leaves them, whatever scope annotations the input Secret had.
    """
    names = sorted(spec.data)
    encrypted = sealer.seal_values(scope, spec.namespace, spec.name, [spec.data[n] for n in names])
    top_annotations = scope_annotations(scope)
    provenance.record(top_annotations, names, names, sealer.fingerprint)
    template_meta: dict[str, Any] = {"name": spec.name}
    meta: dict[str, Any] = {"name": spec.name}
    if spec.namespace:
        template_meta["namespace"] = meta["namespace"] = spec.namespace
    meta["annotations"] = top_annotations
    template_annotations = {**without_scope(spec.annotations), **scope_annotations(scope)}
    if template_annotations:
        template_meta["annotations"] = template_annotations
    if spec.labels:
        template_meta["labels"] = dict(spec.labels)
    template: dict[str, Any] = {"metadata": template_meta, "type": spec.type}
    if spec.immutable is not None:
        template["immutable"] = spec.immutable
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta,
        "spec": {"encryptedData": dict(zip(names, encrypted, strict=True)), "template": template},
    }


def seal_raw(sealer: CertSealer, scope: Scope, namespace: str, name: str, value: bytes) -> str:
    """One sealed value, as `kubeseal --raw` prints it. Only strict scope needs a name and
    cluster-wide needs neither name nor namespace, since the OAEP label holds no more."""
    if name:
        check_name(name)
    check_namespace(namespace)
    return sealer.seal_values(scope, namespace, name, [value])[0]


def check_sealed_secret(doc: Any, source: str) -> Mapping[str, Any]:
    """`doc` if it has the shape of a SealedSecret sealer can read, else BadInput."""
    if not isinstance(doc, Mapping) or doc.get("kind") != KIND or doc.get("apiVersion") != API_VERSION:
        raise BadInput(f"{source}: not a {API_VERSION} SealedSecret")
    if not isinstance(doc.get("metadata"), Mapping) or not doc["metadata"].get("name"):
        raise BadInput(f"{source}: SealedSecret has no metadata.name")
    spec = doc.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("encryptedData") or {}, Mapping):
        raise BadInput(f"{source}: SealedSecret has no spec.encryptedData map")
    template = spec.get("template") or {}
    if not isinstance(template, Mapping) or not isinstance(template.get("metadata") or {}, Mapping):
        raise BadInput(f"{source}: SealedSecret spec.template must be a map with a metadata map")
    if not isinstance(doc["metadata"].get("annotations") or {}, Mapping):
        raise BadInput(f"{source}: SealedSecret metadata.annotations must be a map")
    return doc


def merge_into(doc: Any, spec: SecretSpec, sealer: CertSealer, source: str) -> dict[yamlio.KeyPath, Any]:
    """Seal `spec`'s entries into the existing SealedSecret `doc` (a ruamel tree) in place; the
    values it set, by key path (`yamlio.round_trip_edited`'s changes).

    Name, namespace and scope come from the existing object, as the controller will read them;
    every entry not in `spec` keeps its ciphertext untouched.
    """
    check_sealed_secret(doc, source)
    meta = doc["metadata"]
    name, namespace = str(meta["name"]), str(meta.get("namespace") or "")
    for field, given, have in (("name", spec.name, name), ("namespace", spec.namespace, namespace)):
        if given and given != have:
            raise BadInput(f"{source}: {field} is {have!r}, the input Secret says {given!r}")
    scope = scope_of(meta.get("annotations"))
    names = sorted(spec.data)
    encrypted = sealer.seal_values(scope, namespace, name, [spec.data[n] for n in names])
    if not isinstance(doc["spec"].get("encryptedData"), Mapping):  # none, null, "" or []: no entries
        doc["spec"]["encryptedData"] = {}
    entries = doc["spec"]["encryptedData"]
    before = list(entries)
    entries.update(zip(names, encrypted, strict=True))
    if not isinstance(meta.get("annotations"), Mapping):  # as for encryptedData
        meta["annotations"] = {}
    provenance.record(meta["annotations"], names, [*before, *names], sealer.fingerprint)
    changes: dict[yamlio.KeyPath, Any] = {("spec", "encryptedData", n): entries[n] for n in names}
    for key in (provenance.CERT_ANNOTATION, provenance.OTHER_CERTS_ANNOTATION):
        changes["metadata", "annotations", key] = meta["annotations"].get(key, yamlio.DELETED)
    return changes
