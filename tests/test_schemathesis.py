"""Schemathesis over the app's OpenAPI schema (/openapi.json), in-process.

The schema holds the JSON endpoints only: today /healthz and /readyz; the pages and forms are
for people and stay out of it. The versioned JSON API of a later issue lands in the same schema
and is tested here as it is: every generated request, valid and invalid, must pass every
Schemathesis check (no server errors; status codes, content types, headers and bodies as the
schema says; invalid data refused, valid data accepted; RELIABILITY.md item 38).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans

from app.config import Settings
from app.db import Database
from app.main import create_app


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
    if not strategies:
        pytest.skip("no operation takes input yet (/healthz and /readyz take none)")

    @hypothesis_settings(
        max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(case=st.one_of(strategies))
    def every_check_passes(case: Any) -> None:
        # Every check Schemathesis has (its default configuration disables none).
        case.call_and_validate()

    every_check_passes()


def test_the_schema_holds_only_json_endpoints(api_schema: Any) -> None:
    """An HTML page or form that slips into the schema fails here."""
    found = operations(api_schema)
    assert {path for path, _, _ in found} >= {"/healthz", "/readyz"}
    for path, method, operation in found:
        for status, response in operation["responses"].items():
            assert set(response.get("content", {})) == {"application/json"}, (
                path,
                method,
                status,
            )
