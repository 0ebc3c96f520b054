"""What ingest's domain refuses, answered whole: a source its provider cannot use is a 422
naming every field, as the route said when it mapped `InvalidSource` by hand; in
LEADFARM_INGEST_SOURCES the same refusal stops start-up, saying the fields."""

from __future__ import annotations

import pytest

from ingest.sources import InvalidSource, from_environment
from tests.backends import ADMIN, EmbeddedBackend

UNUSABLE = {"provider": "zapier", "secrets": {"pin": "1"}}
SAID = (
    "secrets.token: required by provider zapier; "
    "secrets.pin: not a secret of provider zapier (its secrets: token)"
)


async def test_an_unusable_source_is_refused_naming_each_field(embedded: EmbeddedBackend) -> None:
    response = await embedded.client("ingest").put(
        "/ingest/v1/sources/bad", json=UNUSABLE, headers=ADMIN
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == f"The source is not valid: {SAID}."
    assert body["errors"] == [
        {
            "field": "secrets.token",
            "pointer": "/secrets/token",
            "message": "required by provider zapier",
        },
        {
            "field": "secrets.pin",
            "pointer": "/secrets/pin",
            "message": "not a secret of provider zapier (its secrets: token)",
        },
    ]


def test_an_unusable_source_in_the_environment_stops_start_up_saying_why() -> None:
    with pytest.raises(ValueError, match=r"^LEADFARM_INGEST_SOURCES") as stopped:
        from_environment({"bad": UNUSABLE})
    assert str(stopped.value) == f"LEADFARM_INGEST_SOURCES: source 'bad': {SAID}"
    assert isinstance(stopped.value.__cause__, InvalidSource)
