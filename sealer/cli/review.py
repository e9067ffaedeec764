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
@click.option(
    "--approvals-from",
    "approvals_from",
    type=click.Choice(["codeowners", "signed-tags"]),
    multiple=True,
    help="Who approves sensitive changes: the host's code-owner review over the CODEOWNERS of "
    "BASE (or --trust-at REV), read as the host reads it (reported as needing owner approval, "
    "exit 0), or tags sealer-approval/* on HEAD signed by a key in BASE's (REV's) "
    ".sealer/approvers. Repeatable.",
)
@click.option(
    "--require-signed",
    is_flag=True,
    help="Fail every commit touching sealer's files that no key in BASE's .sealer/allowed_signers signed.",
)
@click.option(
    "--trust-at",
    "trust_at",
    metavar="REV",
    help="Read the allowed signers, approvers and CODEOWNERS at REV instead of BASE: the target "
    "branch's tip, when BASE is where the change branched off (a key or owner removed there since "
    "then counts no more).",
)
def review(
    base: str | None,
    head: str | None,
    output: str,
    post: bool,
    approvals_from: tuple[str, ...],
    require_signed: bool,
    trust_at: str | None,
) -> int:
    """Explain every change to sealed data between BASE and HEAD, without any private key.

    BASE defaults to the merge-base of HEAD with main (else master, else origin/HEAD), HEAD to
    HEAD. Every file sealer manages must be what sealer writes from HEAD's ledger and settings,
    and every commit's ledger a legal successor of its parent's. Exit 1 when something must not
    be approved: a hand-edited ciphertext or ledger, a revoked key brought back, a derived field
    out of step, a plaintext secret, a symlinked managed file, and sensitive changes (store,
    environments, targets, pins, periods, policy, allow comments, baselines, gate files) not
    approved through --approvals-from; and when BASE..HEAD holds no commit (nothing reviewed).
    """
    from sealer import config
    from sealer.forge import branch_under_review, ci_branches, ci_default_branch, detect
    from sealer.review import Options, to_json, to_markdown, to_text
    from sealer.review import review as run_review

    forge = detect() if post else None  # a missing token is said before the review runs
    root = config.find_root()
    report = run_review(
        root,
        base,
        head,
        Options(
            approvals_from,
            require_signed,
            trust_at=trust_at,
            ci_branches=ci_branches(),
            ci_default=ci_default_branch(),
        ),
    )
    if output == "json":
        click.echo(to_json(report))
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
