"""Files of a Helm chart kept in the repository. Argo CD, Flux and kustomize's `helmCharts`
render such a chart with values review cannot know, so review never renders one: a file a
commit adds or changes inside a chart (a folder holding Chart.yaml at that commit) fails
closed when it could render a Secret or SealedSecret sealer manages, or a key registry.

A file could when its text (before or after the change) names one of them where it may become
an object's name (anywhere but in a workload, which only reads the Secret: `secretKeyRef`,
`envFrom`), names one inside a template action, holds `registry.json`, renders another
file of the chart (`.Files`: review does not follow it), holds an action that could make
objects of its own (`tpl`, `dict`, `fromYaml`, a `kind`: `_makes_objects`), or renders a
Secret or SealedSecret (or a kind it templates) whose name it templates, or a ConfigMap whose
name and data keys it templates. A chart holding such a template renders every managed Secret
through its helpers and values (sealer's own chart, vendored): any change to it fails closed
too. A symlink or a file review cannot read as text (a packaged subchart) in a chart does.
So does an Argo CD application or a Flux HelmRelease passing a chart values that name one
(or hold an action, which a chart's `tpl` renders); values it passes from files or objects are
sealer.review.helm_sources', what a chart's symlink leads to sealer.review.chart_links'.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

import yaml

from sealer import yamlio
from sealer.review import stray
from sealer.review.model import TRUST_ANCHOR, Finding

CHART_FILE = "Chart.yaml"  # the one name Helm loads a chart by
MAX_FILES = 500  # files of one chart judged for a template rendering a Secret: more is not passed
REGISTRY_KEY = "registry.json"  # the entry a verifier reads (sealer.registry.DATA_KEY)
_ACTION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_FILES_READ = re.compile(r"\.Files\b")
_MARK = "SEALER-TEMPLATED"  # an action's place in a template's text
_SECRETS = {"Secret", "SealedSecret"}
# Kinds that read a Secret by name and make none: naming a managed one there is a reference.
_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
# An action that could make objects of its own, wherever it stands (an action alone on its line
# is left out of the skeleton, and `nindent 0` puts its text at a line's start anyway): a mapping
# or list it builds (`toYaml (dict "kind" ...)`, a variable holding one), a string rendered as a
# template (`tpl`: a values string with actions of its own), YAML or JSON parsed back, a `kind`.
_MAKES = re.compile(r"\b(tpl|dict|list|fromYaml|fromJson|fromYamlArray|fromJsonArray|kind)\b", re.IGNORECASE)
_EMPTY_DEFAULT = re.compile(r"\bdefault\s+\(?(dict|list)\b\)?")  # `| default dict`: makes nothing
_OF_VARIABLE = re.compile(
    r"\bto\w*(Yaml|Json)\s+\(?\$\w|\$\w[\w.]*\s*\|\s*to\w*(Yaml|Json)\b|\b(with|range)\s+\$\w[\w.]*\s*-?\}\}"
)
_COMMENT = re.compile(r"\{\{-?\s*/\*.*\*/\s*-?\}\}", re.DOTALL)
_KIND_LINE = re.compile(r"kind\W*(Sealed)?Secret|kind\W*ConfigMap|kind\W*\w*List|kind[^\n]*(\{\{|\\|!)")


def folders_above(path: str) -> list[str]:
    """Every folder `path` lies in, innermost first ("" for the repository's top)."""
    folders, folder = [], posixpath.dirname(path)
    while True:
        folders.append(folder)
        if not folder:
            return folders
        folder = posixpath.dirname(folder)


def folders_on_the_way(path: str) -> list[str]:
    """The folders `path` lies in, outermost first ("a", "a/b" for "a/b/c"): where a symlink
    met on the way to `path` is met first."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def chart_file(folder: str) -> str:
    return posixpath.join(folder, CHART_FILE) if folder else CHART_FILE


def renders_managed(
    data: bytes | None, targets: Iterable[stray.Target], registries: Iterable[stray.Target], path: str = ""
) -> bool:
    """Whether a chart's file could render a managed Secret or SealedSecret, or a key registry,
    for some values (None: review cannot read it as text). A template (`path` in templates/, but
    NOTES.txt) that is no YAML once its actions are set aside could: its objects are unread."""
    text = stray.decoded(data) if data is not None else None
    if text is None:
        return True
    secrets = {name for _, name in targets}
    registry_names = {name for _, name in registries}
    names = secrets | registry_names
    actions = _ACTION.findall(text)
    if REGISTRY_KEY in text or any(name in action for action in actions for name in names):
        return True
    if any(_FILES_READ.search(action) for action in actions):  # renders another file of the chart as it is
        return True
    if any(_makes_objects(action) for action in actions):
        return True
    skeleton = _skeleton(text)
    docs = stray.composed(skeleton, "a chart's file") if skeleton is not None else None
    if docs is None and actions and _template(path):  # an action's output may be what makes it YAML
        return True
    if docs is None:  # not YAML once its actions are set aside: judged by its text alone
        return any(name in text for name in names) or _KIND_LINE.search(text) is not None
    return any(_doc_renders(doc, secrets, registry_names) for doc in docs)


# A value that is one values entry as a whole (`name: {{ .Values.settings.name }}`): what it
# renders, the values an application passes (judged on their own) name in full.
_WHOLE_VALUE = re.compile(
    r"(?m)(?<=:)([ \t]+)([\"']?)\{\{-?\s*\.Values(?:\.\w+)+\s*(?:\|\s*quote\s*)?-?\}\}\2[ \t]*$"
)


def renders_from_parts(
    data: bytes | None, targets: Iterable[stray.Target], registries: Iterable[stray.Target], path: str = ""
) -> bool:
    """`renders_managed`, a value one values entry gives whole set aside: whether a chart's file
    could render a managed Secret or key registry from what values do not name whole (a
    release's name or namespace, a name built from parts), which judging the values that an
    application passes cannot clear."""
    text = stray.decoded(data) if data is not None else None
    if text is None:
        return True
    targets, registries = list(targets), list(registries)
    names = {name for _, name in [*targets, *registries]}
    plain = _WHOLE_VALUE.sub(lambda match: f"{match[1]}values-given", text)
    plain = _RELEASE_NAMED.sub(lambda match: _release_named(match, names), plain)
    return renders_managed(plain.encode(), targets, registries, path)


# A name or namespace made of a release's name or namespace and plain text (`{{ .Release.Name }}-db`): Helm
# allows a release name and a namespace only lowercase letters, digits, `-` and `.`, so such a
# name is every text of them its literal parts fit, and no more (no `#`, quote or line break).
_RELEASE_ACTION = r"\{\{-?\s*\.Release\.(?:Name|Namespace)\s*-?\}\}"
_RELEASE_PART = rf"(?:{_RELEASE_ACTION}|[a-z0-9.-])*"
_RELEASE_NAMED = re.compile(
    rf"(?m)^([ \t]*(?:-[ \t]+)?(?:name|namespace|generateName):[ \t]+)([\"']?)"
    rf"({_RELEASE_PART}{_RELEASE_ACTION}{_RELEASE_PART})\2[ \t]*$"
)


def _release_named(match: re.Match[str], names: set[str]) -> str:
    """The name as written when it may be a managed one, else a plain name no managed one is."""
    parts = re.split(_RELEASE_ACTION, match[3])
    fits = re.compile("[a-z0-9.-]*".join(map(re.escape, parts)))
    return match[0] if any(fits.fullmatch(name) for name in names) else f"{match[1]}release-named"


def _template(path: str) -> bool:
    """A file Helm renders as templates (partials too: their defines are included), not its notes."""
    return "templates" in path.split("/")[:-1] and posixpath.basename(path) != "NOTES.txt"


def _makes_objects(action: str) -> bool:
    if _COMMENT.fullmatch(action):
        return False
    action = _EMPTY_DEFAULT.sub("", action)
    return _MAKES.search(action) is not None or _OF_VARIABLE.search(action) is not None


def _skeleton(text: str) -> str | None:
    """A template's text with each action a plain word, a line of actions only left out (an
    `{{- if }}`, an `{{ include }}` of labels); None when braces are left unbalanced. Such a line
    starting `{{- ` trims the line breaks before it: what it prints (`{{- "ey" }}`), or the line
    after it (`{{- if x -}}`), ends the last line kept (`name: engine-api-k`), which is marked."""
    actions: list[str] = []

    def token(match: re.Match[str]) -> str:
        actions.append(match[0])
        return f"\0{len(actions) - 1}\0"

    marked = _ACTION.sub(token, text) if "\0" not in text else "{{"
    if "{{" in marked or "}}" in marked:
        return None
    kept: list[str] = []
    joined: int | None = None  # the kept line a `{{- ` action's output would end
    for line in marked.split("\n"):
        found = [actions[int(index)] for index in _TOKEN.findall(line)]
        if not found or _TOKEN.sub("", line).strip():
            kept.append(line)
            joined = len(kept) - 1 if line.strip() else joined
            continue
        prints = not all(_QUIET.search(action) for action in found)
        if joined is not None and _LEFT_TRIM.match(found[0]) and (prints or _RIGHT_TRIM.search(found[-1])):
            kept[joined] += f" {_MARK}" if kept[joined].rstrip().endswith(":") else _MARK
        elif prints:
            joined = None  # a later `{{- ` ends what this printed
    return _TOKEN.sub(_MARK, "\n".join(kept))


_TOKEN = re.compile("\0(\\d+)\0")
_LEFT_TRIM, _RIGHT_TRIM = re.compile(r"\{\{-\s"), re.compile(r"\s-\}\}\Z")
# An action printing nothing (control, a variable set, a comment), or text that starts a new line
_QUIET = re.compile(
    r"\A\{\{-?\s*(/\*|(if|else|end|with|range|define|break|continue)\b|\$\w*\s*:?=[^=])"
    r"|\|\s*nindent\s+[^|]*\}\}\Z|\A\{\{-?\s*nindent\b",
    re.DOTALL,
)


def _doc_renders(doc: yaml.Node, secrets: set[str], registry_names: set[str]) -> bool:
    names = secrets | registry_names
    kinds = stray.scalar_texts(stray.field_values(doc, "kind"))
    workload = bool(kinds) and kinds <= _WORKLOADS  # a kind given twice: every one a workload
    if not workload:  # a name given anywhere but where a workload reads it may become an object's
        scalars = {text for node in yamlio.nodes(doc) if (text := stray.scalar_text(node)) is not None}
        if any(name in scalar for scalar in scalars for name in names):
            return True
    objects = [
        node
        for node in yamlio.nodes(doc)
        if isinstance(node, yaml.MappingNode) and stray.field_values(node, "kind")
    ]
    if isinstance(doc, yaml.MappingNode) and not objects and _kind_unseen(doc):
        objects.append(doc)  # an object whose `kind` an action writes: any kind
    return any(_object_renders(node, secrets, registry_names) for node in objects)


def _kind_unseen(doc: yaml.MappingNode) -> bool:
    """A document of no `kind` that is an object all the same: its `metadata` given, or a key an
    action writes (the `kind:` line an action's output, `{{ "kind" }}: ...`)."""
    keys = stray.scalar_texts(key for key, _ in doc.value)
    return "metadata" in keys or any(_MARK in key for key in keys)


def _object_renders(node: yaml.MappingNode, secrets: set[str], registry_names: set[str]) -> bool:
    """An object of a template (a mapping with a `kind`): a Secret or SealedSecret whose name is
    templated, or a ConfigMap whose name and data keys are (the verifier reads `registry.json`)."""
    kinds = stray.scalar_texts(stray.field_values(node, "kind"))
    templated = not kinds or any(_MARK in kind for kind in kinds)
    meta = stray.field_values(node, "metadata")
    given = [n for m in meta for key in ("name", "generateName") for n in stray.field_values(m, key)]
    names = stray.scalar_texts(given)
    literal = bool(names) and len(names) == len(given) and not any(_MARK in name for name in names)
    if any(kind.endswith("List") for kind in kinds):
        if not all(isinstance(items, yaml.SequenceNode) for items in stray.field_values(node, "items")):
            return True  # items the values give
    if templated or kinds & _SECRETS:
        if not literal or names & (secrets | registry_names):
            return True
    if templated or "ConfigMap" in kinds:
        if names & registry_names or (not literal and _data_open(node)):
            return True
    return False


def _data_open(node: yaml.MappingNode) -> bool:
    """Whether a ConfigMap's data keys may be anything its values say."""
    data = [*stray.field_values(node, "data"), *stray.field_values(node, "binaryData")]
    if not data:
        return True
    for entries in data:
        if not isinstance(entries, yaml.MappingNode):
            return True
        keys = stray.scalar_texts(key for key, _ in entries.value)
        if len(keys) < len(entries.value) or any(_MARK in key for key in keys):
            return True
    return False


# A value an ApplicationSet's generators fill (`{{...}}`); Flux's substitution: stray.variable_parts
_GENERATED = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def charts_named(named: Iterable[str], files: Iterable[str]) -> list[str]:
    """The charts of a commit (`files`: its files) that folders as an application or HelmRelease
    names them (`named`, from the repository's top) may be ("" for the top); a folder a template
    or a variable fills stands for every chart whose folder its literal parts fit."""
    folders = {posixpath.dirname(f) for f in files if posixpath.basename(f) == CHART_FILE}
    found = set()
    for text in named:
        trimmed = text.lstrip("/").removeprefix("./").rstrip("/")
        parts = [p for part in stray.variable_parts(trimmed) for p in _GENERATED.split(part)]
        if len(parts) == 1:
            folder = posixpath.normpath(text.lstrip("/") or ".")
            found |= {f for f in folders if (f or ".") == folder}
            continue
        found |= {f for f in folders if stray.parts_fit(parts, f or ".")}
    return sorted(found)


DEPENDENCY_FILES = ("Chart.yaml", "requirements.yaml")  # Helm 3's list of dependencies, and Helm 2's


def fetched_dependencies(data: bytes | None) -> set[str]:
    """The dependencies a chart's file lists from a `repository` (a chart repository, an OCI
    registry, or `file://` a folder that may lie outside the chart): `helm dependency build`,
    which Argo CD runs, fetches them, and review reads none. Each as its fields' texts."""
    docs = stray.documents(data, "a chart's dependencies") or []  # not YAML: Helm cannot load it either
    found = set()
    for listed in (deps for doc in docs for deps in stray.field_values(doc, "dependencies")):
        items = listed.value if isinstance(listed, yaml.SequenceNode) else [listed]
        for item in items:
            fields = ("name", "alias", "version", "repository")
            texts = [sorted(stray.scalar_texts(stray.field_values(item, key))) for key in fields]
            if texts[3] != [""] and (texts[3] or not isinstance(item, yaml.MappingNode)):
                found.add(repr(texts))
    return found


def finding(path: str, chart: str, why: str) -> Finding:
    where = f"the Helm chart {stray.escaped(chart or '.')}"
    message = (
        f"{why} in {where}, which a GitOps tool may render into a Secret sealer manages or a key "
        "registry: review does not render charts (it cannot know the values they get), so a code "
        "owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def deployed_finding(path: str, chart: str) -> Finding:
    message = (
        f"renders the Helm chart {stray.escaped(chart or '.')}, which could render a Secret sealer manages "
        "or a key registry (its release's name, namespace and values decide which): review does not "
        "render charts, so a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


_HELM_KINDS = {"Application", "ApplicationSet", "HelmRelease"}


def helm_values_finding(
    path: str,
    old: bytes | None,
    new: bytes | None,
    targets: Iterable[stray.Target],
    registries: Iterable[stray.Target],
) -> Finding | None:
    """An Argo CD application or a Flux HelmRelease passing a chart values (`helm.values`,
    `valuesObject`, `parameters`, `spec.values`) that name a Secret sealer manages, a key
    registry or `registry.json`: a chart rendering a Secret or ConfigMap of the values' name
    becomes one sealer delivers, and review does not render charts."""
    names = {name for _, name in (*targets, *registries)} | {REGISTRY_KEY}
    if old == new or not any(_passes_names(path, data, names) for data in (old, new)):
        return None
    why = "an application passing a Helm chart values that name a Secret sealer manages or a key registry"
    message = (
        f"{why}: a chart may render one of that name, and review does not render charts (it cannot "
        "know what a chart makes of its values), so a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def _passes_names(path: str, data: bytes | None, names: set[str]) -> bool:
    hints = (*names, "\\", "!", "{{")  # as written: a name's case is not folded
    # an object nested anywhere counts (a List's item, the argo-cd chart's `extraObjects`)
    for doc in stray.file_objects(data, path, lambda text: any(hint in text for hint in hints)):
        kinds = stray.scalar_texts(stray.field_values(doc, "kind"))
        helm = "HelmRelease" in kinds or any(
            stray.field_values(node, key)
            for node in yamlio.nodes(doc)
            for key in ("helm", "chart")
            if isinstance(node, yaml.MappingNode)
        )
        if kinds & _HELM_KINDS and helm:
            scalars = {text for node in yamlio.nodes(doc) if (text := stray.scalar_text(node)) is not None}
            if any(name in scalar for scalar in scalars for name in names):
                return True
            # A chart passing its values through `tpl` renders an action there: any name, built
            # by the action. An ApplicationSet renders its own `{{ }}` in what it passes Helm
            # from its generators' parameters: a name built from parts too.
            if kinds & {"Application", "HelmRelease"} and any("{{" in scalar for scalar in scalars):
                return True
            if "ApplicationSet" in kinds and any("{{" in scalar for scalar in _helm_scalars(doc)):
                return True
    return False


def _helm_scalars(doc: yaml.Node) -> set[str]:
    """The texts below every `helm` mapping of a document (what an application passes Helm)."""
    helms = [
        value
        for node in yamlio.nodes(doc)
        if isinstance(node, yaml.MappingNode)
        for value in stray.field_values(node, "helm")
    ]
    return {
        text for helm in helms for node in yamlio.nodes(helm) if (text := stray.scalar_text(node)) is not None
    }
