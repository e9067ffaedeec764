"""Plaintext secrets in the files a range changes, through `sealer scan`'s own pipeline.

Every changed blob goes through what `sealer scan` does with a file (sealer.scan.contents and
the scanner): decoded (UTF-16/32), unpacked (zip, tar, gzip, bzip2, xz), chunked with overlap,
searched by every detector, `sealer: allow` lines and the shipped policy's path globs applied.
A blob above `SCAN_CHUNK` streams from git in blocks and is never held whole (unless it is an
archive, as in `sealer scan`); no size passes unseen. What cannot be examined (an encrypted or
unreadable archive, a bound exceeded) is a finding: review fails closed like scan. The detector
policy is the one sealer ships, never a file of the change under review. Sealer's own keys are
reported by key id, also in files the shipped path globs leave out (lock files). Commit and tag
objects are searched for sealer's own keys alone, with the same detectors (`message_findings`,
`tag_findings`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from sealer import apikey, git
from sealer.review.model import ALLOW_COMMENT, PLAINTEXT, Finding
from sealer.scan import confirm, contents, engine, scanner
from sealer.scan import findings as scan_findings
from sealer.scan.files import Candidate
from sealer.scan.rules import Policy, Rule

SEALER_KEY_RULE = "sealer-api-key"


@lru_cache(maxsize=1)
def policy() -> Policy:
    from sealer.scan import rules

    return rules.load()


def _sealer_keys(data: bytes) -> list[tuple[int, str]]:
    from sealer.review.checks import plaintext_keys

    # `slr` alone: Markdown writes a key `slr\_…` (the scanner's own hits on it are left to this)
    return plaintext_keys(data.decode("utf-8", "replace")) if b"slr" in data else []


def _finding(path: str, message: str) -> Finding:
    return Finding(PLAINTEXT, _env_of(path), path, None, message)


def _reported(found: scan_findings.Finding, where: str) -> Finding:
    message = f"line {found.line} {where}: {found.description} ({found.rule}, {found.preview})"
    return _finding(found.path, message)


def scan_blobs(items: list[tuple[str, bytes, str]]) -> list[Finding]:
    """Findings in many (path, data, where) at once, as `sealer scan` would find them."""
    # `commit` carries each item's index back on its findings (the scanner keeps it on them)
    candidates = [Candidate(path, data, commit=str(index)) for index, (path, data, _) in enumerate(items)]
    result = scanner.run(candidates, policy(), workers=1)
    found: dict[tuple[str, str], Finding] = {}
    keys: list[tuple[str, int, str, str]] = []  # (path, line, key id, label) of each sealer key
    for hit in result.findings:
        label = items[int(hit.commit)][2] if hit.commit.isdigit() else ""
        if hit.rule != SEALER_KEY_RULE or "!" in hit.path:  # an archive member's key: no raw text below
            found.setdefault((hit.path, hit.fingerprint), _reported(hit, label))
        elif hit.note != scanner.IN_PATH:  # the raw text's keys below name them; a UTF-16 file's not
            keys.append((hit.path, hit.line, apikey.key_id(hit.secret_id), label))  # its hash: the key's
    for skipped in result.unexamined:
        found.setdefault((skipped.path, "?"), _finding(skipped.path, f"not examined: {skipped.reason}"))
    raw = [(path, line, key_id, label) for path, data, label in items for line, key_id in _sealer_keys(data)]
    for path, line, key_id, label in raw + keys:
        message = f"line {line} {label}: plaintext API key {key_id}: revoke it"
        found.setdefault((path, key_id), _finding(path, message))
    for path, _, label in items:  # a key in a file's name (escaped too), as in its text: the raw path
        for key in apikey.keys_in(path):
            key_id = apikey.key_id_of(key)
            shown = apikey.redact(path)  # a finding is output, and kept: never the key, whatever reads it
            message = f"file name {label}: plaintext API key {key_id}: revoke it"
            found.setdefault((shown, key_id), _finding(shown, message))
    return list(found.values())


def scan_stream(path: str, blocks: Iterable[bytes], where: str, chunk: int) -> list[Finding]:
    """A blob too big to hold, scanned piece by piece as it streams from git. On a path the
    policy's globs allow (a lockfile, a bundle) the checksum-verified rules alone, as `sealer
    scan` searches it (`Policy.rules_for`): a key there is a key."""
    chosen = policy()
    found: dict[tuple[str, str], Finding] = {}
    for piece in contents.from_blocks(path, blocks, chunk):
        if isinstance(piece, contents.Skip):
            if not piece.examined:
                found.setdefault((piece.path, "?"), _finding(piece.path, f"not examined: {piece.reason}"))
            continue
        if scanner.ALLOW.search(piece.data):  # no earlier version held to compare its lines with
            message = (
                "too big to compare with its previous version: its `sealer: allow` comments count as new"
            )
            found.setdefault((piece.path, "allow"), Finding(ALLOW_COMMENT, "", piece.path, None, message))
        for hit in scanner.scan_file(piece.path, piece.data, chosen, verified_only=piece.squeezed):
            if piece.keep_lines is not None and hit.line > piece.keep_lines:
                continue  # on the lines the next piece starts with
            hit = hit._replace(line=hit.line + piece.first_line)
            key = (hit.path, hit.fingerprint if hit.rule != SEALER_KEY_RULE else hit.secret_id)
            found.setdefault(key, _reported(hit, where))
    return list(found.values())


def allowed_lines(path: str, data: bytes, chunk: int) -> Counter[tuple[str, bytes]]:
    """Each line carrying `sealer: allow` as the scanner reads the file (UTF-16 decoded, archives
    unpacked), by its text: a comment moved onto another line is a new one, as the count of
    comments in the raw bytes could not tell."""
    found: Counter[tuple[str, bytes]] = Counter()
    for piece in contents.from_bytes(path, data, chunk):
        if isinstance(piece, contents.Piece) and not piece.squeezed and scanner.ALLOW.search(piece.data):
            found.update(
                (piece.path, line.strip()) for line in piece.data.split(b"\n") if scanner.ALLOW.search(line)
            )
    return found


_OVERLAP = 4096  # a Git object streamed in chunks: a key cut at a chunk's end is in the next
SEALER_KEY_BASE64_RULE = "sealer-api-key-base64"


def message_findings(root: Path, commits: list[str], chunk: int) -> list[Finding]:
    """A sealer key in a commit object of the range, as in a file: its message, or its header (the
    author's name, a merged tag's message): Git keeps it as it keeps a blob. Redacted, named by
    key id; a commit git does not hand back is a finding (fail closed)."""
    return object_findings(root, {commit: f"commit {commit[:12]}" for commit in commits}, chunk)


def object_findings(root: Path, named: dict[str, str], chunk: int) -> list[Finding]:
    """A sealer key in each commit or tag object of `named` (id -> how a finding names it), in its
    message or header; one git does not hand back is a finding (fail closed)."""
    found: dict[tuple[str, str], Finding] = {}
    unread = dict(named)
    # NO_REPLACE in the reader: the object the repository holds, not one a replace ref shows
    for oid, data in git.stream_blobs(root, list(named), chunk):
        unread.pop(oid, None)
        for where, key_id in _keys_of_object(data):
            message = f"{named[oid]}'s {where}: plaintext API key {key_id}: revoke it"
            found.setdefault((oid, key_id), Finding(PLAINTEXT, "", "", None, message))
    for oid, label in unread.items():
        message = f"{label}'s message not examined: git did not return its object"
        found[(oid, "?")] = Finding(PLAINTEXT, "", "", None, message)
    return list(found.values())


def _keys_of_object(data: bytes | Iterator[bytes]) -> list[tuple[str, str]]:
    """(where, key id) of each sealer key in a raw commit or tag object: a message line, or the header."""
    if not isinstance(data, bytes):  # too big to hold: pieces that overlap, no line numbers
        tail, keys = b"", []
        for block in data:
            piece, tail = tail + block, (tail + block)[-_OVERLAP:]
            keys += [("message or header", k) for _, k in message_keys(piece)]
        return list(dict.fromkeys(keys))
    header, _, message = data.partition(b"\n\n")
    found = [("header", key_id) for _, key_id in message_keys(header)]
    return found + [(f"message, line {line}", key_id) for line, key_id in message_keys(message)]


@lru_cache(maxsize=1)
def _key_rules() -> tuple[Rule, ...]:
    """The shipped detectors of sealer's own keys, as `sealer scan` searches a file with them: the
    key plain or escaped (Markdown, URL, string literal, HTML) and in base64 (either alphabet).
    None other: the generic detectors would be noisy on a message's prose."""
    return tuple(rule for rule in policy().rules if rule.id in (SEALER_KEY_RULE, SEALER_KEY_BASE64_RULE))


def message_keys(data: bytes) -> list[tuple[int, str]]:
    """(1-based line, key id) of each sealer key in a message or header, in order; never the key."""
    found: dict[tuple[int, str], None] = {}
    for hit in sorted(engine.scan(data, _key_rules(), policy()), key=lambda hit: hit.start):
        line = data.count(b"\n", 0, hit.start) + 1
        if hit.rule.id == SEALER_KEY_BASE64_RULE:
            keys = confirm.base64_sealer_keys(hit.secret)
        else:  # the key itself: the rule's confirmer spells an escaped one plainly (Rule.canonical)
            keys = [hit.secret.decode("latin-1")]
        found.update(((line, apikey.key_id_of(key)), None) for key in keys)
    return list(found)


TAG_DEPTH = 64  # tags followed through tags: one `git cat-file` a level, a chain past this is not examined


def tag_findings(root: Path, targets: set[str], chunk: int) -> list[Finding]:
    """A sealer key in an annotated tag object that points, directly or through other tags, at one
    of `targets` (the range's commits and HEAD: an approval tag is one), read as a commit object
    is. Every ref is followed; one whose object, or a tag on its way, git does not hand back is a
    finding (fail closed): where it leads cannot be told."""
    refs = {oid: min(names, key=_tag_first) for oid, names in git.ref_objects(root).items()}
    points, unread = _tag_targets(root, list(refs))
    named: dict[str, str] = {}
    unexamined = []
    for oid, ref in refs.items():
        chain, end = _chain(oid, points)
        tag_ref = ref.startswith("refs/tags/")
        label = f"tag {ref.removeprefix('refs/tags/')}" if chain or tag_ref else f"ref {ref}"
        label = apikey.redact(label)  # a tag named after a key: the name is no place to show it
        if end in unread:
            what = f"its object {end[:12]}" if end == oid else f"tag object {end[:12]} it points through"
            message = f"{label} not examined: {unread[end].format(what)}, which may lead into the range"
            unexamined.append(Finding(PLAINTEXT, "", "", None, message))
        elif end in targets:
            for k, tag in enumerate(chain):
                named.setdefault(tag, label if k == 0 else f"{label}'s inner tag {tag[:12]}")
    return unexamined + object_findings(root, named, chunk)


def _tag_first(ref: str) -> tuple[int, str]:
    """A tag object named by several refs is named by its tag, `refs/tags/…`, if it has one."""
    return (0 if ref.startswith("refs/tags/") else 1, ref)


def _tag_targets(root: Path, ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Tag object id -> the id it points at, for every tag `ids` lead to through tags (one
    `git cat-file --batch` a level, each object's first lines); and the ids not read, each with
    why (a template for what it was)."""
    points: dict[str, str] = {}
    unread: dict[str, str] = {}
    seen, level = set(ids), ids
    for _ in range(TAG_DEPTH):
        if not level:
            break
        left, following = set(level), []
        for oid, kind, data in git.stream_objects(root, level, git.TAG_HEADER):
            left.discard(oid)
            target = git.tag_target(data if isinstance(data, bytes) else next(data, b""))
            if kind == "tag" and target is not None:
                points[oid] = target[0]
                if target[1] == "tag" and target[0] not in seen:
                    seen.add(target[0])
                    following.append(target[0])
        unread.update(dict.fromkeys(left, "git did not return {}"))
        level = following
    unread.update(dict.fromkeys(level, f"{{}} is more than {TAG_DEPTH} tags deep"))
    return points, unread


def _chain(oid: str, points: dict[str, str]) -> tuple[list[str], str]:
    """The tag objects from `oid` on, and what the last of them points at (`oid` itself: no tag)."""
    chain: dict[str, None] = {}
    while oid in points and oid not in chain:
        chain[oid] = None
        oid = points[oid]
    return list(chain), oid


def _env_of(path: str) -> str:
    from sealer import layout

    parts = path.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] in (layout.SEALED_DIR, layout.DEPLOY_DIR) else ""
