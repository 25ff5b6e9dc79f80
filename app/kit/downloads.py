"""Take-aways the user can download: one interview's write-up, and the whole account."""

from __future__ import annotations

import re
import unicodedata


def slug(text: str, fallback: str = "contact") -> str:
    """``Jürgen O'Brien`` -> ``jurgen-o-brien``: ASCII, lower case, safe in a file name."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words)[:60].strip("-") or fallback


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` value that makes a browser save the body as ``filename``."""
    return f'attachment; filename="{filename}"'
