"""`sealer review` as a PR author wanting a weaker key would try it (#19): every tampering case
fails (exit 1) with its finding's kind; the changes sealer itself makes pass; sensitive changes
pass only when approved from outside the pull request (CODEOWNERS at BASE, or a tag signed by
an approver listed at BASE)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.cli import sealer as cli
from support.git import commit_all, git
from support.isolation import isolated
from support.repos import keypairs, ledger_records, pinned_repo, pr_checkout, set_env_option

from sealer import apikey, certs, config, ledger, yamlio
from sealer.records import ACTIVE, GRACE, REVOKED, utcnow
from sealer.review import Options, approvals, review
from sealer.review import history as review_history
from sealer.rotation import phases, plan

SEALED = "sealed/staging/staging.yaml"
VALUES = "deploy/staging/values.yaml"
LEDGER = "ledger/staging.yaml"
# `ci init` pins the sealer CI installs; name one so the test does not depend on this checkout's origin
CI_PIN = ("--git", "https://git.example.test/acme/sealer.git@" + "0" * 40)


@pytest.fixture(scope="module")
def controllers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return keypairs(tmp_path_factory, "staging", "production", "rogue")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, controllers: dict[str, Path]) -> Path:
    """main: staging's ledger holds K1 revoked, K2 in grace (30 days), K3 active; production P1.
    Tag `k1` marks the commit where K1 was the active key."""
    with isolated(tmp_path_factory.mktemp("home")):
        root = pinned_repo(tmp_path_factory, controllers)
        assert cli(root, "rotate", "staging", "--no-branch").exit_code == 0
        git(root, "tag", "k1")
        assert cli(root, "rotate", "production", "--no-branch").exit_code == 0
        assert cli(root, "rotate", "staging", "--no-branch").exit_code == 0
        assert cli(root, "rotate", "staging", "--no-branch", "--grace", "30d").exit_code == 0
        assert [r.status for r in ledger_records(root, "staging")] == [REVOKED, GRACE, ACTIVE]
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    return pr_checkout(template, tmp_path)


def run_review(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(repo, "review", "main", "HEAD", *args, "--output", "json")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def codes(data: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in data["findings"]}


# -- tampering helpers -------------------------------------------------------------------------


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    doc = yamlio.round_trip_load(path.read_text(), str(path))
    change(doc)
    path.write_text(yamlio.round_trip_dump(doc))


def edit_ledger(repo: Path, change: Callable[[list[Any]], list[Any]], env: str = "staging") -> None:
    """Rewrite the ledger through sealer's own writer: only the state machine can object."""
    ledger.save(repo, env, change(ledger.load(repo, env)))


def at_index(index: int, **fields: Any) -> Callable[[list[Any]], list[Any]]:
    return lambda records: [replace(r, **fields) if i == index else r for i, r in enumerate(records)]


def edit_text(repo: Path, rel: str, change: Callable[[str], str]) -> None:
    (repo / rel).write_text(change((repo / rel).read_text()))


def commit(repo: Path, message: str = "change") -> None:
    commit_all(repo, message)


def new_record(repo: Path, **fields: Any) -> Any:
    key = apikey.generate("staging")
    fp = apikey.fingerprint(key)
    now = utcnow()
    base = ledger_records(repo, "staging")[-1]
    values = {
        "key_id": apikey.key_id(fp),
        "fingerprint": fp,
        "created": now,
        "expires": now + dt.timedelta(days=104),
        "status": ACTIVE,
        "revoke_at": None,
    }
    return replace(base, **{**values, **fields})


# -- the tampering cases -------------------------------------------------------------------------


def revoked_key_reactivated(repo: Path) -> None:
    edit_ledger(repo, at_index(0, status=ACTIVE, revoke_at=None))


def rollback_to_revoked_key(repo: Path) -> None:
    """K1's files put back, and the ledger edited so K1 looks current."""
    for rel in (SEALED, VALUES):
        (repo / rel).write_text(git(repo, "show", f"k1:{rel}"))
    edit_ledger(
        repo,
        lambda rs: [
            replace(rs[0], status=ACTIVE, revoke_at=None),
            *(r.with_status(REVOKED, utcnow()) for r in rs[1:]),
        ],
    )


def ledger_deleted(repo: Path) -> None:
    (repo / LEDGER).unlink()


def ledger_truncated(repo: Path) -> None:
    edit_ledger(repo, lambda rs: [])


def ledger_invalid(repo: Path) -> None:
    (repo / LEDGER).write_text("keys: [{{{ not yaml\n")


def expiry_pushed_out(repo: Path) -> None:
    edit_ledger(
        repo, lambda rs: [*rs[:-1], replace(rs[-1], expires=rs[-1].expires + dt.timedelta(days=3650))]
    )


def record_removed(repo: Path) -> None:
    edit_ledger(repo, lambda rs: rs[1:])


def records_reordered(repo: Path) -> None:
    edit_ledger(repo, lambda rs: [rs[1], rs[0], rs[2]])


def grace_extended(repo: Path) -> None:
    edit_ledger(
        repo, lambda rs: [rs[0], replace(rs[1], revoke_at=rs[1].revoke_at + dt.timedelta(days=365)), rs[2]]
    )


def created_rewritten(repo: Path) -> None:
    """A younger-looking key is never due for rotation."""
    edit_ledger(repo, lambda rs: [*rs[:-1], replace(rs[-1], created=rs[-1].created + dt.timedelta(days=60))])


def key_id_not_derived(repo: Path) -> None:
    edit_ledger(repo, lambda rs: [*rs, new_record(repo, key_id="kid_000000000000", status=REVOKED)])


def new_key_long_lifetime(repo: Path) -> None:
    now = utcnow()
    edit_ledger(
        repo, lambda rs: [*rs, new_record(repo, status="pending", expires=now + dt.timedelta(days=3650))]
    )


def new_key_created_in_future(repo: Path) -> None:
    later = utcnow() + dt.timedelta(days=80)
    edit_ledger(
        repo,
        lambda rs: [
            *rs,
            new_record(repo, status="pending", created=later, expires=later + dt.timedelta(days=100)),
        ],
    )


def fingerprint_reused(repo: Path) -> None:
    """K1 (revoked) registered again as a 'new' pending key of another entry: its key id twice
    makes the ledger unreadable."""
    edit_ledger(repo, lambda rs: [*rs, replace(rs[0], name="otherKey", status="pending", revoke_at=None)])


def fingerprint_reused_under_another_id(repo: Path) -> None:
    """K1 (revoked) registered again under a key id of its own."""
    again = {"key_id": "kid_000000000001", "name": "otherKey", "status": "pending", "revoke_at": None}
    edit_ledger(repo, lambda rs: [*rs, replace(rs[0], **again)])


def ledger_rewritten_by_hand(repo: Path) -> None:
    """Same records, written as block YAML: not what sealer writes."""
    records = ledger_records(repo, "staging")
    doc = {"env": "staging", "keys": [{k: v for k, v in r.as_dict().items() if k != "env"} for r in records]}
    (repo / LEDGER).write_text(yamlio.dump(doc))


def ledger_edit_undone_later(repo: Path) -> None:
    revoked_key_reactivated(repo)
    commit(repo, "reactivate")
    git(repo, "checkout", "main", "--", LEDGER)


def store_changed(repo: Path) -> None:
    set_env_option(
        repo, "staging", "backend", {"kind": "vault", "options": {"mount": "kv", "path": "sealer"}}
    )


def cluster_context_repointed(repo: Path) -> None:
    """#17: finish trusts what each context serves; a PR picks which cluster answers for staging."""
    set_env_option(repo, "staging", "clusterContexts", {"staging": "already-rotated-cluster"})


def env_renamed(repo: Path) -> None:
    with config.edit(repo) as doc:
        doc["environments"]["stage"] = doc["environments"].pop("staging")


def env_added_at_existing_namespace(repo: Path) -> None:
    with config.edit(repo) as doc:
        env = dict(doc["environments"]["production"])
        env["clusters"] = [dict(c) for c in env["clusters"]]
        env["clusters"][0]["name"] = "shadow"
        env["clusters"][0]["valuesFile"] = "deploy/shadow/values.yaml"
        env["valuesFile"] = "deploy/shadow/values.yaml"
        # A registry of its own: sealer.yaml refuses two environments sharing one (#16).
        backend = dict(env.get("backend") or {"kind": "k8s-secrets"})
        backend["options"] = {**dict(backend.get("options") or {}), "registry_name": "shadow-registry"}
        env["backend"] = backend
        doc["environments"]["shadow"] = env


def secret_name_changed(repo: Path) -> None:
    set_env_option(repo, "staging", "secretName", "other-secret")


def rotation_lengthened(repo: Path) -> None:
    with config.edit(repo) as doc:
        doc["environments"]["staging"].update(rotationDays=900, keyLifetimeDays=914)


def lifetime_lengthened(repo: Path) -> None:
    set_env_option(repo, "staging", "keyLifetimeDays", 3650)


def values_file_moved(repo: Path) -> None:
    with config.edit(repo) as doc:
        doc["environments"]["staging"]["clusters"][0]["valuesFile"] = "deploy/staging/other.yaml"


def policy_rule_switched_off(repo: Path) -> None:
    set_env_option(repo, "staging", "policy", {"max-key-age": {"enabled": False}})


def keys_dropped(repo: Path) -> None:
    set_env_option(repo, "production", "keys", ["otherKey"])


def unlisted_entry_key(repo: Path) -> None:
    """A key under an entry sealer.yaml does not list: ledger record, registry and ciphertext as
    sealer would write them, for a key the author chose (the cluster's verifier accepts it)."""
    record = new_record(repo, name="backupKey")
    ledger.save(repo, "staging", [*ledger_records(repo, "staging"), record])
    assert cli(repo, "render", "staging").exit_code == 0
    sealed = cli(
        repo,
        "seal",
        "--cert",
        "certs/staging.pem",
        "--raw",
        "--name",
        "engine-api-key",
        "-n",
        "staging",
        "--from-literal",
        f"backupKey={apikey.generate('staging')}",
    )
    edit_yaml(
        repo / SEALED, lambda d: d["spec"]["encryptedData"].__setitem__("backupKey", sealed.stdout.strip())
    )


def keys_added(repo: Path) -> None:
    set_env_option(repo, "staging", "keys", ["apiKey", "backupKey"])


