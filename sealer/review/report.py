"""The review as text or as Markdown to post on the pull request."""

from __future__ import annotations

from typing import Any

from sealer.review.model import Change, Report


def _key_cell(change: Change) -> str:
    new = change.new_key_id or ("(removed)" if change.action == "removed" else "?")
    return f"{change.old_key_id or '(none)'} -> {new}"


def _cert_cell(change: Change) -> str:
    if change.sealed_with is None:
        return "-"
    return f"{change.sealed_with[:12]} ({'pinned' if change.pinned else 'NOT pinned'})"


def _age_cell(change: Change) -> str:
    if change.old_key_age_days is None:
        return "-"
    return f"{change.old_key_age_days}d" + (f", now {change.old_key_status}" if change.old_key_status else "")


def to_text(report: Report) -> str:
    lines = [
        f"sealer review {report.base[:12]}..{report.head[:12]}: {len(report.changes)} change(s), "
        f"{len(report.findings)} finding(s)"
    ]
    for c in report.changes:
        lines.append(
            f"  {c.env}/{c.cluster} {c.namespace}/{c.secret} ({c.scope}) {c.entry}: {c.action} {_key_cell(c)}"
            + (f", sha256 {c.new_fingerprint}" if c.new_fingerprint else "")
            + f"; sealed with {_cert_cell(c)}; old key age {_age_cell(c)}"
            + (f"; expires {c.new_key_expires}" if c.new_key_expires else "")
        )
    lines += [f"  note: {n}" for n in report.notes]
    lines += [f"FINDING [{f.code}] {f.env or '-'} {f.path}: {f.message}" for f in report.findings]
    lines += [
        f"NEEDS OWNER APPROVAL [{f.code}] {f.env or '-'} {f.path}: {f.message}" for f in report.needs_approval
    ]
    lines += [f"approved [{f.code}] {f.env or '-'} {f.path}: {f.message}" for f in report.approved]
    lines += [f"  approval: {who}" for who in report.approvals]
    if not report.changes and not report.findings:
        lines.append("  no sealed data changed")
    return "\n".join(lines)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


COLUMNS = (
    "Environment",
    "Cluster",
    "Secret",
    "Entry",
    "Change",
    "Old key → new key",
    "Fingerprint",
    "Sealed with",
    "Scope",
    "Old key age",
)


def to_markdown(report: Report) -> str:
    lines = [f"### sealer review `{report.base[:12]}..{report.head[:12]}`", ""]
    if report.changes:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for c in report.changes:
            cells = [
                c.env,
                c.cluster,
                f"{c.namespace}/{c.secret}",
                f"`{c.entry}`",
                c.action,
                f"`{c.old_key_id or '—'}` → `{c.new_key_id or '—'}`",
                f"`{c.new_fingerprint or '—'}`",
                _cert_cell(c),
                c.scope,
                _age_cell(c),
            ]
            lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    else:
        lines.append("No sealed data changed.")
    lines += ["", f"**Findings ({len(report.findings)}):**" if report.findings else "**No findings.**"]
    lines += [
        f"- **{f.code}** `{_md(f.path)}`{f' `{f.entry}`' if f.entry else ''}: {_md(f.message)}"
        for f in report.findings
    ]
    for title, found in (
        ("Needs code owner approval", report.needs_approval),
        (f"Approved ({', '.join(report.approvals)})", report.approved),
    ):
        if found:
            lines += ["", f"**{_md(title)} ({len(found)}):**"]
            lines += [f"- **{f.code}** `{_md(f.path)}`: {_md(f.message)}" for f in found]
    if report.notes:
        lines += ["", "Notes:"] + [f"- {_md(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"
