"""The words of a search, read from what the user typed, and written out for each database.

What the user types is never handed to a database's query syntax. It is read here into
phrases, each a run of words (letters and digits; everything else separates words), and only
those words are written out, each quoted, in the syntax of FTS5 ``MATCH`` (SQLite) or of
``websearch_to_tsquery`` (PostgreSQL). The little a search understands:

- words: a record must contain every one (``coffee chat`` is both words, anywhere);
- ``"a quoted phrase"``: its words next to each other, in that order;
- ``-word`` or ``-"a phrase"``: leave out records that contain it.

Punctuation, operators and column filters of either syntax (``*``, ``NEAR(``, ``OR``,
``name:``, ``^``, ``&``, ``!``) are only separators or words like any other. A search left with
no word to look for (only punctuation, or only words to leave out) finds nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# A word: letters and digits (the underscore, which \w also takes, separates words).
_WORD = re.compile(r"[^\W_]+")
# A quoted phrase (its closing quote optional at the end) or a run of anything but spaces and
# quotes; either may start with "-", which leaves it out.
_CHUNK = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class Terms:
    """What to look for: phrases a record must all contain, and phrases it must not."""

    wanted: tuple[Phrase, ...]
    unwanted: tuple[Phrase, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.wanted)

    def fts5(self) -> str:
        """An FTS5 ``MATCH`` expression: every wanted phrase, none of the unwanted ones."""
        wanted = " ".join(_quoted(phrase) for phrase in self.wanted)
        if not self.unwanted:
            return wanted
        unwanted = " OR ".join(_quoted(phrase) for phrase in self.unwanted)
        return f"({wanted}) NOT ({unwanted})"

    def websearch(self) -> str:
        """Text for PostgreSQL's ``websearch_to_tsquery``, every phrase quoted."""
        wanted = [_quoted(phrase) for phrase in self.wanted]
        unwanted = [f"-{_quoted(phrase)}" for phrase in self.unwanted]
        return " ".join(wanted + unwanted)


def _quoted(phrase: Phrase) -> str:
    # The words hold only letters and digits: no quote to escape.
    return '"' + " ".join(phrase) + '"'


def read(text: str) -> Terms:
    """The phrases of ``text``; an empty :class:`Terms` (false) when there is nothing to find."""
    wanted: list[Phrase] = []
    unwanted: list[Phrase] = []
    for match in _CHUNK.finditer(unicodedata.normalize("NFC", text)):
        quoted_minus, quoted, bare_minus, bare = match.groups()
        words = tuple(word.lower() for word in _WORD.findall(quoted or bare or ""))
        if not words:
            continue
        minus = quoted_minus if quoted is not None else bare_minus
        (unwanted if minus else wanted).append(words)
    return Terms(tuple(dict.fromkeys(wanted)), tuple(dict.fromkeys(unwanted)))
