"""YAML in and out: the small emitter must load back equal; round trips keep the file's text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sealer import yamlio
from sealer.errors import BadInput

TRICKY = [
    "",
    " ",
    "true",
    "False",
    "yes",
    "no",
    "on",
    "off",
    "~",
    "null",
    "Null",
    "NULL",
    "1",
    "-1",
    "0x1F",
    "0o17",
    "1_000",
    "1e3",
    "1.5",
    ".5",
    ".inf",
    "-.Inf",
    ".nan",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "12:30:00",
    "a: b",
    "a:b",
    "#",
    "a #b",
    "'",
    '"',
    "\\",
    "- x",
    "-",
    "---",
    "...",
    "? x",
    "&a",
    "*a",
    "!tag",
    "%x",
    "@x",
    "`x",
    "{}",
    "[]",
    "{a: 1}",
    ",",
    "|",
    ">",
    "=",
    "<<",
    "x\ny",
    "\n",
    "\t",
    "tab\there",
    "  lead",
    "trail  ",
    "é ✓ 漢字 🎉",
    "\x85",
    "\u2028",
    "\u2029",
    "\x7f",
    "\x80",
    "\ufeff",
    "\x00",
    "\x1b[0m",
    "AgB+/==",
    "a" * 2000,
]
SCALARS = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40))
KEYS = st.one_of(st.sampled_from(TRICKY), st.text(max_size=20))
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=20,
)
LOADERS = [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, TREES, max_size=5))
def test_dump_loads_back_equal(document: dict[str, Any]) -> None:
    text = yamlio.dump(document)
    for loader in LOADERS:
        assert yaml.load(text, Loader=loader) == document


@pytest.mark.parametrize("text", TRICKY, ids=[repr(t)[:20] for t in TRICKY])
def test_every_tricky_string_survives_as_key_and_value(text: str) -> None:
    document = {text: text, "list": [text, {text: [text]}]}
    for loader in LOADERS:
        assert yaml.load(yamlio.dump(document), Loader=loader) == document


@pytest.mark.parametrize(
    "value", [None, True, False, 0, -7, 10**30, 1.5, -0.0, 1e100, 1e-7, float("inf"), float("-inf")]
)
def test_other_scalars_keep_their_type(value: Any) -> None:
    loaded = yaml.safe_load(yamlio.dump({"v": value}))["v"]
    assert loaded == value and type(loaded) is type(value)


def test_nan_stays_nan() -> None:
    loaded = yaml.safe_load(yamlio.dump({"v": float("nan")}))["v"]
    assert loaded != loaded


def test_machine_output_is_plain_where_it_can_be() -> None:
    text = yamlio.dump({"apiVersion": "v1", "data": {"a": "AgB+/x==", "n": "1"}, "empty": {}, "list": []})
    assert text == 'apiVersion: v1\ndata:\n  a: AgB+/x==\n  "n": "1"\nempty: {}\nlist: []\n'


def test_empty_document_and_document_streams() -> None:
    assert yaml.safe_load(yamlio.dump({})) == {}
    text = yamlio.dump_documents([{"a": 1}, {"b": 2}])
    assert list(yaml.safe_load_all(text)) == [{"a": 1}, {"b": 2}]


def test_dump_json_gives_one_object_or_a_list() -> None:
    import json

    assert json.loads(yamlio.dump_json([{"a": 1}])) == {"a": 1}
    assert json.loads(yamlio.dump_json([{"a": 1}, {"b": 2}])) == {
        "apiVersion": "v1",
        "kind": "List",
        "items": [{"a": 1}, {"b": 2}],
    }


def test_load_documents_skips_empty_documents_and_reads_json() -> None:
    assert yamlio.load_documents("---\na: 1\n---\n---\nb: 2\n", "s") == [{"a": 1}, {"b": 2}]
    assert yamlio.load_documents(b'{"a": [1, 2]}', "s") == [{"a": [1, 2]}]
    assert yamlio.load_documents("", "s") == []


@pytest.mark.parametrize(
    "text",
    [
        "a: [\n",
        "a: b: c\n",
        "!!python/object:os.system {}\n",
        "a: 2024-13-45\n",
        "a: !!int s3cret\n",
        "a: !!bool s3cret\n",
        "a: !!timestamp s3cret\n",
    ],
)
def test_invalid_yaml_is_one_line_of_bad_input(text: str | bytes) -> None:
    with pytest.raises(BadInput) as err:
        yamlio.load_documents(text, "in.yaml")
    assert str(err.value).startswith("in.yaml: not valid YAML")
    assert "\n" not in str(err.value) and "s3cret" not in str(err.value)


@pytest.mark.parametrize(
    "text", ["a: [\n", "a: 2024-13-45\n", "a: !!int s3cret\n", "a: !!bool s3cret\n", "a: -_\n", "a: 0o_\n"]
)
def test_round_trip_load_refuses_invalid_yaml_with_one_line(text: str) -> None:
    with pytest.raises(BadInput) as err:
        yamlio.round_trip_load(text, "in.yaml")
    assert str(err.value).startswith("in.yaml: not valid YAML")
    assert "\n" not in str(err.value) and "s3cret" not in str(err.value)


ROUND_TRIP = """\
# leading comment
---
apiVersion: bitnami.com/v1alpha1   # trailing
kind: SealedSecret
metadata:
    name: app
    labels:
    - 'quoted'
    - "double"
