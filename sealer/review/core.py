"""`sealer review [BASE [HEAD]]`: explain every change to sealed data between two revisions.

It needs no private key: files are read at each revision from Git, ciphertext is judged by
its layout, key ids come from the ledger at each revision, and which certificate sealed an
entry from its provenance annotation, checked against the pins in sealer.yaml at HEAD.
Findings (exit 1) are what a reviewer must not approve: a hand-edited ciphertext, an entry
sealed with a certificate that is not pinned, one key in two places, a plaintext value, a
changed scope, namespace, name or pin, and values files that disagree with the sealed files.
Besides BASE..HEAD as a whole, every commit of the range is checked on its own, so a hand edit
on top of a clean rotation, or a plaintext key committed and deleted again, is still found.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sealer import git, layout
from sealer.config import Config
from sealer.errors import BadInput, ConfigError
from sealer.records import utcnow
from sealer.review import approvals, branch_claims, construct, gitlab_ci, history, plaintext, sensitive
from sealer.review.checks import EnvReview, duplicate_findings
from sealer.review.earlier import Earlier
from sealer.review.model import (
    HAND_EDIT,
    HEAD_BEHIND,
    MALFORMED,
    SAME_COMMIT,
    SCAN_CHUNK,
    Finding,
    Report,
)
from sealer.review.registry_check import registry_findings
from sealer.review.revisions import (
    Side,
    all_ledgers,
    changed_paths,
    commit_time,
    config_at,
    default_base,
    env_files,
    read_files,
    resolve,
    touched_envs,
    tree_modes,
)
from sealer.review.signatures import unsigned_findings

_DELIVERED = (layout.SEALED_DIR, layout.REGISTRY_DIR)  # what a GitOps tool applies of sealer's


def _needed(names: list[str], base: Side, head: Side, changed: list[str]) -> set[str]:
    paths = {p for p in changed if p.startswith(tuple(f"{d}/" for d in _DELIVERED))}
    for name in names:
        paths |= env_files(base.env(name), name) | env_files(head.env(name), name)
    return paths


NOT_UTF8 = "the file's name is not UTF-8: sealer cannot tell which environment's file it is"
LINE_BREAK = "the file's name holds a line break: sealer cannot read it from Git (one name a line)"


@dataclass(frozen=True)
class Options:
    approvals_from: tuple[str, ...] = ()  # approval channels (sealer.review.approvals.CHANNELS)
    require_signed: bool = False
    now: dt.datetime | None = None  # the review's clock (a key created after it is forged)
    # Where the trust anchors (signers, approvers, CODEOWNERS) are read; None: BASE. The target
    # branch's tip: a key or owner removed there since the change branched off counts no more.
    trust_at: str | None = None
    # CI's names of the pull request's source and target branches (its checkouts are detached):
    # a `Sealer-Branch:` trailer must name the one under review (sealer.review.branch_claims).
    ci_branches: tuple[str | None, str | None] = (None, None)
    # CI's name of the repository's default branch (Argo CD's `HEAD`), used when the checkout
    # records no remote HEAD (sealer.forge.ci_default_branch).
    ci_default: str | None = None


def review(
    root: Path, base: str | None = None, head: str | None = None, options: Options = Options()
) -> Report:
    """Compare sealed data at `base` (default: merge-base with main) and `head` (default HEAD)."""
    head_rev = resolve(root, head or "HEAD")
    base_rev = resolve(root, base) if base else default_base(root)
    report = Report(base_rev, head_rev)
    if git.range_is_empty(root, base_rev, head_rev):  # nothing to judge, and no approval either
        report.nothing_reviewed = SAME_COMMIT if base_rev == head_rev else HEAD_BEHIND
        return report
    anchors = resolve(root, options.trust_at) if options.trust_at else base_rev
    changed, not_utf8 = changed_paths(root, base_rev, head_rev)
    report.findings += [Finding(MALFORMED, "", path, None, NOT_UTF8) for path in not_utf8]
    report.findings += [Finding(MALFORMED, "", path, None, LINE_BREAK) for path in changed if "\n" in path]
    base_side, head_side = _sides(root, base_rev, head_rev, head or "HEAD")
    names = touched_envs(base_side.cfg, head_side.cfg, changed)
    needed = _needed(names, base_side, head_side, changed)
    base_side.files, head_side.files = read_files(root, base_rev, needed), read_files(root, head_rev, needed)
    head_time = commit_time(root, head_rev)
    earlier = Earlier(root, base_rev)  # what stood before BASE, shared by the environments
    for name in names:
        done = EnvReview(name, base_side, head_side, head_time, changed, earlier).run()
        report.changes += done.changes
        report.findings += done.findings
        report.notes += done.notes
        report.findings += _constructed(name, head_side, changed)
        report.findings += sensitive.delivery_findings(
            base_side.env(name), head_side.env(name), base_side.doc, head_side.doc
        )
    report.findings += sensitive.config_findings(base_side.cfg, head_side.cfg)
    present = tree_modes(root, head_rev, *_DELIVERED)
    report.findings += registry_findings(base_side, head_side, names, changed, present)  # #16
    head_envs = head_side.cfg.environments if head_side.cfg else {}
    foreign = construct.foreign_sealed_findings(head_envs, changed, head_side.files, present)
    told = {f.path for f in foreign} | set(not_utf8)  # a malformed name is a finding already
    report.findings += foreign + construct.left_sealed_findings(head_envs, names, present, told)
    if names:
        report.findings += duplicate_findings(all_ledgers(root, head_rev))
    commits = git.range_changes(root, base_rev, head_rev)
    _refuse_cut_history(root, commits)
    source, ci_target = options.ci_branches
    target = branch_claims.target(root, base, ci_target)
    # GitOps sources of this repository count as its tree only at the branch it is merged into:
    # with BASE a commit id outside CI, --trust-at (that branch's tip) may name it.
    into = target or (branch_claims.branch_named(root, options.trust_at) if options.trust_at else None)
    included = gitlab_ci.included_at(root, base_rev, anchors)  # a merged-results pipeline: the target's too
    touched = {*changed, *(c.path for commit in commits for c in commit.changes)}
    report.findings += included.unread_findings(touched)
    _add_history(
        report,
        root,
        commits,
        (base_side, head_side),
        options.now or utcnow(),
        (into, options.ci_default),
        included,
    )
    report.findings += branch_claims.claim_findings(
        root, base_rev, head_rev, branch_claims.under_review(root, head, source), target
    )
    # a tag on the range or on HEAD (an approval tag among them) is in Git's objects as a commit is
    report.findings += plaintext.tag_findings(root, {c.commit for c in commits} | {head_rev}, SCAN_CHUNK)
    if options.require_signed:
        managed = history.Managed(ci_included=included)
        managed.add(base_side.cfg)
        managed.add(head_side.cfg)
        report.findings += unsigned_findings(root, anchors, commits, managed.holds)
    report.findings = list(dict.fromkeys(report.findings))
    approvals.apply(report, root, options.approvals_from, anchors)
    return report


def _refuse_cut_history(root: Path, commits: list[git.CommitChanges]) -> None:
    """Every commit of the range is judged: a shallow clone's cut hides those before it."""
    cut = git.shallow_cuts(root) & {c.commit for c in commits}
    if cut:
        raise BadInput(
            f"the history under review is cut at {min(cut)[:12]} by a shallow clone: fetch it whole "
            "(`git fetch --unshallow`; in CI, fetch-depth: 0 or GIT_DEPTH: 0)"
        )


