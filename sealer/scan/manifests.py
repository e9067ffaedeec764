"""YAML documents as PyYAML node trees, which keep the line and column of every value.

Only the structural detectors need this, and only for files whose text mentions what they
look for, so PyYAML is imported here and nowhere else on the scan path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

Node = Any  # yaml.Node; PyYAML ships no type hints
_NEWLINE = ord("\n")


@functools.lru_cache(maxsize=1)
def _loader() -> Any:
    """PyYAML's C parser with tag resolution switched off: resolving every scalar costs more
    than parsing it, and the detectors need no types (`scalar` tells nulls apart itself)."""
    import yaml

    base = getattr(yaml, "CBaseLoader", yaml.BaseLoader)

    class Untyped(base):  # type: ignore[misc, valid-type]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            return ""

        def descend_resolver(self, parent: Any, index: Any) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

    return Untyped


# Starts with a literal, so `re` skips to the next "---" in C; the start of a line is checked after.
_DOCUMENT_START = re.compile(rb"---(?=[ \t\r\n]|\Z)")


def documents(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(lines before it, text) of each `---`-separated document, so a detector parses only the
    documents that mention what it looks for (a Secret among fifty Deployments)."""
    start, line = 0, 0
    for match in _DOCUMENT_START.finditer(data):
        if match.start() and data[match.start() - 1] != _NEWLINE:
            continue
        if match.start() > start:
            yield line, data[start : match.start()]
            line += data.count(b"\n", start, match.start())
        start = match.start()
    yield line, data[start:]


_MANIFEST_START = re.compile(rb"^([ \t]*)(?:apiVersion|kind)[ \t]*:", re.MULTILINE)
_BLOCK_END = re.compile(rb"[ \t]*(?:```|~~~|[A-Z_]+[ \t]*$)")


def embedded(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(lines before it, dedented text) of each manifest-looking block inside a file that is not
    YAML as a whole: a fenced block in Markdown, a heredoc in a script, a comment in a template.
    A block starts at an `apiVersion:` or `kind:` line and runs while lines stay as indented."""
    lines = data.split(b"\n")
    index = {0: 0}
    at = 0
    for number, line in enumerate(lines):
        index[at] = number
        at += len(line) + 1
    taken = -1
    for match in _MANIFEST_START.finditer(data):
        first = index[match.start()]
        if first <= taken:
            continue
        indent = match.group(1)
        last = first
        for number in range(first + 1, len(lines)):
            line = lines[number]
            if line.strip() and (not line.startswith(indent) or _BLOCK_END.match(line)):
                break
            last = number
        taken = last
        yield first, b"\n".join(line[len(indent) :] for line in lines[first : last + 1]) + b"\n"


def compose(data: bytes, first_line: int = 0) -> tuple[list[Node], str | None]:
    """The documents of a YAML (or JSON) stream up to the first error, and that error
    (its line counted from `first_line`, where `data` starts in its file)."""
    import yaml

    docs: list[Node] = []
    try:
        for doc in yaml.compose_all(data, Loader=_loader()):
            if doc is not None:
                docs.append(doc)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        return docs, f"not valid YAML{f' at line {mark.line + 1 + first_line}' if mark else ''}"
    return docs, None


def is_mapping(node: Node) -> bool:
    return node is not None and node.id == "mapping"


_NULLS = frozenset({"", "~", "null", "Null", "NULL"})


def scalar(node: Node) -> str | None:
    """The text of a scalar node (None for null and for anything not a scalar)."""
    if node is None or node.id != "scalar":
        return None
    if not node.style and node.value in _NULLS:  # plain (unquoted) null: style None or ""
        return None
    return str(node.value)


def items(node: Node) -> Iterator[tuple[Node, Node]]:
    """(key node, value node) pairs of a mapping whose keys are scalars."""
    if is_mapping(node):
        for key, value in node.value:
            if key.id == "scalar":
                yield key, value


def get(node: Node, key: str) -> Node:
    for name, value in items(node):
        if name.value == key:
            return value
    return None


def mappings(node: Node) -> Iterator[Node]:
    """Every mapping in the tree, this one included (Lists, values files, nested charts)."""
    stack = [node]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen or current.id == "scalar":
            continue
        seen.add(id(current))  # aliases make the tree a graph
        if current.id == "mapping":
            yield current
            stack.extend(value for _, value in current.value)
        else:
            stack.extend(current.value)


def position(node: Node) -> tuple[int, int]:
    """1-based line and column where `node` starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1
