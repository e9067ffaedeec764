"""Key records as a rotation registers them, for the key-store tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sealer import apikey
from sealer.records import PENDING, KeyRecord, utcnow


def pending_key(
    env: str = "dev",
    name: str = "apiKey",
    created: dt.datetime | None = None,
    expires: dt.datetime | None = None,
    sealed_with: Sequence[str] = ("ab" * 32, "cd" * 32),
) -> tuple[str, KeyRecord]:
    """A real API key and the PENDING record a rotation would register for it (created five
    minutes ago unless told)."""
    key = apikey.generate(env)
    fingerprint = apikey.fingerprint(key)
    record = KeyRecord(
        env=env,
        name=name,
        key_id=apikey.key_id(fingerprint),
        fingerprint=fingerprint,
        created=created or utcnow() - dt.timedelta(minutes=5),
        expires=expires,
        status=PENDING,
        actor="ci@sealer.invalid",
        sealed_with=tuple(sealed_with),
    )
    return key, record