spec:
    encryptedData:
        # the first one
        a: AgB+/==
        b: "AgBquoted=="
"""


def test_round_trip_keeps_comments_quotes_start_marker_and_indentation() -> None:
    assert yamlio.round_trip_dump(yamlio.round_trip_load(ROUND_TRIP, "f")) == ROUND_TRIP


def test_round_trip_keeps_sealers_own_layout() -> None:
    text = yamlio.dump({"a": {"b": ["x", {"c": "d", "e": ["f"]}], "g": "h"}})
    assert yamlio.round_trip_dump(yamlio.round_trip_load(text, "f")) == text


def test_round_trip_edit_changes_only_the_edited_line() -> None:
    doc = yamlio.round_trip_load(ROUND_TRIP, "f")
    doc["spec"]["encryptedData"]["a"] = "AgBnew=="
    assert yamlio.round_trip_dump(doc) == ROUND_TRIP.replace("a: AgB+/==", "a: AgBnew==")


@pytest.mark.parametrize(
    "end",
    [
        "...\n# after the end\n",
        "... # on the marker\n",
        "...\n\n# one\n  # two, indented\n\n",
        "...\n# no last line break",
        "...\r\n# crlf\r\n",
    ],
)
def test_round_trip_keeps_the_document_end_and_the_comments_after_it(end: str) -> None:
    """ruamel drops a `...` line and every comment after it: an edit kept none of the user's."""
    doc = yamlio.round_trip_load(f"---\na: 1\nb: 2\n{end}", "f")
    doc["a"] = 5
    assert yamlio.round_trip_dump(doc) == f"---\na: 5\nb: 2\n{end}"


