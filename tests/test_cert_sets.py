"""Controller key renewal (#15): a cluster pins the set of certificates its controller holds and
names the one that seals (`sealWith`). End to end through the CLI, with ciphertext opened by the
independent decrypt path (reference.py), `cert fetch` against the Kubernetes API test server and
the controller's key List through escrow against the Vault test server."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import reference
from cryptography.hazmat.primitives import serialization
from support.env_repos import Controller, Controllers, invoke, rotate, snapshot, unfit_cert
from support.fake_kube import FakeKube
from support.fake_vault import FakeVault
from support.git import commit_all, git
from support.repos import load_yaml

from sealer import escrow, keypair, kube, provenance, unseal
from sealer.review.certset import CERT_ADDED, NEEDS_APPROVAL

SEALED = "sealed/staging/staging.yaml"
VALUES = "deploy/staging/values.yaml"


def _fp(pem: bytes) -> str:
    """Computed here, not by sealer: SHA-256 of the DER certificate."""
    from cryptography import x509

    return hashlib.sha256(
        x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    ).hexdigest()


def _check(root: Path) -> tuple[int, list[dict[str, str]]]:
    result = invoke(root, "check", "staging", "--output", "json")
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)["problems"]


def _review(root: Path, base: str = "HEAD~1", head: str = "HEAD") -> tuple[int, list[dict[str, Any]]]:
    result = invoke(root, "review", base, head, "--output", "json")
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)["findings"]


def _validate(root: Path, *certs: Path) -> tuple[int, list[str]]:
    args = [a for cert in certs for a in ("--cert", str(cert))]
    result = invoke(root, "validate", "-f", str(root / SEALED), *args, "--output", "json")
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)["problems"]


def _sealed(root: Path) -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml(root / SEALED)
    return doc


def _claimed(root: Path) -> str:
    return str(_sealed(root)["metadata"]["annotations"][provenance.CERT_ANNOTATION])


def _open_with(root: Path, controller: Controller) -> bytes:
    """The reference decrypt path, with the controller's own private key."""
    doc = _sealed(root)
    label = reference.scope_label("strict", doc["metadata"]["namespace"], doc["metadata"]["name"])
    return reference.decrypt(
        reference.load_key(controller.key), label, doc["spec"]["encryptedData"]["apiKey"]
    )


def test_renewal_end_to_end(pinned: Path, controllers: Controllers) -> None:
    one, two = controllers["staging"], controllers["staging-next"]
    rotate(pinned)
    first_key = _open_with(pinned, one)
    assert _claimed(pinned) == _fp(one.cert.read_bytes())

    assert invoke(pinned, "cert", "add", "staging", "--file", str(two.cert)).exit_code == 0
    commit_all(pinned, "controller renewed its key")
    assert _check(pinned) == (0, [])  # still sealed with a certificate the controller holds
    assert _validate(pinned, one.cert, two.cert) == (0, [])
    code, problems = _validate(pinned, two.cert)  # only the new one: the entry is not sealed with it
    assert code == 1 and "sealed with certificate" in problems[0]
    code, findings = _review(pinned)
    # cert-change: review (#19) gates every certificate file change as sensitive too
    assert code == 1 and {f["rule"] for f in findings} == {CERT_ADDED, "pin-change", "cert-change"}
    added = next(f for f in findings if f["rule"] == CERT_ADDED)
    assert NEEDS_APPROVAL in added["message"] and "RSA-2048" in added["message"]

    rotate(pinned)
    assert _claimed(pinned) == _fp(two.cert.read_bytes())
    fresh = _open_with(pinned, two)  # opened with key 2, by the reference path
    assert fresh.startswith(b"slr_staging_") and fresh != first_key
    with pytest.raises(Exception):  # noqa: B017,PT011 (any failure of the reference decrypt)
        _open_with(pinned, one)
    assert _review(pinned) == (0, [])
    assert _check(pinned) == (0, [])
    assert _validate(pinned, one.cert, two.cert) == (0, [])


