"""Q&A, live: the projector follows asking, upvoting and the facilitator within a second, and
no phone frame carries a question that waits for approval or anybody's name."""

from __future__ import annotations

import html
import re

import pytest

from tests.conftest import BASE, browser, join, login, make_presentation, make_question, make_user
from tests.test_moderation_live import QUIET, WITHIN_A_SECOND, drain, frames_until

ORIGIN = {"Origin": BASE}


def entry_id(client, presentation, text: str) -> str:
    page = client.get(f"/present/{presentation.id}/qa").text
    found = re.findall(r'id="qa-(\d+)".*?<p class="entry-text"><bdi>(.*?)</bdi>', page, re.S)
    return next(i for i, t in found if html.unescape(t) == text)


def board(frame: str) -> list[str] | None:
    """The questions on the projector, in order (None: not a stage frame)."""
    if 'id="stage"' not in frame:
        return None
    found = re.search(r'<ol class="qa-board">(.*?)</ol>', frame, re.S)
    if found is None:
        return []
    return [html.unescape(t) for t in re.findall(r'class="qa-text"><bdi>(.*?)</bdi>', found[1])]


@pytest.fixture
def room(client, db):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    question = make_question(db, owner, presentation, "qa", "Vragen", allow_names="1")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return presentation, question, csrf


def test_the_projector_follows_questions_and_upvotes(client, room):
    presentation, question, csrf = room
    code = presentation.join_code
    a, b = browser(client), browser(client)
    join(a, code)
    join(b, code)
    with client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as ws:
        a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Eerste"})
        frames_until(ws, lambda f: board(f) == ["Eerste"], WITHIN_A_SECOND)
        b.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Tweede"})
        frames_until(ws, lambda f: board(f) == ["Eerste", "Tweede"], WITHIN_A_SECOND)
        listing = a.get(f"/p/{code}/qa/{question.id}").text
        entry = re.search(r"<bdi>Tweede</bdi>.*?/qa/entries/(\d+)/upvote", listing, re.S)
        assert entry is not None
        a.post(f"/p/{code}/qa/entries/{entry[1]}/upvote")
        frames_until(ws, lambda f: board(f) == ["Tweede", "Eerste"], WITHIN_A_SECOND)
        client.post(
            f"/present/{presentation.id}/qa/entries/{entry_id(client, presentation, 'Eerste')}",
            data={"csrf_token": csrf, "action": "pin"},
        )
        frames_until(ws, lambda f: board(f) == ["Eerste", "Tweede"], WITHIN_A_SECOND)


def test_no_phone_frame_carries_waiting_questions_or_names(client, room):
    presentation, question, csrf = room
    code = presentation.join_code
    client.post(
        f"/present/{presentation.id}/qa/premoderate",
        data={"csrf_token": csrf, "q": str(question.id), "value": "on"},
    )
    a = browser(client)
    cookie = join(a, code)
    phone_headers = {**ORIGIN, "cookie": f"stemlab_p={cookie}"}
    with (
        client.websocket_connect(f"/ws/present/{presentation.id}", headers=ORIGIN) as projector,
        client.websocket_connect(f"/ws/p/{code}", headers=phone_headers) as phone,
    ):
        a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Geheimxyz", "name": "Riaxyz"})
        a.post(f"/p/{code}/qa/{question.id}/ask", data={"text": "Zichtbaar", "name": "Ansxyz"})
        seen = drain(projector, QUIET) + drain(phone, QUIET)
        assert not any("Geheimxyz" in f or "Riaxyz" in f for f in seen)
        client.post(
            f"/present/{presentation.id}/qa/entries/{entry_id(client, presentation, 'Zichtbaar')}",
            data={"csrf_token": csrf, "action": "approve"},
        )
        frames_until(projector, lambda f: board(f) == ["Zichtbaar"], WITHIN_A_SECOND)
        phone_frames = drain(phone, QUIET)
    assert not any("Geheimxyz" in f or "Ansxyz" in f or "Riaxyz" in f for f in phone_frames)