@pytest.mark.parametrize("start", ["\ufeff---\n", "\ufeff# a comment\n---\n", "\ufeff# c\n\n# d\n--- # e\n"])
def test_round_trip_keeps_the_comments_and_start_after_a_byte_order_mark(start: str) -> None:
    """ruamel drops them in a file that opens with a BOM, as in any other: an edit lost them."""
    doc = yamlio.round_trip_load(f"{start}a: 1\n", "f")
    doc["a"] = 5
    assert yamlio.round_trip_dump(doc) == f"{start}a: 5\n"


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n...\n\xa0\n",  # a no-break space: a second document's value to YAML, blank to str.strip()
        "a: 1\n...\n\xa0# c\n",
        "a: 1\n...\n\x1c\n",  # a character YAML refuses, which str.splitlines() ends a line at
        "a: 1\n...\n# c\x0c\n",
        "a: 1\n...\n\t# c\n",  # a tab before a comment between documents: libyaml refuses it too
        "a: 1\n... # c\x0c\n",
        "\xa0\n---\na: 1\n",  # before the `---`: a first document to YAML
        "\t# c\n---\na: 1\n",
        "---#c\na: 1\n",  # no document start: a plain scalar, the mapping's first line to YAML
    ],
)
def test_round_trip_keeps_aside_only_what_yaml_reads_as_comments(text: str) -> None:
    """The lines before a `---` and after a `...` are kept aside unparsed: one that only Python
    takes for blank or a comment reached no parser, and the editor wrote back a file sealer's own
    reader (and libyaml, Helm's) refuses or reads as two documents."""
    try:
        assert len(yamlio.load_with_nodes(text, "f")) != 1
    except BadInput:
        pass  # not one document to sealer's reader either way
    with pytest.raises(BadInput):
        yamlio.round_trip_load(text, "f")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n  b:\n  - x\n", (2, 2, 0)),
        ("a:\n    b:\n        - x\n", (4, 6, 4)),
        ("a:\n  - b: 1\n", (2, 4, 2)),
        ("a: 1\n", (2, 4, 2)),
        ("- a\n", (2, 2, 0)),
    ],
)
def test_guess_indent(text: str, expected: tuple[int, int, int]) -> None:
    assert yamlio.guess_indent(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\n---\nb: 2\n", "holds several YAML documents"),
        ("a: 1\n...\n# c\n---\nb: 2\n", "holds several YAML documents"),  # not a comment after `...`
        ("a: 1\n...\nb: 2\n", "not valid YAML at line 3"),
        ("a: [\n", "not valid YAML at line 2"),
        ("a: *nope\n", "not valid YAML: found undefined alias"),
    ],
)
def test_round_trip_load_refuses_with_one_line(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        yamlio.round_trip_load(text, "f")


@pytest.mark.parametrize(
    "text",
    ["a: 1\n---\n", "a: 1\n...\n---\n", "a: 1\n---", "a: 1\n--- ~\n", "a: 1\n---\n# c\n"]
    + ["a: 1\n...\n", "---\na: 1\n", "a: 1\n", "# only a comment\n"],
)
def test_a_trailing_empty_document_is_what_the_editor_refuses(text: str) -> None:
    """`trailing_empty` (which `sealer check` refuses a values file by) holds of exactly the files
    of one document and an empty one after it that ruamel, the editor, refuses as two."""
    docs = yamlio.load_with_nodes(text, "f", empty=True)
    try:
        yamlio.round_trip_load(text, "f")
    except BadInput as err:
        assert str(err) == f"f: {yamlio.SEVERAL_DOCUMENTS}"
        refused = True
    else:
        refused = False
    assert yamlio.trailing_empty(docs) == refused


# (old text, the edit, the changes it names): what sealer's reader takes the edited text for must
# be the old data with exactly those changes made.
EDITS: list[tuple[str, Any, dict[yamlio.KeyPath, Any]]] = [
    ("a: 1\nb: 2\n", lambda d: d.__setitem__("b", "x"), {("b",): "x"}),
    ("a: 1\nb: 2\n", lambda d: d.pop("a"), {("a",): yamlio.DELETED}),
    ("a: 1\nm: ~\n", lambda d: d.__setitem__("m", {"k": "v"}), {("m", "k"): "v"}),
    ("a: 1\n", lambda d: d.__setitem__("m", {"k": "v"}), {("m", "k"): "v"}),
    # a `.nan` anywhere is kept, though no NaN equals another
    ("a: 1\nn: .nan\nl: [.NaN, {x: .nan}]\n", lambda d: d.__setitem__("b", "x"), {("b",): "x"}),
]


@pytest.mark.parametrize(("text", "edit", "changes"), EDITS)
def test_an_edit_reading_as_the_changes_it_names_is_written(text: str, edit: Any, changes: Any) -> None:
    doc = yamlio.round_trip_load(text, "f")
    edit(doc)
    assert yamlio.round_trip_edited(doc, text, "f", changes) == yamlio.round_trip_dump(doc)


@pytest.mark.parametrize(("text", "edit", "changes"), EDITS)
def test_an_edit_changing_more_than_it_names_is_refused(text: str, edit: Any, changes: Any) -> None:
    doc = yamlio.round_trip_load(text, "f")
    edit(doc)
    doc["a"] = 2 if "a" in doc else 1
    with pytest.raises(BadInput, match=r"^f: sealer's editor cannot rewrite this file .*simplify its odd"):
        yamlio.round_trip_edited(doc, text, "f", changes)


def test_every_reader_refuses_a_second_document_in_one_wording_and_its_own_error_type(
    tmp_path: Path,
) -> None:
    """sealer.yaml (BadInput), a ledger (ConfigError), a policy file (listed with its other
    mistakes) and a sealed file (BadInput) say it alike, through `yamlio.only_document`."""
    from sealer import config, ledger, state
    from sealer.errors import ConfigError
    from sealer.policy import loader

    two = "keys: []\n---\nkeys: []\n"
    with pytest.raises(BadInput, match=f"^sealer.yaml: {yamlio.SEVERAL_DOCUMENTS}$") as raised:
        config.from_text(two, "sealer.yaml", tmp_path)
    assert not isinstance(raised.value, ConfigError)
    with pytest.raises(ConfigError, match=f"^invalid config: ledger: {yamlio.SEVERAL_DOCUMENTS}$"):
        ledger.parse("staging", two, "ledger")
    errors: list[tuple[str, str]] = []
    loader._file_layer("rules: {}\n---\nrules: {}\n", "policy.yaml", errors)
    assert errors == [("policy.yaml", yamlio.SEVERAL_DOCUMENTS)]
    sealed = tmp_path / "sealed/staging/staging.yaml"
    sealed.parent.mkdir(parents=True)
    sealed.write_text("kind: SealedSecret\n---\nkind: Secret\n")
    with pytest.raises(BadInput, match=f"staging.yaml: {yamlio.SEVERAL_DOCUMENTS}$"):
        state.load(tmp_path, "staging", "staging")
    assert yamlio.only_document([], "f") is None and yamlio.only_document([{"a": 1}], "f") == {"a": 1}


# --- the loader's fast path must read exactly what yaml.safe_load_all reads ----------------------

DATA_TREES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.dates(),
        SCALARS,
        st.binary(max_size=20),
    ),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=25,
)


