"""Personal API tokens: shown once, stored hashed, revoked at once, last use written sparingly."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlmodel import select

from app.models import ApiToken, utcnow
from app.services import api_tokens
from tests.conftest import browser, login, make_user

TOKEN_ON_PAGE = re.compile(r'value="(stl_[A-Za-z0-9_-]{40,})"')


def create_on_page(client, csrf: str, name: str = "Jaarverslag") -> str:
    """Create a token through the page and return it as the page shows it (once)."""
    response = client.post("/manage/tokens", data={"csrf_token": csrf, "name": name})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    found = TOKEN_ON_PAGE.findall(response.text)
    assert len(found) == 1, response.text
    return found[0]


def rows(db) -> list[ApiToken]:
    with db.session() as session:
        return list(session.exec(select(ApiToken).order_by(ApiToken.id)).all())


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(client, db):
    owner = make_user(db)
    csrf = login(client, owner.email)
    token = create_on_page(client, csrf)

    [row] = rows(db)
    assert row.owner_id == owner.user_id and row.name == "Jaarverslag"
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:12] and token.startswith("stl_")
    assert token not in (row.token_hash, row.prefix)
    # The list shows the name and the first characters, never the token again.
    page = client.get("/manage/tokens")
    assert page.status_code == 200
    assert "Jaarverslag" in page.text and row.prefix in page.text
    assert token not in page.text
    # The token works for the API.
    api = client.get("/api/v1/presentations", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200, api.text


def test_two_tokens_differ_and_a_name_is_required(client, db):
    owner = make_user(db)
    csrf = login(client, owner.email)
    first, second = create_on_page(client, csrf, "a"), create_on_page(client, csrf, "b")
    assert first != second
    refused = client.post("/manage/tokens", data={"csrf_token": csrf, "name": "   "})
    assert refused.status_code == 422
    assert "Geef de sleutel een naam." in refused.text  # the page is in Dutch by default
    assert not TOKEN_ON_PAGE.search(refused.text)
    assert len(rows(db)) == 2


def test_a_revoked_token_is_refused_at_once(client, db):
    owner = make_user(db)
    csrf = login(client, owner.email)
    token = create_on_page(client, csrf)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/presentations", headers=headers).status_code == 200
    [row] = rows(db)
    revoked = client.post(
        f"/manage/tokens/{row.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert rows(db)[0].revoked_at is not None
    refused = client.get("/api/v1/presentations", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert "Ingetrokken" in client.get("/manage/tokens").text


def test_another_facilitator_cannot_revoke_my_token(client, db):
    owner, other = make_user(db), make_user(db, "bert@example.org")
    csrf = login(client, owner.email)
    token = create_on_page(client, csrf)
    [row] = rows(db)
    with browser(client) as theirs:
        their_csrf = login(theirs, other.email)  # type: ignore[arg-type]
        answer = theirs.post(f"/manage/tokens/{row.id}/revoke", data={"csrf_token": their_csrf})
        assert answer.status_code == 404
        assert token not in theirs.get("/manage/tokens").text
        assert row.prefix not in theirs.get("/manage/tokens").text
    assert rows(db)[0].revoked_at is None


def test_the_page_needs_a_login_and_changes_need_the_csrf_token(client, db):
    owner = make_user(db)
    anonymous = client.get("/manage/tokens", follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    assert client.post("/manage/tokens", data={"name": "x"}).status_code == 401
    csrf = login(client, owner.email)
    assert client.post("/manage/tokens", data={"name": "x"}).status_code == 403
    assert client.post("/manage/tokens", data={"name": "x", "csrf_token": "wrong"}).status_code == (
        403
    )
    assert rows(db) == []
    create_on_page(client, csrf)
    [row] = rows(db)
    assert client.post(f"/manage/tokens/{row.id}/revoke", data={}).status_code == 403
    assert rows(db)[0].revoked_at is None
    # The manage pages link to the token page.
    assert 'href="/manage/tokens"' in client.get("/manage").text


def test_last_use_is_written_at_most_once_a_minute(client, db):
    owner = make_user(db)
    with db.write_session() as session:
        row, token = api_tokens.create_token(session=session, owner_id=owner.user_id, name="n")
    headers = {"Authorization": f"Bearer {token}"}
    assert rows(db)[0].last_used_at is None
    assert client.get("/api/v1/presentations", headers=headers).status_code == 200
    first = rows(db)[0].last_used_at
    assert first is not None
    for _ in range(3):
        assert client.get("/api/v1/presentations", headers=headers).status_code == 200
    assert rows(db)[0].last_used_at == first  # within the minute: not written again
    # A minute later it is written again.
    with db.write_session() as session:
        stored = session.get(ApiToken, row.id)
        assert stored is not None
        stored.last_used_at = utcnow() - timedelta(minutes=2)
        session.add(stored)
    assert client.get("/api/v1/presentations", headers=headers).status_code == 200
    latest = rows(db)[0].last_used_at
    assert latest is not None and latest.replace(tzinfo=None) > first.replace(tzinfo=None)


def test_touch_writes_only_when_the_last_write_is_a_minute_old(db):
    owner = make_user(db)
    now = utcnow()
    with db.write_session() as session:
        _row, token = api_tokens.create_token(session=session, owner_id=owner.user_id, name="n")
    with db.session() as session:
        caller = api_tokens.authenticate(session=session, token=token)
    assert caller is not None and api_tokens.needs_touch(caller, now)
    with db.write_session() as session:
        api_tokens.touch(session=session, token_id=caller.token_id, now=now)
        api_tokens.touch(session=session, token_id=caller.token_id, now=now + timedelta(seconds=30))
    with db.session() as session:
        caller = api_tokens.authenticate(session=session, token=token)
    assert caller is not None and caller.last_used_at is not None
    assert abs(caller.last_used_at.replace(tzinfo=None) - now.replace(tzinfo=None)) < timedelta(
        seconds=1
    )
    assert not api_tokens.needs_touch(caller, now + timedelta(seconds=59))
    assert api_tokens.needs_touch(caller, now + timedelta(seconds=60))


def test_unknown_malformed_and_revoked_tokens_authenticate_nobody(db):
    owner = make_user(db)
    with db.write_session() as session:
        row, token = api_tokens.create_token(session=session, owner_id=owner.user_id, name="n")
    with db.session() as session:
        assert api_tokens.authenticate(session=session, token=token) is not None
        for bad in ("", "stl_", token + "x", token[4:], "stl_" + "a" * 300, row.token_hash):
            assert api_tokens.authenticate(session=session, token=bad) is None, bad
    with db.write_session() as session:
        api_tokens.revoke_token(session=session, owner_id=owner.user_id, token_id=row.id or 0)
    with db.session() as session:
        assert api_tokens.authenticate(session=session, token=token) is None
