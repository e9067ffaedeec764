"""The detector policy: policies/detectors.yaml (or --policy FILE), validated and compiled once.

Every problem is one `invalid config: <file>: <where>: <what>` line (ConfigError).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from sealer import repofiles
from sealer.errors import BadInput, ConfigError
from sealer.scan.confirm import CANONICAL, CHECKSUMS, CONFIRMERS
from sealer.terminal import PLAIN_ID

BUILTIN = "detectors.yaml"
SEVERITIES = ("error", "warning", "note")
MAX_IGNORABLE = 256
_COMMON = frozenset({"id", "kind", "description", "severity", "paths", "allow_paths"})
# kind -> (allowed keys, required keys): the schema of a rule.
KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "token": (_COMMON | {"keywords", "regex", "confirm"}, frozenset({"id", "kind", "keywords", "regex"})),
    "assignment": (
        _COMMON | {"keywords", "regex", "entropy", "hex_entropy", "min_length", "ignore_names"},
        frozenset({"id", "kind", "keywords", "regex", "entropy"}),
    ),
    "kubernetes-secret": (_COMMON, frozenset({"id", "kind"})),
    "sealed-value": (_COMMON, frozenset({"id", "kind"})),
}
_TOP = frozenset({"version", "extends", "max_file_bytes", "allow_paths", "ignore_values", "rules"})


class PathMatcher(NamedTuple):
    """Globs compiled into two regexes: the whole path, and the bare name for globs without `/`."""

    whole: re.Pattern[str] | None
    name: re.Pattern[str] | None

    def matches(self, path: str) -> bool:
        if self.whole is not None and self.whole.match(path):
            return True
        # the bare name: after the last `/`, or after `!` for a member of an archive
        return self.name is not None and bool(self.name.match(path.rpartition("/")[2].rpartition("!")[2]))


class Rule(NamedTuple):
    id: str
    kind: str
    description: str
    severity: str
    keywords: tuple[bytes, ...]
    regex: re.Pattern[bytes] | None
    confirm: Callable[[bytes], bool] | None
    entropy: float  # bits per character a value needs (assignment rules)
    hex_entropy: float  # the same for values of hex digits only (16 symbols carry less)
    min_length: int
    ignore_names: re.Pattern[str] | None
    paths: PathMatcher | None
    allow_paths: PathMatcher | None

    @property
    def canonical(self) -> Callable[[bytes], bytes] | None:
        """What a token the confirmer passed stands for, where the regex admits another spelling
        of it (`slr\\_dev\\_…` is the key `slr_dev_…`)."""
        return CANONICAL.get(self.confirm) if self.confirm is not None else None

    def applies_to(self, path: str) -> bool:
        if self.paths is not None and not self.paths.matches(path):
            return False
        return self.allow_paths is None or not self.allow_paths.matches(path)

    @property
    def conditional(self) -> bool:
        return self.paths is not None or self.allow_paths is not None

    def __hash__(self) -> int:  # ids are unique in a policy; hashing every field is slow
        return hash(self.id)


# `\b`, and the base62 boundaries sealer's own key rule is written with.
_WORD_BOUNDARY = re.compile(rb"(?<!\\)\\b|\(\?<!\[0-9A-Za-z\]\)|\(\?!\[0-9A-Za-z\]\)")


def _unbounded(rule: Rule) -> Rule:
    """`rule` with its regex's `\\b`s taken out (its checksum is what tells a key there)."""
    if rule.regex is None:
        return rule
    return rule._replace(regex=re.compile(_WORD_BOUNDARY.sub(b"", rule.regex.pattern), rule.regex.flags))


class Policy(NamedTuple):
    rules: tuple[Rule, ...]
    max_file_bytes: int
    allow_paths: PathMatcher
    ignore_values: tuple[re.Pattern[str], ...]  # each on its own: one alternation is slow on long values

    conditional: tuple[Rule, ...] = ()  # the rules with path globs (set by compile_policy)
    selections: dict[tuple[bool, ...], tuple[Rule, ...]] = {}  # replaced by compile_policy
    inline_allow: bool = True  # a line with a `sealer: allow` comment is not reported

    def rules_for(self, path: str, verified_only: bool = False) -> tuple[Rule, ...]:
        """The rules for `path`, the same tuple object for every path that selects the same
        rules (files are grouped by it, and only rules with path globs are tested per path).
        A path the policy's globs allow gets the checksum-verified token rules alone: they have
        no false positive to spare it (a key in a built `app.min.js` or a `*.lock` is a key); so
        does `verified_only` (a binary's text without its NULs), and there without word boundaries:
        a wide string's length or the next string touches a key once the NULs are out."""
        mask = (
            verified_only,
            verified_only or self.allow_paths.matches(path),
            *(rule.applies_to(path) for rule in self.conditional),
        )
        chosen = self.selections.get(mask)
        if chosen is None:
            flags = iter(mask[2:])
            chosen = tuple(
                rule
                for rule in self.rules
                if (not rule.conditional or next(flags)) and (not mask[1] or rule.confirm in CHECKSUMS)
            )
            if verified_only:
                chosen = tuple(_unbounded(rule) for rule in chosen)
            self.selections[mask] = chosen
        return chosen

    def ignored_value(self, value: str) -> bool:
        """True for placeholders, templates, digests, UUIDs and the like. A value longer than
        MAX_IGNORABLE is none of those (and searching it with every pattern would be slow)."""
        return len(value) <= MAX_IGNORABLE and any(p.search(value) for p in self.ignore_values)


