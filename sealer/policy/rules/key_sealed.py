"""key-sealed: every sealed key is sealed with a certificate of its cluster's set, for the Secret
sealer.yaml names (a key sealed with a removed certificate, or for another target, cannot be opened).

The `sealer.dev/cert-sha256` annotations only claim which certificate sealed an entry: the claim
must name a certificate of the set, and the ciphertext's RSA part must have that certificate's
size. Each value must also be the ciphertext sealer wrote for the entry's current key (the
ledger records its digest): an older ciphertext put back is an error. Entries sealed with an
older certificate of the set are fine until `resealAfterDays` after
the sealing certificate was added; this rule warns `warn-days` before that, and when it is due.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from sealer import cert_pins, hybrid, layout, provenance, state
from sealer.config import Cluster, Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, WARNING, Context, Problem, days_left
from sealer.records import ciphertext_digest, digest_owners

ID = "key-sealed"
DESCRIPTION = (
    "sealed keys use a pinned certificate of the set and the configured Secret, and are the "
    "ciphertexts the ledger records for their current keys"
)
DEFAULT: dict[str, Any] = {"warn-days": 7}
SCHEMA: dict[str, schema.Validator] = {"warn-days": schema.days(0)}


def _which_cert(fp: str, env: Environment, cluster: Cluster) -> str:
    if fp == provenance.UNKNOWN:
        return f"an unknown certificate (no {provenance.CERT_ANNOTATION} annotation)"
    if fp in env.cert_history:
        return f"a removed certificate ({fp[:16]}…)"
    return f"certificate {fp[:16]}…, which is not pinned for {env.name}/{cluster.name}"


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    for cluster in env.clusters:
        doc = ctx.sealed(env.name, cluster.name)
        if doc is None:
            continue  # key-present reports it
        path = layout.sealed_file(env.name, cluster.name)
        mismatch = state.target_mismatch(doc, env, path)
        if mismatch:
            yield Problem.rotating(ID, env.name, ERROR, f"{mismatch}: no entry in it can be opened")
            continue
        yield from _entries(ctx, env, cluster, doc, conf["warn-days"])
        yield from _digests(ctx, env, cluster, state.encrypted_data(doc))


def _digests(
    ctx: Context, env: Environment, cluster: Cluster, entries: Mapping[str, Any]
) -> Iterator[Problem]:
    """Each sealed value must be the ciphertext sealer wrote for the entry's current key: the
    ledger records its digest. Nobody can open a ciphertext without the controller's private key,
    so an older one put back (a previous key's, from Git's history) looks like any other; its
    digest tells it apart. A record an older sealer wrote has none: said as a warning, not an
    error (every repository would fail until its next rotation; review still flags the change)."""
    path = layout.sealed_file(env.name, cluster.name)
    current = ctx.current(env)
    owners = digest_owners(ctx.records(env.name))  # once: a ledger holds thousands of records
    for name in env.keys:
        record, value = current.get(name), entries.get(name)
        if record is None or value is None:
            continue  # key-ledger and key-present report them
        want = record.digest_for(cluster.name)
        if not record.sealed:
            yield Problem.rotating(
                ID,
                env.name,
                WARNING,
                f"{name} in {path} cannot be tied to key {record.key_id}: the ledger records no digest of "
                "the ciphertext sealer wrote (an older sealer's rotation); a rotation records one",
                name,
            )
        elif want != (digest := ciphertext_digest(str(value))) or owners.get(digest, set()) - {record.key_id}:
            held = (
                "no ciphertext for this cluster"
                if not want
                else "another ciphertext"
                if want != digest
                else "it for an older key too"  # one rotated in and out since: that key's ciphertext
            )
            yield Problem.rotating(
                ID,
                env.name,
                ERROR,
                f"{name} in {path} is not the ciphertext sealer wrote for its current key {record.key_id} "
                f"(the ledger records {held}): an older ciphertext put back would deliver a key the "
                "ledger does not hold as current",
                name,
            )


def _entries(ctx: Context, env: Environment, cluster: Cluster, doc: Any, warn_days: int) -> Iterator[Problem]:
    path = layout.sealed_file(env.name, cluster.name)
    entries = state.encrypted_data(doc)
    claims = provenance.read(state.annotations_of(doc))
    if claims.unreadable:
        # One problem for the file, not one "unknown certificate" per entry: `rotate --due` reseals
        # them all (cert_pins.reseal_due) and writes the annotation afresh.
        yield Problem.resealing(
            ID,
            env.name,
            ERROR,
            f"{path}: {claims.unreadable}, so no entry in it is known to be sealed with a certificate of "
            "the set",
        )
        return
    sizes = {h.fingerprint: (f.key_bits or 0) // 8 for h, f in ctx.held(env.name, cluster)}
    for name, fp in claims.sealed_with([n for n in env.keys if n in entries]).items():
        if not cluster.holds(fp):
            which = _which_cert(fp, env, cluster)
            yield Problem.rotating(ID, env.name, ERROR, f"{name} in {path} is sealed with {which}", name)
            continue
        problem = _size_problem(entries[name], sizes.get(fp) or 0)
        if problem:
            claim = f"{name} in {path} claims certificate {fp[:16]}…, but its ciphertext {problem}"
            yield Problem.rotating(ID, env.name, ERROR, claim, name)
        elif fp != cluster.fingerprint:
            yield from _reseal(ctx, env, cluster, name, fp, warn_days)


def _size_problem(value: Any, modulus_bytes: int) -> str | None:
    """The claim is checked where it can be without a private key: the RSA part's size."""
    if not modulus_bytes:
        return None  # cert-file or cert-strength reports the unreadable certificate
    try:
        blob = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return "is not base64"
    problem = hybrid.layout_problem(blob, modulus_bytes)
    return f"does not fit it ({problem})" if problem else None


def _reseal(
    ctx: Context, env: Environment, cluster: Cluster, name: str, fp: str, warn_days: int
) -> Iterator[Problem]:
    deadline = cert_pins.reseal_deadline(env, cluster)
    if deadline is None:
        return
    what = f"{name} ({env.name}/{cluster.name}) is sealed with the older certificate {fp[:16]}…"
    if ctx.now >= deadline:
        yield Problem.resealing(ID, env.name, WARNING, f"{what}: due for resealing since {deadline:%Y-%m-%d}")
    elif deadline - ctx.now <= dt.timedelta(days=warn_days):
        # not due yet: `rotate --due` leaves the environment alone, so nothing refuses it
        left = days_left(deadline - ctx.now)
        message = f"{what}: due for resealing in {left} days ({deadline:%Y-%m-%d})"
        yield Problem(ID, env.name, WARNING, message, fixes.rotate_due())
