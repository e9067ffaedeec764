"""Pinned controller certificates per environment: `sealer cert add|status`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sealer import certs, config, durations, git, layout, lock, provenance, repofiles, state
from sealer.config import HeldCert
from sealer.errors import BadInput

if TYPE_CHECKING:
    from cryptography import x509


# A check of a certificate about to be pinned: (config, environment, fingerprint, fingerprint of
# its public key: certs.key_fingerprint), raising to refuse.
Vet = Callable[[config.Config, str, str, str], None]


@dataclass(frozen=True)
class PinResult:
    env: str
    cluster: str
    fingerprint: str
    previous: str | None  # the certificate that sealed before (sealWith), if it changed
    changed: bool
    sealing: bool = True  # the added certificate seals from now on (sealWith)
    restored: str | None = None  # the copy under certs/ written again (it was deleted or replaced)


@dataclass(frozen=True)
class FetchResult:
    """The controller's active keys compared with a cluster's set (`sealer cert fetch`)."""

    env: str
    cluster: str
    fetched: str  # fingerprint of the certificate the controller serves (it seals with it)
    pinned: str | None  # the sealing certificate before, if any
    accepted: bool  # the set holds every active key and seals with the served one
    refused: bool  # new certificates, and adding them was not asked for
    added: tuple[str, ...] = ()  # fingerprints added to the set now
    new: tuple[str, ...] = ()  # active keys not in the set
    retired: tuple[str, ...] = ()  # in the set, no longer an active key of the controller


# Asks the controller for the certificate it serves (and so seals with) and its active keys (PEM).
Controller = Callable[[], tuple[bytes, tuple[bytes, ...]]]


def compare_fetched(
    root: Path,
    env_name: str,
    controller: Controller,
    cluster: str | None,
    accept: bool,
    vet: Vet | None = None,
    new_cluster: bool = False,
) -> FetchResult:
    """Compare the controller's active keys and the certificate it serves with the cluster's
    set. A set that is still empty takes them all; otherwise new certificates are added only
    when `accept` says so, the served one becoming `sealWith`. Certificates the controller no
    longer holds are reported, never removed here; `vet` checks each new one before the first
    is pinned. The cluster's name is checked once, before the controller is asked."""
    cfg = config.load(root)
    env = cfg.env(env_name)
    name = _cluster_name(cluster or env_name)
    check_cluster_name(env, name, new_cluster)
    served, active = controller()
    served_cert = certs.parse_certificate(served, "served certificate")
    fetched = certs.fingerprint(served_cert)
    read = [(p, certs.parse_certificate(p, "controller key")) for p in active] + [(served, served_cert)]
    by_fp = {certs.fingerprint(cert): (p, cert) for p, cert in read}  # each certificate parsed once
    current = next((c for c in env.clusters if c.name == name), None)
    pinned = current.fingerprint if current else None
    new = tuple(fp for fp in by_fp if current is None or not current.holds(fp))
    retired = tuple(c.fingerprint for c in current.cert_set if c.fingerprint not in by_fp) if current else ()
    if (new or fetched != pinned) and current is not None and not accept:
        return FetchResult(env_name, name, fetched, pinned, False, True, new=new, retired=retired)
    for fp in new:  # each refused before the first is pinned
        if vet is not None:
            vet(cfg, env.name, fp, certs.key_fingerprint(by_fp[fp][1]))
    added = tuple(fp for fp in new if fp != fetched)
    for fp in added:  # each checked before the first is pinned: a refusal leaves sealer.yaml as it was
        certs.rsa_public_key(by_fp[fp][1], f"controller key {fp[:16]}…")
    # It seals with the served one. The name passed above: pin need not check it again.
    pin(root, env_name, served, "served certificate", name, new_cluster=True)
    for fp in added:
        source = f"controller key {fp[:16]}…"
        pin(root, env_name, by_fp[fp][0], source, name, keep_sealing=True, new_cluster=True)
    added_all = ((fetched,) if fetched in new else ()) + added
    return FetchResult(env_name, name, fetched, pinned, True, False, added_all, new, retired)


