"""Login throttling (RELIABILITY item 21): per account and per real client address, made-up
X-Forwarded-For ignored unless it comes from a trusted proxy, and nothing that tells an
existing account from another.

(test_auth_security.py has the first pieces: one account while X-Forwarded-For rotates, and
wrong password versus unknown account on the first try.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.main import create_app
from app.services import accounts
from tests.conftest import BASE, PASSWORD, fake_clock, make_user

_VALUE = re.compile(r'value="[^"]*"')


def _login(client, email: str, password: str = "wrong", **headers: str):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        headers=headers,
        follow_redirects=False,
    )


@contextmanager
def _behind_proxy(settings, peer: str) -> Iterator[TestClient]:
    """The app as `stemlab serve` runs it with STEMLAB_TRUSTED_PROXIES=10.0.0.1 (uvicorn's
    proxy-header handling), reached from `peer`; its limits on a clock that stands still."""
    app = create_app(settings)
    wrapped = ProxyHeadersMiddleware(app, trusted_hosts="10.0.0.1")
    with TestClient(wrapped, base_url=BASE, client=(peer, 40000)) as client:
        fake_clock(app)
        yield client


def test_fifty_accounts_from_one_address_are_throttled_whatever_it_forwards(
    client, app, db, settings
):
    make_user(db)
    fake_clock(app)  # (a real minute could turn over between the tries)
    statuses = [
        _login(client, f"user{i}@example.org", **{"X-Forwarded-For": f"10.9.{i}.1"}).status_code
        for i in range(50)
    ]
    limit = settings.login_rate_per_minute
    assert statuses == [401] * limit + [429] * (50 - limit)
    # The address waits, even with a right password for an account it did not try.
    refused = _login(client, "anna@example.org", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_behind_a_trusted_proxy_each_client_has_its_own_allowance(db, settings):
    make_user(db)
    with _behind_proxy(settings, "10.0.0.1") as proxy:
        first = {"X-Forwarded-For": "198.51.100.1"}
        for i in range(settings.login_rate_per_minute):
            assert _login(proxy, f"user{i}@example.org", **first).status_code == 401
        assert _login(proxy, "other@example.org", **first).status_code == 429
        # Another client of the same proxy is not held back by the first one.
        second = {"X-Forwarded-For": "198.51.100.2"}
        assert _login(proxy, "anna@example.org", PASSWORD, **second).status_code == 303


def test_an_untrusted_peer_cannot_pose_as_many_clients(db, settings):
    make_user(db)
    with _behind_proxy(settings, "192.0.2.66") as stranger:
        statuses = [
            _login(
                stranger, f"user{i}@example.org", **{"X-Forwarded-For": f"198.51.100.{i}"}
            ).status_code
            for i in range(settings.login_rate_per_minute + 2)
        ]
    assert statuses[-2:] == [429, 429]


def test_spellings_of_one_address_are_one_account(client, app, db, settings):
    make_user(db)
    fake_clock(app)
    spellings = ["anna@example.org", "Anna@Example.org", " ANNA@EXAMPLE.ORG ", "anna@example.ORG"]
    for i in range(settings.login_rate_per_minute):
        assert _login(client, spellings[i % len(spellings)]).status_code == 401
    assert _login(client, "anna@example.org", PASSWORD).status_code == 429


def test_throttling_does_not_tell_an_existing_account_from_another(settings, db):
    make_user(db)

    def attempts(email: str) -> list[tuple[int, str, str | None]]:
        # A fresh app each time: the same address starts with a full allowance.
        with TestClient(create_app(settings), base_url=BASE) as client:
            fake_clock(client.app)  # the same moment in both runs, so Retry-After is too
            seen = []
            for _ in range(settings.login_rate_per_minute + 2):
                response = _login(client, email)
                page = _VALUE.sub('value=""', response.text)
                seen.append((response.status_code, page, response.headers.get("retry-after")))
            return seen

    known, unknown = attempts("anna@example.org"), attempts("nobody@example.org")
    assert [s for s, _, _ in known] == [401] * settings.login_rate_per_minute + [429, 429]
    assert known == unknown


def test_an_unknown_account_costs_one_password_check_as_a_known_one_does(db, monkeypatch):
    make_user(db)
    checks: list[str] = []
    hasher = accounts._hasher

    class Counting:
        def verify(self, hash_: str, password: str) -> bool:
            checks.append(hash_)
            return hasher.verify(hash_, password)

        def __getattr__(self, name: str):
            return getattr(hasher, name)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    with db.write_session() as session:
        assert (
            accounts.authenticate(session=session, email="anna@example.org", password="x") is None
        )
        assert accounts.authenticate(session=session, email="nobody@x.org", password="x") is None
    assert len(checks) == 2  # one Argon2 verification each, so both take as long


def test_the_allowance_comes_back_after_a_minute(client, app, db, settings):
    make_user(db)
    clock = fake_clock(app)
    for _ in range(settings.login_rate_per_minute):
        assert _login(client, "anna@example.org").status_code == 401
        clock.advance(1)
    assert _login(client, "anna@example.org", PASSWORD).status_code == 429
    clock.advance(120)
    assert _login(client, "anna@example.org", PASSWORD).status_code == 303
