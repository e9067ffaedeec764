"""Commit by commit: what BASE..HEAD as a whole would hide (an edit undone later).

One `git log` lists every commit's changed paths, modes and blobs; one `git cat-file --batch`
streams the blobs. Each commit is then judged on its own against its parent(s):
- the ledger's history is a run of its state machine (sealer.review.ledger_rules);
- a ciphertext changes only with a new key in the ledger (else: a hand edit);
- managed paths stay regular files (no symlink, executable bit or submodule), spelt one way
  (a case-insensitive file system checks `Ledger/` out over `ledger/`);
- plaintext secrets, with `sealer scan`'s detectors, in every changed blob of any size;
- sensitive changes: sealer.yaml's settings, certificates, gate files, new `sealer: allow`
  comments and new baseline entries.
"""

from __future__ import annotations

import datetime as dt
import functools
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import apikey, git, layout, state, strictjson
from sealer.config import Config
from sealer.errors import BadInput, SealerError
from sealer.records import KeyRecord
from sealer.review import (
    certset,
    chart_links,
    charts,
    helm_refs,
    helm_sources,
    jsonnet_imports,
    kustomize,
    ledger_rules,
    model,
    plaintext,
    plugins,
    remote_sources,
    sensitive,
    stray,
)
from sealer.review.certset import CERT_FILE_CONTENT
from sealer.review.construct import documents, read_ledger
from sealer.review.model import (
    ALLOW_COMMENT,
    BASELINE_ENTRY,
    CASE_COLLISION,
    CERT_CHANGE,
    FILE_MODE,
    HAND_EDIT,
    LEDGER_INVALID,
    LEDGER_REMOVED,
    SCAN_CHUNK,
    TRUST_ANCHOR,
    Finding,
)
from sealer.review.revisions import config_at, encrypted, read_files

REGULAR, EXECUTABLE, GONE, SUBMODULE, LINK = "100644", "100755", "000000", "160000", "120000"
_MAX_LINKS = 8  # symlinks followed in a row, as far as a checkout's reader would go


def ciphertexts(doc: Mapping[str, Any] | None) -> dict[str, str]:
    """entry -> value of a SealedSecret (spec.encryptedData) or a values file (sealer.encryptedData)."""
    doc = doc if isinstance(doc, Mapping) else {}
    if "spec" in doc:
        return encrypted(doc)
    return state.values_encrypted(doc.get("sealer"))


@dataclass
class Managed:
    """What sealer manages, over every configuration seen (BASE, HEAD, the commits between)."""

    values: dict[str, str] = field(default_factory=dict)  # values file -> environment
    certs: set[str] = field(default_factory=set)
    targets: set[tuple[str, str]] = field(default_factory=set)  # (namespace, secret name)
    registries: set[tuple[str, str]] = field(default_factory=set)  # (namespace, name) of key registries
    folders: dict[str, set[str]] = field(default_factory=dict)  # folder -> the values files in it
    paths: set[str] = field(default_factory=set)  # Config.managed_paths, of every configuration
    # what BASE's .gitlab-ci.yml includes (sealer.review.gitlab_ci): gate files wherever they are
    ci_included: Callable[[str], bool] = field(default=lambda path: False)

    def add(self, cfg: Config | None) -> None:
        self.certs |= cfg.cert_files() if cfg else set()  # each certificate of a set, not only sealWith's
        self.paths |= cfg.managed_paths() if cfg else set()
        for name, env in (cfg.environments if cfg else {}).items():
            self._values_file(env.values_file, name)
            self.targets.add((env.namespace, env.secret_name))
            if env.registry is not None:
                self.registries.add((env.registry.namespace, env.registry.name))
            for cluster in env.clusters:
                self._values_file(cluster.values_file, name)

    def _values_file(self, path: str, env: str) -> None:
        self.values.setdefault(path, env)
        self.folders.setdefault(posixpath.dirname(path), set()).add(path)

    def refs(self) -> list[str]:
        """How a GitOps object names sealer's files: values files, each environment's folders."""
        envs = {*self.values.values()}
        folders = [f"{d}/{env}" for env in envs for d in (layout.SEALED_DIR, layout.REGISTRY_DIR)]
        return sorted({*self.values, *(posixpath.dirname(v) for v in self.values), *folders} - {""})

    def above(self, path: str) -> bool:
        """Is `path` a folder holding managed files (a symlink there redirects them all)?"""
        prefix = path.rstrip("/") + "/"
        dirs = (layout.SEALED_DIR, layout.LEDGER_DIR, layout.REGISTRY_DIR, ".sealer")
        managed = (*self.values, *self.certs, *(f"{d}/" for d in dirs))
        return layout.in_certs_dir(prefix) or any(p.startswith(prefix) for p in managed)

    def data_owner(self, path: str) -> str | None:
        """The environment whose sealed data `path` holds (a sealed or values file), if any."""
        if path.startswith(layout.SEALED_DIR + "/") and path.count("/") == 2:
            return path.split("/")[1]
        return self.values.get(path)

    def holds(self, path: str) -> bool:
        return (
            path == layout.CONFIG_FILE
            or layout.ledger_env(path) is not None
            or self.data_owner(path) is not None
            or path in self.certs
            or layout.in_certs_dir(path)
            or path.startswith(layout.REGISTRY_DIR + "/")  # a GitOps tool applies them: a link there
            or self.gate(path)  # (same bytes, mode 120000) delivers no registry
        )

    def gate(self, path: str) -> bool:
        """A file that steers sealer, its hooks or its gate (sensitive.GATE_FILES, CI includes)."""
        return sensitive.gate_file(path) or self.ci_included(path)


