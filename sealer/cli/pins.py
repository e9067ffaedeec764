"""`sealer cert add|status|fetch`: certificates pinned per environment."""

from __future__ import annotations

import click

from sealer.cli.certs import cert
from sealer.cli.common import emit, env_argument, envs_argument, output_option


@cert.command("add")
@env_argument
@click.option(
    "--file", "file", required=True, type=click.Path(dir_okay=False), help="The controller certificate (PEM)."
)
@click.option(
    "--cluster", help="Cluster name, when the environment has several [default: the environment's name]."
)
@output_option
def add(env: str, file: str, cluster: str | None, output: str) -> int:
    """Pin a controller certificate for ENV (copied under certs/)."""
    from sealer import cert_pins, config, repofiles

    result = cert_pins.pin(config.find_root(), env, repofiles.read_input(file, "certificate"), file, cluster)
    text = (
        f"pinned {result.fingerprint} for {result.env}/{result.cluster}"
        if result.changed
        else f"{result.env}/{result.cluster} already pins {result.fingerprint}"
    )
    emit(vars(result), output, text)
    return 0


@cert.command("status")
@envs_argument
@output_option
def status(envs: tuple[str, ...], output: str) -> int:
    """Each pin's expiry, and whether the sealed entries use it."""
    from sealer import cert_pins, config

    rows = cert_pins.status(config.load(), envs)
    text = (
        "\n".join(
            f"{r['env']}/{r['cluster']}: {r['fingerprint'][:16]}… expires {r['expires'][:10]} "
            f"({r['days_left']} days); sealed with pin: {', '.join(r['sealed_with_pin']) or '-'}; "
            f"stale: {', '.join(r['stale']) or '-'}; "
            f"missing: {', '.join(r['missing']) or '-'}"
            for r in rows
        )
        or "no pinned certificates"
    )
    emit(rows, output, text)
    return 1 if any(r["stale"] or r["other"] or not r["file_matches_pin"] for r in rows) else 0


@cert.command("fetch")
@env_argument
@click.option("--kubeconfig", help="Kubeconfig file [default: $KUBECONFIG or ~/.kube/config].")
@click.option("--context", help="Kubeconfig context.")
@click.option("--controller-namespace", default="kube-system", show_default=True)
@click.option("--controller-name", default="sealed-secrets-controller", show_default=True)
@click.option("--cluster", help="Cluster name within ENV [default: the environment's name].")
@click.option(
    "--accept", is_flag=True, help="Pin the fetched certificate when it differs from the pinned one."
)
@output_option
def fetch(
    env: str,
    kubeconfig: str | None,
    context: str | None,
    controller_namespace: str,
    controller_name: str,
    cluster: str | None,
    accept: bool,
    output: str,
) -> int:
    """Read the controller's certificate from the cluster and compare it with ENV's pin."""
    from sealer import cert_pins, config, kube

    root = config.find_root()
    config.load(root).env(env)  # an unknown environment fails before the cluster is asked
    pem = kube.fetch_controller_cert(kubeconfig, context, controller_namespace, controller_name)
    result = cert_pins.compare_fetched(root, env, pem, cluster, accept)
    data = {k: v for k, v in vars(result).items() if k != "refused"}
    where = f"{result.env}/{result.cluster}"
    if result.refused:
        emit(
            data,
            output,
            f"{where}: the cluster serves {result.fetched}, but {result.pinned} is pinned; "
            "re-run with --accept to pin it (entries sealed with the old one become stale)",
        )
        return 1
    matches = " (matches the cluster)" if result.pinned == result.fetched else ""
    emit(data, output, f"{where}: pinned certificate {result.fetched}{matches}")
    return 0


COMMANDS: list[click.Command] = []  # the commands above attach to the `cert` group
