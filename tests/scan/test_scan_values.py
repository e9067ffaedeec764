"""What counts as a random value for the assignment rule, as `payload, should_flag` tables."""

from __future__ import annotations

import base64

import pytest

from sealer.scan import values

ENTROPY, HEX_ENTROPY = 3.0, 2.5  # the built-in policy's thresholds


@pytest.mark.parametrize(
    ("value", "random"),
    [
        ("Xk93mQz7LpR2vT8w", True),  # base62
        ("9f2b7c4e1a8d3f6b5c0e7a2d4f1b8c3e", True),  # hex
        ("KX7ejkmasqBJITouwcMZ", True),  # base62 with a long lowercase run
        (base64.b64encode(bytes(range(7, 250, 13))).decode(), True),
        ("S3cr3t!9xQ#2mLp", True),
        ("PLIOgDWsLylvUbAuuraRqdxuioftDR", True),  # letters only, both cases mixed
        ("redis-cache-01", False),  # identifiers: mostly words
        ("my_app_v2_config", False),
        ("getTokenV2", False),
        ("mySecretPassword1", False),
        ("nginx-ingress-controller", False),
        ("BearerTokenAuth", False),  # capitalised words
        ("abcdefghijklmnop", False),  # one case only, no digits
        ("1234567890123456", False),  # a number
        ("----------------", False),
        ("aaaaaaaaaaaa1111", False),  # low entropy
        ("0000000000000001", False),
    ],
)
def test_looks_random(value: str, random: bool) -> None:
    assert values.looks_random(value.encode(), ENTROPY, HEX_ENTROPY) is random


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("apiKeyId", "api_key_id"),
        ("API_KEY", "api_key"),
        ("db-password.file", "db_password_file"),
        ("secretName", "secret_name"),
        ("tokenURL", "token_url"),
        ("key2Name", "key2_name"),
    ],
)
def test_snake_name(name: str, snake: str) -> None:
    assert values.snake_name(name.encode()) == snake


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        (b"aGVsbG8gd29ybGQgZnJvbSBzZWFsZXI=", b"hello world from sealer"),
        (b"aGVsbG8", None),  # not a multiple of 4
        (b"short=", None),
        (b"aGVsbG8gd29ybGQgZnJvbSBzZWFsZXI", None),
        (b"not base64 at all!!", None),
    ],
)
def test_base64_decoded(value: bytes, decoded: bytes | None) -> None:
    assert values.base64_decoded(value) == decoded


def test_entropy() -> None:
    assert values.entropy(b"aaaa") == 0.0
    assert values.entropy(b"abcd") == 2.0
    assert values.entropy(bytes(range(256))) == 8.0
