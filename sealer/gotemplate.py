"""`spec.template.data` rendered as the Sealed Secrets controller renders it, for recovery.

The controller parses each entry as a Go text/template (with sprig's functions) and executes
it with the map `entry name -> decrypted value`; the output becomes that Secret entry. sealer
renders the subset people use, with Go's exact results, and refuses the rest rather than
guess:

- text, copied byte for byte; `{{/* comments */}}`; trim markers `{{- ` and ` -}}`;
- `.entry` (a missing entry prints `<no value>`, as Go prints a missing map key), `.` (the map);
- "strings" and `raw strings`; pipelines `a | f`;
- `index . "entry"` (a missing entry is empty), `print`, and sprig's `b64enc`, `b64dec`, `trim`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sealer.errors import BadInput

MAX_OUTPUT = 1024 * 1024  # a whole Secret's limit: no template may blow up past it
SPACE = " \t\r\n"  # what trim markers remove, as Go's lexer defines it
SUPPORTED = ".entry, ., index, print, b64enc, b64dec, trim"
# unicode.IsSpace beyond ASCII, for sprig's trim (strings.TrimSpace)
_UNICODE_SPACE = frozenset("\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}


class Missing:
    """What `.entry` yields for an entry that is not there: Go's invalid reflect.Value."""


MISSING = Missing()
Value = bytes | Mapping[str, bytes] | Missing


@dataclass(frozen=True)
class Token:
    kind: str  # "field", "dot", "string", "ident", "pipe"
    text: str
    data: bytes = b""


class TemplateError(BadInput):
    pass


def render(template: str, values: Mapping[str, bytes], where: str) -> bytes:
    """The bytes the controller puts in the Secret for this template entry."""
    out: list[bytes] = []
    pos = size = 0
    while True:
        start = template.find("{{", pos)
        text = template[pos : start if start >= 0 else len(template)]
        if start < 0:
            out.append(text.encode())
            return _bounded(b"".join(out), where)
        inner = start + 2
        if template[inner : inner + 1] == "-" and template[inner + 1 : inner + 2] in tuple(SPACE):
            text, inner = text.rstrip(SPACE), inner + 2
        out.append(text.encode())
        tokens, pos, trim_right = _action(template, inner, where)
        if tokens is not None:
            out.append(_show(_pipeline(tokens, values, where)))
            size += len(out[-1])
            _bounded(b"", where, size)
        if trim_right:
            while pos < len(template) and template[pos] in SPACE:
                pos += 1


def _action(template: str, pos: int, where: str) -> tuple[list[Token] | None, int, bool]:
    """(tokens, or None for a comment; position after `}}`; whether ` -}}` closed it)."""
    skipped = pos
    while skipped < len(template) and template[skipped] in SPACE:
        skipped += 1
    if template.startswith("/*", skipped) and skipped == pos:
        end = template.find("*/", pos + 2)
        if end < 0:
            raise TemplateError(f"{where}: unclosed comment")
        closed = _right_delim(template, end + 2)
        if closed is None:
            raise TemplateError(f"{where}: comment ends before the closing delimiter")
        return None, *closed
    return _tokens(template, pos, where)


def _right_delim(template: str, pos: int) -> tuple[int, bool] | None:
    if template.startswith("}}", pos):
        return pos + 2, False
    if template[pos : pos + 1] in tuple(SPACE) and template.startswith("-}}", pos + 1):
        return pos + 4, True
    return None


def _tokens(template: str, pos: int, where: str) -> tuple[list[Token], int, bool]:
    tokens: list[Token] = []
    while pos < len(template):
        closed = _right_delim(template, pos)
        if closed is not None:
            return tokens, *closed
        char = template[pos]
        if char in SPACE:
            pos += 1
        elif char == "|":
            tokens.append(Token("pipe", char))
            pos += 1
        elif char == '"':
            pos = _quoted(template, pos, tokens, where)
        elif char == "`":
            end = template.find("`", pos + 1)
            if end < 0:
                raise TemplateError(f"{where}: unterminated raw string")
            raw = template[pos + 1 : end].replace("\r", "")  # as strconv.Unquote does
            tokens.append(Token("string", raw, raw.encode()))
            pos = end + 1
        elif char == "." or char.isalpha() or char == "_":
            pos = _word(template, pos, tokens, where)
        else:
            raise _unsupported(where, repr(char))
    raise TemplateError(f"{where}: unclosed action")


def _word(template: str, pos: int, tokens: list[Token], where: str) -> int:
    end = pos + 1
    while end < len(template) and (
        template[end].isascii() and (template[end].isalnum() or template[end] == "_")
    ):
        end += 1
    word = template[pos:end]
    if word == ".":
        tokens.append(Token("dot", word))
    elif word.startswith("."):
        if word[1].isdigit():
            raise _unsupported(where, "a number")
        tokens.append(Token("field", word[1:]))
    elif word.isidentifier() and word.isascii():
        tokens.append(Token("ident", word))
    else:
        raise _unsupported(where, repr(word))
    if end < len(template) and template[end] == ".":
        raise _unsupported(where, f"a chain of fields ({template[pos : end + 1]}…)")
    return end


def _quoted(template: str, pos: int, tokens: list[Token], where: str) -> int:
    """A Go interpreted string literal, unquoted as strconv.Unquote does."""
    out = bytearray()
    i = pos + 1
    while i < len(template):
        char = template[i]
        if char == '"':
            tokens.append(Token("string", template[pos : i + 1], bytes(out)))
            return i + 1
        if char == "\n":
            break
        if char != "\\":
            out += char.encode()
            i += 1
            continue
        i = _escape(template, i + 1, out, where)
    raise TemplateError(f"{where}: unterminated quoted string")


