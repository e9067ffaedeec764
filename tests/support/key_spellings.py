"""A sealer key with its `_`s and `-`s spelt as Markdown, URLs, string literals and HTML write
them, or the whole key as hex: the spellings the plaintext guard reads as the key
(`apikey.SHOWN_PATTERN`, `apikey.HEX_PATTERN`)."""

from __future__ import annotations

import re

# name -> (how `_` is written, how `-` is written)
_CHARACTERS = {
    "markdown": ("\\_", "\\-"),
    "url": ("%5F", "%2D"),
    "url-lower": ("%5f", "%2d"),
    "url-twice": ("%255F", "%252D"),
    "url-twice-lower": ("%255f", "%252d"),
    "json-unicode": ("\\u005f", "\\u002d"),
    "unicode-upper": ("\\u005F", "\\u002D"),
    "json-unicode-in-json": ("\\\\u005f", "\\\\u002d"),
    "es6-unicode": ("\\u{5f}", "\\u{2d}"),
    "es6-unicode-padded": ("\\u{00005F}", "\\u{002d}"),
    "python-hex": ("\\x5f", "\\x2d"),
    "python-unicode-long": ("\\U0000005f", "\\U0000002D"),
    "html-decimal": ("&#95;", "&#45;"),
    "html-decimal-padded": ("&#095;", "&#0045;"),
    "html-decimal-bare": ("&#95", "&#45"),
    "html-hex": ("&#x5f;", "&#x2d;"),
    "html-hex-bare": ("&#x5f", "&#x2d"),
    "xml-hex-upper": ("&#X5F;", "&#X2D;"),
    "xml-hex-upper-bare": ("&#X5F", "&#X2D"),
    "html-named": ("&lowbar;", "&#45;"),
    "html5-named": ("&UnderBar;", "-"),
    # ... as an HTML page or Markdown (`terminal.markdown_text`) shows such a reference as text
    "html-decimal-in-html": ("&amp;#95;", "&amp;#45;"),
    "html-hex-in-markdown": ("&amp;\\#x5f;", "&amp;\\#x2d;"),
    "html-named-in-markdown": ("&amp;lowbar;", "&amp;\\#45;"),
    "mixed": ("%5F", "\\-"),
    "mixed-new": ("\\u{5f}", "%252D"),
}
# name -> how each byte of the whole key is written
_BYTES = {
    "hex": "{:02x}",
    "hex-upper": "{:02X}",
    "hex-escaped": "\\x{:02x}",
    "hex-escaped-in-json": "\\\\x{:02x}",  # JSON's output of a `\x`-escaped key, or a JSON file's
    "url-every-byte": "%{:02X}",
}
SPELLINGS = (*_CHARACTERS, *_BYTES)
# A numeric character reference without its `;`, and what would go on with its number
_BARE = re.compile(r"&#(?:([Xx][0-9A-Fa-f]+)|[0-9]+)\Z")


def spelt(key: str, spelling: str) -> str:
    """`key` written the way `spelling` names. A reference written without its `;` keeps it
    where the next character would continue its number (as an HTML writer must)."""
    if spelling in _BYTES:
        return "".join(_BYTES[spelling].format(byte) for byte in key.encode())
    underscore, hyphen = _CHARACTERS[spelling]
    written = []
    for char, after in zip(key, [*key[1:], ""], strict=True):
        shown = {"_": underscore, "-": hyphen}.get(char, char)
        bare = _BARE.search(shown)
        if bare and after and (after in "0123456789abcdefABCDEF" if bare[1] else after.isdigit()):
            shown += ";"
        written.append(shown)
    return "".join(written)


def read(text: str) -> str:
    """`text` as Markdown and Python's own decoders read it (string escapes, URL, HTML, hex),
    until it no longer changes: what each spelling above stands for, told without sealer's
    pattern (JavaScript's `\\u{…}` is read here as `chr` of its hex)."""
    import codecs
    import html
    import urllib.parse

    for _ in range(3):
        if re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", text):
            text = bytes.fromhex(text).decode("latin-1")
        markdown = text.replace("\\-", "-").replace("\\_", "_").replace("\\#", "#")
        markdown = re.sub(r"\\u\{([0-9A-Fa-f]{1,6})\}", lambda m: chr(int(m[1], 16)), markdown)
        text, before = html.unescape(urllib.parse.unquote(codecs.decode(markdown, "unicode_escape"))), text
        if text == before:
            break
    return text