def pinned_certificates(root: Path, env: config.Environment) -> dict[str, x509.Certificate]:
    """Each cluster's sealing certificate, refusing an environment that pins none and a cert
    file of the set that no longer matches its pin (the repo is inconsistent then)."""
    if not env.clusters:
        raise BadInput(f"{env.name} pins no certificate: run `sealer cert add {env.name} --file tls.crt`")
    return {
        cluster.name: held_certificates(root, env, cluster)[cluster.fingerprint] for cluster in env.clusters
    }


def held_certificates(
    root: Path, env: config.Environment, cluster: config.Cluster
) -> dict[str, x509.Certificate]:
    """fingerprint -> certificate for the cluster's whole set, each file checked against its pin."""
    found = {}
    for held in cluster.cert_set:
        cert = certs.load_pinned(root / held.cert)
        if certs.fingerprint(cert) != held.fingerprint:
            raise BadInput(f"{held.cert} does not match the fingerprint pinned for {env.name}/{cluster.name}")
        found[held.fingerprint] = cert
    return found


def pin(
    root: Path,
    env_name: str,
    pem: bytes,
    source: str,
    cluster: str | None = None,
    *,
    keep_sealing: bool = False,
    new_cluster: bool = False,
    today: dt.date | None = None,
    vet: Vet | None = None,
) -> PinResult:
    """Add `pem` to the set of a cluster of the environment (default: the cluster named like
    the env) and seal with it from now on, unless `keep_sealing`. A cluster the environment
    lacks whose name is close to one it has is refused unless `new_cluster` (`check_cluster_name`).
    A certificate that is not valid yet cannot become the sealing one: the controller would not
    have made it its key.
    One writer: the lock is held from the first read, so what is decided (restore a copy, add a
    file) holds against a concurrent `cert remove`. `vet(cfg, env, fingerprint, key)` may refuse a
    certificate new to the cluster before anything is written (the policy's, from above)."""
    with lock.hold(git.git_dir(root), "cert pin"):
        return _pin(root, env_name, pem, source, cluster, keep_sealing, today, vet, new_cluster)


def _pin(
    root: Path,
    env_name: str,
    pem: bytes,
    source: str,
    cluster: str | None,
    keep_sealing: bool,
    today: dt.date | None,
    vet: Vet | None = None,
    new_cluster: bool = False,
) -> PinResult:
    cfg = config.load(root)
    env = cfg.env(env_name)
    cert = certs.parse_pinned(pem, source)  # the file it becomes must hold just this certificate
    fp = certs.fingerprint(cert)
    cluster = _cluster_name(cluster or env.name)
    if not new_cluster:
        check_cluster_name(env, cluster)
    current = next((c for c in env.clusters if c.name == cluster), None)
    seals = current is None or not keep_sealing
    # A certificate kept only to open older entries may have expired; one that seals may not.
    (certs.sealing_key if seals else certs.rsa_public_key)(cert, source)
    held = current.held_cert(fp) if current else None
    if held is None and vet is not None:
        vet(cfg, env.name, fp, certs.key_fingerprint(cert))
    if seals and cert.not_valid_before_utc > dt.datetime.now(dt.timezone.utc):
        raise BadInput(
            f"{source}: not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC, so it cannot seal "
            "yet: add it with --keep-sealing"
        )
    if current is not None and held is not None and (current.fingerprint == fp or not seals):
        restored = None  # already in the set, in the role asked for: a deleted or replaced copy is restored
        if not _holds(root / held.cert, fp):
            _write_cert(root / held.cert, pem)
            restored = held.cert
        sealing = current.fingerprint == fp
        return PinResult(env.name, cluster, fp, None, restored is not None, sealing, restored)
    cert_rel = held.cert if held else _new_cert_file(env.name, cluster, fp, current)
    _check_cert_path(cfg, env.name, cluster, cert_rel)
    added = (today or dt.datetime.now(dt.timezone.utc).date()).isoformat()
    # The cert file first: one sealer cannot write (a symlinked certs/) leaves sealer.yaml as it
    # was, never pinning a file that is not there; a refused edit puts it back.
    before = _replaced_cert(root / cert_rel, pem) if held is None or not _holds(root / cert_rel, fp) else pem
    try:
        with config.edit(root) as doc:
            raw_env = config.raw_environment(doc, env.name)
            _set_cluster(raw_env, env, cluster, HeldCert(cert_rel, fp, added), seals)
    except BaseException:
        if before is None:
            repofiles.remove(root / cert_rel)
        elif before != pem:
            _write_cert(root / cert_rel, before)
        raise
    previous = current.fingerprint if current and seals else None
    return PinResult(env.name, cluster, fp, previous, changed=True, sealing=seals)


