from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest
from support import key_spellings

from sealer import apikey
from sealer.errors import BadInput


def test_generated_key_has_format_and_valid_checksum() -> None:
    key = apikey.generate("staging")
    assert re.fullmatch(r"slr_staging_[0-9A-Za-z]{38}", key)
    assert apikey.checksum_ok(key)
    parsed = apikey.parse(key)
    assert (parsed.env, len(parsed.random), len(parsed.checksum)) == ("staging", 32, 6)


def test_keys_are_unique() -> None:
    assert len({apikey.generate("dev") for _ in range(200)}) == 200


@pytest.mark.parametrize("env", ["", "Dev", "dev_1", "-dev", "dev-", "a" * 33, "dév"])
def test_bad_env_tag_is_refused(env: str) -> None:
    with pytest.raises(BadInput):
        apikey.generate(env)


def test_one_changed_character_breaks_the_checksum() -> None:
    key = apikey.generate("dev")
    flipped = key[:-10] + ("A" if key[-10] != "A" else "B") + key[-9:]
    assert not apikey.checksum_ok(flipped)
    with pytest.raises(BadInput) as err:
        apikey.parse(flipped)
    assert flipped not in str(err.value)


def test_fingerprint_is_sha256_hex_and_key_id_derives_from_it() -> None:
    import hashlib

    key = apikey.generate("prod")
    fp = apikey.fingerprint(key)
    assert fp == hashlib.sha256(key.encode()).hexdigest()
    assert apikey.key_id(fp) == "kid_" + fp[:12]
    assert apikey.key_id_of(key) == apikey.key_id_of(f" {key}\n") == "kid_" + fp[:12]


def test_base62_pads_and_encodes() -> None:
    assert apikey.base62(0, 6) == "000000"
    assert apikey.base62(61, 2) == "0z"
    assert apikey.base62(62, 2) == "10"
    assert apikey.base62(2**32 - 1, 6) == "4gfFC3"


def test_checksum_is_base62_crc32_of_everything_before_it() -> None:
    import zlib

    key = apikey.generate("dev")
    body, checksum = key[:-6], key[-6:]
    number = 0
    for char in checksum:
        number = number * 62 + apikey.BASE62.index(char)
    assert number == zlib.crc32(body.encode())


def test_random_part_carries_at_least_160_bits() -> None:
    import math

    assert apikey.RANDOM_LEN * math.log2(62) >= 160


def test_scanners_find_keys_in_text_with_the_public_pattern() -> None:
    key = apikey.generate("prod-eu")
    text = f"config:\n  token: {key}\n  other: slr_prod_notakey\n"
    found = [m.group(0) for m in re.finditer(apikey.KEY_PATTERN, text)]
    assert found == [key]
    assert apikey.checksum_ok(found[0])


def test_parse_ignores_surrounding_whitespace_and_rejects_other_text() -> None:
    key = apikey.generate("dev")
    assert apikey.parse(f"  {key}\n").env == "dev"
    for bad in ("", "slr_dev_short", key + "x", "xyz_dev_" + key[8:]):
        with pytest.raises(BadInput, match="not a sealer API key"):
            apikey.parse(bad)


def test_random_digits_are_uniform_over_base62() -> None:
    # 64,000 digits: each of the 62 is expected ~1,032 times (sd ~32); a bias toward the
    # first digits (a plain `byte % 62`) would put them near 1,290.
    counts = Counter(ch for _ in range(2000) for ch in apikey.generate("dev")[8:40])
    assert set(counts) == set(apikey.BASE62)
    assert all(850 < n < 1220 for n in counts.values()), counts


def test_bytes_that_would_bias_the_digits_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    # 248..255 would map onto 0..7 a fifth time: they must be skipped, not folded in.
    batches = iter([bytes([255, 250, 248]) * 13 + bytes([61]), bytes([1]) * 40])
    monkeypatch.setattr(apikey.secrets, "token_bytes", lambda n: next(batches))
    key = apikey.generate("dev")
    assert key[8:40] == "z" + "1" * 31
    assert apikey.checksum_ok(key)


@pytest.mark.parametrize("start", range(0, 248, 8))
def test_each_unbiased_byte_gives_its_digit(monkeypatch: pytest.MonkeyPatch, start: int) -> None:
    monkeypatch.setattr(apikey.secrets, "token_bytes", lambda n: bytes(range(start, start + 8)) * 5)
    digits = "".join(apikey.BASE62[b % 62] for b in range(start, start + 8))

    assert apikey.generate("dev")[8:40] == digits * 4


