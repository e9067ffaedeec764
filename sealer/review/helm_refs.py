"""What an Argo CD application (an ApplicationSet's template too) or a Flux HelmRelease (or the
HelmChart its `chartRef` names) hands Helm besides its inline values (which
sealer.review.charts judges): values files read from a tree (Argo CD's `helm.valueFiles` and
`fileParameters`, Flux's `chart.spec.valuesFiles`, a HelmChart's `valuesFiles`), Flux's
`valuesFrom` ConfigMaps and Secrets, and Flux's `postRenderers`, which patch what Helm
rendered. Read from one manifest, as any YAML parser may read it (sealer.review.stray's reader);
sealer.review.helm_sources resolves the files and judges them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

from sealer import yamlio
from sealer.review import stray

# casefolded: a file holding none holds no such object
_HINTS = ("application", "helmrelease", "helmchart", "kustomization", "\\", "!")
# Words that name a reference in a manifest (git grep looks for them, any case): escapes and
# tags may spell one otherwise.
REFERENCE_WORDS = (
    "valueFiles",
    "valuesFiles",
    "valuesFile",
    "fileParameters",
    "valuesFrom",
    "substituteFrom",
    "ApplicationSet",
    "\\",
    "!!",
)


@dataclass
class Refs:
    """What the Helm objects of one manifest read besides inline values."""

    files: set[str] = field(default_factory=set)  # repository paths of values files
    unread: set[str] = field(default_factory=set)  # references review cannot resolve, as shown
    # another source's files (`$ref/path`): that source may be this repository, from its top
    maybe_files: set[str] = field(default_factory=set)
    config: set[tuple[str, str]] = field(default_factory=set)  # Flux valuesFrom: (kind, name)
    post_renderers: list[object] = field(default_factory=list)  # each block's shape
    # Read whatever they hold, a template or substitution building any name from them: the files
    # an ApplicationSet's git files generator reads (globs), and Flux's postBuild.substituteFrom.
    templated: set[str] = field(default_factory=set)
    substituted: set[tuple[str, str]] = field(default_factory=set)  # (kind, name)
    substitutions: list[object] = field(default_factory=list)  # each postBuild variable block's shape
    # The folders of this repository a chart is rendered from, as written (`{{...}}`, `${...}` kept)
    charts: set[str] = field(default_factory=set)
    chart_refs: set[str] = field(default_factory=set)  # HelmCharts a HelmRelease's chartRef names
    helm_charts: dict[str, set[str]] = field(default_factory=dict)  # a HelmChart's name -> its charts

    def named(self) -> bool:
        return bool(self.files or self.unread or self.config)


def references(path: str, data: bytes | None) -> Refs:
    refs = Refs()
    # an object nested anywhere counts (a List's item, the argo-cd chart's `extraObjects`)
    for doc in stray.file_objects(data, path, stray.holding(_HINTS)):
        kinds = stray.scalar_texts(stray.field_values(doc, "kind"))
        if "HelmRelease" in kinds:
            _helm_release(doc, refs)
        if "HelmChart" in kinds:  # a HelmRelease's chartRef may name it
            named = Refs()
            for spec in stray.field_values(doc, "spec"):
                _chart_values_files(spec, refs)
                _chart_folder(spec, named)
            refs.charts |= named.charts
            for name in stray.scalar_texts(_all(doc, "metadata", "name")):
                refs.helm_charts.setdefault(name, set()).update(named.charts)
        specs = stray.field_values(doc, "spec") if "Application" in kinds else []
        if "Kustomization" in kinds:
            _substitute_from(doc, refs)
        if "ApplicationSet" in kinds:
            specs += [s for t in _all(doc, "spec", "template") for s in stray.field_values(t, "spec")]
            for generators in _all(doc, "spec", "generators"):  # a matrix's or merge's too
                gits = [g for n in yamlio.nodes(generators) for g in stray.field_values(n, "git")]
                refs.templated |= {p.lstrip("/") for g in gits for p in _texts_of(_all(g, "files"), "path")}
            patches = stray.scalar_texts(_all(doc, "spec", "templatePatch"))
            if any(word in patch for patch in patches for word in ("valueFiles", "fileParameters")):
                refs.unread.add("values files a templatePatch sets")
        for spec in specs:
            sources = [*stray.field_values(spec, "source"), *_items(stray.field_values(spec, "sources"))]
            for source in sources:
                _argo_source(source, refs)
    return refs


def _argo_source(source: yaml.Node, refs: Refs) -> None:
    """An Argo CD source's values files: relative to its `path` (a folder of its repository), or
    to the repository's top with a leading slash; another source's (`$ref/...`), a URL, a Helm
    repository chart's, or a templated path (ApplicationSet) is not read here."""
    if not stray.field_values(source, "chart"):  # a folder of a repository, maybe this one's chart
        refs.charts |= stray.scalar_texts(stray.field_values(source, "path")) or {"."}
    helm = stray.field_values(source, "helm")
    entries = stray.scalar_texts(_items(n for h in helm for n in stray.field_values(h, "valueFiles")))
    params = _items(n for h in helm for n in stray.field_values(h, "fileParameters"))
    entries |= stray.scalar_texts(n for p in params for n in stray.field_values(p, "path"))
    if not entries:
        return
    folders = stray.scalar_texts(stray.field_values(source, "path"))
    charts = stray.scalar_texts(stray.field_values(source, "chart"))
    for entry in sorted(entries):
        if entry.startswith("$") or "://" in entry or "{{" in entry:
            refs.unread.add(f"{entry} (another source's, remote or templated)")
            ref, _, rest = entry.partition("/")
            path = posixpath.normpath(rest)
            if ref.startswith("$") and rest and not path.startswith(("../", "/")) and path != "..":
                refs.maybe_files.add(path)
        elif charts or not folders or len(folders) > 1 or any("{{" in f for f in folders):
            refs.unread.add(f"{entry} (of a chart or path review does not read)")
        else:
            # Argo CD reads a path with a leading slash from the repository's top
            folder = "" if entry.startswith("/") else next(iter(folders)).lstrip("/")
            _in_tree(posixpath.join(folder, entry.lstrip("/")), entry, refs)


