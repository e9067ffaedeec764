"""`sealer review`: a clean rotation passes (exit 0); every kind of tampering is flagged
(exit 1); bad revisions are bad input (exit 2). No private key is involved anywhere."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import key_spellings, token_vectors
from support.cli import sealer as cli
from support.git import commit_all, git
from support.isolation import isolated
from support.repos import (
    active,
    copy_repo,
    keypairs,
    ledger_records,
    load_yaml,
    pinned_repo,
    set_env_option,
)

from sealer import apikey, certs, hybrid, ledger, provenance, yamlio
from sealer.records import KeyRecord, ciphertext_digest, iso
from sealer.review.checks import plaintext_keys, value_problem
from sealer.scope import NAMESPACE_WIDE, Scope
from sealer.sealing import CertSealer

SEALED = "sealed/staging/staging.yaml"
VALUES = "deploy/staging/values.yaml"


@pytest.fixture(scope="module")
def controllers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return keypairs(tmp_path_factory, "staging", "production", "rogue")


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory, controllers: dict[str, Path]) -> Path:
    """main: staging and production pinned and rotated once; HEAD: a branch rotating staging."""
    with isolated(tmp_path_factory.mktemp("home")):
        root = pinned_repo(tmp_path_factory, controllers)
        for args in (
            ("staging", "--no-branch"),
            ("production", "--no-branch"),
            ("staging", "--branch", "next"),
        ):
            assert cli(root, "rotate", *args).exit_code == 0
        git(root, "checkout", "-q", "next")  # rotate leaves the user on main
    return root


@pytest.fixture
def repo(rotated: Path, tmp_path: Path) -> Path:
    return copy_repo(rotated, tmp_path / "repo")


def run_review(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(repo, "review", *args, "--output", "json")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout) if result.exit_code in (0, 1) else {}


def codes(data: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in data["findings"]}


# -- a clean rotation ------------------------------------------------------------------------


def test_a_clean_rotation_passes_and_is_explained(repo: Path) -> None:
    records = ledger_records(repo, "staging")
    old, new = records[0], active(records)
    pinned = load_yaml(repo / "sealer.yaml")["environments"]["staging"]["clusters"][0]["fingerprint"]
    code, data = run_review(repo)
    assert code == 0 and data["ok"] is True and data["findings"] == []
    assert (
        data["base"] == git(repo, "rev-parse", "main").strip()
        and data["head"] == git(repo, "rev-parse", "HEAD").strip()
    )
    [change] = data["changes"]
    assert change == {
        "env": "staging",
        "cluster": "staging",
        "secret": "engine-api-key",
        "namespace": "staging",
        "scope": "strict",
        "entry": "apiKey",
        "action": "rotated",
        "old_key_id": old.key_id,
        "new_key_id": new.key_id,
        "new_fingerprint": new.fingerprint,  # the full SHA-256, as `keys list -o json` gives it
        "sealed_with": pinned,
        "pinned": True,
        "old_key_created": change["old_key_created"],
        "old_key_age_days": 0,
        "old_key_status": "revoked",
        "old_key_grace_seconds": None,
        "grace_counted_from": None,
        "old_key_revoke_at": iso(old.revoke_at),
        "new_key_expires": change["new_key_expires"],
        "files": [SEALED, VALUES],
    }
    assert change["new_key_expires"].startswith(str(new.expires.year))
    # a line shows the key id's 12 hex digits, as `keys list` does
    text = cli(repo, "review").stdout
    assert f", sha256 {new.fingerprint[:12]};" in text and new.fingerprint not in text


def test_plain_review_on_the_main_branch_says_it_reviewed_nothing(repo: Path) -> None:
    """A tired operator who forgot to check the branch out: an empty range is no approval."""
    git(repo, "checkout", "-q", "main")
    result = cli(repo, "review")
    assert result.exit_code == 1, result.output
    assert "BASE and HEAD are the same commit, so nothing was reviewed: check out the branch" in result.stdout
    assert "no sealed data changed" not in result.stdout
    assert "nothing was reviewed" not in cli(repo, "review", "main", "next").stdout


@pytest.mark.parametrize(
    ("base", "head", "why"),
    [("next", "main", "HEAD is an ancestor of BASE"), ("main", "main", "BASE and HEAD are the same commit")],
)
def test_a_range_holding_no_commit_is_no_approval(repo: Path, base: str, head: str, why: str) -> None:
    """`sealer review main OLD` (swapped, or OLD merged long ago) holds no commit: each output
    says so in one line and fails, as no reviewer may read an empty range as clean."""
    result = cli(repo, "review", base, head)
    assert result.exit_code == 1, result.output
    [line] = [line for line in result.stdout.splitlines() if "nothing was reviewed" in line]
    assert line.strip().startswith(why)
    code, data = run_review(repo, base, head)
    assert code == 1 and data["ok"] is False and data["nothing_reviewed"] == line.strip()
    assert (data["changes"], data["findings"]) == ([], [])
    markdown = cli(repo, "review", base, head, "--output", "markdown")
    assert markdown.exit_code == 1 and f"**Nothing reviewed:** {why}" in markdown.stdout
    assert "No findings" not in markdown.stdout
    assert run_review(repo, "main", "next")[1]["nothing_reviewed"] is None


def test_sealers_own_revocation_of_an_active_key_passes_review(repo: Path) -> None:
    """`keys revoke` of the key the values file lists renders that file from the new ledger, as
    `sealer render` does: review holds sealer's own commit to what sealer writes."""
    git(repo, "checkout", "-q", "main")
    key_id = active(ledger_records(repo, "staging")).key_id
    assert cli(repo, "keys", "revoke", "staging", key_id, "--branch", "revoke-it").exit_code == 0
    code, data = run_review(repo, "main", "revoke-it")
    assert (code, data["findings"]) == (0, []), data["findings"]
    git(repo, "checkout", "-q", "revoke-it")
    assert cli(repo, "render", "staging").exit_code == 0
    assert git(repo, "status", "--porcelain") == ""  # the commit holds what render writes


def test_text_and_markdown_output(repo: Path) -> None:
    new = active(ledger_records(repo, "staging")).key_id
    text = cli(repo, "review")
    assert (
        text.exit_code == 0
        and new in text.stdout
        and "pinned" in text.stdout
        and "0 finding(s)" in text.stdout
    )
    markdown = cli(repo, "review", "main", "HEAD", "--output", "markdown")
    assert markdown.exit_code == 0
    assert "| Environment | Cluster |" in markdown.stdout and f"`{new}`" in markdown.stdout
    assert "**No findings.**" in markdown.stdout