@pytest.mark.parametrize(
    "number", [0, 1, 61, 62, 3843, 3844, 62**3 - 1, 62**3, 2**32 - 1, 62**6 - 1, 62**9 + 7]
)
def test_base62_digits_read_back_as_the_number(number: int) -> None:
    text = apikey.base62(number, 6)

    assert len(text) == 6 or len(text) > 6 and text[0] != "0"  # padded to the width, no further
    assert sum(apikey.BASE62.index(ch) * 62**i for i, ch in enumerate(reversed(text))) == number


def test_redact_hides_a_key_behind_a_lookalike_or_next_to_anything() -> None:
    """A lookalike whose checksum fails, ending in `slr`, held the start of the key behind it;
    a key next to a letter (`\\x1b` shown before it, `Aslr_…`) is still the key in a log."""
    key = apikey.generate("prod")
    lookalike = "slr_x_" + "A" * 35 + "slr"
    for text in (lookalike + key[len("slr") :], "\\x1b" + key, "A" + key + "0"):
        shown = apikey.redact(text)
        assert apikey.holds_key(text)
        assert key[len("slr_prod_") :] not in shown and "slr_prod_[redacted]" in shown
    lookalike = key[:-1] + ("0" if key[-1] != "0" else "1")  # its checksum fails
    assert apikey.redact(f"no {lookalike} key") == f"no {lookalike} key"


@pytest.mark.parametrize("slash", ["\\", "\\\\"], ids=["markdown", "json"])
def test_a_key_whose_environment_hyphen_is_escaped_is_read_and_redacted_as_the_key(slash: str) -> None:
    """Telegram's MarkdownV2 escapes `-` as well as `_` (`slr\\_prod\\-eu\\_…`); JSON doubles it."""
    key = apikey.generate("prod-eu-2")
    written = key.replace("_", slash + "_").replace("-", slash + "-")
    text = f"key: {written}."
    assert apikey.keys_in(text) == [key] and apikey.holds_key(text)
    assert apikey.redact(text) == "key: slr_prod-eu-2_[redacted]."
    bad = written[:-1] + ("0" if written[-1] != "0" else "1")  # its checksum fails
    assert apikey.keys_in(bad) == [] and apikey.redact(bad) == bad


def test_the_scanners_key_rule_reads_a_key_as_redaction_does() -> None:
    """policies/detectors.yaml's `sealer-api-key` and `apikey.SCANNED_PATTERN` admit the same
    spellings (a key escaped one way and missed the other way was found but not redacted), and the
    rule is tried wherever redaction tries a hex-encoded key."""
    from sealer.scan import rules

    rule = next(r for r in rules.load().rules if r.id == "sealer-api-key")
    assert rule.regex is not None and rule.regex.pattern == apikey.SCANNED_PATTERN.encode()
    assert {hint.encode() for hint in apikey.HEX_HINTS} <= set(rule.keywords)


@pytest.mark.parametrize("spelling", key_spellings.SPELLINGS)
def test_a_key_spelt_as_a_url_a_string_literal_or_html_is_read_and_redacted_as_the_key(spelling: str) -> None:
    """`%5F`, `%255F`, `\\u005f`, `\\u{5f}`, `\\U0000005f`, `\\x5f`, `&#95;`, `&#95`, `&#x5f;`,
    `&lowbar;` (and `%2D`, `\\u002d`, `&#45;` in the environment) are a `_` and a `-`, and the whole
    key may be hex: the key is found, and redaction hides the whole spelling."""
    key = apikey.generate("prod-eu-2")
    written = key_spellings.spelt(key, spelling)
    assert key_spellings.read(written) == key and written != key
    text = f"see https://example.com/?k={written}&next=1."
    assert apikey.keys_in(text) == [key] and apikey.holds_key(text)
    assert apikey.redact(text) == "see https://example.com/?k=slr_prod-eu-2_[redacted]&next=1."
    bad = written[:-1] + ("0" if written[-1] != "0" else "1")  # its checksum fails
    assert apikey.keys_in(bad) == [] and apikey.redact(bad) == bad


@pytest.mark.parametrize("dash", ["&hyphen;", "&dash;", "%2E", "\\u2010", "&#46;"])
def test_what_is_not_a_hyphen_does_not_spell_one(dash: str) -> None:
    """HTML's `&hyphen;` and `&dash;` are U+2010, not `-`: no key has them."""
    key = apikey.generate("prod-eu")
    written = key.replace("-", dash)
    assert apikey.keys_in(written) == [] and apikey.redact(written) == written


