"""sealer.yaml: the environments of a sealer-managed GitOps repo.

Read with the fast safe loader (rotations read it on every run); changed through ruamel's round
trip (`edit`) so users' comments survive. Every problem is an `invalid config: <where>: <what>`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sealer import git, layout, registry, repofiles, yamlio
from sealer.apikey import ENV_TAG
from sealer.backends import check_credentials, check_kind, refuse_secret_values, secret_shape
from sealer.durations import MAX_DAYS
from sealer.errors import BadInput, ConfigError, GitError
from sealer.layout import CONFIG_FILE
from sealer.scope import Scope

VERSION = 1
# What an environment that leaves a setting out gets (and what `sealer init` writes).
DEFAULT_KEYS = ("apiKey",)
DEFAULT_SCOPE = Scope.STRICT
DEFAULT_ROTATION_DAYS = 90
LIFETIME_MARGIN_DAYS = 14  # a key outlives its rotation period by this much: time to roll out
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_ENTRY = re.compile(r"[-._a-zA-Z0-9]{1,253}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ENV_NAME = re.compile(ENV_TAG)  # env names also tag the keys (`slr_<env>_…`)
_SCOPES = tuple(s.value for s in Scope)
# Every setting sealer reads, by where it sits. Anything else is refused: a typo (`requireSinged:`,
# `rotationDay:`) would leave a setting a reviewer reads as on silently off.
_TOP_KEYS = ("version", "environments", "pullRequests")
_ENV_KEYS = (
    "namespace",
    "secretName",
    "keys",
    "scope",
    "clusters",
    "valuesFile",
    "backend",
    "rotationDays",
    "keyLifetimeDays",
    "certHistory",
    "policy",  # its rule ids and options are sealer.policy's to check
    "resealAfterDays",
    "clusterContexts",
)
_CLUSTER_KEYS = ("name", "valuesFile", "cert", "fingerprint", "certs", "sealWith")
_HELD_KEYS = ("cert", "fingerprint", "added")
_BACKEND_KEYS = ("kind", "options", "credentials")  # credentials: checked by the store's sources
_PULL_REQUEST_KEYS = ("labels", "reviewers", "assignees")


@dataclass(frozen=True)
class HeldCert:
    """One certificate of the controller's set: its file, its pin and the day sealer added it."""

    cert: str  # path relative to the repo
    fingerprint: str
    added: str | None = None  # YYYY-MM-DD, written by `sealer cert add|fetch`; None in a legacy pin


@dataclass(frozen=True)
class Cluster:
    """A cluster pins the set of certificates its controller holds (`certs:`) and names the one
    that seals (`sealWith:`); `cert` and `fingerprint` are that sealing certificate's. The legacy
    form (`cert:` and `fingerprint:` only) is a set of one."""

    name: str
    cert: str  # path relative to the repo: the sealing certificate
    fingerprint: str  # the sealing certificate's (sealWith)
    values_file: str  # path relative to the repo
    held: tuple[HeldCert, ...] = ()  # the whole set, the sealing certificate included

    @property
    def cert_set(self) -> tuple[HeldCert, ...]:
        return self.held or (HeldCert(self.cert, self.fingerprint),)

    def holds(self, fingerprint: str) -> bool:
        return any(c.fingerprint == fingerprint for c in self.cert_set)

    def held_cert(self, fingerprint: str) -> HeldCert | None:
        return next((c for c in self.cert_set if c.fingerprint == fingerprint), None)


