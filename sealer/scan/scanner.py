"""One scan: files in, findings out, with allow comments, policy path globs and the baseline applied."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from sealer import apikey
from sealer.scan import engine, files, findings, k8s_secret, manifests, sealed_values
from sealer.scan.confirm import sealer_checksum_base64
from sealer.scan.contents import Piece, Skip
from sealer.scan.engine import Hit
from sealer.scan.files import Candidate
from sealer.scan.findings import Finding, Located
from sealer.scan.rules import Policy, Rule
from sealer.scan.workers import cores, map_shares

ALLOW = re.compile(rb"sealer:\s?allow\b")

Wanted = Callable[[bytes], bool]
Find = Callable[[Sequence[manifests.Node], Rule, Policy, Callable[[bytes], list[Hit]]], Iterator[Located]]
# Every structural detector: a cheap test of the raw text, then a look at the YAML documents.
STRUCTURAL: dict[str, tuple[Wanted, Find]] = {
    "kubernetes-secret": (k8s_secret.wanted, k8s_secret.find),
    "sealed-value": (sealed_values.wanted, sealed_values.find),
}


class Skipped(NamedTuple):
    path: str
    reason: str


class Result(NamedTuple):
    findings: list[Finding]  # new: not allowed inline, not in the baseline
    accepted: list[Finding]  # matched the baseline
    skipped: list[Skipped]  # on purpose: symlinks, media, allowlisted paths (a -v line each)
    notes: list[str]  # things worth a -v line (a manifest that did not parse)
    scanned: list[str]
    size: int  # bytes scanned
    unexamined: list[Skipped] = []  # could not be examined: the scan fails (fail closed)


class Outcome(NamedTuple):
    """What became of one candidate: skipped (with the reason), or its findings; and what in it
    (archive members, the rest of a file) was skipped or could not be examined."""

    path: str
    skipped: str | None
    findings: list[Finding]
    notes: list[str]
    size: int
    parts_skipped: list[Skipped] = []
    unexamined: list[Skipped] = []


BATCH_BYTES = 64 << 20  # list this much, then read and scan it (on every core when it is big)


def run(
    candidates: Iterable[Candidate], policy: Policy, baseline: Iterable[str] = (), workers: int | None = None
) -> Result:
    accepted_fps = set(baseline)
    result = Result([], [], [], [], [], 0, [])
    size = 0
    for outcome in _outcomes(candidates, policy, workers or cores()):
        result.skipped.extend(outcome.parts_skipped)
        result.unexamined.extend(outcome.unexamined)
        for finding in outcome.findings:  # a skipped file's are in its path
            (result.accepted if finding.fingerprint in accepted_fps else result.findings).append(finding)
        if outcome.skipped is not None:
            if not outcome.unexamined:
                result.skipped.append(Skipped(outcome.path, outcome.skipped))
            continue
        if all(path != outcome.path for path, _ in outcome.unexamined):
            result.scanned.append(outcome.path)
        result.notes.extend(outcome.notes)
        size += outcome.size
    return result._replace(size=size)


def first_of_each(result: Result) -> Result:
    """One finding per fingerprint (rule, path, secret), the first: in a history scan, the one
    in the commit that introduced the secret, not every later version of the file."""

    def first(found: list[Finding]) -> list[Finding]:
        return list({f.fingerprint: f for f in reversed(found)}.values())[::-1]

    return result._replace(findings=first(result.findings), accepted=first(result.accepted))


def _outcomes(candidates: Iterable[Candidate], policy: Policy, workers: int) -> Iterator[Outcome]:
    batch: list[Candidate] = []
    weight = 0
    for candidate in candidates:
        if candidate.blocks is not None:  # a stream from git: read here, before the next candidate
            yield from _scan_batch(batch, policy, workers)  # outcomes stay in candidate order
            batch, weight = [], 0
            yield from _scan_part([candidate], policy)
            continue
        batch.append(candidate)
        weight += candidate.weight
        if weight >= BATCH_BYTES:
            yield from _scan_batch(batch, policy, workers)
            batch, weight = [], 0
    yield from _scan_batch(batch, policy, workers)


def _scan_batch(batch: list[Candidate], policy: Policy, workers: int) -> list[Outcome]:
    def work(part: list[Candidate]) -> list[Outcome]:
        return _scan_part(part, policy)

    return map_shares(work, batch, [c.weight for c in batch], workers)


PIECE_BATCH = 4 << 20  # pieces gathered (from one file or many) before they are scanned as one


class _Tally:
    """One candidate's outcome as its pieces are scanned."""

    def __init__(self, path: str, commit: str = "") -> None:
        self.path = path
        self.commit = commit
        self.findings: dict[tuple[str, int, str], Finding] = {}  # chunk overlaps report twice
        self.notes: list[str] = []
        self.size = 0
        self.pieces = 0
        self.skips: list[Skip] = []

    def outcome(self) -> Outcome:
        failed = [Skipped(s.path, s.reason) for s in self.skips if not s.examined]
        own = [s for s in self.skips if s.path == self.path and s.examined]
        if not self.pieces and (own or failed):
            reason = own[0].reason if own else failed[0].reason
            return Outcome(self.path, reason, list(self.findings.values()), [], 0, [], failed)
        others = [Skipped(s.path, s.reason) for s in self.skips if s.examined]
        found = sorted(self._unique(), key=lambda f: (f.path, f.line, f.column, f.rule))
        return Outcome(self.path, None, found, self.notes, self.size, others, failed)

    def _unique(self) -> list[Finding]:
        """Without the raw-bytes twin of what an archive member holds (an uncompressed tar shows
        its members' bytes as they are): the member names where it is."""
        found = self.findings.values()
        in_members = {(f.rule, f.secret_id) for f in found if f.path != self.path}
        return [f for f in found if f.path != self.path or (f.rule, f.secret_id) not in in_members]


