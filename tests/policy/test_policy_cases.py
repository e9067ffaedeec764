"""`sealer check` over a table of compliant and violating repos: exactly the problems expected."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.git import commit_all
from support.policy_repos import (
    RepoFactory,
    age_keys,
    check_json,
    edit_config,
    edit_ledger,
    edit_sealed,
    sealer,
)

from sealer import apikey, cert_pins, config, ledger, provenance
from sealer.records import ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, utcnow

Change = Callable[[Path, Mapping[str, Path]], None]
# rule, environment, level, a fragment of the message, a fragment of the fix
Expected = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Case:
    id: str
    change: Change = lambda root, certs: None
    expected: tuple[Expected, ...] = ()
    env_certs: Mapping[str, str | None] | None = None  # build with these pins instead of copying
    policy: str | None = None  # a user policy file, given with --policy


def age(env: str, days: float) -> Change:
    return lambda root, certs: age_keys(root, env, days)


def setting(env: str, key: str, value: Any, **more: Any) -> Change:
    def change(root: Path, certs: Mapping[str, Path]) -> None:
        def edit(doc: Any) -> None:
            doc["environments"][env][key] = value
            for name, extra in more.items():
                doc["environments"][env][name] = extra

        edit_config(root, edit)

    return change


def conflicted(path: Path) -> None:
    """The file as a merge leaves it where both sides changed its `sealer:` subtree."""
    text = path.read_text()
    theirs = text.replace("sealer:", "sealer:\n  extra: theirs", 1)
    path.write_text(f"<<<<<<< HEAD\n{text}=======\n{theirs}>>>>>>> sealer/rotate-dev\n")


def not_utf8_at(root: Path, rel: str) -> None:
    """dev's values file moved to `rel` (sealer.yaml's two spellings of it) and not UTF-8 there."""

    def edit(doc: Any) -> None:
        doc["environments"]["dev"]["valuesFile"] = rel
        doc["environments"]["dev"]["clusters"][0]["valuesFile"] = rel

    edit_config(root, edit)
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / "deploy/dev/values.yaml").rename(root / rel)
    (root / rel).write_bytes(b"sealer: \xff\n")


def both(*changes: Change) -> Change:
    def change(root: Path, certs: Mapping[str, Path]) -> None:
        for one in changes:
            one(root, certs)

    return change


def repin(env: str, cert: str) -> Change:
    def change(root: Path, certs: Mapping[str, Path]) -> None:
        cert_pins.pin(root, env, certs[cert].read_bytes(), cert)

    return change


def add_cert(env: str, cert: str) -> Change:
    """Add `cert` to the environment's set, sealing on with the one it has."""

    def change(root: Path, certs: Mapping[str, Path]) -> None:
        cert_pins.pin(root, env, certs[cert].read_bytes(), cert, keep_sealing=True)

    return change


def remove_first_cert(env: str) -> Change:
    def change(root: Path, certs: Mapping[str, Path]) -> None:
        first = config.load(root).env(env).clusters[0].cert_set[0]
        cert_pins.remove(root, env, first.fingerprint)

    return change


def records(env: str, change: Callable[[list[KeyRecord]], list[KeyRecord]]) -> Change:
    return lambda root, certs: edit_ledger(root, env, change)


def expired(recs: list[KeyRecord]) -> list[KeyRecord]:
    return [dataclasses.replace(r, expires=utcnow() - dt.timedelta(days=1)) for r in recs]


def created_in_the_future(recs: list[KeyRecord]) -> list[KeyRecord]:
    """A hand edit that would have the key never age (expiry kept ahead of the creation)."""
    later = utcnow() + dt.timedelta(days=3650)
    return [dataclasses.replace(r, created=later, expires=later + dt.timedelta(days=30)) for r in recs]


def pending(recs: list[KeyRecord]) -> list[KeyRecord]:
    return [r.with_status(PENDING) for r in recs]


def endless_grace(recs: list[KeyRecord]) -> list[KeyRecord]:
    """The key a rotation revoked, in grace with no end instead (sealer never writes one)."""
    return [r.with_status(GRACE) if i == len(recs) - 2 else r for i, r in enumerate(recs)]