def test_grace_and_several_environments(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    assert (
        cli(
            repo, "rotate", "staging", "production", "--grace", "2d", "--branch", "both", "--replace"
        ).exit_code
        == 0
    )
    git(repo, "checkout", "-q", "both")
    code, data = run_review(repo)
    assert code == 0
    assert {(c["env"], c["old_key_status"]) for c in data["changes"]} == {
        ("staging", "grace"),
        ("production", "grace"),
    }
    # The Git ledger's grace runs from the rotation to the old key's revoke_at, as reviewed.
    for change in data["changes"]:
        old = next(r for r in ledger_records(repo, change["env"]) if r.key_id == change["old_key_id"])
        assert (change["old_key_grace_seconds"], change["grace_counted_from"]) == (2 * 86400, "rotation")
        assert change["old_key_revoke_at"] == iso(old.revoke_at)
    text = cli(repo, "review").stdout
    assert (
        text.count(f"old key's grace 2d from the rotation, until {data['changes'][0]['old_key_revoke_at']}")
        >= 1
    )
    markdown = cli(repo, "review", "--output", "markdown").stdout
    assert "| Old key's grace |" in markdown and "2d from the rotation, until" in markdown


def test_only_the_rotated_entry_is_listed(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    set_env_option(repo, "staging", "keys", ["apiKey", "adminKey"])
    commit_all(repo, "two keys")
    assert cli(repo, "rotate", "staging", "--no-branch", "--replace").exit_code == 0
    assert (
        cli(repo, "rotate", "staging", "--key", "adminKey", "--branch", "admin", "--replace").exit_code == 0
    )
    git(repo, "checkout", "-q", "admin")
    code, data = run_review(repo)
    assert code == 0 and [(c["entry"], c["action"]) for c in data["changes"]] == [("adminKey", "rotated")]


def test_nothing_changed(repo: Path) -> None:
    (repo / "NOTES.md").write_text("release notes\n")
    commit_all(repo, "notes")  # a commit, changing no sealed data (HEAD HEAD reviews nothing)
    code, data = run_review(repo, "HEAD~1", "HEAD")
    assert code == 0 and data["changes"] == [] and data["findings"] == []
    assert data["nothing_reviewed"] is None
    assert "no sealed data changed" in cli(repo, "review", "HEAD~1", "HEAD").stdout


def test_default_base_falls_back_to_master(repo: Path) -> None:
    git(repo, "branch", "-m", "main", "master")
    assert run_review(repo)[1]["base"] == git(repo, "rev-parse", "master").strip()
    git(repo, "branch", "-m", "master", "trunk")
    result = cli(repo, "review")
    assert result.exit_code == 2 and "give BASE" in result.stderr


@pytest.mark.parametrize("args", [("nope",), ("main", "nope"), ("HEAD~99",)])
def test_unknown_revision_is_bad_input(repo: Path, args: tuple[str, ...]) -> None:
    result = cli(repo, "review", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("sealer: unknown revision") and len(result.stderr.splitlines()) == 1


def test_a_sealer_yaml_refused_at_base_is_named_there(repo: Path) -> None:
    """A BASE whose sealer.yaml a newer sealer refuses (a typo an older one ignored), under the
    pull request that fixes it: the line names BASE and its commit, not the checkout's file."""
    config = repo / "sealer.yaml"
    good = config.read_text()
    config.write_text(good.replace("rotationDays:", "rotationDay:", 1))
    git(repo, "commit", "-qam", "a typo an older sealer ignored")
    base = git(repo, "rev-parse", "HEAD").strip()
    config.write_text(good)
    git(repo, "commit", "-qam", "the typo fixed")
    result = cli(repo, "review", base, "HEAD")
    assert result.exit_code == 2 and result.stdout == "", result.output
    line = f"sealer: invalid config at BASE ({base[:12]}): sealer.yaml: "
    assert result.stderr.startswith(line), result.stderr
    assert "rotationDay: unknown setting" in result.stderr and result.stderr.count("\n") == 1


# -- tampering -------------------------------------------------------------------------------


def _edit_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = yamlio.round_trip_load(path.read_text(), str(path))
    change(doc)
    path.write_text(yamlio.round_trip_dump(doc))


def _set_entry(repo: Path, value: str, sealed_with: str | None = None) -> None:
    """Put `value` as staging's apiKey in the sealed file and the values file, by hand."""

    def sealed(doc: dict[str, Any]) -> None:
        doc["spec"]["encryptedData"]["apiKey"] = value
        if sealed_with:
            provenance.record(doc["metadata"]["annotations"], ["apiKey"], ["apiKey"], sealed_with)

    _edit_yaml(repo / SEALED, sealed)
    _edit_yaml(repo / VALUES, lambda doc: doc["sealer"]["encryptedData"].__setitem__("apiKey", value))


def _seal(cert_dir: Path, plaintext: str) -> tuple[str, str]:
    """(ciphertext for staging's Secret, certificate fingerprint)."""
    sealer = CertSealer.from_certificate(certs.load_certificate(cert_dir / "tls.crt"), "cert")
    return sealer.seal_values(Scope.STRICT, "staging", "engine-api-key", [plaintext.encode()])[
        0
    ], sealer.fingerprint


def hand_edited_ciphertext(repo: Path, controllers: dict[str, Path]) -> None:
    _set_entry(repo, _seal(controllers["staging"], apikey.generate("staging"))[0])


def sealed_with_another_cert(repo: Path, controllers: dict[str, Path]) -> None:
    _set_entry(repo, *_seal(controllers["rogue"], apikey.generate("staging")))


def sealed_with_another_key_size(repo: Path, controllers: dict[str, Path]) -> None:
    """The annotation still claims the pinned certificate; the ciphertext's size says otherwise."""
    _set_entry(repo, _seal(controllers["big"], apikey.generate("staging"))[0])


def same_key_in_two_envs(repo: Path, controllers: dict[str, Path]) -> None:
    record = active(ledger_records(repo, "staging"))
    ledger.save(repo, "production", [*ledger_records(repo, "production"), record])


def plaintext_in_sealed_data(repo: Path, controllers: dict[str, Path]) -> None:
    _set_entry(repo, base64.b64encode(apikey.generate("staging").encode()).decode())


def plaintext_not_base64(repo: Path, controllers: dict[str, Path]) -> None:
    _set_entry(repo, "hunter2-not-sealed")


def plaintext_key_in_values_file(repo: Path, controllers: dict[str, Path]) -> None:
    with (repo / VALUES).open("a") as handle:
        handle.write(f"debugApiKey: {apikey.generate('staging')}\n")


def scope_changed_in_config(repo: Path, controllers: dict[str, Path]) -> None:
    set_env_option(repo, "staging", "scope", "namespace-wide")


def scope_changed_in_sealed_secret(repo: Path, controllers: dict[str, Path]) -> None:
    _edit_yaml(repo / SEALED, lambda doc: doc["metadata"]["annotations"].__setitem__(NAMESPACE_WIDE, "true"))


def namespace_changed_in_config(repo: Path, controllers: dict[str, Path]) -> None:
    set_env_option(repo, "staging", "namespace", "elsewhere")


def namespace_changed_in_sealed_secret(repo: Path, controllers: dict[str, Path]) -> None:
    _edit_yaml(repo / SEALED, lambda doc: doc["metadata"].__setitem__("namespace", "elsewhere"))


def values_disagree_with_sealed_file(repo: Path, controllers: dict[str, Path]) -> None:
    old = git(repo, "show", f"main:{VALUES}")
    (repo / VALUES).write_text(old.replace("# Helm values", "# Helm values (reverted)"))


def pin_replaced(repo: Path, controllers: dict[str, Path]) -> None:
    assert cli(repo, "cert", "add", "staging", "--file", str(controllers["rogue"] / "tls.crt")).exit_code == 0


REGISTRY = "registry/staging/staging.yaml"


def _edit_registry(repo: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the registry document inside staging's ConfigMap, by hand."""

    def edit(doc: dict[str, Any]) -> None:
        payload = json.loads(doc["data"]["registry.json"])
        change(payload)
        doc["data"]["registry.json"] = json.dumps(payload)

    _edit_yaml(repo / REGISTRY, edit)


def registry_lists_another_key(repo: Path, controllers: dict[str, Path]) -> None:
    """The attack the registry exists to stop: a key of the attacker's, valid in the cluster."""
    fingerprint = apikey.fingerprint(apikey.generate("staging"))
    entry = {"name": "apiKey", "key_id": apikey.key_id(fingerprint), "sha256": fingerprint}
    _edit_registry(repo, lambda doc: doc["keys"].append({**entry, "expires": None, "revoke_at": None}))


def registry_rolled_back(repo: Path, controllers: dict[str, Path]) -> None:
    """The registry of main (before the rotation, the old key valid) brought back."""
    (repo / REGISTRY).write_text(git(repo, "show", f"main:{REGISTRY}"))


def registry_moved_to_another_namespace(repo: Path, controllers: dict[str, Path]) -> None:
    _edit_yaml(repo / REGISTRY, lambda doc: doc["metadata"].__setitem__("namespace", "payments"))


def registry_for_a_namespace_no_environment_owns(repo: Path, controllers: dict[str, Path]) -> None:
    stray = repo / "registry" / "payments" / "payments.yaml"
    stray.parent.mkdir(parents=True)
    stray.write_text((repo / REGISTRY).read_text().replace("namespace: staging", "namespace: payments"))


def registry_sent_to_another_namespace_in_config(repo: Path, controllers: dict[str, Path]) -> None:
    """sealer.yaml and the registry file changed together: consistent, and still a finding."""
    set_env_option(
        repo, "staging", "backend", {"kind": "k8s-secrets", "options": {"registry_namespace": "payments"}}
    )
    assert cli(repo, "render", "staging").exit_code == 0


def ledger_and_registry_reverted(repo: Path, controllers: dict[str, Path]) -> None:
    """A revoked key made valid again, ledger and registry edited consistently."""
    records = ledger_records(repo, "staging")
    revoked = next(r for r in records if r.status == "revoked")
    ledger.save(
        repo,
        "staging",
        [r.with_status("grace", r.created + dt.timedelta(days=3650)) if r == revoked else r for r in records],
    )
    assert cli(repo, "render", "staging").exit_code == 0


# From the attacker review: changes to what the cluster gets that touch no ciphertext.
def template_data_added(repo: Path, controllers: dict[str, Path]) -> None:
    """The controller renders spec.template.data over the decrypted entries: here the Secret's
    apiKey becomes a value the author chose, and no ciphertext changes."""
    template = '{{ printf "%s" "a-key-the-author-knows" }}'
    _edit_yaml(repo / SEALED, lambda doc: doc["spec"]["template"].__setitem__("data", {"apiKey": template}))


def template_annotation_added(repo: Path, controllers: dict[str, Path]) -> None:
    """An annotation on the Secret the controller makes: a replicator copies it elsewhere."""

    def edit(doc: dict[str, Any]) -> None:
        meta = doc["spec"]["template"]["metadata"]
        meta.setdefault("annotations", {})["replicator.v1.mittwald.de/replicate-to"] = "attacker"

    _edit_yaml(repo / SEALED, edit)


def test_a_kubeconfig_from_the_repository_stops_the_review(repo: Path) -> None:
    """A kubeconfig the author wrote: its `exec` plugin would run on the machine that runs sealer
    (the CI runner, with its credentials) as soon as `status` or a rotation reads it. sealer.yaml
    may not name one (tests/test_config.py), so the review of such a change stops: exit 2."""
    (repo / "kubeconfig.yaml").write_text("apiVersion: v1\nkind: Config\nusers: []\n")
    text = (repo / "sealer.yaml").read_text()
    doc = yamlio.load_documents(text, "sealer.yaml")[0]
    doc["environments"]["staging"]["backend"] = {
        "kind": "k8s-secrets",
        "options": {"kubeconfig": "kubeconfig.yaml"},
    }
    (repo / "sealer.yaml").write_text(yamlio.dump(doc))
    commit_all(repo, "kubeconfig from the repo")
    result = cli(repo, "review", "--output", "json")
    assert result.exit_code == 2
    assert "kubeconfig: must be an absolute path outside the repository" in result.stderr


def test_a_second_document_in_sealer_yaml_stops_the_review(repo: Path) -> None:
    """sealer.yaml's first document alone was read: one appended after a `---` (settings any
    other reader of the file may take) changed nothing the review saw, which passed it."""
    with (repo / "sealer.yaml").open("a") as handle:
        handle.write("---\nversion: 1\nenvironments: {}\n")
    commit_all(repo, "a second document")
    result = cli(repo, "review", "--output", "json")
    assert result.exit_code == 2
    assert "sealer.yaml: holds several YAML documents; expected one" in result.stderr


def test_a_base_a_newer_sealer_refuses_stops_every_review_the_fix_too(repo: Path) -> None:
    """README, Upgrading sealer: BASE is read with the newer rules, so a main holding what they
    refuse stops each pull request's review, the one fixing it too (an administrator merges
    that one); `sealer check` on main says the same, first."""
    clean = (repo / "sealer.yaml").read_text()
    with (repo / "sealer.yaml").open("a") as handle:
        handle.write("---\nversion: 1\nenvironments: {}\n")
    commit_all(repo, "what an older sealer let through")
    checked = cli(repo, "check")
    assert checked.exit_code == 2 and "holds several YAML documents" in checked.stderr
    git(repo, "checkout", "-q", "-b", "fix")
    (repo / "sealer.yaml").write_text(clean)
    commit_all(repo, "the fix")
    result = cli(repo, "review", "next", "HEAD", "--output", "json")
    assert result.exit_code == 2
    assert "sealer.yaml: holds several YAML documents; expected one" in result.stderr
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert "so until main is fixed every pull request exits 2, the one fixing it too" in readme


def key_store_endpoint_moved(repo: Path, controllers: dict[str, Path]) -> None:
    """The key store's requests (signed with the runner's cloud credentials) go to the author's host."""
    options = {"table": "sealer-keys", "endpoint_url": "https://keys.attacker.invalid"}
    set_env_option(repo, "staging", "backend", {"kind": "dynamodb", "options": options})


TAMPERING = [
    (hand_edited_ciphertext, {"hand-edit"}),
    (sealed_with_another_cert, {"unpinned-cert", "hand-edit", "derived-field"}),
    (sealed_with_another_key_size, {"unpinned-cert", "hand-edit"}),
    (
        same_key_in_two_envs,
        {
            "duplicate-key",
            "ledger-only",
            "values-mismatch",
            "derived-field",
            "ledger-status",
            "registry-mismatch",
        },
    ),
    (plaintext_in_sealed_data, {"plaintext", "hand-edit"}),
    (plaintext_not_base64, {"plaintext", "hand-edit"}),
    (plaintext_key_in_values_file, {"plaintext"}),
    (scope_changed_in_config, {"scope-change", "values-mismatch", "derived-field", "manifest-mismatch"}),
    (scope_changed_in_sealed_secret, {"scope-change", "manifest-mismatch"}),
    (
        namespace_changed_in_config,
        {
            "namespace-change",
            "values-mismatch",
            "derived-field",
            "manifest-mismatch",
            "registry-mismatch",
            "registry-target-change",
        },
    ),
    (namespace_changed_in_sealed_secret, {"namespace-change", "manifest-mismatch"}),
    (
        values_disagree_with_sealed_file,
        {"values-mismatch", "hand-edit", "derived-field"},
    ),  # an old ciphertext put back
    (
        pin_replaced,
        {"cert-added", "pin-change", "unpinned-cert", "cert-change"},
    ),  # the rotated entry used the old pin
    (registry_lists_another_key, {"registry-mismatch"}),
    (registry_rolled_back, {"registry-mismatch"}),
    (registry_moved_to_another_namespace, {"registry-mismatch"}),
    (registry_for_a_namespace_no_environment_owns, {"registry-mismatch"}),
    (registry_sent_to_another_namespace_in_config, {"registry-target-change", "store-change"}),
    (template_data_added, {"manifest-mismatch"}),  # not what sealer writes
    (template_annotation_added, {"manifest-mismatch"}),
    (key_store_endpoint_moved, {"store-change", "registry-mismatch"}),  # no registry any more
]


@pytest.mark.parametrize(("tamper", "expected"), TAMPERING, ids=[t.__name__ for t, _ in TAMPERING])
def test_tampering_is_flagged(
    repo: Path,
    controllers: dict[str, Path],
    keypair_3072_dir: Path,
    tamper: Callable[[Path, dict[str, Path]], None],
    expected: set[str],
) -> None:
    tamper(repo, {**controllers, "big": keypair_3072_dir})
    commit_all(repo, tamper.__name__)
    code, data = run_review(repo)
    assert code == 1 and data["ok"] is False
    assert codes(data) == expected, data["findings"]
    for finding in data["findings"]:  # no finding repeats a plaintext key
        assert not plaintext_keys(finding["message"])
    markdown = cli(repo, "review", "--output", "markdown")
    assert markdown.exit_code == 1 and all(f"**{c}**" in markdown.stdout for c in expected)
    assert cli(repo, "review", "main", "HEAD~1").exit_code == 0  # the rotation alone was clean


def test_a_revoked_key_brought_back_in_ledger_and_registry_is_a_rollback(repo: Path) -> None:
    """Consistent edits (the registry is what the ledger gives) still lower the serial."""
    ledger_and_registry_reverted(repo, {})
    commit_all(repo, "revert")
    code, data = run_review(repo, "HEAD~1")  # BASE: the clean rotation, which revoked the key
    # #19's ledger rules see the same rollback in the ledger itself: a revoked key never returns.
    assert code == 1 and codes(data) == {"registry-rollback", "ledger-status"}, data["findings"]


def test_hand_edit_on_top_of_the_base_alone(repo: Path, controllers: dict[str, Path]) -> None:
    """Review of just the tampering commit (BASE = the clean rotation) flags it too."""
    hand_edited_ciphertext(repo, controllers)
    commit_all(repo, "edit")
    code, data = run_review(repo, "HEAD~1")
    assert code == 1 and codes(data) == {"hand-edit"}
    assert [(c["entry"], c["action"], c["new_key_id"]) for c in data["changes"]] == [
        ("apiKey", "changed", None)
    ]


def _stray_copy(repo: Path, name: str | bytes) -> set[str]:
    """A copy of staging's sealed file for another Secret under `name` beside it, committed; the
    review of that commit alone: its findings' rules and paths."""
    folder = repo / "sealed" / "staging"
    text = (folder / "staging.yaml").read_text().replace("engine-api-key", "other-secret")
    target = os.path.join(os.fsencode(folder), name) if isinstance(name, bytes) else folder / name
    Path(os.fsdecode(target)).write_text(text)
    commit_all(repo, "a copy")
    code, data = run_review(repo, "HEAD~1")
    assert code == 1
    return {f"{f['rule']} {f['path']}" for f in data["findings"]}


@pytest.mark.parametrize("name", ["\u00e9.yaml", 'x".yaml', "x\\y.yaml", "x\ty.yaml"])
def test_a_file_git_quotes_the_name_of_is_reviewed_like_any_other(repo: Path, name: str) -> None:
    """`git diff --name-only` C-quotes such a name on its line: no check saw the file."""
    plain = {
        f.replace("plain.yaml", name) for f in _stray_copy(copy_repo(repo, repo.parent / "a"), "plain.yaml")
    }
    assert "name-change sealed/staging/plain.yaml".replace("plain.yaml", name) in plain
    assert _stray_copy(repo, name) == plain


@pytest.mark.parametrize(("name", "shown"), [(b"\xff.yaml", "\\xff.yaml"), ("x\ny.yaml", "x\ny.yaml")])
def test_a_file_whose_name_sealer_cannot_read_is_malformed(repo: Path, name: str | bytes, shown: str) -> None:
    """Not UTF-8, or a line break (git's batch reads one name a line): never passed over."""
    assert f"malformed sealed/staging/{shown}" in _stray_copy(repo, name)


def test_a_registry_file_whose_name_is_not_utf8_is_malformed(repo: Path) -> None:
    """What HEAD holds under registry/ and sealed/ is listed for what is left over there: a name
    that is not UTF-8 stopped review with a traceback."""
    Path(os.fsdecode(os.path.join(os.fsencode(repo / "registry" / "staging"), b"\xff.yaml"))).write_text(
        "x: 1\n"
    )
    commit_all(repo, "a registry file")
    code, data = run_review(repo, "HEAD~1")
    assert code == 1 and ("malformed", "registry/staging/\\xff.yaml") in {
        (f["rule"], f["path"]) for f in data["findings"]
    }


def test_a_plaintext_key_removed_again_is_still_flagged(repo: Path) -> None:
    """A key committed and deleted in a later commit of the branch stays in its history."""
    leaked = apikey.generate("staging")
    (repo / "debug.env").write_text(f"API_KEY={leaked}\n")
    commit_all(repo, "debug")
    (repo / "debug.env").unlink()
    commit_all(repo, "remove debug")
    code, data = run_review(repo)
    assert code == 1 and codes(data) == {"plaintext"}
    [finding] = data["findings"]
    assert finding["path"] == "debug.env" and apikey.key_id_of(leaked) in finding["message"]
    assert leaked not in json.dumps(data) and leaked not in cli(repo, "review", "-o", "markdown").stdout


@pytest.mark.parametrize("env", ["staging", "prod-eu"])
@pytest.mark.parametrize("slash", ["\\", "\\\\"], ids=["markdown", "json"])
def test_a_plaintext_key_with_escaped_underscores_is_flagged(repo: Path, slash: str, env: str) -> None:
    """Markdown writes `slr\\_staging\\_…`, Telegram's MarkdownV2 `slr\\_prod\\-eu\\_…` (JSON
    doubles the backslash): the key all the same."""
    leaked = apikey.generate(env)
    written = leaked.replace("_", slash + "_").replace("-", slash + "-")
    (repo / "notes.md").write_text(f"# Debug\n\nkey: {written}\n")
    commit_all(repo, "notes")
    code, data = run_review(repo)
    assert code == 1 and codes(data) == {"plaintext"}
    assert [f["path"] for f in data["findings"]] == ["notes.md"]
    assert apikey.key_id_of(leaked) in data["findings"][0]["message"]
    assert leaked.split("_")[2] not in json.dumps(data)


@pytest.mark.parametrize("slash", ["", "\\"], ids=["plain", "markdown"])
@pytest.mark.parametrize("side", [False, True], ids=["on-the-branch", "on-a-merged-side"])
def test_a_key_in_a_commit_message_is_flagged_by_commit_and_never_shown(
    repo: Path, slash: str, side: bool
) -> None:
    """A key in a commit message is in Git's objects as a key in a file is: flagged as one,
    naming the commit, on every side of a merge, redacted in every output."""
    leaked = apikey.generate("staging")
    written = leaked.replace("_", slash + "_")
    if side:
        git(repo, "checkout", "-q", "-b", "side", "main")
    (repo / "notes.txt").write_text("nothing secret\n")
    leaking = commit_all(repo, f"debug\n\nrotated by hand: {written}\n")
    if side:
        git(repo, "checkout", "-q", "next")
        git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    code, data = run_review(repo)
    assert code == 1 and codes(data) == {"plaintext"}, data["findings"]
    [finding] = data["findings"]
    assert f"commit {leaking[:12]}'s message, line 3" in finding["message"]
    assert apikey.key_id_of(leaked) in finding["message"]
    for fmt in ("json", "text", "markdown"):
        assert leaked.split("_")[2][:12] not in cli(repo, "review", "-o", fmt).stdout
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert "So is a sealer key in a commit's message or header" in readme


def test_a_key_cut_between_the_chunks_of_a_huge_commit_is_found() -> None:
    """A commit object too big to hold streams in pieces: a key across two is found all the same."""
    from sealer.review import plaintext

    leaked = apikey.generate("staging")
    data = b"tree x\n\n" + b"a" * 100 + leaked.encode() + b"\n"
    blocks = iter([data[:120], data[120:]])  # the key starts at 108
    assert plaintext._keys_of_object(blocks) == [("message or header", apikey.key_id_of(leaked))]


def test_a_commit_git_does_not_return_is_not_passed(repo: Path) -> None:
    from sealer.review import plaintext
    from sealer.review.model import SCAN_CHUNK

    [finding] = plaintext.message_findings(repo, ["f" * 40], SCAN_CHUNK)
    assert finding.rule == "plaintext" and "not examined" in finding.message


@pytest.mark.parametrize("label", ["commit ffffffffffff", "tag v1"])
def test_an_object_git_does_not_return_is_not_passed(repo: Path, label: str) -> None:
    from sealer.review import plaintext
    from sealer.review.model import SCAN_CHUNK

    [finding] = plaintext.object_findings(repo, {"f" * 40: label}, SCAN_CHUNK)
    assert finding.rule == "plaintext"
    assert finding.message == f"{label}'s message not examined: git did not return its object"


def test_a_key_in_a_commits_author_name_is_flagged(repo: Path) -> None:
    """The header is in the commit object too: an author name holding a key is flagged."""
    leaked = apikey.generate("staging")
    (repo / "notes.txt").write_text("nothing secret\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--author", f"ci {leaked} <ci@example.invalid>", "-m", "notes")
    code, data = run_review(repo)
    assert code == 1 and [f["message"] for f in data["findings"]] == [
        f"commit {git(repo, 'rev-parse', 'HEAD').strip()[:12]}'s header: plaintext API key "
        f"{apikey.key_id_of(leaked)}: revoke it"
    ]


def _base64(text: str, urlsafe: bool = False, wrap: int = 0) -> str:
    """`text` in base64 as `base64` (wrapped at `wrap`) or a URL-safe encoder writes it."""
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(text.encode()).decode()
    return "\n".join(encoded[i : i + wrap] for i in range(0, len(encoded), wrap)) if wrap else encoded


# How a message may spell a key, each as the file guard reads it in a file (policies/detectors.yaml)
MESSAGE_SPELLINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda key: key,
    **{name: functools.partial(key_spellings.spelt, spelling=name) for name in key_spellings.SPELLINGS},
    "base64": lambda key: _base64(key),
    "base64-after-a-name": lambda key: _base64(f"API_KEY={key}"),
    "base64-one-byte-in": lambda key: _base64(f"K={key}"),
    "base64-urlsafe": lambda key: _base64(f"{key}\xff\xfe", urlsafe=True),
    "base64-wrapped": lambda key: _base64(f"API_KEY={key}\n", wrap=76),
    "base64-of-markdown": lambda key: _base64(key_spellings.spelt(key, "markdown")),
    "base64-of-url": lambda key: _base64(f"?k={key_spellings.spelt(key, 'url')}"),
}


@pytest.mark.parametrize("spell", MESSAGE_SPELLINGS.values(), ids=list(MESSAGE_SPELLINGS))
def test_a_key_in_a_message_is_found_in_every_spelling_the_file_guard_reads(
    spell: Callable[[str], str],
) -> None:
    from sealer.review import plaintext

    leaked = apikey.generate("prod-eu")
    data = f"debug\n\nrotated by hand: {spell(leaked)}\nthanks\n".encode()
    assert plaintext.message_keys(data) == [(3, apikey.key_id_of(leaked))]


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPLE",  # an AWS key id: a file's detector, not a message's
        "password = 'Xk29dLq81ZpW0vbN3qT7'",
        "token: " + token_vectors.render("ghp_{b62:30}{crc}", random.Random(1)),  # checksum verified
        "the slr_ prefix and slr_staging_ in prose",
    ],
    ids=["aws", "password", "github", "prose"],
)
def test_a_message_is_searched_for_sealer_keys_alone(text: str) -> None:
    """The generic detectors would be noisy on prose: a message is searched for sealer keys only."""
    from sealer.review import plaintext

    lookalike = apikey.generate("staging")[:-1] + "0"
    lookalike = lookalike if not apikey.checksum_ok(lookalike) else lookalike[:-1] + "1"
    data = f"{text}\n{_base64(lookalike)}\n".encode()
    assert plaintext.message_keys(data) == []


def test_a_base64_key_in_a_commit_message_is_flagged(repo: Path) -> None:
    leaked = apikey.generate("staging")
    (repo / "notes.txt").write_text("nothing secret\n")
    leaking = commit_all(repo, f"debug\n\nenv: {_base64(f'API_KEY={leaked}')}\n")
    code, data = run_review(repo)
    assert code == 1 and [f["message"] for f in data["findings"]] == [
        f"commit {leaking[:12]}'s message, line 3: plaintext API key {apikey.key_id_of(leaked)}: revoke it"
    ]


def _on_head(repo: Path, text: str) -> str:
    git(repo, "tag", "-a", "t", "-m", f"release\n\n{text}")
    return "tag t's message, line 3"


def _on_a_commit_of_the_range(repo: Path, text: str) -> str:
    git(repo, "tag", "-a", "t", "-m", f"release\n\n{text}", "HEAD~1")
    return "tag t's message, line 3"


def _through_a_chain(repo: Path, text: str) -> str:
    git(repo, "tag", "-a", "inner", "-m", f"release\n\n{text}")
    inner = git(repo, "rev-parse", "inner").strip()
    git(repo, "-c", "advice.nestedTag=false", "tag", "-a", "outer", "-m", "nothing secret", "inner")
    git(repo, "tag", "-d", "inner")  # only the outer tag leads to it
    return f"tag outer's inner tag {inner[:12]}'s message, line 3"


def _in_its_name(repo: Path, key: str) -> str:
    git(repo, "tag", "-a", key, "-m", "release")  # a tag object holds its name: `tag slr_…`
    return "tag slr_staging_[redacted]'s header"


def _in_an_approval_tag(repo: Path, text: str) -> str:
    git(repo, "tag", "-a", "sealer-approval/me", "-m", f"approved\n\n{text}")
    return "tag sealer-approval/me's message, line 3"


def _its_target_in_capitals(repo: Path, text: str) -> str:
    """Git reads a tag's `object` line in either case (`git fsck` too): the tag is on HEAD."""
    head = git(repo, "rev-parse", "HEAD").strip().upper()
    data = f"object {head}\ntype commit\ntag t\ntagger a <a@b.invalid> 1 +0000\n\nrelease\n\n{text}\n"
    tag = git(repo, "hash-object", "-t", "tag", "-w", "--stdin", data=data.encode()).strip()
    git(repo, "update-ref", "refs/tags/t", tag)
    assert git(repo, "rev-parse", "t^{commit}") == git(repo, "rev-parse", "HEAD")
    return "tag t's message, line 3"


TAGGINGS = [
    *(
        pytest.param(tagging, spelling, id=f"{tagging.__name__.strip('_')}-{spelling}")
        for tagging in (_on_head, _on_a_commit_of_the_range, _through_a_chain, _in_an_approval_tag)
        for spelling in ("plain", "markdown", "base64-wrapped")
    ),
    pytest.param(_in_its_name, "plain", id="in_its_name"),
    pytest.param(_its_target_in_capitals, "plain", id="its_target_in_capitals"),
]


@pytest.mark.parametrize(("tagging", "spelling"), TAGGINGS)
def test_a_key_in_a_tag_on_the_range_is_flagged_by_tag_and_never_shown(
    repo: Path, tagging: Callable[[Path, str], str], spelling: str
) -> None:
    """An annotated tag is a Git object as a commit is: a key in one that points (itself or
    through other tags) at a commit of the range or at HEAD is flagged, naming the tag."""
    leaked = apikey.generate("staging")
    (repo / "notes.txt").write_text("nothing secret\n")
    commit_all(repo, "notes")  # HEAD~1: the branch's rotation, in the range
    where = tagging(repo, MESSAGE_SPELLINGS[spelling](leaked))
    code, data = run_review(repo)
    assert code == 1 and [f["message"] for f in data["findings"]] == [
        f"{where}: plaintext API key {apikey.key_id_of(leaked)}: revoke it"
    ]
    for fmt in ("json", "text", "markdown"):
        assert leaked.split("_")[2][:12] not in cli(repo, "review", "-o", fmt).stdout


@pytest.mark.parametrize("where", ["main", "main~1"])
def test_a_tag_outside_the_range_is_not_the_changes(repo: Path, where: str) -> None:
    """A tag on BASE or before it came with no commit of the range; nor does a lightweight tag
    make an object at all."""
    leaked = apikey.generate("staging")
    git(repo, "tag", "-a", "old", "-m", f"release {leaked}", where)
    git(repo, "tag", f"light-{leaked}")
    code, data = run_review(repo)
    assert code == 0 and data["findings"] == [], data["findings"]


def _object_lost(repo: Path) -> str:
    git(repo, "tag", "-a", "inner", "-m", "release")
    inner = git(repo, "rev-parse", "inner").strip()
    (repo / ".git" / "objects" / inner[:2] / inner[2:]).unlink()
    return f"tag inner not examined: git did not return its object {inner[:12]}"


def _inner_tag_lost(repo: Path) -> str:
    git(repo, "tag", "-a", "inner", "-m", "release")
    inner = git(repo, "rev-parse", "inner").strip()
    git(repo, "-c", "advice.nestedTag=false", "tag", "-a", "outer", "-m", "release", "inner")
    git(repo, "tag", "-d", "inner")
    (repo / ".git" / "objects" / inner[:2] / inner[2:]).unlink()
    return f"tag outer not examined: git did not return tag object {inner[:12]} it points through"


def _too_deep(repo: Path) -> str:
    """TAG_DEPTH is 2 here: the third tag down is not followed."""
    git(repo, "tag", "-a", "t0", "-m", "release")
    for k in (1, 2):
        git(repo, "-c", "advice.nestedTag=false", "tag", "-a", f"t{k}", "-m", "release", f"t{k - 1}")
    deepest = git(repo, "rev-parse", "t0").strip()
    git(repo, "tag", "-d", "t0", "t1")
    return f"tag t2 not examined: tag object {deepest[:12]} it points through is more than 2 tags deep"


@pytest.mark.parametrize("losing", [_object_lost, _inner_tag_lost, _too_deep], ids=lambda f: f.__name__[1:])
def test_a_tag_review_cannot_follow_is_not_examined(
    repo: Path, losing: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a tag leads that git cannot hand back, or that lies past the depth followed, cannot
    be told: not examined, and the review fails."""
    from sealer.review import plaintext

    monkeypatch.setattr(plaintext, "TAG_DEPTH", 2)
    expected = losing(repo)
    code, data = run_review(repo)
    assert code == 1 and [f["message"] for f in data["findings"]] == [
        f"{expected}, which may lead into the range"
    ]


def test_deleting_a_file_named_after_a_key_committed_before_base_is_noted_not_failed(repo: Path) -> None:
    """The name leaked when it was added, before BASE: deleting it leaks nothing, so the review
    passes, and names the key to revoke."""
    leaked = apikey.generate("staging")
    git(repo, "checkout", "-q", "main")
    (repo / f"{leaked}.txt").write_text("x\n")
    commit_all(repo, "leak on main")
    git(repo, "checkout", "-q", "next")
    git(repo, "rebase", "-q", "main")
    (repo / f"{leaked}.txt").unlink()
    deleting = commit_all(repo, "remove it")
    code, data = run_review(repo)
    key_id = apikey.key_id_of(leaked)
    assert code == 0 and data["findings"] == [], data["findings"]
    assert [n for n in data["notes"] if key_id in n] == [
        f"commit {deleting[:12]} deletes slr_staging_[redacted].txt, whose name holds plaintext API key "
        f"{key_id}, committed before BASE: it stays in that history: revoke it"
    ]
    assert leaked.split("_")[2][:12] not in cli(repo, "review", "-o", "text").stdout
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert "A file a commit deletes whose name holds a key is a note, not a finding" in readme


def test_a_file_named_after_a_key_added_and_deleted_in_the_range_is_flagged(repo: Path) -> None:
    leaked = apikey.generate("staging")
    (repo / f"{leaked}.txt").write_text("x\n")
    commit_all(repo, "leak")
    (repo / f"{leaked}.txt").unlink()
    commit_all(repo, "remove it")
    code, data = run_review(repo)
    assert code == 1 and [(f["rule"], f["path"]) for f in data["findings"]] == [
        ("plaintext", "slr_staging_[redacted].txt")
    ]
    assert not [n for n in data["notes"] if "deletes" in n]


def test_a_plaintext_key_spelt_as_a_url_a_string_literal_or_html_is_flagged(repo: Path) -> None:
    """`%5F`, `\\u005f`, `\\x5f`, `&#95;`, `&#x5f;`, `&lowbar;` (`%2D`, `&#45;` in the environment):
    the key all the same, in a file and in its name; a lookalike spelt so is not."""
    leaked = {name: apikey.generate("prod-eu") for name in key_spellings.SPELLINGS}
    for name, key in leaked.items():
        (repo / f"{name}.md").write_text(
            f"# Debug\n\nsee https://x.test/?k={key_spellings.spelt(key, name)}\n"
        )
    named = apikey.generate("staging")
    (repo / f"n{key_spellings.spelt(named, 'html-decimal')}.txt").write_text("notes\n")
    bad = named[:-1] + ("A" if named[-1] != "A" else "B")  # its checksum fails
    (repo / "lookalike.md").write_text(f"see {key_spellings.spelt(bad, 'url')}\n")
    commit_all(repo, "notes")
    code, data = run_review(repo)
    assert code == 1 and codes(data) == {"plaintext"}
    by_path = {f["path"]: f["message"] for f in data["findings"]}
    assert set(by_path) == {f"{name}.md" for name in leaked} | {"nslr_staging_[redacted].txt"}
    for name, key in leaked.items():
        assert "line 3" in by_path[f"{name}.md"] and apikey.key_id_of(key) in by_path[f"{name}.md"]
    assert apikey.key_id_of(named) in by_path["nslr_staging_[redacted].txt"]
    shown = json.dumps(data) + cli(repo, "review", "-o", "markdown").stdout + cli(repo, "review").stdout
    assert all(key.split("_")[2][:12] not in shown for key in [*leaked.values(), named])


@pytest.mark.parametrize("spelling", ["hex-escaped", "html-decimal"])
def test_a_key_escaped_in_a_name_is_redacted_in_every_output(repo: Path, spelling: str) -> None:
    """JSON and Markdown double a name's backslashes (`\\x73\\x6c…`), Markdown writes `&#95;` as
    `&amp;\\#95;`: still the key, hidden."""
    leaked = apikey.generate("staging")
    escaped = key_spellings.spelt(leaked, spelling)
    (repo / f"n{escaped}\nx.txt").write_text("notes\n")  # a line break: a finding shows the name
    commit_all(repo, "notes")
    shown = "".join(cli(repo, "review", "-o", fmt).stdout for fmt in ("json", "markdown", "text"))
    assert "slr_staging_[redacted]" in shown
    assert escaped[-24:] not in shown.replace("\\\\", "\\"), shown


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_plaintext_key_in_a_wide_text_file_is_flagged(repo: Path, encoding: str) -> None:
    """PowerShell's `>` writes UTF-16 with a BOM: `sealer scan` decodes it, so review does."""
    leaked = apikey.generate("staging")
    (repo / "debug.env").write_bytes(f"API_KEY={leaked}\r\n".encode(encoding))
    commit_all(repo, "debug")
    code, data = run_review(repo)
    assert code == 1 and codes(data) == {"plaintext"}, data["findings"]
    assert [f["path"] for f in data["findings"]] == ["debug.env"]
    assert apikey.key_id_of(leaked) in data["findings"][0]["message"]


def test_merging_main_into_the_branch_is_clean(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    assert cli(repo, "rotate", "production", "--no-branch").exit_code == 0
    git(repo, "checkout", "-q", "-")
    git(repo, "merge", "-q", "--no-edit", "main")
    code, data = run_review(repo, "main~1")
    assert code == 0, data["findings"]
    assert {c["env"] for c in data["changes"]} == {"staging", "production"}


def test_a_merge_that_brings_a_value_of_its_own_is_flagged(repo: Path, controllers: dict[str, Path]) -> None:
    git(repo, "checkout", "-q", "main")
    assert cli(repo, "rotate", "production", "--no-branch").exit_code == 0
    git(repo, "checkout", "-q", "-")
    git(repo, "merge", "-q", "--no-commit", "main")
    hand_edited_ciphertext(repo, controllers)
    commit_all(repo, "merge main")
    code, data = run_review(repo, "main~1")
    assert code == 1 and codes(data) == {"hand-edit"}
    assert {f["path"] for f in data["findings"]} == {SEALED, VALUES}


# -- the checks as tables ----------------------------------------------------------------------


def _blob(wrapped_len: int, total: int) -> str:
    return base64.b64encode(wrapped_len.to_bytes(2, "big") + bytes(total - 2)).decode()


def _respelt(value: str) -> str:
    """The same bytes in other base64: the last character's unused bits set (a 4096-bit
    certificate's ciphertext leaves four of them)."""
    pad = len(value) - len(value.rstrip("="))
    assert pad, "no unused bits to set"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = value[-pad - 1]
    return value[: -pad - 1] + alphabet[alphabet.index(last) + 1] + value[-pad:]


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        (_blob(256, 2 + 256 + 16 + 40), 256, None),
        (_blob(256, 2 + 256 + 16 + 40), None, None),
        (_blob(512, 2 + 512 + 16 + 40), 256, "unpinned-cert"),
        (_blob(256, 2 + 100), 256, "plaintext"),  # truncated
        (_blob(100, 2 + 100 + 16), 256, "plaintext"),  # no RSA key has that size
        (base64.b64encode(b"hello").decode(), 256, "plaintext"),
        ("not base64 at all!", 256, "plaintext"),
        (base64.b64encode(apikey.generate("dev").encode()).decode(), 256, "plaintext"),
        ("", 256, "plaintext"),
        # a 4096-bit certificate's ciphertext of a 50-character key: 580 bytes, 4 unused bits
        (_blob(512, 2 + 512 + 16 + 50), 512, None),
        (_respelt(_blob(512, 2 + 512 + 16 + 50)), 512, "hand-edit"),  # the same bytes, respelt
    ],
)
def test_value_problem(value: str, size: int | None, expected: str | None) -> None:
    problem = value_problem(value, size)
    assert (problem[0] if problem else None) == expected
    assert hybrid.looks_sealed(base64.b64decode(_blob(256, 2 + 256 + 16)))


@pytest.mark.parametrize("env", ["dev", "prod-eu"])
@pytest.mark.parametrize("slash", ["", "\\", "\\\\"], ids=["plain", "markdown", "json"])
def test_a_sealed_slot_holding_a_base64_key_says_plaintext_key_escaped_or_not(env: str, slash: str) -> None:
    """A key Markdown escaped (`slr\\_dev\\_…`, `slr\\_prod\\-eu\\_…`) got the generic `not
    well-formed ciphertext`: the reviewer is told a key leaked, which is to be revoked."""
    key = apikey.generate(env)
    value = base64.b64encode(f"key: {key.replace('_', slash + '_').replace('-', slash + '-')}".encode())
    assert value_problem(value.decode(), 256) == (
        "plaintext",
        "holds a base64-encoded plaintext API key, not ciphertext",
    )


def _mistyped(key: str) -> str:
    return key[:-1] + ("0" if key[-1] != "0" else "1")


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (f"a: 1\nkey: {apikey.generate('dev')}\n", [2]),
        (f"# {_mistyped(apikey.generate('dev'))}\n", []),  # checksum does not match: not a key
        ("slr_dev_short\n", []),
        (f"x: '{apikey.generate('production')}'\ny: {apikey.generate('dev')}\n", [1, 2]),
        (f"a: 1\nb: ab{apikey.generate('dev')}cd\n", [2]),  # run into letters: its checksum tells it
        (f"c: slr_x_{apikey.generate('dev')}\n", [1]),  # a lookalike's start before it takes nothing
        (f"d: {apikey.generate('dev').replace('_', chr(92) + '_')}\n", [1]),  # as Markdown writes it
    ],
)
def test_plaintext_keys_are_found_by_line(text: str, lines: list[int]) -> None:
    assert sorted({number for number, _ in plaintext_keys(text)}) == lines


