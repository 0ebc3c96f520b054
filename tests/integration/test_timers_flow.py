"""Durable timers through the whole flow, on both runtimes, with the clock moved by the test:
a first touch missed breaches the SLA; a logged call stops the clock; nurture touches fire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.clock import ManualClock
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend
from tests.integration.test_flow import LONG_TERM, SALES_READY, add_rep, types


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def timed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Backend, ManualClock]]:
    clock = ManualClock()
    backend: Backend
    # Timers are fired by the test (fire_due), not by the background poll.
    if request.param == "embedded":
        backend = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    else:
        database = request.getfixturevalue("pg_database")
        kafka = request.getfixturevalue("kafka")
        backend = await ClusterBackend(
            database.url, kafka, clock=clock, timer_poll_interval_s=3600, data_dir=tmp_path
        ).start()
    yield backend, clock
    await backend.stop()


async def test_a_missed_first_touch_breaches_and_a_logged_call_does_not(
    timed: tuple[Backend, ManualClock],
) -> None:
    backend, clock = timed
    await add_rep(backend, "ana")
    response = await backend.client("ingest").post(
        "/admin/v1/keys", json={"name": "ana", "scope": "rep", "rep_id": "ana"}, headers=ADMIN
    )
    ana = {"Authorization": f"Bearer {response.json()['key']}"}
    response = await backend.client("ingest").post(
        "/admin/v1/keys", json={"name": "bo", "scope": "rep", "rep_id": "bo"}, headers=ADMIN
    )
    bo = {"Authorization": f"Bearer {response.json()['key']}"}

    ignored = await backend.post_lead(**SALES_READY)
    worked = await backend.post_lead(
        **{**SALES_READY, "email": "kim@acme.example", "phone": "030 7654321"}
    )
    await backend.timeline_with(ignored, "leadfarm.lead.assigned.v1")
    await backend.timeline_with(worked, "leadfarm.lead.assigned.v1")

    router = backend.client("router")
    call = {"channel": "call", "outcome": "connected"}
    other_rep = await router.post(f"/router/v1/leads/{worked}/activities", json=call, headers=bo)
    assert other_rep.status_code == 404, "a rep cannot act on another rep's lead"
    assert (
        await router.get(f"/router/v1/leads/{worked}/assignment", headers=bo)
    ).status_code == 404
    logged = await router.post(f"/router/v1/leads/{worked}/activities", json=call, headers=ana)
    assert logged.status_code == 201, logged.text
    bad = await router.post(
        f"/router/v1/leads/{worked}/activities", json={"channel": "fax"}, headers=ana
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"channel", "outcome"}

    timers = backend.runtimes["router"].timer_runners["router"]
    clock.advance(timedelta(minutes=4))
    assert await timers.fire_due() == 0, "not due before five minutes"
    clock.advance(timedelta(minutes=2))
    assert await timers.fire_due() == 1, "only the untouched lead's deadline fires"

    breached = await backend.timeline_with(ignored, "leadfarm.sla.breached.v1")
    assert breached[-1]["data"]["sla"] == "first_touch"
    assert breached[-1]["data"]["rep_id"] == "ana"
    worked_events = await backend.timeline_with(worked, "leadfarm.contact.logged.v1")
    assert "leadfarm.sla.breached.v1" not in types(worked_events)


async def test_nurture_touches_run_from_durable_timers(timed: tuple[Backend, ManualClock]) -> None:
    backend, clock = timed
    # Nurture emails only leads with a consent basis: this one opted in.
    lead_id = await backend.post_lead(**LONG_TERM, consent_email=True)
    await backend.timeline_with(lead_id, "leadfarm.nurture.enrolled.v1")
    timers = backend.runtimes["nurture"].timer_runners["nurture"]
    assert await timers.fire_due() == 1  # day 0
    clock.advance(timedelta(days=2))
    assert await timers.fire_due() == 0
    clock.advance(timedelta(days=1))
    assert await timers.fire_due() == 1  # day 3

    async def two_touches() -> list[dict[str, object]] | None:
        events = await backend.timeline(lead_id)
        touched = [e for e in events if e["type"] == "leadfarm.nurture.touched.v1"]
        return touched if len(touched) == 2 else None

    from tests.backends import eventually

    touched = await eventually(two_touches)
    assert [t["data"]["step"] for t in touched] == [1, 2]  # type: ignore[index]
    status = await backend.client("nurture").get(f"/nurture/v1/leads/{lead_id}", headers=ADMIN)
    assert status.json()["step"] == 2
