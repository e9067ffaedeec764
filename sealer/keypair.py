"""Controller keypairs for "bring your own certificates": what an air-gapped admin installs."""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sealer import certs, git, repofiles, yamlio
from sealer.errors import BadInput, GitError

ACTIVE_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
DEFAULT_DAYS = 3650
MAX_BITS = 8192
MAX_DAYS = 100 * 366
SECRET_MODE = 0o600


@dataclass(frozen=True)
class Keypair:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


def generate(bits: int = 4096, days: int = DEFAULT_DAYS, common_name: str = "sealed-secret") -> Keypair:
    """A self-signed RSA keypair like the one the controller makes for itself."""
    if bits < certs.MIN_BITS or bits > MAX_BITS or bits % 1024:
        raise BadInput(f"--bits {bits}: use a multiple of 1024 from {certs.MIN_BITS} to {MAX_BITS}")
    if not 1 <= days <= MAX_DAYS:
        raise BadInput(f"--days {days}: use 1 to {MAX_DAYS}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, True, False, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return Keypair(key, cert)


def load_private_key(data: bytes, source: str) -> rsa.RSAPrivateKey:
    """A controller's private key from unencrypted PEM (`tls.key`); the usual wrong file, the
    certificate beside it, is named as such."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        hint = (
            " (it holds a certificate: give the private key, e.g. tls.key)"
            if b"CERTIFICATE-----" in data
            else ""
        )
        raise BadInput(f"{source}: not an unencrypted PEM private key{hint}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BadInput(f"{source}: the private key is not RSA")
    return key


def cert_pem(pair: Keypair) -> bytes:
    return pair.cert.public_bytes(serialization.Encoding.PEM)


def key_pem(pair: Keypair) -> bytes:
    """PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), what `kubectl create secret tls` and the controller take."""
    return pair.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def key_secret(pair: Keypair, namespace: str = "kube-system", name: str | None = None) -> dict[str, Any]:
    """The `kubernetes.io/tls` Secret the controller adopts as an active sealing key."""
    name = name or "sealed-secrets-key-" + certs.fingerprint(pair.cert)[:8]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {ACTIVE_LABEL: "active"}},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(cert_pem(pair)).decode(),
            "tls.key": base64.b64encode(key_pem(pair)).decode(),
        },
    }


def outside_git(out: Path) -> None:
    """Refuse a folder inside a Git work tree: one `git add .` would commit the controller's
    private key, which opens every key sealed for that cluster (.gitignore is no guarantee)."""
    folder = out.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the folder is made later: ask about its nearest existing parent
    try:
        # another account's work tree too: git refuses to name one, yet a key written there
        # is committed by its owner's next `git add .`
        top = git.top_level(folder if folder.is_dir() else folder.parent, any_owner=True)
    except GitError:  # no git installed: nothing here could commit the key
        return
    if top is not None:
        raise BadInput(
            f"refusing to write a private key inside the Git work tree {top}: "
            f"use an --out folder outside it and any other repository"
            + ("" if _holds(top, Path.home()) else ", e.g. ~/sealer-keys/<cluster>")
        )


def _holds(top: Path, path: Path) -> bool:
    """Is `path` in the work tree at `top` (a home folder kept in Git, say)?"""
    try:
        return path.resolve().is_relative_to(top.resolve())
    except OSError:
        return True


def write(pair: Keypair, out: Path, namespace: str = "kube-system") -> dict[str, Path]:
    """Write tls.crt, tls.key (0600) and sealed-secrets-key.yaml (0600); never overwrite."""
    paths = {
        "cert": out / "tls.crt",
        "key": out / "tls.key",
        "secret": out / "sealed-secrets-key.yaml",
    }
    existing = [str(p) for p in paths.values() if os.path.lexists(p)]
    if existing:
        raise BadInput(f"refusing to overwrite {', '.join(existing)}")
    outside_git(out)
    repofiles.make_folder(out, private=True)
    secret = yamlio.dump_documents([key_secret(pair, namespace)])
    files: list[tuple[Path, bytes | str, int | None]] = [
        (paths["key"], key_pem(pair), SECRET_MODE),
        (paths["secret"], secret, SECRET_MODE),
        (paths["cert"], cert_pem(pair), None),
    ]
    written: list[Path] = []
    try:
        for path, data, mode in files:
            repofiles.write(path, data, mode, user_path=True, replace=False)  # another run's: kept
            written.append(path)
    except (
        BaseException
    ):  # a failure or Ctrl-C midway: no half a keypair that the next run refuses to overwrite
        repofiles.remove_all(written)
        raise
    return paths