def remove(root: Path, env_name: str, fingerprint: str, cluster: str | None = None) -> PinResult:
    """Take a certificate out of a cluster's set (the controller dropped that key): entries
    still sealed with it become errors. The sealing certificate cannot be removed. One writer,
    from the first read: whether the file is still pinned elsewhere is decided under the lock."""
    with lock.hold(git.git_dir(root), "cert remove"):
        return _remove(root, env_name, fingerprint, cluster)


def _remove(root: Path, env_name: str, fingerprint: str, cluster: str | None) -> PinResult:
    env = config.load(root).env(env_name)
    name = cluster or env.name
    current = next((c for c in env.clusters if c.name == name), None)
    if current is None:
        known = ", ".join(c.name for c in env.clusters) or "none"
        raise BadInput(f"{env.name} has no cluster {name!r} (its clusters: {known}; --cluster names one)")
    matches = [c for c in current.cert_set if c.fingerprint.startswith(fingerprint.lower())]
    if len(fingerprint) < 8 or len(matches) != 1:
        prefixes = ", ".join(f"{c.fingerprint[:16]}…" for c in current.cert_set)
        raise BadInput(
            f"{env.name}/{name}: {fingerprint!r} names no single certificate of the set: give 8 or more "
            f"hex digits of one of {prefixes}"
        )
    held = matches[0]
    if held.fingerprint == current.fingerprint:
        raise BadInput(
            f"{env.name}/{name}: {held.fingerprint[:16]}… seals (sealWith): add the new certificate first"
        )
    with config.edit(root) as doc:
        raw_env = config.raw_environment(doc, env.name)
        item = next(i for i in raw_env["clusters"] if i.get("name") == name)
        item["certs"] = [c for c in item["certs"] if c.get("fingerprint") != held.fingerprint]
        history = raw_env.setdefault("certHistory", [])
        if held.fingerprint not in history:
            history.append(held.fingerprint)  # entries sealed with it can no longer be opened
    if not any(
        held.cert == c.cert
        for e in config.load(root).environments.values()
        for cl in e.clusters
        for c in cl.cert_set
    ):
        repofiles.remove(root / held.cert)  # #13: never through a symlinked folder
    return PinResult(env.name, name, held.fingerprint, None, changed=True, sealing=False)


def _new_cert_file(env: str, cluster: str, fp: str, current: config.Cluster | None) -> str:
    if current is None:
        return layout.cert_file(env, cluster)
    return layout.added_cert_file(env, cluster, fp)


def check_cluster_name(env: config.Environment, name: str, new_cluster: bool = False) -> None:
    """A cluster `env` lacks, named a typo away from one it has (`prdo` for `prod`), is refused:
    pinned, it would be sealed for by every rotation and run by no one. `new_cluster`
    (--new-cluster) confirms one meant (`prod-us` beside `prod-eu`); a name close to none is
    added as before."""
    if new_cluster or any(c.name == name for c in env.clusters):
        return
    near = [(_edits(name, c.name), c.name) for c in env.clusters if _is_typo(name, c.name)]
    if near:
        raise BadInput(
            f"{env.name} has no cluster {name!r}: did you mean {min(near)[1]!r}? "
            "(--new-cluster adds it as a new cluster)"
        )


def _is_typo(name: str, known: str) -> bool:
    """Whether `name` is a slip of the keys from `known`. One edit in a name of up to four
    characters, two from five on (a slip per word of `prod-eu`). Two-letter names stand beside
    others a letter apart (`us`, `uk`, `eu`, `au` are regions each), so there only a swap of the
    two counts (`su` for `us`)."""
    if len(known) <= 2:
        return sorted(name) == sorted(known) and len(name) == len(known)
    return _edits(name, known) <= (1 if len(known) < 5 else 2)