@dataclass
class Walk:
    root: Path
    base_cfg: Config | None
    head_cfg: Config | None
    known: set[str]  # fingerprints in any ledger at BASE
    now: dt.datetime
    target: str | None = None  # the branch the pull request is to be merged into (None: unknown)
    ci_default: str | None = None  # CI's default branch, when the checkout records no remote HEAD
    managed: Managed = field(default_factory=Managed)
    blobs: dict[str, bytes] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    to_scan: list[tuple[str, bytes, str]] = field(default_factory=list)  # (path, data, which commit)
    parsed: dict[tuple[str, str], Any] = field(default_factory=dict)  # (kind, blob) -> parsed once
    judged: set[tuple[str, str, str]] = field(default_factory=set)  # (path, mode, blob) a commit made
    at_head: set[tuple[str, str]] = field(default_factory=set)  # (path, blob) of what BASE..HEAD changes
    held: int = 0  # bytes in `blobs`: bounded by model.MAX_TOTAL_BYTES
    head: str = ""  # the range's last commit
    placed: dict[str, list[stray.Placed]] = field(default_factory=dict)  # kustomize.Build's, shared
    budget: kustomize.Budget = field(default_factory=kustomize.Budget)  # every build's, together

    def hold(self, blob: str, data: bytes | Iterator[bytes]) -> None:
        """Keep a blob's bytes (whole, or as git streams a big one) for the checks; refused past
        the bound on all of them together, before more is read."""
        parts = []
        for part in (data,) if isinstance(data, bytes) else data:
            self.held += len(part)
            if self.held > model.MAX_TOTAL_BYTES:
                raise BadInput(
                    f"the commits under review change more than {model.MAX_TOTAL_BYTES} bytes of "
                    "files review must hold to compare them: refused"
                )
            parts.append(part)
        self.blobs[blob] = parts[0] if len(parts) == 1 else b"".join(parts)

    def tree(self, commit: str) -> kustomize.Tree:
        """A commit's whole tree, read once for every build at it (no git process per path)."""
        if ("tree", commit) not in self.parsed:
            self.parsed["tree", commit] = kustomize.Tree.read(self.root, commit)
        found: kustomize.Tree = self.parsed["tree", commit]
        return found

    def plugin_picks(self, commit: str) -> Callable[[str], bool]:
        """Whether a config management plugin the repository configures at `commit` picks a
        folder by its discover rule (sealer.review.plugins); the rules read at the first ask."""

        def picks(folder: str) -> bool:
            key = ("plugin rules", commit)
            if key not in self.parsed:
                tree = self.tree(commit)
                held = self.helm_sources.holding(commit, plugins.WORDS, helm_sources.MANIFESTS)
                entries = {p: tree.entries[p] for p in held if p in tree.entries}
                self.read_blobs(entries.values())
                self.parsed[key] = [
                    rule
                    for path, (mode, blob) in sorted(entries.items())
                    if mode in (REGULAR, EXECUTABLE)
                    for rule in plugins.rules(path, self.data(blob))
                ]
            rules: list[plugins.Rule] = self.parsed[key]
            below = "" if folder == "." else f"{folder}/"
            files = (f.removeprefix(below) for f in self.tree(commit).files_under(folder))
            return bool(rules) and plugins.picks(rules, files)

        return picks

    def records(self, env: str, blob: str) -> list[KeyRecord]:
        return list(self.ledger(env, blob)[0])

    def ledger(self, env: str, blob: str) -> tuple[list[KeyRecord], str | None]:
        if ("ledger", blob) not in self.parsed:
            self.parsed["ledger", blob] = read_ledger(env, self.text(blob))
        found: tuple[list[KeyRecord], str | None] = self.parsed["ledger", blob]
        return found

    def doc(self, blob: str, path: str) -> Any:
        if ("doc", blob) not in self.parsed:
            text = self.text(blob)
            docs = documents(text, path) if text is not None else None
            self.parsed["doc", blob] = docs[0] if docs else None
        return self.parsed["doc", blob]

    def text(self, blob: str) -> str | None:
        data = self.data(blob)
        return data.decode("utf-8", "replace") if data is not None else None

    def data(self, blob: str) -> bytes | None:
        if blob not in self.blobs and blob.strip("0"):  # one no earlier pass needed: read it now
            for _, read in git.stream_blobs(self.root, [blob], SCAN_CHUNK):
                self.hold(blob, read)
        return self.blobs.get(blob)

    def add(self, found: Iterable[Finding]) -> None:
        for finding in found:
            if finding not in self.findings:
                self.findings.append(finding)

    def entries(self, env: str) -> set[str]:
        """The entries sealer issues keys for in `env`: its `keys:` at BASE or at HEAD."""
        return {
            k
            for cfg in (self.base_cfg, self.head_cfg)
            if cfg and env in cfg.environments
            for k in cfg.environments[env].keys
        }

    def read_entries(self, commit: str, paths: list[str]) -> dict[str, tuple[str, str]]:
        """`paths`' tree entries at `commit` (mode, blob), read (`read_blobs`)."""
        entries = git.tree_entries(self.root, commit, paths)
        self.read_blobs(entries.values())
        return entries

    def read_blobs(self, entries: Iterable[tuple[str, str]]) -> None:
        """The regular files' bytes of these tree entries (mode, blob) read into `blobs` by one
        git reader, within the bound (`hold`)."""
        unread = [b for mode, b in entries if mode in (REGULAR, EXECUTABLE) and b not in self.blobs]
        for blob, data in git.stream_blobs(self.root, unread, SCAN_CHUNK):
            self.hold(blob, data)

    def versions(self, change: git.FileChange) -> tuple[bytes | None, bytes | None]:
        """A changed file's bytes before and after (None where it is no regular file)."""
        old, new = (
            self.data(blob) if mode in (REGULAR, EXECUTABLE) else None
            for mode, blob in ((change.old_mode, change.old_blob), (change.new_mode, change.new_blob))
        )
        return old, new

    @functools.cached_property
    def helm_sources(self) -> helm_sources.Sources:
        """Values files and objects Helm objects pass (the configs are all added by first use)."""
        names = {name for _, name in (*self.managed.targets, *self.managed.registries)}
        return helm_sources.Sources(self.root, self.data, self.read_entries, names | {charts.REGISTRY_KEY})

    @functools.cached_property
    def linked_into_charts(self) -> dict[str, str] | None:
        """What the charts' symlinks at HEAD lead to -> the chart (sealer.review.chart_links);
        None when there are too many links to follow."""
        tree = self.tree(self.head)  # the same listing HEAD's builds read
        return chart_links.reached({p: tree.entries[p] for p in tree.files}, self.data)

    @functools.cached_property
    def refs(self) -> list[str]:
        """`Managed.refs`, once: the configs are all added before the first commit is walked."""
        return self.managed.refs()

    @functools.cached_property
    def here(self) -> remote_sources.Here:
        """This repository as its remotes name it (`remote_sources.home`), at the target branch: a
        GitOps source naming another, or another revision of it, is content review cannot read."""
        homes = frozenset(remote_sources.home(url) for url in git.remote_urls(self.root))
        defaults = frozenset(git.remote_default_branches(self.root))
        if not defaults and self.ci_default:  # actions/checkout records no origin/HEAD
            defaults = frozenset({self.ci_default})
        return remote_sources.Here(homes, self.target, defaults)

    @functools.cached_property
    def spaces(self) -> frozenset[str]:
        """The namespaces sealer delivers keys to (its Secrets' and key registries')."""
        return frozenset(space for space, _ in (*self.managed.targets, *self.managed.registries))

    @functools.cached_property
    def head_pins(self) -> set[str]:
        """The certificate files a cluster pins at HEAD."""
        return self.head_cfg.cert_files() if self.head_cfg else set()

    def judged_at_head(self, path: str, blob: str) -> bool:
        """Is this HEAD's version of a certificate file a cluster pins at HEAD, changed since BASE?
        Its environment's review judges it there (review.certset), naming the cluster."""
        return path in self.head_pins and (path, blob) in self.at_head

    @functools.cached_property
    def head_values(self) -> set[str]:
        """The values files sealer renders at HEAD (review checks their key settings itself)."""
        envs = self.head_cfg.environments.values() if self.head_cfg else ()
        return {v for env in envs for v in (env.values_file, *(c.values_file for c in env.clusters))}

    def lifetime(self, env: str) -> int:
        """The longest key lifetime a new key of `env` may have: BASE's or HEAD's, whichever is
        longer (lengthening it is a sensitive change that needs its own approval)."""
        days = [
            cfg.environments[env].key_lifetime_days
            for cfg in (self.base_cfg, self.head_cfg)
            if cfg and env in cfg.environments
        ]
        return max(days) if days else 0


def _wanted(walk: Walk, commits: list[git.CommitChanges]) -> list[str]:
    """The blobs to read: every new one (scanned), and the old ones of files compared."""
    wanted: dict[str, None] = {}
    for commit in commits:
        for change in commit.changes:
            if change.new_mode not in (GONE, SUBMODULE):
                wanted[change.new_blob] = None
            if change.old_mode not in (GONE, SUBMODULE) and _compared(walk, change.path):
                wanted[change.old_blob] = None
    return list(wanted)


def _compared(walk: Walk, path: str) -> bool:
    return walk.managed.holds(path) or _manifest(path)


