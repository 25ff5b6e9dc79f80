"""Take-aways the user can download: one interview's write-up, and the whole account."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote


def slug(text: str, fallback: str = "contact") -> str:
    """``Jürgen O'Brien`` -> ``jurgen-o-brien``: ASCII, lower case, safe in a file name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words)[:60].strip("-") or fallback


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` value that makes a browser save the body as ``filename``.

    A name of plain printable ASCII goes as it is; any other also goes percent-encoded in
    UTF-8 (``filename*``, RFC 6266), beside an ASCII stand-in for older clients. Quotes,
    backslashes and control characters never reach the header.
    """
    fallback = "".join(
        c if " " <= c <= "~" and c not in '"\\' else "_"
        for c in unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ).strip()
    if not fallback or fallback.startswith("."):
        fallback = "download" + fallback
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
