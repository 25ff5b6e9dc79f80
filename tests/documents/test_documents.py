"""Documents through HTTP: upload (types found from the bytes), limits and quota, download,
isolation, the résumé rule on letters, deletion, and the account export's round trip.

Every test that takes ``client`` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.export import AccountDocument
from app.documents import files
from app.documents import service as documents
from app.documents.schemas import DocumentPublic
from app.kit.config import Settings
from app.kit.schemas import Page
from app.letters.schemas import Letter
from app.main import create_app
from tests.factories import User, assert_problem, register
from tests.factories_letters import create_letter, make_contact, make_interview, send_letter

API = "/api/v1"


# --- files, built from nothing -------------------------------------------------------------


def minimal_pdf() -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def minimal_docx() -> bytes:
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Ada Lovelace, résumé</w:t></w:r></w:p></w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("word/document.xml", document)
    return out.getvalue()


def minimal_odt() -> bytes:
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        "<office:body><office:text><text:p>Ada Lovelace</text:p></office:text></office:body>"
        "</office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        # The mimetype entry first and stored, as the OpenDocument format requires.
        archive.writestr(zipfile.ZipInfo("mimetype"), files.ODT, zipfile.ZIP_STORED)
        # Entries dated by a fixed ZipInfo, not the clock: the same bytes on every call.
        archive.writestr(zipfile.ZipInfo("META-INF/manifest.xml"), manifest, zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("content.xml"), content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
TEXT = "Ada Lovelace\nAnalyst — numbers, engines, notes.\n".encode()


def upload(
    client: TestClient,
    user: User,
    content: bytes,
    filename: str = "resume.pdf",
    *,
    kind: str = "resume",
    title: str | None = None,
    declared: str = "application/octet-stream",
) -> Any:
    data = {"kind": kind}
    if title is not None:
        data["title"] = title
    return client.post(
        f"{API}/documents",
        files={"file": (filename, content, declared)},
        data=data,
        headers=user.headers,
    )


def uploaded(
    client: TestClient, user: User, content: bytes, filename: str = "cv.pdf", **kw: Any
) -> dict[str, Any]:
    r = upload(client, user, content, filename, **kw)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


# --- upload and download ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "filename", "media_type", "saved_as"),
    [
        (minimal_pdf, "Résumé 2026.pdf", files.PDF, "Résumé 2026.pdf"),
        (minimal_docx, "cv.docx", files.DOCX, "cv.docx"),
        (minimal_odt, "cv.odt", files.ODT, "cv.odt"),
        (lambda: TEXT, "notes.txt", files.TXT, "notes.txt"),
        # The name says nothing about the type: a PDF called .docx is a PDF.
        (minimal_pdf, "cv.docx", files.PDF, "cv.docx.pdf"),
        (minimal_docx, "../../etc/passwd", files.DOCX, "passwd.docx"),
    ],
)
def test_each_type_is_found_from_its_bytes_and_downloads_unchanged(
    client: TestClient, make: Any, filename: str, media_type: str, saved_as: str
) -> None:
    user = register(client)
    content = make()
    r = upload(client, user, content, filename, title="My CV", declared="image/png")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["content_type"] == media_type
    assert doc["filename"] == saved_as
    assert doc["size"] == len(content)
    assert doc["sha256"] == hashlib.sha256(content).hexdigest()
    assert doc["kind"] == "resume" and doc["title"] == "My CV"
    assert r.headers["location"] == f"/api/v1/documents/{doc['id']}"
    assert r.headers["etag"] == '"1"'

    got = client.get(f"{API}/documents/{doc['id']}", headers=user.headers)
    assert got.status_code == 200 and got.json() == doc

    r = client.get(f"{API}/documents/{doc['id']}/content", headers=user.headers)
    assert r.status_code == 200
    assert r.content == content
    assert r.headers["content-type"].split(";")[0] == media_type
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert '"' not in disposition.split('filename="', 1)[1].rstrip('"').split('";')[0]
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_a_non_ascii_name_is_offered_encoded(client: TestClient) -> None:
    user = register(client)
    doc = uploaded(client, user, minimal_pdf(), "履歴書: final?.pdf")
    assert doc["filename"] == "履歴書_ final.pdf"
    r = client.get(f"{API}/documents/{doc['id']}/content", headers=user.headers)
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="_ final.pdf"; ')
    assert disposition.isascii()
    assert "filename*=UTF-8''%E5%B1%A5" in disposition


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (PNG, "photo.pdf"),
        (EXE, "resume.pdf"),
        (EXE, "resume.txt"),
        (b"PK\x03\x04not really a zip", "cv.docx"),
        (b"\xff\xfe not utf-8", "cv.txt"),
        (b"text with a NUL \x00 inside", "cv.txt"),
    ],
)
def test_a_file_of_another_type_is_refused_whatever_its_name(
    client: TestClient, content: bytes, filename: str
) -> None:
    user = register(client)
    r = upload(client, user, content, filename, declared="application/pdf")
    body = assert_problem(r, 422, "unsupported_document_type")
    assert files.PDF in body["accepted"]
    assert client.get(f"{API}/documents", headers=user.headers).json()["data"] == []


def test_a_zip_that_is_neither_docx_nor_odt_is_refused(client: TestClient) -> None:
    user = register(client)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("[Content_Types].xml", "<Types/>")
    assert_problem(upload(client, user, out.getvalue(), "cv.odt"), 422, "unsupported_document_type")


def test_the_form_is_checked(client: TestClient) -> None:
    user = register(client)
    r = client.post(f"{API}/documents", data={"kind": "resume"}, headers=user.headers)
    assert_problem(r, 415 if "multipart" not in r.request.headers["content-type"] else 422)
    r = client.post(
        f"{API}/documents",
        files={"other": ("x.txt", b"hello")},
        data={"kind": "resume"},
        headers=user.headers,
    )
    assert_problem(r, 422)
    r = upload(client, user, TEXT, kind="letterhead")
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "kind"]
    r = upload(client, user, TEXT, title="x" * 201)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "title"]
    r = client.post(
        f"{API}/documents",
        content=minimal_pdf(),
        headers={**user.headers, "Content-Type": "application/pdf"},
    )
    assert_problem(r, 415, "unsupported_media_type")
    assert_problem(upload(client, user, b""), 422, "empty_document")


# --- limits ------------------------------------------------------------------------------------


@pytest.fixture
def small_limits(settings: Settings) -> Iterator[TestClient]:
    """The app with small limits: 2 KiB a document, 3 documents, 5 KiB in all."""
    limited = settings.model_copy(
        update={
            "max_document_bytes": 2048,
            "max_documents_per_user": 3,
            "max_document_storage_bytes": 5000,
        }
    )
    application = create_app(limited)
    with TestClient(application, raise_server_exceptions=False) as test_client:
        yield test_client
    application.state.engine.dispose()


def test_a_document_over_the_size_limit_is_a_413(client: TestClient) -> None:
    user = register(client)
    limit = 5 * 1024 * 1024
    r = upload(client, user, b"a" * (limit + 1), "big.txt")
    body = assert_problem(r, 413, "document_too_large")
    assert body["max_bytes"] == limit
    # Exactly at the limit goes in: the form around the file is allowed for.
    assert upload(client, user, b"a" * limit, "big.txt").status_code == 201


def test_a_body_far_over_the_limit_is_refused_at_the_door(small_limits: TestClient) -> None:
    client = small_limits
    user = register(client)
    r = upload(client, user, b"a" * 200_000, "big.txt")
    assert_problem(r, 413, "payload_too_large")
    r = upload(client, user, b"a" * 2049, "big.txt")
    assert_problem(r, 413, "document_too_large")


def test_the_quota_counts_documents_and_bytes(small_limits: TestClient) -> None:
    client = small_limits
    user, other = register(client), register(client)
    for _ in range(2):
        uploaded(client, user, b"a" * 2000, "part.txt")
    r = upload(client, user, b"a" * 1001, "part.txt")
    body = assert_problem(r, 422, "document_quota_exceeded")
    assert body["quota"] == "bytes" and body["limit"] == 5000 and body["used"] == 4000
    uploaded(client, user, b"a" * 1000, "part.txt")
    r = upload(client, user, b"a", "part.txt")
    body = assert_problem(r, 422, "document_quota_exceeded")
    assert body["quota"] == "documents" and body["limit"] == 3
    # Another user's documents count for them only.
    uploaded(client, other, b"a" * 2000, "part.txt")
    # Deleting one makes room.
    first = client.get(f"{API}/documents", headers=user.headers).json()["data"][0]
    assert client.delete(f"{API}/documents/{first['id']}", headers=user.headers).status_code == 204
    uploaded(client, user, b"a", "part.txt")


# --- lists, isolation, scopes ------------------------------------------------------------------


def test_list_pages_by_cursor_and_filters_by_kind(client: TestClient) -> None:
    user = register(client)
    ids = [
        uploaded(client, user, TEXT, f"n{i}.txt", kind=kind)["id"]
        for i, kind in enumerate(["resume", "other", "portfolio"])
    ]
    r = client.get(f"{API}/documents", params={"limit": 2}, headers=user.headers)
    page = r.json()
    assert [d["id"] for d in page["data"]] == ids[::-1][:2] and page["has_more"]
    assert "content" not in page["data"][0]
    r = client.get(f"{API}/documents", params={"cursor": page["next_cursor"]}, headers=user.headers)
    assert [d["id"] for d in r.json()["data"]] == ids[:1]
    r = client.get(f"{API}/documents", params={"kind": "other"}, headers=user.headers)
    assert [d["id"] for d in r.json()["data"]] == [ids[1]]
    assert_problem(client.get(f"{API}/documents", params={"kind": "x"}, headers=user.headers), 422)


def test_another_users_document_is_a_404(client: TestClient) -> None:
    a, b = register(client), register(client)
    doc = uploaded(client, a, minimal_pdf())
    for path in (f"{API}/documents/{doc['id']}", f"{API}/documents/{doc['id']}/content"):
        assert_problem(client.get(path, headers=b.headers), 404, "document_not_found")
    assert_problem(
        client.delete(f"{API}/documents/{doc['id']}", headers=b.headers), 404, "document_not_found"
    )
    assert client.get(f"{API}/documents", headers=b.headers).json()["data"] == []
    # Nor can B enclose it.
    r = client.post(
        f"{API}/letters",
        json={
            "kind": "keep_in_touch",
            "recipient_id": make_contact(client, b)["id"],
            "body": "Hello again.",
            "attachment_ids": [doc["id"]],
        },
        headers=b.headers,
    )
    problem = assert_problem(r, 422, "invalid_reference")
    assert problem["errors"][0]["loc"] == ["body", "attachment_ids", 0]
    assert client.get(f"{API}/documents/{doc['id']}/content", headers=a.headers).content


def test_personal_tokens_need_the_documents_scopes(client: TestClient) -> None:
    user = register(client)
    doc = uploaded(client, user, TEXT, "a.txt")
    r = client.post(
        f"{API}/tokens", json={"name": "reader", "scopes": ["documents:read"]}, headers=user.headers
    )
    reader = User(
        id=user.id,
        email=user.email,
        access_token="",
        refresh_token="",
        headers={"Authorization": f"Bearer {r.json()['token']}"},
    )
    assert (
        client.get(f"{API}/documents/{doc['id']}/content", headers=reader.headers).content == TEXT
    )
    assert_problem(upload(client, reader, TEXT, "b.txt"), 403, "insufficient_scope")
    r = client.post(
        f"{API}/tokens", json={"name": "letters", "scopes": ["letters:read"]}, headers=user.headers
    )
    other = {"Authorization": f"Bearer {r.json()['token']}"}
    assert_problem(client.get(f"{API}/documents", headers=other), 403, "insufficient_scope")


# --- letters and the résumé rule ---------------------------------------------------------------


def feeler_body(interview: dict[str, Any], attachment_ids: list[str]) -> dict[str, Any]:
    return {
        "kind": "feeler",
        "recipient_id": interview["contact_id"],
        "interview_id": interview["id"],
        "body": "Now that I am set on the field, I would be glad to hear of openings.",
        "attachment_ids": attachment_ids,
    }


def test_a_resume_goes_with_a_feeler_once_the_decision_is_pursue(client: TestClient) -> None:
    user = register(client)
    resume = uploaded(client, user, minimal_pdf(), "cv.pdf")
    portfolio = uploaded(client, user, minimal_odt(), "work.odt", kind="portfolio")
    interview = make_interview(client, user, state="thanked", decision="pursue")
    r = client.post(
        f"{API}/letters",
        json=feeler_body(interview, [resume["id"], portfolio["id"]]),
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    letter = r.json()
    assert letter["attachment_ids"] == [resume["id"], portfolio["id"]]
    assert client.get(f"{API}/letters/{letter['id']}", headers=user.headers).json()[
        "attachment_ids"
    ] == [resume["id"], portfolio["id"]]

    # What the mail sender reads: the files, in the letter's order.
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.get(Letter, uuid.UUID(letter["id"]))
        assert row is not None
        enclosed = documents.attachments_of(session, uuid.UUID(user.id), row)
        assert enclosed == [
            ("cv.pdf", files.PDF, minimal_pdf()),
            ("work.odt", files.ODT, minimal_odt()),
        ]
        # Another owner gets nothing of them.
        with pytest.raises(Exception, match="no longer exist"):
            documents.attachments_of(session, uuid.uuid4(), row)

    sent = send_letter(client, user, letter["id"])
    assert sent["attachment_ids"] == [resume["id"], portfolio["id"]]


def test_a_resume_with_a_request_letter_is_refused(client: TestClient) -> None:
    user = register(client)
    resume = uploaded(client, user, minimal_pdf())
    other = uploaded(client, user, TEXT, "note.txt", kind="other")
    interview = make_interview(client, user)
    body = {
        "kind": "request",
        "recipient_id": interview["contact_id"],
        "interview_id": interview["id"],
        "body": "Could I ask you about your work in audit for twenty minutes?",
    }
    r = client.post(
        f"{API}/letters", json={**body, "attachment_ids": [resume["id"]]}, headers=user.headers
    )
    problem = assert_problem(r, 422, "resume_not_allowed")
    assert problem["missing"] == ["feeler"]
    # Another kind of document may go with any letter.
    letter = create_letter(client, user, **{**body, "attachment_ids": [other["id"]]})
    assert letter["attachment_ids"] == [other["id"]]
    # Nor may an edit slip the résumé in.
    r = client.patch(
        f"{API}/letters/{letter['id']}",
        json={"attachment_ids": [other["id"], resume["id"]]},
        headers=user.headers,
    )
    assert_problem(r, 422, "resume_not_allowed")
    r = client.patch(
        f"{API}/letters/{letter['id']}", json={"attachment_ids": None}, headers=user.headers
    )
    assert_problem(r, 422)


@pytest.mark.parametrize(("state", "decision"), [("thanked", "undecided"), ("held", "not_pursue")])
def test_a_resume_with_a_feeler_before_the_decision_to_pursue_is_refused(
    client: TestClient, state: str, decision: str
) -> None:
    user = register(client)
    resume = uploaded(client, user, minimal_pdf())
    interview = make_interview(client, user, state=state, decision=decision)
    r = client.post(
        f"{API}/letters", json=feeler_body(interview, [resume["id"]]), headers=user.headers
    )
    problem = assert_problem(r, 422, "resume_not_allowed")
    assert problem["missing"] == ["decision_pursue"]
    codes = [e["code"] for e in problem["errors"]]
    assert codes[0] == "resume_not_allowed" and "feeler_not_allowed" in codes


def test_attachment_ids_are_bounded_and_distinct(client: TestClient) -> None:
    user = register(client)
    doc = uploaded(client, user, TEXT, "a.txt", kind="other")
    contact = make_contact(client, user)["id"]
    base = {"kind": "keep_in_touch", "recipient_id": contact, "body": "Hello again."}
    r = client.post(
        f"{API}/letters", json={**base, "attachment_ids": [doc["id"]] * 2}, headers=user.headers
    )
    assert_problem(r, 422)
    six = [str(uuid.uuid4()) for _ in range(6)]
    assert_problem(
        client.post(f"{API}/letters", json={**base, "attachment_ids": six}, headers=user.headers),
        422,
    )
    r = client.post(
        f"{API}/letters", json={**base, "attachment_ids": [str(uuid.uuid4())]}, headers=user.headers
    )
    assert_problem(r, 422, "invalid_reference")


def test_a_document_a_draft_encloses_cannot_be_deleted(client: TestClient) -> None:
    user = register(client)
    doc = uploaded(client, user, TEXT, "a.txt", kind="other")
    letter = create_letter(client, user, attachment_ids=[doc["id"]])
    r = client.delete(f"{API}/documents/{doc['id']}", headers=user.headers)
    problem = assert_problem(r, 409, "document_attached")
    assert problem["letter_ids"] == [letter["id"]]
    # Sent, the letter no longer needs the file: it may go, and the letter keeps the record.
    send_letter(client, user, letter["id"])
    assert_problem(
        client.delete(f"{API}/documents/{doc['id']}", headers={**user.headers, "If-Match": '"7"'}),
        412,
    )
    r = client.delete(f"{API}/documents/{doc['id']}", headers={**user.headers, "If-Match": '"1"'})
    assert r.status_code == 204
    assert_problem(client.get(f"{API}/documents/{doc['id']}", headers=user.headers), 404)
    kept = client.get(f"{API}/letters/{letter['id']}", headers=user.headers).json()
    assert kept["attachment_ids"] == [doc["id"]]

    # Taken out of a draft, it may go too.
    doc = uploaded(client, user, TEXT, "b.txt", kind="other")
    letter = create_letter(client, user, attachment_ids=[doc["id"]])
    r = client.patch(
        f"{API}/letters/{letter['id']}", json={"attachment_ids": []}, headers=user.headers
    )
    assert r.status_code == 200 and r.json()["attachment_ids"] == []
    assert client.delete(f"{API}/documents/{doc['id']}", headers=user.headers).status_code == 204


# --- export and import ---------------------------------------------------------------------


def test_export_and_import_carry_documents(client: TestClient) -> None:
    user = register(client)
    pdf, docx = minimal_pdf(), minimal_docx()
    resume = uploaded(client, user, pdf, "cv.pdf", title="CV")
    uploaded(client, user, docx, "letter.docx", kind="other")
    interview = make_interview(client, user, state="thanked", decision="pursue")
    letter = client.post(
        f"{API}/letters", json=feeler_body(interview, [resume["id"]]), headers=user.headers
    ).json()
    r = client.get(f"{API}/export", headers=user.headers)
    assert r.status_code == 200, r.text
    exported = r.json()
    AccountDocument.model_validate(exported)
    assert len(exported["documents"]) == 2
    (record,) = [d for d in exported["documents"] if d["id"] == resume["id"]]
    assert record["filename"] == "cv.pdf" and record["title"] == "CV"
    (sent,) = [x for x in exported["letters"] if x["id"] == letter["id"]]
    assert sent["attachment_ids"] == [resume["id"]]

    other = register(client)
    r = client.post(f"{API}/import", json=exported, headers=other.headers)
    assert r.status_code == 200, r.text
    assert r.json()["documents"] == 2
    restored = client.get(f"{API}/documents", headers=other.headers).json()["data"]
    by_name = {d["filename"]: d for d in restored}
    assert set(by_name) == {"cv.pdf", "letter.docx"}
    assert by_name["cv.pdf"]["id"] != resume["id"]
    for name, content in (("cv.pdf", pdf), ("letter.docx", docx)):
        r = client.get(f"{API}/documents/{by_name[name]['id']}/content", headers=other.headers)
        assert r.content == content
    (imported_letter,) = client.get(f"{API}/letters", headers=other.headers).json()["data"]
    assert imported_letter["attachment_ids"] == [by_name["cv.pdf"]["id"]]
    # The import holds the bytes to what an upload is held to.
    bad = {**exported, "documents": [{**exported["documents"][0], "content": "TVqQAAMAAAA="}]}
    bad["letters"] = []
    third = register(client)
    problem = assert_problem(client.post(f"{API}/import", json=bad, headers=third.headers), 422)
    assert problem["errors"][0]["loc"][:3] == ["body", "documents", 0]


def test_another_method_on_the_upload_path_is_a_405_whatever_the_file_holds(
    client: TestClient,
) -> None:
    user = register(client)
    r = client.put(
        f"{API}/documents",
        files={"file": ("cv.pdf", EXE)},
        data={"kind": "resume"},
        headers=user.headers,
    )
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST"


def test_a_token_encloses_documents_only_with_documents_read(client: TestClient) -> None:
    user = register(client)
    doc = uploaded(client, user, TEXT, "a.txt", kind="other")
    body = {
        "kind": "keep_in_touch",
        "recipient_id": make_contact(client, user)["id"],
        "body": "Hello again.",
        "attachment_ids": [doc["id"]],
    }

    def token(*scopes: str) -> dict[str, str]:
        r = client.post(
            f"{API}/tokens", json={"name": "t", "scopes": list(scopes)}, headers=user.headers
        )
        return {"Authorization": f"Bearer {r.json()['token']}"}

    r = client.post(f"{API}/letters", json=body, headers=token("letters:write"))
    assert assert_problem(r, 403, "insufficient_scope")["required_scope"] == "documents:read"
    r = client.post(f"{API}/letters", json=body, headers=token("letters:write", "documents:read"))
    assert r.status_code == 201, r.text


def test_a_page_of_documents_is_the_models_json_exactly(client: TestClient) -> None:
    """The list writes its rows as ``Page[DocumentPublic]`` writes the validated models."""
    user = register(client)
    uploaded(client, user, minimal_pdf(), "Résumé.pdf", title="Résumé — 2026")
    uploaded(client, user, TEXT, "notes.txt", kind="other")
    for params in ({"limit": 1}, {}, {"kind": "resume"}):
        r = client.get(f"{API}/documents", params=params, headers=user.headers)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        expected = Page[DocumentPublic].model_validate(r.json()).model_dump_json().encode()
        assert r.content == expected
