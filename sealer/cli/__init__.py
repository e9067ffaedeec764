"""The `sealer` command line: click code only, each command calling a core function.

Command modules import nothing heavy at the top, so `sealer --help` stays fast, and a command
imports only the modules that define it: `sealer scan` in a pre-commit hook loads one of nine.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from sealer import __version__
from sealer.errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, InterruptedInFlight, SealerError
from sealer.terminal import one_line

# Each command and the modules of sealer.cli that define it (`cert`'s subcommands live in two).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "keygen": ("keys",),
    "keypair": ("keys",),
    "cert": ("certs", "pins"),
    "seal": ("sealing",),
    "unseal": ("sealing",),
    "validate": ("sealing",),
    "init": ("repo",),
    "render": ("repo",),
    "rotate": ("repo",),
    "backend": ("backends",),
    "keys": ("backends",),
    "status": ("backends",),
    "review": ("review",),
    "diff-driver": ("review",),
    "scan": ("scan",),
    "check": ("policy",),
    "audit": ("policy",),
    "ci": ("ci",),
    "completion": ("completion",),
}


class SealerGroup(click.Group):
    """Turns what commands return and raise into exit codes, the same under `main` and when
    click runs the group itself (`CliRunner`, `python -m click`): a command's int return
    value is its exit code, a SealerError is one `sealer: …` line on stderr. Commands are
    imported when asked for (COMMAND_MODULES)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMAND_MODULES:
            return super().get_command(ctx, cmd_name)
        modules = [importlib.import_module(f"sealer.cli.{name}") for name in COMMAND_MODULES[cmd_name]]
        return next(c for m in modules for c in getattr(m, "COMMANDS", []) if c.name == cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click suggests a near name only among commands imported already: `sealer rotat` is
        answered with the nearest of them all, as `sealer keys revok` is."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            import difflib

            said = err.format_message()
            close = difflib.get_close_matches(str(args[0]), self.list_commands(ctx), n=1)
            if not close or not said.startswith("No such command") or "Did you mean" in said:
                raise
            raise click.UsageError(f"No such command {args[0]!r}. Did you mean {close[0]!r}?", ctx) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["sealer.args"] = list(args)  # for the help a command's usage error names
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:  # the group's own options; a command's are seen in invoke
            show_usage_error(err)
            ctx.exit(err.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except click.UsageError as err:
            show_usage_error(err, _command_path(ctx))
            ctx.exit(err.exit_code)
        except SealerError as err:
            click.echo(f"sealer: {shown(str(err))}", err=True)
            ctx.exit(err.exit_code)
        if isinstance(result, int) and result:
            ctx.exit(result)
        return result


@click.group(cls=SealerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sealer")
def cli() -> None:
    """Generate API keys, seal them for Bitnami Sealed Secrets, and deliver them through Git.

    Every command but completion and diff-driver takes -o/--output FORMAT (also spelled
    --format): -o json for pipelines.

    Exit codes: 0 ok, 1 findings or check failed, 2 usage or bad input (nothing changed),
    3 unexpected error, 4 partly done (something landed, e.g. a commit or a push, before a
    later step failed; the message says what and how to finish), 130 interrupted.
    """


# click >= 8.2 raises this for a bare group (`sealer`, `sealer keys`): its message is the help page.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _command_path(ctx: click.Context) -> str:
    """`sealer keys revoke` for the words the group was given: click raises an option's missing
    value without the command's context, and `sealer -h` does not document that option."""
    command: click.Command | None = ctx.command
    path = [ctx.command_path]
    for word in ctx.meta.get("sealer.args", []):
        command = command.get_command(ctx, word) if isinstance(command, click.Group) else None
        if command is None:
            break
        path.append(word)
    return " ".join(path)


def show_usage_error(err: click.UsageError, fallback: str = "sealer") -> None:
    """A usage error as one `sealer: …` line, like any other bad input (README: exit 2, one
    line), naming the help to read instead of printing the usage block."""
    if isinstance(err, _NO_ARGS_IS_HELP):
        err.show()
        return
    where = err.ctx.command_path if err.ctx else fallback
    said = " ".join(err.format_message().split())  # click lists a choice per line: one line, not \x0a
    click.echo(f"sealer: {shown(said).rstrip('.')} (see '{where} -h')", err=True)


# An error line's length: a message may quote a value of a 16 MiB file, which every token rule
# of `sealer scan` then searched for a minute (and a CI log kept whole). Every rule's cost now
# grows with the text (tests/scan/test_scan_linear.py); the cut keeps CI logs short.
MAX_SHOWN = 16 << 10


def shown(message: str) -> str:
    """An error as one line, a sealer key it holds redacted and any other credential `sealer
    scan` knows hidden by kind (`<github-token: not shown>`): a path, an argument or a
    sealer.yaml key may hold one pasted by mistake, and the line lands in CI logs. Cut to
    MAX_SHOWN first, never through a word (`terminal.cut`): a credential is hidden whole or gone."""
    from sealer.apikey import redact

    # hidden before its line breaks are \x0a (a PEM block's), redacted after (as every line is)
    return redact(one_line(_hidden(message)))


def _hidden(text: str) -> str:
    from sealer.scan.hiding import hide_credentials
    from sealer.terminal import cut

    return hide_credentials(cut(text, MAX_SHOWN))


# Any command's (a rotation names its pending keys itself, and `backend set` its copies).
_IN_FLIGHT = "check what landed (`sealer keys list ENV`), then run the same command again to finish"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; expected errors become one stderr line and an exit code."""
    try:
        result = cli.main(args=argv, prog_name="sealer", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort) as stop:
        # click turns Ctrl-C into Abort (its cause); one leaving a write under way is partly done
        left = stop if isinstance(stop, InterruptedInFlight) else stop.__cause__
        if isinstance(left, InterruptedInFlight):
            click.echo(f"sealer: {shown(str(left))}; {_IN_FLIGHT}", err=True)
            return left.exit_code
        click.echo("sealer: interrupted", err=True)
        return EXIT_INTERRUPTED
    except SealerError as err:
        click.echo(f"sealer: {shown(str(err))}", err=True)
        return err.exit_code
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`); nothing left to say
        return 1
    except Exception:  # a bug: show everything so it can be reported
        import traceback

        from sealer.apikey import redact

        # a library's message may quote a value: hidden and redacted as an error line is
        sys.stderr.write(redact(_hidden(traceback.format_exc())))
        click.echo("sealer: unexpected error (this is a bug)", err=True)
        return EXIT_UNEXPECTED
    return result if isinstance(result, int) else 0
