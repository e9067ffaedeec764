"""YAML in and out.

Reading uses PyYAML's safe C loader: ruamel's pure-Python loader takes longer than sealing
itself on large Secrets. Writing machine-made manifests uses the small emitter below for the
same reason (a ruamel dump of 5,000 sealed entries costs several times the sealing). Files
users edit (values files, SealedSecrets merged into) go through ruamel's round trip, which
keeps their comments and layout.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import yaml

from sealer import terminal
from sealer.errors import BadInput

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN = re.compile(r"[A-Za-z0-9_/+.][A-Za-z0-9_./+=@-]*")
_RESOLVER = yaml.resolver.Resolver()
_IMPLICIT_FIRST = frozenset(_RESOLVER.yaml_implicit_resolvers)
_STR, _MAP, _SEQ, _MERGE, _TIMESTAMP = (
    f"tag:yaml.org,2002:{kind}" for kind in ("str", "map", "seq", "merge", "timestamp")
)
# What a YAML reader rejects (non-printables) or folds (NEL, LS, PS) inside a quoted scalar,
# and the BOM; everything else JSON leaves unescaped is printable YAML.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# What PyYAML's and ruamel's constructors raise for a malformed typed scalar (`2024-13-45`,
# `!!int x`; ruamel's for `-_`, an integer to it, is IndexError), instead of a YAMLError.
_CONSTRUCTION_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
)
# A YAML reader only takes implicit keys of up to 1024 characters; longer ones use `? key`.
_MAX_IMPLICIT_KEY = 1000


class _FastLoader(_Loader):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader, resolving a plain scalar that no implicit resolver could claim
    (one whose first character starts none of them: base64, names, most text) straight to
    a string instead of trying each resolver in Python."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and value[:1] not in _IMPLICIT_FIRST:
            return _STR
        return super().resolve(kind, value, implicit)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


def _build(loader: Any, node: Any, built: dict[int, Any]) -> Any:
    """The Python value of `node`: plain strings, maps and lists directly (a Secret with
    thousands of entries is nothing else), any other node through PyYAML's SafeConstructor.
    Like SafeConstructor, an aliased node is built once and shared, so cycles and
    alias bombs cost no more than the document's own size."""
    kind = node.__class__
    if kind is yaml.ScalarNode and node.tag == _STR:
        return node.value
    if id(node) in built:
        return built[id(node)]
    if kind is yaml.MappingNode and node.tag == _MAP and all(key.tag != _MERGE for key, _ in node.value):
        mapping: dict[Any, Any] = built.setdefault(id(node), {})
        for key, value in node.value:
            name = _build(loader, key, built)
            if name in mapping:  # a reviewer reads the first, a parser keeps the last
                raise _DuplicateKey(name, key.start_mark.line + 1)
            mapping[name] = _build(loader, value, built)
        return mapping
    if kind is yaml.SequenceNode and node.tag == _SEQ:
        items: list[Any] = built.setdefault(id(node), [])
        items.extend(_build(loader, item, built) for item in node.value)
        return items
    built[id(node)] = loader.construct_object(node, deep=True)
    return built[id(node)]


# What a document may hold before anything is built from it (alias bombs and deep nesting are
# refused from the parser's events, before a composer or constructor expands or recurses).
MAX_DEPTH = 100
MAX_ALIASES = 1_000
MAX_NODES = 1_000_000  # counted as if every alias were expanded


def check_limits(events: Iterable[Any], source: str) -> None:
    """Refuse a stream nesting deeper than MAX_DEPTH, using more than MAX_ALIASES aliases, or
    holding more than MAX_NODES nodes once aliases are expanded, or with a directive
    (`_directive`). Takes PyYAML's or ruamel's events (same class names); an alias to a
    collection still open (a cycle) is refused too."""
    stack: list[list[Any]] = []  # [anchor, nodes so far] for each open collection
    sizes: dict[Any, int] = {}  # expanded node count of each finished anchored node
    aliases = total = 0
    for event in events:
        kind = event.__class__.__name__
        if kind == "DocumentStartEvent" and (event.version or event.tags):
            raise BadInput(f"{source}: {_directive(event)}")
        if kind in ("SequenceStartEvent", "MappingStartEvent"):
            stack.append([event.anchor, 1])
            if len(stack) > MAX_DEPTH:
                raise BadInput(f"{source}: YAML nests deeper than {MAX_DEPTH} levels")
            continue
        if kind in ("SequenceEndEvent", "MappingEndEvent"):
            anchor, count = stack.pop()
        elif kind == "ScalarEvent":
            anchor, count = event.anchor, 1
        elif kind == "AliasEvent":
            aliases += 1
            if aliases > MAX_ALIASES:
                raise BadInput(f"{source}: YAML uses more than {MAX_ALIASES} aliases")
            anchor, count = None, sizes.get(event.anchor, 0)
            if event.anchor not in sizes and any(frame[0] == event.anchor for frame in stack):
                raise BadInput(f"{source}: YAML alias *{event.anchor} refers to itself")
        else:
            continue
        if anchor is not None:
            sizes[anchor] = count
        if stack:
            stack[-1][1] += count
        else:
            total += count  # a whole document (or a top-level scalar) done
        if total > MAX_NODES or stack and stack[-1][1] > MAX_NODES:
            raise BadInput(f"{source}: YAML expands to more than {MAX_NODES} nodes (an alias bomb?)")


