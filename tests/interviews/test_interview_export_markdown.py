"""The interview write-up is safe to open: over HTTP on both databases, whatever a user typed
renders as text (no link, no emphasis, no HTML), keeps its line breaks, and the enumerations
read as words."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import register
from tests.factories_contacts import create_contact, create_referral
from tests.factories_interviews import create_interview, past

markdown_it = pytest.importorskip("markdown_it")
RENDERER = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])

HOSTILE_NAME = "*Star* <script>alert(1)</script> [x](https://evil.example)"


def test_hostile_text_renders_as_text(client: TestClient) -> None:
    user = register(client)
    star = create_contact(
        client,
        user,
        full_name=HOSTILE_NAME,
        organization="_Acme_ | `Corp`",
        email="first_last@example.com",
    )
    referrer = create_contact(client, user, full_name="**Bold** Referrer")
    referral = create_referral(
        client, user, referrer["id"], star["id"], relationship="former_employer"
    )
    interview = create_interview(
        client,
        user,
        contact_id=star["id"],
        referral_id=referral["id"],
        mode="in_person",
        scheduled_at=past(2),
        location="<b>Room</b> #1",
        notes=(
            "# Not a heading\n<img src=x onerror=alert(1)>\n- not a list\n===\n\n"
            "Second [para](javascript:x)"
        ),
        questions=[
            {"question": "1. What **matters**?", "answer": "> not a quote\n| a | b |\n|---|---|"}
        ],
    )
    r = client.get(
        f"/api/v1/interviews/{interview['id']}/export",
        params={"format": "markdown"},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    markdown = r.text
    assert "# Informational interview with \\*Star\\* &lt;script&gt;" in markdown
    out = RENDERER.render(markdown)

    # The only markup is the write-up's own: headings, the facts list, bold labels, emphasis
    # on "_None._" placeholders; nothing the user typed became a link, emphasis or a tag.
    for forbidden in ("<a ", "<script", "<img", "<b>", "<table", "<blockquote", "<code"):
        assert forbidden not in out, forbidden
    assert out.count("<strong>") == markdown.count("- **")  # the labels, and nothing else
    assert out.count("<em>") == out.count("<em>None.</em>") == 2  # advice, next steps
    assert (
        "<h1>Informational interview with *Star* &lt;script&gt;alert(1)&lt;/script&gt; "
        "[x](https://evil.example)</h1>" in out
    )
    assert "<h3>1. 1. What **matters**?</h3>" in out
    assert "<p>&gt; not a quote<br />\n| a | b |<br />\n|---|---|</p>" in out
    assert (
        "<p># Not a heading<br />\n&lt;img src=x onerror=alert(1)&gt;<br />\n- not a list<br />\n"
        "===</p>\n<p>Second [para](javascript:x)</p>" in out
    )
    assert "<li><strong>Organization:</strong> _Acme_ | `Corp`</li>" in out
    assert "<li><strong>Email:</strong> first_last@example.com</li>" in out
    assert "<li><strong>Location:</strong> &lt;b&gt;Room&lt;/b&gt; #1</li>" in out
    # Enumerations in words.
    assert "<li><strong>Mode:</strong> In person</li>" in out
    assert "former employer" in out and "former_employer" not in markdown
    assert "<li><strong>Referred by:</strong> **Bold** Referrer, former employer</li>" in out


def test_states_read_as_words(client: TestClient) -> None:
    user = register(client)
    interview = create_interview(client, user)
    r = client.get(f"/api/v1/interviews/{interview['id']}/export", headers=user.headers)
    assert r.status_code == 200, r.text
    assert "- **State:** request" in r.text.splitlines()
