"""`sealer keys compromised ENV KEY_ID`: the incident in one command (#17).

The rotation engine revokes the key and rotates its entry with no grace (one commit; the store
follows right after it: `phases.replace_compromised`). This module adds where the key may have
leaked: what `sealer scan --history` finds in the whole repository history (a plaintext sealer
key found there is matched to the compromised one by its SHA-256 fingerprint, the only form of
it sealer ever holds) and the commits that touched the environment's files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sealer import apikey, git, layout, ledger
from sealer.config import Config
from sealer.errors import PartlyDone, SealerError
from sealer.records import REVOKED
from sealer.rotation import phases, stores
from sealer.rotation import plan as planning
from sealer.terminal import one_line

SEALER_KEY_RULE = "sealer-api-key"  # the detector of sealer's own keys (policies/detectors.yaml)
# What the command does not do, said in every report.
_UNTIL_DEPLOYED = (
    "the cluster keeps serving the old key until the new SealedSecret is deployed: merge and deploy "
    "the change that rotates it now (verifiers of an external store or a directly delivered registry "
    "refuse the old key already; of a GitOps-delivered registry, once the change is merged and synced)"
)
_FINISH = "`sealer rotate --finish` after the deployment activates the new key in the key store"
_ELSEWHERE = "copies of the key outside this repository (logs, chat, laptops) are not searched"


def not_done(external: bool) -> list[str]:
    """What the incident leaves to people; `--finish` only where a key store outside Git has a
    deployed phase (the Git ledger's merge is its activation)."""
    return [_UNTIL_DEPLOYED, *([_FINISH] if external else []), _ELSEWHERE]


@dataclass
class Leaks:
    """What the history scan found: every plaintext secret, and which of them is this key."""

    this_key: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    unexamined: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None  # the scan could not run: the report says so, it is never "clean"


@dataclass
class IncidentReport:
    result: phases.CompromisedResult
    leaks: Leaks
    commits: list[dict[str, str]]
    branches: list[str] = field(default_factory=list)  # still carry the key unrevoked: never merge them
    external: bool = True  # the environment's key store is not the Git ledger

    def as_dict(self) -> dict[str, Any]:
        rotation = self.result.rotation
        return {
            "env": self.result.record.env,
            "key_id": self.result.record.key_id,
            "name": self.result.record.name,
            "record": self.result.record.as_dict(),
            "store_revoked_outside_commit": self.result.store_revoked,
            "already_handled": self.result.already,
            "branch": rotation.branch,
            "commit": rotation.commit,
            "rotated": [k.as_dict() for e in rotation.envs for k in e.keys],
            "files": rotation.files,
            "pr_body_file": rotation.pr_body_file,
            "left": rotation.left,
            "history": {
                "this_key": self.leaks.this_key,
                "findings": self.leaks.findings,
                "unexamined": self.leaks.unexamined,
                "error": self.leaks.error,
            },
            "commits_touching_env": self.commits,
            "branches_carrying_key": self.branches,
            "not_done": not_done(self.external),
        }


def handle(cfg: Config, request: phases.CompromisedRequest) -> IncidentReport:
    """Revoke and rotate first (the urgent part), then search the history."""
    result = phases.replace_compromised(cfg, request)
    try:
        leaks = scan_history(cfg, request.key_id)
        branches = carrying(cfg, request.env, request.key_id, result.rotation.commit)
        external = stores.external(cfg.env(request.env))
        return IncidentReport(result, leaks, env_commits(cfg, request.env), branches, external)
    # The commit and the store are done: an interrupt or a failure here is exit 4, never 130 or 2.
    except (KeyboardInterrupt, SealerError) as err:
        commit, branch = result.rotation.commit, result.rotation.branch
        if commit is None:
            raise
        stopped = (
            "was interrupted" if isinstance(err, KeyboardInterrupt) else f"failed ({one_line(str(err))})"
        )
        raise PartlyDone(
            f"{request.env} key {request.key_id} is revoked and its entry rotated by commit "
            f"{commit[:12]} on {branch or 'the current branch'}, but the search of "
            f"the history {stopped}; run `sealer keys compromised {request.env} {request.key_id}` "
            "again for the report (it mints no second key)"
        ) from None


def carrying(cfg: Config, env_name: str, key_id: str, commit: str | None = None) -> list[str]:
    """Branches (local and remote-tracking) whose ledger holds the key unrevoked: merging one (a
    rotation under review, say) would make the compromised key valid again. Those the incident's
    `commit` contains (the branch it was made from) are not: merging it into them revokes the key."""
    rel, found = layout.ledger_file(env_name), []
    for ref in git.refs_holding(cfg.root, key_id, rel, commit):
        try:
            records = ledger.parse(env_name, git.file_at(cfg.root, ref, rel) or "", f"{ref}:{rel}")
        except SealerError:
            continue  # not a ledger sealer could use
        if any(r.key_id == key_id and r.status != REVOKED for r in records):
            found.append(ref)
    return found


def scan_history(cfg: Config, key_id: str) -> Leaks:
    """`sealer scan --history ALL` over the repository: each finding once, at the commit that
    brought it in; a finding whose secret's fingerprint gives the key id the user named is the
    key itself (matched by the id, which is derived from the key: a ledger's fingerprint is any
    writer's text, and one forged past the id would have the search look for another key)."""
    from sealer.scan import history, rules, scanner

    root = str(cfg.root)
    policy = rules.load(None)
    try:
        found = scanner.run(history.candidates(root, history.blobs(root, "ALL")), policy)
        # The key itself is searched for again, with no exemption a committed file can claim for
        # itself (a `sealer: allow` comment, a name like `*.map`): those never hide the leak.
        keys = scanner.run(
            history.candidates(root, history.blobs(root, "ALL")), rules.unexempted(policy, SEALER_KEY_RULE)
        )
    except (SealerError, OSError) as err:
        return Leaks(error=f"the history scan failed: {err}")
    found, keys = scanner.first_of_each(found), scanner.first_of_each(keys)
    leaks = Leaks(unexamined=[{"path": s.path, "reason": s.reason} for s in found.unexamined])
    for finding in found.findings:
        leaks.findings.append(finding.as_dict())
    for finding in keys.findings:
        if apikey.key_id(finding.secret_id) == key_id:
            leaks.this_key.append(finding.as_dict())
            if finding.as_dict() not in leaks.findings:
                leaks.findings.append(finding.as_dict())
    return leaks


def env_commits(cfg: Config, env_name: str) -> list[dict[str, str]]:
    """Every commit (all branches) that touched a file of the environment, newest first."""
    paths = sorted(planning.allowed_paths(cfg, [env_name]))
    if git.head(cfg.root) is None:
        return []
    # literal: a path from sealer.yaml is a file name, never pathspec magic (`:(exclude)…`, `*`)
    args = ("--literal-pathspecs", "log", "--all", "-z", "--format=%H%x1f%an%x1f%aI%x1f%s", "--", *paths)
    out = git.run(cfg.root, *args)
    commits = []
    for item in filter(None, (chunk.strip("\n") for chunk in out.split("\0"))):
        sha, author, date, subject = (item.split("\x1f") + ["", "", ""])[:4]
        commits.append({"commit": sha, "author": author, "date": date, "subject": subject})
    return commits


def text(report: IncidentReport) -> str:
    """Commit subjects, author names and paths are anyone's text: each line inert (no ESC or CR
    moves the cursor over the lines above)."""
    return "\n".join(one_line(line) for line in _lines(report))


def _lines(report: IncidentReport) -> list[str]:
    data = report.as_dict()
    lines = [f"{data['env']}: {data['key_id']} ({data['name']}) is {data['record']['status']}"]
    if data["commit"]:
        new = ", ".join(f"{k['name']} -> {k['key_id']}" for k in data["rotated"])
        lines.append(f"commit {data['commit'][:12]} on {data['branch'] or 'the current branch'}: {new}")
        if data["already_handled"]:
            lines.append("already handled by an earlier run: no new key minted; merge and deploy that branch")
    elif data["store_revoked_outside_commit"]:
        lines.append("revoked in the key store (the ledger held it revoked already, or never held it)")
    lines += _history_lines(data["history"])
    lines.append(f"{len(data['commits_touching_env'])} commit(s) touched {data['env']}'s files:")
    lines += [
        f"  {c['commit'][:12]} {c['date']} {c['author']}: {c['subject']}"
        for c in data["commits_touching_env"]
    ]
    lines += [
        f"branch {ref} still carries {data['key_id']} unrevoked: close it unmerged "
        f"(`sealer rotate --abandon {ref}`)"
        for ref in data["branches_carrying_key"]
    ]
    lines += [f"not done: {item}" for item in data["not_done"]]
    return lines


def _history_lines(history: dict[str, Any]) -> list[str]:
    if history["error"]:
        return [f"history: NOT SEARCHED: {history['error']}"]
    lines = [
        f"history: this key in plaintext at {f['commit'][:12]} {f['path']}:{f['line']}"
        for f in history["this_key"]
    ]
    if not history["this_key"]:
        lines.append("history: this key is not in the repository history in plaintext")
    lines += [
        f"history: {f['rule']} at {f.get('commit', '')[:12]} {f['path']}:{f['line']} ({f['preview']})"
        for f in history["findings"]
        if f not in history["this_key"]
    ]
    lines += [f"history: not examined {u['path']}: {u['reason']}" for u in history["unexamined"]]
    return lines