def _directive(start: Any) -> str:
    """Why a `%YAML` or `%TAG` directive is refused: readers disagree on what follows one. Under
    `%YAML 1.1` ruamel, which edits files, reads `y` as true and `010` as 8 and writes them back
    so (a values file's `y` became `true`), where PyYAML reads YAML 1.1 whatever it says, and
    go-yaml (Helm) has its own rules."""
    shown = "%YAML {}.{}".format(*start.version) if start.version else "%TAG"
    return f"a {shown} directive is not accepted (YAML readers disagree on what follows one): remove it"


def nodes(root: yaml.Node) -> Iterator[yaml.Node]:
    """Every node of a composed document, `root` too, each once: aliases share their node, so a
    walk costs what the text holds, never what an alias bomb would expand to."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            stack += [item for pair in node.value for item in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def merged(mapping: yaml.Node) -> list[yaml.Node]:
    """The mappings a mapping node's merge keys (`<<`) bring in, each one's own merges too.
    Readers disagree on them: PyYAML lets a key written in the mapping win over a merged one,
    Go's yaml.v2 (Helm's reader) lets whichever comes later win."""
    if not isinstance(mapping, yaml.MappingNode):
        return []
    found: list[yaml.Node] = []
    for key, value in mapping.value:
        if key.tag == _MERGE:
            for item in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                found += [item, *merged(item)]  # a cycle is refused by check_limits before
    return found


def values_of(mapping: yaml.Node, name: str) -> list[yaml.Node]:
    """The values the string key `name` is written with in a mapping node (none merged in)."""
    if not isinstance(mapping, yaml.MappingNode):
        return []
    return [value for key, value in mapping.value if key.tag == _STR and key.value == name]


def has_merge(root: yaml.Node) -> bool:
    """Whether any mapping of the tree `root` holds a merge key (`<<`)."""
    return any(
        isinstance(node, yaml.MappingNode) and any(key.tag == _MERGE for key, _ in node.value)
        for node in nodes(root)
    )


def _refuse_duplicates(loader: Any, root: Any) -> None:
    """A key twice in any mapping, also below a merge key (`<<`), whose mapping `_build` hands to
    SafeConstructor, which keeps the last silently."""
    for node in nodes(root):
        if not isinstance(node, yaml.MappingNode):
            continue
        names: set[Any] = set()
        for key, _value in node.value:
            if key.tag == _MERGE or not isinstance(key, yaml.ScalarNode):
                continue
            name = key.value if key.tag == _STR else loader.construct_object(key)
            if name in names:
                raise _DuplicateKey(name, key.start_mark.line + 1)
            names.add(name)


class Document(NamedTuple):
    """A document as `load_documents` reads it, with the node tree it was built from."""

    node: yaml.Node
    value: Any


def _load_all(text: str | bytes) -> list[Document]:
    loader = _FastLoader(text)
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                _refuse_duplicates(loader, node)
                docs.append(Document(node, _build(loader, node, {})))
        return docs
    finally:
        loader.dispose()


def load_documents(text: str | bytes, source: str) -> list[Any]:
    """Every non-empty document of a YAML (or JSON) stream, as `yaml.safe_load_all` reads it.
    Bytes must be UTF-8 (PyYAML would take UTF-16 too); see `check_limits` for the rest."""
    return [doc.value for doc in load_with_nodes(text, source)]


def load_with_nodes(text: str | bytes, source: str, empty: bool = False) -> list[Document]:
    """`load_documents`, each document with its node tree, from the one parse (a reader that
    must also see how each key was written: `mapping_keys`). `empty`: keep the empty and null
    documents too, for a file that must hold one (`only_document`): `~` or a bare `---` before
    its settings is a second document to ruamel, which edits it, and to any `safe_load`."""
    if isinstance(text, bytes):
        from sealer.safeopen import decode

        text = decode(text, source)
    try:
        check_limits(yaml.parse(text, Loader=_Loader), source)
        return [doc for doc in _load_all(text) if empty or doc.value is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"{source}: not valid YAML{where}") from None
    except _DuplicateKey as dup:
        raise BadInput(
            f"{source}: key {str(dup.key)[:64]!r} appears twice in one mapping (line {dup.line})"
        ) from None
    except _CONSTRUCTION_ERRORS as err:
        raise BadInput(f"{source}: not valid YAML: a value cannot be read ({type(err).__name__})") from None


SEVERAL_DOCUMENTS = "holds several YAML documents; expected one"
TRAILING_EMPTY = "ends with an empty YAML document (a last `---` with nothing after it)"


def trailing_empty(docs: Sequence[Document]) -> bool:
    """Whether `docs` (`load_with_nodes(..., empty=True)`) end with an empty document after
    another: `...` `---`, or a bare `---`, at the end. Helm and a GitOps tool skip it, but it is a
    second document to ruamel, so `round_trip_load` (the editor of a file whose layout sealer
    keeps) refuses the file with SEVERAL_DOCUMENTS: the one test of both a reader that drops it
    and `sealer check`, which refuses what the editor refuses."""
    return len(docs) > 1 and docs[-1].value is None


def _bad_input(source: str, what: str) -> BadInput:
    return BadInput(f"{source}: {what}")


def only_document(docs: list[Any], source: str, error: Callable[[str, str], Exception] = _bad_input) -> Any:
    """The one document of `docs` (None for none). A second is refused with `error(source, …)`
    (BadInput, or ConfigError): its reader takes the first alone, so what follows a `---` is
    checked by no one, while another reader (a GitOps tool applies each) may take it."""
    if len(docs) > 1:
        raise error(source, SEVERAL_DOCUMENTS)
    return docs[0] if docs else None


def compose_documents(text: str, source: str) -> list[yaml.Node]:
    """The node tree of every non-empty document, within `check_limits`, nothing constructed:
    a key given twice, a tag or a malformed typed scalar stays as written, for a reader that
    must see whatever any YAML parser could make of it. BadInput when it is not YAML."""
    try:
        check_limits(yaml.parse(text, Loader=_Loader), source)
        return [node for node in yaml.compose_all(text, Loader=_Loader) if node is not None]
    except yaml.YAMLError:
        raise BadInput(f"{source}: not valid YAML") from None


_INT = "tag:yaml.org,2002:int"
_DECIMAL = re.compile(r"0|-?[1-9][0-9]*")  # an integer as Python prints it: its text is the name
_READ_AS = {"int": "the integer", "float": "the float", "timestamp": "the date"}


def mapping_keys(root: yaml.Node) -> Iterator[tuple[tuple[str | int, ...], yaml.ScalarNode]]:
    """(path of its mapping, key) for every scalar key of a composed document, in document
    order; each node is walked once (an alias shares its node: the walk costs what the text holds)."""
    seen: set[int] = set()
    stack: list[tuple[tuple[str | int, ...], yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            children: list[tuple[tuple[str | int, ...], yaml.Node]] = []
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    yield path, key
                    children.append(((*path, key.value), value))
            stack += reversed(children)
        elif isinstance(node, yaml.SequenceNode):
            stack += reversed([((*path, i), item) for i, item in enumerate(node.value)])


def key_reading(key: yaml.ScalarNode) -> str | None:
    """What a YAML reader makes of the mapping key `key` when that is neither text nor a decimal
    integer written as Python prints it (whose text is then the name): `0x1`, `010` and `+1` read
    as 1 or 8, `yes` as true, `~` as null. Both readers count: PyYAML (YAML 1.1) reads every
    file, ruamel (YAML 1.2) edits them, where `0o7` and `1e3` are numbers. The document must have
    loaded (a malformed `!!int x` is refused there)."""
    if key.tag == _STR:
        plain_number = not key.style and _yaml12_reads_as_number(key.value)  # libyaml: '' is plain
        return "a number in YAML 1.2 (as sealer edits files)" if plain_number else None
    if key.tag == _MERGE or key.tag == _INT and _DECIMAL.fullmatch(key.value):
        return None
    value = yaml.constructor.SafeConstructor().construct_object(key)
    if value is None or isinstance(value, bool):
        return str(value).lower().replace("none", "null")
    return f"{_READ_AS.get(key.tag.rsplit(':', 1)[-1], 'the value')} {value}"


_YAML12_NUMBER_FIRST = frozenset("-+.0123456789")


def _yaml12_reads_as_number(text: str) -> bool:
    """Whether ruamel's round trip (YAML 1.2) reads the plain scalar `text`, which PyYAML reads
    as text, as anything else: asked of ruamel's own resolver, which takes signs and `_` where
    PyYAML does not (`+0o7`, `0o1_0` and `1_0e3` are numbers to it; `-_` one it cannot read)."""
    if text[:1] not in _YAML12_NUMBER_FIRST:  # most names: ruamel not even imported
        return False
    from ruamel.yaml.nodes import ScalarNode

    return str(_yaml12_resolver().resolve(ScalarNode, text, (True, False))) != _STR


@functools.lru_cache(maxsize=1)
def _yaml12_resolver() -> Any:
    from ruamel.yaml.resolver import VersionedResolver

    return VersionedResolver(version=(1, 2))


def first_change(old: Any, new: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The path of the first value (or key) `new` holds otherwise than `old`, None when the two
    are the same, types too (the text "1" is not the integer 1). A `.nan` is the same as another,
    though unequal to it: an edit refused over one would refuse every edit of its file."""
    if isinstance(old, dict) and isinstance(new, dict):
        for (key, value), (new_key, new_value) in zip(old.items(), new.items(), strict=False):
            if type(key) is not type(new_key) or key != new_key:
                return (*path, key)
            found = first_change(value, new_value, (*path, key))
            if found is not None:
                return found
        return None if len(old) == len(new) else path
    if isinstance(old, list) and isinstance(new, list):
        for i, (item, new_item) in enumerate(zip(old, new, strict=False)):
            found = first_change(item, new_item, (*path, i))
            if found is not None:
                return found
        return None if len(old) == len(new) else path
    same = old == new or old != old and new != new  # a NaN: unequal to itself
    return None if type(old) is type(new) and same else path


