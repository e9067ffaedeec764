"""Argo CD config management plugins a repository configures: a ConfigManagementPlugin spec, as
a manifest or as the text of a value (the sidecar mounts a ConfigMap's `plugin.yaml`), or in the
argo-cd chart's values (`configs.cmp.plugins`, a HelmRelease's inline values too). Argo CD
asks each plugin's `discover` rule whether it renders an application whose source names no tool
(no `helm`, `kustomize`, `directory`, `plugin` or chart) before it builds the folder itself, so
a file added to the folder may hand the whole folder to a plugin, whose output review never
sees. Read as any YAML parser may read it (sealer.review.stray's reader).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import yaml

from sealer.review import helm_refs, stray

KIND = "ConfigManagementPlugin"
WORDS = (KIND, "cmp", "\\", "!!")  # what a file holding a spec holds (git grep, any case): escapes spell any
Rule = str | None  # a glob of the files below an application's folder; None: any folder (a command)
_NESTING = 2  # a spec in a value of a manifest, in a value of that


def specs(path: str, data: bytes | None) -> list[yaml.Node]:
    """The `spec`s of the ConfigManagementPlugins a file holds."""
    docs = stray.documents(data, path, stray.holding((KIND.casefold(), "cmp", "\\", "!"))) or []
    return [spec for doc in docs for spec in _specs(doc, path, _NESTING)]


def _specs(root: yaml.Node, path: str, depth: int) -> list[yaml.Node]:
    found = []
    for node in stray.objects(root, path, lambda text: KIND in text, depth):
        if KIND in stray.scalar_texts(stray.field_values(node, "kind")):
            found += stray.field_values(node, "spec")
        for listed in (
            p for cmp in stray.field_values(node, "cmp") for p in stray.field_values(cmp, "plugins")
        ):
            found += [spec for _, spec in listed.value] if isinstance(listed, yaml.MappingNode) else []
    return found


def rules(path: str, data: bytes | None) -> list[Rule]:
    """The discover rules of the plugins a file configures: `fileName` and `find.glob` globs,
    None for a `find.command` or a rule review cannot read (it may pick any folder)."""
    found: list[Rule] = []
    for discover in (d for spec in specs(path, data) for d in stray.field_values(spec, "discover")):
        globs = stray.scalar_texts(stray.field_values(discover, "fileName"))
        finds = stray.field_values(discover, "find")
        globs |= stray.scalar_texts(n for f in finds for n in stray.field_values(f, "glob"))
        commands = [n for f in finds for n in stray.field_values(f, "command")]
        found += sorted(globs)
        found += [None] if commands or not globs else []
    return found


def picks(found: list[Rule], files: Iterable[str]) -> bool:
    """Whether a discover rule picks a folder holding `files` (paths below it); a glob read as
    wide as any of Argo CD's readers (`**/` over no folder, `{a,b}`, `[^...]`, a leading slash
    joined to the folder; `..` leaving it picks any), its `*` across folders (`find.glob`
    reads the folder whole)."""
    rules = [re.sub(r"^(?:\.?/)+", "", rule) for rule in found if rule is not None]
    if len(rules) < len(found) or any(".." in rule.split("/") for rule in rules):
        return True  # a command, or a glob reading files beside the folder: any folder may be picked
    wanted = [stray.wide_glob(rule) for rule in rules]
    return any(glob.fullmatch(f) for f in files for glob in wanted)


def changed(path: str, old: bytes | None, new: bytes | None) -> bool:
    """Whether a file's plugin specs are new or changed (what they run, what they pick)."""
    if old == new:
        return False
    now = [helm_refs.shape(s) for s in specs(path, new)]
    return bool(now) and now != [helm_refs.shape(s) for s in specs(path, old)]
