"""`sealer audit` output: an aligned table for terminals, Markdown, and a self-contained HTML page.

Each takes the inventory (sealer.policy.audit.inventory). Only the HTML page loads Jinja2. Each
shows a sealer API key that a cell holds (an actor is the ledger's text, a certificate path
sealer.yaml's) as `slr_<env>_[redacted]`.
"""

from __future__ import annotations

import json
from typing import Any

from sealer.apikey import redact
from sealer.policy.report import cell, paint, plural
from sealer.terminal import one_line

# Key and certificate statuses, worst first; the colour each is shown in.
STATUS_COLORS = {
    "missing": "red",
    "expired": "red",
    "overdue": "red",
    "unreadable": "red",
    "mismatch": "red",
    "expiring": "yellow",
    "due": "yellow",
    "pending": "yellow",
    "ok": "green",
}


KEY_HEADERS = ("ENV", "KEY", "KEY ID", "STATUS", "AGE", "LIMIT", "DUE", "LAST ROTATION", "ACTOR")
CERT_HEADERS = ("ENV", "CLUSTER", "FINGERPRINT", "KEY", "EXPIRES", "DAYS LEFT", "STATUS")


def _day(stamp: str | None) -> str:
    return stamp[:10] if stamp else "-"


def _minute(stamp: str | None) -> str:
    return stamp[:16].replace("T", " ") if stamp else "-"


def key_rows(inv: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            env["name"],
            k["name"],
            k["key_id"] or "-",
            k["status"],
            "-" if k["age_days"] is None else f"{k['age_days']}d",
            f"{env['max_age_days']}d",
            _day(k["due"]),
            _minute(k["created"]),
            k["actor"] or "-",
        )
        for env in inv["environments"]
        for k in env["keys"]
    ]


def cert_rows(inv: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            env["name"],
            c["cluster"],
            c["fingerprint"][:16] + "…",
            f"{c['key_type']} {c['key_bits']}" if c["key_bits"] else (c["key_type"] or "-"),
            _day(c["not_after"]),
            "-" if c["days_left"] is None else str(c["days_left"]),
            c["status"],
        )
        for env in inv["environments"]
        for c in env["certificates"]
    ]


def aligned(headers: tuple[str, ...], rows: list[tuple[str, ...]], status: int, color: bool) -> list[str]:
    """Columns padded to their widest cell (measured before colouring); the `status` column coloured.
    Cells are inert (an actor is the ledger's text: a CR in it would forge a row)."""
    rows = [tuple(one_line(value) for value in row) for row in rows]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    widths[-1] = 0  # the last column is not padded: no trailing blanks

    def padded(row: tuple[str, ...]) -> list[str]:
        return [value.ljust(width) for value, width in zip(row, widths, strict=True)]

    lines = ["  ".join(paint(cell, "bold", color) for cell in padded(headers))]
    for row in rows:
        cells = padded(row)
        cells[status] = paint(cells[status], STATUS_COLORS.get(row[status], "dim"), color)
        lines.append("  ".join(cells))
    return lines


def _totals(inv: dict[str, Any]) -> str:
    if not inv["errors"] and not inv["warnings"]:
        count = len(inv["environments"])
        return f"policy: {plural(count, 'environment')} {'complies' if count == 1 else 'comply'}"
    return (
        f"policy: {plural(inv['errors'], 'error')}, {plural(inv['warnings'], 'warning')} "
        "(run `sealer check` for what to fix)"
    )


def table(inv: dict[str, Any], color: bool = False) -> str:
    lines = [paint(f"sealer audit, {_minute(inv['generated'])} UTC", "bold", color), ""]
    lines += aligned(KEY_HEADERS, key_rows(inv), 3, color)
    certs = cert_rows(inv)
    lines += ["", *aligned(CERT_HEADERS, certs, 6, color)] if certs else ["", "no pinned certificates"]
    grace: list[tuple[str, ...]] = [
        (env["name"], g["name"], g["key_id"], _minute(g["revoke_at"]))
        for env in inv["environments"]
        for g in env["grace"]
    ]
    if grace:
        lines += ["", *aligned(("ENV", "KEY", "KEY ID (GRACE)", "VALID UNTIL"), grace, 2, False)]
    return redact("\n".join([*lines, "", _totals(inv)]))


def _md_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(headers) + " |",
        "|" + " --- |" * len(headers),
        *("| " + " | ".join(cell(str(v)) for v in row) + " |" for row in rows),
    ]


def markdown(inv: dict[str, Any]) -> str:
    lines = [f"## sealer audit, {_minute(inv['generated'])} UTC", "", _totals(inv), "", "### Keys", ""]
    lines += _md_table(KEY_HEADERS, key_rows(inv))
    certs = cert_rows(inv)
    lines += ["", "### Certificates", ""]
    lines += _md_table(CERT_HEADERS, certs) if certs else ["No pinned certificates."]
    return redact("\n".join(lines) + "\n")


def _ticks(top: float) -> list[int]:
    step = next((s for s in (7, 15, 30, 60, 90, 180, 365, 730) if top / s <= 8), 1460)
    return list(range(0, int(top) + 1, step))


def chart(
    inv: dict[str, Any], width: int = 880, label_width: int = 190, row_height: int = 30
) -> dict[str, Any]:
    """Geometry of the SVG bar chart: one bar per key (its age), with its limit and warning zone."""
    keys = [(env, k) for env in inv["environments"] for k in env["keys"]]
    top = max([env["max_age_days"] for env, _ in keys] + [k["age_days"] or 0 for _, k in keys] + [1]) * 1.08
    plot = width - label_width - 130  # room on the right for the "N of M days" text
    scale = plot / top
    bars = [
        {
            "label": f"{env['name']} / {k['name']}",
            "y": 20 + i * row_height,
            "status": k["status"],
            "width": round((k["age_days"] or 0) * scale, 1),
            "limit_x": round(label_width + env["max_age_days"] * scale, 1),
            "warn_x": round(label_width + max(env["max_age_days"] - env["warn_days"], 0) * scale, 1),
            "text": ("no key" if k["age_days"] is None else f"{k['age_days']} of {env['max_age_days']} days"),
        }
        for i, (env, k) in enumerate(keys)
    ]
    height = 20 + len(keys) * row_height + 30
    ticks = [{"x": round(label_width + t * scale, 1), "label": f"{t}d"} for t in _ticks(top)]
    return {
        "width": width,
        "height": height,
        "label_width": label_width,
        "row_height": row_height,
        "bars": bars,
        "ticks": ticks,
        "axis_y": height - 24,
    }


def html(inv: dict[str, Any]) -> str:
    """A self-contained page: inline CSS and SVG, no scripts, no external assets."""
    from sealer import templating

    return redact(templating.render("audit.html.j2", inv=inv, chart=chart(inv), colors=STATUS_COLORS))


def as_json(inv: dict[str, Any]) -> str:
    return redact(json.dumps(inv, indent=2, sort_keys=True))
