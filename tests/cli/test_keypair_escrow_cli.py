"""`sealer keypair --backup vault:MOUNT/PATH [--force]` and `--restore vault:MOUNT/PATH --out DIR`
through the CLI, against the fake Vault (hvac, VAULT_ADDR / VAULT_TOKEN from the environment)."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from support.backend_repos import one_line_error
from support.cli import sealer
from support.fake_vault import FakeVault

from sealer import certs, escrow, unseal
from sealer.scope import Scope
from sealer.sealing import CertSealer, sealed_secret
from sealer.secret import SecretSpec

SECRET_FILES = ("tls.key", "sealed-secrets-key.yaml")


@pytest.fixture
def target(vault_env: FakeVault) -> tuple[str, str]:
    """(vault:MOUNT/PATH, PATH): a fresh escrow path on the session's Vault."""
    path = f"sealer/escrow/t-{uuid.uuid4().hex[:12]}"
    return f"vault:secret/{path}", path


def keypair_cmd(cwd: Path, *args: str) -> Result:
    return sealer(cwd, "keypair", "--bits", "2048", *args)


def json_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def fingerprint_of(folder: Path) -> str:
    return certs.fingerprint(certs.load_certificate(folder / "tls.crt"))


def pem_body(folder: Path) -> str:
    """A line from the middle of the private key: what must never show in any output."""
    return (folder / "tls.key").read_text().splitlines()[5]


def assert_no_private_key(text: str, *folders: Path) -> None:
    assert "PRIVATE KEY" not in text
    for folder in folders:
        assert pem_body(folder) not in text


def test_backup_of_a_fresh_keypair(tmp_path: Path, vault_env: FakeVault, target: tuple[str, str]) -> None:
    out = tmp_path / "controller"
    data = json_of(keypair_cmd(tmp_path, "--out", str(out), "--backup", target[0], "-o", "json"))
    fp = fingerprint_of(out)
    assert (data["backup"], data["fingerprint"], data["backup_unchanged"]) == (target[0], fp, False)
    assert data["key"] == str(out / "tls.key") and data["cert"] == str(out / "tls.crt")
    for name in SECRET_FILES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    stored = vault_env.read_direct("secret", target[1])
    assert stored and stored["format"] == escrow.FORMAT and stored["fingerprint"] == fp
    assert stored["tls.key"] == (out / "tls.key").read_text()
    assert_no_private_key(json.dumps(data), out)
    assert vault_env.token not in json.dumps(data)


def test_backup_of_the_keypair_already_in_the_folder(
    tmp_path: Path, keypair_2048_dir: Path, vault_env: FakeVault, target: tuple[str, str]
) -> None:
    before = {p.name: p.read_bytes() for p in keypair_2048_dir.iterdir()}
    result = keypair_cmd(tmp_path, "--out", str(keypair_2048_dir), "--backup", target[0])
    assert result.exit_code == 0, result.stderr
    fp = fingerprint_of(keypair_2048_dir)
    assert result.stdout.splitlines() == [
        f"backup: {target[0]}",
        f"fingerprint: {fp}",
        "backup_unchanged: False",
    ]
    assert {p.name: p.read_bytes() for p in keypair_2048_dir.iterdir()} == before  # nothing regenerated
    assert vault_env.read_direct("secret", target[1])["fingerprint"] == fp  # type: ignore[index]
    again = json_of(
        keypair_cmd(tmp_path, "--out", str(keypair_2048_dir), "--backup", target[0], "-o", "json")
    )
    assert again == {"backup": target[0], "fingerprint": fp, "backup_unchanged": True}
    assert_no_private_key(result.stdout, keypair_2048_dir)


def test_backup_of_a_folder_holding_only_the_key_secret(
    tmp_path: Path, keypair_2048_dir: Path, vault_env: FakeVault, target: tuple[str, str]
) -> None:
    """The Secret `kubectl get secret -o yaml` gives back is a keypair too: escrow it, make none."""
    folder = tmp_path / "from-cluster"
    folder.mkdir()
    (folder / "sealed-secrets-key.yaml").write_bytes(
        (keypair_2048_dir / "sealed-secrets-key.yaml").read_bytes()
    )
    data = json_of(keypair_cmd(tmp_path, "--out", str(folder), "--backup", target[0], "-o", "json"))
    assert data["fingerprint"] == fingerprint_of(keypair_2048_dir)
    assert sorted(p.name for p in folder.iterdir()) == ["sealed-secrets-key.yaml"]


