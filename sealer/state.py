"""The sealed state of a repo: one SealedSecret per environment and cluster under `sealed/`.

These files are the source the values files are rendered from, and can be applied as they are.
They are machine-written with the deterministic emitter: an entry that is not resealed keeps
its ciphertext line byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from sealer import layout, provenance, repofiles, yamlio
from sealer.config import Environment
from sealer.errors import BadInput
from sealer.scope import label, scope_of
from sealer.sealing import CertSealer, check_sealed_secret, sealed_secret
from sealer.secret import SecretSpec

HEADER = "# Managed by sealer (`sealer rotate`): do not edit by hand. Safe to commit: values are sealed.\n"
MANAGED_BY = {"app.kubernetes.io/managed-by": "sealer"}


def load(root: Path, env: str, cluster: str) -> dict[str, Any] | None:
    return load_with_text(root, env, cluster)[0]


def load_with_text(root: Path, env: str, cluster: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the SealedSecret, the file's text), or (None, None) when there is no sealed file yet."""
    path = layout.sealed_path(root, env, cluster)
    try:  # a dangling symlink is refused as a symlink, not taken for no file (exists() follows it)
        text = repofiles.read_text(path)
    except FileNotFoundError:
        return None, None
    # A file as `dump` wrote it is read without a YAML parser (see yamlio.load_dumped).
    doc = yamlio.load_dumped(text[len(HEADER) :]) if text.startswith(HEADER) else None
    if doc is None:
        docs = yamlio.load_documents(text, str(path))
        if not docs or not isinstance(docs[0], dict):
            raise BadInput(f"{path}: empty or not a SealedSecret")
        doc = yamlio.only_document(docs, str(path))  # a GitOps tool applies a second one too
    return doc, text


def encrypted_data(doc: Mapping[str, Any] | None) -> dict[str, str]:
    """A SealedSecret's encryptedData; {} for any other YAML (`spec: x`: review reads any text a
    sealed file held, at HEAD or in history)."""
    spec = doc.get("spec") if isinstance(doc, Mapping) else None
    data = spec.get("encryptedData") if isinstance(spec, Mapping) else None
    return dict(data) if isinstance(data, Mapping) else {}


def annotations_of(doc: Any) -> Mapping[str, Any]:
    """A SealedSecret's annotations; {} for any other YAML (`metadata: x`, `annotations: [x]`:
    a pull request's sealed file is anyone's), as the scope and provenance read them."""
    meta = doc.get("metadata") if isinstance(doc, Mapping) else None
    found = meta.get("annotations") if isinstance(meta, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def values_encrypted(sub: Any) -> dict[str, str]:
    """A values file's `sealer.encryptedData`, given its `sealer:` subtree: the ciphertexts the
    chart builds its SealedSecret from; {} for anything else."""
    data = sub.get("encryptedData") if isinstance(sub, Mapping) else None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, Mapping) else {}


def skeleton(env: Environment, sealer: CertSealer) -> dict[str, Any]:
    spec = SecretSpec(name=env.secret_name, namespace=env.namespace, labels=dict(MANAGED_BY))
    return sealed_secret(spec, sealer, env.scope)


def sealed_target(doc: Mapping[str, Any]) -> tuple[str, str, str]:
    """(name, namespace, scope) a SealedSecret is sealed for: what its labels are bound to."""
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return str(meta.get("name")), str(meta.get("namespace")), scope_of(annotations_of(doc)).value


def wanted_target(env: Environment) -> tuple[str, str, str]:
    """(name, namespace, scope) sealer.yaml binds the environment's SealedSecret to."""
    return env.secret_name, env.namespace, env.scope.value


def target_mismatch(doc: Mapping[str, Any], env: Environment, path: str) -> str | None:
    """How a sealed file is bound to another target than sealer.yaml says (then no entry in it
    can be opened), or None when it is bound to the right one."""
    have, want = sealed_target(doc), wanted_target(env)
    if have == want:
        return None
    return (
        f"{path} is sealed for {have[0]}/{have[1]} ({have[2]}) but sealer.yaml says "
        f"{want[0]}/{want[1]} ({want[2]})"
    )


def check_target(doc: Mapping[str, Any], env: Environment, path: str) -> None:
    """A sealed file must still be bound to what sealer.yaml says (else every entry is unusable)."""
    mismatch = target_mismatch(doc, env, path)
    if mismatch:
        raise BadInput(f"{mismatch}: reseal every entry (`sealer rotate {env.name}` without --key)")


def _retargeted(doc: Mapping[str, Any], env: Environment, sealed: Mapping[str, str], path: str) -> bool:
    """True when every entry of `doc` is being resealed for a new name, namespace or scope."""
    if not set(encrypted_data(doc)) <= set(sealed):
        return False
    try:
        check_target(doc, env, path)
    except BadInput:
        return True
    return False


def merged(
    doc: dict[str, Any] | None, env: Environment, sealer: CertSealer, sealed: Mapping[str, str], source: str
) -> dict[str, Any]:
    """`doc` (or a new SealedSecret) with `sealed` (entry -> ciphertext made by `sealer`) put in."""
    if doc is None or _retargeted(doc, env, sealed, source):
        doc = skeleton(env, sealer)
    else:
        check_sealed_secret(doc, source)  # a hand-edited file's parts must be maps before they are filled
        check_target(doc, env, source)
    entries = _filled(doc["spec"], "encryptedData")
    before = list(entries)
    entries.update(sealed)
    annotations = _filled(doc["metadata"], "annotations")
    provenance.record(annotations, list(sealed), [*before, *sealed], sealer.fingerprint)
    return doc


def _filled(parent: MutableMapping[str, Any], key: str) -> MutableMapping[str, Any]:
    """`parent[key]`, an empty one put there when it is missing or null (`annotations:` left with
    nothing under it once its last line was removed); `check_sealed_secret` refused any other
    value that is no mapping."""
    if parent.get(key) is None:
        parent[key] = {}
    found: MutableMapping[str, Any] = parent[key]
    return found


def dump(doc: Mapping[str, Any]) -> str:
    return HEADER + yamlio.dump(dict(doc))


def seal_entries(env: Environment, sealer: CertSealer, values: Mapping[str, bytes]) -> dict[str, str]:
    names = list(values)
    label(env.scope, env.namespace, env.secret_name)  # fail early with a clear message
    sealed = sealer.seal_values(env.scope, env.namespace, env.secret_name, [values[n] for n in names])
    return dict(zip(names, sealed, strict=True))