def _scalar(value: Any) -> str:
    if value.__class__ is str:  # by far the most common: skip the checks below
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    return _string(str(value))


def _string(text: str) -> str:
    return _short_string(text) if len(text) <= _SHORT else _plain_or_quoted(text)


# Short strings repeat (names, dates, ids across a ledger and its environments): their scalar
# is remembered; long ones (ciphertext) are checked by `bytes.translate`, faster than `_PLAIN`.
_SHORT = 64
_PLAIN_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/+.")
_PLAIN_REST = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./+=@-"


@functools.lru_cache(maxsize=4096)
def _short_string(text: str) -> str:
    return _plain_or_quoted(text)


def _plain_or_quoted(text: str) -> str:
    if is_plain(text) and resolves_to_str(text):
        return text
    # A JSON string is a YAML double-quoted scalar once YAML's unsafe characters are escaped.
    return flow_json(text)


def is_plain(text: str) -> bool:
    """Whether `text` matches `_PLAIN`: only characters that are never YAML syntax."""
    if len(text) <= _SHORT:
        return _PLAIN.fullmatch(text) is not None
    return (
        text[0] in _PLAIN_FIRST and text.isascii() and not text.encode("ascii").translate(None, _PLAIN_REST)
    )


# `json.dumps(value, ensure_ascii=False)` builds an encoder per call; a ledger dumps thousands.
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def flow_json(value: Any) -> str:
    """`value` as one line of JSON that a YAML parser reads back as the same value (JSON is YAML
    once the characters YAML takes for line breaks or rejects are escaped)."""
    return yaml_safe_json(_to_json(value))