def _scan_part(part: list[Candidate], policy: Policy) -> list[Outcome]:
    """One outcome per candidate: read here (in the worker), cut into pieces, then scanned."""
    part, named = _in_paths(part, policy)
    tallies = [_Tally(candidate.path, candidate.commit) for candidate in part]
    for tally, found in zip(tallies, named, strict=True):
        tally.findings.update(((f.rule, 0, f.fingerprint), f) for f in found)  # line 0: not the text's
    folders = files.Folders()
    try:
        _read_part(part, tallies, policy, folders)
    finally:
        folders.close()
    return [tally.outcome() for tally in tallies]


IN_PATH = "in its path"


def _in_paths(part: list[Candidate], policy: Policy) -> tuple[list[Candidate], list[list[Finding]]]:
    """Git commits the names of files and folders in its trees: a secret in a candidate's path is
    a finding, and the path is reported with that secret masked (never printed). All the paths
    are searched at once first: one seldom holds anything."""
    named: list[list[Finding]] = [[] for _ in part]
    joined = "\n".join(c.path for c in part).encode("utf-8", "surrogateescape")
    if not engine.scan(joined, _pattern_rules(policy.rules), policy):
        return part, named
    part = list(part)
    for k, candidate in enumerate(part):
        raw = candidate.path.encode("utf-8", "surrogateescape")
        hits = _search(raw, policy.rules_for(candidate.path), policy)
        path = candidate.path
        for hit in hits:
            path = path.replace(hit.secret.decode("utf-8", "surrogateescape"), findings.mask(hit.secret))
        path = apikey.redact(path)  # a key the hit unescaped (`slr\_dev\_…`) is not in it as the hit has it
        part[k] = candidate._replace(path=path)
        if candidate.skipped != "deleted":  # a deleted file's name leaves the tree: masked all the same
            for hit in hits:
                column = len(raw[: hit.start].decode("utf-8", "replace")) + 1
                located = Located(hit.rule, 1, column, hit.secret, IN_PATH)
                named[k].append(findings.make(path, located, findings.IN_NAME))
    return part, named


def _search(data: bytes, rules: tuple[Rule, ...], policy: Policy) -> list[Hit]:
    pattern_rules = _pattern_rules(rules)
    return engine.scan(data, pattern_rules, policy) if pattern_rules else []


