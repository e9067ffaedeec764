"""`sealer init`, `sealer render` and `sealer rotate`: the GitOps repo commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sealer.cli.common import emit, env_argument, envs_argument, output_option
from sealer.errors import ConflictingOptions, PartlyDone


def _namespaces(items: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in items:
        env, sep, namespace = item.partition("=")
        if not sep or not env or not namespace:
            raise click.BadParameter(f"{item!r}: use ENV=NAMESPACE", param_hint="--namespace-of")
        pairs[env] = namespace
    return pairs


@click.command()
@click.option(
    "--env", "envs", multiple=True, help="An environment (repeatable) [default: dev, staging, production]."
)
@click.option(
    "--namespace-of", "namespace_of", multiple=True, metavar="ENV=NS", help="Namespace of an environment."
)
@click.option(
    "--hooks-repo",
    metavar="URL",
    help="Git repository pre-commit installs sealer's hooks from [default: where this sealer was installed "
    "from: its git URL, or its checkout's origin].",
)
@click.option(
    "--hooks-rev",
    metavar="REV",
    help="Tag or commit of --hooks-repo to pin [default: the installed commit, or its tag].",
)
@output_option
def init(
    envs: tuple[str, ...],
    namespace_of: tuple[str, ...],
    hooks_repo: str | None,
    hooks_rev: str | None,
    output: str,
) -> int:
    """Make this Git repository a sealer-managed GitOps repo (writes sealer.yaml)."""
    from sealer.cli import shown
    from sealer.hooksrepo import locate
    from sealer.init import hooks_entry, hooks_missing, ignored_line, installs_commit_msg
    from sealer.init import init as run_init
    from sealer.layout import PRE_COMMIT_CONFIG

    namespaces = _namespaces(namespace_of)
    hooks = locate(hooks_repo, hooks_rev)
    root = Path.cwd().resolve()
    written = run_init(root, envs, namespaces, hooks)
    created = [str(p.relative_to(root)) for p in written]
    ignored = ignored_line(root, written)
    if ignored:  # a warning: init is done, but `git add -A` would leave them out
        click.echo(f"sealer: warning: {shown(ignored)}", err=True)
    missing = hooks_missing(root)
    text = "\n".join(f"created {p}" for p in created)
    if missing:  # a config that was there is kept: say the guard is off, and what to add
        text += (
            f"\nkept {PRE_COMMIT_CONFIG}, which runs no {' or '.join(missing)} hook: plaintext keys are not "
            f"kept out of Git until you add this to its `repos:` list:\n{hooks_entry(hooks).rstrip()}"
        )
    hook_types = installs_commit_msg(root)
    if not hook_types:  # a commit-msg hook: `pre-commit install` alone skips it, in every new clone
        text += (
            f"\n{PRE_COMMIT_CONFIG} has no `default_install_hook_types: [pre-commit, commit-msg]`: add it, "
            "or `pre-commit install` in a clone leaves the message hook (sealer-scan-message) off; "
            "in this clone run `pre-commit install --hook-type commit-msg`"
        )
    emit({"created": created, "hooks_missing": missing, "installs_commit_msg": hook_types}, output, text)
    return 0


@click.command()
@env_argument
@output_option
def render(env: str, output: str) -> int:
    """Write ENV's Helm values files from its sealed state and ledger."""
    from sealer import config
    from sealer.render import render_env

    cfg = config.load()
    changed = [str(p.relative_to(cfg.root)) for p in render_env(cfg, env)]
    emit(
        {"env": env, "changed": changed},
        output,
        "\n".join(f"rendered {p}" for p in changed) or f"{env}: values files already up to date",
    )
    return 0


