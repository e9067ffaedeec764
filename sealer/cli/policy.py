"""`sealer check` and `sealer audit`: the key policy, enforced and reported.

`sealer check` is also the `sealer-check` pre-commit hook, so its text and JSON paths import
neither Jinja2 nor ruamel.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from sealer.cli.common import envs_argument, output_choice
from sealer.errors import EXIT_BAD_INPUT, EXIT_FINDINGS, ConflictingOptions

policy_option = click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    help="A policy file applied over the default policy (same shape as policies/default.yaml); "
    "a rule it gives `locked: true`, and the rules that one relies on, cannot be set in sealer.yaml.",
)


def _color() -> bool:
    """ANSI colours only on a terminal, and never with NO_COLOR set."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _policy_errors(err: Any) -> int:
    from sealer.cli import shown

    for line in err.lines:  # a key or an environment name is the policy file's, or sealer.yaml's
        click.echo(f"sealer: {shown(line)}", err=True)
    return EXIT_BAD_INPUT


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.command()
@envs_argument
@output_choice(
    ["text", "json", "markdown"], "text for people, json for pipelines, markdown for pull requests."
)
@click.option("--strict", is_flag=True, help="Fail on warnings too (e.g. a key due within 7 days).")
@click.option("--list-rules", is_flag=True, help="List every rule id and what it checks, then exit.")
@click.option(
    "--drift",
    is_flag=True,
    help="Also compare each key store with the committed ledger (reaches the stores; not for the hook).",
)
@policy_option
def check(
    envs: tuple[str, ...], output: str, strict: bool, list_rules: bool, drift: bool, policy_file: str | None
) -> int:
    """Check ENV(s) [default: all] against the key policy; exit 1 on violations.

    Each problem names its rule, the environment, what is wrong and how to fix it (a fix
    line's paths are from the repository's top: run it there). With --drift, each store's
    drift from the committed ledger is a `store-drift` error (a store that cannot be read is
    one too).
    """
    if list_rules:
        if envs:
            raise ConflictingOptions("--list-rules takes no ENV")
        if drift:
            raise ConflictingOptions("--list-rules and --drift exclude each other")
        return _list_rules(output)
    from sealer import config
    from sealer.policy import report, runner
    from sealer.policy.loader import PolicyError

    try:
        result = runner.check(config.load(), envs, policy_file, drift=drift)
    except PolicyError as err:
        return _policy_errors(err)
    if output == "json":
        click.echo(report.as_json(result, strict))
    elif output == "markdown":
        click.echo(report.markdown(result, strict), nl=False)
    else:
        click.echo(report.text(result, strict, _color()))
    return EXIT_FINDINGS if result.failed(strict) else 0


def _list_rules(output: str) -> int:
    from sealer.policy.rules import descriptions

    rules = descriptions()
    if output == "json":
        _json([{"id": rule, "description": text} for rule, text in rules.items()])
    elif output == "markdown":
        rows = "".join(f"| `{rule}` | {text} |\n" for rule, text in rules.items())
        click.echo(f"| rule | checks that |\n| --- | --- |\n{rows}", nl=False)
    else:
        width = max(map(len, rules))
        click.echo("\n".join(f"{rule:<{width}}  {text}" for rule, text in rules.items()))
    return 0


@click.command()
@envs_argument
@output_choice(
    ["table", "json", "markdown", "html"],
    "table for terminals, json for pipelines, markdown, or a self-contained html page.",
)
@policy_option
def audit(envs: tuple[str, ...], output: str, policy_file: str | None) -> int:
    """Inventory of ENV(s) [default: all]: keys, ages, due dates, certificates, last rotations.

    Reports; never fails on policy problems (that is `sealer check`).
    """
    from sealer import config
    from sealer.policy import audit_output
    from sealer.policy.audit import inventory
    from sealer.policy.loader import PolicyError

    try:
        inv = inventory(config.load(), envs, policy_file)
    except PolicyError as err:
        return _policy_errors(err)
    if output == "json":
        click.echo(audit_output.as_json(inv))
    elif output == "markdown":
        click.echo(audit_output.markdown(inv), nl=False)
    elif output == "html":
        click.echo(audit_output.html(inv), nl=False)
    else:
        click.echo(audit_output.table(inv, _color()))
    return 0


COMMANDS = [check, audit]
