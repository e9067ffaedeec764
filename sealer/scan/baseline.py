"""Accepted findings: a JSON file of fingerprints (rule, path and a hash of the secret).

No line numbers, so moving code around does not churn it; no secrets, so it can be committed.
`sealer scan --baseline FILE --update-baseline` writes it: entries for the files scanned in
that run are replaced by what the run found, entries for other files are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from sealer import repofiles, strictjson
from sealer.apikey import redact
from sealer.errors import BadInput
from sealer.scan.findings import Finding

VERSION = 1


class Entry(NamedTuple):
    fingerprint: str
    rule: str
    path: str


def load(path: str, missing_ok: bool = False) -> dict[str, Entry]:
    try:
        text = repofiles.read_text(path)
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise BadInput(f"{path}: baseline not found (create it with --update-baseline)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"{path}: cannot read the baseline ({err})") from None
    return _parse(text, path)


def _parse(text: str, path: str) -> dict[str, Entry]:
    try:
        doc = strictjson.loads(text)
    except strictjson.DuplicateKey:
        raise BadInput(f"{path}: baseline gives a field twice") from None
    except ValueError:
        raise BadInput(f"{path}: baseline is not valid JSON") from None
    shaped = isinstance(doc, dict) and doc.get("version") == VERSION and isinstance(doc.get("findings"), list)
    if not shaped:
        raise BadInput(f"{path}: not a sealer scan baseline (version {VERSION} with a findings list)")
    entries = {}
    for item in doc["findings"]:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in Entry._fields):
            raise BadInput(f"{path}: baseline entries need fingerprint, rule and path strings")
        entries[item["fingerprint"]] = Entry(item["fingerprint"], item["rule"], item["path"])
    return entries


def updated(old: dict[str, Entry], findings: Iterable[Finding], scanned: set[str]) -> dict[str, Entry]:
    """Entries match by fingerprint alone; the path, for people, is stored with any sealer key in
    it redacted (`slr_<env>_[redacted]`), whatever rules the policy has: a baseline is committed."""
    done = {redact(path) for path in scanned}
    kept = {fp: e for fp, e in old.items() if e.path not in done}
    return {**kept, **{f.fingerprint: Entry(f.fingerprint, f.rule, redact(f.path)) for f in findings}}


def render(entries: dict[str, Entry]) -> str:
    rows = sorted(entries.values(), key=lambda e: (e.path, e.rule, e.fingerprint))
    doc = {"version": VERSION, "findings": [e._asdict() for e in rows]}
    return json.dumps(doc, indent=2) + "\n"
