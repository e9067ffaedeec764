"""`sealer ci init github|gitlab|gitea|forgejo`: write the CI workflows and CODEOWNERS of a sealer repo."""

from __future__ import annotations

from pathlib import Path

import click

from sealer.cli.common import emit, output_option


@click.group()
def ci() -> None:
    """CI pipelines for a sealer repo."""


@ci.command("init")
@click.argument("kind", type=click.Choice(["github", "gitlab", "gitea", "forgejo"]))
@click.option(
    "--owner",
    "owners",
    multiple=True,
    required=True,
    help="Code owner of sealer's files (@org/team, @user; GitHub and GitLab: an e-mail too; repeatable).",
)
@click.option("--version", "version", help="Install this sealer release in CI, from your package index.")
@click.option(
    "--git",
    "git_pin",
    metavar="URL@COMMIT",
    help="Install sealer from this commit [default: the https repository and commit this sealer "
    "was installed from].",
)
@click.option(
    "--schedule", default="23 4 * * *", show_default=True, help="When to rotate due keys (cron, UTC)."
)
@click.option("--python", default="3.12", show_default=True, help="Python version the jobs use.")
@click.option(
    "--image",
    metavar="NAME@sha256:DIGEST",
    help="GitLab: the jobs' image, pinned by digest [default: python:VERSION, by tag].",
)
@click.option(
    "--auth",
    type=click.Choice(["app", "token"]),
    help="GitHub: a GitHub App's token (the default), or a fine-grained token in secrets.SEALER_TOKEN. "
    "Gitea, Forgejo: token only (a bot user's, in secrets.SEALER_TOKEN).",
)
@click.option(
    "--policy-file", "policy_files", multiple=True, help="Another file for CODEOWNERS (repeatable)."
)
@click.option(
    "--signing-key",
    "signing_key",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.pub",
    help="The rotate job's SSH public key: print its exact .sealer/allowed_signers line.",
)
@click.option("--force", is_flag=True, help="Replace files that exist.")
@output_option
def init(
    kind: str,
    owners: tuple[str, ...],
    version: str | None,
    git_pin: str | None,
    schedule: str,
    python: str,
    image: str | None,
    auth: str | None,
    policy_files: tuple[str, ...],
    signing_key: Path | None,
    force: bool,
    output: str,
) -> int:
    """Write the rotation schedule, the pull-request gate and CODEOWNERS for KIND (github, gitlab,
    gitea, forgejo)."""
    from sealer import config
    from sealer.forge.workflows import Options, read_public_key, reading_includes, setup, write

    if version and git_pin:
        raise click.UsageError("--version and --git exclude each other")
    public = read_public_key(signing_key) if signing_key else None
    auth = auth or ("app" if kind == "github" else "token")
    root = config.find_root()
    options = Options(
        kind, owners, version, git_pin, schedule, python, auth, policy_files, force, public, image
    )
    options = reading_includes(root, options)
    written = write(root, options)
    todo = setup(options)
    text = "\n".join([*(f"wrote {p}" for p in written), todo.text()])
    emit({"created": written, **todo.as_dict()}, output, text)
    return 0


COMMANDS = [ci]