def config_change_undone_later(repo: Path) -> None:
    set_env_option(repo, "staging", "scope", "cluster-wide")
    commit(repo, "wider")
    git(repo, "checkout", "main", "--", "sealer.yaml")


def allow_comment_added(repo: Path) -> None:
    (repo / "app.py").write_text("TOKEN = 'ghp_" + "x" * 36 + "'  # sealer: allow\n")


def baseline_entry_added(repo: Path) -> None:
    entry = {"fingerprint": "f" * 64, "rule": "generic-secret-assignment", "path": "app.env"}
    (repo / ".sealer").mkdir(exist_ok=True)
    (repo / ".sealer/scan-baseline.json").write_text(json.dumps({"version": 1, "findings": [entry]}))


def baseline_entry_added_not_named_json(repo: Path) -> None:
    """`sealer scan --baseline .sealer/scan-baseline`: the scan reads any file it is given."""
    entry = {"fingerprint": "f" * 64, "rule": "generic-secret-assignment", "path": "app.env"}
    (repo / ".sealer").mkdir(exist_ok=True)
    (repo / ".sealer/scan-baseline").write_text(json.dumps({"version": 1, "findings": [entry]}))


def baseline_entry_given_twice(repo: Path) -> None:
    """`findings` twice: `json.loads` reads the last (empty) list, a reviewer the first."""
    entry = {"fingerprint": "f" * 64, "rule": "generic-secret-assignment", "path": "app.env"}
    text = json.dumps({"version": 1, "findings": [entry]})[:-1] + ', "findings": []}'
    (repo / "ci").mkdir()
    (repo / "ci/scan-baseline").write_text(text)


def baseline_entry_added_outside_sealers_folder(repo: Path) -> None:
    """BASE's baseline (no `.json`, no gate file's folder) accepts one finding; the change adds one."""
    entry = {"fingerprint": "e" * 64, "rule": "generic-secret-assignment", "path": "app.env"}
    git(repo, "checkout", "-q", "main")
    (repo / "ci").mkdir()
    (repo / "ci/scan-baseline").write_text(json.dumps({"version": 1, "findings": [entry]}, indent=2))
    commit(repo, "baseline")
    git(repo, "checkout", "-q", "-B", "pr")
    added = {**entry, "fingerprint": "f" * 64, "path": "deploy.env"}
    (repo / "ci/scan-baseline").write_text(json.dumps({"version": 1, "findings": [entry, added]}))


def signers_edited(repo: Path) -> None:
    (repo / ".sealer").mkdir(exist_ok=True)
    (repo / ".sealer/allowed_signers").write_text("mallory@example.invalid ssh-ed25519 AAAA\n")


def gitattributes_edited(repo: Path) -> None:
    edit_text(repo, ".gitattributes", lambda t: t + "ledger/*.yaml -diff\n")


def cert_file_replaced(repo: Path, rogue: Path) -> None:
    (repo / "certs/staging.pem").write_bytes((rogue / "tls.crt").read_bytes())


_FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
# What a pull request may append to a pinned certificate: kubeseal seals with the first block,
# a reviewer or another tool may read another (#14); `sealer check` refuses each.
BESIDE_THE_CERT = {
    "second-cert": lambda pem: pem,
    "private-key": lambda pem: _FAKE_KEY,
    "text": lambda pem: "see https://example.invalid/real-cert\n",
}


def _cert_appended(repo: Path, extra: str) -> None:
    pem = (repo / "certs/staging.pem").read_text()
    (repo / "certs/staging.pem").write_text(pem + BESIDE_THE_CERT[extra](pem))


def cert_file_second_cert(repo: Path) -> None:
    _cert_appended(repo, "second-cert")


def cert_file_private_key(repo: Path) -> None:
    _cert_appended(repo, "private-key")


def cert_file_text_after(repo: Path) -> None:
    _cert_appended(repo, "text")


def checksum_edited(repo: Path) -> None:
    edit_yaml(repo / VALUES, lambda d: d["sealer"].__setitem__("checksum", "0" * 64))


def key_id_prefix_edited(repo: Path) -> None:
    edit_yaml(
        repo / VALUES, lambda d: d["sealer"]["keys"]["apiKey"].__setitem__("fingerprintPrefix", "0" * 12)
    )


def values_expiry_edited(repo: Path) -> None:
    edit_yaml(
        repo / VALUES, lambda d: d["sealer"]["keys"]["apiKey"].__setitem__("expires", "2099-01-01T00:00:00Z")
    )


def cert_fingerprint_edited(repo: Path) -> None:
    edit_yaml(repo / VALUES, lambda d: d["sealer"].__setitem__("certFingerprint", "a" * 64))


def manifest_label_added(repo: Path) -> None:
    edit_text(
        repo,
        SEALED,
        lambda t: t.replace("  name: engine-api-key\n", "  name: engine-api-key\n  labels: {x: y}\n", 1),
    )


def manifest_template_type(repo: Path) -> None:
    edit_text(repo, SEALED, lambda t: t.replace("type: Opaque", "type: kubernetes.io/service-account-token"))


def provenance_garbled(repo: Path) -> None:
    edit_yaml(
        repo / SEALED, lambda d: d["metadata"]["annotations"].__setitem__("sealer.dev/cert-sha256", "pinned")
    )


def second_document_in_sealed_file(repo: Path) -> None:
    edit_text(repo, SEALED, lambda t: t + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")


def second_document_in_values_file(repo: Path) -> None:
    edit_text(repo, VALUES, lambda t: t + f"---\nextra:\n  apiKey: {apikey.generate('staging')}\n")


def sealed_file_symlink(repo: Path) -> None:
    target = repo / "sealed/staging/real.yaml"
    (repo / SEALED).rename(target)
    (repo / SEALED).symlink_to("real.yaml")


def values_file_executable(repo: Path) -> None:
    os.chmod(repo / VALUES, 0o755)


def cert_symlink(repo: Path) -> None:
    (repo / "certs/staging.pem").unlink()
    (repo / "certs/staging.pem").symlink_to("/etc/hostname")


def plaintext_in_big_file(repo: Path) -> None:
    """Past any size a scan might skip: 3 MiB with the key near the end (chunks are 1 MiB here)."""
    filler = ("# " + "x" * 78 + "\n") * (3 * 13107)
    (repo / "dump.txt").write_text(filler + f"key={apikey.generate('staging')}\n")


def plaintext_in_big_lockfile(repo: Path) -> None:
    """A path the policy's globs allow streams too when big: `sealer scan` searches it with the
    checksum-verified rules (a key in a lockfile is a key), review skipped it whole."""
    filler = '{"name": "' + "x" * 64 + '"},\n'
    (repo / "package-lock.json").write_text(
        filler * 40_000 + f'{{"token": "{apikey.generate("staging")}"}}\n'
    )


def aws_key_in_changed_file(repo: Path) -> None:
    (repo / "deploy/staging/extra.env").write_text("AWS_ACCESS_KEY_ID=AKIA" + "QX7ZPWB3RT6YUH2K" + "\n")


TAMPERING: list[tuple[Callable[..., None], str]] = [
    (revoked_key_reactivated, "ledger-status"),
    (rollback_to_revoked_key, "ledger-status"),
    (ledger_deleted, "ledger-removed"),
    (ledger_truncated, "ledger-removed"),
    (ledger_invalid, "ledger-invalid"),
    (expiry_pushed_out, "ledger-rewrite"),
    (record_removed, "ledger-rewrite"),
    (records_reordered, "ledger-rewrite"),
    (grace_extended, "ledger-status"),
    (created_rewritten, "ledger-rewrite"),
    (key_id_not_derived, "ledger-invalid"),  # every command refuses such a ledger
    (new_key_long_lifetime, "key-lifetime"),
    (new_key_created_in_future, "key-lifetime"),
    (fingerprint_reused, "ledger-invalid"),
    (fingerprint_reused_under_another_id, "ledger-invalid"),  # an id not its fingerprint's
    (ledger_rewritten_by_hand, "ledger-invalid"),
    (ledger_edit_undone_later, "ledger-status"),
    (store_changed, "store-change"),
    (env_renamed, "env-removed"),
    (env_added_at_existing_namespace, "env-added"),
    (secret_name_changed, "name-change"),
    (rotation_lengthened, "period-change"),
    (lifetime_lengthened, "period-change"),
    (values_file_moved, "values-file-change"),
    (policy_rule_switched_off, "policy-override"),
    (keys_dropped, "keys-change"),
    (keys_added, "keys-change"),
    (unlisted_entry_key, "ledger-invalid"),
    (config_change_undone_later, "scope-change"),
    (allow_comment_added, "allow-comment"),
    (baseline_entry_added, "baseline-entry"),
    (baseline_entry_added_not_named_json, "baseline-entry"),
    (baseline_entry_given_twice, "baseline-entry"),
    (baseline_entry_added_outside_sealers_folder, "baseline-entry"),
    (signers_edited, "trust-anchor-change"),
    (gitattributes_edited, "trust-anchor-change"),
    (cert_file_replaced, "cert-mismatch"),
    (cert_file_second_cert, "cert-file-content"),
    (cert_file_private_key, "cert-file-content"),
    (cert_file_text_after, "cert-file-content"),
    (checksum_edited, "derived-field"),
    (key_id_prefix_edited, "derived-field"),
    (values_expiry_edited, "derived-field"),
    (cert_fingerprint_edited, "derived-field"),
    (manifest_label_added, "manifest-mismatch"),
    (manifest_template_type, "manifest-mismatch"),
    (provenance_garbled, "manifest-mismatch"),
    (second_document_in_sealed_file, "extra-document"),
    (second_document_in_values_file, "plaintext"),
    (sealed_file_symlink, "file-mode"),
    (values_file_executable, "file-mode"),
    (cert_symlink, "file-mode"),
    (plaintext_in_big_file, "plaintext"),
    (plaintext_in_big_lockfile, "plaintext"),
    (aws_key_in_changed_file, "plaintext"),
]


# Ten more a PR author might try that the issue did not list (the self-attack of #19).


def template_data_injected(repo: Path) -> None:
    """spec.template.data: plain values the controller puts into the Secret next to the decrypted ones."""
    edit_yaml(repo / SEALED, lambda d: d["spec"]["template"].__setitem__("data", {"apiKey": "weak"}))


def duplicate_sealer_key(repo: Path) -> None:
    """Two `sealer:` keys: our parser reads the last, another parser may read the first."""
    old = git(repo, "show", f"k1:{VALUES}")
    stale = old[old.index("sealer:") :]
    edit_text(repo, VALUES, lambda t: t.replace("sealer:", stale + "sealer:", 1))


def anchors_in_the_subtree(repo: Path) -> None:
    def anchored(text: str) -> str:
        line = next(x for x in text.splitlines() if "secretName:" in x)
        return text.replace(line, line + " # same", 1).replace("  scope:", "  scope: &s", 1)

    edit_text(repo, VALUES, anchored)


def old_subtree_by_a_merge_key(repo: Path) -> None:
    """The subtree as sealer renders it, then a `<<` giving an old one: PyYAML keeps the written
    `sealer:`, Helm's reader (Go yaml.v2) the later merged one, which it delivers."""
    old = git(repo, "show", f"k1:{VALUES}")
    stale = yamlio.load_documents(old, "k1")[0]["sealer"]
    edit_text(repo, VALUES, lambda t: t + f"<<: {{sealer: {json.dumps(stale)}}}\n")


def empty_document_above_the_values(repo: Path) -> None:
    """Helm reads a values file's first document, here an empty one: the checked subtree below it
    is never delivered (nor any SealedSecret)."""
    edit_text(repo, VALUES, lambda t: "--- ~\n---\n" + t)


def deploy_folder_symlink(repo: Path) -> None:
    (repo / "deploy/old").mkdir()
    for path in (repo / "deploy/staging").iterdir():
        path.rename(repo / "deploy/old" / path.name)
    (repo / "deploy/staging").rmdir()
    (repo / "deploy/staging").symlink_to("old")


def stale_values_file_added(repo: Path) -> None:
    (repo / "deploy/staging/values-override.yaml").write_text(git(repo, "show", f"k1:{VALUES}"))


def stale_sealed_secret_elsewhere(repo: Path) -> None:
    (repo / "manifests").mkdir()
    (repo / "manifests/extra.yaml").write_text(git(repo, "show", f"k1:{SEALED}"))


def stale_registry_elsewhere(repo: Path) -> None:
    """A ConfigMap named like staging's key registry: applied beside it, a verifier may read it."""
    (repo / "manifests").mkdir()
    (repo / "manifests/registry.yaml").write_text(git(repo, "show", "k1:registry/staging/staging.yaml"))


def values_without_a_cluster(repo: Path) -> None:
    """At BASE production pins no cluster yet (as `sealer init` leaves an environment), so sealer
    renders no `sealer:` subtree for it; the change puts an old production ciphertext back, for
    production's release to deliver."""
    git(repo, "rm", "-q", "-r", "sealed/production", "ledger/production.yaml", "registry/production")
    stale = git(repo, "show", "main:deploy/production/values.yaml")
    edit_text(repo, "deploy/production/values.yaml", lambda t: stale[: stale.index("sealer:")])
    set_env_option(repo, "production", "clusters", [])
    commit(repo, "production without a cluster")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "pr")
    git(repo, "checkout", "-q", "pr")
    # its old key's ciphertext, in a file sealer's YAML reader refuses (a key twice) and Helm reads
    edit_text(repo, "deploy/production/values.yaml", lambda t: stale + "replicaCount: 2\n")