# -- ledger edits that change which keys the registry lists, with no rotation to show for it ----


def _attacker_fingerprint() -> str:
    return apikey.fingerprint(apikey.generate("staging"))


def _save_and_render(repo: Path, records: list[Any]) -> None:
    ledger.save(repo, "staging", records)
    assert cli(repo, "render", "staging").exit_code == 0


def _save_refused(repo: Path, records: list[Any]) -> None:
    """A record whose key id is not its fingerprint's: every command refuses the ledger (no
    registry can be rendered from it), and review must still fail the change."""
    ledger.save(repo, "staging", records)
    result = cli(repo, "render", "staging")
    assert result.exit_code == 2 and "key id is not its fingerprint's" in result.stderr


def ledger_key_swapped(repo: Path) -> None:
    """The active key's record keeps its id, but its fingerprint is now the attacker's key."""
    records = ledger_records(repo, "staging")
    now = active(records)
    fp = _attacker_fingerprint()
    _save_refused(repo, [r if r != now else dataclasses.replace(r, fingerprint=fp) for r in records])


def ledger_grace_record_added(repo: Path) -> None:
    """A record for the attacker's key, in grace for years: listed as valid, no ciphertext needed."""
    records = ledger_records(repo, "staging")
    fp = _attacker_fingerprint()
    until = active(records).created + dt.timedelta(days=3650)
    forged = dataclasses.replace(
        active(records), key_id=apikey.key_id(fp), fingerprint=fp, status="grace", revoke_at=until
    )
    _save_and_render(repo, [*records, forged])


