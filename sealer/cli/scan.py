"""`sealer scan`: the plaintext guard (pre-commit hook `sealer-scan`, and CI)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from sealer.cli.common import output_choice
from sealer.errors import ConflictingOptions

if TYPE_CHECKING:
    from sealer.scan.baseline import Entry
    from sealer.scan.files import Candidate
    from sealer.scan.scanner import Result


class _HookCommand(click.Command):
    """Under pre-commit (PRE_COMMIT set) the staged files' names follow the hook's options with
    no `--` between: a file named `-v`, `--update-baseline` or `--policy=p.yaml` would be read as
    an option and never scanned (and could turn the scan off). There an argument that names an
    existing path is that path: at worst an option meant is lost and the scan reads more."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if os.environ.get("PRE_COMMIT"):
            args = [f"./{arg}" if arg.startswith("-") and os.path.lexists(arg) else arg for arg in args]
        return super().parse_args(ctx, args)


@click.command(cls=_HookCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--staged", is_flag=True, help="Scan the staged blobs: exactly what the next commit holds.")
@click.option("--all-files", is_flag=True, help="Scan every tracked file.")
@click.option(
    "--history",
    "history_range",
    is_flag=False,
    flag_value="HEAD",
    default=None,
    metavar="[REVISION-RANGE]",
    help="Scan every blob reachable in the range once (default HEAD; main..topic; ALL refs), naming "
    "the commit that introduced each finding.",
)
@output_choice(
    ["text", "json", "sarif"], "Report format: json is a list of findings, sarif is SARIF 2.1.0.", dest="fmt"
)
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False),
    help="JSON file of accepted findings (fingerprints only): they no longer fail the scan.",
)
@click.option("--update-baseline", is_flag=True, help="Write this run's findings into --baseline, exit 0.")
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False),
    help="Detector rules (YAML) to use instead of the built-in policies/detectors.yaml.",
)
@click.option(
    "--commit-msg",
    is_flag=True,
    help="PATH is a commit message file (what git hands a commit-msg hook): scan the message git "
    "commits, up to the scissors line of `git commit -v`, without the comment lines git drops.",
)
@click.option("-v", "--verbose", is_flag=True, help="Also say which files were skipped and why.")
def scan(
    paths: tuple[str, ...],
    staged: bool,
    all_files: bool,
    history_range: str | None,
    fmt: str,
    baseline_path: str | None,
    update_baseline: bool,
    policy_path: str | None,
    commit_msg: bool,
    verbose: bool,
) -> int:
    """Find plaintext secrets in PATHs (files or folders), the staged set, every tracked file
    or the Git history.

    sealer API keys (checksum verified), private keys, cloud and SaaS tokens, JWTs,
    secret-looking assignments of random values, plain Kubernetes Secrets, and values
    where ciphertext belongs that are not ciphertext. Archives (zip, tar, gzip, bzip2, xz) are
    opened; large files are scanned in chunks. Exit 1 when anything is found or a file
    could not be examined, 0 when clean, 2 on bad input. A `sealer: allow` comment on a
    line allows it.
    """
    from sealer.scan import baseline, files, report, rules, scanner

    if commit_msg and (len(paths) != 1 or baseline_path or staged or all_files):
        raise ConflictingOptions("--commit-msg scans one message file: give its PATH alone, no --baseline")
    hook = bool(os.environ.get("PRE_COMMIT")) and not (staged or all_files or history_range or commit_msg)
    if sum((bool(paths) or hook, staged, all_files, history_range is not None)) != 1:
        raise ConflictingOptions("give PATHs, --staged, --all-files or --history (exactly one of them)")
    if update_baseline and not baseline_path:
        raise ConflictingOptions("--update-baseline needs --baseline FILE")
    started = time.perf_counter()
    policy = rules.load(policy_path)
    accepted = baseline.load(baseline_path, missing_ok=update_baseline) if baseline_path else {}
    if commit_msg:
        from sealer.scan import message

        candidates = iter([message.candidate(paths[0])])
    elif history_range is not None:
        from sealer.scan import history

        root = files.repo_root()
        candidates = history.candidates(root, history.blobs(root, history_range))
    else:
        root, candidates = files.select(paths, staged, all_files)
        if hook:  # staged, yet never named by pre-commit: their working copies are gone
            # Each hook entry (its own options: another --policy) reports them once.
            entry = repr((policy_path, baseline_path, update_baseline, fmt, verbose))
            candidates = _and_unnamed(candidates, entry)
        if baseline_path:
            candidates = _without(candidates, root, baseline_path)
    result = scanner.run(candidates, policy, () if update_baseline else accepted)
    if history_range is not None:
        result = scanner.first_of_each(result)
    if verbose:
        _explain(result, time.perf_counter() - started)
    if update_baseline:
        return _write_baseline(baseline_path or "", accepted, result)
    if fmt == "json":
        click.echo(report.as_json(result.findings), nl=False)
    elif fmt == "sarif":
        click.echo(report.sarif(result.findings, policy), nl=False)
    elif result.findings or result.unexamined or not os.environ.get("PRE_COMMIT"):
        # pre-commit runs the hook in batches and shows all their output when one fails: a clean
        # batch stays silent there, so "no plaintext secrets" never sits above another's findings.
        found, scanned, unexamined = result.findings, len(result.scanned), len(result.unexamined)
        click.echo(report.text(found, scanned, unexamined, message=commit_msg), nl=False)
    if result.unexamined:  # fail closed: a file nobody looked at may hold anything
        click.echo(report.unexamined_line(result.unexamined), err=True)
    return 1 if result.findings or result.unexamined else 0


def _and_unnamed(candidates: Iterator[Candidate], entry: str) -> Iterator[Candidate]:
    from sealer.scan import files, hookrun

    yield from candidates
    unnamed = files.unnamed_by_hook()
    if unnamed and hookrun.claim(entry):  # reported once per hook entry's run, not once per batch
        yield from files.from_blobs(unnamed, os.curdir)


def _without(candidates: Iterator[Candidate], root: str, excluded: str) -> Iterator[Candidate]:
    target = os.path.realpath(excluded)
    return (c for c in candidates if os.path.realpath(os.path.join(root, c.path)) != target)


def _explain(result: Result, seconds: float) -> None:
    from sealer.scan import report

    for path, reason in result.skipped:
        click.echo(report.shown(f"sealer scan: skipped {path}: {reason}"), err=True)
    for path, reason in result.unexamined:
        click.echo(report.shown(f"sealer scan: not examined {path}: {reason}"), err=True)
    for note in result.notes:  # it names the file
        click.echo(report.shown(f"sealer scan: {note}"), err=True)
    click.echo(
        f"sealer scan: {len(result.scanned)} file(s), {result.size / 1e6:.2f} MB in "
        f"{seconds * 1000:.0f} ms; {len(result.skipped)} skipped; "
        f"{len(result.accepted)} accepted by the baseline",
        err=True,
    )


def _write_baseline(path: str, old: dict[str, Entry], result: Result) -> int:
    from sealer import repofiles
    from sealer.scan import baseline

    entries = baseline.updated(old, result.findings + result.accepted, set(result.scanned))
    repofiles.write(path, baseline.render(entries), user_path=True)
    click.echo(f"sealer scan: baseline {path}: {len(entries)} accepted finding(s)", err=True)
    return 0


COMMANDS = [scan]
