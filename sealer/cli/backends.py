"""`sealer backend …`, `sealer keys …` and `sealer status`: the key stores."""

from __future__ import annotations

import sys
from typing import Any

import click

from sealer.cli.common import emit, env_argument, output_option
from sealer.errors import ConflictingOptions


@click.group()
def backend() -> None:
    """Choose and check an environment's key store."""


@backend.command("set")
@env_argument
@click.argument("kind")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME=VALUE",
    help="A non-secret setting: table, region, endpoint_url, mount, client_id, … (repeatable).",
)
@click.option(
    "--credential",
    "credentials",
    multiple=True,
    metavar="NAME=VALUE",
    help="Where ENV's credentials come from, never a credential: profile, role_arn, domain, "
    "token_env, client_id_env, client_secret_env, address, namespace, auth (token, jwt, approle), "
    "auth_mount, role, jwt_env, role_id_env, secret_id_env, conninfo_env, passfile_env, … "
    "(repeatable) [default: the store's global variables].",
)
@click.option("--branch", help="Commit on this new branch [default: sealer/backend-<env>-<kind>-<utc time>].")
@click.option("--no-branch", is_flag=True, help="Commit on the current branch.")
@output_option
def backend_set(
    env: str,
    kind: str,
    options: tuple[str, ...],
    credentials: tuple[str, ...],
    branch: str | None,
    no_branch: bool,
    output: str,
) -> int:
    """Move ENV's key records into the store KIND, verify them, then commit sealer.yaml naming it
    and where its credentials come from (the credentials themselves never go there). Until that
    commit the old store stays in charge: exit 2 when nothing changed, 4 when copies are left in
    the new store (run it again to finish)."""
    from sealer import config, store_admin, store_migration

    if branch and no_branch:
        raise ConflictingOptions("--branch and --no-branch exclude each other")
    parsed = store_admin.parse_options(kind, options)
    sources = store_admin.parse_credentials(kind, credentials)
    request = store_migration.MigrationRequest(env, kind, parsed, sources, branch, no_branch)
    result = store_migration.set_backend(config.find_root(), request)
    if result.commit is None:
        text = f"{env}: key store is {kind} already"
    else:
        text = (
            f"{env}: key store is now {kind} ({len(result.copied)} record(s) copied, "
            f"{len(result.present)} there already, all verified)\n"
            f"commit {result.commit[:12]} on {result.branch or 'the current branch'}"
        )
    data = result.as_dict()
    if not sources:
        del data["credentials"]
    emit(data, output, text)
    return 0


@backend.command("check")
@env_argument
@output_option
def backend_check(env: str, output: str) -> int:
    """Reach ENV's key store; exit 1 when it cannot be used."""
    from sealer import config, store_admin
    from sealer.cli import shown
    from sealer.errors import BackendError

    try:
        health = store_admin.store_for(config.load(), env).health()
    except BackendError as err:  # a store's words, shown as an error line is (a DSN libpq quotes)
        said = shown(str(err))
        line = said if said.startswith(f"{env}: ") else f"{env}: {said}"  # named once
        emit({"env": env, "ok": False, "error": said}, output, line)
        return 1
    emit({"env": env, "ok": True, "health": health}, output, f"{env}: {health}")
    return 0


@click.group()
def keys() -> None:
    """List, revoke and verify keys in an environment's key store."""


@keys.command("list")
@env_argument
@output_option
def keys_list(env: str, output: str) -> int:
    """Every key record of ENV (ids, fingerprints, status; never a key)."""
    from sealer import config, store_admin

    records = store_admin.store_for(config.load(), env).list(env)
    rows = [r.as_dict() for r in records]
    from sealer.status import PHASES

    for row in rows:
        row["phase"] = PHASES.get(row["status"], row["status"])
    from sealer.terminal import one_line

    # a ledger is anyone's text: a newline in a key id or name must not forge a row
    text = "\n".join(
        one_line(
            f"{r['key_id']}  {r['name']:<12} {r['status']:<8} created {r['created']}  "
            f"expires {r['expires'] or '-'}  sha256 {r['fingerprint'][:12]}  ({r['phase']})"
        )
        for r in rows
    )
    emit(rows, output, text or f"{env}: no keys")
    return 0