def _manifest(path: str) -> bool:
    """A file a GitOps tool may read as manifests or values (compared with its parent's version)."""
    return path.endswith((".yaml", ".yml", ".json")) or posixpath.basename(path) == "Kustomization"


def _read(walk: Walk, commits: list[git.CommitChanges]) -> None:
    """Blobs into `walk.blobs`; a blob too big to hold is scanned as it streams by."""
    where = {c.new_blob: (c.path, commit.commit) for commit in commits for c in commit.changes}
    for blob, data in git.stream_blobs(walk.root, _wanted(walk, commits), SCAN_CHUNK):
        if isinstance(data, bytes):
            walk.hold(blob, data)
        elif blob in where:
            path, commit = where[blob]
            walk.add(plaintext.scan_stream(path, data, f"of commit {commit[:12]}", SCAN_CHUNK))


def walk_range(
    root: Path,
    commits: list[git.CommitChanges],
    configs: tuple[Config | None, Config | None],
    known: set[str],
    now: dt.datetime,
    net: list[git.FileChange],
    branches: tuple[str | None, str | None],
    ci_included: Callable[[str], bool] = lambda path: False,
) -> list[Finding]:
    """Every finding of every commit (`git.range_changes`) against its parent(s), then of the
    files whose state at HEAD no commit made (`net`: BASE's tree against HEAD's); `branches`: the
    one the change is to be merged into and CI's default branch (each None: unknown);
    `ci_included`: what BASE's pipeline includes (sealer.review.gitlab_ci)."""
    walk = Walk(root, configs[0], configs[1], known, now, *branches)
    walk.managed.ci_included = ci_included
    walk.at_head = {(c.path, c.new_blob) for c in net}
    walk.managed.add(configs[0])
    walk.managed.add(configs[1])
    _read(walk, commits)
    for commit in commits:  # configurations between BASE and HEAD name managed files too
        for change in commit.changes:
            if change.path == layout.CONFIG_FILE and change.new_mode != GONE:
                walk.managed.add(_config(walk, change.new_blob, commit.commit))
    scanned: set[str] = set()
    if commits:
        walk.head = commits[-1].commit
    for commit in commits:
        _commit(walk, commit, scanned)
    if commits:
        _net_pass(walk, net, commits[-1].commit, scanned)
        walk.add(_case_collisions(walk, commits, _newly_managed(configs)))
        _builds_over(walk, {c.path for c in net}, commits[-1].commit)
        _links_followed(walk, {c.path for c in net}, commits[-1].commit)
    walk.add(plaintext.scan_blobs(walk.to_scan))
    walk.add(plaintext.message_findings(root, [c.commit for c in commits], SCAN_CHUNK))
    return walk.findings


def deleted_name_notes(commits: list[git.CommitChanges]) -> list[str]:
    """A note per file the range deletes whose name holds a key, when no commit of the range adds
    that name (one that does is a finding): the key was committed before BASE, stays in that
    history, and deleting the file is no leak of its own, so this does not fail the review."""
    added = {c.path for commit in commits for c in commit.changes if c.new_mode != GONE}
    notes: dict[str, None] = {}
    for commit in commits:
        for change in commit.changes:
            if change.new_mode == GONE and change.path not in added:
                for key in apikey.keys_in(change.path):
                    key_id = apikey.key_id_of(key)
                    note = (
                        f"commit {commit.commit[:12]} deletes {apikey.redact(change.path)}, whose name "
                        f"holds plaintext API key {key_id}, committed before BASE: it stays in that "
                        "history: revoke it"
                    )
                    notes[note] = None
    return list(notes)


def _net_pass(walk: Walk, net: list[git.FileChange], head: str, scanned: set[str]) -> None:
    """A merge may take a file from a parent outside the range (an old commit of main, or a
    branch cut before BASE): no commit of the range made that version, so it is judged here,
    BASE against HEAD (a gate file put back as it was before main changed it, say)."""
    for change in net:
        if (change.path, change.new_mode, change.new_blob) not in walk.judged:
            _file(walk, change, head, scanned, [])


def _newly_managed(configs: tuple[Config | None, Config | None]) -> set[str]:
    """What HEAD's sealer.yaml has sealer manage that BASE's does not (a values file moved)."""
    base, head = configs
    return (head.managed_paths() if head else set()) - (base.managed_paths() if base else set())


def _case_collisions(walk: Walk, commits: list[git.CommitChanges], named: set[str]) -> list[Finding]:
    """Each path a commit adds that is a managed one in another case (`Ledger/production.yaml`),
    or that HEAD holds in another spelling where either is managed: a case-insensitive file
    system (macOS, Windows) checks both out as one file, so sealer run there reads the added one
    (layout.Spellings). So too each path sealer.yaml newly `named` (no commit need add it: the
    two spellings may stand in BASE already). No repository needs two spellings: no approval
    lets it through."""
    added: dict[str, str] = {}  # path -> how the range brings it: the first commit adding it
    for commit in commits:
        for change in commit.changes:
            if change.old_mode == GONE and change.new_mode != GONE:
                added.setdefault(change.path, f"commit {commit.commit[:12]} adds it")
    for path in sorted(named):
        added.setdefault(path, "sealer.yaml names it now")
    spellings = layout.Spellings(walk.managed.paths)
    variants = {path: spellings.variant(path) for path in added}
    found = {
        path: f"sealer's {sensitive.shown(managed)} spelt in another case"
        for path, managed in variants.items()
        if managed
    }
    unflagged = [path for path, managed in variants.items() if not managed]
    for path, spelt in layout.case_collisions(unflagged, walk.tree(walk.head).files).items():
        others = [other for other in spelt if not variants.get(other)]  # found above
        if others and (spellings.holds(path) or any(map(spellings.holds, others))):
            found[path] = f"HEAD holds {', '.join(map(sensitive.shown, others))}, which differs only in case"
    why = "a case-insensitive file system (macOS, Windows) checks both out as one file"
    return [
        Finding(CASE_COLLISION, "", path, None, f"{added[path]}: {what}: {why}")
        for path, what in found.items()
    ]


def _config(walk: Walk, blob: str, rev: str) -> Config | None:
    """A version of sealer.yaml; a broken one reads as none (HEAD's own must parse)."""
    try:
        return config_at(walk.root, rev, walk.text(blob))
    except SealerError:
        return None


def _commit(walk: Walk, commit: git.CommitChanges, scanned: set[str]) -> None:
    short = commit.commit[:12]
    ledgers: list[git.FileChange] = []
    owned: list[git.FileChange] = []
    theirs = [git.tree_entries(walk.root, p, [c.path for c in commit.changes]) for p in commit.parents[1:]]
    for change in commit.changes:
        brought = any(entries.get(change.path) == (change.new_mode, change.new_blob) for entries in theirs)
        if brought:  # a merge taking another parent's file: judged in that parent's own commits,
            _scan_only(walk, change, short, scanned)  # or, from outside the range, by `net_pass`
        else:
            walk.judged.add((change.path, change.new_mode, change.new_blob))
            _file(walk, change, commit.commit, scanned, [entries.get(change.path) for entries in theirs])
        if layout.ledger_env(change.path) is not None:
            ledgers.append(change)  # whichever parent's it took, a successor of every parent's
        elif not brought and walk.managed.data_owner(change.path) is not None:
            owned.append(change)
    others = commit.parents[1:]
    if (ledgers or owned) and others:
        paths = [c.path for c in (*ledgers, *owned)]
        sides = [read_files(walk.root, parent, paths) for parent in others]
    else:
        sides = []
    _flux_uses(walk, commit)
    for change in ledgers:
        _ledger(walk, change, [side.get(change.path) for side in sides], short)
    for change in owned:
        _hand_edits(walk, change, commit, [side.get(change.path) for side in sides])


