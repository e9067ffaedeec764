"""`sealer review` (explain sealed-data changes between revisions) and `sealer diff-driver`."""

from __future__ import annotations

import click

from sealer.cli.common import output_choice


@click.command()
@click.argument("base", required=False)
@click.argument("head", required=False)
@output_choice(
    ["text", "markdown", "json"], "text for people, markdown for a pull-request comment, json for pipelines."
)
@click.option(
    "--post",
    is_flag=True,
    help="Also post the markdown report on this branch's pull/merge request (one comment, kept up to date).",
)
def review(base: str | None, head: str | None, output: str, post: bool) -> int:
    """Explain every change to sealed data between BASE and HEAD, without any private key.

    BASE defaults to the merge-base of HEAD with main (else master, else origin/HEAD), HEAD to
    HEAD. Exit 1 when something must not be approved: a hand-edited ciphertext, an entry sealed
    with a certificate that is not pinned, one key in two places, a plaintext value, a scope,
    namespace, name or pin change, values files that disagree with the sealed files, a
    SealedSecret template edited, a key record edited in the ledger.
    """
    import json

    from sealer import config
    from sealer.forge import branch_under_review, detect
    from sealer.review import review as run_review
    from sealer.review import to_markdown, to_text

    forge = detect() if post else None  # a missing token is said before the review runs
    root = config.find_root()
    report = run_review(root, base, head)
    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        click.echo(to_markdown(report) if output == "markdown" else to_text(report), nl=output == "text")
    if forge is not None:
        from sealer.forge.pulls import post_review

        posted = post_review(forge, branch_under_review(root), to_markdown(report))
        click.echo(f"review comment {posted.action} on {posted.url}", err=True)
    return report.exit_code


@click.command("diff-driver")
@click.argument("file", type=click.Path(dir_okay=False))
def diff_driver(file: str) -> int:
    """Git textconv: FILE with sealed values shown as key ids and digests instead of base64.

    Set up by `sealer init` (.gitattributes `diff=sealer`, git config diff.sealer.textconv).
    """
    import sys

    from sealer.diffdriver import convert_file

    sys.stdout.buffer.write(convert_file(file))
    sys.stdout.buffer.flush()
    return 0


COMMANDS = [review, diff_driver]