def _helm_release(doc: yaml.Node, refs: Refs) -> None:
    """A Flux HelmRelease: `chart.spec.valuesFiles` (from its source's top; a Helm repository's
    are in the chart package), `valuesFrom`, `postRenderers`."""
    for spec in stray.field_values(doc, "spec"):
        for chart in _all(spec, "chart", "spec"):
            _chart_values_files(chart, refs)
            _chart_folder(chart, refs)
        for item in _items(stray.field_values(spec, "valuesFrom")):
            kinds, names = _texts(item, "kind"), _texts(item, "name")
            if len(kinds) == 1 and len(names) == 1:
                refs.config.add((next(iter(kinds)), next(iter(names))))
            else:
                refs.unread.add("a valuesFrom entry of no one kind and name")
        refs.post_renderers += [shape(n) for n in stray.field_values(spec, "postRenderers")]
        for ref in stray.field_values(spec, "chartRef"):  # a HelmChart (or an OCIRepository's chart)
            if _texts(ref, "kind") <= {"HelmChart"}:
                refs.chart_refs |= _texts(ref, "name")


def _chart_values_files(chart: yaml.Node, refs: Refs) -> None:
    """A Flux HelmChart's spec (a HelmRelease's `chart.spec` is one): `valuesFiles` from its
    source's top; a Helm repository's are in the chart package."""
    files = stray.scalar_texts(
        [*_items(stray.field_values(chart, "valuesFiles")), *stray.field_values(chart, "valuesFile")]
    )
    kinds = {k for s in stray.field_values(chart, "sourceRef") for k in _texts(s, "kind")} or {
        "HelmRepository"
    }
    for entry in sorted(files):
        if kinds <= {"GitRepository", "Bucket"} and "://" not in entry:
            _in_tree(entry, entry, refs)
        else:
            refs.unread.add(f"{entry} (in a chart package or source review does not read)")


def _chart_folder(chart: yaml.Node, refs: Refs) -> None:
    """A Flux HelmChart's spec (a HelmRelease's `chart.spec`): its `chart`, a folder from the
    top of a GitRepository or Bucket (this repository's, maybe)."""
    kinds = {k for s in stray.field_values(chart, "sourceRef") for k in _texts(s, "kind")}
    if kinds & {"GitRepository", "Bucket"}:
        refs.charts |= _texts(chart, "chart")


def _substitute_from(doc: yaml.Node, refs: Refs) -> None:
    """A Flux Kustomization's `postBuild.substituteFrom`: the ConfigMaps and Secrets whose data
    `${var}`s in what it builds are replaced by."""
    for item in _items(_all(doc, "spec", "postBuild", "substituteFrom")):
        for kind in _texts(item, "kind") or {"ConfigMap", "Secret"}:
            refs.substituted |= {(kind, name) for name in _texts(item, "name")}
    for key in ("substitute", "substituteFrom"):
        refs.substitutions += [(key, shape(n)) for n in _all(doc, "spec", "postBuild", key)]


def substitution_changed(path: str, old: bytes | None, new: bytes | None) -> bool:
    """Whether a Flux Kustomization's postBuild substitution (`substitute`, `substituteFrom`) is
    new or changed: what it builds then takes names, namespaces and kinds from other variables,
    which review does not set (one removed with its Kustomization leaves nothing substituted)."""
    if old == new:
        return False
    now = references(path, new).substitutions
    return bool(now) and now != references(path, old).substitutions


def _texts_of(nodes: list[yaml.Node], key: str) -> set[str]:
    """`key`'s texts in the items of the sequences among `nodes`."""
    return {t for item in _items(nodes) for t in _texts(item, key)}