@click.command()
@envs_argument
@click.option(
    "--key", "keys", multiple=True, help="Only this entry (repeatable) [default: every managed key]."
)
@click.option(
    "--due", is_flag=True, help="Only keys past their environment's rotation period (all envs if none named)."
)
@click.option(
    "--grace", help="Keep old keys valid this long after deployment (e.g. 24h, 7d) [default: revoke at once]."
)
@click.option("--branch", help="Commit on this new branch [default: sealer/rotate-<env>-<utc time>].")
@click.option("--no-branch", is_flag=True, help="Commit on the current branch.")
@click.option(
    "--no-commit",
    is_flag=True,
    help="Write the files only; the new keys are accepted after you commit and re-run.",
)
@click.option("--push", "push", metavar="REMOTE", help="Push the branch to this remote after committing.")
@click.option(
    "--open-pr",
    is_flag=True,
    help=(
        "After --push, open (or update) the pull/merge request on GitHub, GitLab, Gitea or Forgejo "
        "(host and token from CI's env)."
    ),
)
@click.option("--dry-run", is_flag=True, help="Show what would rotate; write nothing.")
@click.option(
    "--replace",
    is_flag=True,
    help="Rotate although an earlier rotation's branch is not merged yet (close its pull request).",
)
@click.option("--resume", is_flag=True, help="Only finish an interrupted rotation (or revocation).")
@click.option(
    "--finish",
    is_flag=True,
    help="Deployed phase (main-branch pipeline, after the merge): activate the merged keys, revoke the old.",
)
@click.option(
    "--abandon",
    metavar="BRANCH",
    help="Abandoned phase: revoke the keys of this rotation branch (closed unmerged).",
)
@output_option
def rotate(
    envs: tuple[str, ...],
    keys: tuple[str, ...],
    due: bool,
    grace: str | None,
    branch: str | None,
    no_branch: bool,
    no_commit: bool,
    push: str | None,
    open_pr: bool,
    dry_run: bool,
    replace: bool,
    resume: bool,
    finish: bool,
    abandon: str | None,
    output: str,
) -> int:
    """Rotate API keys of ENV(s): new keys, sealed and committed, accepted beside the old ones.

    The commit goes on a new branch (sealer/rotate-<env>-<utc time>) for a pull request; your
    checkout stays on the branch you started on, files unchanged. While a rotation's branch is
    not merged, another rotation of that environment is refused (--replace overrides). After
    the merge, `sealer rotate --finish` (deployed) activates the new keys in an external store
    and revokes the old ones. Exit 4: the commit landed but a later step did not (re-run).
    """
    from sealer import config
    from sealer.durations import parse_duration
    from sealer.rotation import phases
    from sealer.rotation.plan import Request

    if branch and no_branch:
        raise ConflictingOptions("--branch and --no-branch exclude each other")
    if sum(map(bool, (resume, finish, abandon))) > 1:
        raise ConflictingOptions("--resume, --finish and --abandon exclude each other")
    phase = "--finish" if finish else "--abandon" if abandon else "--resume" if resume else None
    given = {
        "ENV": envs and not finish,
        "--key": keys,
        "--due": due,
        "--grace": grace,
        "--branch": branch,
        "--no-branch": no_branch,
        "--no-commit": no_commit,
        "--push": push and not resume,  # --resume pushes where a corrected --push says
        "--open-pr": open_pr,
        "--dry-run": dry_run,
        "--replace": replace,
    }
    ignored = [name for name, value in given.items() if value]
    if phase and ignored:  # a phase does what the reviewed rotation chose: never silently less
        raise ConflictingOptions(f"rotate {phase} takes no {', '.join(ignored)}")
    unused = [name for name, value in (("--branch", branch), ("--push", push)) if value]
    if no_commit and unused:
        raise ConflictingOptions(f"rotate --no-commit writes the files only: it takes no {', '.join(unused)}")
    cfg = config.load()
    if finish or abandon:
        done = phases.abandon(cfg, abandon) if abandon else phases.finish(cfg, envs)
        emit(done.as_dict(), output, _finish_text(done, "abandon" if abandon else "finish"))
        if done.left:
            again = f"sealer rotate --abandon {abandon}" if abandon else "sealer rotate --finish"
            raise PartlyDone(
                f"the {'abandoned' if abandon else 'deployed'} phase is not finished: "
                f"{'; '.join(done.left)}; run `{again}` again (each key it did finish stays finished)"
            )
        return 0
    forge = _forge_for(open_pr, push, no_branch, no_commit, dry_run)
    if resume:
        resumed = phases.resume(cfg, push)
        if resumed is None:
            emit({"resumed": False}, output, "nothing to resume")
            return 0
        return _report(resumed, output, None, cfg)
    request = Request(
        envs=envs,
        keys=keys,
        due=due,
        grace=parse_duration(grace) if grace else None,
        branch=branch,
        no_branch=no_branch,
        commit=not no_commit,
        push=push,
        dry_run=dry_run,
        replace=replace,
    )
    return _report(phases.rotate(cfg, request), output, forge, cfg)