def sealed_file_deleted(repo: Path) -> None:
    (repo / SEALED).unlink()


def ledger_claims_the_pin(repo: Path) -> None:
    edit_ledger(repo, lambda rs: [replace(rs[0], sealed_with=("0" * 64,)), *rs[1:]])


def nested_gitattributes(repo: Path) -> None:
    (repo / "ledger/.gitattributes").write_text("*.yaml -diff\n")


def cluster_renamed(repo: Path) -> None:
    with config.edit(repo) as doc:
        doc["environments"]["staging"]["clusters"][0]["name"] = "blue"


def extra_entry_with_old_ciphertext(repo: Path) -> None:
    value = yamlio.load_documents(git(repo, "show", f"k1:{SEALED}"), "k1")[0]["spec"]["encryptedData"][
        "apiKey"
    ]
    edit_yaml(repo / SEALED, lambda d: d["spec"]["encryptedData"].__setitem__("legacyKey", value))


def crlf_sealed_file(repo: Path) -> None:
    (repo / SEALED).write_bytes((repo / SEALED).read_bytes().replace(b"\n", b"\r\n"))


def ledger_record_with_extra_field(repo: Path) -> None:
    edit_text(repo, LEDGER, lambda t: t.replace('{"name"', '{"note": "ok", "name"', 1))


def history_replaced(repo: Path) -> None:
    """A `git replace` object shows a no-op commit in place of the tampering one."""
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    clean = git(repo, "rev-parse", "HEAD").strip()
    revoked_key_reactivated(repo)
    tampered = commit_all(repo, "reactivate")
    tree = git(repo, "rev-parse", f"{clean}^{{tree}}").strip()
    no_op = git(repo, "commit-tree", tree, "-p", clean, "-m", "reactivate").strip()
    git(repo, "replace", "-f", tampered, no_op)
    git(repo, "reset", "-q", "--hard")  # the work tree as git now shows HEAD
    assert git(repo, "diff", "--stat", "HEAD~1", "HEAD") == ""  # git itself now shows nothing


def key_in_a_zip(repo: Path) -> None:
    import zipfile

    with zipfile.ZipFile(repo / "backup.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", f"prod key {apikey.generate('staging')}\n")


