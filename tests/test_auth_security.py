"""Facilitator security: Argon2id, server-side sessions, CSRF, ownership, headers."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher

from app.main import create_app
from app.models import User
from app.services import accounts
from tests.conftest import PASSWORD, all_routes, browser, login, make_presentation, make_user


def test_passwords_are_stored_as_argon2id(db):
    owner = make_user(db)
    with db.session() as session:
        user = session.get(User, owner.user_id)
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        params = dict(p.split("=") for p in user.password_hash.split("$")[3].split(","))
        assert int(params["m"]) >= 19456 and int(params["t"]) >= 2 and int(params["p"]) >= 1


def test_weak_legacy_hash_is_upgraded_on_login(db):
    owner = make_user(db)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with db.write_session() as session:
        user = session.get(User, owner.user_id)
        assert user is not None
        user.password_hash = weak
        session.add(user)
    with db.write_session() as session:
        assert accounts.authenticate(session=session, email=owner.email, password=PASSWORD)
    with db.session() as session:
        user = session.get(User, owner.user_id)
        assert user is not None and user.password_hash != weak
        assert "m=65536" in user.password_hash


def test_wrong_password_and_unknown_user_look_the_same(client, db):
    make_user(db)
    wrong = client.post("/login", data={"email": "anna@example.org", "password": "nope"})
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", wrong.text) == strip.sub("", unknown.text)


def test_login_sets_safe_cookie_and_logout_really_ends_the_session(client, db, settings):
    owner = make_user(db)
    client.cookies.set("stemlab_session", "pre-login-value")
    response = client.post(
        "/login",
        data={"email": owner.email, "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = response.cookies["stemlab_session"]
    assert token != "pre-login-value"
    client.cookies.set("stemlab_session", token)
    page = client.get("/manage", follow_redirects=False)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/logout", follow_redirects=False).status_code == 403  # no token
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    replay = browser(client)
    replay.cookies.set("stemlab_session", token)
    assert replay.get("/manage", follow_redirects=False).status_code == 303


def test_secure_cookie_when_configured(settings, db):
    from fastapi.testclient import TestClient

    make_user(db)
    app = create_app(settings.model_copy(update={"secure_cookies": True}))
    with TestClient(app, base_url="http://testserver") as c:
        response = c.post(
            "/login",
            data={"email": "anna@example.org", "password": PASSWORD},
            follow_redirects=False,
        )
    assert "Secure" in response.headers["set-cookie"]


def test_login_is_rate_limited_per_account_despite_forwarded_for(client, db, settings):
    make_user(db)
    statuses = []
    for i in range(settings.login_rate_per_minute + 2):
        r = client.post(
            "/login",
            data={"email": "anna@example.org", "password": "wrong"},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        )
        statuses.append(r.status_code)
    assert statuses[0] == 401
    assert statuses[-1] == 429
    # Even the right password waits until the window passes.
    r = client.post("/login", data={"email": "anna@example.org", "password": PASSWORD})
    assert r.status_code == 429


def test_open_redirect_after_login_is_refused(client, db):
    owner = make_user(db)
    response = client.post(
        "/login",
        data={"email": owner.email, "password": PASSWORD, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/manage"


def _unsafe_routes(presentation_id: int, question_id: int) -> list[str]:
    return [
        "/manage/presentations",
        f"/manage/presentations/{presentation_id}",
        f"/manage/presentations/{presentation_id}/duplicate",
        f"/manage/presentations/{presentation_id}/delete",
        f"/manage/presentations/{presentation_id}/questions",
        f"/manage/questions/{question_id}",
        f"/manage/questions/{question_id}/move",
        f"/manage/questions/{question_id}/duplicate",
        f"/manage/questions/{question_id}/delete",
        f"/manage/questions/{question_id}/image",
        "/manage/words",
        f"/present/{presentation_id}/move",
        f"/present/{presentation_id}/voting",
        f"/present/{presentation_id}/results",
        f"/present/{presentation_id}/timer",
        f"/present/{presentation_id}/reset",
        f"/present/{presentation_id}/activate",
        f"/present/{presentation_id}/moderate/approve-waiting",
        f"/present/{presentation_id}/moderate/premoderate",
        # An entry and a participant are looked up within the presentation: any number does.
        f"/present/{presentation_id}/moderate/entries/{question_id}",
        f"/present/{presentation_id}/moderate/participants/{question_id}/remove",
        f"/present/{presentation_id}/qa/premoderate",
        f"/present/{presentation_id}/qa/entries/{question_id}",
        f"/present/{presentation_id}/qa/participants/{question_id}/remove",
        f"/present/{presentation_id}/split",
        f"/present/{presentation_id}/compare",
        f"/manage/presentations/{presentation_id}/groups",
        f"/manage/presentations/{presentation_id}/runs",
        f"/manage/presentations/{presentation_id}/run",
        f"/manage/presentations/{presentation_id}/logo",
        f"/manage/presentations/{presentation_id}/look",
        f"/manage/questions/{question_id}/paper",
        # A paper batch and a token are looked up by their owner: any number does.
        f"/manage/questions/{question_id}/paper/{question_id}/delete",
        "/manage/tokens",
        f"/manage/tokens/{question_id}/revoke",
    ]


def test_every_facilitator_post_route_is_listed(app):
    """The CSRF and ownership tests cover every state-changing facilitator route."""
    listed = {re.sub(r"\d+", "{}", r) for r in _unsafe_routes(1, 1)}
    posted = {
        re.sub(r"\{\w+\}", "{}", path)
        for path, methods in all_routes(app)
        if "POST" in methods and path.startswith(("/manage", "/present"))
    }
    assert posted == listed


@pytest.mark.parametrize("variant", ["missing", "wrong"])
def test_csrf_token_is_required(client, db, variant):
    owner = make_user(db)
    presentation = make_presentation(db, owner)
    from tests.conftest import make_question

    question = make_question(db, owner, presentation, "open", "Tips?")
    login(client, owner.email)
    data = {} if variant == "missing" else {"csrf_token": "not-the-token"}
    for url in _unsafe_routes(presentation.id or 0, question.id or 0):
        response = client.post(url, data={**data, "title": "x"}, follow_redirects=False)
        assert response.status_code == 403, url
    with db.session() as session:
        from app.models import Presentation, Question

        assert session.get(Presentation, presentation.id).title == "Participatielab"
        assert session.get(Question, question.id) is not None


def test_cross_site_post_is_refused_even_with_token(client, db):
    owner = make_user(db)
    csrf = login(client, owner.email)
    response = client.post(
        "/manage/presentations",
        data={"csrf_token": csrf, "title": "x", "language": "nl"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403


def test_htmx_header_token_is_accepted(client, db):
    owner = make_user(db)
    csrf = login(client, owner.email)
    response = client.post(
        "/manage/presentations",
        data={"title": "Met header", "language": "nl"},
        headers={"X-CSRF-Token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_another_facilitator_gets_404_everywhere(client, db):
    from tests.conftest import make_question

    anna = make_user(db)
    presentation = make_presentation(db, anna)
    question = make_question(db, anna, presentation, "open", "Tips?")
    make_user(db, "bert@example.org")
    csrf = login(client, "bert@example.org")
    for url in (
        f"/manage/presentations/{presentation.id}",
        f"/manage/presentations/{presentation.id}/delete",
        f"/manage/presentations/{presentation.id}/export.csv",
        f"/manage/presentations/{presentation.id}/summary.csv",
        f"/manage/presentations/{presentation.id}/export.xlsx",
        f"/manage/presentations/{presentation.id}/report",
        f"/manage/presentations/{presentation.id}/runs",
        f"/manage/presentations/{presentation.id}/compare",
        f"/manage/questions/{question.id}",
        f"/manage/questions/{question.id}/paper",
        f"/present/{presentation.id}",
    ):
        assert client.get(url).status_code == 404, url
    for url in _unsafe_routes(presentation.id or 0, question.id or 0):
        if url in ("/manage/presentations", "/manage/words", "/manage/tokens"):
            continue  # what they change is the facilitator's own
        response = client.post(url, data={"csrf_token": csrf, "title": "taken", "to": "next"})
        assert response.status_code == 404, url
    with db.session() as session:
        from app.models import Presentation

        assert session.get(Presentation, presentation.id).title == "Participatielab"


def test_security_headers_and_htmx_config(client):
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]
    assert '"selfRequestsOnly": true' in response.text
    assert '"allowEval": false' in response.text
    assert '"allowScriptTags": false' in response.text
    assert "<script>" not in response.text  # no inline scripts
    assert 'style="' not in response.text  # no inline styles (CSP style-src 'self')
