"""Contact files as people's tools write them: the bytes' encoding, the kind of file, its layout.

An import starts from a file somebody exported from LinkedIn, Google Contacts, Outlook, a phone
or a spreadsheet, and it should come in as it is, without editing. This module turns the file's
bytes into :class:`Row` objects with the contact's fields named as the API names them; the
rules about what a row may change live in :mod:`app.contacts.importing`.

**Encoding.** A ``charset`` the client declares wins. Otherwise a byte-order mark decides
(UTF-8, UTF-16 or UTF-32, either byte order); UTF-16 without a mark is recognised by the zero
bytes of its ASCII characters; anything else is UTF-8 if every byte of it is, and otherwise
read as Windows-1252, with a notice saying so (the spreadsheet programs of Windows write that
when asked for "CSV").

**Kind.** A file whose first text is ``BEGIN:VCARD`` is vCard, anything else CSV; ``format``
can name it instead.

**CSV layout.** A first line ``sep=;`` (Excel's) names the delimiter; otherwise the header line
decides between comma, semicolon and tab by which occurs most outside quotes. The header
names the source: :data:`PRESETS` lists the tools recognised (LinkedIn, both generations of
Google Contacts, Outlook, and our own columns); lines before the header (LinkedIn's
``Notes:``) are passed over. Any other CSV needs a ``mapping`` (our field ← their header).
Several values in one field (Google's ``a ::: b``, several e-mail or phone columns) give a
contact its first (Google: primary) value; the others go with it as :attr:`Row.more`.

**vCard** 2.1, 3.0 and 4.0. Lines are unfolded, quoted-printable values (2.1, with their soft
line breaks and ``CHARSET``) decoded, bare parameters (``TEL;CELL;PREF``) read as types, and
photos, logos, sounds and keys dropped as they stream past, so that a phone's export full of
pictures costs no memory. The card is then read by ``vobject``.
"""

from __future__ import annotations

import codecs
import csv
import io
import quopri
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from typing import IO, Any

import vobject

from app.contacts.exporting import CAREER_FIELD_LABEL, KEEP_IN_TOUCH_LABEL, guard
from app.kit.errors import Unprocessable

# --- what a row is ----------------------------------------------------------------------------


@dataclass
class Row:
    """One record of a file: its line, the fields it gives, further values, what was odd.

    ``fields`` holds single values under the API's field names (``tags`` a list); ``more``
    holds the further e-mails, phones and websites a record gives beyond the first; ``notices``
    are (field, message) pairs about values that were repaired or left out while reading.
    """

    line: int
    fields: dict[str, Any] = field(default_factory=dict)
    more: dict[str, list[str]] = field(default_factory=dict)
    notices: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


CSV_COLUMNS = (
    "full_name",
    "email",
    "phone",
    "organization",
    "title",
    "career_field",
    "profile_url",
    "notes",
    "tags",
    "keep_in_touch_days",
    "external_id",
    "source",
)
TAG_SEPARATOR = ";"
# Names a mapping may give besides the columns: the parts a full name is made of.
NAME_PARTS = ("first_name", "middle_name", "last_name")
MAPPABLE = (*CSV_COLUMNS, *NAME_PARTS)
MULTI_VALUED = ("email", "phone", "profile_url")
# Lines a file may have before its header (LinkedIn writes a few notes there).
MAX_PREAMBLE_LINES = 20
# One physical line, or one card once its pictures are dropped: far beyond any real one.
MAX_LINE_CHARS = 1024 * 1024
MAX_CARD_CHARS = 256 * 1024


class FileFormat(StrEnum):
    """What an import reads: detected from the file (``auto``) or named by the client."""

    AUTO = "auto"
    INFOVIEW = "infoview"
    LINKEDIN = "linkedin"
    GOOGLE = "google"
    GOOGLE_LEGACY = "google_legacy"
    OUTLOOK = "outlook"
    VCARD = "vcard"
    MAPPED = "mapped"


@dataclass(frozen=True)
class Spelling:
    """How the messages of one way in (HTTP or the command line) name its options."""

    charset: str
    format: str
    mapping: str
    skip: str


