"""Nurture end to end, each behaviour on both runtimes (embedded SQLite, and real Kafka +
PostgreSQL): a three-year track touches at business times with the injected clock; an
unsubscribe in the middle stops every later email; a hard bounce from a real SMTP server
suppresses; a hand raise is recycled, qualified and assigned to a rep within a second."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nurture.consent import email_hash
from services.clock import ManualClock
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend
from tests.fakes.smtp import Mailbox, smtp_server
from tests.integration.test_flow import add_rep
from tests.scenarios.nurture import (
    enrol,
    fire,
    next_due,
    outbox,
    path_of,
    settle,
    timers_of,
    touches,
    view,
    walk,
    worker_of,
)

RECYCLED = "leadfarm.lead.recycled.v1"
QUALIFIED = "leadfarm.lead.qualified.v1"
ASSIGNED = "leadfarm.lead.assigned.v1"
LONG_TERM_DAYS = [0, 3, 14, 30, 60, 90, *range(180, 1095 + 1, 90)]


async def start(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock | None
) -> Backend:
    # With the injected clock, the test fires the steps (fire_due), not the background poll.
    overrides: dict[str, Any] = {"data_dir": tmp_path}
    if clock is not None:
        overrides["timer_poll_interval_s"] = 3600
    if request.param == "embedded":
        return await EmbeddedBackend(clock=clock, **overrides).start()
    database = request.getfixturevalue("pg_database")
    kafka = request.getfixturevalue("kafka")
    return await ClusterBackend(database.url, kafka, clock=clock, **overrides).start()


RUNTIMES = ["embedded", pytest.param("cluster", marks=pytest.mark.integration)]


@pytest.fixture(params=RUNTIMES)
async def farmed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Backend, ManualClock, Path]]:
    clock = ManualClock()
    backend = await start(request, tmp_path, clock)
    yield backend, clock, tmp_path
    await backend.stop()


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1, and nurture configured to send through it."""
    with smtp_server() as box:
        monkeypatch.setenv("LEADFARM_NURTURE_SENDER", "smtp")
        monkeypatch.setenv("LEADFARM_NURTURE_SMTP_HOST", box.host)
        monkeypatch.setenv("LEADFARM_NURTURE_SMTP_PORT", str(box.port))
        monkeypatch.setenv("LEADFARM_NURTURE_SMTP_SECURITY", "none")
        yield box


@pytest.fixture(params=RUNTIMES)
async def smtp_farmed(
    request: pytest.FixtureRequest, tmp_path: Path, mailbox: Mailbox
) -> AsyncIterator[tuple[Backend, ManualClock, Mailbox]]:
    clock = ManualClock()
    backend = await start(request, tmp_path, clock)
    yield backend, clock, mailbox
    await backend.stop()


@pytest.fixture(params=RUNTIMES)
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    backend = await start(request, tmp_path, None)
    yield backend
    await backend.stop()


def business_day_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def test_a_three_year_track_touches_at_business_times(
    farmed: tuple[Backend, ManualClock, Path],
) -> None:
    backend, clock, data_dir = farmed
    new_york = ZoneInfo("America/New_York")
    clock.set(datetime(2026, 1, 5, 10, 0, tzinfo=new_york).astimezone(UTC))  # a Monday
    lead_id, enrolment = await enrol(backend, email="pat@farmed.example", country="US")
    assert (await view(backend, lead_id))["track"] == "long-term-default"

    fired = await walk(backend, clock, enrolment)

    assert len(fired) == len(LONG_TERM_DAYS) == 17
    for moment, day in zip(fired, LONG_TERM_DAYS, strict=True):
        local = moment.astimezone(new_york)
        assert local.date() == business_day_on_or_after(date(2026, 1, 5) + timedelta(days=day))
        assert local.time() == (time(10, 0) if day == 0 else time(9, 0)), (day, local)
    assert fired[-1] - fired[0] > timedelta(days=1079)

    status = await view(backend, lead_id)
    assert (status["status"], status["step"], status["next_touch_at"]) == ("completed", 17, None)
    mails = outbox(data_dir)
    assert len(mails) == 16
    assert {m["To"] for m in mails} == {"pat@farmed.example"}
    touched = await touches(backend, lead_id, 17)
    assert [t["data"]["step"] for t in touched] == list(range(1, 18))
    assert [t["data"]["channel"] for t in touched].count("task") == 1
    stats = (
        await backend.client("nurture").get(
            "/nurture/v1/tracks/long-term-default/stats", headers=ADMIN
        )
    ).json()
    assert {k: stats[k] for k in ("enrolled", "completed", "touched", "emails_sent", "tasks")} == {
        "enrolled": 1,
        "completed": 1,
        "touched": 1,
        "emails_sent": 16,
        "tasks": 1,
    }
    # Per step: the completed enrolment had every step and waits for none.
    assert [(s["number"], s["reached"], s["waiting"]) for s in stats["steps"]] == [
        (n, 1, 0) for n in range(1, 18)
    ]