def unreadable_archive(repo: Path) -> None:
    (repo / "backup.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + os.urandom(256))


AWS_LINE = 'AWS_ACCESS_KEY_ID = "AKIA' + 'QX7ZPWB3RT6YUH2K"  # sealer: allow\n'


def allow_comment_moved(repo: Path) -> None:
    """BASE allows one harmless line; the change moves the comment onto a secret (same count)."""
    git(repo, "checkout", "-q", "main")
    (repo / "app.py").write_text("x = 1  # sealer: allow\n")
    commit(repo, "app")
    git(repo, "checkout", "-q", "-B", "pr")
    (repo / "app.py").write_text("x = 1\n" + AWS_LINE)


def allow_comment_in_big_file(repo: Path) -> None:
    """Above SCAN_CHUNK a blob streams from git and is never held to compare with its parent."""
    (repo / "big.txt").write_text("# filler\n" * 200_000 + AWS_LINE)


def allow_comment_in_utf16(repo: Path) -> None:
    """The scanner decodes UTF-16 and honours the comment there; the raw bytes do not show it."""
    (repo / "notes.txt").write_bytes(AWS_LINE.encode("utf-16"))


def allow_comment_in_a_zip(repo: Path) -> None:
    import zipfile

    with zipfile.ZipFile(repo / "notes.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", AWS_LINE * 20)


def existing_secret_switched(repo: Path) -> None:
    """The chart then renders no SealedSecret and reads the key from a Secret nobody reviewed."""
    edit_text(repo, VALUES, lambda t: t + "existingSecret: hand-made-key\n")


def key_variable_overridden(repo: Path) -> None:
    """A second API_KEY after the chart's own: the last of a name wins in the container."""
    ref = "{valueFrom: {secretKeyRef: {name: hand-made-key, key: k}}}"
    edit_text(repo, VALUES, lambda t: t + "extraEnv:\n  - {name: API_KEY, " + ref[1:] + "\n")


def key_entry_switched(repo: Path) -> None:
    edit_text(repo, VALUES, lambda t: t + "apiKey: {secretKey: legacyKey}\n")


def registry_made_a_link_to_its_own_text(repo: Path) -> None:
    """The same blob as a symlink (its target is the registry's text): the content review compares
    is unchanged, but a GitOps tool finds a dangling link, not a ConfigMap, and applies no registry
    again: every later revocation stays out of the cluster."""
    path = repo / "registry/staging/staging.yaml"
    text = path.read_text()
    path.unlink()
    path.symlink_to(text)
    same = git(repo, "hash-object", "--stdin", data=text.encode()).strip()
    assert same == git(repo, "rev-parse", "HEAD:registry/staging/staging.yaml").strip()


ATTACKS: list[tuple[Callable[..., None], str]] = [
    (allow_comment_moved, "allow-comment"),
    (allow_comment_in_utf16, "allow-comment"),
    (allow_comment_in_big_file, "allow-comment"),
    (allow_comment_in_a_zip, "allow-comment"),
    (existing_secret_switched, "delivery-change"),
    (key_variable_overridden, "delivery-change"),
    (key_entry_switched, "delivery-change"),
    (key_in_a_zip, "plaintext"),
    (unreadable_archive, "plaintext"),
    (template_data_injected, "manifest-mismatch"),
    (duplicate_sealer_key, "derived-field"),
    (anchors_in_the_subtree, "derived-field"),
    (old_subtree_by_a_merge_key, "derived-field"),
    (empty_document_above_the_values, "extra-document"),
    (deploy_folder_symlink, "file-mode"),
    (registry_made_a_link_to_its_own_text, "file-mode"),
    (stale_values_file_added, "stray-sealed-data"),
    (stale_sealed_secret_elsewhere, "stray-sealed-data"),
    (stale_registry_elsewhere, "stray-sealed-data"),
    (values_without_a_cluster, "derived-field"),
    (sealed_file_deleted, "manifest-mismatch"),
    (ledger_claims_the_pin, "ledger-rewrite"),
    (nested_gitattributes, "trust-anchor-change"),
    (cluster_renamed, "pin-change"),
    (extra_entry_with_old_ciphertext, "hand-edit"),
    (crlf_sealed_file, "manifest-mismatch"),
    (ledger_record_with_extra_field, "ledger-invalid"),
    (history_replaced, "ledger-status"),
    (cluster_context_repointed, "cluster-context-change"),
]
TAMPERING += ATTACKS


@pytest.mark.parametrize(("tamper", "kind"), TAMPERING, ids=[t.__name__ for t, _ in TAMPERING])
def test_tampering_fails_review(
    repo: Path,
    controllers: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tamper: Callable[..., None],
    kind: str,
) -> None:
    monkeypatch.setattr(review_history, "SCAN_CHUNK", 1 << 20)
    if tamper is cert_file_replaced:
        tamper(repo, controllers["rogue"])
    else:
        tamper(repo)
    if git(repo, "status", "--porcelain"):
        commit(repo, tamper.__name__)
    code, data = run_review(repo)
    assert code == 1 and data["ok"] is False
    assert kind in codes(data), data["findings"]
    for finding in data["findings"]:  # no finding repeats a plaintext key
        assert "slr_staging_" not in finding["message"]


def test_the_table_covers_every_kind() -> None:
    from sealer.review import model

    listed = {kind for _, kind in TAMPERING}
    assert len(TAMPERING) >= 30
    assert model.SENSITIVE - listed <= {
        "namespace-change",
        "pin-change",
        "cert-change",
        "cert-added",  # test_review.py's pin_replaced and test_cert_sets.py
    }  # test_review.py's table


# -- what sealer itself does passes ----------------------------------------------------------------


def api_review(repo: Path, now: dt.datetime | None = None, **options: Any) -> Any:
    return review(repo, "main", "HEAD", Options(now=now, **options))


def test_a_rotation_with_grace_passes(repo: Path) -> None:
    assert cli(repo, "rotate", "staging", "production", "--no-branch", "--grace", "1d").exit_code == 0
    code, data = run_review(repo)
    assert code == 0, data["findings"]
    assert {c["entry"] for c in data["changes"]} == {"apiKey"}


def test_rotate_due_with_lapsed_grace_passes(repo: Path) -> None:
    """100 days on: every key is due, K2's grace has lapsed (revoked at its revoke_at)."""
    later = utcnow() + dt.timedelta(days=100)
    phases.rotate(config.load(repo), plan.Request(envs=(), due=True, no_branch=True), now=later)
    assert [r.status for r in ledger_records(repo, "staging")] == [REVOKED, REVOKED, REVOKED, ACTIVE]
    report = api_review(repo, now=later)
    assert report.exit_code == 0, report.findings
    assert report.notes and any("grace -> revoked" in n for n in report.notes)


def test_keys_revoke_passes(repo: Path) -> None:
    k2 = ledger_records(repo, "staging")[1]
    done = cli(repo, "keys", "revoke", "staging", k2.key_id, "--no-branch")  # lands as its own commit
    assert done.exit_code == 0, done.stderr
    code, data = run_review(repo)
    assert code == 0, data["findings"]


def test_values_the_key_does_not_depend_on_pass(repo: Path) -> None:
    """Your own values stay yours: only the chart settings that pick the key's Secret need approval."""
    extra = "extraEnv:\n  - {name: LOG_LEVEL, value: debug}\napiKey: {envName: API_KEY}\nreplicaCount: 3\n"
    edit_text(repo, VALUES, lambda t: t.replace("replicaCount: 1\n", "") + extra)
    commit(repo)
    code, data = run_review(repo)
    assert code == 0, data["findings"]


@pytest.mark.parametrize("tail", ["---\n", "...\n---\n", "---", "--- ~\n", "---\n# the end\n"])
def test_a_values_file_ending_with_an_empty_document_fails_review_as_it_fails_check(
    repo: Path, tail: str
) -> None:
    """Helm skips a last `---` with nothing after it, so the subtree review compares is the one
    delivered; but sealer's editor reads a second document and refuses the file, and `check`
    fails it (values-file): review, the CI gate, fails it too. The file without it passes."""
    kept = (repo / VALUES).read_text()
    (repo / VALUES).write_text(kept + "logLevel: debug\n" + tail)
    commit(repo, "a trailing document")
    code, data = run_review(repo)
    assert (code, [(f["rule"], f["path"]) for f in data["findings"]]) == (1, [("extra-document", VALUES)])
    assert data["findings"][0]["message"].startswith(
        "ends with an empty YAML document (a last `---` with nothing after it)"
    )
    assert cli(repo, "check", "staging").exit_code == 1  # the same file, the same verdict
    (repo / VALUES).write_text(kept + "logLevel: debug\n")
    git(repo, "commit", "-q", "--amend", "-a", "--no-edit")
    code, data = run_review(repo)
    assert code == 0, data["findings"]


@pytest.mark.parametrize("sealed", [True, False], ids=["rendered", "no-sealed-file-yet"])
def test_a_values_file_its_editor_refuses_fails_review_as_it_fails_check(repo: Path, sealed: bool) -> None:
    """A blank line holding a tab is YAML to sealer's reader, but ruamel, which edits the file
    when it cannot splice it, refuses it: the next rotation stops. Review says why, as check
    does, also where no sealed file is behind the values file yet (the first rotation stops)."""
    if not sealed:
        git(repo, "rm", "-q", SEALED)
        commit(repo, "no sealed file")
    kept = (repo / VALUES).read_text()
    (repo / VALUES).write_text("logLevel: debug\n \t\nreplicas: 2\n" + kept)
    commit(repo, "a tab on a blank line")
    code, data = run_review(repo)
    found = [(f["rule"], f["path"], f["message"]) for f in data["findings"] if f["path"] == VALUES]
    assert (code, found) == (
        1,
        [("derived-field", VALUES, "sealer's editor refuses it: not valid YAML at line 2")],
    )


def test_a_file_edited_around_its_allow_comment_passes(repo: Path) -> None:
    allow_comment_moved(repo)
    (repo / "app.py").write_text("import os\nx = 1  # sealer: allow\ny = 2\n")
    commit(repo)
    code, data = run_review(repo)
    assert code == 0, data["findings"]


def test_a_baseline_change_that_accepts_nothing_new_passes(repo: Path) -> None:
    """A baseline of any name judged by its content: one entry dropped, the rest reordered, and a
    JSON file that is no baseline, are no new accepted findings."""
    entries = [
        {"fingerprint": c * 64, "rule": "generic-secret-assignment", "path": f"{c}.env"} for c in "abc"
    ]
    git(repo, "checkout", "-q", "main")
    (repo / "ci").mkdir()
    (repo / "ci/scan-baseline").write_text(json.dumps({"version": 1, "findings": entries}))
    commit(repo, "baseline")
    git(repo, "checkout", "-q", "-B", "pr")
    (repo / "ci/scan-baseline").write_text(json.dumps({"version": 1, "findings": entries[2:0:-1]}))
    (repo / "ci/settings").write_text(json.dumps({"findings": "none", "version": 1}))
    commit(repo, "fewer accepted findings")
    code, data = run_review(repo)
    assert code == 0 and data["ok"] is True, data["findings"]


def test_a_history_cut_by_a_shallow_clone_is_refused(repo: Path, tmp_path: Path) -> None:
    """A CI checkout with a depth would hide the commits between (a key committed and deleted)
    and show its cut commit as adding every file: one line, exit 2, not a misleading report."""
    (repo / "leak.py").write_text(AWS_LINE.replace("  # sealer: allow", ""))
    commit(repo, "leak")
    git(repo, "rm", "-q", "leak.py")
    commit(repo, "unleak")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "pr", f"file://{repo}", str(clone))
    git(clone, "fetch", "-q", "--depth", "1", "origin", "main:main")
    result = cli(clone, "review", "main", "HEAD")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "shallow clone" in result.stderr, result.stderr
    git(clone, "fetch", "-q", "--unshallow", "origin", "main:main")
    assert {f["rule"] for f in run_review(clone)[1]["findings"]} == {"plaintext"}


def test_several_rotations_in_one_range_pass(repo: Path) -> None:
    for _ in range(3):
        assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    code, data = run_review(repo)
    assert code == 0, data["findings"]


# -- approvals ------------------------------------------------------------------------------------


