"""The review as text or as Markdown to post on the pull request."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sealer.apikey import redact
from sealer.durations import format_duration
from sealer.review.model import Change, Report
from sealer.terminal import markdown_code, markdown_text, one_line


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


def _grace_cell(change: Change) -> str:
    """How long the old key stays valid beside the new one, and from when."""
    if change.old_key_grace_seconds is None:
        return "-" if change.new_key_id is None or change.old_key_id is None else "none"
    span = format_duration(dt.timedelta(seconds=change.old_key_grace_seconds))
    if change.grace_counted_from == "rotation":
        return f"{span} from the rotation, until {change.old_key_revoke_at}"
    return f"{span} from {change.grace_counted_from}"


def to_text(report: Report) -> str:
    """One line per change, finding and note, as inert text: a file name holding ESC or CR
    could otherwise erase the findings printed above it (see `sealer.terminal`). Like every
    output of the review, an API key in a path or message is redacted: CI logs keep it."""
    return redact("\n".join(one_line(line) for line in _text_lines(report)))


def to_json(report: Report) -> str:
    return redact(json.dumps(report.as_dict(), indent=2, sort_keys=True))


def _text_lines(report: Report) -> list[str]:
    lines = [
        f"sealer review {report.base[:12]}..{report.head[:12]}: {len(report.changes)} change(s), "
        f"{len(report.findings)} finding(s)"
    ]
    for c in report.changes:
        lines.append(
            f"  {c.env}/{c.cluster} {c.namespace}/{c.secret} ({c.scope}) {c.entry}: {c.action} {_key_cell(c)}"
            + (f", sha256 {c.new_fingerprint[:SHOWN_FINGERPRINT]}" if c.new_fingerprint else "")
            + f"; sealed with {_cert_cell(c)}; old key age {_age_cell(c)}; old key's grace {_grace_cell(c)}"
            + (f"; expires {c.new_key_expires}" if c.new_key_expires else "")
        )
    lines += [f"  note: {n}" for n in report.notes]
    lines += [f"FINDING [{f.rule}] {f.env or '-'} {f.path}: {f.message}" for f in report.findings]
    lines += [
        f"NEEDS OWNER APPROVAL [{f.rule}] {f.env or '-'} {f.path}: {f.message}" for f in report.needs_approval
    ]
    lines += [f"approved [{f.rule}] {f.env or '-'} {f.path}: {f.message}" for f in report.approved]
    lines += [f"  approval: {who}" for who in report.approvals]
    if report.nothing_reviewed is not None:
        lines.append(f"  {report.nothing_reviewed}")
    elif not report.changes and not report.findings:
        lines.append("  no sealed data changed")
    return lines


def _md(text: Any) -> str:
    """Text a pull request's author may have written (paths, names, messages) as inert Markdown."""
    return markdown_text(str(text))


SHOWN_FINGERPRINT = 12  # hex digits of a key's SHA-256 a line shows, as `keys list` does (the key id's)
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
    "Old key's grace",
)


def to_markdown(report: Report) -> str:
    lines = [f"### sealer review {markdown_code(report.base[:12] + '..' + report.head[:12])}", ""]
    if report.nothing_reviewed is not None:  # no table, no "No findings.": this is no approval
        return redact("\n".join([*lines, f"**Nothing reviewed:** {_md(report.nothing_reviewed)}"]) + "\n")
    if report.changes:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for c in report.changes:
            cells = [
                _md(c.env),
                _md(c.cluster),
                _md(f"{c.namespace}/{c.secret}"),
                markdown_code(c.entry, in_table=True),
                _md(c.action),
                f"{markdown_code(c.old_key_id or '—', True)} → {markdown_code(c.new_key_id or '—', True)}",
                markdown_code((c.new_fingerprint or "")[:SHOWN_FINGERPRINT] or "—", in_table=True),
                _md(_cert_cell(c)),
                _md(c.scope),
                _md(_age_cell(c)),
                _md(_grace_cell(c)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    else:
        lines.append("No sealed data changed.")
    lines += ["", f"**Findings ({len(report.findings)}):**" if report.findings else "**No findings.**"]
    lines += [
        f"- **{_md(f.rule)}** {markdown_code(f.path)}{f' {markdown_code(f.entry)}' if f.entry else ''}: "
        f"{_md(f.message)}"
        for f in report.findings
    ]
    for title, found in (
        ("Needs code owner approval", report.needs_approval),
        (f"Approved ({', '.join(report.approvals)})", report.approved),
    ):
        if found:
            lines += ["", f"**{_md(title)} ({len(found)}):**"]
            lines += [f"- **{_md(f.rule)}** {markdown_code(f.path)}: {_md(f.message)}" for f in found]
    if report.notes:
        lines += ["", "Notes:"] + [f"- {_md(n)}" for n in report.notes]
    return redact("\n".join(lines) + "\n")  # a CI step summary, or the comment `--post` puts up