def _edits(a: str, b: str) -> int:
    """Edits from `a` to `b`: a letter inserted, deleted, changed, or two neighbours swapped
    (optimal string alignment), so `prdo` is one edit from `prod`, where difflib's ratio
    counted a swap as two and let `su` pass for `us`."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


def _cluster_name(name: str) -> str:
    # Checked before anything is written: it becomes part of file names.
    if not config.DNS_LABEL.fullmatch(name):
        raise BadInput(f"cluster name {name!r} must be a DNS label (lowercase letters, digits, hyphens)")
    return name


def _holds(path: Path, fp: str) -> bool:
    try:
        return certs.fingerprint(certs.parse_pinned(repofiles.read_bytes(path), str(path))) == fp
    except (OSError, BadInput):
        return False


def _check_cert_path(cfg: config.Config, env: str, cluster: str, cert_rel: str) -> None:
    for other in cfg.environments.values():
        for pinned in other.clusters:
            taken = any(c.cert == cert_rel for c in pinned.cert_set)
            if taken and (other.name, pinned.name) != (env, cluster):
                raise BadInput(f"{cert_rel} already holds the pin of {other.name}/{pinned.name}")


def _write_cert(path: Path, pem: bytes) -> None:
    repofiles.write(path, pem)


def _replaced_cert(path: Path, pem: bytes) -> bytes | None:
    """Write `pem` at `path`; what was there before (None: nothing)."""
    try:
        before: bytes | None = repofiles.read_bytes(path)
    except FileNotFoundError:
        before = None
    _write_cert(path, pem)
    return before


def _set_cluster(raw_env: Any, env: config.Environment, cluster: str, held: HeldCert, seals: bool) -> None:
    from ruamel.yaml.comments import CommentedMap  # only an edit needs ruamel: a rotation stays off it

    clusters = raw_env.get("clusters")
    if clusters is None:
        clusters = raw_env["clusters"] = []
    for item in clusters:
        if item.get("name") == cluster:
            _add_to_set(item, held, seals)
            return
    values = env.values_file if not env.clusters else layout.values_file(env.name, cluster)
    # A first pin keeps the legacy form, which every sealer version reads.
    clusters.append(
        CommentedMap(name=cluster, cert=held.cert, fingerprint=held.fingerprint, valuesFile=values)
    )
    if hasattr(clusters, "fa"):
        clusters.fa.set_block_style()


def _add_to_set(item: Any, held: HeldCert, seals: bool) -> None:
    """Turn a legacy pin into `certs:` + `sealWith:` and add `held` (or re-select it)."""
    from ruamel.yaml.comments import CommentedMap

    if "certs" not in item:
        first = CommentedMap(cert=item.pop("cert"), fingerprint=item.pop("fingerprint"))
        item.insert(1, "certs", [first])
        item.insert(2, "sealWith", first["fingerprint"])
    if not any(c.get("fingerprint") == held.fingerprint for c in item["certs"]):
        item["certs"].append(CommentedMap(cert=held.cert, fingerprint=held.fingerprint, added=held.added))
    if seals:
        item["sealWith"] = held.fingerprint


def status(cfg: config.Config, env_names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One row per cluster: its sealing certificate's expiry, each certificate of the set with
    its age and the entries it sealed, and the entries sealed with no certificate of the set."""
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for name in env_names or tuple(cfg.environments):
        env = cfg.env(name)
        if not env.clusters:  # listed, not left out: nothing can be sealed for it yet
            rows.append(_unpinned_row(env))
        for cluster in env.clusters:
            sealed = _sealed_with(cfg.root, env, cluster)
            held = [_held_row(cfg.root, c, cluster, sealed, now) for c in cluster.cert_set]
            sealing = next(h for h in held if h["sealing"])
            rows.append(
                {
                    "env": env.name,
                    "cluster": cluster.name,
                    "pinned": True,
                    "fingerprint": cluster.fingerprint,
                    "file_matches_pin": all(h["file_matches_pin"] for h in held),
                    "expires": sealing["expires"],
                    "days_left": sealing["days_left"],
                    "certs": held,
                    **_entry_states(env, cluster, sealed),
                }
            )
    return rows


def _unpinned_row(env: config.Environment) -> dict[str, Any]:
    """The row of an environment with no certificate pinned: a pinned row's fields, empty, its
    entries all missing (`pinned` false; every other row's is true)."""
    return {
        "env": env.name,
        "cluster": None,
        "pinned": False,
        "fingerprint": None,
        "file_matches_pin": True,
        "expires": None,
        "days_left": None,
        "certs": [],
        "sealed_with_pin": [],
        "sealed_with_older": [],
        "stale": [],
        "other": [],
        "missing": list(env.keys),
    }


