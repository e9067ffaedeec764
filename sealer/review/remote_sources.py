"""GitOps sources review cannot read: an Argo CD application's (an ApplicationSet's template's,
the argocd-apps chart's items too) source naming a repository other than this one or a Helm
chart, a Flux HelmRelease's chart from a HelmRepository or OCIRepository, a Flux
Kustomization's OCIRepository or Bucket, or a GitRepository the same file gives another URL.
Deployed into a namespace sealer delivers keys to, or one review cannot tell (none given, a
template, a Flux variable), that content may itself name a Secret sealer manages or a key
registry: whoever controls it changes which keys the cluster accepts. A reference a commit adds
or changes fails (`trust-anchor-change`); one a parent held stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import yaml

from sealer.review import stray
from sealer.review.model import TRUST_ANCHOR, Finding

_HINTS = ("application", "helmrelease", "kustomization", "repository", "bucket", "\\", "!")  # casefolded
_OUTSIDE_KINDS = {"HelmRepository", "OCIRepository", "Bucket"}  # never this repository's tree
_SCP = re.compile(r"[^/]+:")  # `host:path`, scp-style, once the user is gone


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


def references(path: str, data: bytes | None, spaces: frozenset[str], homes: frozenset[str]) -> set[str]:
    """The sources review cannot read that a file's GitOps objects deploy into one of `spaces`
    or a namespace review cannot tell, each as written (URL, revision, path or chart)."""
    found: set[str] = set()
    holds = stray.holding(_HINTS)
    objects = [o for o in stray.file_objects(data, path, holds) if o is not stray.TOO_DEEP]
    git_urls = {
        name: url
        for o in objects
        if "GitRepository" in _texts(o, "kind")
        for name in _texts(_one(o, "metadata"), "name")
        for url in _texts(_one(o, "spec"), "url")
    }
    for node in objects:
        kinds = _texts(node, "kind")
        for spec in stray.application_specs(node):
            if _unknown_or(_texts(_one(spec, "destination"), "namespace"), spaces):
                found |= {ref for s in stray.argo_sources([spec]) if (ref := _argo(s, homes))}
        flux = any("fluxcd" in v for v in _texts(node, "apiVersion"))
        given = _one(node, "spec")
        if flux and "Kustomization" in kinds and _unknown_or(_texts(given, "targetNamespace"), spaces):
            found |= _flux_source(_one(given, "sourceRef"), git_urls, homes, _texts(given, "path"))
        if flux and "HelmRelease" in kinds:
            into = _texts(given, "targetNamespace") or _texts(_one(node, "metadata"), "namespace")
            if _unknown_or(into, spaces):
                chart = _one(_one(given, "chart"), "spec")
                named = _texts(chart, "chart") | _texts(chart, "version")
                found |= _flux_source(_one(chart, "sourceRef"), git_urls, homes, named)
                found |= _flux_source(_one(given, "chartRef"), git_urls, homes, set())
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


def _argo(source: yaml.Node, homes: frozenset[str]) -> str | None:
    urls, charts = _texts(source, "repoURL"), _texts(source, "chart")
    if not charts and all(home(url) in homes for url in urls):  # none given: Argo CD syncs nothing
        return None  # this repository's own folders: review builds them
    parts = [*sorted(urls), *(f"chart {c}" for c in sorted(charts))]
    parts += [f"{key} {t}" for key in ("targetRevision", "path", "ref") for t in sorted(_texts(source, key))]
    return " ".join(parts)


def _flux_source(
    ref: yaml.Node | None, git_urls: dict[str, str], homes: frozenset[str], what: set[str]
) -> set[str]:
    if ref is None:
        return set()
    kinds, names = _texts(ref, "kind") or {"GitRepository"}, _texts(ref, "name")
    outside = bool(kinds & _OUTSIDE_KINDS)
    urls = {git_urls[n] for n in names if n in git_urls} if "GitRepository" in kinds else set()
    outside |= any(home(url) not in homes for url in urls)
    if not outside:
        return set()  # a GitRepository given elsewhere: this repository's, maybe (not looked up)
    shown = [f"{k}/{n}" for k in sorted(kinds) for n in sorted(names)] + sorted(urls) + sorted(what)
    return {" ".join(shown)}


def _unknown_or(given: set[str], spaces: frozenset[str]) -> bool:
    """Whether a destination is one of `spaces`, or one review cannot tell."""
    return not given or bool(given & spaces) or any("{{" in g or "${" in g for g in given)


def _one(node: yaml.Node | None, key: str) -> yaml.Node | None:
    values = stray.field_values(node, key) if node is not None else []
    return values[0] if values else None


def _texts(node: yaml.Node | None, key: str) -> set[str]:
    return stray.scalar_texts(stray.field_values(node, key)) if node is not None else set()
