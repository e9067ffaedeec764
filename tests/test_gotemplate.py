"""spec.template.data rendered as the controller's Go text/template + sprig does: results as
Go gives them, and everything outside the subset refused in one line."""

from __future__ import annotations

import pytest

from sealer.errors import BadInput
from sealer.gotemplate import render

VALUES = {"user": b"admin", "password": b"p@ss\n", "api-key": b"k3y", "bin": b"\xff\x00"}

RENDERED = [
    # template, what the controller writes into the Secret
    ("plain text, no action", b"plain text, no action"),
    ("{{ .user }}:{{ .password }}", b"admin:p@ss\n"),
    ("{{.user}}", b"admin"),
    ("{{ .missing }}", b"<no value>"),  # Go prints a missing map key so
    ('{{ index . "api-key" }}', b"k3y"),
    ('{{ index . "missing" }}', b""),  # index yields the zero value
    ("{{ index . `api-key` }}", b"k3y"),
    ("{{ .bin }}", b"\xff\x00"),  # bytes as they are, not UTF-8
    ("{{ .user | b64enc }}", b"YWRtaW4="),
    ('{{ "YWRtaW4=" | b64dec }}', b"admin"),
    ("{{ .password | trim }}", b"p@ss"),
    ('{{ "\\u00a0 x \\t" | trim }}', b"x"),  # unicode.IsSpace
    ('{{ print .user "-" .user }}', b"admin-admin"),
    ("{{ print .missing .missing }}", b"<nil> <nil>"),  # fmt.Sprint spaces non-strings
    ('{{ "x" | print "y" }}', b"yx"),  # the piped value comes last
    ("{{ . }}", b"map[api-key:k3y bin:\xff\x00 password:p@ss\n user:admin]"),
    ('{{ "a\\tb\\x41\\101\\u00e9\\"" }}', b'a\tbAA\xc3\xa9"'),
    ("a  {{- .user -}}  \n b", b"aadminb"),
    ("a {{/* a comment */}} b", b"a  b"),
    ("a \n{{- /* trimmed */ -}}\n b", b"ab"),
    ('{{ "}}" }}', b"}}"),
    ("{{`raw\r\nline`}}", b"raw\nline"),  # raw strings lose carriage returns
]


@pytest.mark.parametrize(("template", "expected"), RENDERED)
def test_renders_as_the_controller_does(template: str, expected: bytes) -> None:
    assert render(template, VALUES, "t") == expected


REFUSED = [
    ("{{ if .user }}x{{ end }}", "function 'if' is not in the template subset"),
    ("{{ .user | upper }}", "function 'upper' is not in the template subset"),
    ("{{ $x := .user }}", "'$' is not in the template subset"),
    ("{{ .a.b }}", "a chain of fields"),
    ("{{ .user", "unclosed action"),
    ("{{ }}", "missing value for command"),
    ("{{ .user .user }}", "is not a function"),
    ("{{ .missing | b64enc }}", "b64enc: invalid value; expected string"),
    ('{{ "%%%" | b64dec }}', "not base64"),
    ('{{ "\\q" }}', "invalid escape"),
    ('{{ "\\x4" }}', "invalid escape"),
    ("{{-3}}", "'-' is not in the template subset"),
    ("{{/* open", "unclosed comment"),
    ("{{/* x */ x }}", "comment ends before the closing delimiter"),
    ("{{ env `HOME` }}", "function 'env'"),
]


@pytest.mark.parametrize(("template", "message"), REFUSED)
def test_everything_else_is_refused_in_one_line(template: str, message: str) -> None:
    with pytest.raises(BadInput, match="^t: ") as caught:
        render(template, VALUES, "t")
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "template",
    [
        "{{ . }}" * 20_000,  # every action prints the whole map
        "{{ print " + ". " * 20_000 + "}}",  # one action, many copies
        "{{ .user" + " | b64enc" * 60 + " }}",  # grows by a third each stage
    ],
)
def test_a_template_bomb_stops_at_a_secrets_size(template: str) -> None:
    values = {"user": b"x" * 100}
    with pytest.raises(BadInput, match="renders to more than 1024 KiB"):
        render(template, values, "t")