def _scan_only(walk: Walk, change: git.FileChange, short: str, scanned: set[str]) -> None:
    if change.new_blob not in scanned and change.new_blob in walk.blobs:
        scanned.add(change.new_blob)
        walk.to_scan.append((change.path, walk.blobs[change.new_blob], f"of commit {short}"))
    elif change.new_mode != GONE and apikey.holds_key(change.path):  # its content was read under
        walk.to_scan.append((change.path, b"", f"of commit {short}"))  # another name, or streamed: its name


def _file(
    walk: Walk, change: git.FileChange, commit: str, scanned: set[str], theirs: list[tuple[str, str] | None]
) -> None:
    """Every check of one changed file in `commit`; `theirs`: its (mode, blob) in a merge's other
    parents."""
    path, short = change.path, commit[:12]
    held = walk.managed.holds(path) or (change.new_mode in (LINK, SUBMODULE) and walk.managed.above(path))
    if held and change.new_mode not in (REGULAR, GONE):
        kind = {LINK: "a symlink", EXECUTABLE: "executable", SUBMODULE: "a submodule"}.get(change.new_mode)
        walk.add(
            [
                Finding(
                    FILE_MODE,
                    "",
                    path,
                    None,
                    f"commit {short} makes it {kind or change.new_mode}: sealer writes plain files",
                )
            ]
        )
    _scan_only(walk, change, short, scanned)
    new = walk.blobs.get(change.new_blob)
    if walk.managed.gate(path):
        walk.add([sensitive.gate_finding(path)])
    if SUBMODULE in (change.old_mode, change.new_mode) and not held:  # a managed one is file-mode
        walk.add([sensitive.submodule_finding(path)])
    if path == layout.CONFIG_FILE:
        _config_change(walk, change, short, theirs)
    if path in walk.managed.certs or layout.in_certs_dir(path):
        walk.add([Finding(CERT_CHANGE, "", path, None, "certificate file changed: verify it out of band")])
        _cert_content(walk, change, short)
    if new is not None:
        _allow_comments(walk, change, new)
    if new is not None:  # any name: `sealer scan --baseline FILE` reads whatever file it is given
        _baseline(walk, change, new)
    # registry/ is registry_check's: each file there must be the one the ledger gives.
    foreign = not held and not path.startswith(f"{layout.REGISTRY_DIR}/")
    if new is not None and foreign:  # any name: kustomize applies what `resources:` lists
        content = _link_target(walk, change, commit) if change.new_mode == LINK else new
        _stray(walk, path, content)
        if posixpath.basename(path) in kustomize.KUSTOMIZATION_FILES:
            _kustomization(walk, path, content, commit)
            _remote_added(walk, change, content, commit, theirs)
        elif _manifest(path):
            for deployed in _gitops_builds(walk, path, content, commit):
                build = kustomize.Build(walk.data, walk.tree(commit), walk.placed, walk.budget)
                _judge_build(walk, path, build, build.deployed(path, deployed))
            _remote_added(walk, change, content, commit, theirs)
    if path.endswith((".yaml", ".yml")) and path not in walk.head_values:
        _beside_values(walk, change)
    if foreign and _manifest(path):
        _wiring(walk, change)
        _helm_values_passed(walk, change, commit)
        _chart_deployed(walk, change, commit)
        _plugin_configured(walk, change)
        _remote_sources(walk, change, theirs)
    if foreign:
        _chart_file(walk, change, commit)
        _referenced_values(walk, change)
    if foreign and path.endswith(_JSONNET):
        message = "jsonnet, which Argo CD renders into manifests and review does not evaluate"
        message += ": a code owner must approve"
        walk.add([Finding(TRUST_ANCHOR, "", path, None, message)])


def _cert_content(walk: Walk, change: git.FileChange, short: str) -> None:
    """The version of a certificate file (pinned, or any under certs/) a commit makes holds one
    PEM certificate and nothing else, even if a later commit takes the rest out again."""
    if change.new_mode != REGULAR or walk.judged_at_head(change.path, change.new_blob):
        return  # a symlink or executable is file-mode's
    wrong = certset.content_problem(
        change.path, walk.blobs.get(change.new_blob), change.path in walk.managed.certs
    )
    walk.add([Finding(CERT_FILE_CONTENT, "", change.path, None, f"commit {short}: {wrong}")] if wrong else [])


# Argo CD renders a folder's jsonnet: any name may be built from parts (or imported).
_JSONNET = (".jsonnet", ".libsonnet")


def _chart_file(walk: Walk, change: git.FileChange, commit: str) -> None:
    """A file of a Helm chart kept in the repository (sealer.review.charts): review does not
    render charts, so one that could render a managed Secret or a key registry, or any file of
    a chart with a template that could, fails unless a code owner approves."""
    folders = charts.folders_above(change.path)
    known: dict[str, bool] = walk.parsed.setdefault(("charts at", commit), {})  # folder -> a chart?
    unknown = [f for f in folders if f not in known]
    held = git.tree_entries(walk.root, commit, [charts.chart_file(f) for f in unknown])
    known.update({f: charts.chart_file(f) in held for f in unknown})
    found = [f for f in folders if known[f]]
    if not found:
        _linked_chart_file(walk, change)
        return
    targets, registries = walk.managed.targets, walk.managed.registries
    modes = (change.old_mode, change.new_mode)
    if LINK in modes or SUBMODULE in modes:
        why = "a symlink or submodule (Helm follows a link, wherever it leads)"
    elif any(
        mode != GONE and charts.renders_managed(data, targets, registries, change.path)
        for mode, data in zip(modes, walk.versions(change), strict=True)
    ):
        why = "a file that could render a Secret sealer manages or a key registry, for some values,"
    elif posixpath.basename(change.path) in charts.DEPENDENCY_FILES and _new_dependencies(walk, change):
        why = "a dependency fetched from a repository or folder review does not read"
    elif any(_chart_renders(walk, chart, commit) for chart in found):
        why = (
            "a change to a chart with a template that could render a Secret sealer manages or a key registry"
        )
    else:
        return
    walk.add([charts.finding(change.path, found[0], why)])


def _linked_chart_file(walk: Walk, change: git.FileChange) -> None:
    """A file outside every chart that a chart's symlink leads to (sealer.review.chart_links):
    Helm renders it as the chart's, and a chart holding a link is one whose templates review
    cannot read, so it fails closed, as any change to such a chart does."""
    reached = walk.linked_into_charts
    chart = chart_links.chart_reaching(change.path, reached) if reached is not None else ""
    if chart is None:
        return
    why = (
        "a file a symlink of the chart leads to (Helm renders it as the chart's, and review does not "
        "follow a chart's links)"
        if reached is not None
        else f"a file of a repository whose charts' symlinks lead through more than {chart_links.MAX_LINKS} "
        "links, which review does not follow"
    )
    walk.add([charts.finding(change.path, chart, why)])


def _new_dependencies(walk: Walk, change: git.FileChange) -> bool:
    old, new = walk.versions(change)
    return bool(charts.fetched_dependencies(new) - charts.fetched_dependencies(old))