def long_grace_behind_a_future_rotation(recs: list[KeyRecord]) -> list[KeyRecord]:
    """A key in grace for a year under an entry sealer.yaml does not list, behind a revoked
    record of that entry created a year on (a hand edit): its grace would be counted from that
    'rotation', and no rule reads the age of an unlisted entry's keys."""
    later = utcnow() + dt.timedelta(days=365)
    grace = dataclasses.replace(
        recs[0], name="oldKey", key_id=apikey.key_id("a" * 64), fingerprint="a" * 64, sealed=()
    )  # naming no ciphertext: apiKey's is its own record's alone
    forged = dataclasses.replace(
        grace, key_id=apikey.key_id("b" * 64), fingerprint="b" * 64, created=later, status=REVOKED
    )
    return [*recs, grace.with_status(GRACE, later), forged]


def twice_active(recs: list[KeyRecord]) -> list[KeyRecord]:
    other = "0" * 64  # another key, its id derived from its fingerprint as sealer derives it
    return [
        *recs,
        dataclasses.replace(recs[0], key_id=apikey.key_id(other), fingerprint=other, status=ACTIVE),
    ]


def share_key(source: str, target: str) -> Change:
    def change(root: Path, certs: Mapping[str, Path]) -> None:
        fingerprint = ledger.load(root, source)[0].fingerprint
        same = {"fingerprint": fingerprint, "key_id": apikey.key_id(fingerprint)}
        edit_ledger(root, target, lambda rs: [dataclasses.replace(r, **same) for r in rs])

    return change


def drop_entry(env: str) -> Change:
    return lambda root, certs: edit_sealed(root, env, lambda doc: doc["spec"]["encryptedData"].clear())


def drop_provenance(env: str) -> Change:
    return lambda root, certs: edit_sealed(
        root, env, lambda doc: doc["metadata"]["annotations"].pop(provenance.CERT_ANNOTATION)
    )


def replace_cert_file(env: str, cert: str) -> Change:
    return lambda root, certs: (root / "certs" / f"{env}.pem").write_bytes(certs[cert].read_bytes())


def delete_cert_file(env: str) -> Change:
    return lambda root, certs: (root / "certs" / f"{env}.pem").unlink()


def rotate(*args: str) -> Change:
    def change(root: Path, certs: Mapping[str, Path]) -> None:
        commit_all(
            root, "before the rotation", allow_empty=True
        )  # a rotation starts from a committed sealer.yaml
        result = sealer(root, "rotate", *args, "--no-branch")
        assert result.exit_code == 0, result.output

    return change


def policy_override(env: str, policy: dict[str, Any]) -> Change:
    return setting(env, "policy", policy)


def error(rule: str, env: str, message: str, fix: str) -> Expected:
    return (rule, env, "error", message, fix)


def warning(rule: str, env: str, message: str, fix: str) -> Expected:
    return (rule, env, "warning", message, fix)


def deleted(env: str, rel: str) -> Expected:
    """A file of `env` deleted on disk alone: Git still holds it, and a plain commit keeps it."""
    return error("deleted-file", env, f"{rel} is deleted on disk without `git rm`", f"git checkout -- {rel}")


