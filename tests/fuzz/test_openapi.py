"""Schemathesis against the HTTP API of all five services (and the chassis routes every
service serves), in-process on the embedded runtime.

Every operation is fuzzed with valid and invalid requests, authenticated with the admin key,
with a key of each other scope (ingest, rep, manager: each reaches the handlers its scope
may call and must be refused by the others), and again without a key. A response must never
be a server error, must use a status code, content type and body schema the OpenAPI document
declares, and an error must be RFC 9457 problem+json. Bounded and derandomised, so a run in
CI is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, settings

from contracts.schemagen import openapi_document
from tests.backends import ADMIN
from tests.fuzz.harness import (
    BASE_URL,
    IMPORT_WARNINGS,
    Live,
    as_utf8,
    live_app,
    problem_errors,
    recursive_components,
    without_recursion,
)

# After the harness, which imports schemathesis under a filter of its import-time warnings.
import schemathesis  # isort: skip
from schemathesis import Case, DataGenerationMethod  # isort: skip
from schemathesis.checks import not_a_server_error  # isort: skip
from schemathesis.specs.openapi.checks import (  # isort: skip
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [
    pytest.mark.fuzz,
    *(pytest.mark.filterwarnings(f"ignore:{m}:DeprecationWarning") for m in IMPORT_WARNINGS),
]

# FastAPI writes OpenAPI 3.1; schemathesis 3 supports it behind this switch.
schemathesis.experimental.OPEN_API_3_1.enable()
DOCUMENT = without_recursion(openapi_document())
"""The API's document with its one recursive schema (a rule's conditions: groups of
conditions) unrolled a few levels deep: hypothesis-jsonschema cannot generate data for a
recursive schema, and schemathesis would skip those operations."""
schema = schemathesis.from_dict(
    DOCUMENT,
    base_url=BASE_URL,
    data_generation_methods=[DataGenerationMethod.positive, DataGenerationMethod.negative],
)

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
FUZZ = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_app(Path(tmp_path_factory.mktemp("fuzz-openapi"))) as running:
        yield running


SCOPES = ("ingest", "rep", "manager")


@pytest.fixture(scope="module")
def scoped_keys(live: Live) -> dict[str, dict[str, str]]:
    """The Authorization header of a key of each scope but admin."""
    headers = {}
    for scope in SCOPES:
        body = {"name": f"fuzz-{scope}", "scope": scope}
        if scope == "rep":
            body["rep_id"] = "fuzz-rep"
        created = live.request("POST", "/admin/v1/keys", json=body)
        assert created.status_code == 201, created.text
        headers[scope] = {"Authorization": f"Bearer {created.json()['key']}"}
    return headers


def send(case: Case, live: Live, headers: dict[str, str] | None = None) -> requests.Response:
    response = case.call(session=live.client, base_url=BASE_URL, headers=headers)
    assert isinstance(response, requests.Response)  # the session is requests-based
    return response


@schema.parametrize()
@FUZZ
def test_as_admin(case: Case, live: Live) -> None:
    response = as_utf8(send(case, live, ADMIN))
    case.validate_response(response, checks=CHECKS)
    assert not problem_errors(response), (problem_errors(response), response.text)


def test_the_unrolled_document_still_has_the_rules_conditions() -> None:
    """Unrolling kept the operations and the nesting the fuzzer sends (two levels of groups
    under a rule's conditions), and left nothing recursive."""
    assert recursive_components(DOCUMENT) == set()
    assert recursive_components(openapi_document()) == {"Condition"}
    components = DOCUMENT["components"]["schemas"]
    assert {"Condition", "Condition__1", "Condition__2"} <= set(components)
    assert DOCUMENT["paths"].keys() == openapi_document()["paths"].keys()


@schema.parametrize()
@settings(FUZZ, max_examples=2)
def test_with_a_key_of_each_scope(
    case: Case, live: Live, scoped_keys: dict[str, dict[str, str]]
) -> None:
    for scope, headers in scoped_keys.items():
        response = as_utf8(send(case, live, headers))
        case.validate_response(response, checks=CHECKS)
        assert not problem_errors(response), (scope, problem_errors(response), response.text)


@schema.parametrize()
@settings(FUZZ, max_examples=1)
def test_without_a_key(case: Case, live: Live) -> None:
    for name in [h for h in case.headers or {} if h.lower() == "authorization"]:
        del case.headers[name]  # type: ignore[union-attr]
    response = as_utf8(send(case, live))
    case.validate_response(response, checks=CHECKS)
    assert not problem_errors(response), (problem_errors(response), response.text)
    if case.operation.definition.raw.get("security") and response.status_code < 400:
        raise AssertionError(f"{case.operation.verbose_name} answered {response.status_code}")