def _chart_renders(
    walk: Walk, chart: str, commit: str, judge: Callable[..., bool] = charts.renders_managed
) -> bool:
    """Whether the chart at `chart` (its subcharts too) holds, at `commit`, a template that could
    render a managed Secret or a key registry (as `judge` judges a file); one too big to read
    whole counts as holding one."""
    key = ("chart", f"{commit}:{chart}:{judge.__name__}")
    if key not in walk.parsed:
        tree = git.tree_under(walk.root, commit, chart or ".")
        listed = list(tree)
        inner = [p[len(chart) + 1 :] if chart else p for p in listed]
        wanted = [p for p, rel in zip(listed, inner, strict=True) if "templates" in rel.split("/")[:-1]]
        entries = walk.read_entries(commit, wanted) if len(wanted) <= charts.MAX_FILES else {}
        targets, registries = walk.managed.targets, walk.managed.registries
        linked = any(mode == LINK for mode, _ in tree.values())  # Helm follows it: unread here
        walk.parsed[key] = (
            linked
            or len(wanted) > charts.MAX_FILES
            or any(
                mode not in (REGULAR, EXECUTABLE) or judge(walk.data(blob), targets, registries, path)
                for path, (mode, blob) in entries.items()
            )
        )
    return bool(walk.parsed[key])


def _link_target(walk: Walk, change: git.FileChange, commit: str) -> bytes:
    """What a symlink in the repository leads to at `commit` (Argo CD follows one that stays
    inside the repository): the file's bytes, or nothing for a folder, a link out, a loop."""
    path, link = change.path, walk.data(change.new_blob) or b""
    for _ in range(_MAX_LINKS):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), link.decode("utf-8", "replace")))
        if target.startswith(("../", "/")) or target in ("..", "."):
            return b""
        mode, blob = git.tree_entries(walk.root, commit, [target]).get(target, (GONE, ""))
        if mode not in (REGULAR, EXECUTABLE, LINK):
            return b""
        path, link = target, walk.data(blob) or b""
        if mode != LINK:
            return link
    return b""


def _wiring(walk: Walk, change: git.FileChange) -> None:
    """An Argo CD application, Flux object or kustomization naming sealer's files (stray's
    `wiring_finding`)."""
    old, new = walk.versions(change)
    walk.add([found] if (found := stray.wiring_finding(change.path, old, new, walk.refs)) else [])
    dropped = stray.unread_registry_finding(change.path, old, new, walk.managed.registries)
    walk.add([dropped] if dropped else [])
    passed = charts.helm_values_finding(change.path, old, new, walk.managed.targets, walk.managed.registries)
    walk.add([passed] if passed else [])


def _helm_values_passed(walk: Walk, change: git.FileChange, commit: str) -> None:
    """An Argo CD application or Flux HelmRelease a commit adds or changes: the values files and
    objects it passes Helm (sealer.review.helm_sources), and Flux's postRenderers."""
    old, new = walk.versions(change)
    if old == new:
        return
    if helm_refs.post_renderers_patch(change.path, old, new):
        walk.add([helm_sources.post_renderers_finding(change.path)])
    if helm_refs.substitution_changed(change.path, old, new):
        walk.add([helm_sources.substitution_finding(change.path)])
    refs = helm_refs.references(change.path, new)
    if refs.named():
        problems = walk.helm_sources.problems(commit, refs, helm_refs.references(change.path, old))
        walk.add([helm_sources.finding(change.path, problems)] if problems else [])


def _chart_deployed(walk: Walk, change: git.FileChange, commit: str) -> None:
    """An Argo CD application or Flux HelmRelease (or HelmChart) a commit adds or changes that
    renders a chart of the repository with a template that could render a Secret sealer manages
    or a key registry from more than a values entry naming it whole (which the values checks
    judge): its release's name and namespace pick what that chart makes, and review does not
    render charts (`_chart_renders`)."""
    old, new = walk.versions(change)
    if old == new:
        return
    refs = helm_refs.references(change.path, new)
    named = refs.charts | _helm_charts(walk, commit, refs.chart_refs)
    found = charts.charts_named(named, walk.tree(commit).files) if named else []
    rendering = next(
        (chart for chart in found if _chart_renders(walk, chart, commit, charts.renders_from_parts)), None
    )
    walk.add([charts.deployed_finding(change.path, rendering)] if rendering is not None else [])


def _helm_charts(walk: Walk, commit: str, names: set[str]) -> set[str]:
    """The charts the Flux HelmCharts of `names` at `commit` render (a HelmRelease's chartRef),
    wherever a manifest holds one."""
    if not names:
        return set()
    paths = walk.helm_sources.holding(commit, ("HelmChart", "\\", "!!"), helm_sources.MANIFESTS)
    found: set[str] = set()
    for path, (mode, blob) in sorted(walk.read_entries(commit, paths).items()):
        data = walk.data(blob) if mode in (REGULAR, EXECUTABLE) else None
        held = helm_refs.references(path, data).helm_charts
        found.update(chart for name in names for chart in held.get(name, ()))
    return found


def _plugin_configured(walk: Walk, change: git.FileChange) -> None:
    """A config management plugin a commit adds or changes (sealer.review.plugins): what it runs
    and which folders its discover rule picks, for applications on main too."""
    if plugins.changed(change.path, *walk.versions(change)):
        message = (
            "configures an Argo CD config management plugin (what it runs, which applications' folders "
            "its discover rule picks), whose output review never sees: a code owner must approve"
        )
        walk.add([Finding(TRUST_ANCHOR, "", change.path, None, message)])


def _remote_sources(walk: Walk, change: git.FileChange, theirs: list[tuple[str, str] | None]) -> None:
    """A GitOps source review cannot read that a commit adds or changes, against every parent
    (sealer.review.remote_sources); an object already failed as trust-anchor-change is not
    reported twice."""
    old, new = walk.versions(change)
    if old == new:
        return
    now = remote_sources.references(change.path, new, walk.spaces, walk.here)
    if not now or any(f.rule == TRUST_ANCHOR and f.path == change.path for f in walk.findings):
        return
    parents = [old, *(walk.data(e[1]) for e in theirs if e and e[0] in (REGULAR, EXECUTABLE))]
    before = [remote_sources.references(change.path, data, walk.spaces, walk.here) for data in parents]
    found = remote_sources.finding(change.path, before, now)
    walk.add([found] if found else [])


def _flux_uses(walk: Walk, commit: git.CommitChanges) -> None:
    """A Flux Kustomization's or HelmRelease's source review cannot read (sealer.review.
    remote_sources.flux_uses) that a commit's tree deploys and none of its parents' did: a
    sourceRef added or pointed elsewhere, or a source's URL or revision changed, a sourceRef
    naming a source in any file. Reported on the object's file when the commit changed it, else
    on the source's; a file already failed as trust-anchor-change is not reported twice."""
    if not any(
        _manifest(c.path) and any(remote_sources.flux(c.path, data) for data in walk.versions(c))
        for c in commit.changes
    ):
        return
    changed = {c.path for c in commit.changes}
    before = {use.shown for parent in commit.parents for use in _flux_uses_at(walk, parent)}
    added: dict[str, set[str]] = {}
    for use in _flux_uses_at(walk, commit.commit):
        if use.shown not in before:
            path = next((p for p in (use.path, *use.sources) if p in changed), use.path)
            added.setdefault(path, set()).add(use.shown)
    for path, shown in sorted(added.items()):
        found = remote_sources.finding(path, [], shown)
        if found and not any(f.rule == TRUST_ANCHOR and f.path == path for f in walk.findings):
            walk.add([found])


