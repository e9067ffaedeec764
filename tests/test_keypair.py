from __future__ import annotations

import base64
import datetime as dt
import errno
import os
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sealer import keypair, unseal
from sealer.errors import BadInput


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_is_pkcs1_pem_readable_by_owner_only(keypair_dir: Path) -> None:
    key = keypair_dir / "tls.key"
    assert key.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert mode(key) == 0o600


def test_cert_is_self_signed_rsa_4096_for_ten_years(keypair_dir: Path) -> None:
    cert = x509.load_pem_x509_certificate((keypair_dir / "tls.crt").read_bytes())
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 4096
    assert cert.issuer == cert.subject
    assert cert.signature_hash_algorithm is not None
    public.verify(
        cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
    )
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3650) <= lifetime <= dt.timedelta(days=3650, hours=1)
    assert mode(keypair_dir / "tls.crt") == 0o644


def test_key_secret_is_what_the_controller_adopts(keypair_dir: Path) -> None:
    path = keypair_dir / "sealed-secrets-key.yaml"
    assert mode(path) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Secret"
    assert doc["type"] == "kubernetes.io/tls"
    assert doc["metadata"]["namespace"] == "kube-system"
    assert doc["metadata"]["labels"] == {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}
    assert base64.b64decode(doc["data"]["tls.crt"]) == (keypair_dir / "tls.crt").read_bytes()
    assert base64.b64decode(doc["data"]["tls.key"]) == (keypair_dir / "tls.key").read_bytes()


def test_the_key_secret_and_the_pem_hold_the_same_key(keypair_dir: Path) -> None:
    from_secret = unseal.load_private_keys(keypair_dir / "sealed-secrets-key.yaml")
    from_pem = unseal.load_private_keys(keypair_dir / "tls.key")
    assert [k.private_numbers() for k in from_secret] == [k.private_numbers() for k in from_pem]


def test_write_refuses_to_overwrite_and_changes_nothing(keypair_2048_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in keypair_2048_dir.iterdir()}
    with pytest.raises(BadInput, match="refusing to overwrite"):
        keypair.write(keypair.generate(bits=2048), keypair_2048_dir)
    assert {p.name: p.read_bytes() for p in keypair_2048_dir.iterdir()} == before


def test_write_refuses_when_any_one_file_exists(tmp_path: Path) -> None:
    (tmp_path / "tls.key").write_text("mine")
    with pytest.raises(BadInput, match="tls.key"):
        keypair.write(keypair.generate(bits=2048), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.key"]


def test_custom_namespace_days_and_bits(tmp_path: Path) -> None:
    pair = keypair.generate(bits=3072, days=30)
    keypair.write(pair, tmp_path / "new" / "dir", namespace="sealed-secrets")
    doc = yaml.safe_load((tmp_path / "new" / "dir" / "sealed-secrets-key.yaml").read_text())
    assert doc["metadata"]["namespace"] == "sealed-secrets"
    assert pair.key.key_size == 3072
    assert pair.cert.not_valid_after_utc - pair.cert.not_valid_before_utc <= dt.timedelta(days=30, hours=1)


@pytest.mark.parametrize(("bits", "days"), [(1024, 10), (2000, 10), (16384, 10), (2048, 0), (2048, 10**7)])
def test_bad_sizes_and_lifetimes_are_refused(bits: int, days: int) -> None:
    with pytest.raises(BadInput):
        keypair.generate(bits=bits, days=days)


def test_out_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInput, match="cannot create"):
        keypair.write(keypair.generate(bits=2048), tmp_path / "file")


@pytest.mark.parametrize("failing", ["sealed-secrets-key.yaml", "tls.crt"])
@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_write_that_fails_midway_leaves_no_half_keypair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, error: BaseException
) -> None:
    """A full disk or Ctrl-C after tls.key was written: the next run would refuse to overwrite
    the half a keypair left (and tls.key would sit there with no certificate)."""
    from sealer import repofiles

    real = repofiles.write

    def write(path: Path, *args: object, **kwargs: object) -> None:
        if Path(path).name == failing:
            raise error
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repofiles, "write", write)
    with pytest.raises(type(error)):
        keypair.write(keypair.generate(bits=2048), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    monkeypatch.setattr(repofiles, "write", real)
    keypair.write(keypair.generate(bits=2048), tmp_path / "out")  # the rerun is not refused


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_a_keypair_written_meanwhile_by_another_run_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    """Two runs into one --out: both pass the first check, then each file goes only where none
    is; the other run's tls.key is kept (a mixed key and certificate would be no keypair), and
    this run leaves nothing of its own. A file system without hard links (FAT) is held too."""
    from sealer import keypair as keypair_module

    (tmp_path / "tls.key").write_text("the other run's key")
    monkeypatch.setattr(keypair_module.os.path, "lexists", lambda path: False)  # checked before it appeared
    if not links:

        def no_link(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    with pytest.raises(BadInput, match="refusing to overwrite .*tls.key"):
        keypair.write(keypair.generate(bits=2048), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.key"]
    assert (tmp_path / "tls.key").read_text() == "the other run's key"
    (tmp_path / "tls.key").unlink()
    keypair.write(keypair.generate(bits=2048), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sealed-secrets-key.yaml", "tls.crt", "tls.key"]
