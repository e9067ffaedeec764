"""What a rule reports, and the repository facts every rule reads (loaded once, shared)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealer import ledger, repofiles, state
from sealer.config import Cluster, Config, Environment, HeldCert
from sealer.durations import days_left, whole_days  # noqa: F401 (the rules import them from here)
from sealer.errors import BadInput
from sealer.policy import fixes
from sealer.records import KeyRecord, utcnow

ERROR = "error"
WARNING = "warning"
LEVELS = (ERROR, WARNING)


@dataclass(frozen=True)
class Rotation:
    """What a fix of `sealer rotate` rotates: one key of an environment, or every key (None); or
    with `due`, the fix is `sealer rotate --due`, which rotates this environment among others."""

    env: str
    key: str | None = None
    due: bool = False


@dataclass(frozen=True)
class Problem:
    rule: str
    env: str
    level: str  # error | warning
    message: str  # what is wrong
    fix: str  # how to fix it: usually the exact `sealer` command
    # The fix is `sealer rotate` of this (as data, not its text read back: check's merge-first
    # fix reads it). Not part of the report: `fix` says it.
    rotation: Rotation | None = None

    @classmethod
    def rotating(cls, rule: str, env: str, level: str, message: str, key: str | None = None) -> Problem:
        """A problem whose fix is exactly `sealer rotate ENV`, or `--key KEY` of it."""
        return cls(rule, env, level, message, fixes.rotate(env, key), Rotation(env, key))

    @classmethod
    def resealing(cls, rule: str, env: str, level: str, message: str) -> Problem:
        """A problem whose fix is `sealer rotate --due`, which rotates entries of `env` now: it
        plans `env`, so it skips `env` while a rotation of `env` waits (`sealer rotate ENV` is refused)."""
        return cls(rule, env, level, message, fixes.rotate_due(), Rotation(env, due=True))

    def as_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "env": self.env,
            "level": self.level,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class CertFacts:
    """A pinned certificate file as found on disk; `error` says why it could not be read."""

    path: str
    fingerprint: str | None = None
    key_type: str | None = None  # RSA, EllipticCurve, …
    key_bits: int | None = None
    not_after: dt.datetime | None = None
    error: str | None = None
    not_before: dt.datetime | None = None
    key_fingerprint: str | None = None  # of the public key (certs.key_fingerprint)


def read_cert(root: Path, cluster: Cluster | HeldCert) -> CertFacts:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from sealer import certs

    try:
        cert = certs.parse_pinned(repofiles.read_input(root / cluster.cert, "certificate"), cluster.cert)
    except BadInput as err:
        return CertFacts(cluster.cert, error=str(err))
    key = cert.public_key()
    return CertFacts(
        path=cluster.cert,
        fingerprint=certs.fingerprint(cert),
        key_type=_key_type(key),
        key_bits=key.key_size if isinstance(key, rsa.RSAPublicKey) else None,
        not_after=cert.not_valid_after_utc,
        not_before=cert.not_valid_before_utc,
        key_fingerprint=certs.key_fingerprint(cert),
    )


def _key_type(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    kinds = (
        (rsa.RSAPublicKey, "RSA"),
        (ec.EllipticCurvePublicKey, "EC"),
        (ed25519.Ed25519PublicKey, "Ed25519"),
        (ed448.Ed448PublicKey, "Ed448"),
    )
    # Others by their class name (DSAPublicKey -> DSA): cryptography 51 warns on any use of its
    # `dsa` module, and a warning on stderr would break the one-line messages.
    other = type(key).__name__.removesuffix("PublicKey") or "unknown"
    return next((name for kind, name in kinds if isinstance(key, kind)), other)


class Context:
    """The repository as the rules see it: sealer.yaml, ledgers, sealed files and certificates,
    each read at most once per run. `now` is fixed for the whole run."""

    def __init__(self, cfg: Config, now: dt.datetime | None = None) -> None:
        self.cfg = cfg
        self.root = cfg.root
        self.now = now or utcnow()
        self._records: dict[str, list[KeyRecord]] = {}
        self._sealed: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._certs: dict[tuple[str, str], CertFacts] = {}
        self._recorded_in: dict[str, set[str]] | None = None
        self._at_head: dict[str, bool] | None = None
        self._pinned_by: dict[str, list[tuple[str, str]]] | None = None
        self._key_holders: dict[str, list[tuple[str, str]]] | None = None

    def records(self, env: str) -> list[KeyRecord]:
        if env not in self._records:
            self._records[env] = ledger.load_expected(self.root, env, self._ledgers_at_head())
        return self._records[env]

    def _ledgers_at_head(self) -> dict[str, bool]:
        """Which environments' ledgers HEAD holds, Git asked once for those missing on disk
        (none asked when none is): what a missing ledger means (ledger.load_expected)."""
        if self._at_head is None:
            missing = [
                env for env in self.cfg.environments if not ledger.ledger_path(self.root, env).is_file()
            ]
            self._at_head = ledger.held_at_head(self.root, missing) if missing else {}
        return self._at_head

    def recorded_in(self, fingerprint: str) -> set[str]:
        """The environments whose ledgers record `fingerprint` (in any status). One index per
        run: a sealer.yaml of thousands of environments must not cost each one every ledger."""
        if self._recorded_in is None:
            self._recorded_in = {}
            for env in self.cfg.environments:
                for record in self.records(env):
                    self._recorded_in.setdefault(record.fingerprint, set()).add(env)
        return self._recorded_in.get(fingerprint, set())

    def pinned_by(self, fingerprint: str) -> list[tuple[str, str]]:
        """(env, cluster) of each cluster whose set pins the certificate `fingerprint`, in
        sealer.yaml's order. One index per run: not every environment's sets for each one."""
        if self._pinned_by is None:
            self._pinned_by = {}
            for env in self.cfg.environments.values():
                for cluster in env.clusters:
                    for held in cluster.cert_set:
                        self._pinned_by.setdefault(held.fingerprint, []).append((env.name, cluster.name))
        return self._pinned_by.get(fingerprint, [])

    def key_holders(self, key_fingerprint: str) -> list[tuple[str, str]]:
        """(env, cluster) of each cluster whose set holds a certificate of this public key, as
        its file shows it (certs.key_fingerprint). One index per run, each file read once (`held`)."""
        if self._key_holders is None:
            self._key_holders = {}
            for env in self.cfg.environments.values():
                for cluster in env.clusters:
                    for _, facts in self.held(env.name, cluster):
                        if facts.key_fingerprint:
                            holders = self._key_holders.setdefault(facts.key_fingerprint, [])
                            holders.append((env.name, cluster.name))
        return self._key_holders.get(key_fingerprint, [])

    def current(self, env: Environment) -> dict[str, KeyRecord]:
        return ledger.current(env.keys, self.records(env.name))

    def never_rotated(self, env: Environment) -> bool:
        """No key was ever issued (no ledger, no sealed file): what `sealer init` leaves. Its
        missing certificate and key are warnings then, so the set-up commit passes the hook;
        once anything was issued, a missing piece is an error again."""
        return (
            not ledger.ledger_path(self.root, env.name).exists()
            and not self.records(env.name)
            and all(self.sealed(env.name, c.name) is None for c in env.clusters)
        )

    def sealed(self, env: str, cluster: str) -> dict[str, Any] | None:
        if (env, cluster) not in self._sealed:
            self._sealed[env, cluster] = state.load(self.root, env, cluster)
        return self._sealed[env, cluster]

    def cert(self, env: str, cluster: Cluster) -> CertFacts:
        """The cluster's sealing certificate (`sealWith`)."""
        if (env, cluster.name) not in self._certs:
            self._certs[env, cluster.name] = read_cert(self.root, cluster)
        return self._certs[env, cluster.name]

    def held(self, env: str, cluster: Cluster) -> list[tuple[HeldCert, CertFacts]]:
        """Every certificate of the cluster's set, the sealing one first."""
        found = [
            (c, self.cert(env, cluster)) for c in cluster.cert_set if c.fingerprint == cluster.fingerprint
        ]
        for held in cluster.cert_set:
            if held.fingerprint != cluster.fingerprint:
                key = (env, f"{cluster.name}/{held.fingerprint}")
                if key not in self._certs:
                    self._certs[key] = read_cert(self.root, held)
                found.append((held, self._certs[key]))
        return found
