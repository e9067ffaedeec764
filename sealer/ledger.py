"""The key ledger committed in the repo: one file per environment, metadata only, never a key.

One file per environment keeps a rotation's cost and diff proportional to what it rotates.
Each record is one line, a JSON object (which YAML reads as a flow mapping): a review diff then
shows the whole record whose status changed, and a rotation reads its ledgers with `json`
instead of a YAML parser. A ledger edited by hand into any other YAML still loads.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring as _json_str  # a str as JSON, unicode kept
from pathlib import Path

from sealer import apikey, git, layout, repofiles, strictjson, yamlio
from sealer.durations import MAX_DAYS
from sealer.errors import BadInput, ConfigError, GitError
from sealer.layout import ledger_file, ledger_path
from sealer.records import ACTIVE, PENDING, STATUSES, KeyRecord, iso

HEADER = "# Managed by sealer: key metadata for one environment. It never holds a key.\n"


def current(keys: Sequence[str], records: list[KeyRecord]) -> dict[str, KeyRecord]:
    """The key each managed entry carries now: its newest active (or pending) record."""
    chosen: dict[str, KeyRecord] = {}
    managed = set(keys)
    for record in records:
        if record.name in managed and record.status in (ACTIVE, PENDING):
            chosen[record.name] = record
    return {name: chosen[name] for name in keys if name in chosen}


def load(repo: Path, env: str) -> list[KeyRecord]:
    path = ledger_path(repo, env)
    try:
        text = repofiles.read_text(path)
    except FileNotFoundError:
        return []
    return parse(env, text, str(path))


def load_expected(root: Path, env: str, at_head: Mapping[str, bool] | None = None) -> list[KeyRecord]:
    """The records of ENV's ledger for a command that reports on them (`keys list`, `status`,
    `check`, `audit`): a ledger the repository implies but the working tree lacks is BadInput,
    never an environment with no keys (fail closed: a deleted ledger must not read as empty).
    `at_head`: `held_at_head` of the environments the caller reads (Git asked once for all);
    Git is asked for ENV alone when it is not among them."""
    try:
        text = repofiles.read_text(ledger_path(root, env))
    except FileNotFoundError:
        held = at_head.get(env) if at_head is not None else None
        why = _implied_by(root, env, held_at_head(root, [env])[env] if held is None else held)
        if why:
            raise BadInput(f"{ledger_file(env)} is missing, but {why}") from None
        return []  # what `sealer init` leaves: no key was ever issued
    return parse(env, text, str(ledger_path(root, env)))


def held_at_head(root: Path, envs: Iterable[str]) -> dict[str, bool]:
    """Whether HEAD holds something at each of ENVS' ledgers, Git asked once (a check of hundreds
    of environments never rotated asked it once each): a folder there counts, as it did to the
    `cat-file -e` each was asked before. No Git, no repository or no HEAD holds none: the files
    in the working tree tell then (`_implied_by`)."""
    revs = {f"HEAD:{ledger_file(env)}": env for env in envs}
    try:
        found = git.objects_held(root, list(revs))
    except GitError:  # no git on this machine, or no repository (`check` reads the files alone)
        found = set()
    return {env: rev in found for rev, env in revs.items()}


def _implied_by(root: Path, env: str, at_head: bool) -> str | None:
    """Why ENV must have a ledger (it had keys), or None for an environment never rotated."""
    rel = ledger_file(env)
    if at_head:
        return f"HEAD holds it: restore it with `git checkout HEAD -- {rel}`"
    for folder in (layout.sealed_dir(env), f"{layout.REGISTRY_DIR}/{env}/"):
        if (root / folder).is_dir() and any(map(_may_hold_keys, (root / folder).iterdir())):
            return f"{folder} holds {env}'s keys: restore the ledger from Git"
    return None


def _may_hold_keys(entry: Path) -> bool:
    """What a GitOps tool may apply (`layout.may_be_applied`): a `.gitkeep` a team keeps in an
    environment's folder before its first rotation (its Argo CD app needs the path) holds none."""
    return layout.may_be_applied(entry.name, entry.is_file() and not entry.is_symlink())


def at_revision(root: Path, rev: str, env: str) -> list[KeyRecord]:
    """The records of ENV's ledger as commit `rev` holds them: what review approved (the working
    tree may hold a change not committed); none when `rev` has no ledger, or the repo no HEAD."""
    rel = layout.ledger_file(env)
    text = git.file_at(root, rev, rel)
    return parse(env, text, f"{rev}:{rel}") if text else []


_HEX64 = re.compile(r"[0-9a-f]{64}")  # a SHA-256 as sealer writes it, the key id its first 12