def test_a_different_backup_is_kept_unless_forced(
    tmp_path: Path, keypair_2048_dir: Path, vault_env: FakeVault, target: tuple[str, str]
) -> None:
    json_of(keypair_cmd(tmp_path, "--out", str(keypair_2048_dir), "--backup", target[0], "-o", "json"))
    kept = fingerprint_of(keypair_2048_dir)
    other = tmp_path / "other"
    line = one_line_error(keypair_cmd(tmp_path, "--out", str(other), "--backup", target[0]), 4)  # partly done
    assert f"{target[0]} already holds a backup (certificate {kept[:16]}...); pass --force" in line
    assert vault_env.read_direct("secret", target[1])["fingerprint"] == kept  # type: ignore[index]
    assert (other / "tls.key").exists()  # the new keypair stays in its folder, not escrowed yet

    forced = json_of(
        keypair_cmd(tmp_path, "--out", str(other), "--backup", target[0], "--force", "-o", "json")
    )
    assert forced["fingerprint"] == fingerprint_of(other) != kept and forced["backup_unchanged"] is False
    assert vault_env.read_direct("secret", target[1])["fingerprint"] == forced["fingerprint"]  # type: ignore[index]


def test_restore_gives_the_keypair_that_opens_what_the_original_sealed(
    tmp_path: Path, keypair_2048_dir: Path, vault_env: FakeVault, target: tuple[str, str]
) -> None:
    spec = SecretSpec(
        name="engine-api-key", namespace="payments", data={"apiKey": b"slr_prod_escrowed-value"}
    )
    original = CertSealer.from_certificate(certs.load_certificate(keypair_2048_dir / "tls.crt"), "tls.crt")
    sealed = sealed_secret(spec, original, Scope.STRICT)
    json_of(keypair_cmd(tmp_path, "--out", str(keypair_2048_dir), "--backup", target[0], "-o", "json"))

    out = tmp_path / "restored"
    data = json_of(sealer(tmp_path, "keypair", "--restore", target[0], "--out", str(out), "-o", "json"))
    assert data == {
        "restored_from": target[0],
        "fingerprint": fingerprint_of(keypair_2048_dir),
        "cert": str(out / "tls.crt"),
        "key": str(out / "tls.key"),
        "secret": str(out / "sealed-secrets-key.yaml"),
    }
    assert sorted(p.name for p in out.iterdir()) == ["sealed-secrets-key.yaml", "tls.crt", "tls.key"]
    for name in SECRET_FILES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
        assert unseal.unseal(sealed, unseal.load_private_keys(out / name), "sealed").data == spec.data
    assert (out / "tls.crt").read_bytes() == (keypair_2048_dir / "tls.crt").read_bytes()
    assert_no_private_key(json.dumps(data), keypair_2048_dir)
    text = sealer(tmp_path, "keypair", "--restore", target[0], "--out", str(tmp_path / "again"))
    assert text.exit_code == 0 and text.stdout.startswith(f"restored_from: {target[0]}\n")
    assert_no_private_key(text.stdout, keypair_2048_dir)


def test_restore_never_overwrites(
    tmp_path: Path, keypair_2048_dir: Path, vault_env: FakeVault, target: tuple[str, str]
) -> None:
    json_of(keypair_cmd(tmp_path, "--out", str(keypair_2048_dir), "--backup", target[0], "-o", "json"))
    out = tmp_path / "busy"
    out.mkdir()
    (out / "tls.key").write_text("someone else's key\n")
    line = one_line_error(sealer(tmp_path, "keypair", "--restore", target[0], "--out", str(out)), 2)
    assert "refusing to overwrite" in line and (out / "tls.key").read_text() == "someone else's key\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--backup", "vault:secret/a", "--restore", "vault:secret/a"],
            "--backup and --restore exclude each other",
        ),
        (["--restore", "vault:secret/escrow/never-written"], "no backup there"),
        (["--restore", "s3:bucket/key"], "expected vault:MOUNT/PATH"),
        (["--backup", "vault:secret"], "expected vault:MOUNT/PATH"),
        (["--backup", "vault:secret/../etc"], "cannot be used in a store path"),
    ],
)
def test_bad_targets_and_combinations(
    tmp_path: Path, vault_env: FakeVault, args: list[str], says: str
) -> None:
    result = sealer(tmp_path, "keypair", "--out", str(tmp_path / "k"), *args)
    assert result.exit_code == 2 and says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "k").exists()  # refused before a keypair was made or restored


def test_vault_failures_are_one_line_without_secrets(
    tmp_path: Path,
    keypair_2048_dir: Path,
    vault_env: FakeVault,
    target: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = str(keypair_2048_dir)
    vault_env.fail_next(503)
    line = one_line_error(keypair_cmd(tmp_path, "--out", folder, "--backup", target[0]), 2)
    assert "sealed or down" in line
    monkeypatch.setenv("VAULT_TOKEN", "hvs.not-the-token")
    line = one_line_error(
        sealer(tmp_path, "keypair", "--restore", target[0], "--out", str(tmp_path / "r")), 2
    )
    assert "permission denied" in line and "hvs.not-the-token" not in line and vault_env.token not in line
    monkeypatch.delenv("VAULT_TOKEN")
    assert "VAULT_TOKEN is not set" in one_line_error(
        keypair_cmd(tmp_path, "--out", folder, "--backup", target[0]), 2
    )
    assert vault_env.read_direct("secret", target[1]) is None
