"""Text for a terminal: names, paths, commit subjects and servers' words are anyone's text, and
an ESC sequence or a CR in them could erase or forge the lines printed above."""

from __future__ import annotations

import re

# Bidirectional controls: a browser or terminal reorders the text around them ("Trojan source").
# One class for every place that shows or strips them.
BIDI_CLASS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Every C0 and C1 control character but the line feed and the tab that sealer's own text uses,
# the line and paragraph separators (a CI log's viewer, and str.splitlines(), break lines there)
# and the bidirectional controls.
_CONTROL = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u2028\\u2029{BIDI_CLASS}]")
_LINE_FEED = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029{BIDI_CLASS}]")


def inert(text: str) -> str:
    """`text` with each control character but newline and tab shown as `\\xNN` (a line separator
    or bidirectional control as `\\uNNNN`)."""
    return _CONTROL.sub(_shown, text)


def one_line(text: str) -> str:
    """`text` as one inert line: newlines and tabs shown as `\\xNN` too."""
    return _LINE_FEED.sub(_shown, text)


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# An id a file gives (a `sealer check` rule's in a policy file, a `sealer scan` detector's):
# lowercase letters, digits and hyphens, as every shipped one is, so any output may show it as
# given: no control character, line break, space, quote or Markdown in it.
PLAIN_ID = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


_UNPRINTABLE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029{BIDI_CLASS}]+")


def clean(text: str, limit: int = 300) -> str:
    """Text a server sent (a Git host's, a Kubernetes API server's), fit for one line of output:
    each run of control, line-separating and bidirectional characters a space, bounded."""
    return cut(_UNPRINTABLE.sub(" ", text).strip(), limit)


_LAST_WORD = re.compile(r"\S*\Z")


def cut(text: str, limit: int) -> str:
    """`text` bounded to `limit` characters and `…`, never through a word: a secret in it (a
    key, however spelt, holds no space) is shown whole, for redaction to hide, or not at all.
    Half a key is no key to the redaction, yet most of one to whoever reads the line."""
    if len(text) <= limit:
        return text
    head = text[:limit] if text[limit].isspace() else _LAST_WORD.sub("", text[:limit])
    return head.rstrip() + "…"


# Markdown's own punctuation that could start a link, an image, emphasis, code, a heading or a
# table cell.
_MARKDOWN_ACTIVE = re.compile(r"[\\`*_\[\]!~|#]")


def markdown_text(text: str) -> str:
    """Anyone's text as inert Markdown on one line (a pull-request comment): line breaks as
    spaces, other control characters and bidirectional controls shown, `&` `<` `>` as entities
    (no HTML, comment or autolink), and the punctuation that makes links, images, emphasis, code
    or table cells backslash-escaped."""
    flat = inert(" ".join(text.splitlines()))
    escaped = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_ACTIVE.sub(lambda m: "\\" + m.group(0), escaped)


def markdown_code(text: str, in_table: bool = False) -> str:
    """Anyone's text as one Markdown code span: its content is literal (no link, HTML or entity)
    as long as no backtick run in it can close it, so the fence is one backtick longer than the
    longest run inside; control and bidirectional characters shown, line breaks as spaces. In a
    GFM table `|` is escaped too: GFM splits the cells before it reads code spans."""
    body = inert(" ".join(text.splitlines()))
    body = body.replace("|", "\\|") if in_table else body
    fence = "`" * (max((len(run) for run in re.findall("`+", body)), default=0) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"
