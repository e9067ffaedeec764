"""What a jsonnet file imports (`import`, `importstr`, `importbin`). Argo CD evaluates a folder's
jsonnet, and a file it imports, whatever its name or extension, decides what it makes (an
`importstr` of a text file may give a Secret its name). An import names a literal string: a
small lexer skips comments and strings, so only real imports count, and an import whose
string it cannot read (a text block, a comment before it) makes the file count as importing
anything (fail closed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_KEYWORD = re.compile(r"import(str|bin)?\b")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)


@dataclass
class Imports:
    code: set[str] = field(default_factory=set)  # evaluated as jsonnet (`import`)
    data: set[str] = field(default_factory=set)  # read as text or bytes (`importstr`, `importbin`)
    unread: bool = False  # an import whose string the lexer cannot read


def imports(text: str) -> Imports:
    found = Imports()
    i, n = 0, len(text)
    while i < n:
        if text.startswith(("//", "#"), i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif text[i] in "\"'@|" and (text[i] != "|" or text.startswith("|||", i)):
            i = _string(text, i)[1]
        elif (match := _KEYWORD.match(text, i)) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            value, i = _string(text, _after_space(text, match.end()))
            if value is None:
                found.unread = True
            else:
                (found.data if match.group(1) else found.code).add(value)
        else:
            i += 1
    return found


def _after_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _string(text: str, i: int) -> tuple[str | None, int]:
    """The value of the string literal at `i` (None if none is there, or a text block) and
    where it ends."""
    if text.startswith("|||", i):  # a text block: ends at the next `|||`
        line_end = text.find("\n", i)
        end = text.find("|||", len(text) if line_end < 0 else line_end)
        return None, len(text) if end < 0 else end + 3
    verbatim = text.startswith(("@'", '@"'), i)
    start = i + 1 if verbatim else i
    quote = text[start] if start < len(text) and text[start] in "\"'" else None
    if quote is None:
        return None, i + 1
    j, parts = start + 1, []
    while j < len(text):
        c = text[j]
        if verbatim and c == quote and text.startswith(quote * 2, j):
            parts.append(quote)
            j += 2
        elif c == quote:
            return "".join(parts), j + 1
        elif c == "\\" and not verbatim:
            escape = _ESCAPE.match(text, j)
            parts.append(_unescape(escape.group(1)) if escape else "\\")
            j = escape.end() if escape else j + 1
        else:
            parts.append(c)
            j += 1
    return None, len(text)


def _unescape(escape: str) -> str:
    if escape in ("'", '"'):
        return escape
    try:
        return str(json.loads(f'"\\{escape}"'))
    except ValueError:
        return "\\" + escape
