"""By construction: every managed file at HEAD, except the ciphertexts, must be exactly what
sealer writes from HEAD's ledger and configuration. Recompute, then compare.

- a sealed file: the SealedSecret `state.skeleton` makes for the environment, with the file's
  own ciphertexts and provenance put in, dumped by sealer's emitter, byte for byte;
- a values file: its `sealer:` subtree equal to `render.subtree_text` of the sealed file and
  the ledger (certificate fingerprint, key ids, fingerprint prefixes, dates, checksum);
- a ledger: readable, and (when the range changed it) byte for byte what `ledger.dump` writes;
- a certificate file: the one pinned;
- one YAML document per managed file.
A change nobody has listed yet (an extra label, a second document, an edited checksum) is then
a finding too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sealer import git, layout, ledger, provenance, render, state, yamlio
from sealer.config import Cluster, Environment
from sealer.errors import SealerError
from sealer.records import KeyRecord
from sealer.review.model import (
    CERT_MISMATCH,
    DERIVED,
    EXTRA_DOCUMENT,
    LEDGER_INVALID,
    MANIFEST,
    Finding,
)

_HEX64 = re.compile(r"[0-9a-f]{64}")


def documents(text: str, source: str) -> list[Any] | None:
    try:
        return yamlio.load_documents(text, source)
    except SealerError:
        return None


def read_ledger(env: str, text: str | None) -> tuple[list[KeyRecord], str | None]:
    """(records, problem): a missing file is no records, a broken one a problem."""
    if text is None:
        return [], None
    try:
        return ledger.parse(env, text, layout.ledger_file(env)), None
    except SealerError as err:
        return [], str(err)


def ledger_findings(env: str, text: str | None, changed: bool) -> list[Finding]:
    path = layout.ledger_file(env)
    records, problem = read_ledger(env, text)
    if problem:
        return [Finding(LEDGER_INVALID, env, path, None, f"unreadable: {problem}")]
    if changed and text is not None and text != ledger.dump(env, records):
        return [Finding(LEDGER_INVALID, env, path, None, "not as sealer writes it (edited by hand?)")]
    return []


def cert_findings(env: str, cluster: Cluster, pem: str | None) -> list[Finding]:
    from sealer import certs

    try:
        fp = certs.fingerprint(certs.parse_certificate((pem or "").encode(), cluster.cert)) if pem else None
    except SealerError:
        fp = None
    if fp == cluster.fingerprint:
        return []
    return [
        Finding(
            CERT_MISMATCH,
            env,
            cluster.cert,
            None,
            f"{cluster.cert} is {'missing or unreadable' if fp is None else fp[:16] + '…'}, "
            f"not the certificate pinned for {env}/{cluster.name} ({cluster.fingerprint[:16]}…)",
        )
    ]


def _provenance_ok(annotations: Mapping[str, Any], entries: Mapping[str, Any]) -> bool:
    main = annotations.get(provenance.CERT_ANNOTATION)
    if not isinstance(main, str) or not _HEX64.fullmatch(main):
        return False
    try:
        others = provenance.other_certs(annotations)
    except provenance.Unreadable:
        return False
    return all(e in entries and _HEX64.fullmatch(fp) for e, fp in others.items())


def expected_sealed(env: Environment, pem: str, cluster: Cluster, doc: Mapping[str, Any]) -> str | None:
    """The sealed file sealer writes for `env`, holding `doc`'s ciphertexts and provenance."""
    from sealer import certs
    from sealer.sealing import CertSealer

    try:
        sealer = CertSealer.from_certificate(
            certs.parse_certificate(pem.encode(), cluster.cert), cluster.cert
        )
    except SealerError:
        return None
    want = state.skeleton(env, sealer)
    spec, meta = _mapping(doc.get("spec")), _mapping(doc.get("metadata"))
    data = spec.get("encryptedData", {})
    if not isinstance(data, dict):
        return None
    want["spec"]["encryptedData"] = {str(k): v for k, v in data.items()}
    annotations = _mapping(meta.get("annotations"))
    if not _provenance_ok(annotations, data):
        return None
    for key in (provenance.CERT_ANNOTATION, provenance.OTHER_CERTS_ANNOTATION):
        if key in annotations:
            want["metadata"]["annotations"][key] = annotations[key]
    return state.dump(want)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first_difference(have: str, want: str) -> str:
    for number, (a, b) in enumerate(zip(have.splitlines(), want.splitlines(), strict=False), 1):
        if a != b:
            return f"line {number}: {a.strip()[:60]!r}, sealer writes {b.strip()[:60]!r}"
    return "lines added or missing"