def test_removing_a_certificate_makes_its_entries_errors(pinned: Path, controllers: Controllers) -> None:
    one, two = controllers["staging"], controllers["staging-next"]
    rotate(pinned)
    assert invoke(pinned, "cert", "add", "staging", "--file", str(two.cert)).exit_code == 0
    commit_all(pinned, "renewed")

    assert invoke(pinned, "cert", "remove", "staging", _fp(one.cert.read_bytes())).exit_code == 0
    commit_all(pinned, "old key dropped")
    code, problems = _check(pinned)
    assert code == 1
    assert [(p["rule"], p["level"]) for p in problems] == [("key-sealed", "error")]
    assert "sealed with a removed certificate" in problems[0]["message"]
    code, findings = _review(pinned)
    # pin-change, cert-change: review (#19) gates the set's and the file's change as sensitive
    assert code == 1 and {f["rule"] for f in findings} == {"unpinned-cert", "pin-change", "cert-change"}

    rotate(pinned)
    assert _check(pinned) == (0, [])
    assert _open_with(pinned, two).startswith(b"slr_staging_")


def test_rotate_due_reseals_after_reseal_after_days(pinned: Path, controllers: Controllers) -> None:
    two = controllers["staging-next"]
    rotate(pinned)
    assert invoke(pinned, "cert", "add", "staging", "--file", str(two.cert)).exit_code == 0
    commit_all(pinned, "renewed")
    due = invoke(pinned, "rotate", "--due", "--no-branch", "--output", "json")
    assert due.exit_code == 0 and "apiKey" not in due.stdout  # no resealAfterDays: never due for it

    text = (pinned / "sealer.yaml").read_text()
    (pinned / "sealer.yaml").write_text(
        text.replace("  staging:\n", "  staging:\n    resealAfterDays: 5\n", 1)
    )
    code, problems = _check(pinned)
    assert code == 0 and [(p["rule"], p["level"]) for p in problems] == [("key-sealed", "warning")]
    assert "due for resealing in 5 days" in problems[0]["message"]
    assert "apiKey" not in invoke(pinned, "rotate", "--due", "--no-branch", "-o", "json").stdout

    (pinned / "sealer.yaml").write_text(
        text.replace("  staging:\n", "  staging:\n    resealAfterDays: 0\n", 1)
    )
    commit_all(pinned, "reseal now")
    code, problems = _check(pinned)
    assert "due for resealing since" in problems[0]["message"]
    result = invoke(pinned, "rotate", "--due", "--no-branch", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert [k["name"] for k in data["keys"]] == ["apiKey"]
    assert _claimed(pinned) == _fp(two.cert.read_bytes())
    assert _open_with(pinned, two).startswith(b"slr_staging_")
    assert _check(pinned) == (0, [])
    assert _review(pinned) == (0, [])


@pytest.mark.parametrize("later", ["added: '2999-01-01'", ""], ids=["later", "dropped"])
def test_a_later_added_date_is_a_sensitive_change(pinned: Path, controllers: Controllers, later: str) -> None:
    """`added` of the sealing certificate starts the resealAfterDays clock: moving it later (or
    dropping it) keeps entries on an older certificate past their due day, with no key touched."""
    rotate(pinned)
    assert (
        invoke(pinned, "cert", "add", "staging", "--file", str(controllers["staging-next"].cert)).exit_code
        == 0
    )
    text = (pinned / "sealer.yaml").read_text()
    text = text.replace("  staging:\n", "  staging:\n    resealAfterDays: 0\n", 1)
    (pinned / "sealer.yaml").write_text(text)
    commit_all(pinned, "renewed, reseal at once")
    assert [p["rule"] for p in _check(pinned)[1]] == ["key-sealed"]
    added = re.compile(r"added: '?(\d{4}-\d{2}-\d{2})'?")
    day = added.search(text)
    assert day
    (pinned / "sealer.yaml").write_text(added.sub(later, text, count=1))
    commit_all(pinned, "quietly later")
    assert _check(pinned) == (0, [])  # what the edit buys: no reseal due any more
    code, findings = _review(pinned)
    assert code == 1 and [f["rule"] for f in findings] == ["period-change"], findings
    assert day.group(1) in findings[0]["message"]


def test_a_future_certificate_does_not_take_over_sealing(
    pinned: Path, controllers: Controllers, tmp_path: Path
) -> None:
    one = controllers["staging"]
    key = reference.rsa_key(2048)
    now = dt.datetime.now(dt.timezone.utc)
    future = reference.write_cert(
        tmp_path / "future.crt",
        reference.certificate(key, now + dt.timedelta(days=30), now + dt.timedelta(days=3650)),
    )
    refused = invoke(pinned, "cert", "add", "staging", "--file", str(future))
    assert refused.exit_code == 2 and "--keep-sealing" in refused.stderr
    assert invoke(pinned, "cert", "add", "staging", "--file", str(future), "--keep-sealing").exit_code == 0
    cluster = load_yaml(pinned / "sealer.yaml")["environments"]["staging"]["clusters"][0]
    assert cluster["sealWith"] == _fp(one.cert.read_bytes()) and len(cluster["certs"]) == 2
    commit_all(pinned, "pin the future certificate")  # a rotation starts from a committed sealer.yaml
    rotate(pinned)
    assert _claimed(pinned) == _fp(one.cert.read_bytes())
    assert _open_with(pinned, one).startswith(b"slr_staging_")
    assert _check(pinned) == (0, [])

    text = (pinned / "sealer.yaml").read_text()  # named by hand: check asks whether that is right
    (pinned / "sealer.yaml").write_text(
        text.replace(f"sealWith: {_fp(one.cert.read_bytes())}", f"sealWith: {_fp(future.read_bytes())}")
    )
    code, problems = _check(pinned)
    assert ("cert-expiry", "warning") in {(p["rule"], p["level"]) for p in problems}
    assert any("is not valid before" in p["message"] for p in problems)


def test_a_false_certificate_claim_is_caught(
    pinned: Path, controllers: Controllers, keypair_3072_dir: Path
) -> None:
    """The annotation is a claim: naming a certificate outside the set, or one whose key size does
    not fit the ciphertext, is an error of check and review."""
    rotate(pinned)
    big = keypair_3072_dir / "tls.crt"
    assert invoke(pinned, "cert", "add", "staging", "--file", str(big), "--keep-sealing").exit_code == 0
    commit_all(pinned, "a 3072-bit key joins")
    text, claim = (pinned / SEALED).read_text(), _claimed(pinned)
    (pinned / SEALED).write_text(text.replace(claim, _fp(big.read_bytes())))
    commit_all(pinned, "claims the 3072-bit certificate")
    code, problems = _check(pinned)
    assert code == 1 and "claims certificate" in problems[0]["message"] and "3072" in problems[0]["message"]
    code, findings = _review(pinned)
    assert code == 1 and "unpinned-cert" in {f["rule"] for f in findings}

    (pinned / SEALED).write_text(text.replace(claim, "ab" * 32))
    code, problems = _check(pinned)
    assert code == 1 and "not pinned for staging/staging" in problems[0]["message"]


def test_review_describes_an_added_certificate(
    pinned: Path, tmp_path: Path, controllers: Controllers
) -> None:
    """A certificate of the same key with other dates, and one that is not self-signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    one = controllers["staging"]
    now = dt.datetime.now(dt.timezone.utc)
    twin = (  # the controller's public key, other dates, signed by someone else
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twin")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone")]))
        .public_key(one.pair.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .sign(reference.rsa_key(2048), hashes.SHA256())
    )
    twin_file = reference.write_cert(tmp_path / "twin.crt", twin)
    assert invoke(pinned, "cert", "add", "staging", "--file", str(twin_file)).exit_code == 0
    commit_all(pinned, "twin")
    code, findings = _review(pinned)
    assert code == 1 and {f["rule"] for f in findings} == {CERT_ADDED, "pin-change", "cert-change"}, findings
    (added,) = [f for f in findings if f["rule"] == CERT_ADDED]
    assert "same public key as" in added["message"] and "not self-signed" in added["message"]


# -- cert fetch against the Kubernetes API test server ---------------------------------------------


def _key_secret(server: FakeKube, name: str, controller: Controller) -> None:
    data = {"tls.crt": controller.cert.read_bytes(), "tls.key": keypair.key_pem(controller.pair)}
    server.add_secret("kube-system", name, data, {kube.KEY_LABEL: "active"}, "kubernetes.io/tls")


@pytest.mark.slow
def test_cert_fetch_reads_every_key_of_the_controller(
    pinned: Path, controllers: Controllers, kube_server: FakeKube, kubeconfig: Path
) -> None:
    one, two, three = controllers["staging"], controllers["staging-next"], controllers["staging-third"]
    for name, controller in (
        ("sealed-secrets-keyaaaa", one),
        ("sealed-secrets-keybbbb", two),
        ("sealed-secrets-keycccc", three),
    ):
        _key_secret(kube_server, name, controller)
    kube_server.add_service(
        "kube-system", "sealed-secrets-controller", [("http", 8080)], {"/v1/cert.pem": two.cert.read_bytes()}
    )
    args = ("cert", "fetch", "staging", "--kubeconfig", str(kubeconfig), "--output", "json")

    refused = invoke(pinned, *args)
    assert refused.exit_code == 1 and json.loads(refused.stdout)["accepted"] is False
    accepted = invoke(pinned, *args, "--accept")
    assert accepted.exit_code == 0, accepted.stderr
    data = json.loads(accepted.stdout)
    fps = [_fp(c.cert.read_bytes()) for c in (one, two, three)]
    assert (data["fetched"], sorted(data["added"]), data["retired"]) == (fps[1], sorted(fps[1:]), [])
    cluster = load_yaml(pinned / "sealer.yaml")["environments"]["staging"]["clusters"][0]
    assert cluster["sealWith"] == fps[1]  # the certificate the controller serves, not the newest dates
    assert sorted(c["fingerprint"] for c in cluster["certs"]) == sorted(fps)
    assert kube_server.requests_to("/api/v1/namespaces/kube-system/secrets", "GET") >= 1
    again = invoke(pinned, *args)
    assert again.exit_code == 0 and json.loads(again.stdout)["added"] == []


@pytest.mark.slow
def test_cert_fetch_refusing_one_active_key_pins_none(
    pinned: Path, controllers: Controllers, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """An active key sealer can never use (an EC certificate) stops `--accept` before the served
    certificate is pinned: exit 2 promises nothing changed."""
    served = controllers["staging-next"]
    _key_secret(kube_server, "sealed-secrets-keybbbb", served)
    kube_server.add_secret(
        "kube-system", "sealed-secrets-keyeeee", {"tls.crt": unfit_cert("ec")}, {kube.KEY_LABEL: "active"}
    )
    kube_server.add_service(
        "kube-system",
        "sealed-secrets-controller",
        [("http", 8080)],
        {"/v1/cert.pem": served.cert.read_bytes()},
    )
    before = snapshot(pinned)
    refused = invoke(pinned, "cert", "fetch", "staging", "--kubeconfig", str(kubeconfig), "--accept")
    assert refused.exit_code == 2 and "sealing needs RSA" in refused.stderr, refused.stderr
    assert snapshot(pinned) == before


# -- the controller's key List through escrow, against the Vault test server ---------------------


def test_the_controller_key_list_is_escrowed_and_restored(
    vault_env: FakeVault, controllers: Controllers, tmp_path: Path
) -> None:
    trio = [controllers["staging"], controllers["staging-next"], controllers["staging-third"]]
    items = [keypair.key_secret(c.pair, "kube-system", f"sealed-secrets-key{i}") for i, c in enumerate(trio)]
    listed = tmp_path / "keys.yaml"
    listed.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {}}))
    target, path = "vault:secret/escrow/key-list", "escrow/key-list"
    vault_env.secrets.pop(("secret", path), None)

    saved = escrow.backup(listed, target)
    assert saved.fingerprint == ",".join(c.fingerprint for c in trio)
    stored = vault_env.read_direct("secret", path)
    assert stored and stored["format"] == escrow.LIST_FORMAT
    assert escrow.backup(listed, target).unchanged

    out = tmp_path / "restored"
    restored = escrow.restore(target, out)
    assert restored.fingerprint == saved.fingerprint
    doc = load_yaml(out / escrow.LIST_FILE)
    assert doc["kind"] == "List" and [i["metadata"]["name"] for i in doc["items"]] == [
        i["metadata"]["name"] for i in items
    ]
    assert (out / escrow.LIST_FILE).stat().st_mode & 0o777 == 0o600
    keys = unseal.load_private_keys(out / escrow.LIST_FILE)
    for controller, key in zip(trio, keys, strict=True):  # each key opens what its certificate sealed
        label = reference.scope_label("strict", "ns", "s")
        sealed = reference.encrypt(reference.load_public_key(controller.cert), label, b"value")
        assert unseal.open_value([key], label, base64.b64decode(sealed)) == b"value"


def test_the_key_list_through_the_keypair_command(
    vault_env: FakeVault, controllers: Controllers, tmp_path: Path
) -> None:
    pair = [controllers["staging"], controllers["staging-next"]]
    items = [keypair.key_secret(c.pair, "kube-system", f"sealed-secrets-key{i}") for i, c in enumerate(pair)]
    (tmp_path / "dr").mkdir()
    (tmp_path / "dr" / escrow.LIST_FILE).write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    target = "vault:secret/escrow/cli-list"
    vault_env.secrets.pop(("secret", "escrow/cli-list"), None)

    saved = invoke(tmp_path, "keypair", "--out", str(tmp_path / "dr"), "--backup", target, "--output", "json")
    assert saved.exit_code == 0, saved.stderr
    assert json.loads(saved.stdout)["fingerprint"] == ",".join(c.fingerprint for c in pair)
    restored = invoke(tmp_path, "keypair", "--out", str(tmp_path / "back"), "--restore", target)
    assert restored.exit_code == 0, restored.stderr
    assert len(unseal.load_private_keys(tmp_path / "back" / escrow.LIST_FILE)) == 2
    # the List holds every private key: like one keypair, never restored into a Git work tree
    work_tree = tmp_path / "work-tree"
    work_tree.mkdir()
    git(work_tree, "init", "-q")
    refused = invoke(tmp_path, "keypair", "--out", str(work_tree / "keys"), "--restore", target)
    assert refused.exit_code == 2 and "inside the Git work tree" in refused.stderr, refused.output
    assert not (work_tree / "keys").exists()


def test_older_certificates_of_the_set_meet_the_key_size_policy(
    pinned: Path, controllers: Controllers, keypair_3072_dir: Path
) -> None:
    text = (pinned / "sealer.yaml").read_text()
    policy = "  staging:\n    policy:\n      cert-strength:\n        min-bits: 3072\n"
    (pinned / "sealer.yaml").write_text(text.replace("  staging:\n", policy, 1))
    assert (
        invoke(pinned, "cert", "add", "staging", "--file", str(keypair_3072_dir / "tls.crt")).exit_code == 0
    )
    code, problems = _check(pinned)
    old = controllers["staging"].fingerprint
    strength = [p["message"] for p in problems if p["rule"] == "cert-strength"]
    assert code == 1 and strength == [
        f"staging/staging certificate {old[:16]}… has a 2048-bit RSA key; staging requires at least 3072 bits"
    ]


# -- the schema: a legacy pin is a set of one; a set names the certificate that seals ---------------

FP_A, FP_B = "a" * 64, "b" * 64


def _cluster(**fields: Any) -> dict[str, Any]:
    return {"name": "prod", "valuesFile": "deploy/prod/values.yaml", **fields}


def _parse(cluster: dict[str, Any]) -> Any:
    from sealer import config

    raw = {
        "version": 1,
        "environments": {
            "prod": {"namespace": "prod", "secretName": "s", "valuesFile": "v.yaml", "clusters": [cluster]}
        },
    }
    return config.parse(raw, Path("/nonexistent")).env("prod").clusters[0]


def test_a_legacy_pin_is_a_set_of_one() -> None:
    cluster = _parse(_cluster(cert="certs/prod.pem", fingerprint=FP_A))
    assert (cluster.fingerprint, [c.fingerprint for c in cluster.cert_set]) == (FP_A, [FP_A])
    assert cluster.holds(FP_A) and not cluster.holds(FP_B)


def test_a_set_seals_with_the_certificate_it_names() -> None:
    certs = [
        {"cert": "certs/a.pem", "fingerprint": FP_A},
        {"cert": "certs/b.pem", "fingerprint": FP_B, "added": "2026-01-02"},
    ]
    cluster = _parse(_cluster(certs=certs, sealWith=FP_A))
    assert (cluster.fingerprint, cluster.cert) == (FP_A, "certs/a.pem")
    assert cluster.holds(FP_B) and cluster.held_cert(FP_B).added == "2026-01-02"


@pytest.mark.parametrize(
    "fields, where",
    [
        ({"certs": [{"cert": "certs/a.pem", "fingerprint": FP_A}], "sealWith": FP_B}, "sealWith"),
        ({"certs": [{"cert": "certs/a.pem", "fingerprint": FP_A}]}, "sealWith"),
        ({"certs": [], "sealWith": FP_A}, "certs"),
        (
            {
                "certs": [{"cert": "a.pem", "fingerprint": FP_A}, {"cert": "b.pem", "fingerprint": FP_A}],
                "sealWith": FP_A,
            },
            "certs[1]",
        ),
        (
            {
                "certs": [{"cert": "a.pem", "fingerprint": FP_A}, {"cert": "a.pem", "fingerprint": FP_B}],
                "sealWith": FP_A,
            },
            "certs[1]",
        ),
        (
            {"certs": [{"cert": "a.pem", "fingerprint": FP_A, "added": "2026-13-40"}], "sealWith": FP_A},
            "added",
        ),
        ({"certs": [{"cert": "../a.pem", "fingerprint": FP_A}], "sealWith": FP_A}, "cert"),
        (
            {
                "cert": "a.pem",
                "fingerprint": FP_A,
                "certs": [{"cert": "a.pem", "fingerprint": FP_A}],
                "sealWith": FP_A,
            },
            "cert",
        ),
    ],
)
def test_a_broken_set_is_refused(fields: dict[str, Any], where: str) -> None:
    from sealer.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"clusters\[0\]\.(certs\[\d\]\.)?{re.escape(where)}:"):
        _parse(_cluster(**fields))


def test_an_older_certificate_file_swapped_under_its_pin(pinned: Path, controllers: Controllers) -> None:
    rotate(pinned)
    assert (
        invoke(pinned, "cert", "add", "staging", "--file", str(controllers["staging-next"].cert)).exit_code
        == 0
    )
    commit_all(pinned, "renewed")
    (pinned / "certs" / "staging.pem").write_bytes(controllers["rogue"].cert.read_bytes())
    commit_all(pinned, "the old certificate's file now holds another one")
    code, findings = _review(pinned)
    assert code == 1 and {f["rule"] for f in findings} == {"cert-file-mismatch", "cert-change"}
    code, problems = _check(pinned)
    assert code == 1 and [p["rule"] for p in problems] == ["cert-file"]


def _with_entries_annotation(root: Path, value: str) -> None:
    """`value` (YAML) as the sealed file's entries annotation, beside the main claim."""
    text, claim = (root / SEALED).read_text(), _claimed(root)
    line = f"    {provenance.CERT_ANNOTATION}: {claim}\n"
    assert line in text
    added = f"    {provenance.OTHER_CERTS_ANNOTATION}: {value}\n"
    (root / SEALED).write_text(text.replace(line, line + added))


def _broken(claim: str) -> dict[str, str]:
    """Broken entries annotations, each naming the entry's real certificate where it names one:
    read as "sealed with the main certificate", every one of them passed check."""
    return {
        "not-json": json.dumps("{apiKey: " + claim),
        "entry-twice": json.dumps(f'{{"apiKey": "{claim}", "apiKey": "{claim}"}}'),
        "not-an-object": json.dumps(json.dumps([claim])),
        "not-a-string-value": json.dumps(json.dumps({"apiKey": 5})),
        "not-a-string": "[1, 2]",
    }


BROKEN = {
    "not-json": "not JSON",
    "entry-twice": "it gives an entry twice",
    "not-an-object": "not a JSON object",
    "not-a-string-value": "a certificate in it is not a string",
    "not-a-string": "not a string",
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_an_unreadable_entries_annotation_fails_closed(
    rotated: Path, controllers: Controllers, broken: str
) -> None:
    """Every entry's certificate is unknown: check says why in one error, and `rotate --due`
    (no resealAfterDays, no key due by age) reseals them, which writes the annotation afresh."""
    from sealer import cert_pins, config

    _with_entries_annotation(rotated, _broken(_claimed(rotated))[broken])
    commit_all(rotated, "a broken provenance annotation")
    code, problems = _check(rotated)
    assert code == 1 and [(p["rule"], p["level"]) for p in problems] == [("key-sealed", "error")]
    why = f"the {provenance.OTHER_CERTS_ANNOTATION} annotation is unreadable ({BROKEN[broken]})"
    assert why in problems[0]["message"] and problems[0]["fix"] == "sealer rotate --due"
    now = dt.datetime.now(dt.timezone.utc)
    assert cert_pins.reseal_due(rotated, config.load(rotated).env("staging"), now) == ["apiKey"]
    code, findings = _review(rotated)
    assert code == 1 and "manifest-mismatch" in {f["rule"] for f in findings}
    assert any(why in f["message"] for f in findings)
    code, findings = _review(rotated, "HEAD~2")  # with the rotation: its entry's claim is unknown
    unpinned = [f["message"] for f in findings if f["rule"] == "unpinned-cert"]
    assert code == 1 and unpinned and all("an unknown certificate" in m for m in unpinned), findings
    assert _validate(rotated, controllers["staging"].cert) == (1, [f"{rotated / SEALED}: {why}"])

    result = invoke(rotated, "rotate", "--due", "--no-branch", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [k["name"] for k in json.loads(result.stdout)["keys"]] == ["apiKey"]
    assert provenance.OTHER_CERTS_ANNOTATION not in _sealed(rotated)["metadata"]["annotations"]
    assert _check(rotated) == (0, [])


def test_rotate_due_reseals_an_entry_no_claim_names_a_certificate_for(rotated: Path) -> None:
    """A sealed file without sealer's main claim: check errors on it, so `rotate --due` reseals it."""
    from sealer import cert_pins, config

    claim = f"    {provenance.CERT_ANNOTATION}: {_claimed(rotated)}\n"
    (rotated / SEALED).write_text((rotated / SEALED).read_text().replace(claim, ""))
    assert provenance.CERT_ANNOTATION not in (_sealed(rotated)["metadata"].get("annotations") or {})
    now = dt.datetime.now(dt.timezone.utc)
    assert cert_pins.reseal_due(rotated, config.load(rotated).env("staging"), now) == ["apiKey"]


def _first_arguments(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    """The first argument of each call of `module.name` from now on (the call goes through)."""
    seen: list[Any] = []
    real = getattr(module, name)

    def watched(first: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(first)
        return real(first, *args, **kwargs)

    monkeypatch.setattr(module, name, watched)
    return seen


def test_check_and_validate_read_the_entries_annotation_once(
    rotated: Path, controllers: Controllers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`key-sealed` and `validate` each ask whether the entries annotation is readable and what it
    claims: one parse of it answers both (provenance.read)."""
    from sealer import strictjson

    claims = json.dumps({"apiKey": _claimed(rotated)})  # the main claim again: readable, and true
    _with_entries_annotation(rotated, json.dumps(claims))
    parsed = _first_arguments(monkeypatch, strictjson, "loads")
    assert _check(rotated) == (0, [])
    assert parsed.count(claims) == 1
    parsed.clear()
    assert _validate(rotated, controllers["staging"].cert) == (0, [])
    assert parsed.count(claims) == 1


def test_rotate_due_reads_the_sealed_file_it_reseals_from_once(
    rotated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key is due by age, so `rotate --due` reads the sealed file for entries to reseal
    (cert_pins.reseal_due: here all, as its entries annotation is unreadable), and plans the
    reseal from that same reading."""
    from sealer import repofiles

    _with_entries_annotation(rotated, _broken(_claimed(rotated))["not-json"])
    commit_all(rotated, "a broken provenance annotation")
    reads = _first_arguments(monkeypatch, repofiles, "read_text")
    result = invoke(rotated, "rotate", "--due", "--no-branch", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [k["name"] for k in json.loads(result.stdout)["keys"]] == ["apiKey"]
    assert [Path(r) for r in reads].count(rotated / SEALED) == 1, reads


@pytest.mark.parametrize("emptied", ["annotations", "encryptedData"])
def test_a_rotation_fills_a_section_of_the_sealed_file_left_empty(rotated: Path, emptied: str) -> None:
    """`annotations:` or `encryptedData:` with nothing under it (its last line removed) is null in
    YAML: check names what is missing, and the rotation its fix gives puts it back (it stopped on
    a traceback, writing into null)."""
    lines = (rotated / SEALED).read_text().splitlines(keepends=True)
    at = lines.index(f"  {emptied}:\n")
    assert lines[at + 1].startswith("    ") and not lines[at + 2].startswith("    ")  # its one line
    (rotated / SEALED).write_text("".join(lines[: at + 1] + lines[at + 2 :]))
    assert _sealed(rotated)["metadata" if emptied == "annotations" else "spec"][emptied] is None
    commit_all(rotated, f"{emptied} emptied")
    code, problems = _check(rotated)
    assert code == 1 and [p["fix"] for p in problems] == ["sealer rotate staging --key apiKey"], problems
    result = invoke(rotated, "rotate", "staging", "--key", "apiKey", "--no-branch")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert _check(rotated) == (0, [])