def _codeowners_on_main(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    assert cli(repo, "ci", "init", "github", "--owner", "@acme/platform", *CI_PIN).exit_code == 0
    commit(repo, "ci")
    git(repo, "checkout", "-q", "-B", "pr")


def test_store_change_acknowledged_by_code_owners(repo: Path) -> None:
    _codeowners_on_main(repo)
    store_changed(repo)
    commit(repo)
    assert run_review(repo)[0] == 1
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert code == 0 and data["findings"] == []
    assert {f["rule"] for f in data["needs_owner_approval"]} == {"store-change"}
    text = cli(repo, "review", "main", "HEAD", "--approvals-from", "codeowners")
    assert text.exit_code == 0 and "NEEDS OWNER APPROVAL [store-change] staging sealer.yaml" in text.stdout
    markdown = cli(repo, "review", "main", "HEAD", "--approvals-from", "codeowners", "-o", "markdown")
    assert "**Needs code owner approval (1):**" in markdown.stdout


def test_an_owner_removed_on_the_target_since_the_branch_point_counts_no_more(repo: Path) -> None:
    """CI reviews from the merge-base; `--trust-at` the target's tip reads CODEOWNERS as the host
    will enforce it at the merge, not as it stood when the change branched off."""
    _codeowners_on_main(repo)
    branch_point = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    edit_text(repo, ".github/CODEOWNERS", lambda t: t.replace("/sealer.yaml ", "/sealer.yaml.old "))
    commit(repo, "sealer.yaml no longer owned")
    git(repo, "checkout", "-q", "pr")
    store_changed(repo)
    commit(repo)
    args = ("review", branch_point, "HEAD", "--approvals-from", "codeowners", "-o", "json")
    assert cli(repo, *args).exit_code == 0  # BASE's CODEOWNERS still owns sealer.yaml
    result = cli(repo, *args, "--trust-at", "main")
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [f["rule"] for f in findings] == ["store-change"]
    assert "no code owner for this path" in findings[0]["message"]


def _owned_on_main(repo: Path, *, then: Callable[[], None] = lambda: None) -> None:
    """main gains a CODEOWNERS owning everything (and whatever `then` does there); the pull
    request's branch starts again from it."""
    git(repo, "checkout", "-q", "main")
    (repo / ".gitlab").mkdir()
    (repo / ".gitlab/CODEOWNERS").write_text("* @acme/platform\n")
    then()
    commit(repo, "owners")
    git(repo, "checkout", "-q", "-B", "pr")


@pytest.mark.parametrize("extra", sorted(BESIDE_THE_CERT))
def test_an_approved_cert_change_holding_more_than_its_certificate_still_fails(
    repo: Path, extra: str
) -> None:
    """A code owner's approval covers `cert-change`, never a pinned file holding more than its
    certificate (`cert-file-content`): what the owner verified may not be what kubeseal reads."""
    _owned_on_main(repo)
    pem = (repo / "certs/staging.pem").read_text()
    (repo / "certs/staging.pem").write_text(pem.replace("\n", "\r\n") + "\n")  # whitespace only
    commit(repo, "respelt")
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert (code, [f["rule"] for f in data["needs_owner_approval"]]) == (0, ["cert-change"]), data
    _cert_appended(repo, extra)
    commit(repo, extra)
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert code == 1 and [(f["rule"], f["path"]) for f in data["findings"]] == [
        ("cert-file-content", "certs/staging.pem")
    ], data["findings"]
    message = data["findings"][0]["message"]
    assert "must hold one PEM certificate and nothing else" in message
    named = {"second-cert": "holds 2 certificates", "private-key": "a private key", "text": "text beside"}
    assert named[extra] in message, message
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert "private key, other text) is `cert-file-content`, which no approval lets through" in readme


UNPINNED = {  # a file no cluster pins under certs/ -> (its text from the pinned one, what it holds)
    "private-key": (lambda pem: _FAKE_KEY, "a private key and no certificate"),
    "cert-and-key": (lambda pem: pem + _FAKE_KEY, "a private key beside the certificate"),
    "two-certs": (lambda pem: pem + pem, "2 certificates"),
    "cert-and-text": (lambda pem: pem + "see https://example.invalid/\n", "text beside the certificate"),
    "text": (lambda pem: "notes\n", "no PEM certificate"),
    "one-cert": (lambda pem: pem, None),
}


@pytest.mark.parametrize("content", sorted(UNPINNED))
def test_an_approved_file_no_cluster_pins_under_certs_holds_one_certificate(repo: Path, content: str) -> None:
    """A file the range adds under certs/ that no cluster pins: kubeseal's `--cert`, a reviewer or a
    script may take it for a certificate, so it is held to what a pinned one is (`cert-file-content`,
    which no approval lets through), in the commit that adds it even if a later one removes it."""
    _owned_on_main(repo)
    make, holds = UNPINNED[content]
    (repo / "certs/prod").mkdir()
    (repo / "certs/prod/extra.pem").write_text(make((repo / "certs/staging.pem").read_text()))
    commit(repo, content)
    (repo / "certs/prod/extra.pem").unlink()
    commit(repo, "gone again")
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert [f["rule"] for f in data["needs_owner_approval"]] == ["cert-change"], data
    if holds is None:
        assert (code, data["findings"]) == (0, []), data["findings"]
        return
    assert code == 1 and [(f["rule"], f["path"]) for f in data["findings"]] == [
        ("cert-file-content", "certs/prod/extra.pem")
    ], data["findings"]
    message = data["findings"][0]["message"]
    want = f"certs/prod/extra.pem holds {holds}: a file under certs/ must hold one PEM certificate"
    assert want in message, message


HOLDS = {  # what each of BESIDE_THE_CERT's additions is called in a finding
    "second-cert": "2 certificates",
    "private-key": "a private key beside the certificate",
    "text": "text beside the certificate",
}


def _second_pin_outside_certs(repo: Path, rogue: Path) -> None:
    """staging's set gains a second certificate kept outside certs/ (not the one it seals with)."""

    def pin(doc: Any) -> None:
        cluster = doc["environments"]["staging"]["clusters"][0]
        sealing = {"cert": cluster.pop("cert"), "fingerprint": cluster.pop("fingerprint")}
        second = certs.fingerprint(certs.load_pinned(rogue / "tls.crt"))
        cluster["certs"] = [sealing, {"cert": "pins/next.pem", "fingerprint": second}]
        cluster["sealWith"] = sealing["fingerprint"]

    (repo / "pins").mkdir()
    (repo / "pins/next.pem").write_bytes((rogue / "tls.crt").read_bytes())
    edit_yaml(repo / "sealer.yaml", pin)


@pytest.mark.parametrize("extra", sorted(BESIDE_THE_CERT))
@pytest.mark.parametrize("path", ["certs/staging.pem", "pins/next.pem"])
def test_a_pinned_cert_file_holding_more_in_one_commit_fails_though_a_later_one_undoes_it(
    repo: Path, controllers: dict[str, Path], extra: str, path: str
) -> None:
    """Every version of a pinned certificate file the range's commits add is held to one PEM
    certificate, not HEAD's alone: a private key pushed in one commit and taken out in the next
    stays in Git's history (`cert-file-content`, which no approval lets through). The file may
    be any of the set's, wherever it is kept."""
    second = path == "pins/next.pem"
    _owned_on_main(
        repo, then=lambda: _second_pin_outside_certs(repo, controllers["rogue"]) if second else None
    )
    pem = (repo / path).read_text()
    (repo / path).write_text(pem + BESIDE_THE_CERT[extra](pem))
    adding = commit_all(repo, extra)
    (repo / path).write_text(pem)
    commit(repo, "undone")
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert [f["rule"] for f in data["needs_owner_approval"]] == ["cert-change"], data
    assert code == 1 and [(f["rule"], f["path"], f["message"]) for f in data["findings"]] == [
        (
            "cert-file-content",
            path,
            f"commit {adding[:12]}: {path} holds {HOLDS[extra]}: a pinned certificate file must hold "
            "one PEM certificate and nothing else",
        )
    ], data["findings"]


@pytest.mark.parametrize("folder", ["Certs", "CERTS", "\ufeffcerts"])
def test_the_certificates_folder_in_another_case_is_reviewed_as_certs(repo: Path, folder: str) -> None:
    """On a case-insensitive file system (macOS, a Windows checkout) `Certs/` is `certs/`: a file
    the range adds there is a certificate change held to one certificate, and a link there moves
    the whole folder (a file-mode finding, as a link at `certs` is)."""
    git(repo, "checkout", "-q", "main")
    (repo / ".gitlab").mkdir()
    (repo / ".gitlab/CODEOWNERS").write_text("* @acme/platform\n")
    commit(repo, "owners")
    git(repo, "checkout", "-q", "-B", "pr")
    (repo / folder).mkdir()
    (repo / folder / "extra.pem").write_text(_FAKE_KEY)
    commit(repo, "extra")
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert [f["rule"] for f in data["needs_owner_approval"]] == ["cert-change"], data
    assert code == 1 and [(f["rule"], f["path"]) for f in data["findings"]] == [
        ("cert-file-content", f"{folder}/extra.pem")
    ], data["findings"]
    (repo / folder / "extra.pem").unlink()
    (repo / folder).rmdir()
    (repo / folder).symlink_to("elsewhere")
    commit(repo, "a link")
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert code == 1 and ("file-mode", folder) in [(f["rule"], f["path"]) for f in data["findings"]], data


@pytest.mark.parametrize(
    "codeowners, covered",
    [
        ("[Platform]\n/sealer.yaml @acme/platform\n", True),
        ("[Platform] @acme/platform\n/sealer.yaml\n", True),  # the section's default owners
        ("^[Platform]\n/sealer.yaml @acme/platform\n", False),  # optional: GitLab requires no approval
        ("[Platform]\n/sealer.yaml @acme/platform\n^[Docs]\n/sealer.yaml @acme/docs\n", True),
        # GitLab 17.10's exclusions: a path one matches needs no approval in its section, whatever
        # the order (GitLab includes it in no rule of that section again)
        ("* @acme/platform\n!/sealer.yaml\n", False),
        ("!*.yaml\n/sealer.yaml @acme/platform\n", False),
        ("[Platform]\n/sealer.yaml @acme/platform\n[Docs]\n!/sealer.yaml\n", True),  # another section's
        ("[Platform]\n* @acme/platform\n!/sealer.yaml\n[Docs]\n/sealer.yaml @acme/docs\n", True),
        ("* @acme/platform\n!/certs/\n", True),
    ],
    ids=[
        "section",
        "section-default-owners",
        "optional-section",
        "required-and-optional",
        "excluded",
        "excluded-before",
        "excluded-in-another-section",
        "excluded-in-one-section",
        "excluded-elsewhere",
    ],
)
def test_gitlab_codeowners_sections(repo: Path, codeowners: str, covered: bool) -> None:
    assert owned_store_change(repo, ".gitlab/CODEOWNERS", codeowners) == covered


def owned_store_change(repo: Path, owners_file: str, codeowners: str) -> bool:
    """Whether a store change passes as "needs owner approval" (else it fails) with `codeowners`
    at `owners_file` on main."""
    git(repo, "checkout", "-q", "main")
    (repo / owners_file).parent.mkdir(exist_ok=True)
    (repo / owners_file).write_text(codeowners)
    commit(repo, "owners")
    git(repo, "checkout", "-q", "-B", "pr")
    store_changed(repo)
    commit(repo)
    code, data = run_review(repo, "--approvals-from", "codeowners")
    outcome = (code, [f["rule"] for f in data["needs_owner_approval"]])
    assert outcome in ((0, ["store-change"]), (1, [])), data["findings"]
    return outcome == (0, ["store-change"])


@pytest.mark.parametrize(
    "codeowners, covered",
    [
        ("sealer\\\\.yaml @acme/platform\n", True),  # the file's escape: `sealer\.yaml`
        ("certs/.* @acme/docs\nsealer.yaml @acme/platform\n", True),  # `.`: any character
        ("/sealer\\\\.yaml @acme/platform\n", False),  # the host's paths have no leading `/`
        ("certs/|sealer\\\\.yaml @acme/platform\n", True),  # `^certs/|sealer\.yaml$`, as Go reads it
        ("!deploy/.* @acme/platform\n", True),  # a negative rule owns what it does not match
        ("!sealer\\\\.yaml @acme/platform\n", False),
        ("(?=s)sealer\\\\.yaml @acme/platform\n", False),  # not Go's: never read as covering
        ("\\\\w+\\\\.yaml @acme/platform\n", False),  # \w differs (Unicode in Python): not read
        ("sealer\\\\.yaml$ @acme/platform\n", False),  # `$` differs: not read (fails closed)
        ("sealer\\\\.yaml\x1c.* @acme/platform\n", False),  # one line for the host, not two
        # Go refuses these (a rule it cannot compile owns nothing); Python's `re` would read them
        ("sealer\\\\.yaml\\\\\u00e9? @acme/platform\n", False),  # `\é`: Go escapes ASCII punctuation only
        ("sealer\\\\.yam.*+ @acme/platform\n", False),  # `*+`: possessive in Python 3.11, an error in Go
        ("sealer\\\\.yaml?+ @acme/platform\n", False),
        # Go's TrimSpace keeps \x1c-\x1f (Python's strip does not): part of the rule or the owner
        ("\x1fsealer\\\\.yaml @acme/platform\n", False),
        ("sealer\\\\.yaml @acme/platform\x1f\n", False),
        # owners the host cannot look up: the rule has none, so the host drops it
        ("sealer\\\\.yaml platform@acme.example\n", False),  # an e-mail is no user name
        ("sealer\\\\.yaml @acme/platform/extra\n", False),  # only @org/team may hold a `/`
        ("sealer\\\\.yaml platform@acme.example @acme/platform\n", True),  # one owner found is enough
        ("sealer\\\\.yaml acme/platform\n", True),  # the host takes a name without `@` too
    ],
)
@pytest.mark.parametrize("host", ["gitea", "forgejo"])
def test_gitea_codeowners_are_regular_expressions(
    repo: Path, monkeypatch: pytest.MonkeyPatch, host: str, codeowners: str, covered: bool
) -> None:
    """Under Gitea or Forgejo Actions the gate reads the host's CODEOWNERS (its lookup order,
    `.gitea/CODEOWNERS` included) with the host's meaning, never a rule the host might not."""
    monkeypatch.setenv("GITEA_ACTIONS", "true")
    if host == "forgejo":
        monkeypatch.setenv("FORGEJO_ACTIONS", "true")
    assert owned_store_change(repo, ".gitea/CODEOWNERS", codeowners) == covered


def test_under_gitea_an_empty_codeowners_first_in_the_lookup_owns_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host stops at the first of its CODEOWNERS files that exists, empty or not: an empty
    root CODEOWNERS leaves `.gitea/CODEOWNERS` unread, and nothing owned."""
    monkeypatch.setenv("SEALER_FORGE", "gitea")
    git(repo, "checkout", "-q", "main")
    (repo / "docs").mkdir(exist_ok=True)
    (repo / "docs/CODEOWNERS").write_text("")
    assert not owned_store_change(repo, ".gitea/CODEOWNERS", "sealer\\\\.yaml @acme/platform\n")


@pytest.mark.parametrize(
    ("env", "owners_file"),
    [
        ({"GITHUB_REPOSITORY": "acme/keys"}, ".github/CODEOWNERS"),
        ({"CI_API_V4_URL": "https://gitlab.test"}, "CODEOWNERS"),
    ],
    ids=["github", "gitlab"],
)
def test_a_folder_s_star_owns_its_files_not_those_nested_deeper(
    repo: Path, env: dict[str, str], owners_file: str
) -> None:
    """Both hosts document `docs/*` as matching `docs/getting-started.md` but not
    `docs/build-app/troubleshooting.md`: sealer must not count a nested file owned (the host
    would ask no one to approve it); `docs/` owns every level."""
    (repo / owners_file).parent.mkdir(exist_ok=True)
    (repo / owners_file).write_text("deploy/* @acme/platform\n/certs/ @acme/sec\n")
    commit(repo, "owners")
    owners = approvals.codeowners_at(repo, "HEAD", env)
    assert owners is not None
    assert owners.owners("deploy/staging.yaml") == ("@acme/platform",)
    assert owners.owners("deploy/apps/staging.yaml") == ()
    assert owners.owners("certs/staging/cert.pem") == ("@acme/sec",)


@pytest.mark.parametrize(
    ("codeowners", "owned"),
    [
        ("/sealer.yaml @acme/platform\n", True),
        ("/sealer.yaml platform@acme.example\n", True),
        ("/sealer.yaml acme-platform\n", False),  # no user, team or e-mail: GitHub skips the line
        ("/sealer.yaml @acme/platform !!\n", False),
        ("[Platform] @acme/platform\n/sealer.yaml\n", False),  # GitLab's section: no owner on GitHub
    ],
)
def test_github_reads_no_owner_the_host_cannot(repo: Path, codeowners: str, owned: bool) -> None:
    (repo / ".github").mkdir(exist_ok=True)
    (repo / ".github/CODEOWNERS").write_text(codeowners)
    commit(repo, "owners")
    owners = approvals.codeowners_at(repo, "HEAD", {"GITHUB_REPOSITORY": "acme/keys"})
    assert owners is not None and bool(owners.owners("sealer.yaml")) == owned


@pytest.mark.parametrize("shape", ["symlink", "too-large"])
def test_a_codeowners_the_host_does_not_load_owns_nothing(repo: Path, shape: str) -> None:
    """GitHub follows no symlinked CODEOWNERS (git holds the link's text, which reads as a rule)
    and loads none over 3 MB: sealer counts nothing owned by either."""
    rule = "* @acme/platform"
    (repo / ".github").mkdir(exist_ok=True)
    if shape == "symlink":
        (repo / ".github/CODEOWNERS").symlink_to(rule)
    else:
        padding = "# padding\n" * (approvals.GITHUB_CODEOWNERS_MAX // 10 + 1)
        (repo / ".github/CODEOWNERS").write_text(f"{rule}\n{padding}")
    commit(repo, "owners")
    owners = approvals.codeowners_at(repo, "HEAD", {"GITHUB_REPOSITORY": "acme/keys"})
    assert owners is not None and owners.owners("sealer.yaml") == ()


GITLAB_CI = {"CI_API_V4_URL": "https://gitlab.test/api/v4"}


@pytest.mark.parametrize(
    ("ci", "others", "owners_file", "covered"),
    [
        # GitLab reads the root, docs/, .gitlab/ (the first that exists), never .github/
        (GITLAB_CI, {".github/CODEOWNERS": "/sealer.yaml"}, ".gitlab/CODEOWNERS", False),
        (GITLAB_CI, {"CODEOWNERS": "/ledger/"}, ".gitlab/CODEOWNERS", False),
        (GITLAB_CI, {}, ".gitlab/CODEOWNERS", True),
        # GitHub reads .github/, the root, docs/ (the first that exists, empty or not), never .gitlab/
        ({"GITHUB_REPOSITORY": "acme/keys"}, {".github/CODEOWNERS": ""}, "CODEOWNERS", False),
        ({"GITHUB_REPOSITORY": "acme/keys"}, {}, ".gitlab/CODEOWNERS", False),
        ({"GITHUB_REPOSITORY": "acme/keys"}, {}, "docs/CODEOWNERS", True),
        ({}, {".github/CODEOWNERS": ""}, "CODEOWNERS", False),  # no CI known: the first that exists
    ],
    ids=[
        "gitlab-no-github",
        "gitlab-root-first",
        "gitlab",
        "github-empty-first",
        "github-no-gitlab",
        "github",
        "local",
    ],
)
def test_the_codeowners_read_is_the_one_the_host_reads(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    ci: dict[str, str],
    others: dict[str, str],
    owners_file: str,
    covered: bool,
) -> None:
    """Each host reads the first of its own CODEOWNERS files that exists, empty or not: sealer
    counts an owner only where that file names one. `owners_file` owns sealer.yaml; `others`
    (on main too) own another path (@acme/other), or nothing."""
    for name, value in ci.items():
        monkeypatch.setenv(name, value)
    git(repo, "checkout", "-q", "main")
    for rel, pattern in others.items():
        (repo / rel).parent.mkdir(exist_ok=True)
        (repo / rel).write_text(f"{pattern} @acme/other\n" if pattern else "")
    if "/sealer.yaml" in others.values():  # the one the host does not read owns it, this one not
        assert owned_store_change(repo, owners_file, "/README.md @acme/docs\n") == covered
    else:
        assert owned_store_change(repo, owners_file, "/sealer.yaml @acme/platform\n") == covered


def test_under_gitea_the_github_codeowners_is_not_read(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _codeowners_on_main(repo)
    store_changed(repo)
    commit(repo)
    assert run_review(repo, "--approvals-from", "codeowners")[0] == 0
    monkeypatch.setenv("SEALER_FORGE", "gitea")
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert code == 1 and data["needs_owner_approval"] == []


def test_a_gitea_workflow_or_codeowners_change_is_a_trust_anchor_change(repo: Path) -> None:
    for path in (
        ".gitea/workflows/x.yml",
        ".forgejo/workflows/x.yml",
        ".gitea/CODEOWNERS",
        ".forgejo/CODEOWNERS",
    ):
        git(repo, "checkout", "-q", "-B", "pr", "main")
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("x\n")
        commit(repo)
        code, data = run_review(repo)
        assert code == 1 and codes(data) == {"trust-anchor-change"}, path
        git(repo, "reset", "-q", "--hard", "main")


def _gitlab_ci_on_main(repo: Path, text: str, **files: str) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / ".gitlab-ci.yml").write_text(text)
    for rel, content in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content)
    commit(repo, "ci")
    git(repo, "checkout", "-q", "-B", "pr")


def _changed(repo: Path, path: str) -> tuple[int, dict[str, Any]]:
    git(repo, "checkout", "-q", "-B", "pr", "main")
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text("sealer-review:\n  image: attacker.example.test/python\n")
    commit(repo)
    return run_review(repo)


def test_a_file_base_gitlab_ci_includes_is_a_gate_file(repo: Path) -> None:
    """GitLab merges every file .gitlab-ci.yml includes into the merge request's pipeline, where a
    job sealer-review replaces the gate's image or script: each is a gate file wherever it lives,
    its includes' includes and what a wildcard matches (GitLab's grammar) too."""
    _gitlab_ci_on_main(
        repo,
        "include:\n  - local: /ci/build.yml\n  - 'jobs/*.yml'\n  - {local: 'deploy/**/*.yml'}\n"
        "  - project: acme/templates\n    file: /shared.yml\njob:\n  script: !reference [.a, script]\n",
        **{"ci/build.yml": "include: /ci/nested.yml\n"},
    )
    for path in ("ci/build.yml", "ci/nested.yml", "jobs/new.yml", "deploy/app.yml", "deploy/a/b.yml"):
        code, data = _changed(repo, path)
        assert code == 1 and codes(data) == {"trust-anchor-change"}, path
        assert data["findings"][0]["path"] == path
    for path in ("jobs/deep/x.yml", "shared.yml", "deploy.yml"):
        assert _changed(repo, path)[0] == 0, path


def test_a_component_of_this_project_at_the_merge_requests_commit_is_a_gate_file(repo: Path) -> None:
    """GitLab's way to test a component (`$CI_PROJECT_PATH/NAME@$CI_COMMIT_SHA`) merges the merge
    request's own templates/NAME.yml into its pipeline, as `project: $CI_PROJECT_PATH` at such a
    ref merges the files it names: each is a local include."""
    _gitlab_ci_on_main(
        repo,
        "include:\n  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/gate@$CI_COMMIT_SHA\n"
        "  - project: $CI_PROJECT_PATH\n    ref: $CI_COMMIT_SHA\n    file: /ci/jobs.yml\n",
    )
    for path in ("templates/gate.yml", "templates/gate/template.yml", "ci/jobs.yml"):
        code, data = _changed(repo, path)
        assert code == 1 and codes(data) == {"trust-anchor-change"}, path
    assert _changed(repo, "templates/other.yml")[0] == 0


def test_what_the_targets_tip_includes_is_a_gate_file_with_trust_at(repo: Path) -> None:
    """A merged-results pipeline merges the change into the target's tip, whose .gitlab-ci.yml
    may include more than it did where the change branched off (BASE): with --trust-at, both."""
    _gitlab_ci_on_main(repo, "build:\n  script: [make]\n")
    branch_point = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    (repo / ".gitlab-ci.yml").write_text("include: 'ci/*.yml'\nbuild:\n  script: [make]\n")
    commit(repo, "ci: include ci/")
    git(repo, "checkout", "-q", "pr")
    (repo / "ci").mkdir()
    (repo / "ci/jobs.yml").write_text("sealer-review:\n  image: attacker.example.test/python\n")
    commit(repo)
    args = ("review", branch_point, "HEAD", "-o", "json")
    assert cli(repo, *args).exit_code == 0  # BASE includes nothing
    result = cli(repo, *args, "--trust-at", "main")
    assert result.exit_code == 1, result.output
    assert [(f["rule"], f["path"]) for f in json.loads(result.stdout)["findings"]] == [
        ("trust-anchor-change", "ci/jobs.yml")
    ]


@pytest.mark.parametrize(
    ("text", "files", "why"),
    [
        ("include: /ci/$ENV.yml\n", {}, "names a variable"),
        ("include: /ci/a.yml\n", {"ci/b.yml": "x: 1\n"}, "is not a plain file (mode 120000)"),
        ("include: [/ci/a.yml\n", {}, "not valid YAML"),
    ],
)
def test_an_include_of_base_gitlab_ci_review_cannot_read_fails_closed(
    repo: Path, text: str, files: dict[str, str], why: str
) -> None:
    _gitlab_ci_on_main(repo, text, **files)
    if files:  # ci/a.yml a symlink: its own includes are never followed
        git(repo, "checkout", "-q", "main")
        (repo / "ci/a.yml").symlink_to("b.yml")
        commit(repo, "link")
    code, data = _changed(repo, "ci/other.yml")
    found = [f for f in data["findings"] if f["path"] == ".gitlab-ci.yml"]
    assert code == 1 and len(found) == 1 and found[0]["rule"] == "trust-anchor-change"
    assert "cannot tell every file its pipeline includes" in found[0]["message"]
    assert why in found[0]["message"]
    assert _changed(repo, "ci/other.YAML")[0] == 1  # GitLab reads the extension in any case
    assert _changed(repo, "docs/notes.txt")[0] == 0  # GitLab includes YAML files only


def test_codeowners_added_by_the_change_itself_grants_nothing(repo: Path) -> None:
    assert cli(repo, "ci", "init", "github", "--owner", "@mallory", *CI_PIN).exit_code == 0
    store_changed(repo)
    commit(repo)
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert code == 1 and {"store-change", "trust-anchor-change"} <= codes(data)
    assert all("no code owner" in f["message"] for f in data["findings"] if f["rule"] == "store-change")


def test_allow_comment_outside_codeowners_still_fails(repo: Path) -> None:
    _codeowners_on_main(repo)
    allow_comment_added(repo)
    commit(repo)
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert code == 1 and codes(data) == {"allow-comment"}


# -- signing: real ssh-keygen and gpg keys -----------------------------------------------------------


def ssh_key(folder: Path, name: str) -> tuple[Path, str]:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, (folder / f"{name}.pub").read_text().strip()


@pytest.fixture
def ssh_signing(repo: Path, tmp_path: Path) -> dict[str, Any]:
    """The repo signs with an SSH key (repo-local config); main lists it as a rotation signer
    and an approver; a second key is nobody's."""
    key, public = ssh_key(tmp_path, "pipeline")
    other, other_public = ssh_key(tmp_path, "mallory")
    git(repo, "checkout", "-q", "main")
    (repo / ".sealer").mkdir(exist_ok=True)
    for name in ("allowed_signers", "approvers"):
        (repo / ".sealer" / name).write_text(f"test@sealer.invalid {public}\n")
    commit(repo, "signers")
    git(repo, "checkout", "-q", "-B", "pr")
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("commit.gpgsign", "true")):
        git(repo, "config", name, value)
    return {"key": key, "public": public, "other": other, "other_public": other_public}


