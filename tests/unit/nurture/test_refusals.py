"""What nurture refuses, answered whole: each refusal's status, detail and named fields, as
the API gave them when the routes mapped nurture's errors by hand. The domain raises them
(nurture/errors.py, the chassis's DomainError types) and the chassis's handler answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.clock import ManualClock
from tests.backends import ADMIN, EmbeddedBackend
from tests.scenarios.nurture import enrol, fire

CALL_FIRST = {
    "name": "Call first",
    "priority": 100,
    "when": {"triggers": ["deferred"], "product_interests": ["lead routing"]},
    "steps": [{"day": 0, "action": "task", "task": "Call them"}, {"day": 7, "action": "wait"}],
}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedBackend, httpx.AsyncClient]]:
    backend = await EmbeddedBackend(
        tmp_path, clock=ManualClock(), timer_poll_interval_s=3600
    ).start()
    yield backend, backend.client("nurture")
    await backend.stop()


def answer(response: httpx.Response) -> tuple[int, str, list[dict[str, Any]] | None]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    assert body["status"] == response.status_code
    return response.status_code, body["detail"], body.get("errors")


async def test_each_refusal_is_answered_as_before(
    http: tuple[EmbeddedBackend, httpx.AsyncClient],
) -> None:
    backend, client = http
    email_track = {
        **CALL_FIRST,
        "steps": [{"day": 0, "action": "email", "template": "webinar-invite"}],
    }
    assert answer(
        await client.put("/nurture/v1/tracks/webinar", json=email_track, headers=ADMIN)
    ) == (
        422,
        "The track names templates that do not exist; PUT them first.",
        [
            {
                "field": "steps.0.template",
                "pointer": "/steps/0/template",
                "message": "there is no template 'webinar-invite'",
            }
        ],
    )
    assert answer(await client.delete("/nurture/v1/tracks/nope", headers=ADMIN)) == (
        404,
        "There is no track 'nope'.",
        None,
    )
    assert answer(await client.delete("/nurture/v1/tracks/long-term-default", headers=ADMIN)) == (
        409,
        "Track 'long-term-default' is defined in the tracks file; change the file, or "
        "override it with PUT (active: false stops new enrolments).",
        None,
    )

    put = await client.put("/nurture/v1/tracks/call-first", json=CALL_FIRST, headers=ADMIN)
    assert put.status_code == 201, put.text
    lead_id, _ = await enrol(backend, product_interest=["Lead Routing"])
    await fire(backend)
    assert answer(await client.delete("/nurture/v1/tracks/call-first", headers=ADMIN)) == (
        409,
        "1 leads are on track 'call-first'; PUT it with active: false to stop new "
        "enrolments, and delete it when they are done.",
        None,
    )

    [task] = (await client.get(f"/nurture/v1/tasks?lead_id={lead_id}", headers=ADMIN)).json()
    complete = f"/nurture/v1/tasks/{task['id']}/complete"
    assert (await client.post(complete, json={"outcome": "ok"}, headers=ADMIN)).status_code == 200
    assert answer(await client.post(complete, json={"outcome": "ok"}, headers=ADMIN)) == (
        409,
        f"Task {task['id']!r} is already done.",
        None,
    )
    assert answer(
        await client.post("/nurture/v1/tasks/nope/complete", json={"outcome": "x"}, headers=ADMIN)
    ) == (404, "There is no task 'nope'.", None)

    engagements = "/nurture/v1/engagements"
    assert answer(
        await client.post(engagements, json={"message_id": "nope", "type": "opened"}, headers=ADMIN)
    ) == (404, "no email 'nope' in nurture; engagement is recorded for leads in nurture.", None)
    assert answer(
        await client.post(engagements, json={"lead_id": "nope", "type": "opened"}, headers=ADMIN)
    ) == (404, "lead 'nope' is not in nurture; engagement is recorded for leads in nurture.", None)
    assert answer(
        await client.post(
            "/nurture/v1/bounces", json={"message_id": "nope", "kind": "hard"}, headers=ADMIN
        )
    ) == (
        404,
        "no email 'nope'; give the address as email.",
        [{"field": "message_id", "pointer": "/message_id", "message": "no email 'nope'"}],
    )
    assert answer(await client.get("/nurture/v1/r/not-a-token")) == (
        400,
        "This link is not valid (it may have been cut short).",
        None,
    )
    assert answer(await client.post("/nurture/v1/unsubscribe?token=not-a-token")) == (
        400,
        "This unsubscribe link is not valid (it may have been cut short).",
        None,
    )
