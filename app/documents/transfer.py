"""Documents in the account export and its import: the record, and how it is read back.

An export carries each document whole, its bytes in base64 (``content``); ``content_type``,
``size`` and ``sha256`` are informative. An import holds the bytes to what an upload is held to
(the default size of one document; a type found from the bytes, never from the record) and
works the rest out again, as an upload would.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField

from app.documents import files
from app.documents.schemas import TITLE_MAX
from app.kit.config import Settings
from app.kit.schemas import Timestamp, WholeNumber
from app.vocabulary import DocumentKind

#: The most bytes one imported document may have: the upload's default limit.
MAX_BYTES: int = Settings.model_fields["max_document_bytes"].default
#: The most documents one export carries (a user keeps 20 by default).
MAX_DOCUMENTS = 100
#: Documents read (and held in memory) at a time while an export is written.
EXPORT_BATCH = 2
_MAX_BASE64 = 4 * -(-MAX_BYTES // 3)


class DocumentRecord(BaseModel):
    """A document with its bytes, in base64."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    kind: DocumentKind
    title: Annotated[str, StringConstraints(max_length=TITLE_MAX)] | None = None
    filename: Annotated[str, StringConstraints(max_length=255)]
    content_type: Annotated[str, StringConstraints(max_length=100)] | None = None
    size: WholeNumber | None = None
    sha256: Annotated[str, StringConstraints(max_length=64)] | None = None
    content: Annotated[str, StringConstraints(max_length=_MAX_BASE64)] = PydanticField(
        description="The file's bytes, base64 (standard alphabet, padded)."
    )
    created_at: Timestamp
    updated_at: Timestamp


_EXPORTED = tuple(name for name in DocumentRecord.model_fields if name != "content")


def exported(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A document row as its export record."""
    record = {name: row[name] for name in _EXPORTED}
    record["content"] = base64.b64encode(bytes(row["content"])).decode("ascii")
    return record


Problem = tuple[list[str | int], str, str]


def check(records: Sequence[DocumentRecord]) -> tuple[dict[uuid.UUID, bytes], list[Problem]]:
    """Each record's bytes by id, and what is wrong with any (``loc`` inside ``documents``)."""
    contents: dict[uuid.UUID, bytes] = {}
    problems: list[Problem] = []
    for index, record in enumerate(records):
        if record.id in contents:
            problems.append(([index, "id"], "another document has this id", "duplicate_id"))
            continue
        try:
            content = base64.b64decode(record.content, validate=True)
        except (binascii.Error, ValueError):
            problems.append(([index, "content"], "not base64", "invalid_base64"))
            continue
        if len(content) > MAX_BYTES:
            problems.append(
                ([index, "content"], f"more than {MAX_BYTES} bytes", "document_too_large")
            )
        elif not content or files.sniff(content) is None:
            problems.append(
                (
                    [index, "content"],
                    "not a PDF, DOCX, ODT or UTF-8 text document",
                    "unsupported_document_type",
                )
            )
        contents[record.id] = content
    return contents, problems


def rows(
    records: Sequence[DocumentRecord],
    contents: Mapping[uuid.UUID, bytes],
    new_ids: Mapping[uuid.UUID, uuid.UUID],
    owner_id: uuid.UUID,
) -> Iterator[dict[str, Any]]:
    """The ``document`` rows of checked records, under their new ids."""
    for record in records:
        content = contents[record.id]
        sniffed = files.sniff(content)
        assert sniffed is not None  # checked
        yield {
            "id": new_ids[record.id],
            "owner_id": owner_id,
            "kind": record.kind.value,
            "title": record.title,
            "filename": files.safe_filename(record.filename, sniffed),
            "content_type": sniffed.media_type,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "content": content,
            "version": 1,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }
