"""Every token family of tests/support/token_vectors.py, in every setting it can sit in, is found;
wrong checksums and the decoys are not. The vectors are drawn at run time (see that module)."""

from __future__ import annotations

import pytest
from support import token_vectors as tv

from sealer.scan import rules, scanner

FAMILIES = tv.families()
SEEDS = (1, 2, 5, 6)  # 5 and 6 once drew bodies the ignore list took for code references


@pytest.fixture(scope="module")
def policy() -> rules.Policy:
    return rules.load()


def found(policy: rules.Policy, path: str, text: str) -> set[str]:
    return {f.rule for f in scanner.scan_file(path, text.encode(), policy)}


def test_the_spec_covers_at_least_sixty_families() -> None:
    assert len({f.id for f in FAMILIES}) == len(FAMILIES) >= 60


PLACED = [
    pytest.param(family, setting, seed, id=f"{family.id}-{setting}-{seed}")
    for family in FAMILIES
    for setting in tv.settings_for(family)
    for seed in SEEDS
]


@pytest.mark.parametrize(("family", "setting", "seed"), PLACED)
def test_family_found_in_setting(policy: rules.Policy, family: tv.Family, setting: str, seed: int) -> None:
    path, text = tv.SETTINGS[setting](tv.vector(family, seed))
    assert family.rules & found(policy, path, text), text


CHECKSUMMED = [f for f in FAMILIES if f.checksum]


@pytest.mark.parametrize("family", CHECKSUMMED, ids=lambda f: f.id)
@pytest.mark.parametrize("setting", ["yaml", "env", "json", "code", "long-line"])
def test_wrong_checksum_is_not_flagged(policy: rules.Policy, family: tv.Family, setting: str) -> None:
    path, text = tv.SETTINGS[setting](tv.vector(family, 1, decoy=True))
    assert found(policy, path, text) == set(), text


def test_decoy_differs_from_the_vector_only_in_its_checksum() -> None:
    for family in (f for f in CHECKSUMMED if f.id != "jwt"):  # a JWT decoy lacks its algorithm
        real, decoy = tv.vector(family, 1), tv.vector(family, 1, decoy=True)
        assert real != decoy and len(real) == len(decoy)


def _short_id(value: object) -> str:
    """A set sorted: its order changes with the hash seed, and every process collecting the suite
    (`pytest -n`) must see the same ids."""
    return str(sorted(value) if isinstance(value, (set, frozenset)) else value)[:40]


@pytest.mark.parametrize(
    ("fid", "path", "text", "expected"), tv.credential_files(), ids=lambda v: _short_id(v)
)
def test_credential_file_found(
    policy: rules.Policy, fid: str, path: str, text: str, expected: frozenset[str]
) -> None:
    assert expected & found(policy, path, text), (fid, text)


@pytest.mark.parametrize(("fid", "path", "text"), [pytest.param(*v, id=v[0]) for v in tv.decoys()])
def test_decoy_not_flagged(policy: rules.Policy, fid: str, path: str, text: str) -> None:
    assert found(policy, path, text) == set(), (fid, text)


# The keyword prefilter (one Aho-Corasick pass; a rule's regex is tried only where one of its
# keywords starts) and the chunking of large files must lose nothing: every family's vector,
# placed in one large file full of keyword-rich filler so that a piece boundary cuts through the
# rule's keyword, is found exactly as it is found alone.

CHUNK = 48 << 10  # pieces end at every multiple of this (the policy's max_file_bytes)
FILLER = (
    b"token_count=12\nkey_path=/etc/app/key.pem\n# pass the secret name here, never the password\n"
    b"author: someone  # auth via sso, see https://example.invalid/docs\nsk = 1; gh = 2; aa = 3\n"
)


def _filler(size: int) -> bytes:
    text = FILLER * (size // len(FILLER) + 1)
    return text[: size - 1] + b"\n"


def _keyword_at(policy: rules.Policy, family: tv.Family, raw: bytes) -> int:
    """Where the first keyword of one of the family's rules starts in `raw`."""
    spots = []
    for rule in policy.rules:
        if rule.id in family.rules:
            haystack = raw.lower() if rule.kind == "assignment" else raw
            spots += [haystack.find(k) for k in rule.keywords if haystack.find(k) >= 0]
    return min(spots, default=0)


@pytest.mark.parametrize("setting", ["env", "code", "long-line"])
def test_prefilter_and_chunking_lose_no_finding(policy: rules.Policy, setting: str) -> None:
    samples = [(f, tv.SETTINGS[setting](tv.vector(f, 3))) for f in FAMILIES if setting in tv.settings_for(f)]
    path = samples[0][1][0]
    data = bytearray()
    placed: list[tuple[tv.Family, set[str], int, int]] = []
    for family, (name, text) in samples:
        assert name == path
        raw = text.encode()
        at = _keyword_at(policy, family, raw)
        boundary = (len(data) + at + 2) // CHUNK * CHUNK + CHUNK  # the next piece end past here
        data += _filler(boundary - at - 1 - len(data))  # the piece ends one byte into the keyword
        first = data.count(b"\n") + 1
        data += raw
        alone = family.rules & found(policy, path, text)
        assert alone, text
        placed.append((family, alone, first, data.count(b"\n")))
    from sealer.scan import files

    result = scanner.run(
        [files.Candidate(path, bytes(data))], policy._replace(max_file_bytes=CHUNK), workers=1
    )
    assert not result.unexamined
    for family, alone, first, last in placed:
        mixed = {f.rule for f in result.findings if first <= f.line <= last} & family.rules
        assert mixed == alone, family.id
