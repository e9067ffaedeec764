"""Options and output helpers shared by the command modules."""

from __future__ import annotations

import sys
from typing import Any

import click

output_option = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is for pipelines.",
)


def emit(data: Any, output: str, text: str) -> None:
    """Print `data` as JSON, or `text` for people."""
    if output == "json":
        import json

        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text)


def read_input(path: str) -> bytes:
    """The bytes of `path`, or of stdin for `-`."""
    from sealer import repofiles

    if path == "-":
        return sys.stdin.buffer.read()
    return repofiles.read_input(path, "input file", user_path=True)
