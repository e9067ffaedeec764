"""Controller-key escrow in Vault KV v2 (fake_vault.py through hvac): backup, restore, and
the refusals that keep a backup from being lost."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from support.fake_vault import FakeVault

from sealer import certs, escrow, keypair, unseal
from sealer.errors import BackendError, BadInput
from sealer.scope import Scope
from sealer.sealing import CertSealer, sealed_secret
from sealer.secret import SecretSpec

TARGET = "vault:secret/sealer/escrow/prod"
PATH = "sealer/escrow/prod"


@pytest.fixture
def other_pair_dir(tmp_path: Path) -> Path:
    out = tmp_path / "other"
    keypair.write(keypair.generate(bits=2048), out)
    return out


def test_backup_then_restore_unseals_what_the_original_sealed(
    vault_env: FakeVault, keypair_dir: Path, tmp_path: Path
) -> None:
    vault_env.secrets.pop(("secret", PATH), None)
    cert = certs.load_certificate(keypair_dir / "tls.crt")
    spec = SecretSpec(name="engine-api-key", namespace="payments", data={"apiKey": b"slr_prod_example-value"})
    sealed = sealed_secret(spec, CertSealer.from_certificate(cert, "tls.crt"), Scope.STRICT)

    saved = escrow.backup(keypair_dir, TARGET)
    assert (saved.fingerprint, saved.version, saved.unchanged) == (certs.fingerprint(cert), 1, False)
    stored = vault_env.read_direct("secret", PATH)
    assert stored and stored["format"] == escrow.FORMAT and stored["fingerprint"] == saved.fingerprint

    out = tmp_path / "restored"
    restored = escrow.restore(TARGET, out)
    assert restored.fingerprint == saved.fingerprint
    assert sorted(p.name for p in out.iterdir()) == ["sealed-secrets-key.yaml", "tls.crt", "tls.key"]
    for name in ("tls.key", "sealed-secrets-key.yaml"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    assert (out / "tls.crt").read_bytes() == (keypair_dir / "tls.crt").read_bytes()
    for key_file in ("tls.key", "sealed-secrets-key.yaml"):
        opened = unseal.unseal(sealed, unseal.load_private_keys(out / key_file), "sealed")
        assert opened.data == spec.data


def test_no_overwrite_without_force(
    vault_env: FakeVault, keypair_2048_dir: Path, other_pair_dir: Path, tmp_path: Path
) -> None:
    target, path = "vault:secret/escrow/force", "escrow/force"
    vault_env.secrets.pop(("secret", path), None)
    first = escrow.backup(keypair_2048_dir, target)
    with pytest.raises(BadInput, match=f"already holds a backup \\(certificate {first.fingerprint[:16]}"):
        escrow.backup(other_pair_dir, target)
    assert vault_env.read_direct("secret", path)["fingerprint"] == first.fingerprint  # type: ignore[index]

    again = escrow.backup(keypair_2048_dir, target)  # the same keypair: nothing to do
    assert again.unchanged and again.version == first.version

    replaced = escrow.backup(other_pair_dir, target, force=True)
    assert replaced.version == first.version + 1
    escrow.restore(target, tmp_path / "out")
    assert (tmp_path / "out" / "tls.crt").read_bytes() == (other_pair_dir / "tls.crt").read_bytes()


def test_a_concurrent_backup_is_not_overwritten(
    vault_env: FakeVault, keypair_2048_dir: Path, other_pair_dir: Path
) -> None:
    target, path = "vault:secret/escrow/race", "escrow/race"
    vault_env.secrets.pop(("secret", path), None)
    vault_env.on_next_write("secret", path, lambda: escrow.backup(other_pair_dir, target))
    with pytest.raises(BackendError, match="changed while the backup was written"):
        escrow.backup(keypair_2048_dir, target)
    other = certs.fingerprint(certs.load_certificate(other_pair_dir / "tls.crt"))
    assert vault_env.read_direct("secret", path)["fingerprint"] == other  # type: ignore[index]


@pytest.mark.parametrize(
    "sources",
    [
        lambda d: d / "sealed-secrets-key.yaml",
        lambda d: [d / "tls.key", d / "tls.crt"],
        lambda d: [d / "sealed-secrets-key.yaml"],
    ],
    ids=["key-secret", "pem-files", "secret-in-a-list"],
)
def test_backup_sources(vault_env: FakeVault, keypair_2048_dir: Path, sources: object) -> None:
    vault_env.secrets.pop(("secret", "escrow/sources"), None)
    result = escrow.backup(sources(keypair_2048_dir), "vault:secret/escrow/sources")  # type: ignore[operator]
    assert result.fingerprint == certs.fingerprint(certs.load_certificate(keypair_2048_dir / "tls.crt"))


def test_a_key_that_does_not_belong_to_the_certificate(
    vault_env: FakeVault, keypair_2048_dir: Path, other_pair_dir: Path
) -> None:
    with pytest.raises(BadInput, match="does not belong to the certificate"):
        escrow.backup([keypair_2048_dir / "tls.key", other_pair_dir / "tls.crt"], "vault:secret/escrow/mixed")
    assert vault_env.read_direct("secret", "escrow/mixed") is None


def test_a_folder_without_a_keypair(vault_env: FakeVault, keypair_2048_dir: Path, tmp_path: Path) -> None:
    shutil.copy(keypair_2048_dir / "tls.crt", tmp_path / "tls.crt")
    with pytest.raises(BadInput, match="holds neither"):
        escrow.backup(tmp_path, "vault:secret/escrow/none")
    with pytest.raises(BadInput, match="exactly one private key and one certificate"):
        escrow.backup([tmp_path / "tls.crt"], "vault:secret/escrow/none")


def test_restore_refuses_to_overwrite(vault_env: FakeVault, keypair_2048_dir: Path) -> None:
    escrow.backup(keypair_2048_dir, "vault:secret/escrow/overwrite", force=True)
    before = (keypair_2048_dir / "tls.key").read_bytes()
    with pytest.raises(BadInput, match="refusing to overwrite"):
        escrow.restore("vault:secret/escrow/overwrite", keypair_2048_dir)
    assert (keypair_2048_dir / "tls.key").read_bytes() == before


def test_restore_of_nothing_or_of_something_else(vault_env: FakeVault, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no backup there"):
        escrow.restore("vault:secret/escrow/never-written", tmp_path / "a")
    vault_env.write_direct("secret", "escrow/foreign", {"password": "hunter2"})
    with pytest.raises(BadInput, match="not a sealer escrow backup"):
        escrow.restore("vault:secret/escrow/foreign", tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "target", ["secret/escrow", "vault:", "vault:secret", "vault:secret/../x", "s3:bucket/x"]
)
def test_bad_targets(target: str, tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        escrow.parse_target(target)
    with pytest.raises(BadInput):
        escrow.restore(target, tmp_path)


def test_failures_carry_no_key_and_no_token(
    vault_env: FakeVault, keypair_2048_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_pem = (keypair_2048_dir / "tls.key").read_text()
    key_body = key_pem.splitlines()[1]
    monkeypatch.setenv("VAULT_TOKEN", "hvs.wrong-token-for-escrow")
    with pytest.raises(BackendError, match="permission denied") as denied:
        escrow.backup(keypair_2048_dir, "vault:secret/escrow/denied")
    vault_env.sealed = True
    with pytest.raises(BackendError, match="sealed or down") as sealed:
        escrow.restore("vault:secret/escrow/denied", tmp_path / "out")
    for err in (denied, sealed):
        text = str(err.value)
        assert "PRIVATE KEY" not in text and key_body not in text
        assert vault_env.token not in text and "hvs.wrong-token-for-escrow" not in text
