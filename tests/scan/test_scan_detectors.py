"""Every token and assignment detector as a `payload, should_flag` table, near-misses included.

Token-shaped payloads are assembled from pieces at run time so this file holds no literal
token (push protection and the repo's own scan would rightly object to one).
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from sealer import apikey
from sealer.scan import rules, scanner

B62 = apikey.BASE62


def rand62(n: int, seed: int = 7) -> str:
    """Deterministic base62 that looks random (no words, mixed classes)."""
    return "".join(B62[(seed * 7919 + i * 104729 + i * i * 31) % 62] for i in range(n))


def sealer_key(env: str = "dev", seed: int = 3) -> str:
    body = f"slr_{env}_{rand62(32, seed)}"
    import zlib

    return body + apikey.base62(zlib.crc32(body.encode()), 6)


def gh_token(prefix: str, seed: int = 7) -> str:
    """A token in GitHub's and npm's format: 30 random base62 characters and their CRC32."""
    import zlib

    body = rand62(30, seed)
    return f"{prefix}{body}{apikey.base62(zlib.crc32(body.encode()), 6)}"


def lookalike(key: str) -> str:
    """Same format, checksum broken."""
    last = key[-1]
    return key[:-1] + ("A" if last != "A" else "B")


def b32(n: int) -> str:
    return "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(i * 11 + 5) % 32] for i in range(n))


def jwt(header: dict[str, str], sig_len: int = 43) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part(header)}.{part({'sub': '1234567890', 'iat': 1700000000})}.{rand62(sig_len, 9)}"


def pem(label: str, body_chars: int = 256) -> str:
    body = base64.b64encode(bytes((i * 37 + 11) % 256 for i in range(body_chars * 3 // 4))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


def encrypted_pem() -> str:
    head, rest = pem("RSA PRIVATE KEY").split("\n", 1)
    return f"{head}\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{'0A1B' * 8}\n\n{rest}"


def sealed_layout(modulus: int = 512) -> str:
    blob = struct.pack(">H", modulus) + bytes((i * 7) % 256 for i in range(modulus + 40))
    return base64.b64encode(blob).decode()


@pytest.fixture(scope="module")
def policy() -> rules.Policy:
    return rules.load()


def found_rules(policy: rules.Policy, payload: str, path: str = "config/app.txt") -> set[str]:
    return {f.rule for f in scanner.scan_file(path, payload.encode(), policy)}


KEY = sealer_key()


def wrapped(data: bytes, width: int, indent: str = "") -> str:
    """`data` in base64 cut into lines of `width` (`base64` cuts at 76, `openssl base64` at 64)."""
    text = base64.b64encode(data).decode()
    return ("\n" + indent).join(text[i : i + width] for i in range(0, len(text), width))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PREFIX_GH, PREFIX_GL, PREFIX_SK, PREFIX_XOX = "gh" + "p_", "gl" + "pat-", "sk" + "_live_", "xo" + "xb-"

TABLES: dict[str, list[tuple[str, bool]]] = {
    "sealer-api-key": [
        (f"apiKey: {KEY}", True),
        (f"the key is {KEY}.", True),
        (f"ENGINE_API_KEY={sealer_key('prod-eu', 5)}", True),
        (f"apiKey: {lookalike(KEY)}", False),  # checksum fails
        (f"apiKey: {KEY[:-1]}", False),  # truncated
        (f"apiKey: x{KEY}x", True),  # inside a longer token: the checksum tells the key
        (f"apiKey: {KEY.replace('_dev_', '_DEV_')}", False),  # env tags are lowercase
    ],
    "sealer-api-key-base64": [  # `slr_` starts a base64 group, or its second or third byte
        (f"payload: {b64(f'{KEY}'.encode())}", True),
        (f"Authorization: Basic {b64(f'svc:{KEY}'.encode())}", True),
        (f"env: {b64(f'API_KEY={KEY}'.encode())}", True),
        ("data = '" + base64.urlsafe_b64encode(b"x" + KEY.encode() + b"\n").decode() + "'", True),
        # wrapped lines (`base64`, `openssl base64`, a YAML block): the key crosses a line break
        (wrapped(f"API_KEY={sealer_key('production-eu')}\n".encode(), 76), True),
        ("env: |\n  " + wrapped(f"API_KEY={KEY}\n".encode(), 64, "  "), True),
        (wrapped(f"API_KEY={lookalike(sealer_key('production-eu'))}\n".encode(), 76), False),
        (f"payload: {b64(f'{lookalike(KEY)}'.encode())}", False),  # checksum fails
        (f"payload: {b64(f'x{KEY}x'.encode())}", True),  # inside a longer token
        (f"payload: {b64(f'{KEY[:-1]}'.encode())}", False),  # truncated
        # deep in a long run (the rule reads 700 characters from `slr_`, not to the run's end)
        (f"payload: {b64(('x' * 3000 + f' API_KEY={KEY} ' + 'y' * 3000).encode())}", True),
    ],
    "private-key": [
        (pem("RSA PRIVATE KEY"), True),
        (pem("PRIVATE KEY"), True),
        (pem("OPENSSH PRIVATE KEY"), True),
        (pem("EC PRIVATE KEY"), True),
        ('{"private_key": "' + pem("PRIVATE KEY").replace("\n", "\\n") + '"}', True),  # JSON-escaped
        ("tls.key: |\n  " + pem("PRIVATE KEY").replace("\n", "\n  "), True),  # YAML block
        (encrypted_pem(), True),  # legacy encryption headers, then a blank line
        (encrypted_pem().replace("\n", "\r\n"), True),
        ('{"key": "' + encrypted_pem().replace("\n", "\\n") + '"}', True),
        (pem("CERTIFICATE"), False),
        (pem("PUBLIC KEY"), False),
        ('if line == "-----BEGIN RSA PRIVATE KEY-----":', False),  # header, no body
        ("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----", False),
    ],
    "aws-access-key-id": [
        (f"aws_access_key_id = AKIA{b32(16)}", True),
        (f"ASIA{b32(16)}", True),
        ("AKIA" + "IOSFODNN7" + "EXAMPLE", False),  # the documentation key
        (f"AKIA{b32(15)}", False),
        (f"AKIA{b32(16).lower()}", False),
        ("AKIA1234567890123456", False),  # 0, 1, 8, 9 are not base32
        (f"XAKIA{b32(16)}", False),
    ],
    "github-token": [
        (f"export GITHUB_TOKEN={gh_token(PREFIX_GH)}", True),
        (gh_token("gh" + "o_", 3), True),
        (f"export GITHUB_TOKEN={lookalike(gh_token(PREFIX_GH))}", False),  # checksum fails
        (f"{PREFIX_GH}{rand62(36)}", False),
        ("github" + f"_pat_{rand62(22)}_{rand62(59, 4)}", True),
        (f"{PREFIX_GH}{rand62(35)}", False),
        ("gh" + f"x_{rand62(36)}", False),
        (f"a{PREFIX_GH}{rand62(36)}", False),
    ],
    "gitlab-token": [
        (f"gitlab_token: {PREFIX_GL}{rand62(20)}", True),
        (f"{PREFIX_GL}{rand62(27)}.01.{rand62(9).lower()}", True),
        (f"GR1348941{rand62(20)}", True),
        (f"{PREFIX_GL}{rand62(19)}", False),
        (f"{PREFIX_GL}" + "x" * 20, False),  # placeholder
        ("global settings for gl" + "pat handling", False),
    ],
    "slack-token": [
        (f"SLACK_BOT_TOKEN = '{PREFIX_XOX}123456789012-1234567890123-{rand62(24)}'", True),
        ("xo" + f"xp-123456789012-123456789012-123456789012-{rand62(32)}", True),
        ("xa" + f"pp-1-A0{b32(9)}-1234567890123-{'0123456789abcdef' * 4}", True),
        (f"{PREFIX_XOX}your-token-here", False),
        (f"{PREFIX_XOX}123", False),
    ],
    "slack-webhook": [
        (f"url: https://hooks.slack.com/services/T{b32(8)}/B{b32(8)}/{rand62(24)}", True),
        ("url: https://hooks.slack.com/services/XXX/YYY/ZZZ", False),
        (f"url: https://hooks.slack.com/services/T{b32(8)}/B{b32(8)}", False),
    ],
    "stripe-secret-key": [
        (f'stripe.api_key = "{PREFIX_SK}{rand62(24)}"', True),
        ("r" + f"k_test_{rand62(30)}", True),
        ("p" + f"k_live_{rand62(24)}", False),  # publishable
        (f"{PREFIX_SK}{rand62(12)}", False),
        (f"task_live_{rand62(24)}", False),
    ],
    "google-api-key": [
        ('"apiKey": "AI' + f'za{rand62(35)}"', True),
        ("AI" + f"za{rand62(33)}-_", True),
        ("AI" + f"za{rand62(34)}", False),
        ("AI" + f"zb{rand62(35)}", False),
    ],
    "jwt": [
        (f"Authorization: Bearer {jwt({'alg': 'HS256', 'typ': 'JWT'})}", True),
        (jwt({"alg": "RS256", "kid": "k1"}), True),
        (jwt({"typ": "JWT"}), False),  # no algorithm: not a JWT header
        (jwt({"alg": "none"}, sig_len=8), False),  # no real signature
        (".".join(jwt({"alg": "HS256"}).split(".")[:2]), False),  # two parts
        (f"session-cookie-{jwt({'alg': 'HS256'})}", True),  # a few characters into a run: still tried
        (f"{'a' * 32}-{jwt({'alg': 'HS256'})}", False),  # past the 32 a try may start at
        # a header nested past what `json` parses (its RecursionError): not a JWT, no traceback
        (base64.urlsafe_b64encode(b'{"a":' * 50_000).decode() + "." + jwt({}).split(".", 1)[1], False),
    ],
    "gcp-service-account-key": [
        ('  "private_key_id": "' + "0123456789abcdef" * 2 + '01234567",', True),
        ("private_key_id: " + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", True),
        ('  "private_key_id": "",', False),
        ('  "private_key_id": "' + "0123456789abcdef" * 2 + '0123456",', False),  # 39 digits
        ('  "client_id": "' + "0123456789abcdef" * 2 + '01234567",', False),
    ],
    "generic-secret-assignment": [
        ('db_password = "Xk93mQz7LpR2vT8w"', True),  # sealer: allow (test payload)
        ("client_secret: 8f3k2L9xQ7mN4pR1sT6v", True),  # sealer: allow (test payload)
        ("SESSION_SECRET=9f2b7c4e1a8d3f6b5c0e7a2d4f1b8c3e", True),  # sealer: allow (test payload)
        ('  "accessToken": "Zr8QpL2mX7kN4vB9tW3s",', True),  # sealer: allow (test payload)
        ("export API_TOKEN='q7Rk2LmZ9xW4pN8v'", True),  # sealer: allow (test payload)
        ('apiKey := "Tq3LmZ8xW2pN7vR4k"', True),  # sealer: allow (test payload)
        ("curl https://api.local/v1?token=Zr8QpL2mX7kN4vB9tW3s&page=2", True),  # sealer: allow (test payload)
        # the name 90 characters into a URL (a try starts within 128 of a value's start)
        (
            "url: https://api.example.net/" + "v1/" * 30 + "?token=Zr8QpL2mX7kN4vB9tW3s",
            True,
        ),  # sealer: allow (test payload)
        ("PASSWORD=S3cr3t!9xQ#2mLp", True),  # sealer: allow (test payload)
        ("password: changeme", False),
        ("password: hunter2", False),
        ('password: "${DB_PASSWORD}"', False),
        ("password: {{ .Values.db.password | quote }}", False),
        ('api_key = os.environ["API_KEY"]', False),
        ("token = get_token(user)", False),
        ("const apiKey = process.env.API_KEY;", False),
        ("SECRET_KEY = settings.SECRET_KEY_BASE", False),
        ("secret: <redacted>", False),
        ('api_key: "********"', False),
        ("api_key: 123e4567-e89b-12d3-a456-426614174000", False),  # UUID
        ("signing_key: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", False),
        ("keyId: kid_0a1b2c3d4e5f", False),  # a name that says id
        ("secretName: engine-api-key-2", False),
        ("token_url: https://auth.local/oauth/token", False),
        ("publicKey: MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1L7VLPHCgcBIjl", False),
        (f"apiKey: {sealed_layout()}", False),  # ciphertext
        ("password: redis-cache-01", False),  # an identifier
        ("token: getTokenV2", False),
        ("key_version: v1.2.3-beta4", False),
        ("token: 1234567890123", False),
        ('if password == "Xk93mQz7LpR2vT8w":', False),  # a comparison, not an assignment
        (f"apiKey: {lookalike(KEY)}", False),  # the key rule has the final word
        ("keyboard_layout: de-nodeadkeys-2", False),
        ("token_file: /var/run/secrets/kubernetes.io/serviceaccount/token", False),
        ('"auth0": "AUTH0_DOMAIN with AUTH0_CLIENT_SECRET"', False),  # an environment variable name
        ("proxy = f'/services/sealed-secrets-controller:http/proxy/v1/cert.pem'", False),
        ("auth_server: http://127.0.0.1:8443/oauth/token2", False),
    ],
}

CASES = [
    pytest.param(rule, payload, flag, id=f"{rule}-{i}-{'flag' if flag else 'pass'}")
    for rule, table in TABLES.items()
    for i, (payload, flag) in enumerate(table)
]


@pytest.mark.parametrize(("rule", "payload", "should_flag"), CASES)
def test_detector(policy: rules.Policy, rule: str, payload: str, should_flag: bool) -> None:
    found = found_rules(policy, payload)
    if should_flag:
        assert rule in found
    else:
        assert rule not in found


def test_every_builtin_pattern_rule_has_a_table_or_vectors(policy: rules.Policy) -> None:
    """Rules without a table here are covered by the generated vectors (tests/support/token_vectors.py)."""
    from support import token_vectors

    pattern_rules = {r.id for r in policy.rules if r.kind in ("token", "assignment")}
    vectors = {rule for family in token_vectors.families() for rule in family.rules}
    vectors |= {rule for *_, expected in token_vectors.credential_files() for rule in expected}
    assert pattern_rules <= set(TABLES) | vectors
    for rule in TABLES:  # each table has both a hit and a near-miss
        assert {flag for _, flag in TABLES[rule]} == {True, False}


@pytest.mark.parametrize("payload", [p for p, flag in TABLES["generic-secret-assignment"] if not flag])
def test_generic_near_misses_flag_nothing_at_all(policy: rules.Policy, payload: str) -> None:
    assert found_rules(policy, payload) == set()


def test_private_key_in_base64_is_reported_as_a_private_key(policy: rules.Policy) -> None:
    encoded = base64.b64encode(pem("RSA PRIVATE KEY").encode()).decode()
    findings = scanner.scan_file("values.yaml", f"tls.key: {encoded}\n".encode(), policy)
    assert [(f.rule, f.note, f.line) for f in findings] == [("private-key", "base64-decoded", 1)]


def test_public_certificate_in_base64_is_not_a_finding(policy: rules.Policy) -> None:
    encoded = base64.b64encode(pem("CERTIFICATE").encode()).decode()
    assert found_rules(policy, f"ca_key_bundle: {encoded}\n") == set()


def test_a_hostile_private_key_header_cannot_stall_the_scan(tmp_path: Path) -> None:
    """`a: ` pairs after a BEGIN line: header lines that never end (the private-key regex split
    them every way: 2^n); a scan in a subprocess, bounded by a timeout, must finish at once."""
    hostile = tmp_path / "id_rsa"
    hostile.write_text("-----BEGIN RSA PRIVATE KEY-----\n" + "a: " * 4000 + "!\n")
    done = subprocess.run(
        [sys.executable, "-m", "sealer", "scan", str(hostile)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
