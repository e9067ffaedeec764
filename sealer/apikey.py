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
# before a `_` or a `-` are read past. A key pasted into a URL (`%5F`, twice `%255F`), a JSON,
# JavaScript, Rust, Ruby, Swift, Python or C string (`\u005f`, `\x5f`, `\u{5f}` with up to 6 hex
# digits, `\U0000005f`) or HTML or XML (`&#95;`, `&#x5f;`, `&lowbar;`) is the key too, its `-`s
# likewise (`%2D`, `\u002d`, `&#45;`; HTML's `&hyphen;` and `&dash;` are U+2010, not `-`). A
# numeric reference may go without its `;` where an HTML parser still reads it: where the next
# character cannot continue its number (`&#95prod`, not `&#951`: that is U+03B7). A reference
# shown as text by an HTML page or Markdown (`&amp;#95;`, `&amp;\#95;`) is read too: an output
# escapes first, then redacts. Each `_` and `-` is spelt on its own; the key is the text with each
# spelling read (`unescaped`). No alternative starts as another ends, so the search stays linear.
_CODED_UNDERSCORE = (
    r"\\+(?:(?:u005|x5|U0{6}5)[Ff]|u\{0{0,4}5[Ff]\})|%(?:25)?5[Ff]"
    r"|&(?:amp;)*(?:\\*#(?:0*95(?:;|(?![0-9]))|[Xx]0*5[Ff](?:;|(?![0-9A-Fa-f])))|lowbar;|UnderBar;)"
)
_CODED_HYPHEN = (
    r"\\+(?:(?:u002|x2|U0{6}2)[Dd]|u\{0{0,4}2[Dd]\})|%(?:25)?2[Dd]"
    r"|&(?:amp;)*\\*#(?:0*45(?:;|(?![0-9]))|[Xx]0*2[Dd](?:;|(?![0-9A-Fa-f])))"
)
_UNDERSCORE = rf"(?:\\*_|{_CODED_UNDERSCORE})"
_SHOWN_ENV_TAG = rf"[a-z0-9](?:(?:[a-z0-9]|\\*-|{_CODED_HYPHEN}){{0,30}}[a-z0-9])?"
SHOWN_PATTERN = (
    rf"{PREFIX}{_UNDERSCORE}({_SHOWN_ENV_TAG}){_UNDERSCORE}([0-9A-Za-z]{{{RANDOM_LEN + CHECKSUM_LEN}}})"
)
_SHOWN_KEY = re.compile(rf"(?=({SHOWN_PATTERN}))")
_CODED = ((re.compile(_CODED_UNDERSCORE), "_"), (re.compile(_CODED_HYPHEN), "-"))


def _hex_key(before: str) -> str:
    """A key with each of its bytes as two hex digits (either case) after `before`."""

    def byte(digits: str) -> str:
        return f"(?:{before}(?:{digits}))" if before else f"(?:{digits})"

    env = "3[0-9]|6[1-9A-Fa-f]|7[0-9Aa]"  # a-z, 0-9
    tag = rf"{byte(env)}(?:{byte(env + '|2[Dd]')}{{0,30}}{byte(env)})?"
    tail = byte("3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]")  # 0-9, A-Z, a-z
    underscore = byte("5[Ff]")
    prefix = byte("73") + byte("6[Cc]") + byte("72") + underscore
    return f"{prefix}{tag}{underscore}{tail}{{{RANDOM_LEN + CHECKSUM_LEN}}}"


