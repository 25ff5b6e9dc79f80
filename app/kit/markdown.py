"""User text inside Markdown we write: shown exactly as typed, never read as markup.

Every piece of text a user typed that goes into a Markdown document passes through
:func:`escape`, so a name like ``*Star*`` stays a name with asterisks, ``[site](https://…)``
stays brackets and parentheses rather than a link, and ``<script>`` stays visible text rather
than HTML a viewer might run. The rules follow CommonMark, with GitHub's extensions (tables,
strikethrough) in mind:

- ASCII punctuation that opens or closes inline markup anywhere on a line is backslash-escaped:
  ``\\ ` * _ { } [ ] ( ) # ! | ~`` (``|`` also keeps a line from being read as a table row).
- ``<``, ``>`` and ``&`` become ``&lt;``, ``&gt;`` and ``&amp;``: no raw HTML, no autolink,
  no entity, no block quote — and not in renderers that ignore backslash escapes either.
- What only means something at the start of a line is escaped there: a list marker (``-``,
  ``+``, or a number followed by ``.`` or ``)``), a thematic break or setext underline
  (``---``, ``===``). Leading spaces are dropped, so nothing becomes an indented code block.
- Line breaks are kept: lines of one paragraph end in a hard break (a backslash), a blank line
  still separates paragraphs. With ``one_line=True`` (a heading, a list item) all whitespace,
  line breaks included, becomes single spaces.
"""

from __future__ import annotations

import re

# Punctuation escaped wherever it stands.
_INLINE = re.compile(r"([\\`*_{}\[\]()#!|~])")
# Entities rather than backslashes: HTML stays text even for a renderer without escapes.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML = re.compile(r"[&<>]")
# What starts a block at the beginning of a line once the inline escapes are done: a bullet
# or a thematic break / setext underline (- + =), or an ordered list marker (1. or 1)).
_LINE_START = re.compile(r"^(?:([-+=])|(\d{1,9})([.)]))")


def escape(text: str, *, one_line: bool = False) -> str:
    """``text`` as Markdown that renders to exactly ``text`` (its line breaks kept, unless
    ``one_line``): the one escaping function for everything users typed."""
    if one_line:
        return _escape_line(" ".join(text.split()))
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for index, line in enumerate(lines):
        if not line:
            if out and out[-1]:
                out.append("")  # a paragraph break, once
            continue
        escaped = _escape_line(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        out.append(escaped + "\\" if following else escaped)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _escape_line(line: str) -> str:
    line = _INLINE.sub(r"\\\1", line)
    line = _HTML.sub(lambda m: _ENTITIES[m.group()], line)
    return _LINE_START.sub(_escape_start, line.lstrip(" \t"))


def _escape_start(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\" + match.group(1)
    return match.group(2) + "\\" + match.group(3)
