"""Two server processes sharing PostgreSQL and Redis serve one room together.

The presenter watches from one process while 200 phones vote through the other; Redis stops in
the middle of a burst; a process is killed and its phones carry on at the other one.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

from tests.redis_server import SYSTEM_REDIS, redis_server
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
from tests.server import running_server

pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]
PHONES = 200


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "STEMLAB_REDIS_URL": redis_url,
        "STEMLAB_REDIS_PREFIX": "stemlab-test-" + secrets.token_hex(4),
        "STEMLAB_DEMO_PASSWORD": PASSWORD,
        "STEMLAB_VOTE_RATE_PER_MINUTE": "100000",
        **extra,
    }


async def test_a_presenter_on_one_process_sees_every_vote_cast_through_the_other(new_database):
    env = _env(SYSTEM_REDIS)
    with (
        running_server(new_database, **env) as first,
        running_server(new_database, **{**env, "STEMLAB_SEED_DEMO": "false"}) as second,
    ):
        facilitator = Facilitator.presenting(first)
        async with watching(facilitator) as screen:
            phones = [Phone() for _ in range(PHONES)]
            await join_all(phones, second.url, facilitator.code)
            await connect_all(phones, second.url, facilitator.code)
            # Every phone is counted by the projector, though none is connected to its process.
            await converge(lambda: screen.connected() == PHONES)

            saved = await asyncio.gather(*(p.vote(str(1 + i % 5)) for i, p in enumerate(phones)))
            assert all(saved)
            ballots = stored(new_database)
            assert len(ballots) == PHONES
            await converge(lambda: screen.responses() == len(ballots))

            # The facilitator moves on at the first process; the phones at the second follow.
            asked = phones[0].question_id
            facilitator.move("next")
            await asyncio.gather(
                *(p.until(lambda frame: f'value="{asked}"' not in frame) for p in phones)
            )
            assert {p.question_id for p in phones} != {asked}

            await asyncio.gather(*(p.close() for p in phones[:50]))
            await converge(lambda: screen.connected() == PHONES - 50)
            await asyncio.gather(*(p.close() for p in phones[50:]))


async def test_votes_go_on_while_redis_is_down_and_screens_converge_when_it_returns(new_database):
    with redis_server() as redis:
        env = _env(redis.url)
        with (
            running_server(new_database, **env) as first,
            running_server(new_database, **{**env, "STEMLAB_SEED_DEMO": "false"}) as second,
        ):
            facilitator = Facilitator.presenting(first)
            async with watching(facilitator) as screen:
                phones = [Phone() for _ in range(PHONES)]
                await join_all(phones, second.url, facilitator.code)
                await connect_all(phones, second.url, facilitator.code)
                await converge(lambda: screen.connected() == PHONES)

                async def vote(i: int, phone: Phone) -> bool:
                    return await phone.vote(str(1 + i % 5))

                burst = [asyncio.create_task(vote(i, p)) for i, p in enumerate(phones)]
                await converge(lambda: sum(t.done() for t in burst) >= PHONES // 4)
                redis.stop()  # in the middle of the burst
                saved = await asyncio.gather(*burst)
                assert all(saved), "a vote failed because Redis was down"
                assert len(stored(new_database)) == PHONES

                redis.start()
                await converge(lambda: screen.responses() == PHONES)
                # Hints flow again: a change at the second process reaches the first at once.
                changed = [asyncio.create_task(p.vote("5")) for p in phones[:20]]
                assert all(await asyncio.gather(*changed))
                await converge(lambda: screen.responses() == PHONES)
                fives = [a for _, a in stored(new_database).values() if a == {"ratings": {"s1": 5}}]
                assert len(fives) >= 20
                await asyncio.gather(*(p.close() for p in phones))


async def test_phones_of_a_killed_process_carry_on_at_the_other_with_their_ballots(new_database):
    env = _env(SYSTEM_REDIS)
    with (
        running_server(new_database, **env) as first,
        running_server(new_database, **{**env, "STEMLAB_SEED_DEMO": "false"}) as second,
    ):
        facilitator = Facilitator.presenting(first)
        async with watching(facilitator) as screen:
            phones = [Phone() for _ in range(PHONES)]
            await join_all(phones, second.url, facilitator.code)
            await connect_all(phones, second.url, facilitator.code)
            assert all(await asyncio.gather(*(p.vote("3") for p in phones)))
            before = stored(new_database)
            assert len(before) == PHONES

            second.kill()
            # Each phone reconnects (to the process still running) with its own cookie.
            await connect_all(phones, first.url, facilitator.code)
            # A phone that never heard back resends with the same key: counted once.
            resent = await asyncio.gather(*(p.vote(p.value, key=p.key) for p in phones[:100]))
            changed = await asyncio.gather(*(p.vote("1") for p in phones[100:]))
            assert all(resent) and all(changed)

            after = stored(new_database)
            assert len(after) == PHONES  # one ballot per phone, still
            for phone in phones[:100]:
                assert after[phone.key] == before[phone.key]
            ones = [a for _, a in after.values() if a == {"ratings": {"s1": 1}}]
            assert len(ones) == PHONES - 100
            await converge(lambda: screen.responses() == PHONES)
            # The killed process said no goodbye: its phones leave the count when its reports
            # expire, and the same phones count again at the first process.
            await converge(lambda: screen.connected() == PHONES, timeout=30)
            await asyncio.gather(*(p.close() for p in phones))