def age_days(held: HeldCert, cert: x509.Certificate | None, now: dt.datetime) -> int | None:
    """Days since sealer added the certificate (or, for a legacy pin, since its notBefore)."""
    if held.added:
        start = dt.datetime.fromisoformat(held.added).replace(tzinfo=dt.timezone.utc)
    elif cert is not None:
        start = cert.not_valid_before_utc
    else:
        return None
    return (now - start).days


def _held_row(
    root: Path, held: HeldCert, cluster: config.Cluster, sealed: dict[str, str], now: dt.datetime
) -> dict[str, Any]:
    cert: x509.Certificate | None = certs.load_pinned(root / held.cert)  # unreadable: bad input
    return {
        "fingerprint": held.fingerprint,
        "file": held.cert,
        "sealing": held.fingerprint == cluster.fingerprint,
        "added": held.added,
        "age_days": age_days(held, cert, now),
        "file_matches_pin": cert is not None and certs.fingerprint(cert) == held.fingerprint,
        "expires": cert.not_valid_after_utc.isoformat() if cert else None,
        "days_left": durations.days_left(cert.not_valid_after_utc - now) if cert else None,
        "sealed": sorted(e for e, fp in sealed.items() if fp == held.fingerprint),
    }


def _sealed_with(
    root: Path,
    env: config.Environment,
    cluster: config.Cluster,
    read: Mapping[str, dict[str, Any] | None] | None = None,
) -> dict[str, str]:
    """entry -> the certificate the SealedSecret's annotations claim sealed it (present entries).
    `read`: the sealed files by cluster, as read already (else read here)."""
    doc = read[cluster.name] if read is not None else state.load(root, env.name, cluster.name)
    encrypted = state.encrypted_data(doc)
    annotations = state.annotations_of(doc)
    return provenance.sealed_with(annotations, [e for e in env.keys if e in encrypted])


def _entry_states(
    env: config.Environment, cluster: config.Cluster, sealed: dict[str, str]
) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {
        "sealed_with_pin": [],
        "sealed_with_older": [],
        "stale": [],
        "other": [],
        "missing": [],
    }
    for entry in env.keys:
        fp = sealed.get(entry)
        key = (
            "missing"
            if fp is None
            else "sealed_with_pin"
            if fp == cluster.fingerprint
            else "sealed_with_older"
            if cluster.holds(fp)
            else "stale"
            if fp in env.cert_history
            else "other"
        )
        states[key].append(entry)
    return states


def reseal_deadline(env: config.Environment, cluster: config.Cluster) -> dt.datetime | None:
    """When entries sealed with an older certificate of the set fall due: `resealAfterDays`
    after sealer added the sealing certificate (None: no such option, or no date recorded)."""
    held = cluster.held_cert(cluster.fingerprint)
    if env.reseal_after_days is None or held is None or held.added is None:
        return None
    added = dt.datetime.fromisoformat(held.added).replace(tzinfo=dt.timezone.utc)
    return added + dt.timedelta(days=env.reseal_after_days)


def reseal_due(
    root: Path,
    env: config.Environment,
    now: dt.datetime,
    read: Mapping[str, dict[str, Any] | None] | None = None,
) -> list[str]:
    """Entries `rotate --due` moves to the sealing certificate: those the annotations claim an
    older certificate of the set sealed, once `reseal_deadline` has passed (a claim is enough to
    schedule a reseal), and at once those sealed with an unknown certificate (no claim, or an
    unreadable entries annotation: nothing shows the controller can open them, and resealing
    writes the annotations afresh). `read`: each cluster's sealed file as the caller read it (rotate
    --due plans from the same reading)."""
    due: set[str] = set()
    for cluster in env.clusters:
        deadline = reseal_deadline(env, cluster)
        older_due = deadline is not None and now >= deadline
        for entry, fp in _sealed_with(root, env, cluster, read).items():
            if fp == provenance.UNKNOWN or (older_due and fp != cluster.fingerprint and cluster.holds(fp)):
                due.add(entry)
    return [e for e in env.keys if e in due]