HTTP = Spelling(
    charset="the charset parameter of Content-Type (e.g. text/csv; charset=windows-1252)",
    format="the format parameter",
    mapping="the mapping parameter (e.g. mapping=full_name:Name)",
    skip="send on_error=skip",
)


# --- encodings --------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF_BYTES = 4096
_CHECK_BYTES = 64 * 1024


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``-be`` when the zero bytes of ASCII text say so, else None."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even_zeros = head[0 : pairs * 2 : 2].count(0)
    odd_zeros = head[1 : pairs * 2 : 2].count(0)
    if odd_zeros >= pairs * 0.3 and even_zeros == 0:
        return "utf-16-le"
    if even_zeros >= pairs * 0.3 and odd_zeros == 0:
        return "utf-16-be"
    return None


def _is_utf8(raw: IO[bytes]) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := raw.read(_CHECK_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class Encoding:
    """The codec a file is read with, and a notice when it was a guess worth mentioning."""

    codec: str
    notice: str | None = None

    @property
    def name(self) -> str:
        return {"utf-8-sig": "utf-8"}.get(self.codec, self.codec)


def sniff_encoding(raw: IO[bytes], declared: str | None, spelling: Spelling = HTTP) -> Encoding:
    """The encoding of the (seekable) file ``raw``; leaves it at its start."""
    raw.seek(0)
    head = raw.read(_SNIFF_BYTES)
    raw.seek(0)
    if declared is not None:
        if codecs.lookup(declared).name == "utf-8":
            return Encoding("utf-8-sig")
        return Encoding(declared)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return Encoding(codec)
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        return Encoding(utf16)
    utf8 = _is_utf8(raw)
    raw.seek(0)
    if utf8:
        return Encoding("utf-8")
    return Encoding(
        "cp1252",
        "The file is not UTF-8, so it was read as Windows-1252. If names look wrong, "
        f"name the file's encoding with {spelling.charset}.",
    )


def text_lines(raw: IO[bytes], encoding: Encoding, spelling: Spelling = HTTP) -> Iterator[str]:
    """The file's lines (line ends kept), decoded; refuses NUL characters and endless lines."""
    errors = "strict"
    text = io.TextIOWrapper(raw, encoding=encoding.codec, errors=errors, newline="")
    number = 0
    try:
        while line := text.readline(MAX_LINE_CHARS + 1):
            number += 1
            if len(line) > MAX_LINE_CHARS:
                raise Unprocessable(
                    f"Line {number} is longer than {MAX_LINE_CHARS} characters.",
                    code="line_too_long",
                    errors=[{"line": number, "message": "the line is too long"}],
                )
            if "\x00" in line:
                raise Unprocessable(
                    f"Line {number} holds a NUL character; is the file in another encoding? "
                    f"Name it with {spelling.charset}.",
                    code="nul_character",
                    errors=[{"line": number, "message": "the line holds a NUL character"}],
                )
            yield line
    except UnicodeDecodeError as exc:
        raise Unprocessable(
            f"The file is not valid {encoding.name} text (line {number + 1} cannot be decoded); "
            f"name its encoding with {spelling.charset}.",
            code="invalid_encoding",
        ) from exc
    finally:
        text.detach()


# --- CSV layouts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """Where a tool's CSV keeps each of a contact's fields.

    ``columns`` maps our field to patterns (regular expressions, whole lower-cased header
    names) in order of preference; every column matching contributes values, so a field with
    several columns (``E-mail 1 - Value``, ``E-mail 2 - Value``) or several values in one cell
    (split by ``multi``) keeps the first and hands on the rest. ``name`` is the full-name
    column(s) tried first, ``name_parts`` the parts joined when those are empty.
    """

    format: FileFormat
    title: str
    signature: frozenset[str]
    name: tuple[str, ...] = ()
    name_parts: tuple[str, ...] = ()
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    tag_separator: str = TAG_SEPARATOR
    multi: str | None = None
    identity: str | None = None  # a column identifying the person at the source
    noted: tuple[tuple[str, str], ...] = ()  # (column, label) kept in the notes
    hidden_tags: frozenset[str] = frozenset()
    # Google's "Custom Field N - Label"/"- Value" pairs whose label names one of our fields.
    custom: bool = False


# The custom fields our own export writes, read back by their labels.
_CUSTOM_FIELDS = {
    CAREER_FIELD_LABEL.lower(): "career_field",
    KEEP_IN_TOUCH_LABEL.lower(): "keep_in_touch_days",
}
_CUSTOM_LABEL = re.compile(r"custom field (\d+) - label")


PRESETS = (
    Preset(
        FileFormat.LINKEDIN,
        "LinkedIn connections",
        frozenset({"first name", "last name", "url", "email address", "company", "position"}),
        name_parts=("first name", "last name"),
        columns={
            "email": ("email address",),
            "organization": ("company",),
            "title": ("position",),
            "profile_url": ("url",),
        },
        identity="url",
        noted=(("connected on", "Connected on LinkedIn"),),
    ),
    Preset(
        FileFormat.GOOGLE_LEGACY,
        "Google Contacts (Google CSV, older export)",
        frozenset({"name", "given name", "family name", "group membership"}),
        name=("name",),
        name_parts=("given name", "additional name", "family name"),
        columns={
            "email": (r"e-mail \d+ - value",),
            "phone": (r"phone \d+ - value",),
            "organization": (r"organization 1 - name",),
            "title": (r"organization 1 - title",),
            "profile_url": (r"website \d+ - value",),
            "notes": ("notes",),
        },
        tags=("group membership",),
        tag_separator=":::",
        multi=":::",
        hidden_tags=frozenset({"mycontacts"}),
    ),
    Preset(
        FileFormat.GOOGLE,
        "Google Contacts",
        frozenset({"first name", "last name", "organization name", "labels"}),
        name_parts=("first name", "middle name", "last name"),
        name=(),
        columns={
            "email": (r"e-mail \d+ - value",),
            "phone": (r"phone \d+ - value",),
            "organization": ("organization name",),
            "title": ("organization title",),
            "profile_url": (r"website \d+ - value",),
            "notes": ("notes",),
        },
        tags=("labels",),
        tag_separator=":::",
        multi=":::",
        hidden_tags=frozenset({"mycontacts"}),
        custom=True,
    ),
    Preset(
        FileFormat.OUTLOOK,
        "Outlook (desktop and Outlook.com)",
        frozenset({"first name", "last name", "e-mail address", "job title", "company"}),
        name_parts=("first name", "middle name", "last name"),
        columns={
            "email": ("e-mail address", "e-mail 2 address", "e-mail 3 address"),
            "phone": (
                "primary phone",
                "business phone",
                "mobile phone",
                "home phone",
                "business phone 2",
                "home phone 2",
                "other phone",
                "company main phone",
                "car phone",
            ),
            "organization": ("company",),
            "title": ("job title",),
            "profile_url": ("web page", "personal web page"),
            "notes": ("notes",),
        },
        tags=("categories",),
    ),
)
_PRESETS = {preset.format: preset for preset in PRESETS}


def _header_problem(message: str, code: str, hint: str = "", **extra: Any) -> Unprocessable:
    return Unprocessable(
        f"{message}{hint}", code=code, errors=[{"line": 1, "message": message}], **extra
    )


def _check_own_header(header: list[str]) -> list[str]:
    """Our own columns, checked strictly: every column known, none twice, full_name there."""
    columns: list[str] = []
    listed = f" The columns are: {', '.join(CSV_COLUMNS)}."
    for position, raw in enumerate(header, start=1):
        name = raw.strip().lower()
        if not name:
            raise _header_problem(
                f"Column {position} of the header has no name.", "unnamed_column", listed
            )
        if name not in CSV_COLUMNS:
            raise _header_problem(
                f"Unknown column {raw.strip()!r} in the header.",
                "unknown_column",
                listed,
                column=raw,
            )
        if name in columns:
            raise _header_problem(
                f"Column {name!r} appears twice in the header.",
                "duplicate_column",
                listed,
                column=name,
            )
        columns.append(name)
    if "full_name" not in columns:
        raise _header_problem(
            "The header has no full_name column; every contact needs a name.",
            "missing_column",
            listed,
            column="full_name",
        )
    return columns


def _detect(header: list[str]) -> FileFormat | None:
    names = {cell.strip().lower() for cell in header}
    if "full_name" in names:
        return FileFormat.INFOVIEW
    for preset in PRESETS:
        if preset.signature <= names:
            return preset.format
    return None


def parse_mapping(pairs: Iterable[str], spelling: Spelling = HTTP) -> dict[str, str]:
    """``field:Header`` pairs as {field: header}; our field names only, each once."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, header = pair.partition(":")
        name = name.strip().lower()
        if not sep or not header.strip():
            raise Unprocessable(
                f"Each mapping is field:Header (e.g. full_name:Name); {pair[:80]!r} is not.",
                code="invalid_mapping",
            )
        if name not in MAPPABLE:
            raise Unprocessable(
                f"{name[:40]!r} is not a contact field; map any of {', '.join(MAPPABLE)}.",
                code="invalid_mapping",
            )
        if name in mapping:
            raise Unprocessable(f"The field {name!r} is mapped twice.", code="invalid_mapping")
        mapping[name] = header.strip()
    if mapping and "full_name" not in mapping and not set(NAME_PARTS) & set(mapping):
        raise Unprocessable(
            "The mapping gives no name: map full_name, or first_name and last_name.",
            code="invalid_mapping",
        )
    return mapping


def _mapped_preset(mapping: dict[str, str]) -> Preset:
    def exact(header: str) -> tuple[str]:
        return (re.escape(header.lower()),)

    return Preset(
        FileFormat.MAPPED,
        "columns named by the mapping",
        frozenset(h.lower() for h in mapping.values()),
        name=exact(mapping["full_name"]) if "full_name" in mapping else (),
        name_parts=tuple(re.escape(mapping[p].lower()) for p in NAME_PARTS if p in mapping),
        columns={
            name: exact(header)
            for name, header in mapping.items()
            if name not in ("full_name", "tags", *NAME_PARTS)
        },
        tags=exact(mapping["tags"]) if "tags" in mapping else (),
    )


_SEP_LINE = re.compile(r"^\ufeff?sep=(.)\s*$", re.IGNORECASE)
_DELIMITERS = (",", ";", "\t")


def _delimiter(line: str) -> str:
    """The delimiter of a header line: whichever of , ; tab occurs most outside quotes."""
    outside = "".join(line.split('"')[::2])
    counts = {d: outside.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


@dataclass
class CsvLayout:
    """What was learnt from a CSV file's first lines."""

    format: FileFormat
    delimiter: str
    header_line: int
    header: list[str]
    preset: Preset | None


def _layout(
    head: list[str], fmt: FileFormat, mapping: dict[str, str], spelling: Spelling
) -> CsvLayout:
    """Find the header among the first lines, and what made the file."""
    start = 0
    forced: str | None = None
    if head and (sep := _SEP_LINE.match(head[0].rstrip("\r\n"))):
        forced, start = sep.group(1), 1
    first: tuple[int, list[str], str] | None = None
    for index in range(start, min(len(head), start + MAX_PREAMBLE_LINES)):
        line = head[index]
        if not line.strip():
            continue
        delimiter = forced or _delimiter(line)
        cells = _cells(line, delimiter)
        if first is None:
            first = (index, cells, delimiter)
        if mapping:
            names = {c.strip().lower() for c in cells}
            if {h.lower() for h in mapping.values()} <= names:
                return CsvLayout(
                    FileFormat.MAPPED, delimiter, index + 1, cells, _mapped_preset(mapping)
                )
            continue
        found = _detect(cells)
        if found is not None and fmt in (FileFormat.AUTO, found):
            preset = None if found == FileFormat.INFOVIEW else _PRESETS[found]
            return CsvLayout(found, delimiter, index + 1, cells, preset)
        if fmt == FileFormat.INFOVIEW and index == start:
            _check_own_header(cells)  # says what is wrong with it
    if first is None:
        raise Unprocessable(
            "The file is empty; a CSV import starts with a header row.", code="empty_file"
        )
    shown = ", ".join(repr(c.strip()[:60]) for c in first[1][:12])
    if mapping:
        missing = [h for h in mapping.values() if h.lower() not in {c.lower() for c in first[1]}]
        raise _header_problem(
            f"The header has no column {missing[0]!r} named by the mapping; it has {shown}.",
            "unknown_column",
            column=missing[0],
        )
    if fmt not in (FileFormat.AUTO, FileFormat.INFOVIEW):
        raise _header_problem(
            f"The header is not that of {_PRESETS[fmt].title}: it has {shown}.",
            "unrecognised_header",
        )
    if first[1] and any(c.strip().lower() in CSV_COLUMNS for c in first[1]):
        _check_own_header(first[1])
    raise _header_problem(
        f"The file's columns ({shown}) are not those of a tool we recognise "
        f"({', '.join(p.title for p in PRESETS)}, or our own: {', '.join(CSV_COLUMNS)}). "
        f"Say which of your columns holds each field with {spelling.mapping}.",
        "unrecognised_header",
        presets=[p.format.value for p in PRESETS],
    )


def _typed(name: str, value: str, row: Row) -> Any:
    if name == "tags":
        return [tag.strip() for tag in value.split(TAG_SEPARATOR) if tag.strip()]
    if name == "keep_in_touch_days":
        if not re.fullmatch(r"[+-]?\d{1,9}", value):
            row.notices.append((name, f"{value[:40]!r} is not a whole number of days; left out"))
            return None
        return int(value)
    return value


class _PresetReader:
    """Turns one record of a tool's CSV into a row, by the tool's :class:`Preset`."""

    def __init__(self, preset: Preset, header: list[str]) -> None:
        self.preset = preset
        names = [cell.strip().lower() for cell in header]

        def where(patterns: tuple[str, ...]) -> list[int]:
            found: list[int] = []
            for pattern in patterns:
                compiled = re.compile(pattern)
                found.extend(
                    i for i, n in enumerate(names) if compiled.fullmatch(n) and i not in found
                )
            return found

        self.name = where(preset.name)
        self.name_parts = where(preset.name_parts)
        self.columns = {f: where(p) for f, p in preset.columns.items()}
        self.tags = where(preset.tags)
        self.identity = where((preset.identity,)) if preset.identity else []
        self.noted = [(i, label) for column, label in preset.noted for i in where((column,))]
        self.custom: list[tuple[int, int]] = []  # (label, value) positions
        if preset.custom:
            for i, n in enumerate(names):
                if match := _CUSTOM_LABEL.fullmatch(n):
                    value = f"custom field {match.group(1)} - value"
                    if value in names:
                        self.custom.append((i, names.index(value)))

    def _values(self, record: list[str], positions: list[int]) -> list[str]:
        values: list[str] = []
        for position in positions:
            cell = _unguard(record[position].strip()) if position < len(record) else ""
            parts = cell.split(self.preset.multi) if self.preset.multi else [cell]
            values.extend(p.strip() for p in parts if p.strip())
        return list(dict.fromkeys(values))

    def row(self, line: int, record: list[str]) -> Row:
        row = Row(line)
        name = " ".join(self._values(record, self.name)[:1])
        if not name:
            name = " ".join(v for p in self.name_parts for v in self._values(record, [p])[:1])
        if name:
            row.fields["full_name"] = name
        for field_name, positions in self.columns.items():
            values = self._values(record, positions)
            if not values:
                continue
            if field_name in MULTI_VALUED:
                row.fields[field_name] = values[0]
                if values[1:]:
                    row.more[field_name] = values[1:]
            else:
                value = "\n".join(values) if field_name == "notes" else values[0]
                typed = _typed(field_name, value, row)
                if typed is not None:
                    row.fields[field_name] = typed
        tags: list[str] = []
        for position in self.tags:
            cell = _unguard(record[position].strip()) if position < len(record) else ""
            for tag in cell.split(self.preset.tag_separator):
                tag = tag.strip().removeprefix("* ").strip()
                if tag and tag.lower() not in self.preset.hidden_tags:
                    tags.append(tag)
        if tags:
            row.fields["tags"] = list(dict.fromkeys(tags))
        for label_at, value_at in self.custom:
            label = record[label_at].strip().lower() if label_at < len(record) else ""
            given = self._values(record, [value_at])
            if label in _CUSTOM_FIELDS and given:
                typed = _typed(_CUSTOM_FIELDS[label], given[0], row)
                if typed is not None:
                    row.fields[_CUSTOM_FIELDS[label]] = typed
        identity = self._values(record, self.identity)[:1]
        if identity:
            row.fields["external_id"] = identity[0][:255]
            row.fields["source"] = self.preset.format.value
        noted = [
            f"{label}: {value}"
            for position, label in self.noted
            for value in self._values(record, [position])
        ]
        if noted:
            notes = row.fields.get("notes")
            row.fields["notes"] = "\n".join([*([notes] if notes else []), *noted])
        return row


def _unguard(cell: str) -> str:
    """A cell as it was before a spreadsheet-safe export put a ``'`` before a formula sign."""
    if cell.startswith("'") and guard(cell[1:]) == cell:
        return cell[1:]
    return cell


def _own_row(columns: list[str], line: int, record: list[str]) -> Row:
    row = Row(line)
    for name, cell in zip(columns, record, strict=False):
        value = cell.strip()
        if value:
            typed = _typed(name, value, row)
            if typed is not None:
                row.fields[name] = typed
    return row


def parse_csv(
    lines: Iterable[str],
    fmt: FileFormat = FileFormat.AUTO,
    mapping: dict[str, str] | None = None,
    spelling: Spelling = HTTP,
) -> tuple[CsvLayout, Iterator[Row]]:
    """The layout of a CSV file (found before this returns) and its rows."""
    lines = iter(lines)
    head: list[str] = []
    for line in lines:
        head.append(line)
        if len(head) > MAX_PREAMBLE_LINES + 1:
            break
    layout = _layout(head, fmt, mapping or {}, spelling)
    if layout.preset is None:
        columns = _check_own_header(layout.header)
        make: Callable[[int, list[str]], Row] = lambda n, r: _own_row(columns, n, r)  # noqa: E731
    else:
        make = _PresetReader(layout.preset, layout.header).row
    rest = chain(head[layout.header_line :], lines)
    reader = csv.reader(rest, delimiter=layout.delimiter)
    return layout, _csv_rows(reader, len(layout.header), layout.header_line, make)


def _csv_rows(
    reader: Any, width: int, offset: int, make: Callable[[int, list[str]], Row]
) -> Iterator[Row]:
    previous = reader.line_num
    while True:
        line = offset + previous + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            stuck = reader.line_num == previous
            previous = reader.line_num
            yield Row(line, error=f"cannot be read as CSV: {exc}")
            if stuck:
                return
            continue
        previous = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        row = make(line, record)
        if len(record) > width and any(cell.strip() for cell in record[width:]):
            row.notices.append(
                ("", f"has {len(record)} cells; the header names {width}; the rest were ignored")
            )
        yield row


# --- vCard ---------------------------------------------------------------------------------------

_BEGIN = re.compile(r"^begin:vcard\s*$", re.IGNORECASE)
_END = re.compile(r"^end:vcard\s*$", re.IGNORECASE)
_DROPPED = frozenset({"photo", "logo", "sound", "key"})
_PROPERTY = re.compile(r"^(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)[;:]")


def _split_property(line: str) -> tuple[str, list[str], str]:
    """``NAME;P1;P2=x:value`` as (``NAME``, [``P1``, ``P2=x``], ``value``); quotes respected."""
    quoted = False
    for index, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            head, value = line[:index], line[index + 1 :]
            break
    else:
        return line, [], ""
    name, *params = head.split(";")
    return name, params, value


def _param_values(params: list[str], key: str) -> list[str]:
    found = []
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == key:
            found.append(value.strip().strip('"'))
    return found


def _normalise_property(line: str) -> str:
    """A property line as vobject reads it: 2.1's values decoded and bare parameters typed, and
    a URL's commas escaped (vobject would keep only what comes before the first)."""
    name, params, value = _split_property(line)
    if name.rpartition(".")[2].lower() == "url":
        value = re.sub(r"(?<!\\),", r"\\,", value)
        line = ";".join([name, *params]) + ":" + value
    if not params:
        return line
    encoding = [v.lower() for v in _param_values(params, "encoding")]
    charset = (_param_values(params, "charset") or ["utf-8"])[0]
    kept: list[str] = []
    for param in params:
        key = param.partition("=")[0].strip().lower()
        if key in ("encoding", "charset"):
            continue
        kept.append(param if "=" in param else f"TYPE={param.strip()}")
    if "quoted-printable" in encoding:
        data = quopri.decodestring(value.encode("latin-1", "replace"))
        try:
            codecs.lookup(charset)
            text = data.decode(charset, "replace")
        except LookupError:
            text = data.decode("utf-8", "replace")
        value = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return ";".join([name, *kept]) + ":" + value


def _logical_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Unfolded property lines with the number of their first physical line.

    Folding (a line starting with a space or tab continues the previous one), 2.1's
    quoted-printable soft breaks (a value ending in ``=`` continues on the next line), and
    pictures (with their folded or 2.1-style indented base64, which ends at an empty line)
    dropped on the way.
    """
    current: list[str] = []
    start = 0
    dropping = False
    soft = False
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if soft and current:
            current.append(text)
            soft = text.endswith("=") and _is_qp(current[0])
            if soft:
                current[-1] = current[-1][:-1]
            continue
        if text[:1] in (" ", "\t"):
            if dropping:
                continue
            if current:
                current.append(text[1:])
                soft = text.endswith("=") and _is_qp(current[0])
                if soft:
                    current[-1] = current[-1][:-1]
            continue
        if dropping and not text.strip():
            continue  # 2.1 ends base64 with an empty line
        dropping = False
        if current:
            yield start, "".join(current)
            current = []
        if not text.strip():
            continue
        match = _PROPERTY.match(text)
        if match and match.group(1).lower() in _DROPPED:
            dropping = True
            continue
        current, start = [text], number
        soft = text.endswith("=") and _is_qp(text)
        if soft:
            current[-1] = text[:-1]
    if current:
        yield start, "".join(current)


def _is_qp(line: str) -> bool:
    head = line.split(":", 1)[0].lower()
    return "quoted-printable" in head


def parse_vcard(lines: Iterable[str]) -> Iterator[Row]:
    """One row per card (vCard 2.1, 3.0 or 4.0), numbered by its BEGIN:VCARD line."""
    start = 0
    depth = 0
    card: list[str] = []
    size = 0
    number = 0
    for number, text in _logical_lines(lines):
        if depth == 0:
            if _BEGIN.match(text):
                start, depth, card, size = number, 1, [text], len(text)
            else:
                yield Row(number, error="text outside a BEGIN:VCARD ... END:VCARD block")
            continue
        size += len(text)
        if size > MAX_CARD_CHARS:
            if _END.match(text) and depth == 1:
                yield Row(start, error=f"the card is longer than {MAX_CARD_CHARS} characters")
                depth = 0
            continue
        card.append(_normalise_property(text))
        if _BEGIN.match(text):  # a nested card (AGENT), part of this one
            depth += 1
        elif _END.match(text):
            depth -= 1
            if depth == 0:
                yield _card_row(start, "\r\n".join(card) + "\r\n")
    if depth:
        yield Row(start or number, error="the card has no END:VCARD")


def _types(prop: Any) -> set[str]:
    types: set[str] = set()
    for value in prop.params.get("TYPE", []):
        types.update(t.strip().lower() for t in str(value).split(","))
    return types


def _ranked(card: Any, name: str) -> list[Any]:
    """The card's ``name`` properties, the preferred (TYPE=pref, PREF=1 first) ahead."""
    found = list(card.contents.get(name, []))

    def rank(prop: Any) -> int:
        pref = prop.params.get("PREF")
        if pref:
            try:
                return int(str(pref[0]))
            except ValueError:
                return 1
        return 1 if "pref" in _types(prop) else 101

    return sorted(found, key=rank)


def _text(prop: Any) -> str | None:
    if prop is None:
        return None
    value = prop.value
    if isinstance(value, list):
        value = next((str(v) for v in value if str(v).strip()), "")
    text = str(value).strip()
    return text or None


def _phone(value: str) -> str:
    """A ``tel:`` URI as the number people write (``tel:+1-555;ext=12`` → ``+1-555 ext. 12``)."""
    if value[:4].lower() == "tel:":
        number, _, rest = value[4:].partition(";")
        ext = re.search(r"(?:^|;)ext=([^;]+)", rest)
        return f"{number} ext. {ext.group(1)}" if ext else number
    return value


# The two fields vCard has no property for, as our own export writes them.
_EXTENSIONS = (
    ("x-infoview-career-field", "career_field"),
    ("x-infoview-keep-in-touch-days", "keep_in_touch_days"),
)


def _card_row(line: int, text: str) -> Row:
    try:
        card = vobject.readOne(text, ignoreUnreadable=False)
    except Exception as exc:  # vobject raises assorted errors on malformed input
        return Row(line, error=f"the card cannot be read: {str(exc)[:200]}")
    row = Row(line)
    name = _text(next(iter(_ranked(card, "fn")), None))
    if name is None and card.contents.get("n"):
        n = card.contents["n"][0].value
        parts = [getattr(n, part, "") for part in ("prefix", "given", "additional", "family")]
        parts.append(getattr(n, "suffix", ""))
        flat = [" ".join(p) if isinstance(p, list) else str(p) for p in parts]
        name = " ".join(p.strip() for p in flat if p and p.strip()) or None
    if name is None:
        return Row(line, error="the card has no name (neither FN nor N)")
    row.fields["full_name"] = name
    for prop_name, field_name in (
        ("email", "email"),
        ("tel", "phone"),
        ("org", "organization"),
        ("title", "title"),
        ("url", "profile_url"),
        ("note", "notes"),
        ("uid", "external_id"),
    ):
        values = [v for p in _ranked(card, prop_name) if (v := _text(p)) is not None]
        if field_name == "phone":
            values = [_phone(v) for v in values]
        values = list(dict.fromkeys(values))
        if not values:
            continue
        row.fields[field_name] = values[0]
        if field_name in MULTI_VALUED and values[1:]:
            row.more[field_name] = values[1:]
    for prop_name, field_name in _EXTENSIONS:
        value = _text(next(iter(card.contents.get(prop_name, [])), None))
        if value is not None:
            typed = _typed(field_name, value, row)
            if typed is not None:
                row.fields[field_name] = typed
    tags: list[str] = []
    for prop in card.contents.get("categories", []):
        values = prop.value if isinstance(prop.value, list) else str(prop.value).split(",")
        tags.extend(str(v).strip() for v in values if str(v).strip())
    tags = [t for t in tags if t.lower() != "mycontacts"]
    if tags:
        row.fields["tags"] = list(dict.fromkeys(tags))
    return row


# --- the whole file -----------------------------------------------------------------------------


@dataclass
class ContactFile:
    """A file opened for import: how it is read, and its rows (read as they are asked for)."""

    format: FileFormat
    encoding: Encoding
    delimiter: str | None
    rows: Iterator[Row]
    notices: list[str] = field(default_factory=list)


def _first_text(lines: Iterator[str]) -> tuple[str | None, Iterator[str]]:
    seen: list[str] = []
    for line in lines:
        seen.append(line)
        if line.strip():
            return line, chain(seen, lines)
    return None, iter(seen)


def open_contact_file(
    raw: IO[bytes],
    *,
    charset: str | None = None,
    fmt: FileFormat = FileFormat.AUTO,
    mapping: dict[str, str] | None = None,
    spelling: Spelling = HTTP,
) -> ContactFile:
    """Read enough of ``raw`` (seekable, binary) to know how to read the rest."""
    encoding = sniff_encoding(raw, charset, spelling)
    lines = text_lines(raw, encoding, spelling)
    first, lines = _first_text(lines)
    if first is None:
        raise Unprocessable("The file is empty.", code="empty_file")
    notices = [encoding.notice] if encoding.notice else []
    is_vcard = bool(_BEGIN.match(first.strip().lstrip("\ufeff")))
    if fmt == FileFormat.VCARD or (fmt == FileFormat.AUTO and is_vcard and not mapping):
        return ContactFile(FileFormat.VCARD, encoding, None, parse_vcard(lines), notices)
    if is_vcard:
        raise Unprocessable(
            f"The file is a vCard file, not CSV; leave out {spelling.format} and the mapping.",
            code="unrecognised_header",
        )
    layout, rows = parse_csv(lines, fmt, mapping, spelling)
    return ContactFile(layout.format, encoding, layout.delimiter, rows, notices)