async def test_an_unsubscribe_in_the_middle_stops_every_later_email(
    farmed: tuple[Backend, ManualClock, Path],
) -> None:
    backend, clock, data_dir = farmed
    await worker_of(backend).stop()  # the test runs the send worker itself
    lead_id, enrolment = await enrol(backend, email="enough@iota.example")
    await walk(backend, clock, enrolment, steps=3)  # day 0 and 3 emails, day 14 task
    first, _ = outbox(data_dir)
    link = path_of(first["List-Unsubscribe"])

    # Day 30: the email is queued, and the person unsubscribes before it goes.
    due = await next_due(backend, enrolment)
    assert due is not None
    clock.set(due)
    assert await timers_of(backend).fire_due() == 1
    response = await backend.client("nurture").post(link, content=b"List-Unsubscribe=One-Click")
    assert response.status_code == 200, response.text
    await settle(backend)
    await walk(backend, clock, enrolment)  # the rest of the three years

    assert len(outbox(data_dir)) == 2, "no email after the unsubscribe"
    status = await view(backend, lead_id)
    assert status["status"] == "completed"
    emails = sorted((t for t in status["touches"] if t["kind"] == "email"), key=lambda t: t["step"])
    assert [(t["step"], t["status"]) for t in emails[:3]] == [
        (1, "sent"),
        (2, "sent"),
        (4, "cancelled"),
    ]
    assert {(t["status"], t["reason"]) for t in emails[3:]} == {
        ("skipped", "suppressed (unsubscribed)")
    }
    assert len(emails) == 16
    touched = await touches(backend, lead_id, 3)
    assert [(t["data"]["step"], t["data"]["channel"]) for t in touched] == [
        (1, "email"),
        (2, "email"),
        (3, "task"),
    ]


async def test_a_hard_bounce_suppresses_the_address(
    smtp_farmed: tuple[Backend, ManualClock, Mailbox],
) -> None:
    backend, clock, box = smtp_farmed
    box.gone.add("gone")
    fine, _ = await enrol(backend, email="fine@kappa.example")
    gone, gone_enrolment = await enrol(backend, email="gone@kappa.example")
    assert await fire(backend) == 2  # both day-0 steps
    [received] = box.to("fine@kappa.example")
    assert received["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/nurture/v1/unsubscribe")

    status = await view(backend, gone)
    assert status["consent"]["suppressed"] == "hard_bounce"
    [bounced] = status["touches"]
    assert bounced["status"] == "bounced"
    assert "550" in bounced["reason"]
    suppressions = (
        await backend.client("nurture").get("/nurture/v1/suppressions", headers=ADMIN)
    ).json()
    assert [(s["email_hash"], s["reason"]) for s in suppressions] == [
        (email_hash("gone@kappa.example"), "hard_bounce")
    ]

    await walk(backend, clock, gone_enrolment, steps=2)  # day 3 for both leads, then day 14
    assert len(box.to("fine@kappa.example")) == 2
    assert box.to("gone@kappa.example") == []
    status = await view(backend, gone)
    day_three = next(t for t in status["touches"] if t["kind"] == "email" and t["day"] == 3)
    assert day_three["reason"] == "suppressed (hard_bounce)"
    touched = await touches(backend, fine, 3)
    assert [t["data"]["channel"] for t in touched] == ["email", "email", "task"]


async def test_a_hand_raise_is_back_with_a_rep_within_a_second(live: Backend) -> None:
    backend = live
    await add_rep(backend, "ana")
    lead_id, enrolment = await enrol(backend, email="ready.now@lambda.example")

    response = await backend.client("nurture").post(
        "/nurture/v1/engagements",
        json={
            "lead_id": lead_id,
            "type": "filled_form",
            "hand_raise": True,
            "timeframe_days": 30,
            "detail": {"form": "talk-to-sales"},
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    assert response.json()["recycled"] is True

    events = await backend.timeline_with(lead_id, RECYCLED, QUALIFIED, ASSIGNED)
    by_type = {e["type"]: e for e in events}
    recycled = by_type[RECYCLED]["data"]
    assert recycled["hand_raise"] is True
    assert recycled["lead"]["asked_to_be_contacted"] is True
    assert recycled["lead"]["timeframe_days"] == 30
    assert recycled["lead"]["email"] == "ready.now@lambda.example"
    assert recycled["enrolment_id"] == enrolment
    assert recycled["engagements"][-1]["type"] == "filled_form"
    assert recycled["engagements"][-1]["hand_raise"] is True
    assert by_type[ASSIGNED]["data"]["rep_id"] == "ana"
    order = [e["type"] for e in events]
    assert order.index(RECYCLED) < order.index(QUALIFIED) < order.index(ASSIGNED)

    def at(event: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(str(event["time"]))

    assert at(by_type[ASSIGNED]) - at(by_type[RECYCLED]) < timedelta(seconds=1)
    status = await view(backend, lead_id)
    assert status["status"] == "recycled"
    assert status["end_reason"] == "raised a hand (filled_form)"
    assert status["next_touch_at"] is None


async def test_a_track_with_lead_holidays_skips_the_public_holidays_of_the_leads_country(
    farmed: tuple[Backend, ManualClock, Path],
) -> None:
    """May 1 2026 (a Friday) is Labour Day in Germany, not in the US: a German lead on a
    track whose calendar is American but takes the lead's holidays gets day 1 on Monday."""
    backend, clock, _ = farmed
    berlin = ZoneInfo("Europe/Berlin")
    track = {
        "name": "Europe",
        "priority": 100,
        "when": {"triggers": ["deferred"], "countries": ["DE"]},
        "calendar": {"timezone": "America/New_York", "country": "US", "lead_holidays": True},
        "steps": [
            {"day": 0, "action": "task", "task": "Call"},
            {"day": 1, "action": "task", "task": "Call again"},
        ],
    }
    put = await backend.client("nurture").put(
        "/nurture/v1/tracks/europe", json=track, headers=ADMIN
    )
    assert put.status_code == 201, put.text
    clock.set(datetime(2026, 4, 30, 10, 0, tzinfo=berlin).astimezone(UTC))  # Thursday
    lead_id, enrolment = await enrol(backend, email="uta@farmed.example", country="DE")
    assert (await view(backend, lead_id))["track"] == "europe"
    assert await fire(backend) == 1
    assert await next_due(backend, enrolment) == datetime(2026, 5, 4, 9, 0, tzinfo=berlin)