def safe_load_all(text: str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=yaml.SafeLoader) if doc is not None]


@settings(max_examples=150, deadline=None)
@given(st.lists(DATA_TREES, min_size=1, max_size=3), st.sampled_from([None, True, False]))
def test_load_documents_reads_what_safe_load_reads(documents: list[Any], flow: bool | None) -> None:
    text = yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=True)
    try:
        loaded = yamlio.load_documents(text, "s")
    except BadInput as err:
        # PyYAML writes some keys (a NEL, say) so that they read back as another key; safe_load
        # then drops one silently, sealer refuses the text.
        assert "appears twice" in str(err)
        assert safe_load_all(text) != documents
        return
    assert loaded == safe_load_all(text)


@pytest.mark.parametrize(
    "text",
    [
        "base: &b {x: 1, y: [1, 2]}\nd:\n  <<: *b\n  y: 2\n",  # merge keys
        "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",  # aliases are shared, not copied
        "a: !!binary aGVsbG8=\nb: !!str 5\nc: !!int '7'\nd: !!set {x}\ne: !!omap [{k: v}]\n",
        "a: 2024-01-01\nb: 2024-01-01T10:00:00Z\nc: 1_000\nd: 0x1f\ne: .inf\nf: ~\ng: yes\nh: '<<'\n",
        "---\n---\na: 1\n...\n---\n- x\n",
        "{a: [b, {c: d}], 'e': \"f\"}",
        '{"json": [1, 2.5, true, null, "x"]}',
    ],
)
def test_load_documents_matches_safe_load_on_the_unusual(text: str) -> None:
    assert repr(yamlio.load_documents(text, "s")) == repr(safe_load_all(text))


