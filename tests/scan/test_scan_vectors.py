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


@pytest.mark.parametrize(
    ("fid", "path", "text", "expected"), tv.credential_files(), ids=lambda v: str(v)[:40]
)
def test_credential_file_found(
    policy: rules.Policy, fid: str, path: str, text: str, expected: frozenset[str]
) -> None:
    assert expected & found(policy, path, text), (fid, text)


@pytest.mark.parametrize(("fid", "path", "text"), [pytest.param(*v, id=v[0]) for v in tv.decoys()])
def test_decoy_not_flagged(policy: rules.Policy, fid: str, path: str, text: str) -> None:
    assert found(policy, path, text) == set(), (fid, text)
