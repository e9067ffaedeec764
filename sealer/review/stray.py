"""Files sealer does not write that a GitOps tool would apply as something sealer manages: a
SealedSecret or Secret named like an environment's, a values file's `sealer:` subtree, or an
environment's key registry (a ConfigMap or Secret, or a kustomize generator making one) — a
verifier would accept whatever fingerprints such a registry lists.

A file is read as any YAML parser may read it, not as sealer's strict reader does: decoded by
its byte-order mark (UTF-16 and UTF-32 too), escapes and `!!binary` decoded, every value of a
key given twice, any tag; an object counts wherever it sits (`objects`: a List's item, a
chart's values such as the argo-cd chart's `extraObjects`, a string holding one). A Secret or
registry is matched by name alone when no namespace of its name matches (a kustomization's
`namespace:`, Flux's `targetNamespace`, Argo CD's kustomize `namespace` move any resource into
theirs); a Secret with no namespace matches in every one (the tool that applies it picks the
namespace); a name or namespace of Flux variables (`${app}-registry`) matches every one its
literal parts fit, one SOPS encrypted (Flux decrypts it) any. A kustomization's `namespace:`,
`namePrefix:` and `nameSuffix:` move what it lists (one of Flux variables to every text its
literal parts fit): what it builds (sealer.review.kustomize) is judged by `move_findings`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import yaml

from sealer import yamlio
from sealer.errors import SealerError
from sealer.review import globmatch
from sealer.review.model import DELIVERY_CHANGE, STRAY, TRUST_ANCHOR, Finding
from sealer.scan import contents

Target = tuple[str, str]  # (namespace, name)
# Casefolded: a file holding none of these, nor a managed name, cannot spell a manifest kind,
# key, generator or patch target that matters here (an escape or a tag may spell anything).
_HINTS = ("encrypteddata", "configmap", "secret", "${", "enc[", "\\", "!")
_BINARY = "tag:yaml.org,2002:binary"
_MERGE = "tag:yaml.org,2002:merge"
_NOT_OURS = "from a file sealer does not write"
_WIRING_KINDS = {"Application", "ApplicationSet", "HelmRelease", "Kustomization"}
_WIRING_HINTS = ("application", "helmrelease", "kustomization", "\\", "!")  # casefolded
_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_NESTING = 2  # inline patches and List items read this deep (a patch in a patch, a List in a List)


def findings(
    path: str, data: bytes, targets: Iterable[Target], registries: Iterable[Target]
) -> list[Finding]:
    """A finding per way `data` (the file at `path`) delivers a managed Secret or key registry."""
    wanted = (frozenset(targets), frozenset(registries))
    hints = (*_HINTS, *(name.casefold() for _, name in (*wanted[0], *wanted[1])))
    holds = holding(hints)
    docs = documents(data, path, holds)
    if docs is None:  # binary, naming nothing wanted, or no YAML as it stands (a chart template): unapplied
        return []
    messages = (message for doc in docs for message in _delivered(doc, holds, *wanted, _NESTING))
    return [Finding(STRAY, "", path, None, message) for message in dict.fromkeys(messages)]


def wiring_finding(path: str, old: bytes | None, new: bytes | None, refs: Iterable[str]) -> Finding | None:
    """An Argo CD application, a Flux HelmRelease or Kustomization, or a kustomization that names
    one of sealer's files or folders (`refs`) decides how they reach the cluster: which values
    files Helm gets, in which order, with which overrides, what is applied and patched. A
    change to one is a change of the gate's own kind: a code owner must approve it."""
    wanted = tuple(refs)
    if old == new or not any(_wires(path, data, wanted) for data in (old, new)):
        return None
    message = (
        f"{path} wires sealer's files into the cluster (values files and their overrides, folders "
        "applied, patches): a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def unread_registry_finding(
    path: str, old: bytes | None, new: bytes | None, registries: Iterable[Target]
) -> Finding | None:
    """A manifest that named an environment's key registry (the verifier's Deployment mounting
    it) and names it no more: a verifier reading another list accepts other keys."""
    names = {name for _, name in registries}
    text = _decode(old) if old is not None and old != new else None
    if text is None or not any(name in text for name in names):
        return None
    dropped = sorted(names & (_scalars(path, old or b"") - _scalars(path, new or b"")))
    if not dropped:
        return None
    message = (
        f"no longer names the key registry {', '.join(dropped)}: a verifier reading another list "
        "accepts other keys"
    )
    return Finding(DELIVERY_CHANGE, "", path, None, message)


def _scalars(path: str, data: bytes) -> set[str]:
    """Every scalar text of a YAML file (none for one that is not YAML)."""
    return {scalar for doc in documents(data, path) or [] for scalar in _texts(yamlio.nodes(doc))}


def _wires(path: str, data: bytes | None, refs: tuple[str, ...]) -> bool:
    """Whether a file holds a GitOps object naming one of `refs`: a kustomization file, or one
    of `_WIRING_KINDS` wherever it sits (`objects`), an item of the argocd-apps chart's values,
    or a string spelling one that review cannot read as YAML (a template the chart fills)."""
    named = posixpath.basename(path) in _KUSTOMIZATION_FILES
    hints = holding(_WIRING_HINTS)
    for doc in documents(data, path, None if named else hints) or []:
        found = [] if named else list(objects(doc, path, hints))
        if any(node is TOO_DEEP for node in found):
            return True
        wiring = [doc] if named else [o for node in found for o in _wiring_objects(node)]
        texts = {text for node in wiring for text in _texts(yamlio.nodes(node))}
        texts |= {text for text in _texts(yamlio.nodes(doc)) if _spells_wiring(text)}
        if any(ref in text for text in texts for ref in refs):
            return True
    return False


# The argocd-apps chart's values: each item (a map's value, or a list's item) an Application's
# or ApplicationSet's spec, with no `kind`.
_ARGOCD_APPS = ("applications", "applicationsets")