@pytest.mark.parametrize("text", ["a: &x [1, *x]\n", "a: &x {b: *x}\n"])
def test_a_collection_that_holds_itself_is_refused(text: str) -> None:
    """safe_load builds these cycles; every consumer walking them would loop (#13)."""
    with pytest.raises(BadInput, match="refers to itself"):
        yamlio.load_documents(text, "s")


def test_bytes_must_be_utf8() -> None:
    with pytest.raises(BadInput, match=r"^in.yaml: not valid UTF-8 text \(byte 0\)$"):
        yamlio.load_documents(b"\xc3\x28 not utf-8", "in.yaml")


def test_an_alias_is_shared_like_safe_load_shares_it() -> None:
    doc = yamlio.load_documents("a: &x [1]\nb: *x\n", "s")[0]
    assert doc["a"] is doc["b"]


@pytest.mark.parametrize(
    "text",
    ["? [1]\n: 2\n", "? {a: 1}\n: 2\n", "a: " + "[" * 5000 + "]" * 5000 + "\n"],
    ids=["list-key", "map-key", "deep"],
)
def test_keys_and_nesting_safe_load_refuses_are_bad_input(text: str) -> None:
    with pytest.raises(BadInput, match="not valid YAML"):
        yamlio.load_documents(text, "s")


@pytest.mark.parametrize("text", ["on", "no", "Off", "y", "12:30", "1_000", "0x1F", "~", ""])
def test_a_string_an_edit_puts_in_reads_back_as_that_string(text: str) -> None:
    """ruamel (YAML 1.2) wrote `on`, `no`, `12:30` plain, which PyYAML (sealer's reader) and Helm
    read as true, false, 750: a cluster or namespace named `no` came back as false. What the
    file itself holds plain (`enabled: yes`) stays as written."""
    original = "enabled: yes  # kept\nat: 12:30\nname: x\n"
    doc = yamlio.round_trip_load(original, "f")
    doc["name"] = text
    doc["new"] = [text]
    dumped = yamlio.round_trip_dump(doc)
    assert yamlio.load_documents(dumped, "f") == [{"enabled": True, "at": 750, "name": text, "new": [text]}]
    assert dumped.startswith("enabled: yes  # kept\nat: 12:30\n")


@pytest.mark.parametrize("text", ["359e61515219", "1e5", "0o17", ".5"])
def test_a_string_ruamel_would_read_as_a_number_is_quoted(text: str) -> None:
    """YAML 1.1 (PyYAML) reads `359e61515219` as a string, YAML 1.2 (ruamel's round trip) as a
    float: a random fingerprint prefix could turn into `.inf` in a values file."""
    dumped = yamlio.dump({"a": text})
    assert yamlio.load_documents(dumped, "s") == [{"a": text}]
    assert yamlio.round_trip_load(dumped, "s")["a"] == text


@pytest.mark.parametrize(
    "text",
    [
        "backend: {kind: vault}\nbackend: {kind: k8s-secrets}\n",
        "env:\n  a: 1\n  b: 2\n  a: 3\n",
        "yes: 1\ntrue: 2\n",  # two spellings of one key
        "- {k: 1, k: 1}\n",
        # below a merge key, where PyYAML's SafeConstructor builds the mapping (and its subtree)
        "a: {x: 1}\n<<: {}\nb: 1\nb: 2\n",
        "e:\n  <<: {z: 1}\n  ns: a\n  ns: b\n",
        "e:\n  <<: {z: 1}\n  sub: {k: 1, k: 2}\n",
    ],
)
def test_a_key_twice_in_one_mapping_is_refused(text: str) -> None:
    """A reviewer reads the first value, safe_load keeps the last: neither may win silently."""
    with pytest.raises(BadInput, match=r"^s: key .* appears twice in one mapping \(line \d+\)$"):
        yamlio.load_documents(text, "s")
    if "yes" not in text:  # ruamel reads YAML 1.2, where `yes` is just a string
        with pytest.raises(BadInput, match="not valid YAML"):
            yamlio.round_trip_load(text, "s")