def _constructed(name: str, head: Side, changed: list[str]) -> list[Finding]:
    """HEAD's managed files of one environment against what sealer writes (sealer.review.construct)."""
    env = head.env(name)
    if env is None:
        return []
    ledger_file = layout.ledger_file(name)
    found = construct.ledger_findings(name, head.files.get(ledger_file), ledger_file in changed)
    if not env.clusters:
        found += construct.unsealed_values_findings(env, env.values_file, head.files.get(env.values_file))
    for cluster in env.clusters:
        pem = head.files.get(cluster.cert)
        found += construct.cert_findings(name, cluster, pem)
        sealed_path = layout.sealed_file(name, cluster.name)
        sealed_text, sealed_doc = head.files.get(sealed_path), head.doc(sealed_path)
        if sealed_text is None and sealed_path in changed:
            found.append(construct.removed_sealed_finding(env, cluster))
        if sealed_text is None:
            found += construct.unsealed_values_findings(
                env, cluster.values_file, head.files.get(cluster.values_file)
            )
        if sealed_text is None or sealed_doc is None:
            continue
        found += construct.sealed_findings(env, cluster, sealed_text, pem)
        found += construct.values_findings(
            env, cluster, head.files.get(cluster.values_file), sealed_doc, head.records(name)
        )
    return found


def _sides(root: Path, base: str, head: str, head_name: str) -> tuple[Side, Side]:
    texts = {rev: read_files(root, rev, [layout.CONFIG_FILE])[layout.CONFIG_FILE] for rev in (base, head)}
    head_cfg = _config_of(root, head, texts[head], head_name)
    if head_cfg is None:
        raise BadInput(f"no {layout.CONFIG_FILE} at {head_name}: not a sealer-managed repo")
    return Side(base, _config_of(root, base, texts[base], "BASE"), {}), Side(head, head_cfg, {})


def _config_of(root: Path, rev: str, text: str | None, name: str) -> Config | None:
    """sealer.yaml at `rev`. A schema error names the revision: BASE's (one a newer sealer
    refuses, see the README's upgrading) would otherwise read as the checkout's own file."""
    try:
        return config_at(root, rev, text)
    except ConfigError as err:
        raise BadInput(f"invalid config at {name} ({rev[:12]}): {err.detail}") from None


def _add_history(
    report: Report,
    root: Path,
    commits: list[git.CommitChanges],
    sides: tuple[Side, Side],
    now: dt.datetime,
    branches: tuple[str | None, str | None],
    included: gitlab_ci.Included,
) -> None:
    """Commit by commit: a hand edit hidden behind a later clean rotation, a key committed and
    deleted again, a ledger rewritten and put back, a symlink, a sensitive change undone.
    `branches`: the one merged into and CI's default branch (None: unknown); `included`: the files
    BASE's .gitlab-ci.yml includes, gate files wherever they are."""
    base, head = sides
    known = {r.fingerprint for records in all_ledgers(root, base.rev).values() for r in records}
    net = git.tree_changes(root, base.rev, head.rev)
    found = history.walk_range(root, commits, (base.cfg, head.cfg), known, now, net, branches, included)
    report.notes += history.deleted_name_notes(commits)
    edited = {(f.env, f.path, f.entry) for f in found if f.rule == HAND_EDIT}
    report.findings = [
        f for f in report.findings if f.rule != HAND_EDIT or (f.env, f.path, f.entry) not in edited
    ]
    report.findings += found
