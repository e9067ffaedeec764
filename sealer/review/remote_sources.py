"""GitOps sources review cannot read: an Argo CD application's (an ApplicationSet's template's, the
argocd-apps chart's items too) source naming a repository other than this one or a Helm chart; a
Flux Kustomization's or HelmRelease's source, looked up in the commit's tree by kind, name and
namespace: a HelmRepository, OCIRepository or Bucket, a GitRepository of another URL, or none of
this repository's. A source of this repository's URL (one of its remotes') is this repository
only at the revision review reads (`Here`): another branch, a tag or a commit is content the
pull request never shows, pushed where nobody reviews it. Deployed into a namespace sealer
delivers keys to, or one review cannot tell (none given, a template, a Flux variable), that
content may itself name a Secret sealer manages or a key registry: whoever controls it changes
which keys the cluster accepts. An ApplicationSet's git generator reading such a revision gives
parameters from that content: a template using them counts wherever it deploys (`_generated`).
A reference a commit adds or changes (a source's URL or revision too) fails
(`trust-anchor-change`); one a parent held stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from sealer import yamlio
from sealer.review import stray
from sealer.review.model import TRUST_ANCHOR, Finding

_HINTS = ("application", "helmrelease", "kustomization", "repository", "bucket", "\\", "!")  # casefolded
_OUTSIDE_KINDS = {"HelmRepository", "OCIRepository", "Bucket"}  # never this repository's tree
_SOURCE_KINDS = {"GitRepository", *_OUTSIDE_KINDS}
_REF_KEYS = ("branch", "tag", "semver", "name", "commit", "digest")  # a source's spec.ref
_SCP = re.compile(r"[^/]+:")  # `host:path`, scp-style, once the user is gone
_FLUX_DEFAULT = "master"  # the branch a GitRepository with no `spec.ref` fetches
_NULL = "tag:yaml.org,2002:null"


def home(url: str) -> str:
    """A repository URL as host/path, the way git spells it aside: `git::`, scheme, user, port,
    `.git` and a trailing `/` dropped, scp-style `host:path` read as `host/path`, case-blind."""
    text = url.strip().casefold().removeprefix("git::")
    schemed = "://" in text
    text = text.split("://", 1)[-1]
    text = text.split("@", 1)[-1] if "@" in text.split("/", 1)[0] else text
    if not schemed and _SCP.match(text):
        text = text.replace(":", "/", 1)
    host, _, rest = text.partition("/")
    return f"{host.split(':')[0]}/{rest.strip('/').removesuffix('.git')}"


@dataclass(frozen=True)
class Here:
    """This repository as review reads it: its remotes' URLs (as `home` spells them) and the
    branch the pull request is to be merged into (None: review cannot tell). A source of one of
    these URLs is this repository's tree only at that branch (Argo CD's `HEAD` too): at another
    branch, a tag or a commit the GitOps tool reads content no one reviews. Argo CD's `HEAD` is
    the remote's default branch: when the checkout records it (`defaults`, the remotes' HEADs;
    empty: review cannot tell), `HEAD` is this tree only if that branch is the one merged into."""

    homes: frozenset[str]
    branch: str | None
    defaults: frozenset[str] = frozenset()

    def argo(self, urls: set[str], revisions: list[yaml.Node]) -> bool:
        """Whether an Argo CD source of `urls` at `revisions` (its targetRevision) is this tree
        (no URL: Argo CD syncs nothing)."""
        if not urls:
            return True
        read = all(self._argo_read(r) for r in revisions) if revisions else self._default_read()
        return all(home(url) in self.homes for url in urls) and read

    def flux(self, urls: set[str], refs: list[yaml.Node]) -> bool:
        """Whether a GitRepository of `urls` at `refs` (its spec.ref) is this tree: a ref naming
        this branch and nothing else (Flux's tag, semver, name and commit win over a branch);
        none given is Flux's default branch."""
        if not urls or any(home(url) not in self.homes for url in urls):
            return False
        named = [(key, value) for ref in refs for key in _REF_KEYS for value in stray.field_values(ref, key)]
        if not named:
            return self.branch == _FLUX_DEFAULT
        return self.branch is not None and all(
            key == "branch" and stray.scalar_text(value) == self.branch for key, value in named
        )

    def _argo_read(self, revision: yaml.Node) -> bool:
        text = stray.scalar_text(revision)
        if revision.tag == _NULL or text in ("", "HEAD"):
            return self._default_read()
        return text is not None and text == self.branch

    def _default_read(self) -> bool:
        """Whether Argo CD's `HEAD` (none given too) is this tree: the remotes' default branch is
        the one merged into, or review cannot tell either (then as before: `HEAD` passes)."""
        return not self.defaults or self.branch is None or self.defaults == {self.branch}


def references(path: str, data: bytes | None, spaces: frozenset[str], here: Here) -> set[str]:
    """The sources review cannot read that a file's Argo CD objects deploy into one of `spaces`
    or a namespace review cannot tell, each as written (URL, revision, path or chart). Flux's
    are the commit's tree's (`flux_uses`): a sourceRef may name a source in any file."""
    found: set[str] = set()
    for node in _objects(path, data):
        for spec in stray.application_specs(node):
            if _unknown_or(_texts(_one(spec, "destination"), "namespace"), spaces):
                found |= {ref for s in stray.argo_sources([spec]) if (ref := _argo(s, here))}
        for made in stray.application_set_specs(node):
            found |= _generated(made, here)
    return found


@dataclass(frozen=True)
class Source:
    """A Flux source object: where it is defined, what it fetches, and whether from outside."""

    kind: str
    name: str
    namespace: str | None  # None: not given (the namespace it is applied in)
    path: str
    shown: str  # kind/name, URL and revision, as written
    outside: bool


@dataclass(frozen=True)
class Use:
    """A Flux Kustomization's or HelmRelease's source, deployed where sealer delivers keys or
    where review cannot tell, that review cannot read: `shown` names the object and the source."""

    path: str  # the Kustomization's or HelmRelease's file
    sources: tuple[str, ...]  # the files defining the source it names (none: no such source)
    shown: str


def flux(path: str, data: bytes | None) -> bool:
    """Whether a file holds a Flux object (a source, a Kustomization or a HelmRelease)."""
    return any(_fluxed(node) for node in _objects(path, data))


def flux_sources(path: str, data: bytes | None, here: Here) -> list[Source]:
    """The Flux sources a file defines; one of this repository at the branch review reads
    (`Here.flux`) is inside."""
    found = []
    for node in _objects(path, data):
        kinds = _texts(node, "kind") & _SOURCE_KINDS
        if not _fluxed(node) or not kinds:
            continue
        meta, spec = _one(node, "metadata"), _one(node, "spec")
        urls = _texts(spec, "url") | _texts(spec, "endpoint") | _texts(spec, "bucketName")
        refs = stray.field_values(spec, "ref") if spec is not None else []
        revision = sorted({f"{key} {t}" for ref in refs for key in _REF_KEYS for t in _texts(ref, key)})
        outside = bool(kinds & _OUTSIDE_KINDS) or not here.flux(urls, refs)
        namespace = min(_texts(meta, "namespace"), default=None)
        for kind in sorted(kinds):
            for name in sorted(_texts(meta, "name")):
                shown = " ".join([f"{kind}/{name}", *sorted(urls), *revision])
                found.append(Source(kind, name, namespace, path, shown, outside))
    return found


def flux_uses(path: str, data: bytes | None, index: list[Source], spaces: frozenset[str]) -> list[Use]:
    """The sources review cannot read that a file's Flux Kustomizations and HelmReleases deploy
    into one of `spaces` or a namespace review cannot tell, looked up in `index` (every source
    of the commit's tree) by kind, name and namespace (a sourceRef's own, else its object's).
    A sourceRef naming no source of this repository is content review cannot read too."""
    found: list[Use] = []
    for node in _objects(path, data):
        kinds, given, meta = _texts(node, "kind"), _one(node, "spec"), _one(node, "metadata")
        if not _fluxed(node):
            continue
        space = min(_texts(meta, "namespace"), default=None)
        who = f"{'/'.join(sorted(kinds))} {space or ''}/{'/'.join(sorted(_texts(meta, 'name')))}"
        if "Kustomization" in kinds and _unknown_or(_texts(given, "targetNamespace"), spaces):
            found += _flux_source(path, who, _one(given, "sourceRef"), index, space, _texts(given, "path"))
        into = _texts(given, "targetNamespace") or _texts(meta, "namespace")
        if "HelmRelease" in kinds and _unknown_or(into, spaces):
            chart = _one(_one(given, "chart"), "spec")
            named = _texts(chart, "chart") | _texts(chart, "version")
            found += _flux_source(path, who, _one(chart, "sourceRef"), index, space, named)
            found += _flux_source(path, who, _one(given, "chartRef"), index, space, set())
    return found


def finding(path: str, old: Iterable[set[str]], new: set[str]) -> Finding | None:
    """The references `new` holds that no parent's version (`old`) did."""
    added = new.difference(*old)
    if not added:
        return None
    message = (
        f"{path} adds or changes a source review cannot read (another repository, a chart), deployed "
        "where sealer delivers keys or where that content's own namespaces say, and which may name a "
        f"Secret sealer manages or a key registry: {stray.escaped('; '.join(sorted(added)))}: a code "
        "owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def _argo(source: yaml.Node, here: Here) -> str | None:
    urls, charts = _texts(source, "repoURL"), _texts(source, "chart")
    if not charts and here.argo(urls, stray.field_values(source, "targetRevision")):
        return None  # this repository's own folders, as review reads them: review builds them
    parts = [*sorted(urls), *(f"chart {c}" for c in sorted(charts))]
    parts += [f"{key} {t}" for key in ("targetRevision", "path", "ref") for t in sorted(_texts(source, key))]
    return " ".join(parts)


def _generated(spec: yaml.Node, here: Here) -> set[str]:
    """The git generators of an ApplicationSet (a matrix's or merge's too) that read a revision
    review cannot: another repository, or this one at another revision than the branch under
    review (`Here.argo`). Review fills their parameters from the tree it reads; these come from
    content no one reviews, and a template using any of them (`{{` anywhere in the spec, a
    templatePatch or a generator's own template too: which parameter a field names is not
    told apart) may deploy anything anywhere. A template using none makes the same
    applications whatever they read."""
    nodes = list(yamlio.nodes(spec))
    if not any(isinstance(n, yaml.ScalarNode) and "{{" in (stray.scalar_text(n) or "") for n in nodes):
        return set()
    gits = [
        git
        for generators in stray.field_values(spec, "generators")
        for n in yamlio.nodes(generators)
        for git in stray.field_values(n, "git")
    ]
    found = set()
    for git in gits:
        urls, revisions = _texts(git, "repoURL"), stray.field_values(git, "revision")
        if not here.argo(urls, revisions):
            read = " ".join([*sorted(urls), *(f"revision {t}" for t in sorted(_texts(git, "revision")))])
            found.add(f"an ApplicationSet's git generator reading {read}, whose parameters its template uses")
    return found


def _flux_source(
    path: str, who: str, ref: yaml.Node | None, index: list[Source], space: str | None, what: set[str]
) -> list[Use]:
    if ref is None:
        return []
    kinds, names = _texts(ref, "kind") or {"GitRepository"}, _texts(ref, "name")
    into = min(_texts(ref, "namespace"), default=space)  # none given: the referring object's
    named = [
        s
        for s in index
        if s.kind in kinds and s.name in names and (None in (into, s.namespace) or s.namespace == into)
    ]
    if named and not any(s.outside for s in named):
        return []  # this repository's own tree: review builds it
    shown = sorted({s.shown for s in named if s.outside}) or [
        f"{k}/{n} (no source of that name in this repository)" for k in sorted(kinds) for n in sorted(names)
    ]
    text = f"{who}: {' '.join([*shown, *sorted(what)])}"
    return [Use(path, tuple(sorted({s.path for s in named if s.outside})), text)]


def _fluxed(node: yaml.Node) -> bool:
    return any("fluxcd" in v for v in _texts(node, "apiVersion"))


def _objects(path: str, data: bytes | None) -> list[yaml.MappingNode]:
    holds = stray.holding(_HINTS)
    return [o for o in stray.file_objects(data, path, holds) if o is not stray.TOO_DEEP]


def _unknown_or(given: set[str], spaces: frozenset[str]) -> bool:
    """Whether a destination is one of `spaces`, or one review cannot tell."""
    return not given or bool(given & spaces) or any("{{" in g or "${" in g for g in given)


def _one(node: yaml.Node | None, key: str) -> yaml.Node | None:
    values = stray.field_values(node, key) if node is not None else []
    return values[0] if values else None


def _texts(node: yaml.Node | None, key: str) -> set[str]:
    return stray.scalar_texts(stray.field_values(node, key)) if node is not None else set()