@keys.command("revoke")
@env_argument
@click.argument("key_id")
@click.option("--grace", help="Keep it valid this long first (e.g. 24h) [default: revoke now].")
@click.option(
    "--branch", help="Commit on this new branch [default: sealer/revoke-<env>-<key id>-<utc time>]."
)
@click.option("--no-branch", is_flag=True, help="Commit on the current branch.")
@click.option("--push", "push", metavar="REMOTE", help="Push the branch to this remote after committing.")
@output_option
def keys_revoke(
    env: str,
    key_id: str,
    grace: str | None,
    branch: str | None,
    no_branch: bool,
    push: str | None,
    output: str,
) -> int:
    """Revoke KEY_ID of ENV now (or after --grace): a ledger commit, like a rotation; an external
    store is revoked right after the commit. Exit 4: committed, but the store (or push) is left."""
    from sealer import config
    from sealer.durations import parse_duration
    from sealer.errors import ConflictingOptions, PartlyDone
    from sealer.records import GRACE, utcnow
    from sealer.rotation import phases

    if branch and no_branch:
        raise ConflictingOptions("--branch and --no-branch exclude each other")
    at = utcnow() + parse_duration(grace) if grace else None
    request = phases.RevokeRequest(env, key_id, at, branch, no_branch, push)
    cfg = config.load()
    record, result = phases.revoke(cfg, request)
    alone = phases.no_active_key_left(cfg, env, record)
    warning = f"warning: {alone}" if alone else ""
    if warning and not result.left:  # else the partly-done line says it: one line on stderr
        from sealer.cli import shown

        click.echo(f"sealer: {shown(warning)}", err=True)
    data = {
        **record.as_dict(),
        "branch": result.branch,
        "commit": result.commit,
        "pr_body_file": result.pr_body_file,
        "left": result.left,
        "no_active_key": alone is not None,
    }
    until = f" until {record.as_dict()['revoke_at']}" if record.status == GRACE else ""
    text = f"{env}: {key_id} is {record.status}{until}"
    if result.commit:
        text += f"\ncommit {result.commit[:12]} on {result.branch or 'the current branch'}"
    if result.rerun:  # found, not made: an earlier run's commit
        text += "\nalready revoked there by an earlier run: nothing new committed; merge that branch"
    emit({**data, "already_handled": result.rerun is not None}, output, text)
    if result.left:
        raise PartlyDone(phases.partly_done(result) + (f"; {warning}" if warning else ""))
    return 0


@keys.command("compromised")
@env_argument
@click.argument("key_id")
@click.option(
    "--branch",
    help="Commit on this new branch [default: sealer/revoke-<env>-<key id>-compromised-<utc time>].",
)
@click.option("--no-branch", is_flag=True, help="Commit on the current branch.")
@click.option("--push", "push", metavar="REMOTE", help="Push the branch to this remote after committing.")
@output_option
def keys_compromised(
    env: str, key_id: str, branch: str | None, no_branch: bool, push: str | None, output: str
) -> int:
    """The incident: KEY_ID of ENV leaked. One commit revokes it and rotates its entry with no
    grace; the key store revokes it right after the commit; then the report says what `sealer
    scan --history` finds and which commits touched ENV's files.

    The cluster keeps serving the old key until the new SealedSecret is deployed. Exit 1 when
    the history holds plaintext secrets (or could not be searched), 4 when committed but the
    store (or push) is left: run it again to finish."""
    from sealer import config, incident
    from sealer.errors import PartlyDone
    from sealer.rotation import phases

    if branch and no_branch:
        raise ConflictingOptions("--branch and --no-branch exclude each other")
    report = incident.handle(config.load(), phases.CompromisedRequest(env, key_id, branch, no_branch, push))
    emit(report.as_dict(), output, incident.text(report))
    if report.result.rotation.left:
        raise PartlyDone(phases.partly_done(report.result.rotation))
    leaks = report.leaks
    return 1 if leaks.findings or leaks.unexamined or leaks.error else 0


