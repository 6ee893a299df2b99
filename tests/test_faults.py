"""Venue wifi between phones and a real server: lost answers, cut sockets, silent phones, storms.

A FaultProxy (tests/faultproxy.py) sits between the test's clients and a `stemlab serve` process.
RELIABILITY.md items 30, 32, 33, 34 and 40.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter

import httpx
import pytest
import websockets

from tests.faultproxy import FaultProxy
from tests.rooms import (
    PASSWORD,
    Facilitator,
    Phone,
    connect_all,
    converge,
    join_all,
    stored,
    watching,
)
from tests.server import ROOT, free_port, running_server

pytestmark = pytest.mark.slow
ENV = {"STEMLAB_DEMO_PASSWORD": PASSWORD, "STEMLAB_VOTE_RATE_PER_MINUTE": "100000"}


def _port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _form(phone: Phone, value: str, key: str) -> dict[str, str]:
    return {"question_id": phone.question_id, "client_key": key, "s-s1": value}


async def test_a_lost_answer_is_retried_with_the_same_key_and_counted_once(new_database):
    with running_server(new_database, **ENV) as server:
        facilitator = Facilitator.presenting(server)
        phone = Phone()
        await join_all([phone], server.url, facilitator.code)
        await phone.connect(server.url, facilitator.code)
        await phone.close()
        cookie = {"Cookie": f"stemlab_p={phone.token}"}
        async with FaultProxy(_port(server)) as proxy:
            proxy.lose_responses(1)
            async with httpx.AsyncClient(base_url=proxy.url, timeout=10) as client:
                key = secrets.token_hex(8)
                vote = f"/p/{facilitator.code}/vote"
                with pytest.raises(httpx.TransportError):
                    await client.post(vote, data=_form(phone, "4", key), headers=cookie)
                # The server has it, though the phone never heard so.
                assert stored(new_database)[key][1] == {"ratings": {"s1": 4}}

                retry = await client.post(vote, data=_form(phone, "4", key), headers=cookie)
                assert retry.status_code == 200 and "Je stem is opgeslagen" in retry.text
                # The same key with another answer is not a retry: refused, nothing changes.
                other = await client.post(vote, data=_form(phone, "2", key), headers=cookie)
                assert other.status_code == 422
                # Two retries at once: both told "saved", one ballot.
                both = await asyncio.gather(
                    *(client.post(vote, data=_form(phone, "4", key), headers=cookie) for _ in "ab")
                )
                assert [r.status_code for r in both] == [200, 200]
        ballots = stored(new_database)
        assert list(ballots) == [key] and ballots[key][1] == {"ratings": {"s1": 4}}


async def test_a_socket_vote_whose_reply_is_lost_is_sent_again_after_reconnecting(new_database):
    with running_server(new_database, **ENV) as server:
        facilitator = Facilitator.presenting(server)
        phone = Phone()
        await join_all([phone], server.url, facilitator.code)
        async with FaultProxy(_port(server)) as proxy:
            await phone.connect(proxy.url, facilitator.code, origin=server.url)
            proxy.mute()  # the vote arrives; its "saved" never comes back
            assert phone.socket is not None
            await phone.socket.send(phone.message("5"))
            await converge(lambda: phone.key in stored(new_database))
            proxy.rst_all()
            proxy.resume()
            # The page keeps the unconfirmed vote and sends it again with the same key.
            await phone.connect(proxy.url, facilitator.code, origin=server.url)
            assert await phone.vote(phone.value, key=phone.key)
            await phone.close()
        assert list(stored(new_database)) == [phone.key]


async def test_a_projector_cut_off_mid_session_comes_back_to_the_database(new_database):
    with running_server(new_database, **ENV) as server:
        facilitator = Facilitator.presenting(server)
        phones = [Phone() for _ in range(60)]
        await join_all(phones, server.url, facilitator.code)
        await connect_all(phones, server.url, facilitator.code)
        async with FaultProxy(_port(server)) as proxy:
            async with watching(facilitator, proxy.url) as screen:
                await converge(lambda: screen.connected() == len(phones))
                voting = asyncio.gather(*(p.vote(str(1 + i % 5)) for i, p in enumerate(phones)))
                await asyncio.sleep(0.05)
                proxy.rst_all()  # the projector's wifi drops while the votes come in
                assert all(await voting)
                shown = [v for v in screen.versions if v is not None]
                assert shown == sorted(shown)  # never an older frame over a newer one (I5)
            # The page reconnects and gets the current state: exactly the database's count.
            async with watching(facilitator, proxy.url) as screen:
                await converge(lambda: screen.responses() == len(stored(new_database)) == 60)
        await asyncio.gather(*(p.close() for p in phones))


async def test_a_phone_that_vanishes_without_closing_leaves_the_count(new_database):
    with running_server(new_database, STEMLAB_WS_PING_SECONDS="1", **ENV) as server:
        facilitator = Facilitator.presenting(server)
        async with watching(facilitator) as screen, FaultProxy(_port(server)) as proxy:
            phones = [Phone() for _ in range(20)]
            await join_all(phones, server.url, facilitator.code)
            await asyncio.gather(
                *(p.connect(proxy.url, facilitator.code, origin=server.url) for p in phones)
            )
            await converge(lambda: screen.connected() == 20)
            # Locked phones, out of range: nothing more arrives, and nothing is closed either.
            proxy.stall()
            await converge(lambda: screen.connected() == 0, timeout=15)
            assert proxy.open_connections == 20  # the phones' side never said goodbye


def test_the_storm_test_reconnects_like_the_page_does():
    """The storm below mirrors the page's reconnect delay; this keeps the two the same."""
    script = (ROOT / "app" / "static" / "js" / "stemlab.js").read_text()
    assert "Math.random() * Math.min(10000, 500 * Math.pow(2, retries))" in script