def _wiring_objects(node: yaml.Node) -> list[yaml.Node]:
    """The GitOps objects a mapping is or lists: itself, of a wiring kind; the argocd-apps
    chart's items."""
    found = [node] if _texts(_get(node, "kind")) & _WIRING_KINDS else []
    return found + [item for key in _ARGOCD_APPS for item in _chart_items(node, key)]


def _chart_items(node: yaml.Node, key: str) -> list[yaml.Node]:
    """The items of the argocd-apps chart's `key` (`_ARGOCD_APPS`): a map's values, a list's items."""
    found: list[yaml.Node] = []
    for listed in _get(node, key):
        if isinstance(listed, yaml.MappingNode):
            found += [item for _, item in listed.value]
        found += _items([listed])
    return found


def _spells_wiring(text: str) -> bool:
    """A multi-line string that spells a `kind:` of a GitOps object (the argocd-apps chart's
    `itemTemplates`, a template as text): what it makes is unknown until a chart fills it."""
    return "\n" in text and "kind" in text and any(kind in text for kind in _WIRING_KINDS)


# What `objects` yields for a string holding an object deeper than it reads: callers fail closed.
TOO_DEEP = yaml.MappingNode("tag:sealer.invalid,2026:too-deep", [])


def file_objects(data: bytes | None, source: str, holds: Callable[[str], bool]) -> Iterator[yaml.MappingNode]:
    """`objects` of each of a file's `documents`, one look (`holds`) for the file and its strings."""
    return (node for doc in documents(data, source, holds) or [] for node in objects(doc, source, holds))


def objects(
    root: yaml.Node, source: str, holds: Callable[[str], bool], depth: int = _NESTING
) -> Iterator[yaml.MappingNode]:
    """Every mapping of a document, wherever it sits: an object nested in another's values (a
    List's items, the argo-cd chart's `extraObjects`, a HelmRelease's inline values), and those
    of the YAML documents a multi-line string holds (a chart's values as a ConfigMap's data, an
    object as text, JSON on one line), `depth` strings deep, and `TOO_DEEP` for a string holding
    an object deeper still; a string is read only when it `holds` (a cheap look)."""
    for node in yamlio.nodes(root):
        if isinstance(node, yaml.MappingNode):
            yield node
        text = _text(node)
        if text is None or ":" not in text or not holds(text):  # no mapping (JSON on one line has ':')
            continue
        docs = composed(text, source) or []
        if depth:
            yield from (found for doc in docs for found in objects(doc, source, holds, depth - 1))
        elif any(isinstance(n, yaml.MappingNode) for doc in docs for n in yamlio.nodes(doc)):
            yield TOO_DEEP  # fail closed: what a string deeper still holds is not read


def _in_text(
    text: str,
    holds: Callable[[str], bool],
    targets: frozenset[Target],
    registries: frozenset[Target],
    depth: int,
) -> Iterator[str]:
    """What the documents of a YAML text held in a string (an inline patch) deliver."""
    for doc in composed(text, "an inline patch") or []:
        yield from _delivered(doc, holds, targets, registries, depth)


def decoded(data: bytes) -> str | None:
    """The text of a file as kustomize may read it, None for binary data."""
    return _decode(data)


def documents(
    data: bytes | None, source: str, holds: Callable[[str], bool] | None = None
) -> list[yaml.Node] | None:
    """The node trees of a file's YAML documents as any parser may read them: its text as
    `decoded`, `composed` within sealer's limits. None when there is no file, it is binary, its
    text fails `holds` (a cheap look: one failing it cannot hold what the caller looks for), or
    it is not YAML: each caller says what that means (nothing delivered, or a finding)."""
    text = _decode(data) if data is not None else None
    if text is None or (holds is not None and not holds(text)):
        return None
    return composed(text, source)


def composed(text: str, source: str) -> list[yaml.Node] | None:
    """The node trees of a text's YAML documents (`yamlio.compose_documents`: no alias expanded,
    bounded, nothing constructed); None when it is not YAML."""
    try:
        return yamlio.compose_documents(text, source)
    except SealerError:
        return None


def holding(hints: Iterable[str]) -> Callable[[str], bool]:
    """A look (for `documents`) for any of `hints`, casefolded, in a text casefolded."""
    wanted = tuple(hints)

    def holds(text: str) -> bool:
        folded = text.casefold()
        return any(hint in folded for hint in wanted)

    return holds


def _decode(data: bytes) -> str | None:
    """The text of a file, None for binary data (YAML holds no NUL)."""
    encoding = contents.wide_encoding(data[: contents.SNIFF])
    if encoding is None and b"\0" in data:
        return None
    return data.decode(encoding or "utf-8", "replace").removeprefix("\ufeff")


def _delivered(
    doc: yaml.Node,
    holds: Callable[[str], bool],
    targets: frozenset[Target],
    registries: frozenset[Target],
    depth: int,
) -> Iterator[str]:
    """What a document delivers: each object nested anywhere in it (`objects`: a List's item,
    the argo-cd chart's `extraObjects` in a values file, a string holding one) and each patch."""
    for node in objects(doc, "a manifest's string", holds, depth):
        yield from _object_delivers(node, targets, registries)
        yield from _patch(node, holds, targets, registries, depth)


