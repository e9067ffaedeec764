from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import reference as ref
from support.cli import assert_one_line_error, invoke, run_main

from sealer import certs


@pytest.fixture(scope="module")
def bad_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ref.bad_certificates(tmp_path_factory.mktemp("badcerts"))


def test_show_prints_fingerprint_subject_expiry_and_size(keypair_dir: Path) -> None:
    path = keypair_dir / "tls.crt"
    run = invoke(["cert", "show", str(path)])
    assert run.code == 0
    fp = certs.fingerprint(certs.load_certificate(path))
    assert f"fingerprint: {fp}" in run.stdout
    assert "subject: CN=sealed-secret" in run.stdout and "key_bits: 4096" in run.stdout
    data = json.loads(invoke(["cert", "show", str(path), "-o", "json"]).stdout)
    assert data["fingerprint"] == fp and data["key_bits"] == 4096 and data["not_after"]
    assert data["expired"] is False and data["days_left"] > 0 and "EXPIRED" not in run.stdout


def test_show_shows_an_expired_certificate_marked_expired(tmp_path: Path) -> None:
    """What `check` and `audit` complain about must be readable: shown (exit 0), marked expired,
    its days left counted as `cert status` counts them (negative), never sealed with."""
    now = dt.datetime.now(dt.timezone.utc)
    cert = ref.certificate(
        ref.rsa_key(2048), now - dt.timedelta(days=40), now - dt.timedelta(days=3, hours=12)
    )
    path = ref.write_cert(tmp_path / "old.pem", cert)
    run = invoke(["cert", "show", str(path)])
    assert run.code == 0, run.stderr
    assert f"fingerprint: {certs.fingerprint(cert)}" in run.stdout and "days_left: -3" in run.stdout
    assert "EXPIRED 3 days ago: sealer refuses to seal with it" in run.stdout
    shown = invoke(["cert", "show", str(path), "-o", "json"])
    assert shown.code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert (data["expired"], data["days_left"]) == (True, -3)
    assert data["not_after"] == cert.not_valid_after_utc.isoformat()
    sealing = invoke(
        ["seal", "--cert", str(path), "--raw", "--scope", "cluster-wide", "--from-literal", "k=v"]
    )
    assert sealing.code == 2 and "expired on" in sealing.stderr


def test_show_prints_no_line_a_certificate_subject_forged(tmp_path: Path) -> None:
    """A certificate is anyone's file (a pull request's certs/): a newline in its subject must not
    add a line of its own making, such as a second `key_bits:` ahead of the real one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key, now = ref.rsa_key(2048), dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil\nkey_bits: 4096")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    run = invoke(["cert", "show", str(ref.write_cert(tmp_path / "evil.pem", cert))])
    assert run.code == 0, run.stderr
    assert [line for line in run.stdout.splitlines() if line.startswith("key_bits:")] == ["key_bits: 2048"]


@pytest.mark.parametrize("name", ["tls.key", "sealed-secrets-key.yaml"])
@pytest.mark.parametrize(
    "command", [["cert", "show"], ["seal", "--from-literal", "k=v", "--name", "n", "--cert"]]
)
def test_a_private_key_given_as_the_certificate_names_the_file_to_give(
    keypair_2048_dir: Path, capsys: pytest.CaptureFixture[str], name: str, command: list[str]
) -> None:
    """The file beside tls.crt is the usual slip: the one line says which to give instead."""
    run = run_main([*command, str(keypair_2048_dir / name)], capsys)
    assert_one_line_error(
        run, 2, "not a PEM certificate (it holds a private key: give the certificate, e.g. tls.crt)"
    )


def _wrong_kind(tls_crt: Path, kind: str, folder: Path) -> Path:
    """The certificate `tls_crt` as a careless operator may hold it instead: in DER, its public
    key alone, or an empty file."""
    from cryptography.hazmat.primitives import serialization

    cert = certs.load_certificate(tls_crt)
    data = {
        "der": cert.public_bytes(serialization.Encoding.DER),
        "public-key": cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "empty": b"",
    }[kind]
    (folder / kind).write_bytes(data)
    return folder / kind


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("der", "(it is in DER: convert it with `openssl x509 -inform DER -in FILE -out tls.crt`)"),
        ("public-key", "(it holds a public key: give the certificate, e.g. tls.crt)"),
        ("empty", "(the file is empty)"),
    ],
)
@pytest.mark.parametrize(
    "command", [["cert", "show"], ["seal", "--from-literal", "k=v", "--name", "n", "--cert"]]
)
def test_a_certificate_file_of_the_wrong_kind_says_what_it_is(
    keypair_2048_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    hint: str,
    command: list[str],
) -> None:
    """A DER export, the public key or an empty file is not just "not a PEM certificate": the
    one line says what the file is and what to give instead."""
    path = _wrong_kind(keypair_2048_dir / "tls.crt", kind, tmp_path)
    assert_one_line_error(run_main([*command, str(path)], capsys), 2, f"not a PEM certificate {hint}")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("garbage", "not a PEM certificate"),
        ("empty", "not a PEM certificate"),
        ("ec", "sealing needs RSA"),
        ("weak", "too weak"),
        ("missing", "cannot read certificate"),
    ],
)
def test_show_refuses_what_can_never_seal(
    bad_certs: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    assert_one_line_error(run_main(["cert", "show", str(bad_certs[case])], capsys), 2, message)