def yaml_safe_json(text: str) -> str:
    """JSON text (`ensure_ascii=False`) with the characters YAML rejects or folds escaped."""
    if text.isascii() and "\x7f" not in text:  # nothing `_UNSAFE` matches: skip its slow scan
        return text
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _float(value: float) -> str:
    """YAML 1.1 floats: `.inf`/`.nan`, and an exponent needs a dot before it (`1.0e+100`)."""
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text and "." not in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{'' if exponent.startswith('-') else '+'}{exponent.lstrip('+')}"
    return text


# A YAML 1.2 number that YAML 1.1 reads as a string (`359e61515219`: no dot): ruamel's round
# trip (1.2) would read it as a float, so it is quoted for both.
_YAML12_NUMBER = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
)


# Helm and kubectl read YAML with go-yaml's YAML 1.1, where a bare y or n is a boolean too.
_GO_YAML_BOOLS = frozenset({"y", "Y", "n", "N"})
# go-yaml drops every `_` of a plain scalar starting with a digit, sign or dot, then tries Go's
# ParseInt (base prefixes in either case: `0X1F`), ParseUint and ParseFloat (`1_0e5` is 1e6,
# some versions take `+inf` and `0x1p-2` too); yaml.v3 reads `2024-1-2` as a time. Broad: a
# string quoted needlessly still reads back the same.
_GO_YAML_NUMBER = re.compile(
    r"[-+]?(?:0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[-+]?[0-9]+)?|0o[0-7]+|0b[01]+"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?|inf(?:inity)?|nan)|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}",
    re.IGNORECASE,
)
_GO_YAML_NUMBER_FIRST = frozenset("0123456789+-.")