def _object_delivers(
    doc: yaml.Node, targets: frozenset[Target], registries: frozenset[Target]
) -> Iterator[str]:
    if doc is TOO_DEEP:
        yield f"nests YAML in strings more than {_NESTING} deep, which review does not read ({_NOT_OURS})"
    kinds = _texts(_get(doc, "kind"))
    if any("${" in kind or kind.startswith(_SOPS) for kind in kinds):  # Flux may make it any kind
        kinds |= {"SealedSecret", "Secret", "ConfigMap"}
    meta = _get(doc, "metadata")
    names, spaces = (_texts(n for m in meta for n in _get(m, key)) for key in ("name", "namespace"))
    if kinds & {"SealedSecret", "Secret"} and _named(names, spaces, targets):
        yield f"delivers a Secret sealer manages {_NOT_OURS}"
    elif kinds & {"SealedSecret", "Secret"} and _named(names, set(), targets):  # moved there once built
        for namespace, name in sorted(_named(names, set(), targets)):
            yield (
                f"delivers a Secret named like {namespace}/{name}, which sealer manages, {_NOT_OURS}: "
                "a kustomization's namespace, Flux's targetNamespace or Argo CD's may move it there"
            )
    if any(_get(sub, "encryptedData") for sub in _get(doc, "sealer")):
        yield f"delivers a Secret sealer manages (a `sealer:` subtree) {_NOT_OURS}"
    if kinds & {"ConfigMap", "Secret"}:
        for namespace, name in _registries(names, spaces, registries):
            yield f"delivers the key registry {namespace}/{name} {_NOT_OURS}"
    default = _texts(_get(doc, "namespace"))  # a kustomization's namespace for all it makes
    for generator, wanted in (("configMapGenerator", registries), ("secretGenerator", registries | targets)):
        for item in _items(_get(doc, generator)):
            made, space = (_texts(_get(item, key)) for key in ("name", "namespace"))
            for namespace, name in _registries(made, space or default, wanted):
                yield f"its {generator} makes {namespace}/{name}, which sealer delivers, {_NOT_OURS}"


def _patch(
    node: yaml.Node,
    holds: Callable[[str], bool],
    targets: frozenset[Target],
    registries: frozenset[Target],
    depth: int,
) -> Iterator[str]:
    """A kustomize patch, wherever it sits (a kustomization, a Flux Kustomization, an Argo CD
    application): a `target` naming what sealer delivers, or an inline patch that is itself
    such a manifest (a strategic merge of the key registry), on one line too."""
    for target in _get(node, "target"):
        for namespace, name in _registries(_texts(_get(target, "name")), set(), targets | registries):
            yield f"a patch targets {namespace}/{name}, which sealer delivers, {_NOT_OURS}"
    inline = [*_get(node, "patch"), *_items(_get(node, "patchesStrategicMerge"))]
    for text in _texts(inline) if depth else ():
        yield from _in_text(text, holds, targets, registries, depth - 1)


def _named(names: set[str], spaces: set[str], wanted: frozenset[Target]) -> set[Target]:
    """The wanted targets one of `names` stands for, in one of `spaces` (any namespace if none)."""
    return {
        (ns, name)
        for ns, name in wanted
        if any(_fits(n, name) for n in names) and (not spaces or any(_fits(s, ns) for s in spaces))
    }


# A value SOPS encrypted (`ENC[AES256_GCM,data:...]`): Flux decrypts it once built, any text
_SOPS = "ENC["


def _fits(given: str, wanted: str) -> bool:
    """Whether a name or namespace as written is `wanted`, or may be once Flux's postBuild
    substitution (set here or in another repository) fills its `${...}` variables, or once Flux
    decrypts it (a SOPS value: any text)."""
    if given.startswith(_SOPS):
        return True
    return variables_fit(given, wanted)


def _registries(names: set[str], spaces: set[str], wanted: frozenset[Target]) -> list[Target]:
    """The wanted targets of those names in those namespaces, else of those names in any."""
    return sorted(_named(names, spaces, wanted) or _named(names, set(), wanted))


def field_values(node: yaml.Node, key: str) -> list[yaml.Node]:
    """Every value `key` has in a mapping node, as `_get` reads it (sealer.review.charts)."""
    return _get(node, key)


def scalar_texts(nodes: Iterable[yaml.Node]) -> set[str]:
    """The texts of the scalars among `nodes`, as `_text` reads each."""
    return _texts(nodes)


def scalar_text(node: yaml.Node) -> str | None:
    return _text(node)


def _get(node: yaml.Node, key: str) -> list[yaml.Node]:
    """Every value `key` has in a mapping node: each one of a key given twice, merges (`<<`) included."""
    if not isinstance(node, yaml.MappingNode):
        return []
    found: list[yaml.Node] = []
    for name, value in node.value:
        if name.tag == _MERGE:
            merged = value.value if isinstance(value, yaml.SequenceNode) else [value]
            found += [item for mapping in merged for item in _get(mapping, key)]
        elif _text(name) == key:
            found.append(value)
    return found


def _items(nodes: Iterable[yaml.Node]) -> list[yaml.Node]:
    return [item for node in nodes if isinstance(node, yaml.SequenceNode) for item in node.value]


def _texts(nodes: Iterable[yaml.Node]) -> set[str]:
    return {text for node in nodes if (text := _text(node)) is not None}


