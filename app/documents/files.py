"""What a file is, read from its bytes, and the name it may be saved under. Pure.

A type is never taken from the file's name or from the type its sender declared: a PDF starts
with ``%PDF-``; a DOCX and an ODT are ZIP archives whose entries say so (``[Content_Types].xml``
naming the WordprocessingML main part; a ``mimetype`` entry naming the OpenDocument text type);
anything else is plain text only if it is valid UTF-8 without NUL characters. Reading a ZIP
looks at those two small entries only, whatever else the archive holds, so a crafted archive
costs no more than its central directory.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
TXT = "text/plain"

#: The media types a document may have, with the extension its name is given.
EXTENSIONS: dict[str, str] = {PDF: "pdf", DOCX: "docx", ODT: "odt", TXT: "txt"}
ACCEPTED = tuple(EXTENSIONS)

_ZIP_MAGIC = b"PK\x03\x04"
_DOCX_MAIN = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_ODT_MIMETYPE = ODT.encode()
# The entries read from an archive are small; a bigger one is not what it claims to be.
_MAX_ENTRY_BYTES = 64 * 1024

MAX_FILENAME_CHARS = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f"*/:<>?\\|]+')


@dataclass(frozen=True)
class Sniffed:
    """What a file turned out to be."""

    media_type: str

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.media_type]


def sniff(content: bytes) -> Sniffed | None:
    """The document type of ``content``, or ``None`` when it is none of those accepted."""
    if content.startswith(b"%PDF-"):
        return Sniffed(PDF)
    if content.startswith(_ZIP_MAGIC):
        found = _office_type(content)
        return Sniffed(found) if found else None
    if b"\x00" in content:
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return Sniffed(TXT)


def _office_type(content: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            mimetype = _entry(archive, "mimetype")
            if mimetype is not None and mimetype.strip() == _ODT_MIMETYPE:
                return ODT
            types = _entry(archive, "[Content_Types].xml")
            if types is not None and _DOCX_MAIN in types:
                return DOCX
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, ValueError):
        return None
    return None


def _entry(archive: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _MAX_ENTRY_BYTES:
        return None
    with archive.open(info) as entry:
        # Read one byte more than declared: an entry that inflates beyond its header lies.
        data = entry.read(_MAX_ENTRY_BYTES + 1)
    return data if len(data) <= _MAX_ENTRY_BYTES else None


def safe_filename(name: str | None, sniffed: Sniffed) -> str:
    """A name to store and offer for download: no folders, no control or reserved
    characters, at most :data:`MAX_FILENAME_CHARS` characters, ending in the extension of the
    type found (``resume.png`` holding a PDF is saved as ``resume.png.pdf``)."""
    base = unicodedata.normalize("NFC", name or "")
    base = re.split(r"[/\\]", base)[-1]
    base = _UNSAFE.sub("_", base).strip(" ._")
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem = base
    elif extension.lower() == sniffed.extension:
        stem = stem.strip(" ._")
    else:
        stem = base  # another extension is part of the name, not its type
    stem = stem or "document"
    room = MAX_FILENAME_CHARS - len(sniffed.extension) - 1
    return f"{stem[:room].rstrip(' ._') or 'document'}.{sniffed.extension}"


def download_type(media_type: str) -> str:
    """The Content-Type a document is served with (text says its charset)."""
    return f"{media_type}; charset=utf-8" if media_type == TXT else media_type
