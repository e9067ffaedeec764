"""sealer's API key format, built like GitHub's tokens so scanners can confirm a hit.

    slr_<env>_<32 random base62><6 base62 CRC32 of everything before it>

32 base62 characters carry 190 bits from `secrets`; the checksum lets a scanner tell a real
key from a lookalike without any false positives worth the name (1 in 2**32).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib
from dataclasses import dataclass

from sealer.errors import BadInput

PREFIX = "slr"
RANDOM_LEN = 32
CHECKSUM_LEN = 6
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ENV_TAG = r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?"
_ENV_RE = re.compile(rf"{ENV_TAG}\Z")
# What scanners search for; `checksum_ok` confirms a match. Bounded by anything but a base62
# digit, not by `\b`: `_` is a word character, and `old_slr_…` or `slr_…_v2` hold a key too.
KEY_PATTERN = (
    rf"(?<![0-9A-Za-z]){PREFIX}_({ENV_TAG})_([0-9A-Za-z]{{{RANDOM_LEN + CHECKSUM_LEN}}})(?![0-9A-Za-z])"
)
_KEY_RE = re.compile(KEY_PATTERN)
# What `redact` hides: a key as it is, or as Markdown writes it (`terminal.markdown_text`
# backslash-escapes each `_`; JSON then doubles the backslash), whatever is next to it: the
# checksum alone tells a key. Output is escaped before it is redacted, and an escape ends in a
# base62 digit (`\x1b`, `\u2028`, JSON's `\n` or `\u00e9`): bounded by non-base62 characters, a
# key after one was shown whole. Looked for at every `slr` (a lookahead): a lookalike whose
# checksum fails must not swallow the start of a key behind it (`slr_x_<35 characters>slr_prod_…`).
# Telegram's MarkdownV2 escapes an environment's `-` too (`slr\_prod\-eu\_…`): any backslashes
# before a `_` or a `-` are read past. A key pasted into a URL (`%5F`), a JSON, JavaScript or
# Python string (`\u005f`, `\x5f`) or HTML or XML (`&#95;`, `&#x5f;`, `&lowbar;`) is the key too,
# its `-`s likewise (`%2D`, `\u002d`, `&#45;`; HTML's `&hyphen;` and `&dash;` are U+2010, not
# `-`). Each `_` and `-` is spelt on its own; the key is the text with each spelling read
# (`unescaped`). No alternative starts as another ends, so the search stays linear.
_CODED_UNDERSCORE = r"\\+(?:u005|x5)[Ff]|%5[Ff]|&#0*95;|&#[Xx]0*5[Ff];|&lowbar;|&UnderBar;"
_CODED_HYPHEN = r"\\+(?:u002|x2)[Dd]|%2[Dd]|&#0*45;|&#[Xx]0*2[Dd];"
_UNDERSCORE = rf"(?:\\*_|{_CODED_UNDERSCORE})"
_SHOWN_ENV_TAG = rf"[a-z0-9](?:(?:[a-z0-9]|\\*-|{_CODED_HYPHEN}){{0,30}}[a-z0-9])?"
SHOWN_PATTERN = (
    rf"{PREFIX}{_UNDERSCORE}({_SHOWN_ENV_TAG}){_UNDERSCORE}([0-9A-Za-z]{{{RANDOM_LEN + CHECKSUM_LEN}}})"
)
_SHOWN_KEY = re.compile(rf"(?=({SHOWN_PATTERN}))")
_CODED = ((re.compile(_CODED_UNDERSCORE), "_"), (re.compile(_CODED_HYPHEN), "-"))


@dataclass(frozen=True)
class ParsedKey:
    env: str
    random: str
    checksum: str


_PAIRS = [high + low for high in BASE62 for low in BASE62]  # 0..3843 as two base62 digits


def base62(number: int, width: int) -> str:
    """`number` in base62, left-padded with zeros to `width` digits (two digits a step: every key
    takes this for its checksum)."""
    pairs = []
    while number:
        number, rest = divmod(number, 62 * 62)
        pairs.append(_PAIRS[rest])
    return "".join(reversed(pairs)).lstrip("0").rjust(width, "0")


def _checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LEN)


def check_env_tag(env: str) -> str:
    if not _ENV_RE.match(env):
        raise BadInput(
            f"environment tag {env!r} is not valid: use 1-32 lowercase letters, digits and inner hyphens"
        )
    return env


def generate(env: str) -> str:
    """A new API key for `env`."""
    body = f"{PREFIX}_{check_env_tag(env)}_{_random_base62(RANDOM_LEN)}"
    return body + _checksum(body)


_UNBIASED = 62 * 4  # bytes below this map onto base62 evenly; the rest are dropped
_TO_BASE62 = (BASE62 * 5).encode("ascii")[:256]  # byte b -> BASE62[b % 62] (the biased ones dropped)
_BIASED = bytes(range(_UNBIASED, 256))


def _random_base62(length: int) -> str:
    """`length` uniform base62 digits from `secrets` (one call for a whole key, not one a digit;
    `bytes.translate` maps each byte and drops the biased ones)."""
    digits = b""
    while len(digits) < length:
        digits += secrets.token_bytes(length + 8).translate(_TO_BASE62, _BIASED)
    return digits[:length].decode("ascii")


def checksum_ok(key: str) -> bool:
    """True when `key` has the format and its checksum matches."""
    match = _KEY_RE.fullmatch(key)
    if not match:
        return False
    return _checksum(key[:-CHECKSUM_LEN]) == key[-CHECKSUM_LEN:]


def parse(key: str) -> ParsedKey:
    """Split a key into its parts. The error never repeats the key."""
    match = _KEY_RE.fullmatch(key.strip())
    if not match:
        raise BadInput("not a sealer API key (expected slr_<env>_<38 base62 characters>)")
    if not checksum_ok(match.group(0)):
        raise BadInput("API key checksum does not match: the key is mistyped or truncated")
    tail = match.group(2)
    return ParsedKey(match.group(1), tail[:RANDOM_LEN], tail[RANDOM_LEN:])


def fingerprint(key: str) -> str:
    """Hex SHA-256 of the key: what backends and the ledger store, never the key."""
    return hashlib.sha256(key.strip().encode("utf-8")).hexdigest()


def key_id(key_fingerprint: str) -> str:
    """A short, public handle for a key, derived from its fingerprint."""
    return "kid_" + key_fingerprint[:12]


def keys_in(text: str) -> list[str]:
    """Each sealer API key `text` holds (Markdown-escaped or not, whatever is next to it), as the
    key itself: what a plaintext check fingerprints."""
    return [unescaped(text[start:end]) for start, end, _ in _shown_keys(text)]


def holds_key(text: str) -> bool:
    """Does `text` hold something that checks out as a sealer API key (Markdown-escaped or not)?"""
    return any(_shown_keys(text))


def redact(text: str) -> str:
    """`text` with each sealer API key in it (Markdown-escaped or not) as `slr_<env>_[redacted]`:
    what sealer prints or posts of a pull request's paths and messages."""
    parts, done = [], 0
    for start, end, env in _shown_keys(text):
        parts.append(text[done:start] + f"{PREFIX}_{env}_[redacted]" if start >= done else "[redacted]")
        done = max(done, end)  # a key inside another never moves back
    return "".join(parts) + text[done:]


def _shown_keys(text: str) -> list[tuple[int, int, str]]:
    """(start, end, environment) of each key `text` shows, in order; two may overlap."""
    return [
        (m.start(1), m.end(1), unescaped(m[2]))
        for m in _SHOWN_KEY.finditer(text)
        if checksum_ok(unescaped(m[1]))
    ]


def unescaped(shown: str) -> str:
    """A key as `SHOWN_PATTERN` found it, each of its `_`s and `-`s spelt plainly (its other
    characters are never escaped): the key itself."""
    if "\\" in shown or "%" in shown or "&" in shown:  # most keys are written as they are
        for spelling, char in _CODED:
            shown = spelling.sub(char, shown)
        shown = shown.replace("\\", "")  # what escaped a plain `_` or `-`
    return shown
