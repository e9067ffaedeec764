"""`sealer render ENV`: write the `sealer:` subtree of each cluster's Helm values file.

Only that subtree changes; the user's other values and comments survive (ruamel round trip).
The same state always gives byte-identical files, so re-rendering is a no-op in Git.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from sealer import cert_pins, git, ledger, lock, provenance, registry, repofiles, state, templating, yamlio
from sealer.config import Cluster, Config, Environment
from sealer.errors import BadInput
from sealer.records import KeyRecord, iso

SUBTREE = "sealer"
_COMMENT_LINE = re.compile(r"\s*(#.*)?|---(\s+#.*)?")


def checksum(records: dict[str, KeyRecord]) -> str:
    """Changes whenever a key changes: the chart puts it on the pod template so pods roll."""
    ids = json.dumps({name: r.key_id for name, r in sorted(records.items())}, sort_keys=True)
    return hashlib.sha256(ids.encode()).hexdigest()


class KeyRow(NamedTuple):
    """What the values template shows of a key, its times as text already: a function called
    from a template costs jinja a microsecond a call, hundreds of times a file."""

    key_id: str
    fingerprint: str
    created: str | None
    expires: str | None


def subtree_text(
    env: Environment, cluster: Cluster, sealed_doc: dict[str, Any], records: dict[str, KeyRecord]
) -> str:
    encrypted = state.encrypted_data(sealed_doc)
    annotations = state.annotations_of(sealed_doc)
    main_fp = str(annotations.get(provenance.CERT_ANNOTATION, ""))
    return templating.render(
        "values.sealer.yaml.j2",
        env=env,
        cluster=cluster,
        cert_fingerprint=main_fp,
        encrypted={name: encrypted[name] for name in env.keys if name in encrypted},
        records={name: key_row(r) for name, r in records.items()},
        checksum=checksum(records),
    )


def key_row(record: KeyRecord) -> KeyRow:
    return KeyRow(record.key_id, record.fingerprint, iso(record.created), iso(record.expires))


def helm_read(docs: list[yamlio.Document]) -> list[yamlio.Document]:
    """What Helm reads of a values file's every document (`yamlio.load_with_nodes(...,
    empty=True)`): those up to the last that holds something (`yamlio.trailing_empty`). It reads
    the first alone, empty or not: one holding the `sealer:` subtree after a `--- ~` is not
    delivered, though a reader of the non-empty ones (`yamlio.load_documents`) would take it
    for the values."""
    docs = list(docs)
    while yamlio.trailing_empty(docs):
        docs.pop()
    return docs


# What any merge key is written with: `<<` itself or escaped in double quotes (`"\x3c\x3c"`, a
# merge to PyYAML and Go's yaml.v2 alike when tagged `!` or `!!merge`), a tag spelling `merge`
# with its letters or with a URI escape (`!!m%65rge`).
_MAY_MERGE = re.compile(r"<<|merge|%|\\")


def merged_subtree(text: str, source: str) -> bool:
    """Whether a merge key (`<<`) gives the `sealer` key or any key below it in a values file of
    one document: YAML readers differ on which of a merged key and the one written beside it
    wins (`yamlio.merged`), so Helm could deliver another subtree than the one sealer reads and
    checks. sealer writes none. The loaded document's nodes have their merges flattened: this
    composes the text again, when it could hold a merge key at all."""
    if not _MAY_MERGE.search(text):
        return False
    composed = yamlio.compose_documents(text, source)
    top = composed[0] if composed else None
    if top is None:
        return False
    if any(yamlio.values_of(mapping, SUBTREE) for mapping in yamlio.merged(top)):
        return True
    return any(yamlio.has_merge(value) for value in yamlio.values_of(top, SUBTREE))


def render_values(values_text: str | None, subtree: str, source: str) -> str:
    """The values file with its `sealer:` key replaced, everything else as the user wrote it."""
    spliced = splice_values(values_text, subtree) if values_text else None
    if spliced is not None:
        return spliced
    doc = yamlio.round_trip_load(values_text, source) if values_text and values_text.strip() else None
    if doc is None:  # an empty file, or only comments: keep them above the new mapping
        doc = yamlio.round_trip_load(_comment_lines(values_text or "") + "{}\n", source)
        doc.fa.set_block_style()
    if not hasattr(doc, "items"):
        raise BadInput(f"{source}: a values file must be a YAML mapping")
    new = yamlio.round_trip_load(subtree, "rendered values")
    _move_following_comment(doc, new)
    doc[SUBTREE] = new
    rendered = yamlio.load_documents(subtree, "rendered values")[0]
    return yamlio.round_trip_edited(doc, values_text or "", source, {(SUBTREE,): rendered})


# What `editor_refusal` renders in place of a file's subtree: nested as every rendering is.
_PROBE_SUBTREE = "encryptedData:\n  probe: x\n"


def editor_refusal(values_text: str, source: str) -> BadInput | None:
    """Why sealer's editor would refuse to render into a values file (`render_values`' own
    decision, nothing written), None when it would not: YAML that sealer's reader takes, but
    ruamel refuses (a blank line holding a tab) or would write back otherwise, stops every
    rotation of its environment. A file the fast path takes costs what that path costs; ruamel's
    round trip runs only for one it does not take."""
    try:
        render_values(values_text, _PROBE_SUBTREE, source)
    except BadInput as err:
        return err
    return None


_SUBTREE_LINE = re.compile(rf"{SUBTREE}:[ \t]*(#.*)?\n")
# A blank line holding a tab: libyaml reads it after a plain scalar (the probe's `1`) but refuses
# it after a quoted or flow one, or a key without a value, depending on its indentation.
_BLANK_WITH_TAB = re.compile(r"^ *\t[ \t]*$", re.MULTILINE)


def splice_values(values_text: str, subtree: str) -> str | None:
    """The fast path for a file that has a block-style `sealer:` key already (its lines swapped
    for the rendered subtree, indented as ruamel would) or none yet (the subtree appended);
    None when the file is not that simple. A ruamel round trip costs ~50 ms a file, most of a
    100-environment rotation; this checks its result with the fast loader instead (see
    `_splice_keeps`), so any file it cannot handle takes the slow path."""
    if "\r" in values_text or "\t" in values_text and _BLANK_WITH_TAB.search(values_text):
        return None
    lines = values_text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(SUBTREE) and _SUBTREE_LINE.fullmatch(line)]
    indent = yamlio.guess_indent(values_text, mapping_only=True)[0]
    body = _indented(subtree, indent)
    if len(starts) > 1 or body is None:
        return None
    if not starts:  # a first rendering: the file must end its last line and hold no `sealer` key
        if not values_text.endswith("\n"):
            return None
        text = f"{values_text}{SUBTREE}:\n{body}"
        keeps = _splice_keeps([values_text, f"{SUBTREE}:\n"], [], body, [], indent, values_text)
        return text if keeps or keeps is None and _same_values(text, values_text, subtree, True) else None
    start = end = starts[0]
    for index in range(start + 1, len(lines)):
        content = lines[index].strip()
        if content and lines[index][0] != " ":
            break
        if content and content[0] != "#":
            end = index
    head, old_body, tail = lines[: start + 1], lines[start + 1 : end + 1], lines[end + 1 :]
    text = "".join([*head, body, *tail])
    keeps = _splice_keeps(head, old_body, body, tail, indent, None)
    return text if keeps or keeps is None and _same_values(text, values_text, subtree, False) else None


# A line of a subtree (after its `\n`) indented by an odd number of spaces, or blank (for
# `str.strip`, in a text holding no break `_PLAIN_LINE_BREAKS` names).
_ODD_OR_BLANK = re.compile(r"\n(?:(?:  )* (?=[^ ])|[ \t\x1f]*(?=\n|\Z))")
# What `str.splitlines` breaks an ASCII text at besides `\n`.
_PLAIN_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e"


def _indented(subtree: str, indent: int) -> str | None:
    """The subtree's lines one level under `sealer:` (the template indents by two)."""
    if indent == 2 and subtree.endswith("\n") and subtree.isascii():
        if not any(c in subtree for c in _PLAIN_LINE_BREAKS):  # lines end at `\n` alone
            lines = subtree[:-1]
            return None if _ODD_OR_BLANK.search(f"\n{lines}") else "  " + lines.replace("\n", "\n  ") + "\n"
    body = []
    for line in subtree.splitlines(keepends=True):
        depth = len(line) - len(line.lstrip(" "))
        if depth % 2 or not line.strip():
            return None
        body.append(" " * (indent * (depth // 2 + 1)) + line.lstrip(" "))
    return "".join(body)


# One line of a block mapping as sealer writes it: plain tokens or one-line JSON-style quoted
# strings, no anchors, aliases, tags, flow collections, block scalars or multi-line scalars.
_TOKEN = r"[A-Za-z0-9_/+.][A-Za-z0-9_./+=@-]*"
_QUOTED = r'"(?:[^"\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]|\\["\\/bfnrt])*"'
_SCALAR = rf"(?:{_TOKEN}|{_QUOTED})"
# A comment runs to the line's end; it holds nothing `str.splitlines` or a YAML reader (NEL, LS,
# PS) may take for a line break, which would hide the line after it from `_KEY_LINE`.
_COMMENT = "#[^\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*"
_LINE = rf" *(?:{_COMMENT}|{_SCALAR}:(?: +{_SCALAR})?(?: +{_COMMENT})?)? *"
# A whole block of such lines, checked in one match (no scalar above holds a line break either).
_SIMPLE_LINES = re.compile(rf"(?:{_LINE}\n)*{_LINE}")
# Each key line of a block `_SIMPLE_LINES` matched, after its `\n` (a literal prefix: the search
# skips the values): its indentation, key and `:`, and the spaces after when a value follows.
_KEY_LINE = re.compile(rf"\n( *{_SCALAR}:(?: +(?=[^ #\n]))?)")
_MAX_KEY = 1000  # a YAML reader takes implicit keys of up to 1024 characters


def _simple_block(block: str) -> bool:
    """Whether the text `block`, below a `key:` at column 0, forms a well-formed block mapping of
    simple lines (or nothing), no key twice in one mapping: a value that starts and ends within
    it, so swapping it for another such value changes nothing else in the file."""
    if not _SIMPLE_LINES.fullmatch(block):
        return False
    return _simple_mapping(tuple(_KEY_LINE.findall(f"\n{block}")))


@functools.lru_cache(maxsize=64)
def _simple_mapping(lines: tuple[str, ...]) -> bool:
    """Whether these key lines (`_KEY_LINE`) nest as one block mapping with string keys, none
    twice in a mapping. It depends on the keys alone, not on the values: a rotation checks the
    old and the new subtree (and every environment with the same entries) once."""
    levels: list[tuple[int, set[str]]] = []  # the indentation and keys of each open mapping
    opened = True  # the line above was a `key:` without a value: a deeper line starts its mapping
    for line in lines:
        name = _key_name(line.strip()[:-1])  # a key neither starts nor ends with a space
        if name is None:
            return False
        depth = len(line) - len(line.lstrip(" "))
        if opened and depth > (levels[-1][0] if levels else 0):
            levels.append((depth, set()))
        else:
            while levels and levels[-1][0] > depth:
                levels.pop()
            if not levels or levels[-1][0] != depth:
                return False
        if name in levels[-1][1]:
            return False  # the full comparison refuses it, as the loader does
        levels[-1][1].add(name)
        opened = not line.endswith(" ")
    return True


@functools.lru_cache(maxsize=4096)
def _key_name(key: str) -> str | None:
    """The string a simple key reads as; None for a key that is no string (`1`, `true`: it may
    equal another spelling) or too long to be an implicit key."""
    if len(key) > _MAX_KEY:
        return None
    if key.startswith('"'):
        return str(json.loads(key))
    return key if yamlio.resolves_to_str(key) else None


def _splice_keeps(
    head: list[str], old_body: list[str], body: str, tail: list[str], indent: int, appended_to: str | None
) -> bool | None:
    """Whether the file `head + body + tail` means the old file (`head + old_body + tail`, or
    `appended_to` with nothing after it) with only its `sealer` value replaced; None when this
    cannot tell cheaply (the full comparison decides then). Both bodies must be simple blocks
    (`_simple_block`); a one-line probe mapping under a random key put where they go must then
    land as the `sealer` value of the file's one mapping and leave the rest of the old file as
    it was. The probe's file holds only what the user wrote around the subtree: parsing it
    costs a fraction of parsing the old file, the new file and the subtree in full."""
    if not (_simple_block("".join(old_body)) and _simple_block(body)):
        return None
    import secrets

    probe_key = f"sealer-splice-probe-{secrets.token_hex(8)}"
    probe = "".join([*head, f"{' ' * indent}{probe_key}: 1\n", *tail])
    try:
        docs = yamlio.load_documents(probe, "values")
        old = yamlio.load_documents(appended_to, "values") if appended_to is not None else None
    except BadInput:
        return None
    if len(docs) != 1 or not isinstance(docs[0], dict) or docs[0].get(SUBTREE) != {probe_key: 1}:
        return None
    if old is None:
        return True
    if len(old) != 1 or not isinstance(old[0], dict) or SUBTREE in old[0]:
        return None
    return bool(docs[0] == {**old[0], SUBTREE: {probe_key: 1}})


def _same_values(text: str, old_text: str, subtree: str, appended: bool) -> bool:
    """The full comparison: the new file means the old one with its `sealer` value replaced."""
    try:
        new, old, sub = (yamlio.load_documents(t, "values") for t in (text, old_text, subtree))
    except BadInput:
        return False
    if len(new) != 1 or len(old) != 1 or len(sub) != 1 or not isinstance(old[0], dict):
        return False
    if appended and SUBTREE in old[0]:
        return False  # written some other way (flow style, quoted): appending would repeat the key
    return bool(new[0] == {**old[0], SUBTREE: sub[0]})


def _comment_lines(text: str) -> str:
    kept = [line for line in text.splitlines() if _COMMENT_LINE.fullmatch(line)]
    return "".join(f"{line}\n" for line in kept)


def _move_following_comment(doc: Any, new: Any) -> None:
    """Keep the user's comments below the old subtree: ruamel files them under its last entry."""
    source = yamlio.last_comment_slot(doc[SUBTREE]) if SUBTREE in doc else None
    if source is None and SUBTREE in doc:
        source = (doc, SUBTREE, 2)  # a scalar or empty `sealer:` keeps them on its own key
    yamlio.move_following_comment(source, new)


def values_text(
    root: Path,
    env: Environment,
    cluster: Cluster,
    sealed_doc: dict[str, Any] | None,
    records: list[KeyRecord],
) -> tuple[str, str | None]:
    """(new text, old text or None) of the cluster's values file for this sealed state."""
    if sealed_doc is None:
        raise BadInput(
            f"no sealed keys for {env.name}/{cluster.name} on this branch yet: run `sealer rotate {env.name}`"
            " (a rotation commits on its own branch: merge that first)"
        )
    path = root / cluster.values_file
    old = repofiles.read_text_if_exists(path)
    subtree = subtree_text(env, cluster, sealed_doc, ledger.current(env.keys, records))
    return render_values(old, subtree, str(path)), old


def _write_changed(path: Path, new: str, old: str | None) -> Path | None:
    if new == old:
        return None
    repofiles.write(path, new)  # makes the folders, never through a symlink
    return path


def render_env(cfg: Config, env_name: str) -> list[Path]:
    """Re-render every values file of the environment; all are computed before any is written."""
    env = cfg.env(env_name)
    cert_pins.pinned_certificates(cfg.root, env)
    records = ledger.load_expected(cfg.root, env.name)  # a deleted one would render an empty registry
    texts = [
        (
            cfg.root / c.values_file,
            *values_text(cfg.root, env, c, state.load(cfg.root, env.name, c.name), records),
        )
        for c in env.clusters
    ]
    texts += registry_texts(cfg.root, env, records)  # read too before the first write: exit 2 changes nothing
    with lock.hold(git.git_dir(cfg.root), "render"):  # one writer: not while a rotation writes
        changed = [_write_changed(path, new, old) for path, new, old in texts]
    return [p for p in changed if p is not None]


def registry_texts(
    root: Path, env: Environment, records: list[KeyRecord]
) -> list[tuple[Path, str, str | None]]:
    """#16: (path, text the ledger gives, text on disk) of each GitOps key registry of `env`."""
    made = registry.files(env.name, [c.name for c in env.clusters], env.registry, records)
    return [
        (root / rel, data.decode(), repofiles.read_text_if_exists(root / rel)) for rel, data in made.items()
    ]
