"""Options and output helpers shared by the command modules."""

from __future__ import annotations

import sys
from typing import Any

import click


def output_choice(choices: list[str], help: str, default: str | None = None, dest: str = "output") -> Any:
    """The output-format option, spelled the same on every command: `-o/--output`, with
    `--format` accepted too."""
    return click.option(
        "--output",
        "-o",
        "--format",
        dest,
        type=click.Choice(choices),
        default=default or choices[0],
        show_default=True,
        help=help,
    )


output_option = output_choice(["text", "json"], "Output format; json is for pipelines.")


def emit(data: Any, output: str, text: str) -> None:
    """Print `data` as JSON, or `text` for people."""
    if output == "json":
        import json

        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        from sealer.terminal import inert

        click.echo(inert(text))


def read_input(path: str) -> bytes:
    """The bytes of `path`, or of stdin for `-`."""
    from sealer import repofiles

    if path == "-":
        return sys.stdin.buffer.read()
    return repofiles.read_input(path, "input file", user_path=True)


def complete_envs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion: the environment names in the nearest sealer.yaml (none when unreadable;
    completion must never fail or print)."""
    from click.shell_completion import CompletionItem

    from sealer import config, layout, repofiles
    from sealer.errors import SealerError

    try:
        docs = repofiles.load_yaml(layout.config_path(config.find_root()))
    except (SealerError, OSError, ValueError):
        return []
    envs = docs[0].get("environments") if docs and isinstance(docs[0], dict) else None
    names = [str(n) for n in envs] if isinstance(envs, dict) else []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


env_argument = click.argument("env", shell_complete=complete_envs)
envs_argument = click.argument("envs", nargs=-1, shell_complete=complete_envs)