@dataclass(frozen=True)
class Environment:
    name: str
    namespace: str
    secret_name: str
    keys: tuple[str, ...]
    scope: Scope
    clusters: tuple[Cluster, ...]
    values_file: str
    backend_kind: str
    backend_options: dict[str, str]
    rotation_days: int
    key_lifetime_days: int
    cert_history: tuple[str, ...] = ()  # fingerprints once pinned, now replaced or removed
    # Entries sealed with a certificate other than `sealWith` are due this many days after the
    # sealing certificate was added (`resealAfterDays`; None: never due for that reason).
    reseal_after_days: int | None = None
    # `sealer check` overrides for this environment: rule id -> options (sealer.policy validates them)
    policy: dict[str, dict[str, Any]] = field(default_factory=dict)
    # #17 `clusterContexts:` cluster name -> kubeconfig context: `sealer status` reads each cluster
    # and `rotate --finish` activates only what every one of them serves. Names only, never credentials.
    cluster_contexts: dict[str, str] = field(default_factory=dict)
    # #17: where the store's credentials come from (`backend.credentials`); {}: its global variables
    backend_credentials: dict[str, str] = field(default_factory=dict)

    @property
    def registry(self) -> registry.Settings | None:
        """#16: how the key registry reaches the verifier; None when the store is not k8s-secrets."""
        if self.backend_kind != "k8s-secrets":
            return None
        return registry.settings(
            self.backend_options, self.namespace, registry.default_name(self.secret_name)
        )

    def managed_paths(self) -> set[str]:
        """The paths sealer.yaml has sealer manage for this environment: its clusters'
        certificate files (each of a set) and values files, its ledger and its files in sealed/
        and registry/."""
        found = {held.cert for cluster in self.clusters for held in cluster.cert_set}
        found |= {self.values_file, *(c.values_file for c in self.clusters)}
        found.update(layout.env_paths(self.name, [c.name for c in self.clusters]))
        return found


@dataclass(frozen=True)
class PullRequests:
    """`pullRequests:` what `sealer rotate --open-pr` attaches to the pull request it opens."""

    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()  # user names, or ORG/TEAM (GitHub teams)
    assignees: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    root: Path
    environments: dict[str, Environment] = field(default_factory=dict)
    pull_requests: PullRequests = PullRequests()

    def env(self, name: str) -> Environment:
        if name not in self.environments:
            raise BadInput(unknown_env_message(name, list(self.environments)))
        return self.environments[name]

    def cert_files(self) -> set[str]:
        """Every certificate file a cluster pins: each of its set, not only the sealing one."""
        clusters = (cluster for env in self.environments.values() for cluster in env.clusters)
        return {held.cert for cluster in clusters for held in cluster.cert_set}

    def managed_paths(self) -> set[str]:
        """Every path sealer.yaml has sealer manage: its certificate and values files, and each
        environment's ledger and files in sealed/ and registry/ (layout.Spellings reads them)."""
        return set().union(*(env.managed_paths() for env in self.environments.values()))


def unknown_env_message(name: str, known: list[str]) -> str:
    """`unknown environment 'prod'`, with the nearest known name when one is close."""
    import difflib

    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.5)
    hint = f": did you mean {by_lower[close[0]]!r}?" if close else ""
    return f"unknown environment {name!r}{hint} (known: {', '.join(known) or 'none'})"