def _read_part(part: list[Candidate], tallies: list[_Tally], policy: Policy, folders: files.Folders) -> None:
    batch: list[tuple[_Tally, Piece]] = []
    weight = 0
    for tally, candidate in zip(tallies, part, strict=True):
        if candidate.data is None and candidate.source is None and candidate.blocks is None:
            tally.skips.append(Skip(candidate.path, candidate.skipped or "skipped", not candidate.failed))
            continue
        if _exempt(candidate.path, policy, tally):
            continue  # nothing looks at it: not read at all
        for item in files.items(candidate, policy.max_file_bytes, folders):
            if isinstance(item, Skip):
                tally.skips.append(item)
            elif item.path == candidate.path or not _exempt(item.path, policy, tally):
                batch.append((tally, item))
                weight += len(item.data)
                if weight >= PIECE_BATCH:
                    _scan_pieces(batch, policy)
                    batch, weight = [], 0
    _scan_pieces(batch, policy)


def _exempt(path: str, policy: Policy, tally: _Tally) -> bool:
    """Whether a policy path glob allows `path` and leaves no rule to look at it: the rules that
    verify a checksum still do (Policy.rules_for). Noted for -v either way."""
    if not policy.allow_paths.matches(path):
        return False
    exempt = not policy.rules_for(path)
    if all(skip.path != path for skip in tally.skips):  # an archive member's chunks ask again
        reason = "allowlisted by a policy path glob" + (
            "" if exempt else ": checksum-verified keys looked for"
        )
        tally.skips.append(Skip(path, reason, True))
    return exempt


def _scan_pieces(batch: list[tuple[_Tally, Piece]], policy: Policy) -> None:
    notes: list[list[str]] = [[] for _ in batch]
    texts = [(piece.path, piece.data) for _, piece in batch]
    squeezed = [piece.squeezed for _, piece in batch]
    for (tally, piece), found, piece_notes in zip(
        batch, scan_texts(texts, policy, notes, squeezed), notes, strict=True
    ):
        tally.pieces += 1
        tally.size += 0 if piece.squeezed else len(piece.data)
        tally.notes.extend(piece_notes)
        for finding in found:
            if piece.keep_lines is not None and finding.line > piece.keep_lines:
                continue  # on the lines the next piece starts with
            finding = finding._replace(line=finding.line + piece.first_line, commit=tally.commit)
            tally.findings.setdefault((finding.rule, finding.line, finding.fingerprint), finding)


def scan_file(
    path: str, data: bytes, policy: Policy, notes: list[str] | None = None, verified_only: bool = False
) -> list[Finding]:
    """The findings in one file's text, minus lines that carry a `sealer: allow` comment."""
    return scan_texts([(path, data)], policy, [notes if notes is not None else []], [verified_only])[0]


SEPARATOR = b"\n\0\n"  # no rule's regex crosses a newline followed by a NUL


def scan_texts(
    texts: Sequence[tuple[str, bytes]],
    policy: Policy,
    notes: Sequence[list[str]],
    verified_only: Sequence[bool] = (),
) -> list[list[Finding]]:
    """The findings in each (path, text); `verified_only` texts get the checksum-verified rules
    alone. Texts under the same pattern rules are searched as one buffer: a keyword costs one
    pass for all of them, not one call per file."""
    hits: list[list[Hit]] = [[] for _ in texts]
    only = list(verified_only) or [False] * len(texts)
    file_rules = [policy.rules_for(path, flag) for (path, _), flag in zip(texts, only, strict=True)]
    groups: dict[int, tuple[tuple[Rule, ...], list[int]]] = {}
    for k, rules in enumerate(file_rules):  # the same tuple object for the same selection
        groups.setdefault(id(rules), (rules, []))[1].append(k)
    for rules, members in groups.values():
        pattern_rules = _pattern_rules(rules)
        if pattern_rules:
            _search_joined([texts[k][1] for k in members], pattern_rules, policy, [hits[k] for k in members])
    return [
        _finish(path, data, hits[k], file_rules[k], policy, notes[k]) for k, (path, data) in enumerate(texts)
    ]


_PATTERN_RULES: dict[int, tuple[tuple[Rule, ...], tuple[Rule, ...]]] = {}


