"""YAML in and out.

Reading uses PyYAML's safe C loader: ruamel's pure-Python loader takes longer than sealing
itself on large Secrets. Writing machine-made manifests uses the small emitter below for the
same reason (a ruamel dump of 5,000 sealed entries costs several times the sealing). Files
users edit (values files, SealedSecrets merged into) go through ruamel's round trip, which
keeps their comments and layout.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from typing import Any

import yaml

from sealer.errors import BadInput

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN = re.compile(r"[A-Za-z0-9_/+.][A-Za-z0-9_./+=@-]*")
_RESOLVER = yaml.resolver.Resolver()


def load_documents(text: str | bytes, source: str) -> list[Any]:
    """Every non-empty document of a YAML (or JSON) stream."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"{source}: not valid YAML{where}") from None


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and _resolves_to_str(text):
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _resolves_to_str(text: str) -> bool:
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    return tag == "tag:yaml.org,2002:str"


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Block-style YAML for the mapping or list `value`, appended to `out` line by line."""
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for key, item in items:
        head = f"{indent}{_scalar(key)}:" if isinstance(value, dict) else f"{indent}-"
        if isinstance(item, dict) and item and key is None:
            start = len(out)
            _emit(item, indent + "  ", out)
            out[start] = f"{indent}- {out[start].lstrip()}"
        elif isinstance(item, (dict, list)) and item:
            out.append(head)
            _emit(item, indent + "  ", out)
        elif isinstance(item, (dict, list)):
            out.append(f"{head} {'{}' if isinstance(item, dict) else '[]'}")
        else:
            out.append(f"{head} {_scalar(item)}")


def dump(document: dict[str, Any]) -> str:
    lines: list[str] = []
    _emit(document, "", lines)
    return "\n".join(lines) + "\n"


def dump_documents(documents: Iterable[dict[str, Any]]) -> str:
    return "---\n".join(dump(doc) for doc in documents)


def dump_json(documents: list[dict[str, Any]]) -> str:
    """One object, or a v1 List when there are several (what kubectl accepts)."""
    if len(documents) == 1:
        return json.dumps(documents[0], indent=2) + "\n"
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}, indent=2) + "\n"


def round_trip() -> Any:
    """A ruamel YAML instance that keeps comments, quotes and order."""
    from ruamel.yaml import YAML

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 1 << 16  # never fold long base64 scalars
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def round_trip_load(text: str, source: str) -> Any:
    from ruamel.yaml.error import YAMLError

    try:
        return round_trip().load(text)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"{source}: not valid YAML{where}") from None


def round_trip_dump(data: Any) -> str:
    buffer = io.StringIO()
    round_trip().dump(data, buffer)
    return buffer.getvalue()