def ledger_revoked_key_back_with_padding(repo: Path) -> None:
    """A revoked key made active again, and a made-up revoked record so the serial still grows."""
    records = ledger_records(repo, "staging")
    revoked = next(r for r in records if r.status == "revoked")
    fp = _attacker_fingerprint()
    padding = dataclasses.replace(revoked, key_id=apikey.key_id(fp), fingerprint=fp)
    back = [
        dataclasses.replace(r, status="grace", revoke_at=r.created + dt.timedelta(days=3650))
        if r == revoked
        else r
        for r in records
    ]
    _save_and_render(repo, [*back, padding])


def ledger_revoked_key_back_under_a_new_id(repo: Path) -> None:
    """The revoked key's record deleted, and the key back as a second active key of an entry
    that a (clean) rotation in the same pull request rotates: the serial still grows."""
    revoked = next(r for r in ledger_records(repo, "staging") if r.status == "revoked")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    records = [r for r in ledger_records(repo, "staging") if r != revoked]
    back = dataclasses.replace(revoked, key_id=apikey.key_id(_attacker_fingerprint()), status="active")
    _save_refused(repo, [*records, back])


def ledger_second_active_key(repo: Path) -> None:
    """A clean rotation of the entry, and a second active record beside its new key: the
    review explains the one it shows, the registry lists both."""
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    records = ledger_records(repo, "staging")
    fp = _attacker_fingerprint()
    extra = dataclasses.replace(active(records), key_id=apikey.key_id(fp), fingerprint=fp)
    _save_and_render(repo, [*records[:-1], extra, records[-1]])