def verified(repo: Path, rev: str, signers: str) -> bool:
    allowed = repo.parent / "verify_signers"
    allowed.write_text(signers)
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", rev],
        capture_output=True,
    )
    return done.returncode == 0


def test_rotation_commit_is_signed_with_ssh(repo: Path, ssh_signing: dict[str, Any]) -> None:
    before = git(repo, "rev-parse", "HEAD").strip()
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    assert verified(repo, "HEAD", f"test@sealer.invalid {ssh_signing['public']}\n")
    assert not verified(repo, "HEAD", f"test@sealer.invalid {ssh_signing['other_public']}\n")
    assert git(repo, "rev-parse", "HEAD~1").strip() == before
    assert git(repo, "status", "--porcelain") == ""
    code, data = run_review(repo, "--require-signed")
    assert code == 0, data["findings"]


def test_require_signed_fails_an_unsigned_commit(repo: Path, ssh_signing: dict[str, Any]) -> None:
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    git(repo, "config", "commit.gpgsign", "false")
    assert cli(repo, "rotate", "production", "--no-branch").exit_code == 0
    code, data = run_review(repo, "--require-signed")
    assert code == 1 and codes(data) == {"unsigned-commit"}
    assert [f["message"][7:19] for f in data["findings"]] == [git(repo, "rev-parse", "HEAD").strip()[:12]]
    assert run_review(repo)[0] == 0  # without --require-signed the same range is clean


