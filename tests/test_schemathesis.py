"""Schemathesis over the app's OpenAPI schema (/openapi.json), in-process.

The schema holds the JSON endpoints only: /healthz, /readyz and the versioned API /api/v1;
the pages and forms are for people and stay out of it. Every generated request, valid and
invalid, must pass every Schemathesis check (no server errors; status codes, content types,
headers and bodies as the schema says; invalid data refused, valid data accepted;
RELIABILITY.md item 38): first without a token (the API answers 401 in its error shape), then
with a valid personal token against a presentation with questions, groups and votes, whose ids
the generated requests use half of the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.ratelimit import Rate
from app.routes import api as api_routes
from app.routes.api import XLSX
from app.services import api_tokens
from tests.conftest import cast, make_current, make_presentation, make_question, make_user


@pytest.fixture
def api_schema(settings: Settings, db: Database) -> Iterator[Any]:
    """The schema as the app serves it. Schemathesis runs the app's lifespan while it sends
    requests; it ends here, before the test's database goes."""
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    finally:
        shutdown_lifespans()


def operations(api_schema: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in api_schema.raw_schema["paths"].items()
        for method, operation in methods.items()
    ]


# Schemathesis's own pytest parametrization takes the schema from a fixture through a node
# attribute pytest 9 no longer has, so each generation mode runs under a plain @given instead.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_api_keeps_its_schema(api_schema: Any, mode: GenerationMode) -> None:
    """Valid requests, then invalid ones, to every operation that can take them."""
    strategies = [
        api_schema[path][method].as_strategy(generation_mode=mode)
        for path, method, operation in operations(api_schema)
        # Invalid data needs an input to put it in (parameters or a body).
        if mode == GenerationMode.POSITIVE
        or operation.get("parameters")
        or operation.get("requestBody")
    ]
    assert strategies, "no operation to send requests to"

    @hypothesis_settings(
        max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(case=st.one_of(strategies))
    def every_check_passes(case: Any) -> None:
        # Every check Schemathesis has (its default configuration disables none).
        case.call_and_validate()

    every_check_passes()


# Answers that are not JSON: a deletion's empty 204, and the export's files.
NOT_JSON = {
    ("/api/v1/presentations/{presentation_id}", "delete", "204"): set(),
    ("/api/v1/questions/{question_id}", "delete", "204"): set(),
    ("/api/v1/presentations/{presentation_id}/export", "get", "200"): {"text/csv", XLSX},
}


def test_the_schema_holds_only_json_endpoints(api_schema: Any) -> None:
    """An HTML page or form that slips into the schema fails here."""
    found = operations(api_schema)
    assert {path for path, _, _ in found} >= {"/healthz", "/readyz", "/api/v1/presentations"}
    for path, method, operation in found:
        for status, response in operation["responses"].items():
            expected = NOT_JSON.get((path, method, status), {"application/json"})
            assert set(response.get("content", {})) == expected, (path, method, status)


@dataclass
class Seeded:
    token: str
    ids: dict[str, int]


def seed(db: Database) -> Seeded:
    """A facilitator with a token, a presentation with groups, two questions and votes."""
    owner = make_user(db)
    with db.write_session() as session:
        _row, token = api_tokens.create_token(session=session, owner_id=owner.user_id, name="st")
    presentation = make_presentation(db, owner)
    choice = make_question(db, owner, presentation, "choice", options="Ja\nNee")
    make_question(db, owner, presentation, "scale", statements="Onderhoud\nHuur")
    make_current(db, choice)
    for n in range(4):
        cast(db, choice, f"p{n}", {"option": [choice.config["options"][n % 2]["id"]]})
    return Seeded(token, {"presentation_id": presentation.id or 0, "question_id": choice.id or 0})


def valid_data_accepted_unless_the_domain_refuses(ctx: Any, response: Any, case: Any) -> Any:
    """Schemathesis's positive_data_acceptance, except for what a schema cannot say (two
    groups with the same name but for case, too few options): the services refuse those with
    422 and details of type "refused". A 422 from the request's own validation still fails
    here: that would be a schema that promises more than the API takes."""
    if response.status_code == 422:
        details = response.json()["error"]["details"]
        if details and all(d["type"] == "refused" for d in details):
            return None
    return positive_data_acceptance(ctx, response, case)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_api_keeps_its_schema_with_a_token(
    api_schema: Any, db: Database, mode: GenerationMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every /api/v1 operation with a valid token: no 5xx, every answer as the schema says."""
    monkeypatch.setattr(api_routes, "API_RATE", Rate(100_000, 60.0))
    monkeypatch.setattr(api_routes, "BAD_TOKEN_RATE", Rate(100_000, 60.0))
    seeded = seed(db)
    strategies = [
        api_schema[path][method].as_strategy(generation_mode=mode)
        for path, method, operation in operations(api_schema)
        if path.startswith("/api/v1")
        and (
            mode == GenerationMode.POSITIVE
            or operation.get("parameters")
            or operation.get("requestBody")
        )
    ]
    assert len(strategies) >= 10

    @hypothesis_settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(case=st.one_of(strategies), data=st.data())
    def every_check_passes(case: Any, data: Any) -> None:
        if mode == GenerationMode.POSITIVE:
            # Half of the time the seeded ids, so the answers with data are checked too.
            for name, value in seeded.ids.items():
                if name in (case.path_parameters or {}) and data.draw(st.booleans()):
                    case.path_parameters[name] = value
        # A case generated without a valid Authorization header keeps it that way (401).
        keep = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
        case.call_and_validate(
            headers=None if keep else {"Authorization": f"Bearer {seeded.token}"},
            excluded_checks=[positive_data_acceptance],
            additional_checks=[valid_data_accepted_unless_the_domain_refuses],
        )

    every_check_passes()