def _escape(template: str, i: int, out: bytearray, where: str) -> int:
    """One escape after a backslash at i-1: appends its bytes, returns where the string goes on."""
    code = template[i : i + 1]
    if code in _ESCAPES:
        out.append(_ESCAPES[code])
        return i + 1
    if code in ("x", "u", "U"):
        width = {"x": 2, "u": 4, "U": 8}[code]
        number, end = _digits(template[i + 1 : i + 1 + width], width, 16, where), i + 1 + width
    elif code and code in "01234567":
        number, end = _digits(template[i : i + 3], 3, 8, where), i + 3
    else:
        raise TemplateError(f"{where}: invalid escape in a quoted string")
    if code not in ("u", "U"):
        if number > 255:
            raise TemplateError(f"{where}: invalid escape in a quoted string")
        out.append(number)  # \x and octal escapes are single bytes
    elif 0xD800 <= number <= 0xDFFF or number > 0x10FFFF:
        raise TemplateError(f"{where}: invalid escape in a quoted string")
    else:
        out += chr(number).encode()
    return end


def _digits(text: str, width: int, base: int, where: str) -> int:
    allowed = "0123456789abcdefABCDEF"[: 22 if base == 16 else 8]
    if len(text) != width or any(c not in allowed for c in text):
        raise TemplateError(f"{where}: invalid escape in a quoted string")
    return int(text, base)


def _unsupported(where: str, what: str) -> TemplateError:
    return TemplateError(f"{where}: {what} is not in the template subset sealer renders ({SUPPORTED})")


def _commands(tokens: list[Token], where: str) -> Iterator[list[Token]]:
    command: list[Token] = []
    for token in [*tokens, Token("pipe", "|")]:
        if token.kind != "pipe":
            command.append(token)
            continue
        if not command:
            raise TemplateError(f"{where}: missing value for command")
        yield command
        command = []


def _pipeline(tokens: list[Token], values: Mapping[str, bytes], where: str) -> Value:
    result: Value | None = None
    for stage, command in enumerate(_commands(tokens, where)):
        head, args = command[0], [_operand(t, values, where) for t in command[1:]]
        if head.kind != "ident":
            if stage or args:
                raise TemplateError(f"{where}: {head.text} is not a function")
            result = _operand(head, values, where)
            continue
        if result is not None:
            args.append(result)
        result = _call(head.text, args, where)
        if isinstance(result, bytes):
            _bounded(result, where)
    assert result is not None
    return result


def _operand(token: Token, values: Mapping[str, bytes], where: str) -> Value:
    if token.kind == "string":
        return token.data
    if token.kind == "dot":
        return values
    if token.kind == "field":
        return values.get(token.text, MISSING)
    raise _unsupported(where, f"{token.text} as an argument")


def _call(name: str, args: list[Value], where: str) -> Value:
    if name == "index":
        return _index(args, where)
    if name == "print":
        return _sprint(args, where)
    if name in ("b64enc", "b64dec", "trim"):
        if len(args) != 1:
            raise TemplateError(f"{where}: {name} takes one argument, got {len(args)}")
        if not isinstance(args[0], bytes):
            raise TemplateError(f"{where}: {name}: invalid value; expected string")
        return {"b64enc": _b64enc, "b64dec": _b64dec, "trim": _trim}[name](args[0], where)
    raise _unsupported(where, f"function {name!r}")


def _index(args: list[Value], where: str) -> Value:
    if len(args) != 2 or not isinstance(args[0], Mapping) or not isinstance(args[1], bytes):
        raise _unsupported(where, 'index other than `index . "entry"`')
    try:
        key = args[1].decode()
    except UnicodeDecodeError:
        return b""
    return args[0].get(key, b"")  # index yields the zero value for a missing key


def _sprint(args: list[Value], where: str) -> bytes:
    """fmt.Sprint: a space between operands when neither is a string."""
    out: list[bytes] = []
    size = 0
    for i, arg in enumerate(args):
        if i and not isinstance(arg, bytes) and not isinstance(args[i - 1], bytes):
            out.append(b" ")
        out.append(b"<nil>" if isinstance(arg, Missing) else _show(arg))
        size += len(out[-1]) + 1
        _bounded(b"", where, size)
    return b"".join(out)


def _bounded(value: bytes, where: str, size: int | None = None) -> bytes:
    if (len(value) if size is None else size) > MAX_OUTPUT:
        raise TemplateError(
            f"{where}: renders to more than {MAX_OUTPUT // 1024} KiB, more than a Secret holds"
        )
    return value


def _show(value: Value) -> bytes:
    """How the template prints a value: strings as they are, a map as fmt prints it."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, Missing):
        return b"<no value>"
    return b"map[" + b" ".join(k.encode() + b":" + value[k] for k in sorted(value)) + b"]"


def _b64enc(value: bytes, where: str) -> bytes:
    return base64.b64encode(value)


def _b64dec(value: bytes, where: str) -> bytes:
    try:
        return base64.b64decode(value.replace(b"\r", b"").replace(b"\n", b""), validate=True)
    except binascii.Error:
        # sprig then renders Go's error text, whose byte offset sealer would have to imitate.
        raise TemplateError(f"{where}: b64dec of a value that is not base64") from None


def _trim(value: bytes, where: str) -> bytes:
    """strings.TrimSpace: Unicode white space off both ends; an invalid byte stops it."""
    text = value.decode("utf-8", "surrogateescape")
    is_space = set(SPACE + "\v\f").union(_UNICODE_SPACE).__contains__
    start, end = 0, len(text)
    while start < end and is_space(text[start]):
        start += 1
    while end > start and is_space(text[end - 1]):
        end -= 1
    return text[start:end].encode("utf-8", "surrogateescape")
