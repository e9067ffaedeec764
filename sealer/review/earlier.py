"""The ciphertexts that stood before BASE: one put back behind a new key's record delivers an
older key (nobody can open a ciphertext to tell), however the record names it.

The ledgers of every environment at BASE name the digest of each ciphertext sealer wrote since
it records them: a value copied from another environment sealed with the same certificate is
one of them. A record an older sealer wrote names none, so while BASE holds one the values that
ever stood under sealed/ (any environment) are read too: one `git log` lists the blobs, one
`git cat-file --batch` streams them, and only their values' digests are kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sealer import git, layout, repofiles, yamlio
from sealer.errors import BadInput, SealerError
from sealer.records import KeyRecord, ciphertext_digest
from sealer.review.revisions import all_ledgers, encrypted

# A base64 run as long as the shortest ciphertext could be: what a blob that reads as no
# SealedSecret (broken YAML, another format) may hold a value as.
_RUN = re.compile(rb"[A-Za-z0-9+/=]{64,}")
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_MAX_RUN = 1 << 20  # a longer run is no one value: its start is dropped across chunks


@dataclass
class Earlier:
    """What stood before BASE, each read once per review and only when a check asks."""

    root: Path
    rev: str  # BASE
    _history: set[str] | None = field(default=None, repr=False)

    @functools.cached_property
    def records(self) -> list[KeyRecord]:
        """Every environment's records at BASE."""
        return [r for records in all_ledgers(self.root, self.rev).values() for r in records]

    @functools.cached_property
    def recorded(self) -> frozenset[str]:
        """The digest of every ciphertext a record of any environment names at BASE."""
        return frozenset(digest for r in self.records for _, digest in r.sealed)

    def held(self, digest: str) -> bool:
        """Did a sealed file hold the value of `digest` at BASE or before? Only asked while a
        record at BASE names no digest (its ciphertext is in no `recorded`); a ledger an older
        sealer wrote keeps one for good (records are never removed)."""
        if all(r.sealed for r in self.records):
            return False
        if self._history is None:
            if git.shallow_cuts(self.root):  # fail closed: what a cut hides may be the value
                raise BadInput(
                    "a ledger holds a record an older sealer wrote (no digest), so review reads every "
                    "value sealed/ held before BASE, but a shallow clone cuts that history: fetch it "
                    "whole (`git fetch --unshallow`; in CI, fetch-depth: 0 or GIT_DEPTH: 0)"
                )
            self._history = sealed_history(self.root, self.rev)
        return digest in self._history


def sealed_history(root: Path, rev: str) -> set[str]:
    """The digest of every value a file under sealed/ held in a commit `rev` reaches."""
    digests: set[str] = set()
    blobs = git.blobs_under(root, rev, f"{layout.SEALED_DIR}/")
    for blob, data in git.stream_blobs(root, blobs, repofiles.MAX_BYTES):
        if isinstance(data, bytes):
            digests |= {ciphertext_digest(v) for v in _values(data, f"{blob[:12]} under sealed/")}
            chunks: Iterable[bytes] = (data,)
        else:
            chunks = data
        digests |= {ciphertext_digest(run.decode()) for run in _runs(chunks)}
    return digests


def _values(data: bytes, source: str) -> list[str]:
    """The encryptedData values of each SealedSecret a blob holds, as review reads them."""
    try:
        text = data.decode("utf-8")
        dumped = yamlio.load_dumped(text)
        docs = [dumped] if dumped is not None else yamlio.load_documents(text, source)
    except (UnicodeDecodeError, SealerError):
        return []  # its base64 runs still count
    return [value for doc in docs for value in encrypted(doc).values()]


def _runs(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The base64 runs of a blob read in chunks, a run across two chunks whole."""
    carry = b""
    for chunk in chunks:
        text = carry + chunk
        cut = len(text.rstrip(_BASE64))  # the run it ends with may go on in the next chunk
        head, carry = text[:cut], text[cut:][-_MAX_RUN:]
        yield from (m.group() for m in _RUN.finditer(head))
    yield from (m.group() for m in _RUN.finditer(carry))