def sealed_findings(env: Environment, cluster: Cluster, text: str, pem: str | None) -> list[Finding]:
    path = layout.sealed_file(env.name, cluster.name)
    docs = documents(text, path)
    if docs is None or not docs or not isinstance(docs[0], dict):
        return []  # reported as malformed by the per-environment checks
    if len(docs) != 1:
        return [
            Finding(EXTRA_DOCUMENT, env.name, path, None, f"{len(docs)} YAML documents, sealer writes one")
        ]
    want = expected_sealed(env, pem, cluster, docs[0]) if pem else None
    if want is None:
        why = provenance.unreadable(_mapping(docs[0].get("metadata")).get("annotations"))
        return [
            Finding(
                MANIFEST,
                env.name,
                path,
                None,
                f"not a SealedSecret sealer writes ({why or 'metadata or provenance'})",
            )
        ]
    if text == want:
        return []
    return [
        Finding(
            MANIFEST,
            env.name,
            path,
            None,
            f"differs from what sealer writes: {_first_difference(text, want)}",
        )
    ]


def _one_document(env: Environment, path: str, text: str | None) -> tuple[list[Any], list[Finding]]:
    """A values file's documents (none when absent), or the finding that it is not one readable
    YAML document as sealer writes it: nor one ending with an empty document, which Helm skips
    but sealer's editor refuses (`yamlio.trailing_empty`), nor any other the editor refuses
    (`render.editor_refusal`), as check's values-file does."""
    try:
        every = yamlio.load_with_nodes(text, path, empty=True) if text is not None else []
    except SealerError:
        return [], [Finding(DERIVED, env.name, path, None, "not readable YAML")]
    docs = render.helm_read(every)
    if len(docs) > 1:  # an empty one counts: Helm reads the first alone
        message = f"{len(docs)} YAML documents, sealer writes one"
        return [], [Finding(EXTRA_DOCUMENT, env.name, path, None, message)]
    if yamlio.trailing_empty(every):
        message = f"{yamlio.TRAILING_EMPTY}: sealer's editor reads a second document and refuses it"
        return [], [Finding(EXTRA_DOCUMENT, env.name, path, None, message)]
    refused = render.editor_refusal(text, path) if text is not None else None
    if refused is not None:  # a rotation would stop on it
        why = str(refused).removeprefix(f"{path}: ")
        return [], [Finding(DERIVED, env.name, path, None, f"sealer's editor refuses it: {why}")]
    return [doc.value for doc in docs], []


def values_findings(
    env: Environment, cluster: Cluster, text: str | None, sealed: dict[str, Any], records: list[KeyRecord]
) -> list[Finding]:
    """The `sealer:` subtree must be exactly the rendering of the sealed file and the ledger."""
    path = cluster.values_file
    docs, unreadable = _one_document(env, path, text)
    if unreadable:
        return unreadable
    have = docs[0].get(render.SUBTREE) if docs and isinstance(docs[0], dict) else None
    subtree = render.subtree_text(env, cluster, sealed, ledger.current(env.keys, records))
    want = yamlio.load_documents(subtree, "rendered values")[0]
    if not isinstance(have, dict):
        return [
            Finding(DERIVED, env.name, path, None, f"no `sealer:` mapping: run `sealer render {env.name}`")
        ]
    if render.merged_subtree(text or "", path):
        message = "a merge key (`<<`) gives `sealer` or a key below it: Helm may deliver another subtree"
        return [Finding(DERIVED, env.name, path, None, message)]
    found = [
        Finding(
            DERIVED, env.name, path, None, f"sealer.{key} is not what sealer renders from the ledger and pins"
        )
        for key in sorted(set(have) | set(want), key=str)
        if have.get(key) != want.get(key)
    ]
    if not found and not _renders_to_itself(text or "", subtree, path):
        message = "the `sealer:` subtree is not written as sealer renders it (duplicate keys, anchors, tags?)"
        found.append(Finding(DERIVED, env.name, path, None, message))
    return found


