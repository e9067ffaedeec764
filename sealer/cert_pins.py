"""Pinned controller certificates per environment: `sealer cert add|status`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sealer import certs, config, git, layout, lock, provenance, repofiles, state
from sealer.errors import BadInput

if TYPE_CHECKING:
    from cryptography import x509


@dataclass(frozen=True)
class PinResult:
    env: str
    cluster: str
    fingerprint: str
    previous: str | None  # the fingerprint it replaced, if any
    changed: bool


@dataclass(frozen=True)
class FetchResult:
    """A certificate fetched from a cluster compared with the pin (`sealer cert fetch`)."""

    env: str
    cluster: str
    fetched: str  # fingerprint the cluster serves
    pinned: str | None  # fingerprint pinned before, if any
    accepted: bool  # pinned now (new, or replaced with --accept), or already the pin
    refused: bool  # differs from the pin, and replacing it was not asked for


def compare_fetched(root: Path, env_name: str, pem: bytes, cluster: str | None, accept: bool) -> FetchResult:
    """Pin a fetched certificate where nothing is pinned yet, or where `accept` says to replace
    the pin; a different certificate is only reported otherwise (replacing it makes every entry
    sealed with the old one stale)."""
    env = config.load(root).env(env_name)
    fetched = certs.fingerprint(certs.parse_certificate(pem, "fetched certificate"))
    name = cluster or env_name
    pinned = next((c.fingerprint for c in env.clusters if c.name == name), None)
    if pinned is None or accept:
        accepted = pin(root, env_name, pem, "fetched certificate", name).changed or pinned == fetched
        return FetchResult(env_name, name, fetched, pinned, accepted, refused=False)
    return FetchResult(env_name, name, fetched, pinned, accepted=False, refused=pinned != fetched)


def pinned_certificates(root: Path, env: config.Environment) -> dict[str, x509.Certificate]:
    """Each cluster's pinned certificate, refusing an environment that pins none and a cert file
    that no longer matches its pin (the repo is inconsistent then)."""
    if not env.clusters:
        raise BadInput(f"{env.name} pins no certificate: run `sealer cert add {env.name} --file tls.crt`")
    found = {}
    for cluster in env.clusters:
        cert = certs.load_certificate(root / cluster.cert)
        if certs.fingerprint(cert) != cluster.fingerprint:
            raise BadInput(
                f"{cluster.cert} does not match the fingerprint pinned for {env.name}/{cluster.name}"
            )
        found[cluster.name] = cert
    return found


def pin(root: Path, env_name: str, pem: bytes, source: str, cluster: str | None = None) -> PinResult:
    """Pin `pem` for a cluster of the environment (default: the cluster named like the env)."""
    cfg = config.load(root)
    env = cfg.env(env_name)
    cert = certs.parse_certificate(pem, source)
    certs.sealing_key(cert, source)
    fp = certs.fingerprint(cert)
    cluster = _cluster_name(cluster or env.name)
    current = next((c for c in env.clusters if c.name == cluster), None)
    if current and current.fingerprint == fp:
        if not _holds(root / current.cert, fp):
            _write_cert(root / current.cert, pem)  # restore a deleted or replaced copy
        return PinResult(env.name, cluster, fp, None, changed=False)
    cert_rel = layout.cert_file(env.name, cluster)
    _check_cert_path(cfg, env.name, cluster, cert_rel)
    # One writer (lock), validated before it is written; the cert file follows.
    with lock.hold(git.git_dir(root), "cert pin"), config.edit(root) as doc:
        raw_env = doc["environments"][env.name]
        _set_cluster(raw_env, env, cluster, cert_rel, fp)
    _write_cert(root / cert_rel, pem)
    return PinResult(env.name, cluster, fp, current.fingerprint if current else None, changed=True)


def _cluster_name(name: str) -> str:
    # Checked before anything is written: it becomes part of file names.
    if not config.DNS_LABEL.fullmatch(name):
        raise BadInput(f"cluster name {name!r} must be a DNS label (lowercase letters, digits, hyphens)")
    return name


def _holds(path: Path, fp: str) -> bool:
    try:
        return certs.fingerprint(certs.parse_certificate(repofiles.read_bytes(path), str(path))) == fp
    except (OSError, BadInput):
        return False


def _check_cert_path(cfg: config.Config, env: str, cluster: str, cert_rel: str) -> None:
    for other in cfg.environments.values():
        for pinned in other.clusters:
            if pinned.cert == cert_rel and (other.name, pinned.name) != (env, cluster):
                raise BadInput(f"{cert_rel} already holds the pin of {other.name}/{pinned.name}")


def _write_cert(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    repofiles.write(path, pem)


def _set_cluster(raw_env: Any, env: config.Environment, cluster: str, cert_rel: str, fp: str) -> None:
    clusters = raw_env.get("clusters")
    if clusters is None:
        clusters = raw_env["clusters"] = []
    for item in clusters:
        if item.get("name") == cluster:
            history = raw_env.setdefault("certHistory", [])
            if item["fingerprint"] not in history:
                history.append(item["fingerprint"])  # entries sealed with it are now stale
            item["cert"], item["fingerprint"] = cert_rel, fp
            return
    from ruamel.yaml.comments import CommentedMap  # only an edit needs ruamel: a rotation stays off it

    values = env.values_file if not env.clusters else layout.values_file(env.name, cluster)
    clusters.append(CommentedMap(name=cluster, cert=cert_rel, fingerprint=fp, valuesFile=values))
    if hasattr(clusters, "fa"):
        clusters.fa.set_block_style()


def status(cfg: config.Config, env_names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One row per pin: expiry, and how the sealed entries of its cluster relate to it."""
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for name in env_names or tuple(cfg.environments):
        env = cfg.env(name)
        for cluster in env.clusters:
            cert = certs.load_certificate(cfg.root / cluster.cert)
            rows.append(
                {
                    "env": env.name,
                    "cluster": cluster.name,
                    "fingerprint": cluster.fingerprint,
                    "file_matches_pin": certs.fingerprint(cert) == cluster.fingerprint,
                    "expires": cert.not_valid_after_utc.isoformat(),
                    "days_left": (cert.not_valid_after_utc - now).days,
                    **_entry_states(cfg.root, env, cluster),
                }
            )
    return rows


def _entry_states(root: Path, env: config.Environment, cluster: config.Cluster) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {"sealed_with_pin": [], "stale": [], "other": [], "missing": []}
    doc = state.load(root, env.name, cluster.name)
    encrypted = state.encrypted_data(doc)
    sealed_with = provenance.sealed_with(((doc or {}).get("metadata") or {}).get("annotations"), encrypted)
    for entry in env.keys:
        fp = sealed_with.get(entry)
        key = (
            "missing"
            if fp is None
            else "sealed_with_pin"
            if fp == cluster.fingerprint
            else "stale"
            if fp in env.cert_history
            else "other"
        )
        states[key].append(entry)
    return states