def test_a_signer_added_by_the_change_grants_nothing(repo: Path, ssh_signing: dict[str, Any]) -> None:
    git(repo, "config", "user.signingkey", str(ssh_signing["other"]))
    with (repo / ".sealer/allowed_signers").open("a") as handle:
        handle.write(f"mallory@sealer.invalid {ssh_signing['other_public']}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-S", "-m", "add me")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    code, data = run_review(repo, "--require-signed")
    assert code == 1 and "unsigned-commit" in codes(data) and "trust-anchor-change" in codes(data)
    assert len([f for f in data["findings"] if f["rule"] == "unsigned-commit"]) == 2


def test_require_signed_without_signers_at_base_fails(repo: Path) -> None:
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    code, data = run_review(repo, "--require-signed")
    assert code == 1 and codes(data) == {"unsigned-commit"}


def test_a_signing_failure_leaves_nothing_committed(repo: Path, ssh_signing: dict[str, Any]) -> None:
    before = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "config", "user.signingkey", str(repo.parent / "no-such-key"))
    result = cli(repo, "rotate", "staging", "--no-branch")
    assert result.exit_code == 2 and "sign" in result.stderr
    assert git(repo, "rev-parse", "HEAD").strip() == before
    assert git(repo, "for-each-ref", "refs/sealer/") == ""


def test_re_pin_approved_by_a_signed_tag(
    repo: Path, ssh_signing: dict[str, Any], controllers: dict[str, Path]
) -> None:
    assert cli(repo, "cert", "add", "staging", "--file", str(controllers["rogue"] / "tls.crt")).exit_code == 0
    commit(repo, "re-pin")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    code, data = run_review(repo, "--approvals-from", "signed-tags")
    assert code == 1 and {"pin-change", "cert-change"} <= codes(data)
    git(
        repo,
        "-c",
        f"user.signingkey={ssh_signing['other']}",
        "tag",
        "-s",
        "-m",
        "ok",
        "sealer-approval/mallory",
    )
    assert run_review(repo, "--approvals-from", "signed-tags")[0] == 1  # not an approver at BASE
    git(repo, "tag", "-s", "-m", "approved", "sealer-approval/pipeline")
    code, data = run_review(repo, "--approvals-from", "signed-tags")
    assert code == 0 and data["findings"] == [], data["findings"]
    assert {"pin-change", "cert-change"} <= {f["rule"] for f in data["approved"]}
    assert data["approvals"] == ["sealer-approval/pipeline by <test@sealer.invalid>"]
    (repo / "README.extra").write_text("x\n")
    commit(repo, "a later push")
    assert run_review(repo, "--approvals-from", "signed-tags")[0] == 1  # the tag approved the old HEAD


def _approval_object_missing(repo: Path) -> str:
    """A ref file under .git/refs/tags naming an object the repository does not hold."""
    ghost = "1234567890" * 4
    (repo / ".git/refs/tags/sealer-approval/ghost").write_text(ghost + "\n")
    return f"tag sealer-approval/ghost not examined: git did not return its object {ghost[:12]}"


def _approval_object_corrupt(repo: Path) -> str:
    """An approval tag whose loose object git cannot inflate."""
    git(repo, "tag", "-s", "-m", "approved", "sealer-approval/broken")
    oid = git(repo, "rev-parse", "sealer-approval/broken").strip()
    loose = repo / ".git/objects" / oid[:2] / oid[2:]
    loose.chmod(0o644)
    loose.write_bytes(b"not zlib")
    return f"tag sealer-approval/broken not examined: git did not return its object {oid[:12]}"