def _flux_uses_at(walk: Walk, rev: str) -> list[remote_sources.Use]:
    """Every Flux object's source review cannot read in `rev`'s tree (read once per commit)."""
    if ("flux uses", rev) not in walk.parsed:
        paths = walk.helm_sources.holding(rev, ("fluxcd", "\\", "!"), helm_sources.MANIFESTS)
        files = {
            path: walk.data(blob) if mode in (REGULAR, EXECUTABLE) else None
            for path, (mode, blob) in walk.read_entries(rev, paths).items()
        }
        index = [s for p, data in files.items() for s in remote_sources.flux_sources(p, data, walk.here)]
        uses = (remote_sources.flux_uses(p, data, index, walk.spaces) for p, data in files.items())
        walk.parsed["flux uses", rev] = [use for each in uses for use in each]
    found: list[remote_sources.Use] = walk.parsed["flux uses", rev]
    return found


def _referenced_values(walk: Walk, change: git.FileChange) -> None:
    """A file a commit adds or changes that an Argo CD application or Flux HelmRelease at HEAD
    passes Helm as values (its own change need not be in the range): judged as that object's.
    A blob too big to hold, or no regular file, counts as naming one; a SealedSecret a
    `valuesFrom` may read fails, its values unread. A ConfigMap or Secret a Flux Kustomization
    substitutes from, removed, fails too (an optional one's variables fall back to defaults)."""
    sources = walk.helm_sources
    if change.new_mode == GONE:
        old = walk.versions(change)[0]
        removed = sources.substituted_referrer(walk.head, change.path, old) if old is not None else None
        walk.add([helm_sources.templating_finding(change.path, removed)] if removed else [])
        return
    data = walk.blobs.get(change.new_blob) if change.new_mode in (REGULAR, EXECUTABLE) else None
    templating = sources.templating_referrer(walk.head, change.path, data)
    if templating is not None:
        walk.add([helm_sources.templating_finding(change.path, templating)])
    sealed = sources.sealed_referrer(walk.head, change.path, data) if data is not None else None
    if sealed is not None:
        walk.add([helm_sources.sealed_finding(change.path, sealed)])
    if not helm_refs.names_any(change.path, data, sources.names):
        return
    referrer = sources.referrer(walk.head, change.path, data)
    walk.add([helm_sources.referenced_finding(change.path, referrer)] if referrer else [])


def _beside_values(walk: Walk, change: git.FileChange) -> None:
    """Another values file in the folder of one sealer manages: its key settings (sensitive's
    `beside_values_finding`)."""
    managed = sorted(walk.managed.folders.get(posixpath.dirname(change.path), set()) - {change.path})
    if not managed:
        return
    old, new = (
        data.decode("utf-8", "replace") if data is not None else None for data in walk.versions(change)
    )
    found = sensitive.beside_values_finding(
        change.path, managed[0], walk.managed.values[managed[0]], old, new
    )
    walk.add([found] if found else [])


def _stray(walk: Walk, path: str, data: bytes) -> None:
    """A file sealer does not manage that delivers a Secret it does, or a key registry of its
    own (sealer.review.stray)."""
    walk.add(stray.findings(path, data, walk.managed.targets, walk.managed.registries))


def _kustomization(walk: Walk, path: str, data: bytes, commit: str) -> None:
    """A kustomization a commit adds or changes, built from the commit's tree (sealer.review.
    kustomize), stray judging what its `namespace:`, `namePrefix:` or `nameSuffix:`, and those
    of what it lists, do: one moving nothing itself may list one that does (nothing deployed
    that one before)."""
    read = stray.kustomization(path, data)
    if read is None:
        return
    build = kustomize.Build(walk.data, walk.tree(commit), walk.placed, walk.budget)
    _judge_build(walk, path, build, build.moved(path, read))


def _remote_added(
    walk: Walk, change: git.FileChange, new: bytes, commit: str, theirs: list[tuple[str, str] | None]
) -> None:
    """A remote resource or component a commit adds to a kustomization's build (or a GitOps
    object's), or whose reference (URL, `?ref=`) it changes, against every parent: another
    repository's content, which review cannot read, may itself name a Secret sealer manages or a
    key registry in its namespace, so whoever controls that URL would change which keys the
    cluster accepts. One a parent held stays. Reached through a local folder's kustomization
    too: listing a folder whose unchanged kustomization lists a remote resource adds that
    resource to this build (each version built over the commit's tree: a nested
    kustomization's own change is its own)."""
    listed = _remote_reached(walk, change.path, new, commit)
    if not listed:
        return
    parents = [
        walk.versions(change)[0],
        *(walk.data(e[1]) for e in theirs if e and e[0] in (REGULAR, EXECUTABLE)),
    ]
    for data in parents:
        listed -= _remote_reached(walk, change.path, data, commit) if data is not None else set()
    if listed:
        message = (
            f"{change.path} adds or changes remote resources review cannot read (another repository's "
            f"content may name a Secret sealer manages or a key registry): "
            f"{stray.escaped('; '.join(sorted(listed)))}: a code owner must approve"
        )
        walk.add([Finding(TRUST_ANCHOR, "", change.path, None, message)])


def _remote_reached(walk: Walk, path: str, data: bytes, commit: str) -> set[str]:
    """The remote resources and components a version of the kustomization, or of the GitOps
    objects' builds, at `path` reaches, through the local folders it lists (as at `commit`)."""
    build = kustomize.Build(walk.data, walk.tree(commit), walk.placed, walk.budget)
    if posixpath.basename(path) in kustomize.KUSTOMIZATION_FILES:
        read = stray.kustomization(path, data)
        if read is not None:
            build.moved(path, read)
    else:
        for deployed in _gitops_builds(walk, path, data, commit, every=True):
            build.deployed(path, deployed)
    return build.reached_remote


def _gitops_builds(
    walk: Walk, path: str, data: bytes, commit: str, every: bool = False
) -> list[stray.Kustomization]:
    """What the Argo CD applications and Flux Kustomizations in a manifest build from this
    repository's tree, as kustomizations from the repository's top (`stray.gitops_builds`)."""
    return [
        *stray.gitops_builds(path, data, walk.tree(commit), walk.plugin_picks(commit), every),
        *stray.destination_builds(path, data, walk.spaces),
    ]


def _builds_over(walk: Walk, changed: set[str], head: str) -> None:
    """A kustomization, Flux Kustomization or Argo CD application the range left alone moves
    what the range changed: a file added to a folder it builds, or a nested kustomization now
    listing one (each judged at HEAD)."""
    if not changed:  # any name: kustomize reads what `resources:` lists whatever its extension
        return
    tree = walk.tree(head)
    files = {p: tree.entries[p] for p in tree.files if p not in changed}
    kustomizations = {
        p: e for p, e in files.items() if posixpath.basename(p) in kustomize.KUSTOMIZATION_FILES
    }
    walk.read_blobs(kustomizations.values())
    for path, (mode, blob) in kustomizations.items():
        read = stray.kustomization(path, walk.data(blob) or b"") if mode in (REGULAR, EXECUTABLE) else None
        if read is not None and read.acts:
            build = kustomize.Build(walk.data, tree, walk.placed, walk.budget)
            _judge_over(walk, path, build, read, changed)
    _jsonnet_imported(walk, tree, changed)
    # GitOps objects may be in any manifest sealer does not write (_file's `foreign`): each is
    # read as it streams by, none held (a monorepo's manifests may outweigh review's bound).
    manifests: dict[str, list[str]] = {}  # blob -> the paths holding it
    for path, (mode, blob) in files.items():
        if mode in (REGULAR, EXECUTABLE) and _manifest(path) and _foreign(walk, path):
            manifests.setdefault(blob, []).append(path)
    for path, data in _streamed(walk, manifests):
        for deployed in stray.gitops_builds(path, data, tree, walk.plugin_picks(head)):
            build = kustomize.Build(walk.data, tree, walk.placed, walk.budget)
            _judge_over(walk, path, build, deployed, changed, gitops=True)