def load(path: str | None = None) -> Policy:
    """The built-in policy, or the file at `path` (laid over the built-in with `extends: builtin`)."""
    from sealer import resources

    builtin = _read(resources.policies().joinpath(BUILTIN).read_bytes(), f"policies/{BUILTIN}")
    if path is None:
        return compile_policy(builtin, f"policies/{BUILTIN}")
    try:
        raw = _read(repofiles.read_bytes(path), path)
    except OSError as err:
        raise ConfigError(path, f"cannot read the policy file ({err.strerror})") from None
    if raw.get("extends") not in (None, "builtin"):
        raise ConfigError(path, "extends: only 'builtin' is known")
    return compile_policy(_overlay(builtin, raw) if raw.get("extends") else raw, path)


def _read(data: bytes, source: str) -> dict[str, Any]:
    from sealer import yamlio

    try:
        docs = yamlio.load_documents(data, source)
    except BadInput as err:
        raise ConfigError(source, str(err).removeprefix(f"{source}: ")) from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ConfigError(source, "expected one YAML mapping")
    return docs[0]


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` on `base`: same-id rules replaced, lists appended, scalars overridden."""
    merged = {**base, **{k: v for k, v in top.items() if k not in ("rules", "allow_paths", "ignore_values")}}
    for key in ("allow_paths", "ignore_values", "rules"):
        if not isinstance(top.get(key) or [], list):
            return top  # compile_policy names the problem
    for key in ("allow_paths", "ignore_values"):
        merged[key] = list(base.get(key) or []) + list(top.get(key) or [])
    top_rules = list(top.get("rules") or [])
    replaced = {r.get("id") for r in top_rules if isinstance(r, dict)}
    merged["rules"] = [r for r in base.get("rules") or [] if r.get("id") not in replaced] + top_rules
    merged.pop("extends", None)
    return merged


def compile_policy(raw: dict[str, Any], source: str) -> Policy:
    _check_keys(raw, _TOP, frozenset({"version", "rules"}), source, "top level")
    if raw["version"] != 1:
        raise ConfigError(source, "version: only version 1 is known")
    rules_raw = raw["rules"]
    if not isinstance(rules_raw, list) or not rules_raw:
        raise ConfigError(source, "rules: expected a non-empty list")
    rules = tuple(_rule(r, source, f"rules[{i}]") for i, r in enumerate(rules_raw))
    _check_unique(rules, source)
    max_bytes = raw.get("max_file_bytes", 1 << 20)
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0:
        raise ConfigError(source, "max_file_bytes: expected a positive integer")
    ignore = _strings(raw, "ignore_values", source, "")
    return Policy(
        rules=rules,
        max_file_bytes=max_bytes,
        allow_paths=_globs(_strings(raw, "allow_paths", source, "")),
        ignore_values=tuple(_regex(p, source, f"ignore_values[{i}]") for i, p in enumerate(ignore)),
        conditional=tuple(rule for rule in rules if rule.conditional),
        selections={},
    )


def unexempted(policy: Policy, rule_id: str) -> Policy:
    """`policy` down to one rule, without the exemptions a file can claim for itself (a path glob
    it matches, a `sealer: allow` comment on its line): `keys compromised` looks for the one leaked
    key everywhere, whatever anyone marked as harmless."""
    chosen = tuple(rule for rule in policy.rules if rule.id == rule_id)
    conditional = tuple(rule for rule in chosen if rule.conditional)
    return policy._replace(
        rules=chosen, allow_paths=_globs([]), conditional=conditional, selections={}, inline_allow=False
    )


def _rule(raw: Any, source: str, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise ConfigError(source, f"{where}: expected a mapping")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(source, f"{where}.kind: expected one of {', '.join(KINDS)}")
    allowed, required = KINDS[kind]
    _check_keys(raw, allowed, required, source, where)
    rule_id = _string(raw, "id", source, where)
    if not PLAIN_ID.match(rule_id):
        raise ConfigError(source, f"{where}.id: use lowercase letters, digits and hyphens")
    where = f"{where} ({rule_id})"
    severity = raw.get("severity", "error")
    if severity not in SEVERITIES:
        raise ConfigError(source, f"{where}.severity: expected one of {', '.join(SEVERITIES)}")
    entropy = _number(raw, "entropy", source, where, 0.0, 8.0)
    return Rule(
        id=rule_id,
        kind=kind,
        description=_string(raw, "description", source, where, default=rule_id),
        severity=severity,
        keywords=_keywords(raw, kind, source, where),
        regex=_rule_regex(raw, kind, source, where),
        confirm=_confirm(raw, source, where),
        entropy=entropy,
        hex_entropy=_number(raw, "hex_entropy", source, where, 0.0, 4.0, default=min(entropy, 4.0)),
        min_length=int(_number(raw, "min_length", source, where, 1, 10_000, default=1)),
        ignore_names=_optional_regex(raw, "ignore_names", source, where),
        paths=_globs(_strings(raw, "paths", source, where)) if "paths" in raw else None,
        allow_paths=_globs(_strings(raw, "allow_paths", source, where)) if "allow_paths" in raw else None,
    )


def _check_keys(
    raw: dict[str, Any], allowed: frozenset[str], required: frozenset[str], source: str, where: str
) -> None:
    unknown = sorted(set(map(str, raw)) - allowed)
    if unknown:
        raise ConfigError(source, f"{where}: unknown key {unknown[0]!r}")
    missing = sorted(required - set(raw))
    if missing:
        raise ConfigError(source, f"{where}: missing key {missing[0]!r}")


def _check_unique(rules: tuple[Rule, ...], source: str) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(source, f"rules: id {rule.id!r} is used twice")
        seen.add(rule.id)


def _string(raw: dict[str, Any], key: str, source: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(source, f"{where}.{key}: expected a non-empty string")
    return value


def _strings(raw: dict[str, Any], key: str, source: str, where: str) -> list[str]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        label = f"{where}.{key}" if where else key
        raise ConfigError(source, f"{label}: expected a list of non-empty strings")
    return value


def _number(
    raw: dict[str, Any], key: str, source: str, where: str, low: float, high: float, default: float = 0.0
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(source, f"{where}.{key}: expected a number from {low:g} to {high:g}")
    return float(value)


def _keywords(raw: dict[str, Any], kind: str, source: str, where: str) -> tuple[bytes, ...]:
    if "keywords" not in raw:
        return ()
    words = _strings(raw, "keywords", source, where)
    if not words:
        raise ConfigError(source, f"{where}.keywords: expected at least one keyword")
    if kind == "assignment" and any(w != w.lower() for w in words):
        raise ConfigError(source, f"{where}.keywords: assignment keywords must be lowercase")
    try:
        return tuple(w.encode("ascii") for w in words)
    except UnicodeEncodeError:
        raise ConfigError(source, f"{where}.keywords: keywords must be ASCII") from None


def _rule_regex(raw: dict[str, Any], kind: str, source: str, where: str) -> re.Pattern[bytes] | None:
    if "regex" not in raw:
        return None
    pattern = _string(raw, "regex", source, where)
    try:
        compiled = re.compile(pattern.encode("ascii"), re.IGNORECASE if kind == "assignment" else 0)
    except (re.error, UnicodeEncodeError) as err:
        raise ConfigError(source, f"{where}.regex: {err}") from None
    extra = set(compiled.groupindex) - {"secret"}
    if extra:
        raise ConfigError(source, f"{where}.regex: the only named group allowed is 'secret'")
    if kind == "assignment" and "secret" not in compiled.groupindex:
        raise ConfigError(source, f"{where}.regex: needs a named group 'secret' (the value)")
    return compiled


def _confirm(raw: dict[str, Any], source: str, where: str) -> Callable[[bytes], bool] | None:
    if "confirm" not in raw:
        return None
    name = raw["confirm"]
    if name not in CONFIRMERS:
        raise ConfigError(source, f"{where}.confirm: expected one of {', '.join(CONFIRMERS)}")
    return CONFIRMERS[name]


def _optional_regex(raw: dict[str, Any], key: str, source: str, where: str) -> re.Pattern[str] | None:
    return _regex(_string(raw, key, source, where), source, f"{where}.{key}") if key in raw else None


def _regex(pattern: str, source: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ConfigError(source, f"{where}: {err}") from None


def _globs(globs: list[str]) -> PathMatcher:
    def join(items: list[str]) -> re.Pattern[str] | None:
        return re.compile("|".join(fnmatch.translate(g) for g in items)) if items else None

    return PathMatcher(join(globs), join([g for g in globs if "/" not in g]))