@pytest.mark.parametrize("text", ["y", "Y", "n", "N"])
def test_a_bare_y_or_n_is_quoted_for_helms_yaml_11(text: str) -> None:
    """go-yaml (Helm, kubectl) reads a plain y or n as a boolean: an entry so named stays a string."""
    assert yamlio.dump({text: text}) == f'"{text}": "{text}"\n'
    assert yamlio.load_documents(yamlio.dump({text: text}), "s") == [{text: text}]


@pytest.mark.parametrize(
    ("text", "go_reads"),
    [
        ("0X1F", 31),  # ParseInt with base 0 takes a base prefix in either case
        ("0O17", 15),
        ("0B101", 5),
        ("+0X1F", 31),
        ("0_x1F", 31),  # after go-yaml drops every `_`
        ("1_0e5", 1e6),
        ("1e5_", 1e5),
        ("0_8", 8.0),  # not octal: ParseFloat then
        ("+inf", float("inf")),  # go-yaml versions without the YAML-style float check
        ("0x1p-2", 0.25),
        ("2024-1-2", "2024-01-02T00:00:00Z"),  # yaml.v3: a time
    ],
)
def test_a_string_go_yaml_would_read_as_no_string_is_quoted(text: str, go_reads: Any) -> None:
    """Helm and kubectl read these plain scalars as numbers (a key `0X1F` becomes "31" in the JSON
    the API server gets, the same as a key "31" beside it): PyYAML reads strings, so dump quotes
    them, and load_dumped (checked by dumping again) leaves a file writing them plain to the loader."""
    dumped = yamlio.dump({text: text})
    assert dumped == f'"{text}": "{text}"\n', go_reads
    assert yamlio.load_documents(dumped, "s") == [{text: text}]
    assert yamlio.load_dumped(f"{text}: {text}\n") is None


def test_an_empty_plain_scalar_is_no_string() -> None:
    """An empty plain scalar reads as null: dump quotes the empty string."""
    assert not yamlio.resolves_to_str("")
    assert yamlio.dump({"a": ""}) == 'a: ""\n'


@pytest.mark.parametrize("text", ["2fa", "1password", "0abc", "+abc", ".hidden", "10.0.0.1", "v1.2.3"])
def test_names_starting_with_a_digit_stay_plain(text: str) -> None:
    assert yamlio.dump({text: text}) == f"{text}: {text}\n"
    assert yamlio.load_dumped(f"{text}: {text}\n") == {text: text}


@pytest.mark.parametrize("text", ['a: "\\ud800"\n', '"\\udfff": b\n', 'a:\n  b: "x\\udbff"\n'])
def test_load_dumped_leaves_a_lone_surrogate_to_the_loader_which_refuses_it(text: str) -> None:
    """JSON reads `\\ud800` as a lone surrogate, libyaml and go-yaml refuse it: the fast reader
    must not accept a sealed file the cluster's parser cannot read."""
    assert yamlio.load_dumped(text) is None
    with pytest.raises(BadInput, match="not valid YAML"):
        yamlio.load_documents(text, "s")


STRING_TREES = st.recursive(
    SCALARS, lambda children: st.dictionaries(KEYS, children, max_size=4), max_leaves=20
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, TREES, max_size=5))
def test_load_dumped_reads_what_the_loader_reads(document: dict[str, Any]) -> None:
    """Without a parser, `load_dumped` reads the string mappings `dump` writes, as the loader
    does; anything else it leaves to the loader."""
    text = yamlio.dump(document)
    fast = yamlio.load_dumped(text)

    assert fast is None or [fast] == yamlio.load_documents(text, "t")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, STRING_TREES, min_size=1, max_size=5))
