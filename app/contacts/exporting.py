"""Contacts out to the tools people keep them in: a vCard file or a Google Contacts CSV.

Both are streamed: :func:`stream` reads the caller's contacts a page of :data:`PAGE_SIZE` at a
time (keyset, newest first, as the list shows them) and yields each page already written out,
so memory stays flat however many contacts there are. Each page is its own short read and the
connection goes back to the pool before the page is sent: a slow download holds no connection
and no transaction. A contact added or changed during the download may or may not be in the
file; none is in it twice. Archived contacts are left out unless asked for.

**vCard** (RFC 6350 for 4.0, the default; RFC 2426 for 3.0), one card per contact:

- ``FN`` the full name as written; ``N`` split from it: the last word is the family name, the
  first the given name, any words between are additional names (a one-word name is a given
  name only);
- ``EMAIL``: 4.0 ``PREF=1`` (it is the contact's only address; 4.0 has no ``internet`` type
  and whether it is work or home is not known); 3.0 ``TYPE=INTERNET,PREF``;
- ``TEL``: 4.0 ``VALUE=uri`` with a ``tel:`` URI (RFC 3966) for an international number
  (``+44 20 7946 0000`` -> ``tel:+44-20-7946-0000``, an extension as ``;ext=``, a ``(0)``
  trunk prefix dropped); anything else (a local number, which a ``tel:`` URI could only carry
  with a ``phone-context`` we do not know, or words) as ``VALUE=text``, as typed. 3.0: text;
- ``ORG``, ``TITLE``, ``URL`` (``profile_url``), ``NOTE``, ``CATEGORIES`` (the tags);
- ``UID``: 4.0 ``urn:uuid:<id>``, 3.0 the id; ``REV``: ``updated_at`` in UTC;
- ``X-INFOVIEW-CAREER-FIELD`` and ``X-INFOVIEW-KEEP-IN-TOUCH-DAYS``: the two fields vCard has
  no property for, as extensions other applications keep or ignore.

Text values are escaped (``\\\\``, ``\\,``, ``\\;``, line breaks as ``\\n``); URI values
(``URL``, a ``tel:`` URI, the 4.0 ``UID``) are not, since a backslash has no place in a URI:
they go out as written, with only characters a URI may not hold percent-encoded. Control
characters a vCard may not carry (C0 other than tab, and DEL) are dropped; Unicode line and
paragraph separators become line breaks. Lines end with CRLF and are folded at 75 octets,
never inside a UTF-8 sequence.

The cards are written here rather than by ``vobject`` (which reads them back in the tests):
its writer counts characters, not octets, before folding, so a name of 60 accented letters
goes out as one line of 123 octets; it backslash-escapes URI values as if they were text;
and it takes about half a millisecond a card, most of a minute for 100,000 contacts.

**CSV** in the columns of Google Contacts' own export, a subset it imports as is: ``First
Name``, ``Middle Name``, ``Last Name`` (split as for ``N``), ``Organization Name``,
``Organization Title``, ``Notes``, ``Labels`` (the tags, joined by `` ::: ``), and a label
and a value column each for ``E-mail 1`` and ``Phone 1`` (label ``Other``: whether they are
work or home is not known) and ``Website 1`` (the profile, label ``Profile``). The two fields
Google has no column for go to its custom fields: ``Custom Field 1`` is the career field
(label ``Career field``), ``Custom Field 2`` the keep-in-touch cadence (label ``Keep in touch
every (days)``), each empty when unset. Neither file carries the rest of a contact (its
external id and source, ``last_contacted_at``, whether it is archived): those mean something
only here. UTF-8 with a byte order mark (so Excel reads it as UTF-8), CRLF line ends, quoted as the
``csv`` module does; an empty account gives the header row alone.

*Formula injection*: a spreadsheet runs a cell starting with ``=``, ``+``, ``-`` or ``@`` (and
some a tab or carriage return) as a formula, so such a cell gets a leading ``'`` and is shown
as text. One exception keeps phone numbers whole: a phone cell made only of digits, spaces and
``+ - ( ) . /`` (``+44 20 7946 0000``) is left as it is; without letters it can name no
function and no cell, so nothing in it can run.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from sqlmodel import Session

from app.contacts import repository

# Contacts read, and written out, per page of the stream.
PAGE_SIZE = 500


class ContactExportFormat(StrEnum):
    """The file an export is written as."""

    VCARD = "vcard"
    CSV = "csv"


class VCardVersion(StrEnum):
    """The vCard version an export is written in."""

    V4 = "4.0"
    V3 = "3.0"


MEDIA_TYPES = {
    ContactExportFormat.VCARD: "text/vcard; charset=utf-8",
    ContactExportFormat.CSV: "text/csv; charset=utf-8",
}
FILENAMES = {
    ContactExportFormat.VCARD: "infoview-contacts.vcf",
    ContactExportFormat.CSV: "infoview-contacts.csv",
}

Contact = Mapping[str, Any]


# --- shared -----------------------------------------------------------------------------------


def split_name(full_name: str) -> tuple[str, str, str]:
    """``(given, middle, family)``: the last word is the family name, the first the given
    name, the words between the middle names; a one-word name is a given name only."""
    words = full_name.split()
    if len(words) < 2:
        return (words[0] if words else "", "", "")
    return words[0], " ".join(words[1:-1]), words[-1]


# --- vCard ------------------------------------------------------------------------------------

_FOLD_AT = 75  # octets per line, CRLF not counted (RFC 6350 3.2, RFC 2426 2.6)
_PRODID = "-//Infoview//Contacts export//EN"
# Dropped from text values: C0 controls other than tab, CR and LF (which become \n), and DEL.
_NOT_IN_VCARD = dict.fromkeys([*range(0x09), *range(0x0B, 0x0D), *range(0x0E, 0x20), 0x7F])
# Unicode line breaks other than CR and LF: written as the line break they are.
_LINE_BREAKS = {0x85: "\n", 0x2028: "\n", 0x2029: "\n"}
_VCARD_TEXT = str.maketrans({**_NOT_IN_VCARD, **_LINE_BREAKS})
# Everything RFC 3986 allows in a URI as it is; anything else (a space, a non-ASCII letter) is
# percent-encoded, and an existing %XX escape is kept.
_URI_SAFE = ":/?#[]@!$&'()*+,;=-._~%"
# A phone number in international form, with an optional extension.
_PHONE = re.compile(
    r"^\s*(?P<number>\+[\d\s().\-/]*\d[\d\s().\-/]*?)"
    r"(?:\s*(?:ext\.?|extension|x|#)\s*(?P<ext>\d+))?\s*$",
    re.IGNORECASE,
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def escape(value: str) -> str:
    r"""A text value, or one field of a compound one, escaped: ``\\``, ``\,``, ``\;``, and
    every line break as ``\n``; characters a vCard may not carry are dropped."""
    value = value.translate(_VCARD_TEXT)
    value = value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    return _LINE_BREAK.sub("\\\\n", value)


def _uri(value: str) -> str:
    """A URI value: as written, with characters a URI may not contain percent-encoded."""
    return quote(value, safe=_URI_SAFE)


def tel_uri(phone: str) -> str | None:
    """``+44 (0)20 7946 0000 ext 12`` -> ``tel:+44-20-7946-0000;ext=12`` (RFC 3966).

    ``None`` for a number that is not in international form: a ``tel:`` URI of a local
    number needs a ``phone-context``, which only the person who typed it knows.
    """
    match = _PHONE.match(phone)
    if match is None:
        return None
    number = match["number"].replace("(0)", " ")  # a trunk prefix, never dialled from abroad
    uri = "tel:+" + "-".join(re.findall(r"\d+", number))
    return f"{uri};ext={match['ext']}" if match["ext"] else uri


def _timestamp(at: datetime) -> str:
    """A UTC timestamp as vCard writes one: ``20261125T192116Z``."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """A content line folded at 75 octets, CRLF-terminated, never inside a UTF-8 sequence.

    Each continuation line starts with a space, which counts in its 75 octets.
    """
    data = line.encode()
    if len(data) <= _FOLD_AT:
        return line + "\r\n"
    parts = []
    start, room = 0, _FOLD_AT
    while len(data) - start > room:
        end = start + room
        while data[end] & 0xC0 == 0x80:  # a continuation byte: cut before its sequence
            end -= 1
        parts.append(data[start:end])
        start, room = end, _FOLD_AT - 1
    parts.append(data[start:])
    return (b"\r\n ".join(parts) + b"\r\n").decode()


def _lines(contact: Contact, version: VCardVersion) -> Iterator[str]:
    """The card's content lines, unfolded, in the order vCard wants: BEGIN, VERSION first."""
    v4 = version is VCardVersion.V4
    yield "BEGIN:VCARD"
    yield f"VERSION:{version.value}"
    yield f"PRODID:{_PRODID}"
    yield f"FN:{escape(contact['full_name'])}"
    given, middle, family = split_name(contact["full_name"])
    yield f"N:{escape(family)};{escape(given)};{escape(middle)};;"
    if contact["email"]:
        params = ";PREF=1" if v4 else ";TYPE=INTERNET,PREF"
        yield f"EMAIL{params}:{escape(contact['email'])}"
    if contact["phone"]:
        uri = tel_uri(contact["phone"]) if v4 else None
        if uri is not None:
            yield f"TEL;VALUE=uri:{uri}"
        else:
            yield f"TEL{';VALUE=text' if v4 else ''}:{escape(contact['phone'])}"
    if contact["organization"]:
        yield f"ORG:{escape(contact['organization'])}"
    if contact["title"]:
        yield f"TITLE:{escape(contact['title'])}"
    if contact["profile_url"]:
        yield f"URL:{_uri(contact['profile_url'])}"
    if contact["notes"]:
        yield f"NOTE:{escape(contact['notes'])}"
    if contact["tags"]:
        yield f"CATEGORIES:{','.join(escape(tag) for tag in contact['tags'])}"
    contact_id = uuid.UUID(str(contact["id"]))
    yield f"UID:{contact_id.urn if v4 else contact_id}"
    yield f"REV:{_timestamp(contact['updated_at'])}"
    if contact["career_field"]:
        yield f"X-INFOVIEW-CAREER-FIELD:{escape(contact['career_field'])}"
    if contact["keep_in_touch_days"] is not None:
        yield f"X-INFOVIEW-KEEP-IN-TOUCH-DAYS:{contact['keep_in_touch_days']}"
    yield "END:VCARD"


