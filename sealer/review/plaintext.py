"""Plaintext secrets in the files a range changes, with `sealer scan`'s own detectors.

Every changed blob is scanned whatever its size: one up to `SCAN_CHUNK` whole, a bigger one
streamed in chunks that overlap by `OVERLAP` bytes (no secret a detector finds is that long),
so no size limit ever passes a file unseen. The detector policy is the one sealer ships, never
a file of the change under review. Sealer's own key format (confirmed by its checksum) is
looked for in every file, also those the shipped policy's path globs leave out (lock files).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

from sealer.review.model import PLAINTEXT, Finding
from sealer.scan import scanner
from sealer.scan.rules import Policy

OVERLAP = 64 << 10
SEALER_KEY_RULE = "sealer-api-key"


@lru_cache(maxsize=1)
def policy() -> Policy:
    from sealer.scan import rules

    return rules.load()


def _sealer_keys(data: bytes) -> list[tuple[int, str]]:
    from sealer.review.checks import plaintext_keys

    return plaintext_keys(data.decode("utf-8", "replace")) if b"slr_" in data else []


def _windows(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(lines before the window, window) over a stream, each window overlapping the last."""
    tail, lines = b"", 0
    for chunk in chunks:
        window = tail + chunk
        yield lines, window
        tail = window[-OVERLAP:]
        lines += window.count(b"\n") - tail.count(b"\n")


def scan_blobs(items: list[tuple[str, bytes, str]]) -> list[Finding]:
    """Findings in many (path, data, where) at once: the detectors search them as one buffer."""
    chosen = policy()
    scanned = [(path, data) for path, data, _ in items if not chosen.allow_paths.matches(path)]
    hits = iter(scanner.scan_texts(scanned, chosen, [[] for _ in scanned]))
    found: dict[str, Finding] = {}
    for path, data, where in items:
        for hit in [] if chosen.allow_paths.matches(path) else next(hits):
            if hit.rule != SEALER_KEY_RULE:
                message = f"line {hit.line} {where}: {hit.description} ({hit.rule}, {hit.preview})"
                found.setdefault(hit.fingerprint, Finding(PLAINTEXT, _env_of(path), path, None, message))
        for line, key_id in _sealer_keys(data):
            message = f"line {line} {where}: plaintext API key {key_id}: revoke it"
            found.setdefault(f"{path}:{key_id}", Finding(PLAINTEXT, _env_of(path), path, None, message))
    return list(found.values())


def scan_blob(path: str, data: bytes | Iterable[bytes], where: str) -> list[Finding]:
    """A finding per secret in one blob (`where`: which commit, for the message)."""
    found: dict[str, Finding] = {}
    windows = [(0, data)] if isinstance(data, bytes) else _windows(data)
    chosen = policy()
    skip_detectors = chosen.allow_paths.matches(path)
    for before, window in windows:
        if not skip_detectors:
            for hit in scanner.scan_file(path, window, chosen):
                if hit.rule == SEALER_KEY_RULE:
                    continue  # found below, with its key id
                message = f"line {hit.line + before} {where}: {hit.description} ({hit.rule}, {hit.preview})"
                found.setdefault(hit.fingerprint, Finding(PLAINTEXT, _env_of(path), path, None, message))
        for line, key_id in _sealer_keys(window):
            message = f"line {line + before} {where}: plaintext API key {key_id}: revoke it"
            found.setdefault(f"{path}:{key_id}", Finding(PLAINTEXT, _env_of(path), path, None, message))
    return list(found.values())


def _env_of(path: str) -> str:
    from sealer import layout

    parts = path.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] in (layout.SEALED_DIR, layout.DEPLOY_DIR) else ""