def _page_delay(retries: int) -> float:
    """stemlab.js: full jitter, 500 ms doubling, at most 10 s (in seconds)."""
    return random.random() * min(10.0, 0.5 * 2**retries)


async def test_a_reconnect_storm_of_500_phones_loses_nothing(new_database):
    """Every socket cut at once (the wifi drops): all phones come back with the page's delays,
    send their last vote again, and nothing is counted twice."""
    phones = [Phone() for _ in range(500)]
    with running_server(new_database, **ENV) as server:
        facilitator = Facilitator.presenting(server)
        await join_all(phones, server.url, facilitator.code)
        async with watching(facilitator) as screen, FaultProxy(_port(server)) as proxy:
            await asyncio.gather(
                *(p.connect(proxy.url, facilitator.code, origin=server.url) for p in phones)
            )
            await asyncio.gather(*(p.vote(str(1 + i % 5)) for i, p in enumerate(phones)))
            await converge(lambda: screen.connected() == 500)
            assert proxy.rst_all() == 500

            async def come_back(phone: Phone) -> None:
                retries = 0
                while True:
                    await asyncio.sleep(_page_delay(retries))
                    retries += 1
                    try:
                        await phone.connect(proxy.url, facilitator.code, origin=server.url)
                        # The page sends its last vote again (same key): it is counted once.
                        assert await phone.vote(phone.value, key=phone.key)
                        return
                    except (OSError, TimeoutError, websockets.WebSocketException):
                        continue

            async with asyncio.timeout(60):
                await asyncio.gather(*(come_back(p) for p in phones))
            assert len(stored(new_database)) == 500
            await converge(lambda: screen.responses() == 500 and screen.connected() == 500)
            await asyncio.gather(*(p.close() for p in phones))


def test_the_page_reconnect_delay_spreads_a_storm():
    """The first reconnection attempts of 500 phones cut at once, in 100 ms buckets: the page's
    full jitter against a fixed 1 s retry (the negative control, everyone at once).

    A model rather than a measurement: the test's phones share one process, which cannot open
    500 sockets at the same instant as 500 real phones do, so measured accept times would show
    the test's own limit for both.
    """
    rng = random.Random(7)
    jitter = Counter(int(rng.random() * min(10.0, 0.5 * 2**0) * 10) for _ in range(500))
    fixed = Counter(int(1.0 * 10) for _ in range(500))
    assert max(jitter.values()) < 0.4 * max(fixed.values())


async def test_a_restarted_server_keeps_the_room_and_its_ballots(new_database):
    port = free_port()
    phones = [Phone() for _ in range(50)]
    with running_server(new_database, port=port, **ENV) as server:
        facilitator = Facilitator.presenting(server)
        await join_all(phones, server.url, facilitator.code)
        await connect_all(phones, server.url, facilitator.code)
        assert all(await asyncio.gather(*(p.vote("2") for p in phones)))
        asked = phones[0].question_id
        before = stored(new_database)
        server.kill()  # a hard crash in the middle of the session
    with running_server(new_database, port=port, STEMLAB_SEED_DEMO="false", **ENV) as server:
        # Same question, still open; the same cookies; nobody can vote twice.
        await connect_all(phones, server.url, facilitator.code)
        assert {p.question_id for p in phones} == {asked}
        resent = await asyncio.gather(*(p.vote(p.value, key=p.key) for p in phones[:25]))
        changed = await asyncio.gather(*(p.vote("4") for p in phones[25:]))
        assert all(resent) and all(changed)
        after = stored(new_database)
        assert len(after) == len(before) == 50
        assert {k: v for k, v in after.items() if k in before} == {
            p.key: before[p.key] for p in phones[:25]
        }
        await asyncio.gather(*(p.close() for p in phones))
