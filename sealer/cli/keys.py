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
@click.option("--controller-namespace", default="kube-system", show_default=True,
              help="Namespace of the controller that adopts the key Secret.")
@output_option
def keypair(out: str, days: int, bits: int, controller_namespace: str, output: str) -> int:
    """Make a controller keypair: tls.crt, tls.key (0600) and the key Secret to apply."""
    from sealer import certs
    from sealer import keypair as kp

    pair = kp.generate(bits=bits, days=days)
    paths = kp.write(pair, Path(out), controller_namespace)
    info = certs.describe(pair.cert, str(paths["cert"]))
    data = {**{k: str(v) for k, v in paths.items()}, **info.as_dict()}
    emit(data, output, "\n".join(f"{k}: {v}" for k, v in data.items()))
    return 0


COMMANDS = [keygen, keypair]
