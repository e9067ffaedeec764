"""`sealer cert add|remove|status|fetch`: the set of controller certificates pinned per cluster."""

from __future__ import annotations

import click

from sealer.cli.certs import cert
from sealer.cli.common import emit, env_argument, envs_argument, output_option

new_cluster_option = click.option(
    "--new-cluster",
    is_flag=True,
    help="--cluster names a cluster to add, though its name is close to one ENV has (a typo is refused).",
)


@cert.command("add")
@env_argument
@click.option(
    "--file", "file", required=True, type=click.Path(dir_okay=False), help="The controller certificate (PEM)."
)
@click.option(
    "--cluster", help="Cluster name, when the environment has several [default: the environment's name]."
)
@click.option(
    "--keep-sealing",
    is_flag=True,
    help="Add the certificate to the set but keep sealing with the current one (sealWith).",
)
@new_cluster_option
@output_option
def add(env: str, file: str, cluster: str | None, keep_sealing: bool, new_cluster: bool, output: str) -> int:
    """Add a controller certificate to ENV's set (copied under certs/); it seals from now on.

    Older certificates stay in the set (the controller keeps its old keys) until `cert remove`.
    """
    from sealer import cert_pins, config, repofiles
    from sealer.policy import runner

    pem = repofiles.read_input(file, "certificate", user_path=True)
    root = config.find_root()
    result = cert_pins.pin(
        root,
        env,
        pem,
        file,
        cluster,
        keep_sealing=keep_sealing,
        new_cluster=new_cluster,
        vet=runner.refuse_shared_cert,
    )
    role = "seals with it" if result.sealing else "keeps sealing with the certificate it had"
    text = (
        f"{result.env}/{result.cluster} already holds {result.fingerprint}"
        + (f": restored its copy {result.restored}" if result.restored else "")
        if not result.changed or result.restored
        else f"pinned {result.fingerprint} for {result.env}/{result.cluster}"
        if result.sealing and result.previous is None
        else f"added {result.fingerprint} to {result.env}/{result.cluster}, which {role}"
    )
    emit(vars(result), output, text)
    return 0


@cert.command("remove")
@click.argument("env")
@click.argument("fingerprint")
@click.option("--cluster", help="Cluster name within ENV [default: the environment's name].")
@output_option
def remove(env: str, fingerprint: str, cluster: str | None, output: str) -> int:
    """Remove the certificate FINGERPRINT (or a prefix of 8+ hex digits) from ENV's set.

    Entries still sealed with it become errors of `sealer check`: rotate them first.
    """
    from sealer import cert_pins, config

    result = cert_pins.remove(config.find_root(), env, fingerprint, cluster)
    emit(vars(result), output, f"removed {result.fingerprint} from {result.env}/{result.cluster}")
    return 0


@cert.command("status")
@envs_argument
@output_option
def status(envs: tuple[str, ...], output: str) -> int:
    """Each pin's expiry, and whether the sealed entries use it.

    Exit 1 when an entry is stale or sealed with a certificate outside the set, or a certificate
    file does not hold its pin."""
    from sealer import cert_pins, config
    from sealer.terminal import one_line

    rows = cert_pins.status(config.load(), envs)
    # each line inert: a cert path in sealer.yaml is anyone's text, a newline in it forged a line
    text = (
        "\n".join(
            one_line(f"{r['env']}: no certificate pinned (sealer cert add {r['env']} --file tls.crt)")
            if not r["pinned"]
            else one_line(
                f"{r['env']}/{r['cluster']}: {r['fingerprint'][:16]}… expires {r['expires'][:10]} "
                f"({r['days_left']} days); sealed with pin: {', '.join(r['sealed_with_pin']) or '-'}; "
                f"sealed with an older certificate: {', '.join(r['sealed_with_older']) or '-'}; "
                f"stale: {', '.join(r['stale']) or '-'}; "
                f"missing: {', '.join(r['missing']) or '-'}"
            )
            + "".join(
                "\n"
                + one_line(
                    f"  {'*' if c['sealing'] else ' '} {c['fingerprint'][:16]}… {c['file']}: "
                    f"{c['age_days']} days old, expires {(c['expires'] or '?')[:10]}; "
                    f"sealed: {', '.join(c['sealed']) or '-'}"
                )
                for c in r["certs"]
            )
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
    "--accept", is_flag=True, help="Add the controller's new keys to the set and seal with the served one."
)
@new_cluster_option
@output_option
def fetch(
    env: str,
    kubeconfig: str | None,
    context: str | None,
    controller_namespace: str,
    controller_name: str,
    cluster: str | None,
    accept: bool,
    new_cluster: bool,
    output: str,
) -> int:
    """Read the controller's active keys and the certificate it seals with; compare with ENV's set.

    The certificate the controller serves becomes `sealWith`; the set gains every active key
    (with --accept once the set exists). Keys the controller dropped are only reported. Exit 1
    when the controller holds certificates the set lacks and --accept was not given.
    """
    from sealer import cert_pins, config, kube
    from sealer.policy import runner

    def controller() -> tuple[bytes, tuple[bytes, ...]]:
        pem = kube.fetch_controller_cert(kubeconfig, context, controller_namespace, controller_name)
        return pem, tuple(k.pem for k in kube.list_controller_keys(kubeconfig, context, controller_namespace))

    # An unknown environment, or a cluster name a typo away, fails before the cluster is asked.
    root = config.find_root()
    vet = runner.refuse_shared_cert
    result = cert_pins.compare_fetched(root, env, controller, cluster, accept, vet, new_cluster)
    data = {k: v for k, v in vars(result).items() if k != "refused"}
    where = f"{result.env}/{result.cluster}"
    retired = (
        f"; no longer held by the controller: {', '.join(f[:16] + '…' for f in result.retired)} "
        "(`sealer cert remove` once nothing is sealed with them)"
        if result.retired
        else ""
    )
    if result.refused:
        emit(
            data,
            output,
            f"{where}: the controller seals with {result.fetched} and holds {len(result.new)} certificate(s) "
            f"not in the set, which seals with {result.pinned}; re-run with --accept to add them{retired}",
        )
        return 1
    added = f" (added {len(result.added)})" if result.added else " (the set already holds every key)"
    emit(data, output, f"{where}: seals with {result.fetched}{added}{retired}")
    return 0


COMMANDS: list[click.Command] = []  # the commands above attach to the `cert` group
