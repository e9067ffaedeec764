"""`sealer keygen` and `sealer keypair`."""

from __future__ import annotations

from pathlib import Path

import click

from sealer.cli.common import emit, output_option


@click.command()
@click.option("--env", "env", required=True, help="Environment tag carried in the key (dev, staging, …).")
@output_option
def keygen(env: str, output: str) -> int:
    """Print a new API key for ENV on stdout (nothing is written to disk)."""
    from sealer import apikey

    key = apikey.generate(env)
    fp = apikey.fingerprint(key)
    emit({"env": env, "key": key, "fingerprint": fp, "key_id": apikey.key_id(fp)}, output, key)
    return 0


@click.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder to write into.")
@click.option("--days", default=3650, show_default=True, help="Certificate validity in days.")
@click.option("--bits", default=4096, show_default=True, help="RSA key size.")
@click.option(
    "--controller-namespace",
    default="kube-system",
    show_default=True,
    help="Namespace of the controller that adopts the key Secret.",
)
@click.option(
    "--backup",
    "backup_to",
    metavar="vault:MOUNT/PATH",
    help="Escrow the keypair in Vault KV v2 (the one in --out if there is one, else a new one).",
)
@click.option(
    "--restore",
    "restore_from",
    metavar="vault:MOUNT/PATH",
    help="Write the keypair escrowed there into --out instead of making one.",
)
@click.option("--force", is_flag=True, help="With --backup: replace a different keypair escrowed there.")
@output_option
def keypair(
    out: str,
    days: int,
    bits: int,
    controller_namespace: str,
    backup_to: str | None,
    restore_from: str | None,
    force: bool,
    output: str,
) -> int:
    """Make a controller keypair: tls.crt, tls.key (0600) and the key Secret to apply.

    Disaster recovery: --backup escrows the private key in Vault (VAULT_ADDR, VAULT_TOKEN),
    --restore brings it back.
    """
    from sealer import certs, escrow, extras
    from sealer import keypair as kp

    folder = Path(out)
    data: dict[str, object] = {}
    if backup_to and restore_from:
        raise click.UsageError("--backup and --restore exclude each other")
    if restore_from:
        restored = escrow.restore(restore_from, folder, namespace=controller_namespace)
        data.update(restored_from=restored.target, fingerprint=restored.fingerprint)
        data.update({k: str(v) for k, v in restored.paths.items()})
        emit(data, output, "\n".join(f"{k}: {v}" for k, v in data.items()))
        return 0
    if backup_to:
        escrow.parse_target(backup_to)  # a bad target fails before a keypair is made
        extras.require("vault-escrow")  # …and so does a missing client library
    held = any((folder / name).exists() for name in ("tls.key", "sealed-secrets-key.yaml"))
    if not (backup_to and held):  # else escrow the keypair already there
        pair = kp.generate(bits=bits, days=days)
        paths = kp.write(pair, folder, controller_namespace)
        data.update({k: str(v) for k, v in paths.items()})
        data.update(certs.describe(pair.cert, str(paths["cert"])).as_dict())
    if backup_to:
        saved = escrow.backup_after_write(folder, backup_to, force=force, written=not held)
        data.update(backup=saved.target, fingerprint=saved.fingerprint, backup_unchanged=saved.unchanged)
    emit(data, output, "\n".join(f"{k}: {v}" for k, v in data.items()))
    return 0


COMMANDS = [keygen, keypair]
