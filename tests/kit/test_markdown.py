"""The one escaping function for user text in Markdown: whatever was typed renders as that
text, with its line breaks, and never as a link, emphasis, a heading, a list or HTML."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.kit.markdown import escape

markdown_it = pytest.importorskip("markdown_it")
# CommonMark with GitHub's tables and strikethrough: the markup a viewer most likely knows.
RENDERER = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


def rendered(markdown: str) -> str:
    return str(RENDERER.render(markdown))


def _html(text: str) -> str:
    """Text as the renderer writes it in HTML (it escapes double quotes too)."""
    return html.escape(text, quote=False).replace('"', "&quot;")


def as_paragraphs(text: str) -> str:
    """What ``text`` should render to: its paragraphs, lines joined by hard breaks."""
    paragraphs: list[list[str]] = [[]]
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if line:
            paragraphs[-1].append(_html(line))
        elif paragraphs[-1]:
            paragraphs.append([])
    breaks = "<br />\n"
    return "".join(f"<p>{breaks.join(p)}</p>\n" for p in paragraphs if p)


HOSTILE = [
    "*Star* <script>alert(1)</script> [x](https://evil.example)",
    "**bold** __bold__ _it_ ~~gone~~ `code` ``two``",
    "![img](https://evil.example/x.png) [ref][1]\n[1]: https://evil.example",
    "<https://evil.example> <me@evil.example> &amp; &#x3C; &copy;",
    "# heading\n## two\nclosing #",
    "> quoted\n>> twice",
    "- item\n+ item\n* item\n1. one\n2) two\n123456789. many",
    "Title\n===\nOther\n---\n***\n___\n- - -",
    "    indented code\n\tand a tab",
    "```\nfenced\n```\n~~~\ntilde\n~~~",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "a|b\n-|-",
    "trailing backslash \\\nand two spaces  \nend",
    "<div>\n<b>raw</b>\n</div>\n<!-- comment -->",
    "{braces} (parens) #hash !bang \\back",
    "line one\n\n\n\nafter blank lines\r\nwindows\rold mac",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_renders_as_itself(text: str) -> None:
    out = rendered(escape(text))
    assert out == as_paragraphs(text)
    for tag in ("<a ", "<em>", "<strong>", "<h", "<ul", "<ol", "<code", "<pre", "<table"):
        assert tag not in out
    assert "<script" not in out and "<div" not in out and "<img" not in out


@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]) | st.just("\n")))
def test_any_text_renders_as_itself(text: str) -> None:
    assert rendered(escape(text)) == as_paragraphs(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_one_line_renders_as_its_words_on_one_line(text: str) -> None:
    escaped = escape(text, one_line=True)
    assert "\n" not in escaped
    words = " ".join(text.split())
    expected = f"<p>{_html(words)}</p>\n" if words else ""
    assert rendered(escaped) == expected
    # Inside a heading or a list item too.
    assert rendered(f"## {escaped}") == f"<h2>{_html(words)}</h2>\n"


def test_the_escapes_themselves() -> None:
    assert escape("*Star*") == r"\*Star\*"
    assert escape("[site](https://evil.example)") == r"\[site\]\(https://evil.example\)"
    assert escape("<script>&") == "&lt;script&gt;&amp;"
    escaped = escape("# no\n> no\n1. no\n- no\n===")
    assert escaped == "\\# no\\\n&gt; no\\\n1\\. no\\\n\\- no\\\n\\==="
    # Plain prose stays readable: dots, dashes and numbers mid-line are left alone.
    assert escape("Jane Doe-Smith, 3.5 years at Acme.") == "Jane Doe-Smith, 3.5 years at Acme."


def test_line_breaks_are_kept() -> None:
    assert escape("first\nsecond\n\nnew paragraph\n") == "first\\\nsecond\n\nnew paragraph"
    assert escape("  \n\n  ") == ""
    assert escape("a\nb", one_line=True) == "a b"
