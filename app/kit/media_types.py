"""The ``Content-Type`` of a request, read one way everywhere, and the charsets the API reads.

Media types and parameter names are case-insensitive: ``APPLICATION/X-WWW-FORM-URLENCODED;
CharSet=UTF-8`` is a form, as FastAPI and Starlette read it, so every check the app makes on a
content type (the NUL guard, the per-email login limit, the contact import) parses it here and
compares lower-case names, never the raw header.

**Charsets are an allow-list.** The API reads JSON and forms as UTF-8 (US-ASCII being a part of
it) and, for the raw text files of the contact import, a few encodings spreadsheets and address
books really produce. A body declaring any other charset is refused before anything decodes it:
some of Python's codecs are slow (``punycode`` is quadratic), others are not text encodings at
all (``rot13``, ``base64``, ``zlib``), and some turn harmless bytes into a NUL (``utf-7``,
``unicode_escape``). Looking a name up in a fixed table costs the same whatever it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.types import Scope

# The charsets each kind of body may declare, as the IANA names a problem lists.
UNICODE_CHARSETS = ("utf-8", "us-ascii")
TEXT_CHARSETS = (
    *UNICODE_CHARSETS,
    "iso-8859-1",
    "iso-8859-15",
    "windows-1252",
    "utf-16",
    "utf-16le",
    "utf-16be",
)
# How a client may spell each of them (lower case), and the codec that reads it.
_CODECS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
    "latin1": "latin-1",
    "latin-1": "latin-1",
    "iso-8859-15": "iso8859-15",
    "iso8859-15": "iso8859-15",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "utf-16": "utf-16",
    "utf-16le": "utf-16-le",
    "utf-16be": "utf-16-be",
}
_CANONICAL = {
    "utf8": "utf-8",
    "ascii": "us-ascii",
    "iso8859-1": "iso-8859-1",
    "latin1": "iso-8859-1",
    "latin-1": "iso-8859-1",
    "iso8859-15": "iso-8859-15",
    "cp1252": "windows-1252",
}
# Codecs in which the byte 0 is U+0000 and no other byte or sequence is: a NUL in the text is
# exactly a zero byte in the body, found without decoding anything.
ZERO_BYTE_IS_NUL = frozenset({"utf-8", "ascii", "latin-1", "iso8859-15", "cp1252"})
# The raw files the contact import reads, besides text/*.
_TEXT_APPLICATION_TYPES = frozenset(
    {"application/csv", "application/vnd.ms-excel", "application/octet-stream"}
)
# Every ``charset`` parameter (Starlette's form parser takes the last one, others the first:
# all of them are checked). The value stops at a quote, a separator or white space.
_CHARSET_PARAM = re.compile(r";\s*charset\s*=\s*\"?([^\";,\s]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ContentType:
    """A request's media type (``type/subtype``, lower case; empty without a header) and every
    charset it declares (lower case, unquoted)."""

    media_type: str = ""
    charsets: tuple[str, ...] = ()

    @property
    def is_json(self) -> bool:
        """Whether FastAPI parses the body as JSON (``application/json``, ``…+json``)."""
        return self.media_type == "application/json" or self.media_type.endswith("+json")

    @property
    def is_urlencoded_form(self) -> bool:
        return self.media_type == "application/x-www-form-urlencoded"

    @property
    def is_form(self) -> bool:
        """Whether Starlette parses the body as a form (urlencoded or multipart)."""
        return self.is_urlencoded_form or self.media_type == "multipart/form-data"

    @property
    def is_text(self) -> bool:
        """A raw text file: ``text/*``, or a type the contact import reads as text."""
        return self.media_type.startswith("text/") or self.media_type in _TEXT_APPLICATION_TYPES

    @property
    def allowed_charsets(self) -> tuple[str, ...]:
        return TEXT_CHARSETS if self.is_text else UNICODE_CHARSETS

    def unsupported_charset(self) -> str | None:
        """The first declared charset this kind of body may not use, if any."""
        allowed = self.allowed_charsets
        for charset in self.charsets:
            if _CANONICAL.get(charset, charset) not in allowed:
                return charset
        return None

    @property
    def codec(self) -> str:
        """The Python codec that reads the body (UTF-8 unless an allowed charset says else).

        Only meaningful once :meth:`unsupported_charset` has found nothing to refuse.
        """
        return _CODECS.get(self.charsets[-1], "utf-8") if self.charsets else "utf-8"


def parse_content_type(value: str | bytes | None) -> ContentType:
    """Read a ``Content-Type`` header: linear in its length, whatever it holds."""
    if not value:
        return ContentType()
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    media_type = text.partition(";")[0].strip().lower()
    charsets = tuple(m.group(1).lower() for m in _CHARSET_PARAM.finditer(text))
    return ContentType(media_type, charsets)


def content_type_of(scope: Scope) -> ContentType:
    """The ``Content-Type`` of an ASGI request (the first such header, as Starlette reads it)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return parse_content_type(value)
    return ContentType()


__all__ = [
    "TEXT_CHARSETS",
    "UNICODE_CHARSETS",
    "ZERO_BYTE_IS_NUL",
    "ContentType",
    "content_type_of",
    "parse_content_type",
]
