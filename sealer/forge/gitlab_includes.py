"""The project's own files GitLab merges into a pipeline: `.gitlab-ci.yml` and what it includes
from the same repository (`include:` a path, a list of them, `local:`), followed through the
includes of each file read. A job `sealer-review` in any of them replaces the gate's image or
script, so `ci init gitlab` owns them in CODEOWNERS and `review` counts each a gate file.

`include: project:`, `remote:`, `template:` and `component:` come from outside this repository's
merge request and are not followed, but for a `project:` or `component:` at a version naming a
variable (`$CI_COMMIT_SHA`): `$CI_PROJECT_PATH` there is this project at the merge request's own
commit, GitLab's way to test a component, its files read as local ones; another project's may be
this one. A path naming a variable cannot be known: it is `unread`, as is a file that cannot be
read safely, so the caller fails closed.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import yaml

from sealer import yamlio
from sealer.errors import BadInput

CI_FILE = ".gitlab-ci.yml"
MAX_FILES = 1000  # files read in all (GitLab's own default limit is 150 includes a pipeline)
_STR = "tag:yaml.org,2002:str"
_REMOTE = ("http://", "https://")
# $VARIABLE, ${VARIABLE}, $[[ inputs.name ]] and %VARIABLE% (GitLab expands this form in an
# include too, an unknown one to nothing): known only to the pipeline
_VARIABLE = re.compile(r"\$|%[A-Za-z_][A-Za-z0-9_]*%")
_THIS_PROJECT = r"\$(?:CI_PROJECT_PATH|\{CI_PROJECT_PATH\})"
# [HOST/]$CI_PROJECT_PATH/NAME: a component of this project, `templates/NAME.yml` or
# `templates/NAME/template.yml` in it
_OWN_COMPONENT = re.compile(rf"(?:.*/)?{_THIS_PROJECT}/(?P<name>[^/$@]+)")

# A file's text (None: there is none), read without following a symlink and within sealer's
# size limit; BadInput when it cannot be read so.
Read = Callable[[str], str | None]
# The files a wildcard include matches, to follow their own includes (review: BASE's tree).
Expand = Callable[[str], Iterable[str]]


@dataclass(frozen=True)
class Includes:
    files: tuple[str, ...] = ()  # repository paths (no leading `/`), CI_FILE not among them
    patterns: tuple[str, ...] = ()  # wildcard includes (`*`, `**`), as GitLab matches them
    unread: tuple[str, ...] = ()  # why some include could not be known, one line each


def wildcard(path: str) -> bool:
    return "*" in path


def local_includes(read: Read, expand: Expand | None = None) -> Includes:
    """Every local include of CI_FILE, its includes' includes too (each file read once)."""
    files: list[str] = []
    patterns: list[str] = []
    unread: list[str] = []
    todo, seen = [CI_FILE], {CI_FILE}
    while todo:
        path = todo.pop(0)
        if len(seen) > MAX_FILES:
            unread.append(f"{CI_FILE} includes more than {MAX_FILES} files")
            break
        paths, problems = _read_includes(read, path)
        unread += problems
        for found in paths:
            if wildcard(found):
                patterns += [] if found in patterns else [found]
                matched = list(expand(found)) if expand else []
            else:
                matched = [found]
            for name in matched:
                if name not in seen:
                    seen.add(name)
                    files.append(name)
                    todo.append(name)
    return Includes(tuple(files), tuple(patterns), tuple(unread))


def _read_includes(read: Read, path: str) -> tuple[list[str], list[str]]:
    try:
        text = read(path)
        if text is None:
            return [], []
        documents = yamlio.compose_documents(text, path)
    except BadInput as err:
        return [], [str(err)]
    paths: list[str] = []
    problems: list[str] = []
    for node in _include_values(documents):
        for entry in node.value if isinstance(node, yaml.SequenceNode) else [node]:
            for written in _local(entry, path, problems):
                _add_path(written, path, paths, problems)
    return paths, problems


def _include_values(documents: list[yaml.Node]) -> Iterator[yaml.Node]:
    """The values of each document's top-level `include:` (merged in by `<<` too, each given)."""
    for doc in documents:
        for mapping in (doc, *yamlio.merged(doc)):
            yield from yamlio.values_of(mapping, "include")


def _local(entry: yaml.Node, source: str, problems: list[str]) -> Iterator[yaml.Node]:
    """The path nodes of one include entry that name a file of this repository."""
    if isinstance(entry, yaml.ScalarNode) and not entry.value.startswith(_REMOTE):
        yield entry  # a plain string: local unless a URL
    elif isinstance(entry, yaml.MappingNode):
        for mapping in (entry, *yamlio.merged(entry)):
            yield from yamlio.values_of(mapping, "local")
            yield from _own_project(mapping, source, problems)
    elif not isinstance(entry, yaml.ScalarNode):
        problems.append(f"{source}: an include (line {entry.start_mark.line + 1}) is not a path or a mapping")


def _own_project(mapping: yaml.Node, source: str, problems: list[str]) -> Iterator[yaml.Node]:
    """The path nodes a `component:` or `project:` include names in this repository at the merge
    request's commit: one at a version naming a variable (else a release, a tag, a branch's tip)."""
    for node in yamlio.values_of(mapping, "component"):
        yield from _own_component(node, source, problems)
    refs = yamlio.values_of(mapping, "ref")
    if not any(_variable(ref) for ref in refs):
        return  # none: the project's default branch
    if not all(map(_this_project, yamlio.values_of(mapping, "project"))):
        problems.append(_elsewhere(source, refs[0], "project"))
        return
    for files in yamlio.values_of(mapping, "file"):
        yield from files.value if isinstance(files, yaml.SequenceNode) else [files]


def _own_component(node: yaml.Node, source: str, problems: list[str]) -> Iterator[yaml.Node]:
    # GitLab splits at the first `@`: `c@v@$SHA` is component c at version `v@$SHA`
    address, _, version = node.value.partition("@") if isinstance(node, yaml.ScalarNode) else ("", "", "$")
    if not _VARIABLE.search(version):
        return
    own = _OWN_COMPONENT.fullmatch(address)
    if own is None:
        problems.append(_elsewhere(source, node, "component"))
        return
    for path in (f"templates/{own['name']}.yml", f"templates/{own['name']}/template.yml"):
        yield yaml.ScalarNode(_STR, path, node.start_mark)


def _variable(node: yaml.Node) -> bool:
    """A version the pipeline gives (`$CI_COMMIT_SHA`), or one not written as text."""
    return not isinstance(node, yaml.ScalarNode) or _VARIABLE.search(node.value) is not None


def _this_project(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and re.fullmatch(_THIS_PROJECT, node.value) is not None


def _elsewhere(source: str, node: yaml.Node, key: str) -> str:
    return (
        f"{source}: include (line {node.start_mark.line + 1}) `{key}:` at a version naming a variable "
        "may be this project at the merge request's commit"
    )


def _add_path(node: yaml.Node, source: str, paths: list[str], problems: list[str]) -> None:
    where = f"{source}: include (line {node.start_mark.line + 1})"
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
        problems.append(f"{where} is not a path")
        return
    parts = [p for p in node.value.lstrip("/").split("/") if p not in ("", ".")]
    if _VARIABLE.search(node.value):
        problems.append(f"{where} {node.value!r} names a variable")
    elif not parts or ".." in parts or any(c in node.value for c in "\0\n\r"):
        problems.append(f"{where} {node.value!r} is not a path inside the repository")
    else:
        paths.append(posixpath.join(*parts))
