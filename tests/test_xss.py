"""User text never adds elements or attributes: pages, fragments and websocket frames."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    'x" hx-get="/manage/presentations/1/delete',
    "hx-on:click=alert(1)",
    "hx-vals='js:{a: alert(1)}'",
    "javascript:alert(1)",
    "{{7*7}}",
    "&lt;script&gt;",
    "\u202etxt.exe",
]

# Every page loads the scripts of base.html (each `<script src=...>`), and no other.
BASE_SCRIPTS = (
    (Path(__file__).resolve().parent.parent / "app" / "templates" / "base.html")
    .read_text(encoding="utf-8")
    .count("<script src=")
)


class _Shape(HTMLParser):
    """The elements and attribute names of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.shape: Counter[str] = Counter()

    def handle_starttag(self, tag, attrs):
        self.shape[tag] += 1
        for name, _ in attrs:
            self.shape[f"{tag}@{name}"] += 1


def shape(html: str) -> Counter[str]:
    parser = _Shape()
    parser.feed(html)
    return parser.shape


def _render_all(client, db, text: str) -> list[str]:
    """Every view of one piece of user text: phone page, presenter page and frame."""
    owner = make_user(db, f"u{abs(hash(text)) % 10**8}@example.org")
    presentation = make_presentation(db, owner, title="Titel")
    question = make_question(db, owner, presentation, "open", "Vraag")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    phone = browser(client)
    join(phone, presentation.join_code)
    response = phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "text": text},
    )
    assert response.status_code == 200
    views = [client.get(f"/present/{presentation.id}").text]
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers={"Origin": BASE}) as ws:
        views.append(ws.receive_text())
    return views


@pytest.mark.parametrize("payload", PAYLOADS)
def test_open_answers_stay_text(client, db, payload):
    baseline = _render_all(client, db, "gewoon een antwoord")
    attacked = _render_all(client, db, payload)
    for before, after in zip(baseline, attacked, strict=True):
        assert shape(after) == shape(before)
        assert "<script>alert" not in after
    assert "{{7*7}}" in attacked[0] or "{{7*7}}" not in payload


@pytest.mark.parametrize("payload", PAYLOADS[:4])
def test_titles_and_words_stay_text(client, db, payload):
    owner = make_user(db)
    presentation = make_presentation(db, owner, title=payload[:200])
    question = make_question(db, owner, presentation, "wordcloud", payload[:300])
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    phone = browser(client)
    join(phone, presentation.join_code)
    phone.post(
        f"/p/{presentation.join_code}/vote",
        data={"question_id": str(question.id), "word": payload[:25]},
    )
    pages = [
        phone.get(f"/p/{presentation.join_code}").text,
        client.get(f"/present/{presentation.id}").text,
        client.get(f"/manage/presentations/{presentation.id}").text,
    ]
    for page in pages:
        found = shape(page)
        assert found["script"] == BASE_SCRIPTS  # the vendored and static scripts only
        assert not any(key.endswith("@onerror") or key.endswith("@onload") for key in found)
        assert "svg@onload" not in found