def unsealed_values_findings(env: Environment, path: str, text: str | None) -> list[Finding]:
    """A values file with no sealed file behind it: sealer renders no `sealer:` subtree there, so
    one (an old ciphertext the release would deliver) is a finding, and so is a file sealer's
    reader refuses (another parser may still find one in it)."""
    docs, unreadable = _one_document(env, path, text)
    if unreadable:
        return unreadable
    if docs and isinstance(docs[0], dict) and render.SUBTREE in docs[0]:
        message = (
            f"a `sealer:` subtree with no sealed file behind it: sealer renders none until "
            f"`sealer rotate {env.name}`"
        )
        return [Finding(DERIVED, env.name, path, None, message)]
    return []


def _renders_to_itself(text: str, subtree: str, path: str) -> bool:
    """Re-rendering leaves a values file sealer wrote byte for byte as it is (render's promise);
    a subtree a YAML parser other than ours could read differently does not survive it."""
    try:
        return render.render_values(text, subtree, path) == text
    except SealerError:
        return False


def foreign_sealed_findings(
    envs: Iterable[str], changed: Iterable[str], files: Mapping[str, str | None], modes: Mapping[str, str]
) -> list[Finding]:
    """A file under sealed/ that is no environment's `sealed/<env>/<cluster>.yaml`: review reads
    only those, while a GitOps tool pointed at sealed/<env>/ applies whatever the folder holds
    that it may apply (`applied`: a key registry in `registry.json`, a SealedSecret of an
    environment spelt `Staging`). `modes`: HEAD's, path -> mode."""
    names = list(envs)
    found = []
    for rel in changed:
        if not rel.startswith(f"{layout.SEALED_DIR}/") or files.get(rel) is None:
            continue
        if not any(layout.sealed_cluster(name, rel) for name in names) and applied(rel, modes):
            env = rel.split("/")[1] if rel.count("/") > 1 else ""
            message = "sealer writes no such file (only sealed/<env>/<cluster>.yaml): remove it"
            found.append(Finding(MANIFEST, env, rel, None, message))
    return found


def left_sealed_findings(
    envs: Mapping[str, Environment], names: Iterable[str], present: Mapping[str, str], told: set[str]
) -> list[Finding]:
    """A file HEAD holds in sealed/<env>/ of an environment the range touched that is no sealed
    file of a cluster HEAD's sealer.yaml lists for it and a GitOps tool may apply (`applied`):
    a cluster (or the environment) taken out of sealer.yaml leaves its SealedSecret, which a
    GitOps tool keeps applying and no rotation reseals again, so an approved pin-change must not
    pass it. `present`: HEAD's paths there -> mode; `told`: paths already found
    (`foreign_sealed_findings`)."""
    touched, found = set(names), []
    for rel in present:
        top, _, below = rel.partition("/")
        name = below.partition("/")[0]
        if top != layout.SEALED_DIR or name == below or name not in touched or rel in told:
            continue
        env = envs.get(name)
        listed = {layout.folded(layout.sealed_file(name, c.name)) for c in env.clusters} if env else set()
        if layout.folded(rel) in listed or not applied(rel, present):  # or in another case: case-collision's
            continue
        message = (
            f"sealer.yaml lists no cluster of {name} sealed in this file, yet a GitOps tool applying "
            f"sealed/{name}/ keeps applying it and no rotation reseals it: remove it"
        )
        found.append(Finding(MANIFEST, name, rel, None, message))
    return found


def applied(rel: str, modes: Mapping[str, str]) -> bool:
    """Whether a GitOps tool pointed at sealed/ or registry/ or a folder of theirs may apply the
    path `rel` below it (`layout.may_be_applied`): anything in a subfolder of <env>/ does (the folder
    counts), and anything HEAD holds as no plain file (a symlink, a submodule, or unknown)."""
    parts = rel.split("/")
    return len(parts) > 3 or layout.may_be_applied(parts[-1], modes.get(rel) in git.FILE_MODES)


def removed_sealed_finding(env: Environment, cluster: Cluster) -> Finding:
    path = layout.sealed_file(env.name, cluster.name)
    message = f"missing while sealer.yaml still pins {env.name}/{cluster.name}: sealer never removes it"
    return Finding(MANIFEST, env.name, path, None, message)
