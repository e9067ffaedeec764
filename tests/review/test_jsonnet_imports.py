"""What a jsonnet file imports, as jsonnet's lexer reads it: strings and comments are no imports,
escapes are decoded, and an import whose string cannot be read makes the file import anything."""

from __future__ import annotations

from sealer.review.jsonnet_imports import imports


def test_imports_are_read_from_code_and_not_from_strings_or_comments() -> None:
    text = (
        'local lib = import "lib.libsonnet";  // import "comment.txt"\n'
        "# import 'hash.txt'\n/* importstr 'block.txt' */\n"
        "{ name: importstr 'n\\u0061me.txt', raw: importbin @'a''b', text: \"import 'in-string'\",\n"
        "  important: 1, myimport: 2 }\n"
    )
    found = imports(text)
    assert (found.code, found.data, found.unread) == ({"lib.libsonnet"}, {"name.txt", "a'b"}, False)


def test_an_import_of_a_string_review_cannot_read_imports_anything() -> None:
    assert imports('import /* a comment */ "x.txt"').unread
    assert imports("local x = importstr |||\n  name.txt\n|||;\n{}").unread
    assert not imports("local x = |||\n  import\n|||;\n{}").unread