@pytest.mark.parametrize(
    "breaking", [_approval_object_missing, _approval_object_corrupt], ids=lambda f: f.__name__[10:]
)
def test_an_approval_tag_git_cannot_read_fails_as_not_examined(
    repo: Path, ssh_signing: dict[str, Any], controllers: dict[str, Path], breaking: Callable[[Path], str]
) -> None:
    """Listing the approval tags reads no object that git may fail on: a broken one grants
    nothing and fails the review as not examined, naming it; a good approval beside it still
    counts."""
    assert cli(repo, "cert", "add", "staging", "--file", str(controllers["rogue"] / "tls.crt")).exit_code == 0
    commit(repo, "re-pin")
    git(repo, "tag", "-s", "-m", "approved", "sealer-approval/pipeline")
    expected = breaking(repo)
    code, data = run_review(repo, "--approvals-from", "signed-tags")
    messages = [f["message"] for f in data["findings"]]
    assert code == 1 and messages == [f"{expected}, which may lead into the range"]
    assert {"pin-change", "cert-change"} <= {f["rule"] for f in data["approved"]}
    assert data["approvals"] == ["sealer-approval/pipeline by <test@sealer.invalid>"]


def test_a_replacement_object_lends_no_approval(
    repo: Path, ssh_signing: dict[str, Any], controllers: dict[str, Path]
) -> None:
    """Approval tags are listed from their objects as they are (`--no-replace-objects`); so is
    each verified: a `git replace` putting an approver's signed tag of an older commit in place
    of an unsigned one on HEAD approves nothing."""
    git(repo, "tag", "-s", "-m", "approved", "sealer-approval/old", "main")
    old = git(repo, "rev-parse", "sealer-approval/old").strip()
    git(repo, "tag", "-d", "sealer-approval/old")
    assert cli(repo, "cert", "add", "staging", "--file", str(controllers["rogue"] / "tls.crt")).exit_code == 0
    commit(repo, "re-pin")
    git(repo, "-c", "tag.gpgSign=false", "tag", "-a", "-m", "approved", "sealer-approval/pipeline")
    git(repo, "replace", git(repo, "rev-parse", "sealer-approval/pipeline").strip(), old)
    code, data = run_review(repo, "--approvals-from", "signed-tags")
    assert (code, data["approvals"]) == (1, []) and {"pin-change", "cert-change"} <= codes(data)


@pytest.mark.parametrize("spelling", ["plain", "base64"])
def test_a_key_in_an_approval_tag_fails_the_review_it_approves(
    repo: Path, ssh_signing: dict[str, Any], controllers: dict[str, Path], spelling: str
) -> None:
    """The approval tag review reads is a Git object as a commit is: a key in its message is a
    plaintext finding naming the tag, whether or not the approval counts."""
    assert cli(repo, "cert", "add", "staging", "--file", str(controllers["rogue"] / "tls.crt")).exit_code == 0
    commit(repo, "re-pin")
    leaked = apikey.generate("staging")
    shown = leaked if spelling == "plain" else base64.b64encode(f"API_KEY={leaked}".encode()).decode()
    git(repo, "tag", "-s", "-m", f"approved\n\n{shown}", "sealer-approval/pipeline")
    code, data = run_review(repo, "--approvals-from", "signed-tags")
    assert data["approvals"] == ["sealer-approval/pipeline by <test@sealer.invalid>"]
    assert {"pin-change", "cert-change"} <= {f["rule"] for f in data["approved"]}
    assert code == 1 and [f["message"] for f in data["findings"]] == [
        "tag sealer-approval/pipeline's message, line 3: plaintext API key "
        f"{apikey.key_id_of(leaked)}: revoke it"
    ]
    assert leaked.split("_")[2][:12] not in cli(repo, "review", "main", "HEAD", "-o", "text").stdout


@pytest.fixture
def gnupg(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A throwaway GNUPGHOME with one passphrase-less signing key; its fingerprint. The home is a
    short temp path (the agent's socket lives in it when there is no /run/user, as in CI's bare
    environment, and a socket path has a length limit); the agent gpg starts there is stopped
    afterwards, so none outlives the test."""
    with tempfile.TemporaryDirectory(prefix="gpg-", ignore_cleanup_errors=True) as tmp:
        home = Path(tmp)
        home.chmod(0o700)
        monkeypatch.setenv("GNUPGHOME", str(home))
        try:
            yield _signing_key()
        finally:
            subprocess.run(["gpgconf", "--kill", "all"], capture_output=True)


def _signing_key() -> str:
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Sealer Test <test@sealer.invalid>",
            "ed25519",
            "sign",
            "never",
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"], check=True, capture_output=True, text=True
    )
    return next(line.split(":")[9] for line in out.stdout.splitlines() if line.startswith("fpr:"))


def test_rotation_commit_is_signed_with_gpg(repo: Path, gnupg: str) -> None:
    armoured = subprocess.run(
        ["gpg", "--batch", "--armor", "--export", gnupg], check=True, capture_output=True, text=True
    ).stdout
    git(repo, "checkout", "-q", "main")
    (repo / ".sealer").mkdir(exist_ok=True)
    (repo / ".sealer/allowed_signers.asc").write_text(armoured)
    commit(repo, "signers")
    git(repo, "checkout", "-q", "-B", "pr")
    for name, value in (("gpg.format", "openpgp"), ("user.signingkey", gnupg), ("commit.gpgsign", "true")):
        git(repo, "config", name, value)
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    assert (
        subprocess.run(["git", "-C", str(repo), "verify-commit", "HEAD"], capture_output=True).returncode == 0
    )
    code, data = run_review(repo, "--require-signed")
    assert code == 0, data["findings"]
    git(repo, "config", "commit.gpgsign", "false")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    assert (
        subprocess.run(["git", "-C", str(repo), "verify-commit", "HEAD"], capture_output=True).returncode != 0
    )
    assert run_review(repo, "--require-signed")[0] == 1


# -- merges: what the other parent brought was judged on its own branch ---------------------------


def _main_lengthens_rotation(repo: Path) -> None:
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    git(repo, "checkout", "-q", "main")
    set_env_option(repo, "production", "keyLifetimeDays", 200)
    commit(repo, "longer lifetime, approved on main")
    git(repo, "checkout", "-q", "pr")


def test_merging_main_with_its_own_sensitive_change_is_clean(repo: Path) -> None:
    _main_lengthens_rotation(repo)
    git(repo, "merge", "-q", "--no-edit", "main")
    code, data = run_review(repo)
    assert code == 0, data["findings"]


def test_a_merge_that_adds_a_sensitive_change_of_its_own_fails(repo: Path) -> None:
    _main_lengthens_rotation(repo)
    git(repo, "merge", "-q", "--no-commit", "main")
    set_env_option(repo, "staging", "scope", "cluster-wide")
    commit(repo, "merge main")
    code, data = run_review(repo)
    assert code == 1 and "scope-change" in codes(data) and "period-change" not in codes(data)


def _on_main(repo: Path, change: Callable[[Any], None]) -> None:
    git(repo, "checkout", "-q", "main")
    with config.edit(repo) as doc:
        change(doc["environments"]["staging"])
    commit(repo, "main's setting")
    git(repo, "checkout", "-q", "-B", "pr")


def test_a_credential_source_change_is_a_store_change(repo: Path) -> None:
    """#17: the same store kind reached through another account or token variable is another store."""
    backend = {"kind": "dynamodb", "options": {"table": "keys", "region": "eu-west-1"}}
    _on_main(repo, lambda env: env.update(backend={**backend, "credentials": {"profile": "staging-keys"}}))
    set_env_option(repo, "staging", "backend", {**backend, "credentials": {"profile": "attacker-account"}})
    commit(repo)
    code, data = run_review(repo)
    found = [f for f in data["findings"] if f["rule"] == "store-change"]
    assert code == 1 and len(found) == 1, data["findings"]
    assert "credential source changed (profile)" in found[0]["message"]
    assert "attacker-account" not in found[0]["message"]


def test_two_clusters_swapped_contexts_and_reseal_lengthened_fail(repo: Path) -> None:
    _on_main(repo, lambda env: env.update(clusterContexts={"staging": "ctx-staging"}, resealAfterDays=7))
    with config.edit(repo) as doc:
        doc["environments"]["staging"]["clusterContexts"] = {"staging": "ctx-elsewhere"}
        del doc["environments"]["staging"]["resealAfterDays"]
    commit(repo)
    code, data = run_review(repo)
    assert code == 1 and {"cluster-context-change", "period-change"} <= codes(data), data["findings"]
    messages = " ".join(f["message"] for f in data["findings"])
    assert "ctx-elsewhere" not in messages and "resealAfterDays lengthened from 7 to never" in messages


def test_an_approved_longer_lifetime_with_a_rotation_passes(repo: Path) -> None:
    """The new key may live as long as HEAD says once the longer lifetime itself is approved."""
    _codeowners_on_main(repo)
    lifetime_lengthened(repo)
    commit(repo, "longer")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    code, data = run_review(repo, "--approvals-from", "codeowners")
    assert code == 0, data["findings"]
    assert {f["rule"] for f in data["needs_owner_approval"]} == {"period-change"}


@pytest.mark.parametrize("space", ["\u2028", "\u0085", "\x0c", "\xa0", "\u3000"], ids=repr)
def test_a_codeowners_with_a_break_or_space_a_host_may_not_split_at_owns_nothing(
    repo: Path, space: str
) -> None:
    """Python splits lines at U+2028 and fields at a no-break space; a host's reader may not: a
    rule `a<U+2028>/sealer.yaml @team` would own sealer.yaml in sealer's eyes alone. Such a file
    grants no owner anything (an approval then cannot pass a finding)."""
    (repo / ".github").mkdir(exist_ok=True)
    (repo / ".github/CODEOWNERS").write_text(f"/docs/{space}/sealer.yaml @acme/platform\n")
    commit(repo, "owners")
    owners = approvals.codeowners_at(repo, "HEAD", {"GITHUB_REPOSITORY": "acme/keys"})
    assert owners is not None and owners.owners("sealer.yaml") == ()
    (repo / ".github/CODEOWNERS").write_text("/docs/ @acme/docs\r\n/sealer.yaml\t@acme/platform\n")
    commit(repo, "owners, CRLF and a tab: read as ever")
    owners = approvals.codeowners_at(repo, "HEAD", {"GITHUB_REPOSITORY": "acme/keys"})
    assert owners is not None and owners.owners("sealer.yaml") == ("@acme/platform",)