def _text(node: yaml.Node) -> str | None:
    """A scalar's text as a Kubernetes YAML reader takes it (`!!binary` decoded), whatever its tag."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    if node.tag != _BINARY:
        return str(node.value)
    try:
        return base64.b64decode("".join(node.value.split()), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


# -- a kustomization moving or renaming what it lists ------------------------------------------------

Placed = tuple[str, str | None, str]  # (kind, namespace or None when the manifest gives none, name)
_MOVABLE = {"SealedSecret", "Secret", "ConfigMap"}
_GENERATORS = (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret"))


@dataclass(frozen=True)
class Kustomization:
    """What a kustomization lists and how it moves it: `namespace:` sets every namespace,
    `namePrefix:`/`nameSuffix:` wrap every name (each value of a key given twice counts)."""

    namespaces: frozenset[str]
    prefixes: frozenset[str]
    suffixes: frozenset[str]
    resources: tuple[str, ...]  # `resources`, `bases`: files and folders
    generated: tuple[Placed, ...]  # what its ConfigMap and Secret generators make
    # `components`: their transforms apply to what this kustomization lists too
    components: tuple[str, ...] = ()
    # What may rename, move or make objects in ways review does not redo (`unmodelled`), and
    # the patch files to read for a JSON patch of a name, namespace or kind (`patch_files`).
    unmodelled: tuple[str, ...] = ()
    patch_files: tuple[str, ...] = ()
    makes_unseen: bool = False  # a chart, generator or transformer plugin: objects review never sees
    # The namespace of what gives none (Argo CD's destination); `namespaces` overrides it.
    fills: frozenset[str] = frozenset()
    # A Flux Kustomization's postBuild substitution: it changes each built object whose text holds
    # a variable (`may_substitute`); `variables`: this kustomization's own text holds one, which its
    # transforms (labels, annotations, patches, generators) may put into any object it builds.
    substitutes: bool = False
    variables: bool = False
    generator_files: tuple[str, ...] = ()  # the files and env files its generators read

    @property
    def moves(self) -> bool:
        return bool(self.namespaces or self.prefixes or self.suffixes)

    @property
    def acts(self) -> bool:
        """Whether it may change what it builds: review then builds and judges it."""
        return bool(
            self.moves
            or self.fills
            or self.components
            or self.unmodelled
            or self.patch_files
            or self.substitutes
        )

    def apply(self, placed: Placed) -> set[Placed]:
        kind, namespace, name = placed
        given: set[str | None] = {namespace} if namespace is not None or not self.fills else {*self.fills}
        return {
            (kind, space, f"{prefix}{name}{suffix}")
            for space in self.namespaces or given
            for prefix in self.prefixes or {""}
            for suffix in self.suffixes or {""}
        }


def kustomization(path: str, data: bytes) -> Kustomization | None:
    """A kustomization file as kustomize may read it; None when it is not YAML (binary data
    reads as a kustomization listing nothing)."""
    text = _decode(data)
    docs = composed(text, path) if text is not None else []
    if docs is None:
        return None
    fields = {
        key: frozenset(t for doc in docs for t in _texts(_get(doc, key)) if t)
        for key in ("namespace", "namePrefix", "nameSuffix")
    }
    resources, components = (
        tuple(dict.fromkeys(t for doc in docs for key in keys for t in _texts(_items(_get(doc, key)))))
        for keys in (("resources", "bases"), ("components",))
    )
    unmodelled = [key for doc in docs for key in _UNMODELLED if _get(doc, key)]
    # A Flux Kustomization building it (here or in another repository) may substitute them: a
    # component of variables may be any folder; a namespace, prefix or suffix of variables is kept
    # as written and judged as every text its literal parts fit (`_fits`, `move_findings`).
    unmodelled += _flux_variables(components)
    makes_unseen = any(key in _MAKES_UNSEEN for key in unmodelled)
    patch_files: list[str] = []
    for doc in docs:
        for entry in _items([*_get(doc, "patches"), *_get(doc, "patchesJson6902")]):
            if any(_texts(_get(o, key)) - {"false"} for o in _get(entry, "options") for key in _RENAMING):
                unmodelled.append("a patch allowed to change a name or kind")
            if any(renaming_patch(text) for text in _texts(_get(entry, "patch"))):
                unmodelled.append("a JSON patch of a name, namespace or kind")
            patch_files += _texts(_get(entry, "path"))
        # kustomize's older spelling lists files and inline patches alike: a line is a file
        patch_files += [t for t in _texts(_items(_get(doc, "patchesStrategicMerge"))) if "\n" not in t]
    generated: list[Placed] = [
        (kind, space, name)
        for doc in docs
        for generator, kind in _GENERATORS
        for item in _items(_get(doc, generator))
        for name in _texts(_get(item, "name"))
        for space in _spaces(_texts(_get(item, "namespace")))
    ]
    generator_files = [
        text.split("=", 1)[-1]  # `key=path`
        for doc in docs
        for generator, _ in _GENERATORS
        for item in _items(_get(doc, generator))
        for text in (*_texts(_items([*_get(item, "files"), *_get(item, "envs")])), *_texts(_get(item, "env")))
    ]
    return Kustomization(
        fields["namespace"],
        fields["namePrefix"],
        fields["nameSuffix"],
        resources,
        tuple(generated),
        components,
        tuple(dict.fromkeys(unmodelled)),
        tuple(dict.fromkeys(patch_files)),
        makes_unseen,
        variables=text is not None and may_substitute(text),
        generator_files=tuple(dict.fromkeys(generator_files)),
    )


class Listing(Protocol):
    """A commit's folders and files (sealer.review.kustomize.Tree), which an ApplicationSet's git
    generators match."""

    @property
    def folders(self) -> Sequence[str]: ...

    @property
    def files(self) -> Sequence[str]: ...


def gitops_builds(
    path: str, data: bytes, listing: Listing, picked: Callable[[str], bool] | None = None, every: bool = False
) -> list[Kustomization]:
    """The builds a Flux Kustomization, an Argo CD application or the applications an
    ApplicationSet makes (its git generators matched in `listing`) in a manifest deploy, as
    kustomizations at the top of the repository listing its path: Flux's `targetNamespace`,
    `namePrefix`, `nameSuffix`, Argo CD's kustomize `namespace`, `namePrefix`, `nameSuffix` move
    what it builds; their components too; their patches and Flux's variable substitution are
    not redone (`unmodelled`); nor is what a config management plugin renders, named or one whose
    discover rule picks the folder (`picked`). Only those that may change what they build,
    unless `every` (what each builds: the remote references it reaches, say).
    One nested anywhere counts (a List's item, the argo-cd chart's `extraObjects` in a values
    file or a HelmRelease's values, as an object or its text: applied as it stands)."""
    found = []
    for doc in file_objects(data, path, _may_deploy):
        kinds, spec = _texts(_get(doc, "kind")), _get(doc, "spec")
        if "Kustomization" in kinds and any("fluxcd" in v for v in _texts(_get(doc, "apiVersion"))):
            found += [
                _flux_substitution(
                    _gitops(s, s, ("targetNamespace", "namePrefix", "nameSuffix"), ("patches",)), s
                )
                for s in spec
            ]
        elif "Application" in kinds:
            found += _argo_builds(spec, None, picked)
        elif "ApplicationSet" in kinds:
            found += _application_set_builds(doc, listing, picked)
    return [build for build in dict.fromkeys(_substituted(b, listing) for b in found) if every or build.acts]


def _flux_substitution(build: Kustomization, spec: yaml.Node) -> Kustomization:
    """A Flux Kustomization's postBuild substitution, judged object by object (`may_substitute`)
    unless its own labels, annotations or images hold a variable: those it puts into every
    object it builds, so any of them may change (`unmodelled`)."""
    if not _get(spec, "postBuild"):
        return build
    added = [
        t for key in ("commonMetadata", "images") for v in _get(spec, key) for t in _texts(yamlio.nodes(v))
    ]
    if any(may_substitute(t) for t in added):
        return dataclasses.replace(build, unmodelled=(*build.unmodelled, "postBuild"))
    return dataclasses.replace(build, substitutes=True)


# `$${var}`: Flux's escape for a literal `${var}`; one more `$` before it and it is read as given
_ESCAPED_VARIABLE = re.compile(r"(?<!\$)\$\$\{")


def may_substitute(text: str) -> bool:
    """Whether Flux's postBuild substitution may change an object whose text (a manifest file's,
    a kustomization's) is this: it substitutes only `${...}` in each built object's YAML, but a
    backslash escape (`"$\\x7b..."`) may spell one once kustomize writes the object out, and a
    SOPS value decrypts (before substitution) to any text."""
    return "${" in _ESCAPED_VARIABLE.sub("", text) or "\\" in text or _SOPS in text


def _substituted(build: Kustomization, listing: Listing) -> Kustomization:
    """A GitOps object's build whose spec holds `${...}`: a Flux Kustomization building it may
    substitute its variables (values review does not set). A path of a variable stands for every
    folder its literal parts fit (`./apps/${cluster}`); a namespace, prefix, suffix or component
    of one is not redone."""
    unmodelled = _flux_variables([*build.namespaces, *build.prefixes, *build.suffixes, *build.components])
    resources = tuple(
        found for path in build.resources for found in (_fitting(path, listing) if "${" in path else [path])
    )
    if not unmodelled and resources == build.resources:
        return build
    return dataclasses.replace(build, resources=resources, unmodelled=build.unmodelled + unmodelled)


def _flux_variables(texts: Iterable[str]) -> tuple[str, ...]:
    """What review does not redo when a namespace, prefix, suffix or component holds `${...}`:
    Flux's postBuild substitution gives it a value review does not know."""
    return ("a value Flux's postBuild substitution sets",) if any("${" in t for t in texts) else ()


def _fitting(path: str, listing: Listing) -> list[str]:
    """The folders a path of variables may name (a variable any text); the path itself when none
    (then it builds nothing)."""
    return [folder for folder in listing.folders if variables_fit(path, folder)] or [path]


def variables_fit(given: str, text: str) -> bool:
    """Whether `text` is what `given` may become once each `${...}` in it is any text."""
    return parts_fit(variable_parts(given), text)


def variable_parts(given: str) -> list[str]:
    """The literal texts around each of Flux's `${...}` in `given`. Its envsubst nests them
    (`${ns:=${x}}` is one, its default another variable), so a `}` closes the innermost open one;
    one left open runs to the end: the literal parts are never more than Flux leaves."""
    parts, literal_from, depth, at = [], 0, 0, 0
    while at < len(given):
        if given.startswith("${", at):
            if not depth:
                parts.append(given[literal_from:at])
            depth, at = depth + 1, at + 2
            continue
        if given[at] == "}" and depth:
            depth -= 1
            literal_from = at + 1
        at += 1
    return [*parts, "" if depth else given[literal_from:]]


def parts_fit(parts: Sequence[str], text: str) -> bool:
    """Whether `text` is `parts` (literal texts, any text between each two) joined: each part in
    order, the first at its start and the last at its end. Found left to right, not by a regex of
    `.*`s: `${a}${a}…${a}x` backtracked for hours on a 24-character name."""
    if len(parts) == 1:  # nothing between
        return parts[0] == text
    first, *middle, last = parts
    at, end = len(first), len(text) - len(last)
    if end < at or not text.startswith(first) or not text.endswith(last):
        return False
    for part in middle:
        found = text.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True


def _argo_builds(
    specs: list[yaml.Node], fill: Callable[[str], str] | None, picked: Callable[[str], bool] | None
) -> list[Kustomization]:
    """An Argo CD application's builds (an ApplicationSet's template's, `fill` setting its
    parameters)."""
    found = []
    for source in _argo_sources(specs):
        for options in _get(source, "kustomize"):
            moving = ("namespace", "namePrefix", "nameSuffix")
            found.append(_gitops(source, options, moving, ("patches",), fill))
        paths = _source_paths(source, fill)[0]
        if unseen := _argo_unseen(source, paths, picked):
            found.append(_unseen(paths, unseen))
    return found


def destination_builds(path: str, data: bytes, spaces: Iterable[str]) -> list[Kustomization]:
    """The builds of the Argo CD applications in a manifest (nested anywhere) whose
    `destination.namespace` is one of `spaces` (where sealer delivers keys): Argo CD puts there
    what a source's path builds that gives no namespace, so a ConfigMap named like a key registry
    becomes that namespace's registry. An ApplicationSet's template and the argocd-apps chart's
    items count too; a templated namespace (`{{...}}`) may be any of `spaces`."""
    wanted, none = set(spaces), frozenset[str]()
    found = []
    for doc in file_objects(data, path, lambda text: _may_deploy(text) or "applications" in text):
        for spec in _application_specs(doc):
            fills = frozenset(_texts(n for d in _get(spec, "destination") for n in _get(d, "namespace")))
            fills |= wanted if any("{{" in space for space in fills) else set()
            if fills & wanted:
                found += [
                    Kustomization(none, none, none, _source_paths(source)[0], (), fills=fills)
                    for source in _argo_sources([spec])
                    if not any(_get(k, "namespace") for k in _get(source, "kustomize"))  # it sets all
                ]
    return found


def application_specs(node: yaml.Node) -> list[yaml.Node]:
    """`_application_specs` (sealer.review.remote_sources)."""
    return _application_specs(node)


def argo_sources(specs: list[yaml.Node]) -> list[yaml.Node]:
    """`_argo_sources` (sealer.review.remote_sources)."""
    return _argo_sources(specs)


def _application_specs(node: yaml.Node) -> list[yaml.Node]:
    """The specs of the Argo CD applications a mapping is or makes: an Application's, an
    ApplicationSet's template's, and those of the argocd-apps chart's items (an Application's
    spec, or an ApplicationSet's)."""
    kinds = _texts(_get(node, "kind"))
    specs = [*(_get(node, "spec") if "Application" in kinds else []), *_chart_items(node, "applications")]
    made = application_set_specs(node)
    return [*specs, *(s for m in made for t in _get(m, "template") for s in _get(t, "spec"))]


def application_set_specs(node: yaml.Node) -> list[yaml.Node]:
    """The specs of the ApplicationSets a mapping is or makes: an ApplicationSet's, the
    argocd-apps chart's `applicationsets` items."""
    kinds = _texts(_get(node, "kind"))
    return [
        *(_get(node, "spec") if "ApplicationSet" in kinds else []),
        *_chart_items(node, "applicationsets"),
    ]


def _argo_sources(specs: list[yaml.Node]) -> list[yaml.Node]:
    return [
        *(n for s in specs for n in _get(s, "source")),
        *_items(n for s in specs for n in _get(s, "sources")),
    ]


def _unseen(paths: tuple[str, ...], what: tuple[str, ...]) -> Kustomization:
    """A build over `paths` making what review never sees (`what`): any file below them counts."""
    none: frozenset[str] = frozenset()
    return Kustomization(none, none, none, paths, (), (), what, (), makes_unseen=True)


def _may_deploy(text: str) -> bool:
    """A cheap look, run over every manifest at HEAD: a kind is read as written (Kubernetes
    matches it case-sensitively), so one the text does not spell out is escaped or tagged."""
    return any(hint in text for hint in ("Kustomization", "Application", "\\", "!"))


def _argo_unseen(
    source: yaml.Node, paths: tuple[str, ...], picked: Callable[[str], bool] | None
) -> tuple[str, ...]:
    """What an Argo CD source renders by means review does not redo: a config management plugin
    (any tool over any file of its path), named or, for a source naming no tool, one whose
    discover rule picks one of its `paths`; jsonnet variables (names built from parts)."""
    found = ["an Argo CD config management plugin"] if _get(source, "plugin") else []
    if picked is not None and not any(_get(source, tool) for tool in _TOOLS) and any(map(picked, paths)):
        found.append("an Argo CD config management plugin its discover rule picks")
    if any(_get(d, "jsonnet") for d in _get(source, "directory")):
        found.append("Argo CD's jsonnet variables")
    return tuple(found)


# A source naming one of these is built by it; one naming none, by a plugin whose discover rule
# picks its folder if any does (Argo CD asks them first).
_TOOLS = ("plugin", "helm", "kustomize", "directory", "chart")


def _source_paths(where: yaml.Node, fill: Callable[[str], str] | None = None) -> tuple[tuple[str, ...], bool]:
    """A GitOps object's `path`s from the repository's top (the top when it gives none), an
    ApplicationSet's filled in; and whether one holds a parameter left unfilled (then the folder
    its literal part names stands for it: any file below it may be built)."""
    texts = [fill(t) if fill else t for t in _texts(_get(where, "path"))]
    unfilled = fill is not None and any("{{" in t for t in texts)
    texts = [posixpath.dirname(t[: t.index("{{")] + "-") if "{{" in t and fill else t for t in texts]
    return tuple(posixpath.normpath(t.lstrip("/") or ".") for t in texts) or (".",), unfilled


def _gitops(
    where: yaml.Node,
    options: yaml.Node,
    moving: tuple[str, str, str],
    other: tuple[str, ...],
    fill: Callable[[str], str] | None = None,
) -> Kustomization:
    folders, unfilled = _source_paths(where, fill)
    space, prefix, suffix = (
        frozenset(fill(t) if fill else t for t in _texts(_get(options, key)) if t) for key in moving
    )
    listed = [fill(c) if fill else c for c in _texts(_items(_get(options, "components")))]
    components = tuple(posixpath.join(f, c) for f in folders for c in listed)
    unmodelled = tuple(key for key in other if _get(options, key))
    if fill is not None and any("{{" in t for t in (*space, *prefix, *suffix, *listed)):
        unmodelled += ("an ApplicationSet's template parameter review does not fill",)
    if unfilled:  # what it builds is unknown: every file below the folder may be
        unmodelled += ("an ApplicationSet's templated path",)
    return Kustomization(
        space, prefix, suffix, folders, (), components, unmodelled, (), makes_unseen=unfilled
    )


# -- the applications an ApplicationSet makes -------------------------------------------------------

# A parameter of a git generator as fasttemplate or a Go template spells it: `{{path.basename}}`,
# `{{ .path.basename }}`, `{{path[1]}}`, `{{ index .path.segments 1 }}`.
_PARAMETER = re.compile(r"\{\{-?\s*(?:index\s+\.path\.segments\s+(\d+)|\.?(path(?:\.\w+|\[\d+\])?))\s*-?\}\}")


def _application_set_builds(
    doc: yaml.Node, listing: Listing, picked: Callable[[str], bool] | None
) -> list[Kustomization]:
    """The builds of the applications an ApplicationSet makes: its template's (a generator's
    own template's too) for each parameter set its generators make; a git generator's folders
    and files matched in `listing`, what review does not fill failing closed. A `templatePatch`
    may set anything: every build counts as one review does not redo."""
    specs = [
        s
        for node in [*_get(doc, "spec"), *(n for g in _get_all(doc, "generators") for n in yamlio.nodes(g))]
        for t in _get(node, "template")
        for s in _get(t, "spec")
    ]
    patched = any(_get(s, "templatePatch") for s in _get(doc, "spec"))
    found = []
    for parameters in _parameter_sets(doc, listing):
        fill = functools.partial(_filled, parameters=parameters)
        found += _argo_builds(specs, fill, picked)
        if patched:
            what = ("an ApplicationSet's templatePatch",)
            found += [_unseen(_source_paths(source, fill)[0], what) for source in _argo_sources(specs)]
    return found


def _get_all(doc: yaml.Node, key: str) -> list[yaml.Node]:
    return [v for s in _get(doc, "spec") for v in _get(s, key)]


def _parameter_sets(doc: yaml.Node, listing: Listing) -> list[dict[str, str]]:
    """The `path` parameters of the applications an ApplicationSet's generators make: one set
    per folder a git directory generator matches (Go's path.Match, `exclude` honoured) and per
    file a git files generator matches (`wide_glob`); an empty
    set for a generator with no git generator inside (its parameters unfilled)."""
    found: list[dict[str, str]] = []
    for generator in _items(_get_all(doc, "generators")):
        gits = [g for n in yamlio.nodes(generator) for g in _get(n, "git")]
        if not gits:
            found.append({})
        for git in gits:
            found += _directory_parameters(git, listing) + _file_parameters(git, listing)
    return found


def _directory_parameters(git: yaml.Node, listing: Listing) -> list[dict[str, str]]:
    entries = _items(_get(git, "directories"))
    if not entries:
        return []
    globs = [
        (p.lstrip("/"), "true" in _texts(_get(e, "exclude")))
        for e in entries
        for p in _texts(_get(e, "path"))
    ]
    included = [_go_glob(p) for p, excluded in globs if not excluded]
    # an exclusion a parent generator's parameter fills may exclude nothing
    excluded = [_go_glob(p) for p, excluded in globs if excluded and "{{" not in p]
    return [
        _path_parameters(folder)
        for folder in listing.folders
        if any(g.fullmatch(folder) for g in included) and not any(g.fullmatch(folder) for g in excluded)
    ]


def _file_parameters(git: yaml.Node, listing: Listing) -> list[dict[str, str]]:
    globs = [wide_glob(p.lstrip("/")) for e in _items(_get(git, "files")) for p in _texts(_get(e, "path"))]
    return [
        {**_path_parameters(posixpath.dirname(f) or "."), "path.filename": posixpath.basename(f)}
        for f in listing.files
        if any(glob.fullmatch(f) for glob in globs)
    ]


def _path_parameters(folder: str) -> dict[str, str]:
    segments = folder.split("/")
    found = {"path": folder, "path.path": folder, "path.basename": segments[-1]}
    return found | {f"path[{i}]": segment for i, segment in enumerate(segments)}


def _filled(text: str, parameters: dict[str, str]) -> str:
    """`text` with the parameters it names set; one not in `parameters` left as written."""

    def value(match: re.Match[str]) -> str:
        key = f"path[{match[1]}]" if match[1] is not None else match[2]
        return parameters.get(key, match[0])

    return _PARAMETER.sub(value, text)


# Go's path.Match: `*` and `?` stop at a slash, a class `[...]` (`^` negating) and `\\` escape;
# a parameter a parent generator (a matrix's first) fills, `{{...}}`, may stand for any text.
_GLOB_PART = re.compile(
    r"(?P<param>\{\{.*?\}\})|\\(?P<escaped>.)|(?P<star>\*)|(?P<one>\?)"
    r"|\[(?P<cls>\^?(?:\\.|[^\]\\])+)\]|(?P<other>.)",
    re.DOTALL,
)


def _go_glob(pattern: str) -> globmatch.Glob:
    atoms = []
    for match in _GLOB_PART.finditer(pattern):
        if match["param"]:
            atoms.append(globmatch.Atom(globmatch.STAR))
        elif match["star"]:
            atoms.append(globmatch.Atom(globmatch.STAR, globmatch.not_slash))
        elif match["one"]:
            atoms.append(globmatch.Atom(globmatch.ONE, globmatch.not_slash))
        elif match["cls"] is not None:
            body = match["cls"]
            negated, body = body.startswith("^"), body.removeprefix("^")
            inner = re.sub(r"\\(.)|([\\\[\]^])", lambda m: re.escape(m[1] or m[2]), body)
            atoms.append(globmatch.Atom(globmatch.ONE, _one_of(f"[{'^' if negated else ''}{inner}]")))
        else:
            atoms += map(globmatch.literal, match["escaped"] or match["other"])
    return globmatch.Glob(atoms)


def _one_of(char_class: str) -> Callable[[str], bool]:
    """What one character a class matches; a class Go refuses (`[c-a]`) read as any: too wide is
    safe, and the pull request's pattern must not stop the review."""
    try:
        compiled = re.compile(char_class, re.DOTALL)
    except re.error:
        return globmatch.any_char
    return lambda char: compiled.fullmatch(char) is not None


# What a git files generator's glob may match, as wide as any of Argo CD's readings: `git
# ls-files -- GLOB` (its default: `*` crossing folders, a class `[!...]` or `[^...]`, a path
# naming a folder matching all below it, `:(...)` magic such as `icase`) and doublestar's (its
# `new.git.file.globbing`: `**/` matching no folder too, `{a,b}` alternatives); a parent
# generator's `{{...}}` any text. A class or alternatives match any text: too wide is safe.
_FILES_PART = re.compile(
    r"(?P<folders>(?:^|(?<=/))\*\*/)|(?P<any>\{\{.*?\}\}|\{[^}]*\}|\*+|\[[!^]?\]?[^\]]*\])"
    r"|(?P<one>\?)|\\?(?P<other>.)",
    re.DOTALL,
)


def wide_glob(pattern: str) -> globmatch.Glob:
    """A path glob read as wide as any of Argo CD's readers reads it (`_FILES_PART`): a git files
    generator's, a config management plugin's discover rule (Go's filepath.Glob, go-zglob)."""
    if pattern.startswith(":"):  # pathspec magic: read as git reads it, whatever it picks
        return globmatch.Glob([globmatch.Atom(globmatch.STAR)])
    atoms = []
    for match in _FILES_PART.finditer(pattern):
        if match["folders"]:
            atoms.append(globmatch.Atom(globmatch.FOLDERS))
        elif match["any"]:
            atoms.append(globmatch.Atom(globmatch.STAR))
        elif match["one"]:
            atoms.append(globmatch.Atom(globmatch.ONE))
        else:
            atoms.append(globmatch.literal(match["other"]))
    return globmatch.Glob(atoms, open_end=True)


# Kustomize fields that rename, move or make objects in ways review does not redo; the first
# ones make objects review never reads (a chart's templates, a plugin's output).
_MAKES_UNSEEN = ("helmCharts", "helmChartInflationGenerator", "generators", "transformers")
_UNMODELLED = (*_MAKES_UNSEEN, "replacements", "vars")
_RENAMING = ("allowNameChange", "allowKindChange")
# JSON patch paths that name, place or type an object: the whole of it, or its metadata
_IDENTITY = re.compile(r"/?(kind|apiVersion|metadata(/(name|namespace|generateName)(/.*)?)?)?/?")


def renaming_patch(text: str) -> bool:
    """Whether a patch's text is a JSON patch (RFC 6902, YAML or JSON) with an operation on an
    object's name, namespace, kind or whole metadata; a strategic merge patch keeps the name
    it matches unless its `options` allow otherwise."""
    docs = composed(text, "a patch") or []
    ops = [op for doc in docs if isinstance(doc, yaml.SequenceNode) for op in doc.value]
    return any(
        _IDENTITY.fullmatch(where)
        for op in ops
        for key in ("path", "from")
        for where in _texts(_get(op, key))
    )


def placed(path: str, data: bytes) -> list[Placed]:
    """The SealedSecrets, Secrets and ConfigMaps a manifest file holds (List items too), and the
    objects whose kind a variable gives (`${kind}`: Flux's substitution may make any of them) or
    SOPS encrypted (Flux decrypts it to any, as `_object_delivers` reads it)."""
    docs = documents(data, path, holding(("secret", "configmap", "${", "\\", "!", _SOPS.casefold()))) or []
    return list(dict.fromkeys(item for doc in docs for item in _placed(doc, _NESTING)))


def _placed(doc: yaml.Node, depth: int) -> Iterator[Placed]:
    kinds = _texts(_get(doc, "kind"))
    meta = _get(doc, "metadata")
    names, spaces = (_texts(n for m in meta for n in _get(m, key)) for key in ("name", "namespace"))
    for kind in sorted(kinds & _MOVABLE | {k for k in kinds if "${" in k or k.startswith(_SOPS)}):
        yield from ((kind, space, name) for name in sorted(names) for space in _spaces(spaces))
    if any(kind.endswith("List") for kind in kinds):
        for item in _items(_get(doc, "items")) if depth else ():
            yield from _placed(item, depth - 1)


def _spaces(given: set[str]) -> list[str | None]:
    """The namespaces a manifest gives, or None standing for none given."""
    return [*sorted(given)] or [None]


def move_findings(
    path: str,
    moved: Iterable[tuple[str, Placed, Placed]],
    targets: Iterable[Target],
    registries: Iterable[Target],
) -> list[Finding]:
    """The kustomization at `path` turns each (source file, object as written, object as built):
    a finding when it moves or renames what sealer delivers, makes something else into it, or
    moves a Secret or a key registry into a namespace sealer delivers keys to."""
    wanted = {"secret": frozenset(targets), "registry": frozenset(registries)}
    spaces = {space for group in wanted.values() for space, _ in group}
    registry_names = {name for _, name in wanted["registry"]}
    messages = []
    for source, was, now in moved:
        kind, space, name = was
        changed = (space is not None and now[1] != space) or now[2] != name
        written, built = _shown_placed(was), _shown_placed(now)
        if changed and _delivered_as(was, wanted):
            messages.append(f"moves {written} from {_escaped(source)}, which sealer delivers, to {built}")
        elif (changed or space is None) and _delivered_as(now, wanted):
            messages.append(
                f"makes {written} from {_escaped(source)} into {built}, which sealer delivers, {_NOT_OURS}"
            )
        elif space is not None and now[1] != space and _fits_any(now[1], spaces):
            if kind != "ConfigMap" or _fits_any(name, registry_names):
                messages.append(
                    f"moves {written} from {_escaped(source)} into {now[1]}, where sealer delivers keys"
                )
    return [Finding(STRAY, "", path, None, message) for message in dict.fromkeys(messages)]


def _delivered_as(item: Placed, wanted: dict[str, frozenset[Target]]) -> bool:
    """Whether an object is one sealer delivers: a Secret (or SealedSecret) it manages, or a key
    registry (a ConfigMap or Secret); one with no namespace, in any namespace."""
    kind, space, name = item
    groups = [wanted["secret"]] if kind in ("SealedSecret", "Secret") else []
    groups += [wanted["registry"]] if kind in ("ConfigMap", "Secret") else []
    return any(_fits(name, n) and (space is None or _fits(space, s)) for group in groups for s, n in group)


def _fits_any(given: str | None, wanted: Iterable[str]) -> bool:
    return given is not None and any(_fits(given, w) for w in wanted)


def _shown_placed(item: Placed) -> str:
    kind, space, name = (_escaped(text) if text is not None else None for text in item)
    return f"{kind} {space}/{name}" if space is not None else f"{kind} {name} (no namespace)"


def escaped(text: str) -> str:
    """A name an author chose as a reviewer must read it (`_escaped`)."""
    return _escaped(text)


def _escaped(text: str) -> str:
    """A name an author chose as a reviewer must read it: lookalike letters, control characters escaped."""
    return text.encode("unicode_escape").decode("ascii")