def _foreign(walk: Walk, path: str) -> bool:
    """A file sealer does not write (nor the key registry): one a GitOps object may be in."""
    return not walk.managed.holds(path) and not path.startswith(f"{layout.REGISTRY_DIR}/")


def _streamed(walk: Walk, read: dict[str, list[str]]) -> Iterator[tuple[str, bytes]]:
    """(path, data) for each path holding each blob of `read` (blob -> paths), as they stream by."""
    for blob, data in git.stream_blobs(walk.root, list(read), SCAN_CHUNK):
        if not isinstance(data, bytes):  # one too big to parse cheaply: held, within the bound
            walk.hold(blob, data)
            data = walk.blobs[blob]
        for path in read[blob]:
            yield path, data


def _links_followed(walk: Walk, changed: set[str], head: str) -> None:
    """A symlink the range adds or retargets that a kustomization or GitOps object at HEAD builds
    through, changed or not: it swaps in another folder's or file's content as a whole, whose
    remote resources, charts and plugins no changed `resources:` line brings to review's checks
    of what is added (fail closed: a code owner approves)."""
    tree = walk.tree(head)
    links = {p for p in changed if tree.entries.get(p, ("",))[0] == LINK}
    if not links:
        return
    read: dict[str, list[str]] = {}  # blob -> the paths holding it
    for path in tree.files:
        mode, blob = tree.entries[path]
        if mode in (REGULAR, EXECUTABLE) and (
            _is_kustomization(path) or (_manifest(path) and _foreign(walk, path))
        ):
            read.setdefault(blob, []).append(path)
    for path, data in _streamed(walk, read):
        build = kustomize.Build(walk.data, tree, walk.placed, walk.budget)
        if not _is_kustomization(path):
            for deployed in stray.gitops_builds(path, data, tree, walk.plugin_picks(head), every=True):
                build.deployed(path, deployed)
        elif (kustomization := stray.kustomization(path, data)) is not None:
            build.moved(path, kustomization)
        followed = sorted(build.looked_up & links)
        if followed or build.cut:  # one read in part may build through any (fail closed)
            walk.add([_link_finding(path, followed or sorted(links), build.reached_remote, build.cut)])


def _link_finding(path: str, links: list[str], remote: set[str], cut: bool) -> Finding:
    reaching = (
        f", remote resources review cannot read among it: {'; '.join(sorted(remote))}" if remote else ""
    )
    how, holds = (
        (
            f"builds more than {kustomize.MAX_READS} paths, more than review reads, so it may build through",
            "may hold",
        )
        if cut
        else ("builds through", "now holds")
    )
    message = (
        f"{path} {how} the symlink(s) {', '.join(links)}, which the range adds or retargets: "
        f"what it builds {holds} another folder's content whole (its remote resources, charts and "
        f"plugins too), which review does not judge as added{reaching}: a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, stray.escaped(message))


def _is_kustomization(path: str) -> bool:
    return posixpath.basename(path) in kustomize.KUSTOMIZATION_FILES


def _jsonnet_imported(walk: Walk, tree: kustomize.Tree, changed: set[str]) -> None:
    """A file the range changed that a jsonnet file at HEAD imports (sealer.review.
    jsonnet_imports), a file an import evaluates imports in turn, through symlinks too: Argo CD
    evaluates the jsonnet, and review does not. A change to jsonnet itself fails on its own;
    a jsonnet import review cannot read may be of any file but sealer's own."""
    queue = [p for p in tree.files if p.endswith(_JSONNET)]
    importers: dict[str, str] = {}  # imported path -> a jsonnet file importing it
    unread: list[str] = []  # jsonnet files with an import review cannot read
    seen: set[str] = set()
    while queue and len(seen) <= kustomize.MAX_READS:
        batch = sorted(set(queue) - seen)
        queue = []
        seen.update(batch)
        walk.read_blobs(tree.entries[p] for p in batch if p in tree.entries)  # one git reader a round
        for path in batch:
            mode, blob = tree.entries.get(path, (GONE, ""))
            data = walk.data(blob) if mode in (REGULAR, EXECUTABLE) else None
            text = stray.decoded(data) if data is not None else None
            found = jsonnet_imports.imports(text) if text is not None else jsonnet_imports.Imports()
            unread += [path] if found.unread else []
            for name, code in [*((n, True) for n in found.code), *((n, False) for n in found.data)]:
                target = posixpath.normpath(posixpath.join(posixpath.dirname(path), name))
                for led in _led(tree, target, walk):
                    importers.setdefault(led, importers.get(path, path))
                    queue += [led] if code else []
    if len(seen) > kustomize.MAX_READS:
        unread.append(
            f"more than {kustomize.MAX_READS} jsonnet files and imports, which review does not read"
        )
    for path in sorted(changed):
        importer = importers.get(path)
        if importer is None and unread and not walk.managed.holds(path):
            importer = unread[0]
        if importer is None or path.endswith(_JSONNET):
            continue
        message = (
            f"imported by jsonnet ({stray.escaped(importer)}), which Argo CD renders into manifests and "
            "review does not evaluate: a code owner must approve"
        )
        walk.add([Finding(TRUST_ANCHOR, "", path, None, message)])


def _led(tree: kustomize.Tree, path: str, walk: Walk) -> list[str]:
    """`path` and where it leads through symlinks, its own or a folder's on the way (inside the
    repository, at most _MAX_LINKS links)."""
    found = [path]
    for _ in range(_MAX_LINKS):
        if path.startswith(("../", "/")) or path in ("..", "."):
            return found[:-1]
        on_the_way = [*charts.folders_on_the_way(path), path]
        link = next((f for f in on_the_way if tree.entries.get(f, ("",))[0] == LINK), None)
        if link is None:
            return found
        text = (walk.data(tree.entries[link][1]) or b"").decode("utf-8", "replace")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(link), text) + path[len(link) :])
        found.append(path)
    return found


def _judge_over(
    walk: Walk,
    path: str,
    build: kustomize.Build,
    read: stray.Kustomization,
    changed: set[str],
    gitops: bool = False,
) -> None:
    """`_judge_build` for a build the range left alone, if it reaches what the range changed;
    one that makes what review never sees (a chart, a plugin) may read any file of its folders."""
    moved = build.deployed(path, read) if gitops else build.moved(path, read)
    folders = read.resources if gitops else (posixpath.dirname(path) or ".",)
    unseen = read.makes_unseen and any(f == "." or c.startswith(f"{f}/") for f in folders for c in changed)
    if build.looked_up & changed or build.cut or unseen:
        _judge_build(walk, path, build, moved)


def _judge_build(walk: Walk, path: str, build: kustomize.Build, moved: list[kustomize.Moved]) -> None:
    """What the build of the kustomization or GitOps object at `path` moves (stray), and what it
    does that review does not redo (`_unread_build`)."""
    walk.add(stray.move_findings(path, moved, walk.managed.targets, walk.managed.registries))
    _unread_build(walk, path, build, moved)


