"""`sealer review`'s output. Markdown is posted on the pull request: every name, path and message
in it may come from the pull request's author, and none may become HTML, a link or an image.
JSON names a finding's kind `rule`, as `sealer check` and `sealer scan` do."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser

import markdown
import pytest

from sealer import apikey
from sealer.review.model import Change, Finding, Report
from sealer.review.report import to_json, to_markdown, to_text

# What review's Markdown is made of; anything else in the rendered page came from a value.
OWN_TAGS = {"h3", "p", "code", "strong", "ul", "li", "table", "thead", "tbody", "tr", "th", "td"}
HOSTILE = [
    "<img src=https://evil.example/x.png onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<!-- hidden --><details open>",
    "` <img src=x> `",
    "``<a href=https://evil.example>click</a>``",
    "![pixel](https://evil.example/p.png)",
    "[approved](https://evil.example)",
    "a | b\n| injected | row |",
    "&lt;img src=x&gt;",
]


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_comment(self, data: str) -> None:
        self.tags.add("!--")

    def handle_data(self, data: str) -> None:
        self.text += data


def rendered(report: Report) -> Page:
    page = Page()
    page.feed(markdown.markdown(to_markdown(report), extensions=["tables"]))
    return page


def change(value: str) -> Change:
    return Change(
        env=value,
        cluster=value,
        secret=value,
        namespace=value,
        scope=value,
        entry=value,
        action=value,
        old_key_id=value,
        new_key_id=value,
        new_fingerprint=value,
        sealed_with=value,
        pinned=True,
        old_key_created=None,
        old_key_age_days=3,
        old_key_status=value,
        old_key_grace_seconds=86400,
        grace_counted_from="rotation",
        old_key_revoke_at=value,
        new_key_expires=None,
        files=(),
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_stay_text(value: str) -> None:
    finding = Finding("hand-edit", value, value, value, value)
    report = Report("a" * 40, "b" * 40, [change(value)], [finding], [value], [finding], [finding], [value])
    page = rendered(report)
    assert page.tags <= OWN_TAGS, page.tags - OWN_TAGS
    flat = " ".join(value.splitlines())
    assert flat in page.text or flat.replace("\\|", "|") in page.text


def test_bidirectional_controls_are_shown_not_obeyed() -> None:
    """A path or name holding U+202E has the browser show the text after it reversed (a file
    `sealed/\u202elmay.txt` reads as `sealed/txt.yaml`), in code spans too."""
    value = "sealed/\u202elmay.txt\u2066x\u2069"
    finding = Finding("hand-edit", value, value, value, value)
    text = to_markdown(Report("a" * 40, "b" * 40, [change(value)], [finding], [value], [finding]))
    assert not any(c in text for c in "\u202e\u2066\u2069")
    assert "sealed/\\u202elmay.txt\\u2066x\\u2069" in text  # in each code span


@pytest.mark.parametrize("render", [to_markdown, to_text, to_json])
def test_a_key_in_a_name_or_message_is_redacted(render: Callable[[Report], str]) -> None:
    """Markdown escapes each `_` (`slr\\_staging\\_…`); a code span keeps them; `_` next to a key
    hides nothing of it."""
    key = apikey.generate("my-env")
    finding = Finding("plaintext", "my-env", f"a/{key}_old.env", key, f"the pull request's text: {key}.")
    text = render(Report("a" * 40, "b" * 40, [change(key)], [finding], [key], [finding], [finding], [key]))
    assert key[len("slr_my-env_") :] not in text and "[redacted]" in text


@pytest.mark.parametrize("render", [to_markdown, to_text, to_json])
@pytest.mark.parametrize("before", ["\x1b", "\n", "\t", "\u2028", "\u202e", "\x00", "é"])
def test_a_key_after_a_character_the_output_escapes_is_redacted(
    render: Callable[[Report], str], before: str
) -> None:
    """Each output escapes first (`\\x1b`, `\\u2028`; JSON `\\n`, `\\u00e9`), then redacts: the
    escape's last character is a letter or digit, so a key bounded by non-base62 was shown whole."""
    key = apikey.generate("prod")
    finding = Finding("plaintext", "prod", f"a/{before}{key}.env", None, f"text{before}{key}")
    text = render(Report("a" * 40, "b" * 40, [], [finding], [f"note{before}{key}"]))
    assert key[len("slr_prod_") :] not in text and "[redacted]" in text


def test_a_table_row_keeps_its_cells() -> None:
    value = "a | b\n| injected | row |"
    report = Report("a" * 40, "b" * 40, [change(value)])
    markup = markdown.markdown(to_markdown(report), extensions=["tables"])
    assert markup.count("<tr>") == 2 and markup.count("<td>") == 11


def test_ordinary_values_read_as_before() -> None:
    finding = Finding(
        "unsigned-commit", "", "sealed/staging/staging.yaml", "apiKey", "commit abc is not signed"
    )
    text = to_markdown(Report("a" * 40, "b" * 40, [change("staging")], [finding]))
    assert "- **unsigned-commit** `sealed/staging/staging.yaml` `apiKey`: commit abc is not signed" in text
    assert "| staging | staging |" in text


def test_json_names_the_kind_rule_as_check_does() -> None:
    from sealer.policy.model import Problem

    finding = Finding("hand-edit", "staging", "sealed/staging/staging.yaml", "apiKey", "edited")
    data = Report("a" * 40, "b" * 40, [], [finding], [], [finding], [finding]).as_dict()
    for listed in ("findings", "needs_owner_approval", "approved"):
        assert data[listed] == [
            {
                "rule": "hand-edit",
                "env": "staging",
                "path": "sealed/staging/staging.yaml",
                "entry": "apiKey",
                "message": "edited",
            }
        ]
    assert "rule" in Problem("key-age", "staging", "error", "old", "rotate").as_dict()


def test_text_output_holds_no_terminal_control() -> None:
    """A file name with ESC sequences (cursor up, erase line) or a CR could hide the findings
    printed above it in a terminal: each line stays one visible line of inert text."""
    hostile = "deploy/x\x1b[1A\x1b[2K\r  no sealed data changed\nFINDING none.yaml"
    finding = Finding("stray-sealed-data", "staging", hostile, None, hostile)
    report = Report("a" * 40, "b" * 40, [], [finding, finding], [hostile])
    text = to_text(report)
    assert not any(ch in text for ch in "\x1b\r\x9b") and len(text.splitlines()) == 4
    assert "deploy/x\\x1b[1A\\x1b[2K\\x0d  no sealed data changed\\x0aFINDING none.yaml" in text