ROTATE_STAGING = "sealer rotate staging --key apiKey"
REMOVE_DEV_AFTER_ADD = "), then `sealer cert remove dev "
REMOVE_STAGING = "then `sealer cert remove staging "
STAGING_MAX_10 = "environments:\n  staging:\n    key-age:\n      max-days: 10\n"
CASES = [
    Case("compliant"),
    Case("compliant-after-fresh-rotation", rotate("dev", "staging", "production")),
    # key-age
    Case(
        "staging-key-31-days-old",
        age("staging", 31),
        (error("key-age", "staging", "is 31 days old; staging allows 30 days", ROTATE_STAGING),),
    ),
    Case("dev-key-100-days-old-is-fine", age("dev", 100)),
    Case(
        "production-key-due-within-7-days",
        age("production", 85),
        (
            warning(
                "key-age",
                "production",
                "reaches the 90-day limit on",
                "sealer rotate production --key apiKey",
            ),
        ),
    ),
    Case(
        "staging-key-expired",
        records("staging", expired),
        (error("key-age", "staging", "expired on", ROTATE_STAGING),),
    ),
    Case(
        "rotation-period-longer-than-max-age",
        setting("dev", "rotationDays", 200, keyLifetimeDays=214),
        (
            error(
                "key-age",
                "dev",
                "rotationDays is 200, longer than the 180-day maximum",
                "rotationDays to 180",
            ),
        ),
    ),
    Case(
        "staging-key-created-in-the-future",
        records("staging", created_in_the_future),
        (error("key-age", "staging", "in the future", ROTATE_STAGING),),
    ),
    # grace-window
    Case(
        "grace-of-30-days",
        rotate("staging", "--grace", "30d"),
        (
            error(
                "grace-window",
                "staging",
                "30 days after its rotation; staging allows 7 days",
                "sealer keys revoke staging kid_",
            ),
        ),
    ),
    Case("grace-of-3-days", rotate("staging", "--grace", "3d")),
    Case(
        "grace-counted-from-a-rotation-in-the-future",
        records("staging", long_grace_behind_a_future_rotation),
        (
            error(
                "grace-window",
                "staging",
                "after its rotation; staging allows 7 days",
                "sealer keys revoke staging kid_",
            ),
        ),
    ),
    Case(
        "grace-with-no-end",  # the registry lists such a key as valid until it expires
        both(rotate("staging"), records("staging", endless_grace)),
        (
            error(
                "grace-window",
                "staging",
                "(its grace has no end)",
                "sealer keys revoke staging kid_",
            ),
        ),
    ),
    # scope, namespace, backend
    Case(
        "production-namespace-wide",
        setting("production", "scope", "namespace-wide"),
        (
            error(
                "scope",
                "production",
                "scope is namespace-wide; production requires strict",
                "scope: strict in sealer.yaml, then run `sealer rotate production`",
            ),
            error(
                "key-sealed",
                "production",
                "sealer.yaml says engine-api-key/production (namespace-wide)",
                "sealer rotate production",
            ),
        ),
    ),
    Case(
        "staging-cluster-wide-is-allowed-by-default",
        setting("staging", "scope", "cluster-wide"),
        (
            error(
                "key-sealed",
                "staging",
                "is sealed for engine-api-key/staging (strict)",
                "sealer rotate staging",
            ),
        ),
    ),
    Case(
        "system-namespace",
        setting("dev", "namespace", "kube-system"),
        (
            error("namespace", "dev", "namespace kube-system is forbidden", "environments.dev.namespace"),
            error("key-sealed", "dev", "no entry in it can be opened", "sealer rotate dev"),
            error("key-registry", "dev", "registry/dev/dev.yaml is stale", "sealer render dev"),
        ),
    ),
    Case(
        "namespace-outside-the-allowed-list",
        policy="rules:\n  namespace:\n    allowed: [team-*, dev]\n",
        expected=(
            error(
                "namespace",
                "staging",
                "namespace staging is not allowed (allowed: team-*, dev)",
                "environments.staging.namespace",
            ),
            error("namespace", "production", "namespace production is not allowed", "then run"),
        ),
    ),
    Case(
        "required-backend",
        policy_override("production", {"backend": {"required": "vault"}}),
        (
            error(
                "backend",
                "production",
                "key store is k8s-secrets; production requires vault",
                "sealer backend set production vault",
            ),
        ),
    ),
    # key-present, key-sealed, key-ledger
    Case(
        "new-managed-key-not-rotated-in",
        setting("production", "keys", ["apiKey", "adminKey"]),
        (
            error(
                "key-present",
                "production",
                "adminKey is not sealed in sealed/production/production.yaml",
                "sealer rotate production --key adminKey",
            ),
            error(
                "key-ledger",
                "production",
                "adminKey has no active key in ledger/production.yaml",
                "sealer rotate production --key adminKey",
            ),
        ),
    ),
    Case(
        "entry-missing-from-sealed-file",
        drop_entry("staging"),
        (
            error(
                "key-present",
                "staging",
                "apiKey is not sealed in sealed/staging/staging.yaml",
                ROTATE_STAGING,
            ),
        ),
    ),
    Case(
        "key-missing-from-ledger",
        records("dev", lambda recs: []),
        (
            error(
                "key-ledger", "dev", "apiKey has no active key in ledger/dev.yaml", "sealer rotate dev --key"
            ),
        ),
    ),
    # key-registry (#16)
    Case(
        "registry-missing",
        lambda root, certs: (root / "registry/dev/dev.yaml").unlink(),
        (
            error(
                "key-registry", "dev", "key registry registry/dev/dev.yaml is missing", "sealer render dev"
            ),
            deleted("dev", "registry/dev/dev.yaml"),
        ),
    ),
    Case(
        "registry-stale-after-a-ledger-edit",
        lambda root, certs: edit_ledger(
            root, "staging", lambda rs: [r.with_status(REVOKED) for r in rs], False
        ),
        (
            error(
                "key-registry", "staging", "registry/staging/staging.yaml is stale", "sealer render staging"
            ),
            error("key-ledger", "staging", "apiKey has no active key", "sealer rotate staging --key"),
        ),
    ),
    Case(
        "two-active-keys",
        records("dev", twice_active),
        (
            error("key-ledger", "dev", "2 keys of apiKey are active", "sealer keys revoke dev kid_"),
            # the copy names the first one's ciphertext: the sealed value is no longer the current key's
            error(
                "key-sealed", "dev", "(the ledger records it for an older key too)", "sealer rotate dev --key"
            ),
        ),
    ),
    Case(
        "pending-key",
        records("staging", pending),
        (warning("key-ledger", "staging", "is still pending", "then run `sealer rotate`"),),
    ),
    Case("sealed-with-an-older-certificate-of-the-set", repin("staging", "spare")),
    Case(
        "sealed-with-a-removed-certificate",
        both(repin("staging", "spare"), remove_first_cert("staging")),
        (error("key-sealed", "staging", "sealed with a removed certificate", ROTATE_STAGING),),
    ),
    Case(
        "reseal-due",
        both(repin("staging", "spare"), setting("staging", "resealAfterDays", 0)),
        (warning("key-sealed", "staging", "due for resealing since", "sealer rotate --due"),),
    ),
    Case(
        "reseal-due-soon",
        both(repin("staging", "spare"), setting("staging", "resealAfterDays", 3)),
        (warning("key-sealed", "staging", "due for resealing in 3 days", "sealer rotate --due"),),
    ),
    Case("reseal-not-yet-due", both(repin("staging", "spare"), setting("staging", "resealAfterDays", 30))),
    Case("older-certificate-resealed", both(repin("staging", "spare"), rotate("staging"))),
    Case(
        "unknown-sealing-certificate",
        drop_provenance("dev"),
        (error("key-sealed", "dev", "sealed with an unknown certificate", "sealer rotate dev --key apiKey"),),
    ),
    Case(
        "key-shared-between-environments",
        share_key("production", "staging"),
        (
            error("key-distinct", "staging", "also recorded in production", ROTATE_STAGING),
            error("key-distinct", "production", "also recorded in staging", "sealer rotate production --key"),
        ),
    ),
    # certificates
    # a new environment (no ledger, no sealed file): warnings, so `sealer init`'s commit passes
    Case(
        "no-certificate-for-dev",
        env_certs={"dev": None},
        expected=(
            warning("cert-file", "dev", "no controller certificate is pinned", "sealer cert add dev --file"),
            warning("key-ledger", "dev", "apiKey has no key yet (never rotated)", "sealer cert add dev"),
        ),
    ),
    # …but once a key was issued, a missing sealed file is an error again
    Case(
        "sealed-file-deleted",
        lambda root, certs: (root / "sealed" / "dev" / "dev.yaml").unlink(),
        (
            error(
                "key-present",
                "dev",
                "sealed/dev/dev.yaml does not exist: no key is sealed for dev/dev",
                "sealer rotate dev",
            ),
            deleted("dev", "sealed/dev/dev.yaml"),
        ),
    ),
    Case(
        "certificate-file-replaced",
        replace_cert_file("dev", "spare"),
        (
            error(
                "cert-file",
                "dev",
                "certs/dev.pem does not match the fingerprint pinned for dev/dev",
                "sealer cert add dev --file",
            ),
        ),
    ),
    Case(
        "certificate-file-missing",
        delete_cert_file("dev"),
        (
            error("cert-file", "dev", "cannot read certificate", "sealer cert add dev"),
            deleted("dev", "certs/dev.pem"),
        ),
    ),
    Case(
        "production-certificate-of-3072-bits",
        env_certs={"production": "rsa3072", "staging": "spare"},
        expected=(
            error(
                "cert-strength",
                "production",
                "3072-bit RSA key; production requires at least 4096",
                "--bits 4096",
            ),
        ),
    ),
    Case(
        "certificate-expires-in-10-days",
        env_certs={"dev": "expires-10d"},
        expected=(
            error(
                "cert-expiry",
                "dev",
                "(in 10 days); dev needs at least 30 days left",
                "sealer cert fetch dev --accept",
            ),
        ),
    ),
    Case(
        "certificate-expires-in-45-days",
        env_certs={"dev": "expires-45d"},
        expected=(warning("cert-expiry", "dev", "(in 45 days)", "sealer cert fetch dev --accept"),),
    ),
    Case(
        "certificate-shared-by-two-environments",
        env_certs={"dev": "rsa2048", "staging": "rsa2048"},
        expected=(
            error("cert-distinct", "dev", "is also pinned for staging/staging", "sealer cert add dev"),
            error("cert-distinct", "staging", "is also pinned for dev/dev", "sealer cert add staging"),
        ),
    ),
    Case(
        # the sealing certificate of another environment: adding one alone leaves it pinned
        "sealing-certificate-of-another-environment",
        repin("dev", "rsa3072"),
        (
            error("cert-distinct", "dev", "is also pinned for staging/staging", REMOVE_DEV_AFTER_ADD),
            error("cert-distinct", "staging", "is also pinned for dev/dev", REMOVE_STAGING),
        ),
    ),
    Case(
        # kept in the set without sealing: taking it out is the whole fix
        "spare-certificate-of-another-environment",
        add_cert("dev", "rsa3072"),
        (
            error("cert-distinct", "dev", "is also pinned for staging/staging", "sealer cert remove dev "),
            error("cert-distinct", "staging", "is also pinned for dev/dev", REMOVE_STAGING),
        ),
    ),
    Case(
        "values-file-swapped-for-a-symlink",
        lambda root, certs: both(
            lambda r, c: (r / "deploy/dev/values.yaml").unlink(),
            lambda r, c: (r / "deploy/dev/values.yaml").symlink_to("/etc/hostname"),
        )(root, certs),
        (
            error(
                "values-file",
                "dev",
                "deploy/dev/values.yaml: it is a symlink",
                "replace deploy/dev/values.yaml with a regular YAML file (sealer never follows symlinks)",
            ),
        ),
    ),
    Case(
        "values-file-left-with-merge-conflict-markers",
        lambda root, certs: conflicted(root / "deploy/dev/values.yaml"),
        (
            error(
                "values-file",
                "dev",
                "(it holds merge conflict markers: a merge left unresolved)",
                "resolve the merge conflict in deploy/dev/values.yaml (its <<<<<<<, ======= and >>>>>>>",
            ),
        ),
    ),
    Case(
        "values-file-not-yaml",
        lambda root, certs: (root / "deploy/dev/values.yaml").write_text("sealer: [\n"),
        (
            error(
                "values-file",
                "dev",
                "deploy/dev/values.yaml: not valid YAML",
                "correct the YAML in deploy/dev/values.yaml where the message says",
            ),
        ),
    ),
    Case(
        "values-file-not-utf8",
        lambda root, certs: (root / "deploy/dev/values.yaml").write_bytes(b"sealer: \xff\n"),
        (error("values-file", "dev", "not valid UTF-8 text", "save deploy/dev/values.yaml as UTF-8 text"),),
    ),
    Case(
        # the cause read from the message's end: a path naming a symlink is no symlink
        "values-file-not-utf8-in-a-folder-named-symlink",
        lambda root, certs: not_utf8_at(root, "deploy/symlink/values.yaml"),
        (
            error(
                "values-file", "dev", "not valid UTF-8 text", "save deploy/symlink/values.yaml as UTF-8 text"
            ),
        ),
    ),
    # overrides: a user policy file, sealer.yaml
    Case(
        "stricter-user-policy",
        age("staging", 12),
        (
            error("key-age", "staging", "is 12 days old; staging allows 10 days", ROTATE_STAGING),
            error(
                "key-age",
                "staging",
                "rotationDays is 30, longer than the 10-day maximum",
                "environments.staging.rotationDays to 10 or less",
            ),
        ),
        policy=STAGING_MAX_10,
    ),
    Case(
        "user-policy-rules-apply-to-every-environment",
        age("dev", 65),
        (
            error("key-age", "dev", "is 65 days old; dev allows 60 days", "sealer rotate dev --key apiKey"),
            error("key-age", "dev", "rotationDays is 180", "rotationDays to 60 or less"),
            error("key-age", "production", "rotationDays is 90", "rotationDays to 60 or less"),
        ),
        policy="rules:\n  key-age:\n    max-days: 60\n",
    ),
    Case(
        "rule-disabled-in-sealer-yaml",
        both(age("staging", 40), policy_override("staging", {"key-age": {"enabled": False}})),
    ),
    Case(
        "rule-downgraded-to-warning-in-sealer-yaml",
        both(age("staging", 40), policy_override("staging", {"key-age": {"level": "warning"}})),
        (warning("key-age", "staging", "is 40 days old", ROTATE_STAGING),),
    ),
    Case(
        "sealer-yaml-overrides-the-user-policy",
        both(age("staging", 30), policy_override("staging", {"key-age": {"max-days": 45}})),
        policy=STAGING_MAX_10,
    ),
    # a lock binds only the rules and environments it names (refusals: test_policy_loader)
    Case(
        "sealer-yaml-overrides-a-rule-the-user-policy-does-not-lock",
        both(age("staging", 40), policy_override("staging", {"key-age": {"enabled": False}})),
        policy="rules:\n  scope: {locked: true}\n",
    ),
    Case(
        "sealer-yaml-overrides-a-rule-locked-for-another-environment",
        both(age("staging", 40), policy_override("staging", {"key-age": {"enabled": False}})),
        policy="environments:\n  production:\n    key-age: {locked: true}\n",
    ),
    Case(
        "sealer-yaml-overrides-a-rule-the-file-leaves-open-under-its-top-level-lock",
        both(age("staging", 40), policy_override("staging", {"key-age": {"enabled": False}})),
        policy="locked: true\nrules:\n  key-age: {locked: false}\n",
    ),
    Case(  # the file's own values apply as ever, lock or not
        "a-locked-rule-applies-the-files-options",
        age("staging", 12),
        (
            error("key-age", "staging", "is 12 days old; staging allows 10 days", ROTATE_STAGING),
            error(
                "key-age", "staging", "rotationDays is 30", "environments.staging.rotationDays to 10 or less"
            ),
        ),
        policy="locked: true\n" + STAGING_MAX_10,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_policy_case(
    case: Case, repo_factory: RepoFactory, policy_certs: dict[str, Path], tmp_path: Path
) -> None:
    root = repo_factory(case.env_certs)
    case.change(root, policy_certs)
    args = []
    if case.policy is not None:
        (tmp_path / "policy.yaml").write_text(case.policy)
        args = ["--policy", str(tmp_path / "policy.yaml")]
    code, report = check_json(root, *args)
    found = sorted((p["rule"], p["env"], p["level"]) for p in report["problems"])
    assert found == sorted(expected[:3] for expected in case.expected), report["problems"]
    for rule, env, level, message, fix in case.expected:
        matching = [p for p in report["problems"] if (p["rule"], p["env"], p["level"]) == (rule, env, level)]
        assert any(message in p["message"] and fix in p["fix"] for p in matching), matching
    has_errors = any(expected[2] == "error" for expected in case.expected)
    assert (code, report["ok"]) == ((1, False) if has_errors else (0, True))


def test_every_rule_is_exercised_by_a_violating_case() -> None:
    from sealer.policy.rules import RULES

    covered = {expected[0] for case in CASES for expected in case.expected}
    assert covered - {"deleted-file"} == set(RULES)  # a file Git holds, gone from disk: no policy rule
