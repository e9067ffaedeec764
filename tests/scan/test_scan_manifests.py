"""The structural detectors: plain Kubernetes Secrets, and values where ciphertext belongs.

Sealed values here are real: sealed with the session's controller certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from sealer import apikey, certs
from sealer.scan import ciphertext, manifests, rules, scanner
from sealer.scan.files import Candidate
from sealer.scope import Scope
from sealer.sealing import CertSealer, sealed_secret
from sealer.secret import SecretSpec


@pytest.fixture(scope="module")
def policy() -> rules.Policy:
    return rules.load()


@pytest.fixture(scope="module")
def sealer(keypair_dir: Path) -> CertSealer:
    cert = keypair_dir / "tls.crt"
    return CertSealer.from_certificate(certs.load_certificate(cert), str(cert))


@pytest.fixture(scope="module")
def key() -> str:
    return apikey.generate("staging")


@pytest.fixture(scope="module")
def sealed(sealer: CertSealer, key: str) -> list[str]:
    return sealer.seal_values(Scope.STRICT, "staging", "engine-api-key", [key.encode(), b"s3cond-value"])


def findings(policy: rules.Policy, text: str, path: str = "deploy/app.yaml") -> list[tuple[str, int, str]]:
    return sorted((f.rule, f.line, f.note) for f in scanner.scan_file(path, text.encode(), policy))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SOPS_SECRET = (
    "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: blog}\nstringData:\n"
    "  DATABASE_URL: ENC[AES256_GCM,data:bXlzZWNyZXQ=,iv:aGVsbG8gd29ybGQ=,tag:dGFnLXRhZw==,type:str]\n"
    "sops:\n  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]\n"
    "  encrypted_regex: ^(data|stringData)$\n  version: 3.8.1\n"
)
SECRET_CASES = [
    (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: Xk93mQz7LpR2vT8w\n",
        [("kubernetes-secret", 5, "stringData.password"), ("generic-secret-assignment", 5, "")],
    ),
    (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  user: " + b64("admin") + "\n",
        [("kubernetes-secret", 5, "data.user")],
    ),
    (
        '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},\n "data": {"token": "'
        + b64("short")
        + '"}}\n',
        [("kubernetes-secret", 2, "data.token")],
    ),
    (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  stringData:\n    a: bcdef\n",
        [("kubernetes-secret", 7, "stringData.a")],
    ),
    (
        "kind: Deployment\nmetadata: {name: d}\n---\nkind: Secret\nstringData: {pin: '1234'}\n",
        [("kubernetes-secret", 5, "stringData.pin")],
    ),
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {}\n", []),
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: ''\n  other: null\n", []),
    ("apiVersion: v1\nkind: Secret\nstringData:\n  password: ${DB_PASSWORD}\n  token: <redacted>\n", []),
    ("apiVersion: external-secrets.io/v1beta1\nkind: Secret\nstringData: {a: bcdef}\n", []),
    ("apiVersion: v1\nkind: ConfigMap\ndata:\n  colour: blue\n", []),
    (SOPS_SECRET, []),  # SOPS ciphertext in a file SOPS wrote (a Flux repository's Secret)
    (  # not SOPS ciphertext, or no file SOPS wrote: plaintext as ever
        SOPS_SECRET.replace("ENC[AES256_GCM,data:bXlzZWNyZXQ=,", "Xk93mQz7LpR2vT8w #"),
        [("kubernetes-secret", 5, "stringData.DATABASE_URL")],
    ),
    (
        SOPS_SECRET.replace("  mac: ", "  macro: "),
        [("kubernetes-secret", 5, "stringData.DATABASE_URL")],
    ),
    ("apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nspec:\n  data:\n  - secretKey: x\n", []),
]


@pytest.mark.parametrize(("text", "expected"), SECRET_CASES)
def test_kubernetes_secret(policy: rules.Policy, text: str, expected: list[tuple[str, int, str]]) -> None:
    assert findings(policy, text) == sorted(expected)


def split_by_lines(data: bytes) -> list[tuple[int, bytes]]:
    """A document starts at a line that is `---`, alone or followed by a blank (the YAML rule)."""
    docs: list[tuple[int, list[bytes]]] = [(0, [])]
    for number, line in enumerate(data.splitlines(keepends=True)):
        if line.startswith(b"---") and (len(line) == 3 or line[3:4] in (b" ", b"\t", b"\r", b"\n")):
            docs.append((number, []))
        docs[-1][1].append(line)
    found = [(first, b"".join(lines)) for first, lines in docs]
    return [doc for doc in found if doc[1]] or [(0, b"")]


@pytest.mark.parametrize(
    "data",
    [
        b"a: 1\n---\nb: 2\n--- # c\nc: 3\n",
        b"---\na: 1\n---",
        b"a: 1\n----\nb: x---\nc: '---'\n  ---\n",
        b"a: 1\r\n---\r\nb: 2\n---\t\n",
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n---\nz: 1\n",
        b"",
    ],
)
def test_documents_start_at_a_line_that_is_three_dashes(data: bytes) -> None:
    assert list(manifests.documents(data)) == split_by_lines(data)


def test_secret_data_is_decoded_and_scanned(policy: rules.Policy, key: str) -> None:
    text = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata:\n  apiKey: {b64(key)}\n"
    assert findings(policy, text) == [
        ("kubernetes-secret", 5, "data.apiKey"),
        ("sealer-api-key", 5, "data.apiKey (base64-decoded)"),  # the key it holds, not its base64 too
    ]


def test_a_sops_value_holding_a_key_is_no_ciphertext(policy: rules.Policy, key: str) -> None:
    """`ENC[AES256_GCM,data:...]` whose data is a `data` entry's base64 of a key (base64 twice: the
    text rules decode once) passed as SOPS ciphertext, the key committed unnoticed. Real
    ciphertext decodes to no key."""
    fake = SOPS_SECRET.replace("stringData:", "data:").replace("bXlzZWNyZXQ=", b64(b64(key)))
    assert ("kubernetes-secret", 5, "data.DATABASE_URL") in findings(policy, fake)
    assert findings(policy, SOPS_SECRET.replace("stringData:", "data:")) == []


def test_controller_key_secret_names_the_private_key(policy: rules.Policy, keypair_dir: Path) -> None:
    text = (keypair_dir / "sealed-secrets-key.yaml").read_text()
    rules_found = {rule for rule, _, _ in findings(policy, text)}
    assert {"kubernetes-secret", "private-key"} <= rules_found
    assert findings(policy, (keypair_dir / "tls.key").read_text(), "tls.key")[0][0] == "private-key"
    assert findings(policy, (keypair_dir / "tls.crt").read_text(), "tls.crt") == []


def test_invalid_yaml_is_noted_not_fatal(policy: rules.Policy) -> None:
    text = (
        "apiVersion: v1\nkind: Secret\nstringData:\n  a: bcdef\n---\nkind: Secret\ndata:\n  password: a: b\n"
    )
    result = scanner.run([Candidate("chart/templates/secret.yaml", text.encode())], policy)
    assert [(f.rule, f.line) for f in result.findings] == [("kubernetes-secret", 4)]
    assert result.notes == [
        "chart/templates/secret.yaml: not valid YAML at line 8: "
        "manifest checks skipped the rest of that document"
    ]


def sealed_secret_text(sealer: CertSealer, **entries: bytes) -> str:
    spec = SecretSpec(
        name="engine-api-key", namespace="staging", type="Opaque", data=entries, labels={}, annotations={}
    )
    return json.dumps(sealed_secret(spec, sealer, Scope.STRICT), indent=2)


def test_sealed_secret_from_sealer_is_clean(policy: rules.Policy, sealer: CertSealer, key: str) -> None:
    text = sealed_secret_text(sealer, apiKey=key.encode(), other=b"x")
    assert findings(policy, text, "sealed/staging.json") == []


@pytest.mark.parametrize(
    ("replacement", "problem"),
    [
        ("plaintext-pasted-here", "not base64"),
        (b64("Xk93mQz7LpR2vT8w"), "length prefix 22635 is no RSA key size"),
    ],
)
def test_sealed_secret_value_that_is_no_ciphertext(
    policy: rules.Policy, sealer: CertSealer, key: str, replacement: str, problem: str
) -> None:
    doc = json.loads(sealed_secret_text(sealer, apiKey=key.encode()))
    doc["spec"]["encryptedData"]["apiKey"] = replacement
    text = json.dumps(doc, indent=2)
    line = text.splitlines().index(f'      "apiKey": "{replacement}"') + 1
    found = findings(policy, text, "sealed/staging.json")
    assert ("malformed-sealed-value", line, f"spec.encryptedData.apiKey: {problem}") in found


def test_truncated_ciphertext(policy: rules.Policy, sealed: list[str]) -> None:
    cut = base64.b64encode(base64.b64decode(sealed[0])[:300]).decode()
    text = f"kind: SealedSecret\nspec:\n  encryptedData:\n    apiKey: {cut}\n"
    problem = "shorter than its length prefix and GCM tag need"
    assert ("malformed-sealed-value", 4, f"spec.encryptedData.apiKey: {problem}") in findings(policy, text)


def rendered_values(sealed: list[str], key: str, user_values: str = "replicaCount: 2\n") -> str:
    """A values file as `sealer render` writes it, through sealer's own template and round trip."""
    from sealer import render, templating
    from sealer.records import iso

    fp = apikey.fingerprint(key)
    record = SimpleNamespace(
        key_id=apikey.key_id(fp),
        fingerprint=fp,
        created=iso(dt.datetime(2026, 11, 27, 2, tzinfo=dt.timezone.utc)),
        expires=iso(dt.datetime(2027, 2, 25, 2, tzinfo=dt.timezone.utc)),
    )
    env = SimpleNamespace(secret_name="engine-api-key", namespace="staging", scope=Scope.STRICT)
    subtree = templating.render(
        "values.sealer.yaml.j2",
        env=env,
        cluster=SimpleNamespace(name="staging"),
        cert_fingerprint="ab" * 32,
        encrypted={"apiKey": sealed[0], "dbPassword": sealed[1]},
        records={"apiKey": record},
        checksum="cd" * 32,
    )
    return render.render_values(user_values, subtree, "values.yaml")