def _pattern_rules(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """The token and assignment rules of a selection, one tuple object per selection (the
    engine caches by it). Keyed by identity, checked: hashing a hundred rules costs more."""
    cached = _PATTERN_RULES.get(id(rules))
    if cached is None or cached[0] is not rules:
        if len(_PATTERN_RULES) > 256:  # callers that build a new tuple each time
            _PATTERN_RULES.clear()
        cached = (rules, tuple(r for r in rules if r.kind in ("token", "assignment")))
        _PATTERN_RULES[id(rules)] = cached
    return cached[1]


def _search_joined(datas: list[bytes], rules: Sequence[Rule], policy: Policy, into: list[list[Hit]]) -> None:
    starts, at = [], 0
    for data in datas:
        starts.append(at)
        at += len(data) + len(SEPARATOR)
    for hit in engine.scan(SEPARATOR.join(datas), rules, policy):
        k = bisect.bisect_right(starts, hit.start) - 1
        into[k].append(hit._replace(start=hit.start - starts[k]))


def _finish(
    path: str, data: bytes, hits: list[Hit], rules: Sequence[Rule], policy: Policy, notes: list[str]
) -> list[Finding]:
    located = _positioned(data, hits)
    located += _structural(data, rules, policy, notes, path)
    if not located:
        return []
    decoded = {found.line for found in located if "base64-decoded" in found.note}
    if decoded:  # a Secret's data, a value decoded: the key it holds is reported, not its encoding too
        located = [
            f for f in located if f.line not in decoded or f.rule.confirm is not sealer_checksum_base64
        ]
    lines = data.split(b"\n") if policy.inline_allow and ALLOW.search(data) else None  # most allow nothing
    kept: dict[tuple[str, int, bytes], Located] = {}  # one finding per rule, line and secret
    for found in located:
        if lines is None or not ALLOW.search(lines[found.line - 1]):
            kept.setdefault((found.rule.id, found.line, found.secret), found)
    ordered = sorted(kept.values(), key=lambda f: (f.line, f.column, f.rule.id))
    return [findings.make(path, found) for found in ordered]


# A byte-order mark is no column: UTF-8's, or UTF-16/32's as the text without its NULs keeps it.
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _positioned(data: bytes, hits: list[Hit]) -> list[Located]:
    """Each hit's line and column, in the order of `hits`, counted on from the hit that starts
    before it: counted from the text's start, thousands of hits on one long line (`ABSK/ABSK/…`,
    a hit every five bytes) cost the square of it."""
    located: list[Located | None] = [None] * len(hits)
    line, column = 1, 1
    at = next((len(mark) for mark in _BOMS if data.startswith(mark)), 0)  # `column` characters into the line
    for k in sorted(range(len(hits)), key=lambda k: hits[k].start):
        hit = hits[k]
        breaks = data.count(b"\n", at, hit.start)
        if breaks:
            line, column = line + breaks, 1
            at = data.rfind(b"\n", at, hit.start) + 1
        column += len(data[at : hit.start].decode("utf-8", "replace"))  # a hit starts on a character
        at = max(at, hit.start)
        located[k] = Located(hit.rule, line, column, hit.secret, hit.note)
    return [found for found in located if found is not None]


def _structural(
    data: bytes, rules: Sequence[Rule], policy: Policy, notes: list[str], path: str
) -> list[Located]:
    detectors = [(rule, STRUCTURAL[rule.kind]) for rule in rules if rule.kind in STRUCTURAL]
    if not detectors or not any(wanted(data) for _, (wanted, _) in detectors):
        return []
    pattern_rules = _pattern_rules(tuple(rules))

    def rescan(content: bytes) -> list[Hit]:
        return engine.scan(content, pattern_rules, policy, depth=1) if content else []

    located: list[Located] = []
    for offset, text in manifests.documents(data):
        chosen = [(rule, find) for rule, (wanted, find) in detectors if wanted(text)]
        if not chosen:
            continue
        docs, problem = manifests.compose(text, offset)
        parts = [(offset, docs)]
        if problem and not docs:  # not YAML as a whole: the manifests embedded in it
            parts = [
                (offset + first, manifests.compose(block)[0]) for first, block in manifests.embedded(text)
            ]
            problem = None if any(found for _, found in parts) else problem
        if problem:
            notes.append(f"{path}: {problem}: manifest checks skipped the rest of that document")
        for at, found_docs in parts:
            for rule, find in chosen:
                located += [f._replace(line=f.line + at) for f in find(found_docs, rule, policy, rescan)]
    return located
