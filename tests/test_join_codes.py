"""Join codes (RELIABILITY item 22): random from `secrets`, never handed out twice, evenly
spread digits, and every refusal of a code looks the same.

(That codes come from `secrets` and never from `random` is checked in test_hygiene.py; guessing
faster than the limit is in test_participant_routes.py and test_live.py.)
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from functools import cache

import pytest
from starlette.websockets import WebSocketDisconnect

from app.services import presentations
from app.services.presentations import CODE_DIGITS, draw_join_code, new_join_code
from tests.conftest import BASE, browser, login, make_presentation, make_question, make_user

DRAWS = 100_000
LIVE = 1_000  # codes of presentations that exist before the draws
# Chi-square values that a uniform source exceeds with probability 1e-6 (8 and 9 degrees of
# freedom): a failure here is a broken generator, not bad luck.
CRITICAL = {8: 42.70, 9: 44.81}


@cache
def _drawn() -> tuple[list[str], int]:
    """LIVE codes in use, then DRAWS new ones each drawn against all before it; and how many
    times the generator drew a code already in use."""
    in_use: set[str] = set()
    collisions = 0

    def taken(code: str) -> bool:
        nonlocal collisions
        if code in in_use:
            collisions += 1
            return True
        return False

    codes = []
    for _ in range(LIVE + DRAWS):
        code = draw_join_code(taken)
        in_use.add(code)
        codes.append(code)
    return codes, collisions


def test_100k_new_codes_never_collide_with_codes_in_use():
    codes, collisions = _drawn()
    assert len(set(codes)) == len(codes) == LIVE + DRAWS
    # Drawing 101,000 of 90 million codes repeats one about 57 times: the generator did meet
    # codes in use and drew again each time, rather than never meeting any.
    assert collisions > 0
    assert all(len(c) == CODE_DIGITS and c.isdigit() and c[0] != "0" for c in codes)


def _chi_square(counts: Counter[str], symbols: str) -> float:
    total = sum(counts.values())
    expected = total / len(symbols)
    return sum((counts[s] - expected) ** 2 / expected for s in symbols)


@pytest.mark.parametrize("position", range(CODE_DIGITS))
def test_every_digit_of_a_code_is_evenly_spread(position):
    codes, _ = _drawn()
    counts = Counter(code[position] for code in codes[LIVE:])
    symbols = "123456789" if position == 0 else "0123456789"
    assert set(counts) == set(symbols)
    assert _chi_square(counts, symbols) < CRITICAL[len(symbols) - 1]


def test_a_new_presentation_never_gets_a_code_in_use(db, monkeypatch):
    owner = make_user(db)
    existing = make_presentation(db, owner).join_code
    wanted = "87654321" if existing != "87654321" else "12345678"
    # The random source first repeats the existing code, then gives another one.
    digits = itertools.chain(existing, wanted)
    monkeypatch.setattr(presentations.secrets, "choice", lambda _: next(digits))
    with db.session() as session:
        assert new_join_code(session) == wanted


# --- refusals ------------------------------------------------------------------------------


@pytest.fixture
def gone_code(client, db) -> str:
    """The code of a presentation that was deleted (as a code that expired will be)."""
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    make_question(db, owner, presentation, "choice", "Vraag", options="Ja\nNee")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    assert browser(client).get(f"/p/{presentation.join_code}").status_code == 200
    client.post(f"/manage/presentations/{presentation.id}/delete", data={"csrf_token": csrf})
    return presentation.join_code


NOWHERE = {
    "unknown": "12345678",
    "letters": "ABCDEFGH",
    "leading zero": "01234567",
    "too long": "1" * 41,
    "punctuation": "1234-567x",
}
_VALUE = re.compile(r'value="[^"]*"')


def _same(text: str) -> str:
    """A page without the code it repeats back to the phone."""
    return _VALUE.sub('value=""', text)


def test_every_code_that_leads_nowhere_gets_the_same_answer(client, gone_code):
    codes = {**NOWHERE, "deleted": gone_code}
    phone = browser(client)
    answers = {}
    for name, code in codes.items():
        typed = phone.get("/join", params={"code": code})
        opened = phone.get(f"/p/{code}")
        voted = phone.post(f"/p/{code}/vote", data={"question_id": "1", "option": "o1"})
        answers[name] = (
            (typed.status_code, _same(typed.text)),
            (opened.status_code, _same(opened.text)),
            (voted.status_code, _same(voted.text)),
            "stemlab_p" in phone.cookies,
        )
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(f"/ws/p/{code[:16]}", headers={"Origin": BASE}) as ws,
        ):
            ws.receive_text()
        answers[name] += (refused.value.code,)
    first = answers["unknown"]
    assert first[0][0] == first[1][0] == first[2][0] == 404
    assert first[3] is False  # no participant cookie for a code that leads nowhere
    assert first[4] == 1008  # the socket is refused before it opens
    assert all(answer == first for answer in answers.values()), {
        name: [part[0] if isinstance(part, tuple) else part for part in answer]
        for name, answer in answers.items()
    }