@keys.command("verify")
@env_argument
@click.option(
    "--registry", "registry_file", help="Check against this key registry file (manifest or registry.json)."
)
@click.option("--live", is_flag=True, help="Check against the key registry in the cluster.")
@click.option("--state", "state_file", help="The last-seen-serial file (needed with --registry or --live).")
@click.option("--init-state", is_flag=True, help="Create the --state file when it does not exist yet.")
@click.option("--kubeconfig", help="With --live: kubeconfig file [default: $KUBECONFIG or ~/.kube/config].")
@click.option("--context", help="With --live: kubeconfig context.")
@output_option
def keys_verify(
    env: str,
    registry_file: str | None,
    live: bool,
    state_file: str | None,
    init_state: bool,
    kubeconfig: str | None,
    context: str | None,
    output: str,
) -> int:
    """Read a key on stdin; print valid / revoked / expired / unknown / malformed (exit 0 only when valid).

    Exit 1 for any other answer. With --registry or --live, decide as a verifier in the cluster
    does, by the key registry alone (stale-serial: the registry is older than one seen before)."""
    from sealer import config, store_admin

    if not (registry_file or live) and (state_file or init_state or kubeconfig or context):
        raise ConflictingOptions(
            "--state, --init-state, --kubeconfig and --context need --registry or --live"
        )
    if registry_file and live:
        raise ConflictingOptions("give --registry FILE or --live, not both")
    if registry_file and (kubeconfig or context):
        raise ConflictingOptions("--kubeconfig and --context go with --live, not --registry")
    if (registry_file or live) and not state_file:
        raise ConflictingOptions("--registry and --live need --state FILE (the last-seen serial)")
    presented = sys.stdin.read()  # only once the options hold together
    if not (registry_file or live):
        verdict = store_admin.verify(config.load(), env, presented)
        emit({"env": env, "result": verdict}, output, verdict)
        return 0 if verdict == "valid" else 1
    report = _verify_by_registry(
        env, registry_file, live, state_file, init_state, kubeconfig, context, presented
    )
    emit(report, output, f"{report['result']} (registry serial {report['serial']})")
    return 0 if report["result"] == "valid" else 1


def _verify_by_registry(
    env: str,
    registry_file: str | None,
    live: bool,
    state_file: str | None,
    init_state: bool,
    kubeconfig: str | None,
    context: str | None,
    presented: str,
) -> dict[str, Any]:
    from pathlib import Path

    from sealer import config, registry_delivery

    assert state_file, "keys_verify checked the options"
    request = registry_delivery.VerifyRequest(
        env, Path(state_file), Path(registry_file) if registry_file else None, kubeconfig, context, init_state
    )
    return registry_delivery.verify_key(config.load() if live else None, request, presented)


@click.command()
@env_argument
@click.option("--kubeconfig", help="Kubeconfig file [default: $KUBECONFIG or ~/.kube/config].")
@click.option("--context", help="Kubeconfig context.")
@output_option
def status(env: str, kubeconfig: str | None, context: str | None, output: str) -> int:
    """Compare the key the cluster serves (live Secret, fingerprints only), its key registry and
    the key store with the ledger: in sync, sync pending or drift, each drift with the command
    that reconciles it (exit 1 unless in sync; a store that cannot be read is drift). With
    `clusterContexts` in sealer.yaml (and no --context), every cluster is read and reported; one
    that cannot be read, or serves another key, is not in sync."""
    from sealer import config, status
    from sealer.terminal import one_line

    report = status.compare(config.load(), env, kubeconfig, context)
    lines = [
        f"{r['entry']}: {r['state']} (cluster {r['live_key_id'] or '-'}, ledger {r['ledger_key_id'] or '-'}; "
        f"{r['phase']})"
        for r in report["entries"]
    ]
    lines += [_cluster_line(view) for view in report.get("clusters", [])]  # #17
    for row in report["registries"]:  # #16
        live = "-" if row["live_serial"] is None else row["live_serial"]
        serials = f"cluster serial {live}, ledger {row['ledger_serial']}"
        lines.append(
            f"key registry {row['cluster']}: {row['state']} ({serials})"
            + (f": {row['why']}" if row["why"] else "")
        )
    for row in report["drift"]:  # #17
        lines.append(f"drift {row['kind']} {row['key_id'] or env}: {row['message']}; fix: {row['fix']}")
    # a ledger's key ids, a store's records and a cluster's words are anyone's text: one line each
    emit(report, output, "\n".join(one_line(line) for line in lines))
    return 0 if report["in_sync"] else 1


def _cluster_line(view: dict[str, Any]) -> str:
    """#17: one cluster of several: in sync, what it lags on, or why it could not be read."""
    where = f"cluster {view['cluster']} (context {view['context'] or '-'})"
    if not view["reachable"]:
        return f"{where}: unreachable: {view['error']}"
    rows = view["entries"] + view["registries"]
    behind = [f"{r.get('entry', 'key registry')}: {r['state']}" for r in rows if r["state"] != "in sync"]
    return f"{where}: " + ("; ".join(behind) or "in sync")


COMMANDS = [backend, keys, status]