def _report(result: Any, output: str, forge: Any, cfg: Any) -> int:
    from sealer.rotation import phases

    data = result.as_dict()
    note = phases.earlier_run_note(result)
    skipped = phases.skipped_line(result)
    if result.left:
        emit(_json_view(data), output, _text_view(data))
        also = "".join(f"; {line}" for line in (note, skipped) if line)
        raise PartlyDone(phases.partly_done(result) + also)
    for line in (note, result.refused and f"would be refused: {result.refused}"):
        if line:
            from sealer.cli import shown

            click.echo(f"sealer: {shown(line)}", err=True)  # a branch name is anyone's text
    if forge is None or not (result.commit and result.branch):
        emit(_json_view(data), output, _text_view(data))
        return _after_skipping(skipped, result.dry_run)
    from sealer.cli.pullrequest import open_and_report

    try:
        code = open_and_report(forge, cfg, data, _json_view(data), _text_view(data), output)
    except PartlyDone as err:  # the request refused: its line says what --due skipped too
        raise PartlyDone(f"{err}; {skipped}" if skipped else str(err)) from None
    return code or _after_skipping(skipped, result.dry_run)


def _after_skipping(skipped: str | None, dry_run: bool) -> int:
    """`--due` left out an environment whose rotation waits unmerged: partly done (exit 4), the
    others rotated; a dry run only says so."""
    if skipped and not dry_run:
        raise PartlyDone(skipped)
    if skipped:
        from sealer.cli import shown

        click.echo(f"sealer: {shown(skipped)}", err=True)  # a branch name is anyone's text
    return 0


def _finish_text(done: Any, phase: str) -> str:
    lines = [f"activated {a.env} {a.name} {a.key_id}{_ends_text(a)}" for a in done.activated]
    lines += [f"revoked abandoned {a.env} {a.name} {a.key_id}" for a in done.abandoned]
    return "\n".join(lines) or (f"nothing {phase}ed" if done.left else f"nothing to {phase}")


def _ends_text(activation: Any) -> str:
    """The old keys still valid and until when (rotations stacked unfinished end several)."""
    ends = activation.replaced or {activation.previous_key_id: activation.revoke_previous_at}
    valid = [f"{key_id} valid until {end}" for key_id, end in ends.items() if end]
    return f" (old key {'; '.join(valid)})" if valid else ""


def _forge_for(open_pr: bool, push: str | None, no_branch: bool, no_commit: bool, dry_run: bool) -> Any:
    """The Git host to open the pull request on, found before anything changes."""
    if not open_pr or dry_run:
        return None
    if not push or no_branch or no_commit:
        raise click.UsageError("--open-pr needs --push REMOTE, a commit and a branch of its own")
    from sealer.forge import detect

    return detect()


def _json_view(result: dict) -> dict:
    """One object per the documented shape; a multi-environment run lists them under `rotations`."""
    common = {
        "branch": result["branch"],
        "commit": result["commit"],
        "pr_body_file": result.get("pr_body_file"),
        "dry_run": result["dry_run"],
        "left": result.get("left", []),
        "resumed": result.get("resumed", False),
        "not_applied": result.get("not_applied", []),
        "skipped": result.get("skipped", {}),
        "refused": result.get("refused"),  # a dry run: why the run would be refused (its stderr line)
    }
    views = [{**env, **common} for env in result["envs"]]
    if len(views) == 1:
        return views[0]
    return {**common, "rotations": views}


def _text_view(result: dict) -> str:
    if not result["envs"]:
        return "nothing to rotate"
    lines = [
        f"{'would rotate' if result['dry_run'] else 'rotated'} {e['env']}: "
        + ", ".join(f"{k['name']} {k['previous_key_id'] or '(new)'} -> {k['key_id']}" for k in e["keys"])
        for e in result["envs"]
    ]
    if result.get("commit") and result.get("branch"):
        stay = f"; you are still on {result['started_on']}" if result.get("started_on") else ""
        lines.append(f"commit {result['commit'][:12]} on branch {result['branch']}{stay}")
    elif result.get("commit"):
        lines.append(f"commit {result['commit'][:12]} on the current branch")
    if result.get("pr_body_file"):
        lines.append(f"pull-request description: {result['pr_body_file']}")
    return "\n".join(lines)


COMMANDS = [init, render, rotate]