def test_rendered_values_are_clean(policy: rules.Policy, sealed: list[str], key: str) -> None:
    text = rendered_values(sealed, key)
    assert sealed[0] in text and "keyId: kid_" in text
    assert findings(policy, text, "deploy/staging/values.yaml") == []


def test_plaintext_in_rendered_values_is_found(policy: rules.Policy, sealed: list[str], key: str) -> None:
    text = rendered_values(sealed, key).replace(sealed[0], key)
    line = text.splitlines().index(f"    apiKey: {key}") + 1
    assert findings(policy, text, "deploy/staging/values.yaml") == [
        ("malformed-sealed-value", line, "sealer.encryptedData.apiKey: not base64"),
        ("sealer-api-key", line, ""),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "engine:\n  sealer:\n    encryptedData:\n      apiKey: not-sealed-at-all\n",
            [("malformed-sealed-value", 4, "sealer.encryptedData.apiKey: not base64")],
        ),
        (
            "sealer:\n  encryptedData:\n    apiKey: {nested: map}\n",
            [("malformed-sealed-value", 3, "sealer.encryptedData.apiKey: not a string")],
        ),
        ("sealer:\n  encryptedData: {}\n", []),
        ("sealer:\n  encryptedData:\n    apiKey:\n    other: ''\n", []),
        ("sealer:\n  encryptedData:\n    apiKey: AgB…\n", []),  # documentation placeholder
        ("other:\n  encryptedData:\n    apiKey: not-sealed-at-all\n", []),  # not sealer's subtree
    ],
)
def test_values_file_encrypted_data(
    policy: rules.Policy, text: str, expected: list[tuple[str, int, str]]
) -> None:
    assert findings(policy, text, "values.yaml") == expected


@pytest.mark.parametrize("modulus", [256, 384, 512, 640, 768, 1024])
def test_ciphertext_layout_agrees_with_hybrid(modulus: int) -> None:
    from sealer import hybrid

    for extra in (0, 15, 16, 200):
        blob = modulus.to_bytes(2, "big") + bytes(modulus + extra)
        assert ciphertext.looks_sealed(blob) == hybrid.looks_sealed(blob)
    for prefix in (0, 255, 257, 300, 1025, 2048, 65535):
        blob = prefix.to_bytes(2, "big") + bytes(prefix + 16)
        assert ciphertext.looks_sealed(blob) == hybrid.looks_sealed(blob) is False


def test_real_ciphertext_is_well_formed(sealed: list[str]) -> None:
    assert [ciphertext.value_problem(v) for v in sealed] == [None, None]
    assert ciphertext.value_problem("AQ==") == "too short to be sealed"
    assert ciphertext.value_problem("AQA=") == "shorter than its length prefix and GCM tag need"