def find_root(start: Path | None = None) -> Path:
    """The nearest folder upward holding sealer.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if os.path.lexists(folder / CONFIG_FILE):  # #13: a FIFO or symlink there is refused when read
            _refuse_below_top(folder)
            return folder
    raise BadInput(_not_found(here))


def _not_found(here: Path) -> str:
    """No sealer.yaml on disk: `sealer init` makes one, unless Git holds one the disk lacks
    (deleted, outside a sparse checkout), which is brought back instead."""
    top, listed = None, None
    with contextlib.suppress(GitError):  # no git installed
        top = git.top_level(here)
        asked = ("--literal-pathspecs", "ls-files", "-s", "-v", "--", CONFIG_FILE)
        listed = git.probe(top, *asked) if top else None
    if top is None or not listed:
        return f"no {CONFIG_FILE} here or above {here} (run `sealer init` first)"
    # From where sealer ran, which may be below the top: `..`s alone, nothing to quote.
    fix = _restore(top, listed.splitlines(), os.path.relpath(top.resolve() / CONFIG_FILE, here))
    held = "though Git holds it (deleted, or outside a sparse checkout)"
    return f"no {CONFIG_FILE} on disk in {top}, {held}: `{fix}`"


def _restore(top: Path, entries: list[str], name: str) -> str:
    """The command bringing back `name`, by its index entries (`git ls-files -s -v`: a tag, `S`
    or `s` skip-worktree, `M` unmerged, then mode, blob, stage): `git checkout --` refuses an
    unmerged one, and brings back no skip-worktree one."""
    tag, stages = entries[0][0], {entry.split()[3] for entry in entries}
    if tag == "M":  # a conflict: both sides merged again, or the one side Git holds
        side = "--merge" if {"2", "3"} <= stages else "--ours" if "2" in stages else "--theirs"
        return f"git checkout {side} -- {name}"
    skipped = tag in "Ss"  # `s`: assume-unchanged too
    return git.restore_line(CONFIG_FILE, name, skipped, skipped and git.sparse_checkout(top))


def _refuse_below_top(folder: Path) -> None:
    """sealer's paths (commits, review, the hooks) are the repository's own: a sealer.yaml in a
    sub-folder of a Git work tree would have a rotation commit its files at the top."""
    try:
        top = git.top_level(folder)
    except GitError:  # no git installed: `audit` reads the files alone, `check` too, failing on the index
        return
    if top is not None and top.resolve() != folder:
        raise BadInput(
            f"{folder / CONFIG_FILE} is not at the top of its Git work tree {top}: "
            "sealer manages a whole repository (its sealer.yaml sits at the top)"
        )


def _need(value: Any, where: str, kind: type, what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ConfigError(where, f"must be {what}")
    return value


def _shown(value: Any) -> str:
    """A value as a message quotes it: a credential pasted into the wrong setting is named by
    its shape, never echoed (the line lands in CI logs)."""
    shape = secret_shape(str(value))
    return f"a value that looks like {shape} (not shown)" if shape else repr(value)


def _key(name: str) -> str:
    """A mapping's key as the line's `where` names it: one shaped like a credential (a token
    pasted as an environment's name) by its shape, as `_shown` names a value."""
    shape = secret_shape(name)
    return f"<{shape}>" if shape else name


def _known(raw: dict[Any, Any], where: str, known: Sequence[str]) -> None:
    """Refuse a setting sealer does not read, naming the file, where it sits and the known
    setting it is closest to (or every one there when none is close)."""
    for key in raw:
        if str(key) not in known:
            import difflib  # only for the hint: every load of a valid sealer.yaml passes here

            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
            at = f"{where}.{_key(str(key))}" if where else _key(str(key))
            raise ConfigError(at, f"unknown setting ({hint})")


def _match(value: Any, where: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(where, f"must be {what}, got {_shown(value)}")
    return value


def _path(value: Any, where: str) -> str:
    """A relative path inside the repo: sealer writes there, so never `/etc/…` or `../…`."""
    path = PurePosixPath(_need(value, where, str, "a path"))
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ConfigError(where, f"must be a relative path inside the repo, got {_shown(value)}")
    problem = layout.configured_path_problem(value)
    if problem:
        raise ConfigError(where, f"{_shown(value)} {problem}")
    if str(path) != value:  # a commit sealer builds names the file as written: `./a` is no `a` to git
        written = "plainly" if secret_shape(value) else repr(str(path))
        raise ConfigError(where, f"must be written {written}, got {_shown(value)}")
    return str(value)


def _held(raw: Any, where: str) -> HeldCert:
    _need(raw, where, dict, "a mapping of cert, fingerprint and added")
    _known(raw, where, _HELD_KEYS)
    added = raw.get("added")
    if added is not None:
        added = _date(str(added), f"{where}.added")
    return HeldCert(
        cert=_path(raw.get("cert"), f"{where}.cert"),
        fingerprint=_match(raw.get("fingerprint"), f"{where}.fingerprint", _HEX64, "64 hex digits"),
        added=added,
    )


def _date(text: str, where: str) -> str:
    import datetime as dt

    _match(text, where, _DATE, "a date YYYY-MM-DD")
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(where, f"must be a date YYYY-MM-DD, got {text!r}") from None
    return text


def _cert_set(raw: Any, where: str) -> tuple[tuple[HeldCert, ...], HeldCert]:
    """The `certs:` list and the `sealWith:` member, each fingerprint and file listed once."""
    items = _need(raw.get("certs"), f"{where}.certs", list, "a list of certificates")
    held = tuple(_held(c, f"{where}.certs[{i}]") for i, c in enumerate(items))
    if not held:
        raise ConfigError(f"{where}.certs", "must list at least one certificate")
    for i, cert in enumerate(held):
        if any(cert.fingerprint == c.fingerprint or cert.cert == c.cert for c in held[:i]):
            raise ConfigError(f"{where}.certs[{i}]", "lists a certificate or file twice")
    seal_with = _match(raw.get("sealWith"), f"{where}.sealWith", _HEX64, "the fingerprint of one of certs")
    sealing = next((c for c in held if c.fingerprint == seal_with), None)
    if sealing is None:
        raise ConfigError(f"{where}.sealWith", f"{seal_with[:16]}… is not one of the cluster's certs")
    return held, sealing


def _cluster(raw: Any, where: str) -> Cluster:
    _need(raw, where, dict, "a mapping")
    _known(raw, where, _CLUSTER_KEYS)
    name = _match(raw.get("name"), f"{where}.name", DNS_LABEL, "a DNS label")
    values_file = _path(raw.get("valuesFile"), f"{where}.valuesFile")
    if "certs" not in raw and "sealWith" not in raw:  # the legacy pin: a set of one
        return Cluster(
            name=name,
            cert=_path(raw.get("cert"), f"{where}.cert"),
            fingerprint=_match(raw.get("fingerprint"), f"{where}.fingerprint", _HEX64, "64 hex digits"),
            values_file=values_file,
        )
    for legacy in ("cert", "fingerprint"):
        if legacy in raw:
            raise ConfigError(f"{where}.{legacy}", "give either cert/fingerprint or certs/sealWith, not both")
    held, sealing = _cert_set(raw, where)
    return Cluster(name, sealing.cert, sealing.fingerprint, values_file, held)


def _clusters(raw: Any, where: str) -> tuple[Cluster, ...]:
    items = _need(raw or [], where, list, "a list")
    clusters = tuple(_cluster(c, f"{where}[{i}]") for i, c in enumerate(items))
    for i, cluster in enumerate(clusters):
        if cluster.name in (c.name for c in clusters[:i]):
            raise ConfigError(f"{where}[{i}].name", f"cluster {cluster.name!r} is listed twice")
    return clusters


def _backend(raw: Any, where: str) -> tuple[str, dict[str, str], dict[str, str]]:
    raw = raw or {"kind": "k8s-secrets"}
    _need(raw, where, dict, "a mapping")
    _known(raw, where, _BACKEND_KEYS)
    kind = raw.get("kind")
    check_kind(kind, f"{where}.kind")
    options = _need(raw.get("options") or {}, f"{where}.options", dict, "a mapping")
    options = {str(k): str(v) for k, v in options.items()}
    refuse_secret_values(options, f"{where}.options")  # a pasted token, wherever it was put
    filled = filled_option(options)
    if filled:
        raise ConfigError(f"{where}.options.{filled}", FILLED_BY_SEALER)
    _known(options, f"{where}.options", given_options(kind))
    sources = _need(raw.get("credentials") or {}, f"{where}.credentials", dict, "a mapping")
    return kind, options, check_credentials(kind, sources, f"{where}.credentials")


FILLED_BY_SEALER = "sealer sets it from the environment's name: leave it out"


def filled_option(options: Mapping[str, str]) -> str | None:
    """The first of `options` sealer fills itself (registry.FILLED), which no one may give."""
    return next(iter(sorted(set(options) & set(registry.FILLED))), None)


def given_options(kind: str) -> tuple[str, ...]:
    """The options of a `kind` store sealer.yaml may give: not those sealer fills (registry.FILLED)."""
    return tuple(o for o in check_kind(kind).options if o not in registry.FILLED)


def _keys(raw: Any, where: str) -> tuple[str, ...]:
    keys = _need(raw, where, list, "a list of entry names")
    names = tuple(_match(k, f"{where}[{i}]", _ENTRY, "an entry name") for i, k in enumerate(keys))
    if not names or len(set(names)) != len(names):
        raise ConfigError(where, "must list at least one entry, each once")
    return names


def default_key_lifetime(rotation_days: int) -> int:
    return rotation_days + LIFETIME_MARGIN_DAYS


def _at_most_max_days(days: int, where: str) -> None:
    """Days are added to today's date: past MAX_DAYS a rotation would overflow the calendar."""
    if days > MAX_DAYS:
        raise ConfigError(where, f"must be at most {MAX_DAYS}")


def _days(raw: dict[str, Any], where: str) -> tuple[int, int]:
    rotation = _need(
        raw.get("rotationDays", DEFAULT_ROTATION_DAYS), f"{where}.rotationDays", int, "a whole number of days"
    )
    if rotation < 1:
        raise ConfigError(f"{where}.rotationDays", "must be at least 1")
    _at_most_max_days(rotation, f"{where}.rotationDays")
    lifetime = _need(
        raw.get("keyLifetimeDays", default_key_lifetime(rotation)),
        f"{where}.keyLifetimeDays",
        int,
        "a whole number of days",
    )
    if lifetime < rotation:
        raise ConfigError(f"{where}.keyLifetimeDays", f"must be at least rotationDays ({rotation})")
    _at_most_max_days(lifetime, f"{where}.keyLifetimeDays")
    return rotation, lifetime


def _policy(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    """The shape only: rule ids and options are sealer.policy's to validate."""
    rules = _need({} if raw is None else raw, where, dict, "a mapping of rule ids to option mappings")
    for rule, options in rules.items():
        _need({} if options is None else options, f"{where}.{rule}", dict, "a mapping of options")
    return {str(rule): dict(options or {}) for rule, options in rules.items()}


def _environment(name: str, raw: Any) -> Environment:
    where = f"environments.{_key(name)}"
    _match(name, where, _ENV_NAME, "a name of 1-32 lowercase letters, digits and inner hyphens")
    _need(raw, where, dict, "a mapping")
    _known(raw, where, _ENV_KEYS)
    scope_text = raw.get("scope", DEFAULT_SCOPE.value)
    if not isinstance(scope_text, str) or scope_text not in _SCOPES:
        raise ConfigError(f"{where}.scope", "must be strict, namespace-wide or cluster-wide")
    kind, options, credentials = _backend(raw.get("backend"), f"{where}.backend")
    rotation, lifetime = _days(raw, where)
    options = _registry_options(name, kind, options, raw)  # #16
    history = _need(raw.get("certHistory") or [], f"{where}.certHistory", list, "a list of fingerprints")
    return Environment(
        name=name,
        namespace=_match(raw.get("namespace"), f"{where}.namespace", DNS_LABEL, "a DNS label"),
        secret_name=_match(raw.get("secretName"), f"{where}.secretName", _DNS_SUBDOMAIN, "a DNS subdomain"),
        keys=_keys(raw.get("keys", list(DEFAULT_KEYS)), f"{where}.keys"),
        scope=Scope(scope_text),
        clusters=_clusters(raw.get("clusters"), f"{where}.clusters"),
        values_file=_path(raw.get("valuesFile"), f"{where}.valuesFile"),
        backend_kind=kind,
        backend_options=options,
        rotation_days=rotation,
        key_lifetime_days=lifetime,
        cert_history=tuple(
            _match(h, f"{where}.certHistory[{i}]", _HEX64, "64 hex digits") for i, h in enumerate(history)
        ),
        policy=_policy(raw.get("policy"), f"{where}.policy"),
        reseal_after_days=_reseal_after(raw.get("resealAfterDays"), f"{where}.resealAfterDays"),
        cluster_contexts=_cluster_contexts(raw.get("clusterContexts"), f"{where}.clusterContexts"),
        backend_credentials=credentials,
    )


def _registry_options(name: str, kind: str, options: dict[str, str], raw: dict[str, Any]) -> dict[str, str]:
    """#16: check the key registry's settings; a direct delivery's options carry its namespace,
    name and environment (the store sees only its options)."""
    if kind != "k8s-secrets":
        return options
    namespace, secret = str(raw.get("namespace")), str(raw.get("secretName"))
    if not (DNS_LABEL.fullmatch(namespace) and _DNS_SUBDOMAIN.fullmatch(secret)):
        return options  # the environment's own checks name the bad value
    where = f"environments.{name}.backend.options"
    found = registry.settings(options, namespace, registry.default_name(secret), where)
    if found.delivery == registry.DIRECT:
        filled = {"registry_namespace": found.namespace, "registry_name": found.name, "registry_env": name}
        contexts = _cluster_contexts(raw.get("clusterContexts"), f"environments.{name}.clusterContexts")
        if contexts and not found.contexts:  # #17: published into every cluster, not the current one
            filled["contexts"] = ",".join(contexts.values())
        return {**options, **filled}
    return options


_CONTEXT = re.compile(r"[^,\s]{1,253}")  # as kubeconfig context names go: no space, no comma


def _cluster_contexts(raw: Any, where: str) -> dict[str, str]:
    """#17: cluster name -> kubeconfig context. A context only names an entry of the kubeconfig,
    where the credentials stay; a mapping or a number here is refused, not stringified."""
    items = _need(
        {} if raw is None else raw, where, dict, "a mapping of cluster names to kubeconfig contexts"
    )
    what = "a kubeconfig context name (credentials stay in the kubeconfig)"
    found = {}
    for name, context in items.items():
        cluster = _match(name, where, DNS_LABEL, "keyed by cluster names (DNS labels)")
        _need(context, f"{where}.{cluster}", str, what)  # not echoed: a mapping may hold a token
        refuse_secret_values({cluster: context}, where)  # a token pasted as a context name
        found[cluster] = _match(context, f"{where}.{cluster}", _CONTEXT, what)
    return found


def _reseal_after(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    days = _need(raw, where, int, "a whole number of days")
    if days < 0:
        raise ConfigError(where, "must be 0 or more")
    _at_most_max_days(days, where)
    return int(days)


_LABEL = re.compile(r"[^,\x00-\x1f\x7f]{1,50}")
_USER = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.]{0,99}")
_REVIEWER = re.compile(rf"{_USER.pattern}(/{_USER.pattern})?")


def _names(raw: Any, where: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    items = _need([] if raw is None else raw, where, list, f"a list of {what}s")
    if len(items) > 20:
        raise ConfigError(where, "must list at most 20 names")
    return tuple(_match(item, f"{where}[{i}]", pattern, what) for i, item in enumerate(items))


def _pull_requests(raw: Any) -> PullRequests:
    where = "pullRequests"
    raw = _need({} if raw is None else raw, where, dict, "a mapping of labels, reviewers and assignees")
    _known(raw, where, _PULL_REQUEST_KEYS)
    return PullRequests(
        labels=_names(raw.get("labels"), f"{where}.labels", _LABEL, "label of 1-50 characters, no comma"),
        reviewers=_names(raw.get("reviewers"), f"{where}.reviewers", _REVIEWER, "user name or ORG/TEAM"),
        assignees=_names(raw.get("assignees"), f"{where}.assignees", _USER, "user name"),
    )


def parse(data: Any, root: Path) -> Config:
    """sealer.yaml's settings, checked; a ConfigError names the file and the key path."""
    try:
        return _parse(data, root)
    except ConfigError as err:
        raise err.in_file(CONFIG_FILE) from None


def _parse(data: Any, root: Path) -> Config:
    _need(data, "", dict, "a mapping")
    _known(data, "", _TOP_KEYS)
    version = data.get("version")
    if type(version) is not int or version != VERSION:
        raise ConfigError("version", f"must be {VERSION}")
    envs = _need(data.get("environments"), "environments", dict, "a mapping of environments")
    cfg = Config(
        root=root,
        environments={name: _environment(name, e) for name, e in _env_names(envs).items()},
        pull_requests=_pull_requests(data.get("pullRequests")),
    )
    _check_values_files(cfg)
    _check_cluster_contexts(cfg)
    _check_overlaps(cfg)
    _check_registries(cfg)
    _check_kubeconfigs(cfg)
    return cfg


def _env_names(envs: dict[Any, Any]) -> dict[str, Any]:
    """The environments by name. A name YAML reads as a number (`123:`, as `sealer init` writes
    it) is its text; one given twice so (`1:` and `'1':`) is refused, where keeping the last
    would drop the environment a reviewer reads first."""
    named: dict[str, Any] = {}
    for key, raw in envs.items():
        name = str(key)
        if name in named:
            raise ConfigError(f"environments.{name}", "is given twice (once as a number)")
        named[name] = raw
    return named


def _check_kubeconfigs(cfg: Config) -> None:
    """A kubeconfig can run a command (`users[].user.exec`) when it is loaded: one the repository
    names or holds would run whatever a pull request put there on every runner that publishes."""
    root = os.path.realpath(cfg.root)
    for env in cfg.environments.values():
        settings = env.registry
        if settings is None or settings.kubeconfig is None:
            continue
        path = os.path.expanduser(settings.kubeconfig)
        inside = os.path.isabs(path) and os.path.commonpath([root, os.path.realpath(path)]) == root
        if not os.path.isabs(path) or inside:
            raise ConfigError(
                f"environments.{env.name}.backend.options.kubeconfig",
                "must be an absolute path outside the repository (a kubeconfig may run commands)",
            )


def _check_overlaps(cfg: Config) -> None:
    """No configured file is another one's folder, and no certificate is also a values file
    (rendering would overwrite the pinned certificate)."""
    paths: dict[str, tuple[str, str]] = {}  # normalised -> (kind, where)
    for env in cfg.environments.values():
        items = [("valuesFile", env.values_file, f"environments.{env.name}.valuesFile")]
        for i, c in enumerate(env.clusters):
            where = f"environments.{env.name}.clusters[{i}]"
            certs = [(h.cert, f"{where}.certs[{j}].cert") for j, h in enumerate(c.held)] or [
                (c.cert, f"{where}.cert")
            ]
            items += [("cert", rel, at) for rel, at in certs]  # every certificate of the set (#15)
            items.append(("valuesFile", c.values_file, f"{where}.valuesFile"))
        for kind, rel, where in items:
            key = layout.normalised(rel)
            other = paths.setdefault(key, (kind, where))
            if other[0] != kind:
                raise ConfigError(where, f"{rel} is also {other[1]}")
    for key, (_, where) in paths.items():
        folders = key.split("/")
        for n in range(1, len(folders)):
            if "/".join(folders[:n]) in paths:
                raise ConfigError(where, f"lies inside {paths['/'.join(folders[:n])][1]}, a file")


def _check_cluster_contexts(cfg: Config) -> None:
    """#17: each name in `clusterContexts` is a cluster of the environment (a typo would leave a
    cluster unchecked). A cluster left out is reported by `status` and blocks `rotate --finish`."""
    for env in cfg.environments.values():
        names = [c.name for c in env.clusters]
        owner: dict[str, str] = {}  # context -> the cluster it already stands for
        for name, context in env.cluster_contexts.items():
            where = f"environments.{env.name}.clusterContexts.{name}"
            if name not in names:
                raise ConfigError(
                    where, f"is not a cluster of {env.name} (clusters: {', '.join(names) or 'none'})"
                )
            if context in owner:  # one cluster read twice would let --finish count it for both
                raise ConfigError(where, f"is {owner[context]}'s context too: each cluster needs its own")
            owner[context] = name


def _check_values_files(cfg: Config) -> None:
    """Two clusters rendering into one values file would overwrite each other's `sealer:` key,
    also where they spell it in two cases (one file on macOS: layout.normalised)."""
    seen: dict[str, str] = {}
    for env in cfg.environments.values():
        for i, cluster in enumerate(env.clusters):
            where = f"environments.{env.name}.clusters[{i}].valuesFile"
            key = layout.normalised(cluster.values_file)
            if key in seen:
                raise ConfigError(where, f"{cluster.values_file} is also rendered by {seen[key]}")
            seen[key] = where


def _check_registries(cfg: Config) -> None:
    """#16: two environments publishing one registry object into one cluster (the same pinned
    certificate, or the same kubeconfig context) would replace each other's keys."""
    seen: dict[tuple[str, str, str, str], str] = {}
    for env in cfg.environments.values():
        settings = env.registry
        if settings is None:
            continue
        if settings.delivery == registry.GITOPS:
            targets: Sequence[str] = [c.fingerprint for c in env.clusters]
        else:
            targets = settings.contexts or ("",)
        for target in targets:
            key = (target, settings.kind, settings.namespace, settings.name)
            if key in seen and seen[key] != env.name:
                raise ConfigError(
                    f"environments.{env.name}.backend.options",
                    f"{settings.kind} {settings.namespace}/{settings.name} is also the key registry of "
                    f"{seen[key]} in the same cluster",
                )
            seen[key] = env.name


def load(root: Path | None = None) -> Config:
    root = root or find_root()
    path = layout.config_path(root)
    return from_text(repofiles.read_text(path), str(path), root)


def from_text(text: str, source: str, root: Path) -> Config:
    """sealer.yaml's text, parsed: its one document (`_only_document`), each key first checked
    to be read as written (`_check_keys`)."""
    doc = _only_document(text, source)  # one parse: the keys are read as loaded
    if doc is not None:
        _check_keys(doc.node)
    return parse(_value(doc), root)


def _only_document(text: str, source: str) -> yamlio.Document | None:
    """sealer.yaml's one YAML document. A second is refused, an empty or null one too (`~`, a
    bare `---`): sealer read the first non-empty one alone, ruamel (`edit`) refused the file, and
    another reader may take either; settings after a `---` were checked by no one."""
    return yamlio.only_document(yamlio.load_with_nodes(text, source, empty=True), source)


def _check_keys(root: Any) -> None:
    """A key YAML reads as a number, a boolean or null would rename what it names, silently:
    `0x1:` is the environment 1, `010:` the environment 8 (so two spellings can even be one
    environment). Only text and a decimal integer as Python prints it (`123:`, in use) are names."""
    for path, key in yamlio.mapping_keys(root):
        problem = key_problem(path, key)
        if problem is not None:
            raise ConfigError(*problem, file=CONFIG_FILE)


def key_problem(path: tuple[str | int, ...], key: Any) -> tuple[str, str] | None:
    """(where, what) when YAML reads the key `key` (`yamlio.mapping_keys`) as no name."""
    reading = yamlio.key_reading(key)
    if reading is None:
        return None
    shown = "this key" if secret_shape(key.value) else repr(key.value)
    quoted = "" if secret_shape(key.value) else f" ('{key.value}':)"
    return _where((*path, key.value)), f"YAML reads {shown} as {reading}, not as a name: quote it{quoted}"


def _where(path: Sequence[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{_key(str(p))}" for p in path)[1:]


def raw_environment(doc: Any, name: str) -> Any:
    """Environment `name` in `edit`'s round-trip tree: ruamel keeps `123:` as the key 123.
    ConfigError when ruamel read its key as something else (a guard: `%YAML 1.1`, under which
    it read `y:` as true, is refused by `yamlio.check_limits`)."""
    envs = doc["environments"]
    found = [envs[key] for key in envs if str(key) == name]
    if not found:
        raise ConfigError(
            f"environments.{_key(name)}", "ruamel, which edits the file, reads its key otherwise", CONFIG_FILE
        )
    return found[0]


@contextlib.contextmanager
def edit(root: Path) -> Iterator[Any]:
    """Round-trip sealer.yaml: yield the ruamel tree, validate the result, write it atomically."""
    path = layout.config_path(root)
    doc = round_trip_load(root)
    yield doc
    text = yamlio.round_trip_dump(doc)
    from_text(text, str(path), root)  # never write an invalid file
    repofiles.write(path, text)


def _value(doc: yamlio.Document | None) -> Any:
    return None if doc is None else doc.value


def round_trip_load(root: Path) -> Any:
    """sealer.yaml as ruamel's round trip (YAML 1.2) loads it to be edited. ConfigError when its
    dump, unchanged, would read otherwise: ruamel writes back what it took for a number its way,
    and an edit of anything else renamed the entry `1_0e3` to `100e2` (`keys: [1_0e3]`)."""
    path = layout.config_path(root)
    text = repofiles.read_text(path)
    before = _only_document(text, str(path))  # refused as `load` refuses it, in the same line
    doc = yamlio.round_trip_load(text, str(path))
    after = _only_document(yamlio.round_trip_dump(doc), str(path))
    changed = yamlio.first_change(_value(before), _value(after))
    if changed is not None:
        raise ConfigError(
            _where(changed), "sealer's editor (YAML 1.2) would write it back otherwise: quote it", CONFIG_FILE
        )
    return doc
