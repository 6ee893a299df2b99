"""Any text at all stays text: open answers, word cloud words and titles never add markup.

The corpus tests in test_xss.py try the known payloads; here Hypothesis tries any text, mixed
with pieces of those payloads and the characters that matter in HTML. A participant types an
open answer or a word, or the facilitator a title, through the real routes; then the phone's
page, the phone's live frame, the presenter page and the presenter's live frame are parsed,
and their elements and attributes (how many of each) must be exactly those of the same views
showing harmless text: no script, no on* or hx-* attribute, no element that was not there.
(RELIABILITY.md item 10.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Question
from app.questions import get_type
from app.questions.base import AnswerError
from tests.conftest import BASE, browser, login, make_presentation, make_question, make_user
from tests.test_xss import PAYLOADS, shape

ORIGIN = {"Origin": BASE}

# Pieces that open or close markup, attributes and template syntax, glued to any text.
PIECES = [
    *PAYLOADS,
    "<",
    ">",
    "</",
    "/>",
    '"',
    "'",
    "`",
    "=",
    "&",
    "&amp;",
    "&#60;",
    "&lt;",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<script>",
    "</textarea>",
    "</title>",
    "<svg/onload=alert(1)>",
    " onmouseover=",
    " hx-post=",
    " hx-on::before-request=",
    "{{",
    "}}",
    "{%",
    "%}",
    "javascript:",
    "\u202e",
    "\u200b",
    "\x00",
    "\n",
    "\r",
    "\t",
]
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=12).map("".join)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class Stage:
    client: TestClient
    csrf: str
    presentation_id: int
    code: str
    open_question: Question
    cloud: Question
    phone: httpx.Client

    def views(self) -> dict[str, Counter[str]]:
        """The shape of every view of the current question."""
        with self.client.websocket_connect(
            f"/ws/present/{self.presentation_id}", headers=ORIGIN
        ) as screen:
            screen_frame = screen.receive_text()
        cookie = "; ".join(f"{k}={v}" for k, v in self.phone.cookies.items())
        with self.client.websocket_connect(
            f"/ws/p/{self.code}", headers={**ORIGIN, "cookie": cookie}
        ) as phone:
            phone_frame = phone.receive_text()
        return {
            "phone page": shape(self.phone.get(f"/p/{self.code}").text),
            "phone frame": shape(phone_frame),
            "presenter page": shape(self.client.get(f"/present/{self.presentation_id}").text),
            "presenter frame": shape(screen_frame),
        }

    def post(self, url: str, **data: str) -> None:
        response = self.client.post(
            url, data={"csrf_token": self.csrf, **data}, follow_redirects=False
        )
        assert response.status_code in (303, 422), response.status_code

    def show(self, question: Question) -> None:
        self.post(f"/present/{self.presentation_id}/move", to=str(question.id))

    def vote(self, question: Question, **fields: str) -> int:
        response = self.phone.post(
            f"/p/{self.code}/vote", data={"question_id": str(question.id), **fields}
        )
        assert response.status_code in (200, 422), response.status_code
        return response.status_code


@pytest.fixture
def stage(settings: Settings, db: Database) -> Iterator[Stage]:
    """An open question and a word cloud, and one phone that joined."""
    owner = make_user(db)
    presentation = make_presentation(db, owner, title="Titel", language="en")
    open_question = make_question(db, owner, presentation, "open", "Vraag", max_length="1000")
    cloud = make_question(db, owner, presentation, "wordcloud", "Woord", max_length="40")
    # Votes come fast here: the vote rate limit is lifted.
    app = create_app(settings.model_copy(update={"vote_rate_per_minute": 1_000_000}))
    with TestClient(app, base_url=BASE) as client:
        csrf = login(client, owner.email)
        phone = browser(client)
        assert phone.get(f"/p/{presentation.join_code}").status_code == 200
        yield Stage(
            client,
            csrf,
            presentation.id or 0,
            presentation.join_code,
            open_question,
            cloud,
            phone,
        )
        phone.close()


def assert_same_shape(before: dict[str, Counter[str]], after: dict[str, Counter[str]]) -> None:
    for view, expected in before.items():
        added = after[view] - expected
        missing = expected - after[view]
        assert not added and not missing, f"{view}: added {dict(added)}, missing {dict(missing)}"


@FUZZ
@given(text=TEXT)
def test_open_answers_add_no_markup(stage: Stage, text: str) -> None:
    stage.show(stage.open_question)
    # The same phone changes its answer, so every view holds one answer: harmless, then this.
    assert stage.vote(stage.open_question, text="gewoon een antwoord") == 200
    baseline = stage.views()
    stage.vote(stage.open_question, text=text[:1000])
    assert_same_shape(baseline, stage.views())


@FUZZ
@given(words=st.lists(TEXT.map(lambda t: t[:40]), min_size=1, max_size=3))
def test_word_cloud_words_add_no_markup(stage: Stage, words: list[str]) -> None:
    stage.show(stage.cloud)
    # The same phone changes its words; the harmless ones are as many as will be stored.
    try:
        stored = len(get_type("wordcloud").parse_answer(stage.cloud.config, {"word": words}).items)
    except AnswerError:  # refused (empty, too long, the same word twice): nothing changes
        stored = 1
    assert stage.vote(stage.cloud, word=["koffie", "thee", "water"][:stored]) == 200
    baseline = stage.views()
    stage.vote(stage.cloud, word=words)
    assert_same_shape(baseline, stage.views())


@FUZZ
@given(title=TEXT, question_title=TEXT)
def test_titles_add_no_markup(stage: Stage, title: str, question_title: str) -> None:
    stage.show(stage.open_question)
    presentation_url = f"/manage/presentations/{stage.presentation_id}"
    question_url = f"/manage/questions/{stage.open_question.id}"
    stage.post(presentation_url, title="Titel", language="en")
    stage.post(question_url, title="Vraag", max_length="1000")
    baseline = stage.views()
    # A title that is empty once cleaned is refused (422) and the old one stays.
    stage.post(presentation_url, title=title[:200], language="en")
    stage.post(question_url, title=question_title[:300], max_length="1000")
    assert_same_shape(baseline, stage.views())