# The whole key hex-encoded (`key.encode().hex()`, `xxd -p`, a C or Python string of `\x` escapes,
# any backslashes before each `x` as before an escaped `_`: JSON and Markdown double them), a URL
# with every byte percent-encoded), one spelling throughout, its hex digits in either case. The
# hex of `slr_` starts it (`HEX_HINTS`, the scanner's keywords; `\x73\` ends the first run of
# backslashes whatever its length): only where a text holds one is the pattern tried, so most
# texts cost a few substring searches. Each byte is read where it stands, so the search stays linear.
_HEX_BEFORE = ("", r"\\+x", "%")
HEX_PATTERN = "(?:" + "|".join(_hex_key(before) for before in _HEX_BEFORE) + ")"
HEX_HINTS = ("736c725f", "\\x73\\", "%73%6c%72%5f")
# ... in each case its two letters may be written in (the scanner searches the text lowercased)
_HEX_HINT_CASES = tuple(
    dict.fromkeys(hint.replace("c", c).replace("f", f) for hint in HEX_HINTS for c in "cC" for f in "fF")
)
_HEX_KEY = re.compile(HEX_PATTERN)
_UNHEX = str.maketrans("", "", "\\x%")  # what goes before each byte
# What the plaintext guard's rule (policies/detectors.yaml's `sealer-api-key`) matches.
SCANNED_PATTERN = f"{SHOWN_PATTERN}|{HEX_PATTERN}"


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


def key_id_of(key: str) -> str:
    """The key id of `key` itself: what a finding names in place of a plaintext key."""
    return key_id(fingerprint(key))


def keys_in(text: str) -> list[str]:
    """Each sealer API key `text` holds (Markdown-escaped or not, whatever is next to it), as the
    key itself: what a plaintext check fingerprints."""
    return [key for _, _, key in _shown_keys(text)]


def holds_key(text: str) -> bool:
    """Does `text` hold something that checks out as a sealer API key (Markdown-escaped or not)?"""
    return any(_shown_keys(text))


def redact(text: str) -> str:
    """`text` with each sealer API key in it (Markdown-escaped or not) as `slr_<env>_[redacted]`:
    what sealer prints or posts of a pull request's paths and messages."""
    parts, done = [], 0
    for start, end, key in _shown_keys(text):
        env = key[len(PREFIX) + 1 : -RANDOM_LEN - CHECKSUM_LEN - 1]
        parts.append(text[done:start] + f"{PREFIX}_{env}_[redacted]" if start >= done else "[redacted]")
        done = max(done, end)  # a key inside another never moves back
    return "".join(parts) + text[done:]


def _shown_keys(text: str) -> list[tuple[int, int, str]]:
    """(start, end, key) of each key `text` shows, in order; two may overlap."""
    found = [(m.start(1), m.end(1), unescaped(m[1])) for m in _SHOWN_KEY.finditer(text)]
    hexed = _hexed_keys(text)
    if hexed:
        found = sorted(found + hexed)
    return [(start, end, key) for start, end, key in found if checksum_ok(key)]


def _hexed_keys(text: str) -> list[tuple[int, int, str]]:
    """(start, end, key) of each hex-encoded key candidate: tried where a hint starts one."""
    found = []
    for hint in _HEX_HINT_CASES:
        at = text.find(hint)
        while at >= 0:
            start = _run_start(text, at) if hint.startswith("\\") else at
            match = _HEX_KEY.match(text, start)
            if match:
                found.append((start, match.end(), _unhexed(match[0])))
            at = text.find(hint, at + 1)
    return found


def _run_start(text: str, at: int) -> int:
    """Where the run of backslashes `at` ends starts: the key is hidden whole, no backslash of it
    left to escape what replaces it (JSON's doubled `x73` escape would leave a stray one)."""
    while at > 0 and text[at - 1] == "\\":
        at -= 1
    return at


def unescaped(shown: str) -> str:
    """A key as `SHOWN_PATTERN` or `HEX_PATTERN` found it, each of its `_`s and `-`s spelt plainly
    (its other characters are never escaped), or its hex read: the key itself."""
    if _HEX_KEY.fullmatch(shown):
        return _unhexed(shown)
    if "\\" in shown or "%" in shown or "&" in shown:  # most keys are written as they are
        for spelling, char in _CODED:
            shown = spelling.sub(char, shown)
        shown = shown.replace("\\", "")  # what escaped a plain `_` or `-`
    return shown


def _unhexed(shown: str) -> str:
    return bytes.fromhex(shown.translate(_UNHEX)).decode("ascii")  # HEX_PATTERN's bytes are ASCII