def _unread_build(walk: Walk, path: str, build: kustomize.Build, moved: list[kustomize.Moved]) -> None:
    """A build too big to read whole is never passed as clean: what review did not read may
    move a managed Secret or key registry (fail closed; an owner's approval lets it through).
    Nor is one that renames, moves or makes what it builds by other means than `namespace:`,
    `namePrefix:` and `nameSuffix:` (patches, replacements, charts, plugins), which review does
    not redo."""
    if build.cut:
        message = (
            f"{path} builds more than {kustomize.MAX_READS} paths, more than review reads, and what it "
            "builds may be moved or renamed there (namespace, namePrefix, nameSuffix): a code owner "
            "must approve"
        )
        walk.add([Finding(TRUST_ANCHOR, "", path, None, message)])
    if remote := build.unread_remote():
        listed = "; ".join(f"{entry} ({where})" for entry, where in sorted(remote.items()))
        message = (
            f"{path} moves or renames what it builds (namespace, namePrefix, nameSuffix), remote "
            f"resources review cannot read among it: {stray.escaped(listed)}: a code owner must approve"
        )
        walk.add([Finding(TRUST_ANCHOR, "", path, None, message)])
    if substituted := build.substituted(moved):
        message = (
            f"{path} builds Secrets or ConfigMaps whose text holds Flux's `${{...}}` variables, which its "
            f"postBuild substitution fills with values review does not know (a value may rename, move "
            f"or remake the object): {stray.escaped('; '.join(substituted))}: a code owner must approve"
        )
        walk.add([Finding(TRUST_ANCHOR, "", path, None, message)])
    if build.unmodelled and (build.makes_unseen or moved):
        done = "; ".join(f"{what} ({where})" for what, where in sorted(build.unmodelled.items()))
        message = (
            f"{path} builds Secrets or ConfigMaps through what may rename, move or make them in "
            f"ways review does not redo: {stray.escaped(done)}: a code owner must approve"
        )
        walk.add([Finding(TRUST_ANCHOR, "", path, None, message)])


def _config_change(
    walk: Walk, change: git.FileChange, short: str, theirs: list[tuple[str, str] | None]
) -> None:
    """Sensitive settings changed against the parent; in a merge, against every parent (what
    one parent brought was judged in its own commits)."""
    new = _config(walk, change.new_blob, short)
    found = sensitive.config_findings(_config(walk, change.old_blob, short), new)
    for entry in theirs:
        other = _config(walk, entry[1], short) if entry else None
        against = set(sensitive.config_findings(other, new))
        found = [f for f in found if f in against]
    walk.add(found)


def _allow_comments(walk: Walk, change: git.FileChange, new: bytes) -> None:
    after = plaintext.allowed_lines(change.path, new, SCAN_CHUNK)
    if not after:
        return
    old = walk.data(change.old_blob) if change.old_mode != GONE else None
    added = after - plaintext.allowed_lines(change.path, old or b"", SCAN_CHUNK)
    if added:
        count = sum(added.values())
        walk.add([Finding(ALLOW_COMMENT, "", change.path, None, f"{count} new `sealer: allow` comment(s)")])


def _baseline_fps(data: bytes | None) -> set[str] | None:
    """The fingerprints a scan baseline accepts, by its content, never its name: the hook's or the
    pipeline's `--baseline` may name any file (`.sealer/scan-baseline`), and a pull request may
    change that argument too. None for anything else; DuplicateKey for a JSON object that gives a
    field twice (`sealer scan` refuses it; another reader may take either value)."""
    if not (data or b"").lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return None  # not a JSON object: no need to parse a large file
    try:
        doc = strictjson.loads(data or b"")
    except strictjson.DuplicateKey:
        raise
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list) or "version" not in doc:
        return None
    return {str(item.get("fingerprint")) for item in doc["findings"] if isinstance(item, dict)}


def _baseline(walk: Walk, change: git.FileChange, new: bytes) -> None:
    old = walk.data(change.old_blob) if change.old_mode != GONE else None
    try:
        after = _baseline_fps(new) or set()
    except strictjson.DuplicateKey:
        walk.add([Finding(BASELINE_ENTRY, "", change.path, None, "a scan baseline that gives a field twice")])
        return
    try:
        before = _baseline_fps(old) or set()
    except strictjson.DuplicateKey:
        before = set()  # it accepted nothing sure: every entry now is a new one
    added = after - before
    if added:
        walk.add(
            [
                Finding(
                    BASELINE_ENTRY,
                    "",
                    change.path,
                    None,
                    f"{len(added)} new accepted finding(s) in a scan baseline",
                )
            ]
        )


def _records(env: str, text: str | None) -> list[KeyRecord]:
    return read_ledger(env, text)[0]


def _ledger(walk: Walk, change: git.FileChange, other_texts: list[str | None], short: str) -> None:
    env = layout.ledger_env(change.path) or ""
    before = walk.records(env, change.old_blob)
    new_text = walk.text(change.new_blob)
    after, problem = walk.ledger(env, change.new_blob)
    if problem:
        walk.add([Finding(LEDGER_INVALID, env, change.path, None, f"commit {short}: unreadable ({problem})")])
        return
    if new_text is None and before:
        walk.add([Finding(LEDGER_REMOVED, env, change.path, None, f"commit {short} deletes the ledger")])
        return
    parents = [before, *(_records(env, text) for text in other_texts)]
    had = {r.key_id for records in parents for r in records}
    for record in after:
        if record.key_id not in had and record.name not in walk.entries(env):
            message = (
                f"commit {short}: {record.key_id} is a key for {record.name}, which sealer.yaml does not "
                "list in keys"
            )
            walk.add([Finding(LEDGER_INVALID, env, change.path, record.name, message)])
    for problem_found in ledger_rules.successor_problems(
        parents, after, walk.lifetime(env), walk.now, walk.known
    ):
        code = LEDGER_REMOVED if not after and before else problem_found.rule
        walk.add(
            [Finding(code, env, change.path, problem_found.entry, f"commit {short}: {problem_found.message}")]
        )


def _hand_edits(
    walk: Walk, change: git.FileChange, commit: git.CommitChanges, other_texts: list[str | None]
) -> None:
    """A value changed with no new ledger key in the same commit; in a merge, a value no parent had."""
    env = walk.managed.data_owner(change.path) or ""
    ledger_change = next((c for c in commit.changes if c.path == layout.ledger_file(env)), None)
    if ledger_change is not None:
        known = {r.key_id for r in walk.records(env, ledger_change.old_blob)}
        fresh = {r.name for r in walk.records(env, ledger_change.new_blob) if r.key_id not in known}
    else:
        fresh = set()
    old, new = (ciphertexts(walk.doc(blob, change.path)) for blob in (change.old_blob, change.new_blob))
    merged = [ciphertexts(_doc(text, change.path)) for text in other_texts]
    for entry, value in sorted(new.items()):
        from_parent = any(values.get(entry) == value for values in merged)
        if old.get(entry) != value and not from_parent and (merged or entry not in fresh):
            message = (
                f"{entry}: commit {commit.commit[:12]} changed the ciphertext with no new key in the ledger"
            )
            walk.add([Finding(HAND_EDIT, env, change.path, entry, message + " (edited by hand?)")])


def _doc(text: str | None, path: str) -> Any:
    docs = documents(text, path) if text is not None else None
    return docs[0] if docs else None