@pytest.mark.parametrize(
    ("env", "underscore"), [("1a", "&#95"), ("dev", "&#x5f"), ("dev", "&#X5F"), ("1a", "&#0095")]
)
def test_a_reference_without_its_semicolon_is_read_only_where_html_reads_it(
    env: str, underscore: str
) -> None:
    """An HTML parser reads `&#951a` as `η1a` and `&#x5fdev` as U+5FDE and `v`: the number goes on,
    so no key is there; with its `;` the reference ends, and the key is found."""
    import html

    key = apikey.generate(env)
    tail = key[len(f"slr_{env}_") :]
    for ended, found in ((";", [key]), ("", [])):
        written = f"slr{underscore}{ended}{env}_{tail}"
        assert (html.unescape(written) == key) == bool(found), written
        assert apikey.keys_in(written) == found
        assert (apikey.redact(written) == f"slr_{env}_[redacted]") == bool(found)


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_a_hex_encoded_key_in_a_longer_hex_run_is_its_bytes_alone(case: Callable[[str], str]) -> None:
    """`xxd -p` of a file, a hex dump: the key's bytes are found and redacted, the hex around them
    (itself hex of a letter before the key, `A`, and of the line's end) is left as it was."""
    key = apikey.generate("prod-eu")
    text = f"dump: {case('00ff41')}{case(key.encode().hex())}{case('0a41')}"
    assert apikey.keys_in(text) == [key] and apikey.holds_key(text)
    assert apikey.redact(text) == f"dump: {case('00ff41')}slr_prod-eu_[redacted]{case('0a41')}"


def test_a_hex_encoded_key_is_read_whatever_the_case_of_its_hex_digits() -> None:
    """The scanner searches a text lowercased for the hex of `slr_` (its keywords): redaction and
    review find a key there in whichever case its digits are, each byte's own, as the scan does."""
    key = apikey.generate("prod-eu")
    hexed = key.encode().hex()
    for written in (hexed[:8] + hexed[8:].upper(), "736C725f" + hexed[8:], hexed[:4] + hexed[4:].upper()):
        assert apikey.keys_in(written) == [key] and apikey.redact(written) == "slr_prod-eu_[redacted]"
    escaped = "".join(f"\\x{byte:02X}" for byte in key.encode())
    assert apikey.keys_in(escaped.replace("\\x6C", "\\x6c", 1)) == [key]


# Long runs an escaped or hex-encoded key's patterns could try every way: each must be read in one
# pass (the test of each fix of the patterns' alternatives; a nested repeat here took minutes).
_HOSTILE = {
    "url-twice": "slr%25" * 100_000,
    "es6": ("slr\\u{" + "0" * 40 + "}") * 10_000,
    "html": ("slr&#" + "0" * 40) * 10_000,
    "html-hex": ("slr&#x" + "0" * 40) * 10_000,
    "environment": ("slr_" + "a&#45" * 40 + "_") * 2_500,
    "hex-hints": "736c725f" * 100_000,
    "hex-environment": ("736c725f" + "61" * 40) * 10_000,
    "hex-tail": ("736c725f61" + "5f" + "41" * 37 + "zz") * 5_000,
    "hex-escaped": ("\\x73\\x6c\\x72\\x5f" + "\\x61" * 31 + "\\x5f" + "\\x41" * 37) * 2_500,
    "html-shown-as-text": ("slr&" + "amp;" * 40 + "\\" * 40 + "#" + "0" * 40) * 2_500,
    "hex-escaped-backslashes": ("\\" * 40 + "x73" + "\\" * 40 + "x6c") * 5_000,
    "percent-every-byte": ("%73%6C%72%5F" + "%61" * 31 + "%5F" + "%41" * 37) * 2_500,
}


@pytest.mark.parametrize("hostile", _HOSTILE)
def test_a_hostile_run_of_escapes_or_hex_is_read_in_linear_time(hostile: str) -> None:
    import time

    from sealer.scan import rules, scanner

    text = _HOSTILE[hostile]
    started = time.perf_counter()
    assert not apikey.holds_key(text) and apikey.redact(text) == text
    assert scanner.scan_file("notes.md", text.encode(), rules.load()) == []
    assert time.perf_counter() - started < 2.0
