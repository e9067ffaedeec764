"""`sealer check` output for people (text), pipelines (JSON: Report.as_dict) and pull requests (Markdown).

Every output shows a sealer API key that a message holds (a path sealer.yaml names, a values
file's YAML error quoting its line) as `slr_<env>_[redacted]`, as `sealer review` does: the hook
and CI logs keep what they print."""

from __future__ import annotations

import json

from sealer.apikey import redact
from sealer.policy.model import ERROR, Problem
from sealer.policy.runner import Report
from sealer.terminal import markdown_code, markdown_text, one_line

_COLORS = {"red": "31", "yellow": "33", "green": "32", "dim": "2", "bold": "1"}


def paint(text: str, color: str, enabled: bool) -> str:
    """`text` in an ANSI colour when `enabled` (stdout is a terminal), else unchanged."""
    return f"\x1b[{_COLORS[color]}m{text}\x1b[0m" if enabled else text


def level_color(level: str) -> str:
    return "red" if level == ERROR else "yellow"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(report: Report, strict: bool) -> str:
    envs = plural(len(report.environments), "environment")
    if not report.problems:
        return f"ok: {envs} {'complies' if len(report.environments) == 1 else 'comply'} with the policy"
    verdict = "failed" if report.failed(strict) else "passed with warnings"
    return f"{verdict}: {plural(report.errors, 'error')}, {plural(report.warnings, 'warning')} in {envs}"


def text(report: Report, strict: bool = False, color: bool = False) -> str:
    """One line per problem (level, environment, rule, what is wrong), its fix indented below.
    A message names paths sealer.yaml holds, and a leftover environment is a folder's name: a CR
    or ESC in one would forge or erase lines."""
    env_width = max((len(one_line(p.env)) for p in report.problems), default=0)
    rule_width = max((len(p.rule) for p in report.problems), default=0)
    lines = []
    for p in report.problems:
        level = paint(f"{p.level:<7}", level_color(p.level), color)
        rule = paint(f"{p.rule:<{rule_width}}", "bold", color)
        lines.append(f"{level} {one_line(p.env):<{env_width}}  {rule}  {one_line(p.message)}")
        lines.append(f"{'':8}{paint('fix: ' + one_line(p.fix), 'dim', color)}")
    lines.append(summary(report, strict))
    return redact("\n".join(lines))


def as_json(report: Report, strict: bool = False) -> str:
    return redact(json.dumps(report.as_dict(strict), indent=2, sort_keys=True))


def cell(value: str) -> str:
    """A GFM table cell of anyone's text (a message names paths sealer.yaml holds and key ids a
    ledger holds): inert Markdown on one line, so no link, image, emphasis or fake row."""
    return markdown_text(value)


def _code(text: str) -> str:
    """A code span in a table cell (a blank one would show its backticks: that stays text)."""
    return markdown_code(text, in_table=True) if text.strip() else cell(text)


def fix_cell(fix: str) -> str:
    """A plain command becomes inline code; prose with `commands` in it keeps them as code spans
    and the rest inert. Unpaired backticks (anyone's text): all of it inert."""
    parts = fix.split("`")
    if len(parts) == 1:
        return _code(fix)
    if len(parts) % 2 == 0:
        return cell(fix)
    return "".join(_code(p) if i % 2 else cell(p) for i, p in enumerate(parts))


def _row(p: Problem) -> str:
    return f"| {p.level} | {cell(p.env)} | `{p.rule}` | {cell(p.message)} | {fix_cell(p.fix)} |"


def markdown(report: Report, strict: bool = False) -> str:
    """A summary line and, when there are problems, a GFM table of them."""
    head = f"**sealer check** — {summary(report, strict)}"
    if not report.problems:
        return head + "\n"
    rows = ["| Level | Environment | Rule | Problem | Fix |", "| --- | --- | --- | --- | --- |"]
    return redact("\n".join([head, "", *rows, *map(_row, report.problems)]) + "\n")