def resolves_to_str(text: str) -> bool:
    """Whether the plain scalar `text` reads back as a string."""
    if text[:1] not in _IMPLICIT_FIRST:  # fast path: base64, names, most text
        return True
    if _YAML12_NUMBER.fullmatch(text) or text in _GO_YAML_BOOLS:
        return False
    if text[:1] in _GO_YAML_NUMBER_FIRST and _GO_YAML_NUMBER.fullmatch(text.replace("_", "")):
        return False
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    return tag == "tag:yaml.org,2002:str"


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Block-style YAML for the mapping or list `value`, appended to `out` line by line."""
    if isinstance(value, dict):
        for key, item in value.items():
            _emit_item(_key(key, indent), item, indent, out)
        return
    for item in value:
        if isinstance(item, dict) and item:  # `- key: value` with the map's other keys below
            start = len(out)
            _emit(item, indent + "  ", out)
            out[start] = f"{indent}- {out[start].lstrip()}"
        else:
            _emit_item(f"{indent}-", item, indent, out)


def _emit_item(head: str, item: Any, indent: str, out: list[str]) -> None:
    if item.__class__ is str:  # most items, first
        out.append(f"{head} {_string(item)}")
    elif isinstance(item, (dict, list)) and item:
        out.append(head)
        _emit(item, indent + "  ", out)
    elif isinstance(item, (dict, list)):
        out.append(f"{head} {'{}' if isinstance(item, dict) else '[]'}")
    else:
        out.append(f"{head} {_scalar(item)}")


def _key(key: Any, indent: str) -> str:
    text = _scalar(key)
    if len(text) > _MAX_IMPLICIT_KEY:
        return f"{indent}? {text}\n{indent}:"
    return f"{indent}{text}:"


def dump(document: dict[str, Any]) -> str:
    """`document` as block-style YAML that any YAML 1.1 reader loads back equal."""
    if not document:
        return "{}\n"
    lines: list[str] = []
    _emit(document, "", lines)
    return "\n".join(lines) + "\n"


# Each line `dump` writes for a mapping entry, after its `\n`: its indentation, its key (plain or
# JSON-quoted) and its value, if any ("" when none: `dump` writes an empty string quoted).
_DUMPED_LINE = re.compile(r'\n( *)([^ "#\n?-][^:\n]*|"(?:[^"\\\n]|\\.)*"):(?: ([^\n]*))?(?=\n)')


def load_dumped(text: str) -> dict[str, Any] | None:
    """The mapping of strings (nested or `{}`) that `dump` wrote as `text`, read without a YAML
    parser; None for any other text (read it with `load_documents`). The mapping is checked by
    dumping it again: `dump` promises any YAML reader loads that very text back as it, so equal
    text means `load_documents` would read the same (and nothing in it can be an alias, a tag
    or a key twice; a line not read here is missing from the new text). Bounded like
    `check_limits`: no deeper than MAX_DEPTH, no more nodes."""
    if not text.endswith("\n") or text.count("\n") * 2 > MAX_NODES:
        return None
    root: dict[str, Any] = {}
    open_maps: list[tuple[int, dict[str, Any]]] = [(-1, root)]  # (indentation, mapping)
    for spaces, key_text, value_text in _DUMPED_LINE.findall(f"\n{text}"):
        indent, key = len(spaces), _dumped_scalar(key_text)
        while open_maps[-1][0] >= indent:
            open_maps.pop()
        mapping = open_maps[-1][1]
        if key is None or key in mapping or len(open_maps) > MAX_DEPTH:
            return None
        if not value_text:
            child: dict[str, Any] = {}
            mapping[key] = child
            open_maps.append((indent, child))
            continue
        value: dict[str, Any] | str | None = {} if value_text == "{}" else _dumped_scalar(value_text)
        if value is None:
            return None
        mapping[key] = value
    return root if dump(root) == text else None


def _dumped_scalar(text: str) -> str | None:
    """The string a scalar `dump` wrote reads as (the caller checks it was written so)."""
    if not text.startswith('"'):
        return text
    try:
        value = json.loads(text)
        if "\\u" in text:
            value.encode("utf-8")  # a lone surrogate (`"\\ud800"`): libyaml and go-yaml refuse it
    except ValueError:  # UnicodeEncodeError is one
        return None
    return value if isinstance(value, str) else None


def dump_documents(documents: Iterable[dict[str, Any]]) -> str:
    return "---\n".join(dump(doc) for doc in documents)


def dump_json(documents: list[dict[str, Any]]) -> str:
    """One object, or a v1 List when there are several (what kubectl accepts)."""
    if len(documents) == 1:
        return json.dumps(documents[0], indent=2) + "\n"
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}, indent=2) + "\n"


def round_trip(mapping: int = 2, sequence: int = 4, offset: int = 2) -> Any:
    """A ruamel YAML instance that keeps comments, quotes and order."""
    from ruamel.yaml import YAML

    rt = YAML()
    rt.Constructor, rt.Representer = _round_trip_classes()
    rt.preserve_quotes = True
    rt.width = 1 << 16  # never fold long base64 scalars
    rt.indent(mapping=mapping, sequence=sequence, offset=offset)
    return rt


@functools.lru_cache(maxsize=1)
def _round_trip_classes() -> tuple[Any, Any]:
    """ruamel's round-trip constructor and representer, but a string an edit puts in that another
    reader takes for something else (`on`, `no`, `12:30`: true, false, 750 to PyYAML, sealer's own
    reader, and to Helm's) is written quoted, where ruamel (YAML 1.2) wrote it plain: a
    cluster or namespace named `no` was read back as false. A plain scalar the file itself holds
    stays as written (`enabled: yes`), and so does a timestamp's text: ruamel wrote its own
    (`2001-12-14t21:59:43.10-05:00` as `2001-12-14T21:59:43.100000-05:00`), the same time to
    PyYAML but another string to Helm, which keeps a timestamp's text."""
    from ruamel.yaml.constructor import RoundTripConstructor
    from ruamel.yaml.representer import RoundTripRepresenter

    class AsWritten(str):
        """A plain scalar read from the file that not every reader takes for this text."""

    class TimeText(str):
        """A timestamp's text as written (`style`: its quotes, if any)."""

        style: str | None = None

    class Constructor(RoundTripConstructor):
        def construct_yaml_str(self, node: Any) -> Any:
            value = super().construct_yaml_str(node)
            if type(value) is str and node.style is None and not resolves_to_str(value):
                return AsWritten(value)
            return value

        def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
            super().construct_yaml_timestamp(node, values)  # a malformed one refused as before
            text = TimeText(node.value)
            text.style = node.style
            return text

    class Representer(RoundTripRepresenter):
        def represent_str(self, data: Any) -> Any:
            if resolves_to_str(data):
                return super().represent_str(data)
            return self.represent_scalar(_STR, data, style="'")  # as ruamel quotes its own

        def represent_time_text(self, data: Any) -> Any:
            return self.represent_scalar(_TIMESTAMP, str(data), style=data.style)

    Constructor.add_constructor(_STR, Constructor.construct_yaml_str)
    Constructor.add_constructor(_TIMESTAMP, Constructor.construct_yaml_timestamp)
    Representer.add_representer(str, Representer.represent_str)
    Representer.add_representer(AsWritten, RoundTripRepresenter.represent_str)
    Representer.add_representer(TimeText, Representer.represent_time_text)
    return Constructor, Representer


# What round_trip_load notes on the loaded tree for round_trip_dump (ruamel drops all four).
_PREFIX = "_sealer_prefix"
_SUFFIX = "_sealer_suffix"
_INDENT = "_sealer_indent"
_LINE_END = "_sealer_line_end"
# Lines kept aside (never parsed) as YAML reads them, not as Python's strip() and splitlines() do:
# a no-break space or a form feed is no blank to YAML (a value, or a character it refuses), and
# NEL, LS and PS end a comment to ruamel and libyaml. Any other line is left in the document, for
# the load to refuse.
_COMMENT = r"(?:[ \t]+#[^\r\n\x85\u2028\u2029]*)?[ \t]*(?:\r\n?|\n)?"
_START = re.compile(r"---" + _COMMENT)
_END = re.compile(r"\.\.\." + _COMMENT)  # at column 0: no scalar's content
# A blank line or a comment alone; no tab before it, which libyaml and ruamel refuse there.
_TRIVIA = re.compile(r" *(?:#[^\r\n\x85\u2028\u2029]*)?(?:\r\n?|\n)?")


def _is(line_kind: re.Pattern[str], line: str) -> bool:
    return bool(line_kind.fullmatch(line)) and not yaml.reader.Reader.NON_PRINTABLE.search(line)


def guess_indent(text: str, mapping_only: bool = False) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation of a block-style YAML text, for ruamel's `indent`;
    `mapping_only`: stop once the mapping indentation is known (the others are then guesses)."""
    mapping, offset, parent = 0, -1, 0  # the root acts as a parent at column 0
    for line in text.splitlines():
        body = line.lstrip(" ")
        if not body.strip() or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        if parent >= 0 and (body.startswith("- ") or body.rstrip() == "-"):
            offset = indent - parent if offset < 0 else offset
        elif parent >= 0 and indent > parent:
            mapping = mapping or indent - parent
        parent = indent if body.split(" #")[0].rstrip().endswith(":") else -1
        if mapping and (offset >= 0 or mapping_only):
            break
    offset = max(offset, 0) if offset >= 0 else 2
    return mapping or 2, offset + 2, offset


def _split_start(text: str) -> tuple[str, str]:
    """(leading comments and `---` line, the rest); ruamel would drop the former. A byte order
    mark opening the file is kept with them (an editor saving "UTF-8 with BOM" wrote it)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        line = line.removeprefix("\ufeff") if index == 0 else line
        if _is(_START, line):
            return "".join(lines[: index + 1]), "".join(lines[index + 1 :])
        if not _is(_TRIVIA, line):
            break
    return "", text


def _split_end(text: str) -> tuple[str, str]:
    """(the document, its `...` end lines and the comment lines among and after them); ruamel
    would drop the latter, a user's comment among them, and keep one `...` of several. Anything
    else after a `...` is left in the document, for the load to refuse (a second document)."""
    lines = text.splitlines(keepends=True)
    index = len(lines)
    while index and (_is(_TRIVIA, lines[index - 1]) or _is(_END, lines[index - 1])):
        index -= 1
    first_end = next((i for i in range(index, len(lines)) if _is(_END, lines[i])), None)
    if first_end is None:
        return text, ""
    return "".join(lines[:first_end]), "".join(lines[first_end:])


def _line_end(text: str) -> str:
    """`\r\n` for a text whose every line ends so (a Windows editor's file), else `\n`; ruamel
    writes `\n` alone, and a mixed file is left to it."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf == text.count("\n") == text.count("\r") else "\n"


# ruamel's pure-Python round trip reads some 50-100 KB a second: a file it must keep the layout
# of is bounded far below repofiles.MAX_BYTES, so no values file can stall a command.
MAX_ROUND_TRIP_CHARS = 256 << 10


def _check_round_trip(body: str, source: str) -> None:
    """The limits of `check_limits`, checked by the C parser (a fraction of ruamel's time),
    and the size bound above."""
    if len(body) > MAX_ROUND_TRIP_CHARS:
        raise BadInput(
            f"{source}: larger than {MAX_ROUND_TRIP_CHARS} characters, the limit for a file sealer edits"
        )
    try:
        check_limits(yaml.parse(body, Loader=_Loader), source)
    except yaml.YAMLError as err:
        raise BadInput(f"{source}: not valid YAML{_where(err)}") from None


def _where(err: Any) -> str:
    mark = getattr(err, "problem_mark", None)
    return f" at line {mark.line + 1}" if mark else ""


def round_trip_load(text: str, source: str) -> Any:
    """One YAML document, loaded so that `round_trip_dump` keeps its comments and layout."""
    from ruamel.yaml.composer import ComposerError
    from ruamel.yaml.error import YAMLError

    prefix, body = _split_start(text)
    body, suffix = _split_end(body)
    indent = guess_indent(body)
    try:
        _check_round_trip(body, source)
        data = round_trip(*indent).load(body)
    except ComposerError as err:
        if "single document" not in str(err.context):
            raise BadInput(f"{source}: not valid YAML: {err.problem}") from None
        raise _bad_input(source, SEVERAL_DOCUMENTS) from None
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"{source}: not valid YAML{where}") from None
    except _CONSTRUCTION_ERRORS as err:
        raise BadInput(f"{source}: not valid YAML: a value cannot be read ({type(err).__name__})") from None
    if hasattr(data, "yaml_set_start_comment"):  # a ruamel mapping or sequence
        setattr(data, _PREFIX, prefix)
        setattr(data, _SUFFIX, suffix)
        setattr(data, _INDENT, indent)
        setattr(data, _LINE_END, _line_end(text))
    return data


def round_trip_dump(data: Any) -> str:
    """`data` as YAML; a tree from `round_trip_load` keeps its comments, `---`, `...` lines,
    indentation and line ends (CRLF)."""
    buffer = io.StringIO()
    round_trip(*getattr(data, _INDENT, (2, 4, 2))).dump(data, buffer)
    body, suffix = buffer.getvalue(), getattr(data, _SUFFIX, "")
    if suffix and (body == "...\n" or body.endswith("\n...\n")):
        body = body[:-4]  # ruamel's own end after a `|+` value: the file's `...` lines follow
    line_end = getattr(data, _LINE_END, "\n")
    if line_end != "\n":
        body = body.replace("\r\n", "\n").replace("\n", line_end)  # a comment may keep its \r
    return getattr(data, _PREFIX, "") + body + suffix


# An edit's deletion of a key, in the `changes` of `round_trip_edited`.
DELETED: Any = object()
KeyPath = tuple[str, ...]


def round_trip_edited(doc: Any, old_text: str, source: str, changes: dict[KeyPath, Any]) -> str:
    """`round_trip_dump` of `doc`, `old_text` as `round_trip_load` read it and then edited, when
    sealer's reader (check's and review's) takes the new text for the old one's data with exactly
    `changes` made (key path -> the value it now reads as, or DELETED), and the next edit can load
    it and write it back unchanged; else BadInput, for nothing to be written. ruamel reads a line
    separator (U+2028, NEL) or a `|+` value's last lines otherwise than PyYAML and Helm, and wrote
    them back so that a value the edit never touched changed, or that it could not edit again."""
    old = _only_value(old_text, source)
    text = round_trip_dump(doc)
    try:
        new = _only_value(text, source)
        again = _only_value(round_trip_dump(round_trip_load(text, source)), source)
    except BadInput:
        raise _not_kept(source, None) from None
    changed = first_change(_with_changes(old, changes), new)
    changed = first_change(new, again) if changed is None else changed
    if changed is not None:
        raise _not_kept(source, changed)
    return text


def _only_value(text: str, source: str) -> Any:
    return only_document(load_documents(text, source), source)


def _key_path(path: tuple[Any, ...], limit: int) -> str:
    """`path`'s keys joined by dots, within about `limit` characters: cut between keys or words,
    never through one (`terminal.cut`), so a credential pasted as a key is shown whole, for the
    redaction of every error line to hide, or not at all."""
    shown: list[str] = []
    room = limit
    for part in map(str, path):
        if len(part) > room:
            return ".".join([*shown, terminal.cut(part, room) if room > 0 else "…"])
        shown.append(part)
        room -= len(part) + 1
    return ".".join(shown)


def _not_kept(source: str, changed: tuple[Any, ...] | None) -> BadInput:
    """The refusal, naming the first value that would read otherwise (`first_change`), if any:
    the line to simplify, in a file of thousands."""
    where = "" if changed is None else f" (the first to read otherwise: {_key_path(changed, 64)!r})"
    return BadInput(
        f"{source}: sealer's editor cannot rewrite this file keeping its other values as they read{where}"
        " (nothing written): simplify its odd text, e.g. line separators (U+2028, U+2029, U+0085),"
        " a byte order mark within it, a `|+` block at its end"
    )


def _with_changes(data: Any, changes: dict[KeyPath, Any]) -> Any:
    """A copy of `data` (as `load_documents` reads it) with each of `changes` made as a ruamel
    tree takes it: a key set in place keeps its position, a new one goes last, a mapping missing
    (or null) on the way is made."""
    root = {"": copy.deepcopy(data)}
    for path, value in changes.items():
        parent, key = root, ""
        for step in path:
            if not isinstance(parent.get(key), dict):
                parent[key] = {}
            parent, key = parent[key], step
        if value is DELETED:
            parent.pop(key, None)
        else:
            parent[key] = value
    return root[""]


def scalar(value: Any) -> str:
    """One YAML scalar: plain when that reads back as the same string, else double-quoted."""
    return _scalar(value)


def last_comment_slot(node: Any) -> tuple[Any, Any, int] | None:
    """(container, key, slot) where ruamel keeps the comment lines that follow `node`'s last line."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    while isinstance(node, (CommentedMap, CommentedSeq)) and len(node):
        key = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        child = node[key]
        if not isinstance(child, (CommentedMap, CommentedSeq)) or not len(child):
            return node, key, 2 if isinstance(node, CommentedMap) else 0
        node = child
    return None


def move_following_comment(source: tuple[Any, Any, int] | None, new: Any) -> None:
    """ruamel files the comment lines below a node under its last (deepest) entry, at `source`:
    move them to the last entry of `new`, the node replacing it, so the comment above the next
    setting survives the replacement."""
    target = last_comment_slot(new)
    if source is None or target is None:
        return
    container, key, slot = source
    tokens = container.ca.items.get(key) or []
    token = tokens[slot] if len(tokens) > slot else None
    if token is None or "\n" not in token.value:
        return
    tokens[slot] = None
    token.value = "\n" + token.value.split("\n", 1)[1]  # not the old line's own end-of-line comment
    new_container, new_key, new_slot = target
    new_container.ca.items.setdefault(new_key, [None, None, None, None])[new_slot] = token