def test_load_dumped_reads_every_string_mapping_dump_writes(document: dict[str, Any]) -> None:
    fast = yamlio.load_dumped(yamlio.dump(document))

    assert fast == document or any(len(yamlio.scalar(k)) > 1000 for k in _keys(document))


def _keys(tree: Any) -> list[Any]:
    return [k for k, v in tree.items() for k in [k, *_keys(v)]] if isinstance(tree, dict) else []


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n",  # not a string
        "a: true\n",
        "a: b\na: c\n",  # a key twice
        'a: b\n"a": c\n',
        "a: &x b\nc: *x\n",  # anchors and aliases
        "a: !!str b\n",
        "a:\n  - b\n",  # a list
        "a: [b]\n",
        "a: {b: c}\n",
        "a:  b\n",  # not how dump spaces it
        "a: b  \n",
        "a: b # c\n",
        "a: 'b'\n",
        'a: "b"\n',  # quoted where dump writes it plain
        "a: b",  # no final line break
        "a:\n",  # null
        "a:\n  b: c\n d: e\n",
        "? a\n: b\n",
        "a: |\n  b\n",
        "a: b\n---\nc: d\n",
        "\ufeffa: b\n",
        "a: b\x85c: d\n",
        "".join(f"{' ' * i}k{i}:\n" for i in range(150)) + f"{' ' * 150}k: v\n",  # too deep
    ],
)
def test_load_dumped_leaves_anything_else_to_the_loader(text: str) -> None:
    assert yamlio.load_dumped(text) is None


def test_load_dumped_reads_nested_mappings_and_empty_ones() -> None:
    text = 'a:\n  b: c\n  "d e": "f: g"\n  h: {}\ni: j\n'

    assert yamlio.load_dumped(text) == {"a": {"b": "c", "d e": "f: g", "h": {}}, "i": "j"}


@settings(max_examples=300, deadline=None)
@given(st.one_of(SCALARS, st.text(alphabet="Ab0_./+=@-: é\n", min_size=60, max_size=200)))
def test_is_plain_is_the_plain_pattern(text: str) -> None:
    for candidate in (text, text * 3, f"A{text}", f"{text}A" * 2):
        assert yamlio.is_plain(candidate) is (yamlio._PLAIN.fullmatch(candidate) is not None)


@pytest.mark.parametrize("directive", ["%YAML 1.1", "%YAML 1.2", "%TAG !e! tag:yaml.org,2002:"])
def test_every_reader_refuses_a_yaml_directive_in_one_line(tmp_path: Path, directive: str) -> None:
    """A `%YAML 1.1` file's `y` and `010` are true and 8 to ruamel, which wrote them back as
    `true` and `0o10` when it edited anything else in a values file; PyYAML reads 1.1 whatever
    the directive says, go-yaml (Helm) its own way. Every reader, reading or editing, refuses one,
    in any document of the stream."""
    from sealer import ledger
    from sealer.policy import loader

    shown = directive if directive.startswith("%YAML") else "%TAG"
    line = f"a {shown} directive is not accepted (YAML readers disagree on what follows one): remove it"
    for text in (f"{directive}\n---\nname: y\nmode: 010\n", f"a: 1\n...\n{directive}\n---\nb: y\n"):
        for read in (yamlio.load_documents, yamlio.round_trip_load, yamlio.compose_documents):
            with pytest.raises(BadInput, match=f"^values.yaml: {re.escape(line)}$"):
                read(text, "values.yaml")
    with pytest.raises(BadInput, match=f"^ledger: {re.escape(line)}$"):  # as a ledger not YAML is
        ledger.parse("staging", f"{directive}\n---\nkeys: []\n", "ledger")
    errors: list[tuple[str, str]] = []
    loader._file_layer(f"{directive}\n---\nrules: {{}}\n", "policy.yaml", errors)
    assert errors == [("policy.yaml", line)]
