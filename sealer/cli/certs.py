"""`sealer cert …`: controller certificates."""

from __future__ import annotations

import click

from sealer.cli.common import emit, output_option


@click.group()
def cert() -> None:
    """Inspect and pin controller certificates."""


@cert.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@output_option
def show(file: str, output: str) -> int:
    """SHA-256 fingerprint, subject, expiry and key size of a certificate fit to seal with."""
    from sealer import certs

    parsed = certs.load_certificate(file)
    certs.sealing_key(parsed, file)  # refuse what cannot seal: non-RSA, weak, expired
    info = certs.describe(parsed, file).as_dict()
    emit(info, output, "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0


COMMANDS = [cert]