LEDGER_FORGERIES = [
    ledger_second_active_key,
    ledger_key_swapped,
    ledger_grace_record_added,
    ledger_revoked_key_back_with_padding,
    ledger_revoked_key_back_under_a_new_id,
]


@pytest.mark.parametrize("forge", LEDGER_FORGERIES, ids=[f.__name__ for f in LEDGER_FORGERIES])
def test_a_ledger_edit_that_changes_the_listed_keys_is_a_finding(
    repo: Path, forge: Callable[[Path], None]
) -> None:
    """The registry is re-rendered to match, and its serial does not go down: only the ledger
    itself tells that a key the cluster accepts changed without a rotation."""
    base = git(repo, "rev-parse", "HEAD").strip()
    forge(repo)
    commit_all(repo, forge.__name__)
    code, data = run_review(repo, base)
    ledger_rules = {c for c in codes(data) if c.startswith("ledger-")}  # the state machine's findings
    assert code == 1 and ledger_rules, data


# -- bounds: what review holds, all files together ----------------------------------------------


def _many_ledgers(repo: Path, count: int, size: int) -> int:
    """`count` environments' ledgers of `size` bytes each (each far below the per-file bound),
    added by a pull request; their total."""
    for i in range(count):
        (repo / "ledger" / f"team-{i:04d}.yaml").write_text(
            f"# {i:07d}\n" * (size // 10)
        )  # each its own blob
    return count * (size // 10) * 10


def test_thousands_of_ledgers_at_head_are_refused_not_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review reads every ledger at HEAD (one key in two environments): a pull request adding
    thousands, each below the per-file bound, is refused in one line, none of them read."""
    from sealer.review import model

    total = _many_ledgers(repo, 300, 20_000)
    commit_all(repo, "ledgers for 300 environments")
    monkeypatch.setattr(model, "MAX_TOTAL_BYTES", total // 4)
    result = cli(repo, "review", "main", "HEAD")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, (result.output, result.exception)
    assert f"more than the limit of {total // 4} bytes together" in result.stderr


def test_ledgers_added_and_deleted_again_within_the_range_are_bounded_together(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HEAD holds none of them, but the walk over the range's commits holds what each changed."""
    from sealer.review import model

    total = _many_ledgers(repo, 300, 20_000)
    commit_all(repo, "ledgers for 300 environments")
    git(repo, "rm", "-q", "-r", "--", *(f"ledger/team-{i:04d}.yaml" for i in range(300)))
    git(repo, "commit", "-q", "-m", "and gone again")
    monkeypatch.setattr(model, "MAX_TOTAL_BYTES", total // 4)
    result = cli(repo, "review", "main", "HEAD")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, (result.output, result.exception)
    assert f"the commits under review change more than {total // 4} bytes" in result.stderr
    monkeypatch.setattr(model, "MAX_TOTAL_BYTES", total * 2)  # within the bound: reviewed as before
    assert cli(repo, "review", "main", "HEAD").exit_code in (0, 1)


SOPS_DB = (
    "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: apps}\n"
    'data: {k: "ENC[AES256_GCM,data:W10=,iv:aXYxMjM0NTY3OA==,tag:dGFnMTIzNDU2Nzg5MA==,type:str]"%s}\n'
    "sops:\n  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]\n  version: 3.8.1\n"
)


@pytest.mark.parametrize(("extra", "expected"), [("", set()), (", user: YWRtaW4=", {"plaintext"})])
def test_a_sops_encrypted_secret_is_no_plaintext(repo: Path, extra: str, expected: set[str]) -> None:
    """A Secret whose every value is a SOPS envelope, with SOPS's metadata, holds ciphertext; a
    value it holds in the clear beside them is plaintext still."""
    (repo / "apps").mkdir()
    (repo / "apps/db.yaml").write_text(SOPS_DB % extra)
    commit_all(repo, "the database password, SOPS encrypted")
    code, data = run_review(repo)
    assert (code, codes(data)) == ((1, expected) if expected else (0, set())), data


@pytest.mark.parametrize("env", ["staging", "prod-eu"])
@pytest.mark.parametrize("slash", ["", "\\"], ids=["plain", "markdown"])
@pytest.mark.parametrize("twin", [False, True], ids=["own-content", "content-seen-before"])
def test_a_key_in_a_files_name_is_flagged_and_never_shown(
    repo: Path, slash: str, env: str, twin: bool
) -> None:
    """A file named after a key (`sealer scan` finds it there) passed review: the scanner's hits
    in paths were dropped, and the raw text's keys are read from content only. The finding's path
    is redacted, in every output; a content git already holds (an empty file) is no way past."""
    leaked = apikey.generate(env)
    written = leaked.replace("_", slash + "_").replace("-", slash + "-")
    (repo / "d").mkdir()
    if twin:
        (repo / "d" / "seen.txt").write_text("")
        commit_all(repo, "seen")
    (repo / "d" / f"a{written}.txt").write_text("" if twin else "nothing secret\n")
    commit_all(repo, "named")
    code, data = run_review(repo)
    shown = f"d/aslr_{env}_[redacted].txt"
    assert code == 1 and [(f["rule"], f["path"]) for f in data["findings"]] == [("plaintext", shown)]
    assert apikey.key_id_of(leaked) in data["findings"][0]["message"]
    for fmt in ("json", "text", "markdown"):
        assert leaked.split("_")[2][:12] not in cli(repo, "review", "-o", fmt).stdout
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "A sealer\n  key in the path of a file a commit adds (escaped or not) is flagged" in readme


# -- an older ciphertext put back ---------------------------------------------------------------


def _forged(records: list[KeyRecord], sealed: tuple[tuple[str, str], ...]) -> list[KeyRecord]:
    """A rotation's ledger edit with no rotation behind it: the current key revoked, a new key
    (one nobody holds) appended with `sealed` as its digests."""
    current = active(records)
    fp = hashlib.sha256(b"a key nobody sealed").hexdigest()
    created = current.created + dt.timedelta(seconds=1)
    expires = created + (current.expires - current.created)
    new = KeyRecord(
        "staging", "apiKey", apikey.key_id(fp), fp, created, expires, "active", current.actor,
        None, current.sealed_with, sealed,
    )  # fmt: skip
    return [r.with_status("revoked", created) if r is current else r for r in records] + [new]


def _unchanged(records: list[KeyRecord], older: str) -> list[KeyRecord]:
    return records


def assert_forged_record_is_a_hand_edit(repo: Path, value: str, message: str, base: str, why: str) -> None:
    """A new staging record naming `value`'s digest, rendered and committed: review of BASE..HEAD
    flags the ciphertext as a hand edit, saying `why`."""
    ledger.save(repo, "staging", _new_key_named_with_the_older_digest(ledger.load(repo, "staging"), value))
    assert cli(repo, "render", "staging").exit_code == 0
    commit_all(repo, message)

    code, data = run_review(repo, base, "HEAD")

    assert code == 1 and any(f["rule"] == "hand-edit" and why in f["message"] for f in data["findings"]), (
        data["findings"]
    )


def _new_key_named_with_the_older_digest(records: list[KeyRecord], older: str) -> list[KeyRecord]:
    return _forged(records, (("staging", ciphertext_digest(older)),))


def _new_key_with_no_digest(records: list[KeyRecord], older: str) -> list[KeyRecord]:
    return _forged(records, ())


def _new_key_with_another_digest(records: list[KeyRecord], older: str) -> list[KeyRecord]:
    return _forged(records, (("staging", "0" * 64),))


def _current_key_given_the_older_digest(records: list[KeyRecord], older: str) -> list[KeyRecord]:
    current = active(records)
    moved = dataclasses.replace(current, sealed=(("staging", ciphertext_digest(older)),))
    return [moved if r is current else r for r in records]


def _current_key_stripped_of_its_digest(records: list[KeyRecord], older: str) -> list[KeyRecord]:
    current = active(records)
    return [dataclasses.replace(current, sealed=()) if r is current else r for r in records]


@pytest.mark.parametrize(
    ("edit", "rules", "why"),
    [
        (_unchanged, {"hand-edit"}, "no new key in the ledger"),
        (_new_key_named_with_the_older_digest, {"hand-edit"}, "recorded it for an older key"),
        (_new_key_with_no_digest, {"hand-edit"}, "records no digest"),
        (_new_key_with_another_digest, {"hand-edit"}, "not the ciphertext the ledger records"),
        (_current_key_given_the_older_digest, {"hand-edit", "ledger-rewrite"}, "no new key in the ledger"),
        (_current_key_stripped_of_its_digest, {"hand-edit", "ledger-rewrite"}, "no new key in the ledger"),
    ],
)
def test_an_older_ciphertext_put_back_is_flagged(
    repo: Path, edit: Callable[[list[KeyRecord], str], list[KeyRecord]], rules: set[str], why: str
) -> None:
    """On top of a clean rotation, staging's apiKey put back to the ciphertext main holds (the
    previous key's), the values file rendered again, and the ledger edited to match (or not):
    the cluster would take the older key while the ledger names another one."""
    git(repo, "checkout", "-q", "-b", "pr")
    git(repo, "checkout", "-q", "main", "--", SEALED)
    older = load_yaml(repo / SEALED)["spec"]["encryptedData"]["apiKey"]
    ledger.save(repo, "staging", edit(ledger.load(repo, "staging"), older))
    assert cli(repo, "render", "staging").exit_code == 0
    commit_all(repo, "put back")

    code, data = run_review(repo, "next", "HEAD")

    assert code == 1 and rules <= codes(data), data["findings"]
    assert any(f["rule"] == "hand-edit" and why in f["message"] for f in data["findings"]), data["findings"]


def test_the_ciphertext_of_a_key_this_range_rotated_out_put_back_is_flagged(repo: Path) -> None:
    """next rotated staging to K1; a second rotation replaces K1, then K1's ciphertext is put back
    behind a new record naming its digest. BASE's ledgers never saw K1, but HEAD's records it:
    the cluster would take K1, which the ledger holds as revoked."""
    k1 = load_yaml(repo / SEALED)["spec"]["encryptedData"]["apiKey"]
    text = (repo / SEALED).read_text()
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    (repo / SEALED).write_text(text)
    assert_forged_record_is_a_hand_edit(repo, k1, "K1 put back", "main", "recorded it for an older key")


def test_a_rotation_records_the_digest_of_what_it_sealed(repo: Path) -> None:
    value = load_yaml(repo / SEALED)["spec"]["encryptedData"]["apiKey"]
    assert active(ledger_records(repo, "staging")).sealed == (("staging", ciphertext_digest(value)),)


def test_an_older_ciphertext_no_record_holds_the_digest_of_is_flagged(repo: Path) -> None:
    """A ledger an older sealer wrote holds no digest: the ciphertext put back behind a new
    record naming its digest is still found, in the sealed files' history before BASE."""
    ledger.save(repo, "staging", [dataclasses.replace(r, sealed=()) for r in ledger.load(repo, "staging")])
    commit_all(repo, "as an older sealer wrote it")
    git(repo, "checkout", "-q", "-b", "pr")
    git(repo, "checkout", "-q", "main", "--", SEALED)
    older = load_yaml(repo / SEALED)["spec"]["encryptedData"]["apiKey"]
    assert_forged_record_is_a_hand_edit(repo, older, "put back", "next", "before BASE")


def test_a_file_under_sealed_that_once_held_other_yaml_stops_no_review(repo: Path) -> None:
    """The pass over sealed/'s history reads every blob it ever held as YAML: one whose `spec` is
    no mapping (any YAML a hand put there, removed since) is no SealedSecret, not a crash of every
    later review of a rotation."""
    (repo / "sealed/staging/other.yaml").write_text("spec: x\n")
    commit_all(repo, "another YAML file under sealed/")
    git(repo, "rm", "-q", "sealed/staging/other.yaml")
    commit_all(repo, "removed")
    ledger.save(repo, "staging", [dataclasses.replace(r, sealed=()) for r in ledger.load(repo, "staging")])
    commit_all(repo, "as an older sealer wrote it")  # so the pass runs
    git(repo, "branch", "base")
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0

    assert run_review(repo, "base", "HEAD")[0] == 0


@pytest.mark.parametrize("text", ["spec: x\n", "spec:\n  encryptedData: [x]\n"])
def test_a_sealed_file_of_other_yaml_is_findings_not_a_crash(repo: Path, text: str) -> None:
    (repo / SEALED).write_text(text)
    commit_all(repo, "not a SealedSecret")

    code, data = run_review(repo, "main", "HEAD")

    assert code == 1 and "manifest-mismatch" in codes(data), data["findings"]


def test_history_before_base_cut_by_a_shallow_clone_is_refused(repo: Path, tmp_path: Path) -> None:
    """The range is whole but what stood before BASE is cut: the pass over sealed/'s history
    would miss the older ciphertext (a CI fetching the pull request's commits + 1). Fail closed."""
    ledger.save(repo, "staging", [dataclasses.replace(r, sealed=()) for r in ledger.load(repo, "staging")])
    commit_all(repo, "as an older sealer wrote it")
    git(repo, "checkout", "-q", "-b", "pr")
    git(repo, "checkout", "-q", "main", "--", SEALED)
    older = load_yaml(repo / SEALED)["spec"]["encryptedData"]["apiKey"]
    ledger.save(repo, "staging", _new_key_named_with_the_older_digest(ledger.load(repo, "staging"), older))
    assert cli(repo, "render", "staging").exit_code == 0
    commit_all(repo, "put back")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "2", "--no-single-branch", "-b", "pr", repo.as_uri(), str(clone))

    result = cli(clone, "review", "origin/next", "HEAD")

    assert result.exit_code == 2 and "shallow clone" in result.output, result.output


PRODUCTION = "sealed/production/production.yaml"


@pytest.mark.parametrize("older_sealer", [False, True], ids=["digests", "no-digests"])
def test_a_ciphertext_copied_from_another_environment_is_flagged(repo: Path, older_sealer: bool) -> None:
    """production's ciphertext put into staging behind a new staging record naming its digest:
    with a certificate the two share, staging's cluster would take production's key. Found in
    production's ledger, or (an older sealer's ledger names no digest) in sealed/'s history."""
    if older_sealer:
        for env in ("staging", "production"):
            ledger.save(repo, env, [dataclasses.replace(r, sealed=()) for r in ledger.load(repo, env)])
        commit_all(repo, "as an older sealer wrote them")
    git(repo, "checkout", "-q", "-b", "pr")
    copied = load_yaml(repo / PRODUCTION)["spec"]["encryptedData"]["apiKey"]
    doc = load_yaml(repo / SEALED)
    doc["spec"]["encryptedData"]["apiKey"] = copied
    (repo / SEALED).write_text(yamlio.dump(doc))
    ledger.save(repo, "staging", _new_key_named_with_the_older_digest(ledger.load(repo, "staging"), copied))
    assert cli(repo, "render", "staging").exit_code == 0
    commit_all(repo, "copied from production")

    code, data = run_review(repo, "next", "HEAD")

    why = "before BASE" if older_sealer else "recorded it for an older key"
    assert code == 1 and any(f["rule"] == "hand-edit" and why in f["message"] for f in data["findings"]), data


def test_a_value_that_stood_before_base_folded_across_lines_is_found(repo: Path) -> None:
    """History is read as YAML, not as text: a value a hand edit once wrapped (a double-quoted
    scalar over two lines) stood in the sealed file though no line of it holds the value."""
    current = load_yaml(repo / SEALED)["spec"]["encryptedData"]["apiKey"]
    blob = bytearray(base64.b64decode(current))
    blob[-1] ^= 1  # another well-formed ciphertext for the pinned certificate
    other = base64.b64encode(bytes(blob)).decode()
    text = (repo / SEALED).read_text()
    (repo / SEALED).write_text(text.replace(current, f'"{other[:100]}\\\n    {other[100:]}"'))
    assert load_yaml(repo / SEALED)["spec"]["encryptedData"]["apiKey"] == other
    commit_all(repo, "wrapped by hand")
    (repo / SEALED).write_text(text)
    ledger.save(repo, "staging", [dataclasses.replace(r, sealed=()) for r in ledger.load(repo, "staging")])
    commit_all(repo, "put back, as an older sealer wrote it")
    git(repo, "checkout", "-q", "-b", "pr")
    doc = load_yaml(repo / SEALED)
    doc["spec"]["encryptedData"]["apiKey"] = other
    (repo / SEALED).write_text(yamlio.dump(doc))
    assert_forged_record_is_a_hand_edit(repo, other, "the wrapped value put back", "next", "before BASE")


def test_a_value_only_a_merge_commit_wrote_before_base_is_found(repo: Path) -> None:
    """A merge's own change (a value neither side held) stood before BASE too."""
    current = load_yaml(repo / SEALED)["spec"]["encryptedData"]["apiKey"]
    blob = bytearray(base64.b64decode(current))
    blob[-1] ^= 1
    other = base64.b64encode(bytes(blob)).decode()
    text = (repo / SEALED).read_text()
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "side.txt").write_text("side\n")
    commit_all(repo, "side")
    git(repo, "checkout", "-q", "next")
    (repo / "main.txt").write_text("main\n")
    commit_all(repo, "main line")
    git(repo, "merge", "-q", "--no-ff", "--no-commit", "side")
    (repo / SEALED).write_text(text.replace(current, other))
    commit_all(repo, "merge side, a value changed in the merge")
    (repo / SEALED).write_text(text)
    ledger.save(repo, "staging", [dataclasses.replace(r, sealed=()) for r in ledger.load(repo, "staging")])
    commit_all(repo, "put back, as an older sealer wrote it")
    git(repo, "checkout", "-q", "-b", "pr")
    (repo / SEALED).write_text(text.replace(current, other))
    assert_forged_record_is_a_hand_edit(repo, other, "the merge's value put back", "next", "before BASE")


def commit_encoded(repo: Path, encoding: str, message: bytes) -> None:
    """An empty commit whose message is `message`, its `encoding` header naming `encoding`."""
    (repo / "msg").write_bytes(message)
    git(
        repo,
        "-c",
        f"i18n.commitEncoding={encoding}",
        "commit",
        "-q",
        "--allow-empty",
        "-F",
        str(repo / "msg"),
    )
    (repo / "msg").unlink()


@pytest.mark.parametrize("encoding", ["IBM037", "IBM1047"])
def test_a_commit_whose_encoding_garbles_its_header_is_one_line_not_a_traceback(
    repo: Path, encoding: str
) -> None:
    """git re-encodes a whole commit from its `encoding` header's encoding (EBCDIC here): its
    committer line comes out garbled and `%ct` empty. Review cannot read the range: exit 2, one line."""
    leaked = apikey.generate("staging")
    commit_encoded(repo, encoding, f"debug\n\nkey: {leaked}\n".encode("cp037"))
    code, _ = run_review(repo)
    result = cli(repo, "review")
    assert code == 2 and result.exit_code == 2
    assert "git shows no committer time" in result.output and "Traceback" not in result.output
    assert leaked.split("_")[2][:12] not in result.output
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert (
        "re-encode it past reading (EBCDIC: its committer line comes out garbled) is refused too (exit 2"
        in readme
    )


def test_a_commit_whose_encoding_git_cannot_convert_is_reviewed_as_stored(repo: Path) -> None:
    """git shows a commit whose `encoding` header names no encoding it knows as it is stored:
    review reads it, and the key in its message is flagged (no refusal, nothing passed unread)."""
    leaked = apikey.generate("staging")
    commit_encoded(repo, "x-no-such-charset", f"debug\n\nkey: {leaked}\n".encode())
    code, data = run_review(repo)
    assert code == 1 and [f["message"] for f in data["findings"]] == [
        f"commit {git(repo, 'rev-parse', 'HEAD').strip()[:12]}'s message, line 3: plaintext API key "
        f"{apikey.key_id_of(leaked)}: revoke it"
    ]
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert "a header naming an encoding git cannot convert changes nothing" in readme


@pytest.mark.parametrize(
    "metadata",
    ["not a mapping", ["a", "list"], {"name": "engine", "namespace": "staging", "annotations": "text"}],
    ids=["metadata-text", "metadata-list", "annotations-text"],
)
def test_a_sealed_file_whose_metadata_is_no_mapping_is_a_finding_not_a_traceback(
    repo: Path, metadata: object
) -> None:
    """A pull request's sealed file is anyone's YAML: metadata or its annotations that are no
    mapping ended review (and check, for annotations) in an AttributeError."""
    path = repo / "sealed" / "staging" / "staging.yaml"
    doc = load_yaml(path)
    doc["metadata"] = metadata
    path.write_text(yamlio.dump(doc))
    commit_all(repo, "metadata")
    for args in (("review", "-o", "json"), ("check",)):
        result = cli(repo, *args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert result.exit_code == 1, (args, result.output)