def parse(env: str, text: str, source: str) -> list[KeyRecord]:
    """The records of a ledger file's text; ConfigError naming `source` when it is broken."""
    items = _fast_items(text, env)
    if items is None:
        doc = yamlio.only_document(yamlio.load_documents(text, source), source, ConfigError)
        items = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ConfigError(source, "expected a mapping with a `keys` list")
    try:
        records = [KeyRecord.from_dict({**item, "env": env}) for item in items]
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(source, f"bad key record ({err})") from None
    seen: set[str] = set()
    for record in records:
        if record.key_id in seen:  # each verdict and edit would take whichever record it met first
            raise ConfigError(source, f"bad key record {record.key_id[:40]!r}: its key id is listed twice")
        seen.add(record.key_id)
        if not _HEX64.fullmatch(record.fingerprint) or record.key_id != apikey.key_id(record.fingerprint):
            raise ConfigError(
                source, f"bad key record {record.key_id[:40]!r}: its key id is not its fingerprint's"
            )
        if not all(_HEX64.fullmatch(digest) for _, digest in record.sealed):
            raise ConfigError(source, f"bad key record {record.key_id}: a `sealed` digest is not a SHA-256")
        if record.status not in STATUSES:  # an unknown one would read as valid (`effective_status`)
            unknown = record.status[:40]
            raise ConfigError(source, f"bad key record {record.key_id}: unknown status {unknown!r}")
        for moment in (record.created, record.expires, record.revoke_at):
            if moment is not None and not _EARLIEST <= moment <= _LATEST:
                raise ConfigError(
                    source, f"bad key record {record.key_id}: {iso(moment)} is no time sealer gave it"
                )
    return records


# Every time sealer writes is now plus at most a few MAX_DAYS periods: the date arithmetic of
# `check`, `audit` and rotations on a record beyond these overflows the calendar.
_LATEST = dt.datetime.max.replace(tzinfo=dt.timezone.utc) - dt.timedelta(days=4 * MAX_DAYS)
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.timezone.utc) + dt.timedelta(days=4 * MAX_DAYS)


def _fast_items(text: str, env: str) -> list[dict[str, object]] | None:
    """The records of a ledger exactly as `dump` writes it; None for anything else (YAML reads it)."""
    lines = text.splitlines()
    if lines[:3] != [HEADER.rstrip("\n"), f"env: {yamlio.flow_json(env)}", "keys:"]:
        return None
    items = []
    for line in lines[3:]:
        if not line.startswith(_ITEM):
            return None
        try:
            # a field given twice: the line goes to the YAML reader, which refuses it and says where
            item = strictjson.loads(line[len(_ITEM) - 1 :])
        except ValueError:
            return None
        if not isinstance(item, dict):
            return None
        items.append(item)
    return items


_ITEM = "  - {"


def dump(env: str, records: list[KeyRecord]) -> str:
    """Deterministic text: the same records always give the same bytes."""
    lines = [HEADER, f"env: {yamlio.flow_json(env)}\nkeys:"]
    if not records:
        lines[-1] += " []"
    lines.extend(f"\n  - {_record_json(record)}" for record in records)
    return "".join(lines) + "\n"


def _record_json(record: KeyRecord) -> str:
    """`yamlio.flow_json` of the record's `as_dict()` but its env, built field by field: the JSON
    encoder's set-up per call costs more than the fields (a ledger holds thousands of records)."""
    sealed_with = ", ".join(map(_json_str, record.sealed_with))
    # written only when recorded, so a ledger of an older sealer reads back byte for byte
    sealed = ", ".join(f"{_json_str(c)}: {_json_str(d)}" for c, d in record.sealed)
    sealed = f', "sealed": {{{sealed}}}' if record.sealed else ""
    return yamlio.yaml_safe_json(
        f'{{"name": {_json_str(record.name)}, "key_id": {_json_str(record.key_id)}, '
        f'"fingerprint": {_json_str(record.fingerprint)}, "created": {_json_time(record.created)}, '
        f'"expires": {_json_time(record.expires)}, "status": {_json_str(record.status)}, '
        f'"actor": {_json_str(record.actor)}, "revoke_at": {_json_time(record.revoke_at)}, '
        f'"sealed_with": [{sealed_with}]{sealed}}}'
    )


def _json_time(moment: dt.datetime | None) -> str:
    text = iso(moment)
    return "null" if text is None else _json_str(text)


def save(repo: Path, env: str, records: list[KeyRecord]) -> Path:
    path = ledger_path(repo, env)
    repofiles.write(path, dump(env, records))
    return path
