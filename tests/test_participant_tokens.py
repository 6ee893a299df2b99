"""Participants are made by the server only (RELIABILITY items 5 and 6).

A phone gets a signed token when it joins a presentation; a vote or a phone socket without one
(missing, made up, altered, another presentation's or another server's) is refused, changes
nothing and is offered to join again. Tokens hold across restarts and processes. Joining is
limited per client address: a hall behind one venue address joins, a script minting a crowd
gets 429.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
import websockets
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from starlette.websockets import WebSocketDisconnect
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Ballot, Participant, Presentation, Question, ServerKey
from app.participants import MAX_TOKENS, ParticipantTokens, tokens_in, with_token
from app.secret_key import load_secret_key
from tests.conftest import (
    BASE,
    all_routes,
    browser,
    fake_clock,
    join,
    login,
    make_presentation,
    make_question,
    make_user,
)
from tests.server import running_server
from tests.test_durability import PASSWORD, _present, _question_id

ORIGIN = {"Origin": BASE}
NOT_JOINED_NL = "Deze telefoon doet niet (meer) mee aan deze bijeenkomst."
NOT_JOINED_EN = "This phone is not taking part in this session (any more)."


@dataclass
class Room:
    presentation: Presentation
    question: Question

    @property
    def code(self) -> str:
        return self.presentation.join_code

    def vote(self, phone: httpx.Client, option: str = "o1", **headers: str) -> httpx.Response:
        return phone.post(
            f"/p/{self.code}/vote",
            data={"question_id": str(self.question.id), "option": option},
            headers=headers,
        )


def _room(client: TestClient, db, owner, *, title: str = "A", language: str = "nl") -> Room:
    presentation = make_presentation(db, owner, title=title, language=language)
    question = make_question(db, owner, presentation, "choice", f"Vraag {title}", options="Ja\nNee")
    csrf = login(client, owner.email)
    client.post(f"/present/{presentation.id}/move", data={"csrf_token": csrf, "to": "first"})
    return Room(presentation, question)


@pytest.fixture
def rooms(client, db) -> tuple[Room, Room]:
    """Two presentations of one facilitator, both showing an open question."""
    owner = make_user(db)
    return _room(client, db, owner, title="A"), _room(client, db, owner, title="B")


def _tokens(app) -> ParticipantTokens:
    tokens: ParticipantTokens = app.state.services.tokens
    return tokens


def _written(db) -> tuple[int, int]:
    with db.session() as session:
        participants = session.execute(sa.select(sa.func.count()).select_from(Participant))
        ballots = session.execute(sa.select(sa.func.count()).select_from(Ballot))
        return participants.scalar_one(), ballots.scalar_one()


def _holding(client: TestClient, cookie: str) -> httpx.Client:
    """A phone (a browser of its own) whose participant cookie is `cookie`."""
    phone = browser(client)
    phone.cookies.set("stemlab_p", cookie, domain="testserver.local")
    return phone


def _set_cookie(response: httpx.Response) -> str | None:
    return response.headers.get("set-cookie")


# --- the tokens themselves ---------------------------------------------------------------


def test_a_token_is_valid_for_its_presentation_only_and_under_its_key_only():
    tokens = ParticipantTokens(b"k" * 32)
    token = tokens.issue(7)
    assert tokens.valid(7, token)
    assert not tokens.valid(8, token)
    assert not ParticipantTokens(b"x" * 32).valid(7, token)
    assert tokens.issue(7) != token  # every join is another participant


def test_an_altered_token_is_refused():
    tokens = ParticipantTokens(b"k" * 32)
    token = tokens.issue(7)
    nonce, mac = token.split(".")
    other = "A" if mac[0] != "A" else "B"
    other_first = "A" if nonce[0] != "A" else "B"  # a 1 in 64 draw would change nothing
    altered = [
        f"{nonce}.{other}{mac[1:]}",  # the signature changed
        f"{other_first}{nonce[1:]}.{mac}",  # the random part changed
        f"{nonce}.{mac[:-1]}",  # cut short
        f"{nonce}.{mac}x",  # too long
        f"{tokens.issue(7).split('.')[0]}.{mac}",  # another token's random part
        secrets.token_urlsafe(24),  # the old, unsigned kind of cookie
        "",
    ]
    assert not any(tokens.valid(7, candidate) for candidate in altered)


def test_a_phone_keeps_the_tokens_of_its_newest_presentations():
    tokens = ParticipantTokens(b"k" * 32)
    issued = [tokens.issue(i) for i in range(MAX_TOKENS + 3)]
    cookie = None
    for token in issued:
        cookie = with_token(cookie, token)
    assert tokens_in(cookie) == issued[-MAX_TOKENS:]
    assert tokens.find(cookie, MAX_TOKENS + 2) == issued[-1]
    assert tokens.find(cookie, 0) is None  # the oldest was dropped
    assert with_token(cookie, issued[-1]).count(issued[-1]) == 1
    # Junk in the cookie is skipped; a cookie too long to be ours is not read at all.
    assert tokens_in(f"junk~{issued[0]}~<script>") == [issued[0]]
    assert tokens_in(issued[0] + "~" + "x" * 2000) == []


# --- joining and refusing ----------------------------------------------------------------


def test_joining_hands_out_a_signed_token_once(client, app, rooms):
    a, _ = rooms
    phone = browser(client)
    first = phone.get(f"/j/{a.code}")
    assert first.status_code == 200
    cookie = _set_cookie(first)
    assert cookie is not None
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=2592000" in cookie
    value = phone.cookies["stemlab_p"]
    assert _tokens(app).find(value, a.presentation.id) is not None
    # Loading the page again is the same phone: no new token.
    again = phone.get(f"/p/{a.code}")
    assert again.status_code == 200 and _set_cookie(again) is None


def _bad_cookies(client, app, rooms) -> dict[str, str | None]:
    """Cookies that do not make a phone a participant of room A."""
    a, b = rooms
    real = join(browser(client), a.code)
    nonce, mac = real.split(".")
    return {
        "missing": None,
        "made up, old kind": secrets.token_urlsafe(24),
        "made up, right shape": f"{secrets.token_urlsafe(12)}.{secrets.token_urlsafe(16)[:22]}",
        "altered": f"{nonce}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}",
        "of presentation B": join(browser(client), b.code),
        "of another server": ParticipantTokens(b"x" * 32).issue(a.presentation.id or 0),
    }


def test_a_vote_without_a_valid_token_is_refused_and_changes_nothing(client, app, db, rooms):
    a, _ = rooms
    for name, cookie in _bad_cookies(client, app, rooms).items():
        phone = browser(client) if cookie is None else _holding(client, cookie)
        # Without JavaScript: the join page again, the code filled in, and why.
        plain = a.vote(phone)
        assert plain.status_code == 403, name
        assert NOT_JOINED_NL in plain.text, name
        assert 'action="/join"' in plain.text and f'value="{a.code}"' in plain.text
        assert _set_cookie(plain) is None  # refusing a vote never hands out a token
        # From the page (socket down): the stage is replaced by the offer to join again.
        htmx = a.vote(phone, **{"HX-Request": "true"})
        assert htmx.status_code == 403, name
        assert htmx.headers["HX-Retarget"] == "#stage"
        assert 'id="stage"' in htmx.text and NOT_JOINED_NL in htmx.text
        assert "Opnieuw meedoen" in htmx.text and f'name="code" value="{a.code}"' in htmx.text
    assert _written(db) == (0, 0)


def test_a_phone_socket_without_a_valid_token_is_told_to_join_again(client, app, db, rooms):
    a, _ = rooms
    for name, cookie in _bad_cookies(client, app, rooms).items():
        headers = {**ORIGIN, "cookie": f"stemlab_p={cookie}"} if cookie else ORIGIN
        with client.websocket_connect(f"/ws/p/{a.code}", headers=headers) as phone:
            frame = phone.receive_text()
            assert 'id="stage"' in frame and NOT_JOINED_NL in frame, name
            assert 'name="question_id"' not in frame  # no vote form
            with pytest.raises(WebSocketDisconnect) as closed:
                phone.receive_text()
            # 1008: the page does not reconnect by itself (it would only be refused again).
            assert closed.value.code == 1008, name
    assert _written(db) == (0, 0)


def test_the_refusal_is_in_the_presentation_language(client, db):
    room = _room(client, db, make_user(db), language="en")
    phone = browser(client)
    response = room.vote(phone, **{"Accept-Language": "nl"})
    assert response.status_code == 403 and NOT_JOINED_EN in response.text
    with client.websocket_connect(f"/ws/p/{room.code}", headers=ORIGIN) as socket:
        frame = socket.receive_text()
    assert NOT_JOINED_EN in frame and "Join again" in frame


def test_joining_again_after_a_refusal_lets_the_phone_vote(client, db, rooms):
    a, _ = rooms
    phone = _holding(client, secrets.token_urlsafe(24))
    assert a.vote(phone).status_code == 403
    # The refusal's button: GET /join with the code, which leads to the page that joins.
    assert phone.get("/join", params={"code": a.code}).status_code == 200
    assert a.vote(phone).status_code == 200
    assert _written(db) == (1, 1)


def test_one_phone_takes_part_in_several_presentations(client, app, db, rooms):
    a, b = rooms
    phone = browser(client)
    join(phone, a.code)
    join(phone, b.code)
    cookie = phone.cookies["stemlab_p"]
    assert len(tokens_in(cookie)) == 2
    assert a.vote(phone, "o1").status_code == 200
    assert b.vote(phone, "o2").status_code == 200
    assert 'value="o1" checked' in phone.get(f"/p/{a.code}").text
    assert 'value="o2" checked' in phone.get(f"/p/{b.code}").text
    with db.session() as session:
        rows = session.execute(sa.select(Participant.presentation_id, Participant.token_hash))
        hashes = {pid: token_hash for pid, token_hash in rows.all()}
    # Two participants, unlinkable in the database: neither row holds the token itself.
    assert set(hashes) == {a.presentation.id, b.presentation.id}
    assert not any(token in h for h in hashes.values() for token in tokens_in(cookie))


# --- scope: a token of one presentation is nobody in another (item 5) ---------------------

# Every route a participant (no login) can reach, and how a token of presentation A fares at
# presentation B there. A new participant route fails the first test until it is listed.
PARTICIPANT_ROUTES = {
    "/": "the join form: reads nothing",
    "/join": "looks a code up and redirects: reads nothing personal",
    "/j/{code}": "redirects to /p/{code}",
    "/l/{token}": "the QR link: gives the phone a token of that presentation only, keeps A's",
    "/p/{code}": "B's page shows no answer of A's phone and gives the phone a B token",
    "/p/{code}/vote": "403, nothing written",
    "/ws/p/{code}": "told to join again, closed with 1008, nothing written",
    "/uploads/{upload_id}/{digest}": "a slide's image by id and digest: nothing personal",
    "/p/{code}/nickname": "403, no name written (tests/test_quiz_routes.py)",
    "/p/{code}/quiz/me": "403, nothing of A's phone shown (tests/test_quiz_routes.py)",
    "/p/{code}/qa/{question_id}": "redirects to /p/{code}: nothing of A's phone shown",
    "/p/{code}/qa/{question_id}/list": "B's visible questions, none of A's marked as its own",
    "/p/{code}/qa/{question_id}/ask": "403 or back to /p/{code}, nothing written",
    "/p/{code}/qa/entries/{entry_id}/upvote": "403 or back to /p/{code}, nothing written",
    "/p/{code}/group": "403, no group written (below)",
    "/phone/settings": "sets the phone's language or text-size cookie: reads nothing",
    "/privacy": "what is stored, for everyone: reads nothing personal",
}
NOT_FOR_PARTICIPANTS = ("/manage", "/present/", "/ws/present/", "/login", "/logout", "/static")
NOT_FOR_PARTICIPANTS += ("/language", "/healthz", "/readyz", "/metrics", "/qr/", "/openapi.json")
NOT_FOR_PARTICIPANTS += ("/api/v1",)  # a facilitator's bearer key only (tests/test_api_v1.py)


def test_every_participant_route_is_listed(app):
    reachable = {path for path, _ in all_routes(app) if not path.startswith(NOT_FOR_PARTICIPANTS)}
    assert reachable == set(PARTICIPANT_ROUTES)


def test_a_token_of_one_presentation_gives_nothing_in_another(client, app, db, rooms):
    a, b = rooms
    phone = browser(client)
    token_a = join(phone, a.code)
    assert a.vote(phone, "o2").status_code == 200

    # Votes on B: refused over HTTP and over the socket; nothing is written for B.
    at_b = _holding(client, token_a)
    assert b.vote(at_b).status_code == 403
    assert b.vote(at_b, **{"HX-Request": "true"}).status_code == 403
    picked = at_b.post(f"/p/{b.code}/group", data={"group": ""}, headers=ORIGIN)
    assert picked.status_code == 403
    headers = {**ORIGIN, "cookie": f"stemlab_p={token_a}"}
    with client.websocket_connect(f"/ws/p/{b.code}", headers=headers) as socket:
        assert NOT_JOINED_NL in socket.receive_text()
        with pytest.raises(WebSocketDisconnect):
            socket.send_text(json.dumps({"question_id": str(b.question.id), "option": "o1"}))
            socket.receive_text()
    with db.session() as session:
        at_b_rows = session.execute(
            sa.select(sa.func.count())
            .select_from(Participant)
            .where(Participant.presentation_id == b.presentation.id)
        ).scalar_one()
        b_ballots = session.execute(
            sa.select(sa.func.count())
            .select_from(Ballot)
            .where(Ballot.question_id == b.question.id)
        ).scalar_one()
    assert at_b_rows == 0 and b_ballots == 0

    # B's page is public to whoever has B's code; A's token makes it show nothing of A's,
    # and the phone joins B as a participant of its own.
    page = at_b.get(f"/p/{b.code}")
    assert page.status_code == 200 and "checked" not in page.text
    given = tokens_in(at_b.cookies["stemlab_p"])
    assert given[0] == token_a and len(given) == 2
    assert _tokens(app).find(at_b.cookies["stemlab_p"], b.presentation.id) == given[1]
    # The other participant routes read nothing personal at all.
    assert at_b.get("/").status_code == 200
    assert at_b.get(f"/j/{b.code}", follow_redirects=False).headers["location"] == f"/p/{b.code}"
    assert at_b.get("/join", params={"code": b.code}, follow_redirects=False).status_code == 303


# --- across restarts and processes --------------------------------------------------------


def test_a_phone_keeps_its_token_across_restarts_and_processes(client, db, settings, rooms):
    a, _ = rooms
    cookie = join(browser(client), a.code)
    # Another process on the same database, started later (a second worker, or a restart).
    with TestClient(create_app(settings), base_url=BASE) as other:
        phone = _holding(other, cookie)
        assert a.vote(phone).status_code == 200
        headers = {**ORIGIN, "cookie": f"stemlab_p={cookie}"}
        with other.websocket_connect(f"/ws/p/{a.code}", headers=headers) as socket:
            assert f'name="question_id" value="{a.question.id}"' in socket.receive_text()
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(ServerKey)).scalar() == 1


def test_workers_starting_together_make_one_key(settings, db):
    results: list[bytes] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        results.append(load_secret_key(settings, db))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1 and len(results[0]) >= 32
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(ServerKey)).scalar() == 1


def test_a_configured_secret_key_is_used_and_must_be_long(client, settings, db, rooms):
    a, _ = rooms
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(secret_key="too-short")
    configured = settings.model_copy(update={"secret_key": SecretStr("s" * 40)})
    other_key = settings.model_copy(update={"secret_key": SecretStr("t" * 40)})
    with (
        TestClient(create_app(configured), base_url=BASE) as first,
        TestClient(create_app(configured), base_url=BASE) as second,
        TestClient(create_app(other_key), base_url=BASE) as stranger,
    ):
        cookie = join(browser(first), a.code)
        for app_client, status in ((second, 200), (stranger, 403), (client, 403)):
            phone = _holding(app_client, cookie)
            assert a.vote(phone).status_code == status


# --- the joining limit (item 6) -----------------------------------------------------------


def _join_once(client, code: str, **headers: str) -> httpx.Response:
    """One new phone opening the join link (no cookie)."""
    return client.get(f"/p/{code}", headers={"cookie": "", **headers})


def test_a_hall_of_500_joins_within_a_minute_from_one_address(client, app, rooms):
    a, _ = rooms
    clock = fake_clock(app)
    phone = browser(client)
    given = set()
    for _ in range(500):
        response = _join_once(phone, a.code)
        assert response.status_code == 200
        given.add(response.cookies["stemlab_p"])
        clock.advance(60 / 500)
    assert len(given) == 500


def test_a_script_minting_1000_participants_in_10_seconds_is_stopped(client, app, db, settings):
    room = _room(client, db, make_user(db))
    clock = fake_clock(app)
    phone = browser(client)
    statuses = []
    for i in range(1000):
        # Made-up forwarding headers change nothing: the peer is not a trusted proxy.
        response = _join_once(phone, room.code, **{"X-Forwarded-For": f"10.{i // 256}.{i % 256}.1"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert _set_cookie(response) is None  # nothing minted
            assert 1 <= int(response.headers["Retry-After"]) <= 60
        clock.advance(0.01)
    ceiling = settings.join_mint_per_minute
    assert statuses == [200] * ceiling + [429] * (1000 - ceiling)
    refused = _join_once(phone, room.code)
    assert "Te veel pogingen vanaf dit netwerk" in refused.text
    # A minute later the address may join again.
    clock.advance(61)
    assert _join_once(phone, room.code).status_code == 200
    assert _written(db) == (0, 0)  # joining writes nothing; participants appear with votes


@contextmanager
def _behind_proxy(settings, peer: str, **update) -> Iterator[TestClient]:
    """The app as `stemlab serve` runs it with STEMLAB_TRUSTED_PROXIES=10.0.0.1 (uvicorn's
    proxy-header handling), reached from `peer`; its limits on a clock that stands still."""
    app = create_app(settings.model_copy(update=update))
    wrapped = ProxyHeadersMiddleware(app, trusted_hosts="10.0.0.1")
    with TestClient(wrapped, base_url=BASE, client=(peer, 40000)) as client:
        fake_clock(app)
        yield client


def test_forwarded_addresses_count_only_from_a_trusted_proxy(client, db, settings):
    room = _room(client, db, make_user(db))
    with _behind_proxy(settings, "10.0.0.1", join_mint_per_minute=3) as proxy:
        for _ in range(3):
            assert _join_once(proxy, room.code, **{"X-Forwarded-For": "198.51.100.1"}).is_success
        assert (
            _join_once(proxy, room.code, **{"X-Forwarded-For": "198.51.100.1"}).status_code == 429
        )
        # Another client behind the proxy has an allowance of its own.
        assert _join_once(proxy, room.code, **{"X-Forwarded-For": "198.51.100.2"}).is_success
        # Claiming to be another address does not help: the proxy appends the one it saw.
        spoofed = "198.51.100.9, 198.51.100.1"
        assert _join_once(proxy, room.code, **{"X-Forwarded-For": spoofed}).status_code == 429
    with _behind_proxy(settings, "192.0.2.66", join_mint_per_minute=3) as stranger:
        statuses = [
            _join_once(stranger, room.code, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(5)
        ]
    assert statuses == [200, 200, 200, 429, 429]


def test_ipv6_clients_count_by_their_64_network(client, db, settings):
    room = _room(client, db, make_user(db))
    update = {"join_mint_per_minute": 2}
    app = create_app(settings.model_copy(update=update))

    def status(peer: str) -> int:
        phone = TestClient(app, base_url=BASE, client=(peer, 40000))  # shares the lifespan
        return _join_once(phone, room.code).status_code

    with TestClient(app, base_url=BASE):  # keeps one lifespan (and its limits) for all
        fake_clock(app)
        assert [status("2001:db8:1:2::5"), status("2001:db8:1:2::6")] == [200, 200]
        assert status("2001:db8:1:2:ffff::1") == 429  # the same /64
        assert status("2001:db8:1:3::5") == 200  # the next /64
        assert [status("::ffff:192.0.2.7"), status("192.0.2.7")] == [200, 200]
        assert status("192.0.2.7") == 429  # an IPv4-mapped address is that IPv4 address


def test_the_join_limit_429_looks_like_the_guessing_429(client, app, db, settings):
    """Past both limits, a known code and an unknown one get the same answer."""
    room = _room(client, db, make_user(db))
    fake_clock(app)
    phone = browser(client)
    for i in range(settings.join_rate_per_minute):
        phone.get("/join", params={"code": str(20000000 + i)})
    for _ in range(settings.join_mint_per_minute):
        assert _join_once(phone, room.code).status_code == 200
    known = _join_once(phone, room.code)
    unknown = _join_once(phone, "20999999")
    assert known.status_code == unknown.status_code == 429
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", known.text) == strip.sub("", unknown.text)


# --- real servers --------------------------------------------------------------------------


def _clear_of_a_window_edge() -> None:
    """Start a few requests to a real server well inside one minute of its rate limits.

    Its counts are per minute of time.monotonic(), the machine's monotonic clock, which this
    process reads too. Across the turn of a minute the sliding window lets a count fall by a
    hair, and one request more through; near one, wait for it to pass (at most 5 s).
    """
    left = 60 - time.monotonic() % 60
    if left < 5:
        time.sleep(left + 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_stemlab_serve_believes_forwarded_for_only_from_a_trusted_proxy(new_database, trusted):
    with running_server(
        new_database,
        STEMLAB_DEMO_PASSWORD=PASSWORD,
        STEMLAB_JOIN_MINT_PER_MINUTE="3",
        STEMLAB_TRUSTED_PROXIES=trusted,
    ) as server:
        code = re.search(r"/j/(\d{8})", server.text()).group(1)
        _clear_of_a_window_edge()

        def joins(forwarded: str) -> int:
            response = httpx.get(f"{server.url}/p/{code}", headers={"X-Forwarded-For": forwarded})
            return response.status_code

        assert [joins("198.51.100.1") for _ in range(4)] == [200, 200, 200, 429]
        # A trusted proxy's other client has its own allowance; anyone else is the one peer.
        assert joins("198.51.100.2") == (200 if trusted else 429)


@pytest.mark.slow
async def test_a_phone_keeps_voting_across_processes_and_restarts(new_database):
    with (
        running_server(new_database, STEMLAB_DEMO_PASSWORD=PASSWORD) as first,
        running_server(new_database, STEMLAB_SEED_DEMO="false") as second,
    ):
        code, _, _ = _present(first)
        question_id = _question_id(first, code)
        with httpx.Client(base_url=first.url) as phone:
            cookie = join(phone, code)  # the token comes from the first process ...
        vote = {"question_id": question_id, "client_key": "k1", "s-s1": "4"}
        headers = {"Cookie": f"stemlab_p={cookie}"}
        # ... and the second one, which started on its own, accepts it.
        assert httpx.post(f"{second.url}/p/{code}/vote", data=vote, headers=headers).is_success
        async with websockets.connect(
            f"{second.url.replace('http', 'ws')}/ws/p/{code}",
            origin=second.url,
            additional_headers=headers,
        ) as socket:
            assert f'name="question_id" value="{question_id}"' in await socket.recv()
    # Both stopped; a new process on the same database still knows the phone.
    with running_server(new_database, STEMLAB_SEED_DEMO="false") as restarted:
        changed = {**vote, "client_key": "k2", "s-s1": "2"}
        response = httpx.post(f"{restarted.url}/p/{code}/vote", data=changed, headers=headers)
        assert response.status_code == 200 and "Je stem is opgeslagen" in response.text
    db = Database(Settings(database_url=new_database))
    try:
        with db.session() as session:
            keys = session.execute(sa.select(Ballot.client_key)).scalars().all()
    finally:
        db.dispose()
    assert keys == ["k2"]  # one phone all along: its changed answer replaced the first
