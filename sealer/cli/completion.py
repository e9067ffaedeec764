"""`sealer completion bash|zsh|fish`: the shell's completion script (click's own support)."""

from __future__ import annotations

import click

SHELLS = ["bash", "zsh", "fish"]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> int:
    """Print SHELL's completion script for sealer: commands, options and environment names.

    \b
    bash: eval "$(sealer completion bash)"      (in ~/.bashrc)
    zsh:  eval "$(sealer completion zsh)"       (in ~/.zshrc)
    fish: sealer completion fish > ~/.config/fish/completions/sealer.fish
    """
    from click.shell_completion import get_completion_class

    from sealer.cli import cli

    found = get_completion_class(shell)
    assert found is not None  # every name in SHELLS is one click supports
    click.echo(found(cli, {}, "sealer", "_SEALER_COMPLETE").source())
    return 0


COMMANDS = [completion]
