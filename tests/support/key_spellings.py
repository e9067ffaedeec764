"""A sealer key with its `_`s and `-`s spelt as Markdown, URLs, string literals and HTML write
them: the spellings the plaintext guard reads as the key (`apikey.SHOWN_PATTERN`)."""

from __future__ import annotations

# name -> (how `_` is written, how `-` is written)
SPELLINGS = {
    "markdown": ("\\_", "\\-"),
    "url": ("%5F", "%2D"),
    "url-lower": ("%5f", "%2d"),
    "json-unicode": ("\\u005f", "\\u002d"),
    "unicode-upper": ("\\u005F", "\\u002D"),
    "json-unicode-in-json": ("\\\\u005f", "\\\\u002d"),
    "python-hex": ("\\x5f", "\\x2d"),
    "html-decimal": ("&#95;", "&#45;"),
    "html-decimal-padded": ("&#095;", "&#0045;"),
    "html-hex": ("&#x5f;", "&#x2d;"),
    "xml-hex-upper": ("&#X5F;", "&#X2D;"),
    "html-named": ("&lowbar;", "&#45;"),
    "html5-named": ("&UnderBar;", "-"),
    "mixed": ("%5F", "\\-"),
}


def spelt(key: str, spelling: str) -> str:
    """`key` with each `_` and `-` written the way `spelling` names."""
    underscore, hyphen = SPELLINGS[spelling]
    return key.replace("-", "\0").replace("_", underscore).replace("\0", hyphen)


def read(text: str) -> str:
    """`text` as Markdown and Python's own decoders read it (string escapes, URL, HTML), until it
    no longer changes: what each spelling above stands for, told without sealer's pattern."""
    import codecs
    import html
    import urllib.parse

    for _ in range(3):
        markdown = text.replace("\\-", "-").replace("\\_", "_")
        text, before = html.unescape(urllib.parse.unquote(codecs.decode(markdown, "unicode_escape"))), text
        if text == before:
            break
    return text