def vcard(contact: Contact, version: VCardVersion = VCardVersion.V4) -> str:
    """One contact as a vCard, every line folded and CRLF-terminated."""
    return "".join(fold(line) for line in _lines(contact, version))


# --- CSV --------------------------------------------------------------------------------------

CSV_HEADER = (
    "First Name",
    "Middle Name",
    "Last Name",
    "Organization Name",
    "Organization Title",
    "Notes",
    "Labels",
    "E-mail 1 - Label",
    "E-mail 1 - Value",
    "Phone 1 - Label",
    "Phone 1 - Value",
    "Website 1 - Label",
    "Website 1 - Value",
    "Custom Field 1 - Label",
    "Custom Field 1 - Value",
    "Custom Field 2 - Label",
    "Custom Field 2 - Value",
)
LABEL_SEPARATOR = " ::: "
CAREER_FIELD_LABEL = "Career field"
KEEP_IN_TOUCH_LABEL = "Keep in touch every (days)"
_BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_PHONE = re.compile(r"[\d\s+\-().\/]+")


def guard(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that could start a formula gets a ``'``."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _phone_cell(phone: str) -> str:
    """A phone number whole when it holds nothing a formula could use (see the module)."""
    return phone if _PLAIN_PHONE.fullmatch(phone) else guard(phone)


def _labelled(label: str, value: str | None) -> list[str]:
    return [label, value] if value else ["", ""]


def csv_row(contact: Contact) -> list[str]:
    """The contact's cells, in the order of :data:`CSV_HEADER`, guarded against formulas."""
    given, middle, family = split_name(contact["full_name"])
    tags: Sequence[str] = contact["tags"] or ()
    days = contact["keep_in_touch_days"]
    cells = [
        given,
        middle,
        family,
        contact["organization"] or "",
        contact["title"] or "",
        contact["notes"] or "",
        LABEL_SEPARATOR.join(tags),
        *_labelled("Other", contact["email"]),
        *_labelled("Other", contact["phone"]),
        *_labelled("Profile", contact["profile_url"]),
        *_labelled(CAREER_FIELD_LABEL, contact["career_field"]),
        *_labelled(KEEP_IN_TOUCH_LABEL, str(days) if days is not None else None),
    ]
    phone_at = CSV_HEADER.index("Phone 1 - Value")
    return [_phone_cell(cell) if at == phone_at else guard(cell) for at, cell in enumerate(cells)]


def _csv_lines(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


# --- the stream -------------------------------------------------------------------------------


def stream(
    session: Session,
    owner_id: uuid.UUID,
    *,
    format: ContactExportFormat,
    vcard_version: VCardVersion = VCardVersion.V4,
    include_archived: bool = False,
    caller_session: uuid.UUID | None = None,
) -> Iterator[bytes]:
    """The caller's contacts as a file, one chunk per page of :data:`PAGE_SIZE` contacts.

    The first chunk comes from the first page's read, which also proves the caller's account
    exists and its session is live (a 401 otherwise): take it before the answer starts, so
    that failure is still an ordinary error answer. Blocking: iterate it in a worker thread.
    """
    render: Callable[[list[dict[str, Any]]], str]
    if format is ContactExportFormat.CSV:
        head = _BOM + _csv_lines([CSV_HEADER])

        def render(rows: list[dict[str, Any]]) -> str:
            return _csv_lines([csv_row(row) for row in rows])

    else:
        head = ""

        def render(rows: list[dict[str, Any]]) -> str:
            return "".join(vcard(row, vcard_version) for row in rows)

    cursor: str | None = None
    while True:
        rows, has_more, cursor = repository.export_page(
            session,
            owner_id,
            include_archived=include_archived,
            cursor=cursor,
            size=PAGE_SIZE,
            caller_session=caller_session,
        )
        # The page is read: the connection goes back to the pool while the client downloads.
        session.close()
        yield (head + render(rows)).encode()
        head = ""
        if not has_more:
            return
