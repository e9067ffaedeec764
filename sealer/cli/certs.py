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
    """SHA-256 fingerprint, subject, expiry, days left and key size of an RSA certificate.

    An expired certificate is shown too, marked expired (exit 0): sealing with it is refused."""
    import datetime as dt

    from sealer import certs, durations
    from sealer.terminal import one_line

    parsed = certs.load_certificate(file)
    described = certs.describe(parsed, file)  # refuses what can never seal: non-RSA, weak
    now = dt.datetime.now(dt.timezone.utc)
    left = durations.days_left(described.not_after - now)  # as `cert status` counts them
    info = {**described.as_dict(), "days_left": left, "expired": described.not_after < now}
    # the subject is the certificate maker's text: a newline in it must not forge a line
    lines = [one_line(f"{k}: {v}") for k, v in info.items() if k != "expired"]
    if info["expired"]:
        lines.append(f"EXPIRED {_ago(-left)}: sealer refuses to seal with it")
    emit(info, output, "\n".join(lines))
    return 0


def _ago(days: int) -> str:
    return "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"


COMMANDS = [cert]