def _in_tree(joined: str, entry: str, refs: Refs) -> None:
    path = posixpath.normpath(joined)
    if path.startswith(("../", "/")) or path in ("..", "."):
        refs.unread.add(f"{entry} (outside the repository)")
    else:
        refs.files.add(path)


def shape(node: yaml.Node) -> object:
    """A node's content as a comparable value (tags and keys given twice kept), alias-safe: a
    node met again on the way stands as a mark."""
    seen: set[int] = set()

    def walk(n: yaml.Node) -> object:
        if id(n) in seen:
            return ("alias",)
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            return (n.tag, tuple((walk(k), walk(v)) for k, v in n.value))
        if isinstance(n, yaml.SequenceNode):
            return (n.tag, tuple(walk(i) for i in n.value))
        return (n.tag, stray.scalar_text(n))

    return walk(node)


def post_renderers_patch(path: str, old: bytes | None, new: bytes | None) -> bool:
    """Whether a HelmRelease's `postRenderers` changed and, before or after, do more than set
    images (kustomize `patches` may rename or move what Helm rendered, as a Flux
    Kustomization's may)."""
    if old == new:
        return False
    blocks = [references(path, data).post_renderers for data in (old, new)]
    if blocks[0] == blocks[1]:
        return False
    return any(not _images_only(block) for version in blocks for block in version)


def _images_only(block: object) -> bool:
    """A postRenderers block (its shape) that is a list of `kustomize: {images: ...}` only."""
    _, items = block if isinstance(block, tuple) and len(block) == 2 else (None, None)
    if not isinstance(items, tuple):
        return False
    for item in items:
        pairs = item[1] if isinstance(item, tuple) and len(item) == 2 else None
        if not isinstance(pairs, tuple) or not pairs:
            return False
        for key, value in pairs:
            inner = value[1] if isinstance(value, tuple) and len(value) == 2 else None
            if key[1:] != ("kustomize",) or not isinstance(inner, tuple):
                return False
            if any(not (isinstance(k, tuple) and k[1:] == ("images",)) for k, _ in inner):
                return False
    return True


def names_any(path: str, data: bytes | None, names: set[str]) -> bool:
    """Whether values (a file's bytes) name one of `names` or hold a template action (a chart's
    `tpl` renders it), as charts' inline-values rule judges them; no text counts as naming."""
    text = stray.decoded(data) if data is not None else None
    if text is None:
        return True
    if not (any(name in text for name in names) or any(c in text for c in ("\\", "!", "{{"))):
        return False
    docs = stray.composed(text, path)
    if docs is None:  # no YAML: judged by its text
        return any(name in text for name in names) or "{{" in text
    scalars = {t for doc in docs for node in yamlio.nodes(doc) if (t := stray.scalar_text(node)) is not None}
    return any(name in scalar or "{{" in scalar for scalar in scalars for name in names)


# -- kustomize generators making a valuesFrom ConfigMap or Secret -----------------------------------

_GENERATORS = {"ConfigMap": "configMapGenerator", "Secret": "secretGenerator"}


def generated_sources(path: str, data: bytes, wanted: tuple[str, str]) -> tuple[list[str], list[str]] | None:
    """The files and literals a kustomization's generator making `wanted` (kind, name: as built,
    with its own namePrefix/nameSuffix) reads; None when it makes no such object."""
    text = stray.decoded(data)
    docs = stray.composed(text, path) if text is not None else []
    if docs is None:
        return None
    kind, name = wanted
    folder = posixpath.dirname(path)
    found = None
    for doc in docs:
        prefixes = _texts(doc, "namePrefix") or {""}
        suffixes = _texts(doc, "nameSuffix") or {""}
        for item in _items(stray.field_values(doc, _GENERATORS.get(kind, ""))):
            made = {f"{p}{n}{s}" for n in _texts(item, "name") for p in prefixes for s in suffixes}
            if name not in made:
                continue
            files, literals = found or ([], [])
            for entry in stray.scalar_texts(_items(_all(item, "files"))) | stray.scalar_texts(
                _items(_all(item, "envs"))
            ):
                wanted_path = entry.rpartition("=")[2] if "=" in entry else entry
                files.append(posixpath.join(folder, wanted_path) if folder else wanted_path)
            literals += sorted(stray.scalar_texts(_items(_all(item, "literals"))))
            found = (files, literals)
    return found


def _all(node: yaml.Node, *keys: str) -> list[yaml.Node]:
    nodes = [node]
    for key in keys:
        nodes = [v for n in nodes for v in stray.field_values(n, key)]
    return nodes


def _items(nodes: Iterable[yaml.Node]) -> list[yaml.Node]:
    return [item for node in nodes if isinstance(node, yaml.SequenceNode) for item in node.value]


def _texts(node: yaml.Node, key: str) -> set[str]:
    return stray.scalar_texts(stray.field_values(node, key))
