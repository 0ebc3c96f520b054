"""Helpers to drive nurture with the injected clock on either runtime: fire the due steps,
let the send worker finish, walk a whole track."""

from __future__ import annotations

import asyncio
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select

from nurture.models import messages
from nurture.tracks import TOUCH
from nurture.worker import SendWorker
from services.clock import ManualClock
from services.db import UnitOfWork
from services.tables import timers
from services.timers import TimerRunner
from tests.backends import ADMIN, Backend, eventually

LEAD = {
    "email": "sam@beta.example",
    "first_name": "Sam",
    "company": "Beta Ltd",
    "country": "GB",
    "source": "webinar",
    "timeframe_days": 270,
    "consent_email": True,
}


def unit_of(backend: Backend) -> UnitOfWork:
    return backend.runtimes["nurture"].units["nurture"]


def timers_of(backend: Backend) -> TimerRunner:
    return backend.runtimes["nurture"].timer_runners["nurture"]


def worker_of(backend: Backend) -> SendWorker:
    spec = next(s for s in backend.runtimes["nurture"].specs if s.name == "nurture")
    worker = spec.workers[0]
    assert isinstance(worker, SendWorker)
    return worker


async def settle(backend: Backend) -> None:
    """Run the send worker until no due email is queued or being sent."""
    unit = unit_of(backend)
    for _ in range(1000):
        await worker_of(backend).run_once()
        async with unit.read() as conn:
            pending = await conn.scalar(
                select(func.count()).where(
                    or_(
                        messages.c.status == "sending",
                        (messages.c.status == "queued")
                        & (messages.c.next_attempt_at <= unit.clock.now()),
                    )
                )
            )
        if not pending:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("emails still pending")


async def fire(backend: Backend) -> int:
    """Fire the due nurture steps and let their emails go."""
    fired = await timers_of(backend).fire_due()
    await settle(backend)
    return fired


async def next_due(backend: Backend, enrolment_id: str) -> datetime | None:
    async with unit_of(backend).read() as conn:
        due: datetime | None = await conn.scalar(
            select(timers.c.due_at).where(
                timers.c.service == "nurture",
                timers.c.kind == TOUCH,
                timers.c.key == enrolment_id,
                timers.c.fired_at.is_(None),
            )
        )
    return due


async def walk(
    backend: Backend, clock: ManualClock, enrolment_id: str, *, steps: int = 1000
) -> list[datetime]:
    """Move the clock to each of the enrolment's steps in turn and fire it; returns when
    each step fired."""
    fired_at: list[datetime] = []
    for _ in range(steps):
        due = await next_due(backend, enrolment_id)
        if due is None:
            break
        clock.set(max(due, clock.now()))
        assert await fire(backend) >= 1
        fired_at.append(clock.now())
    return fired_at


async def enrol(backend: Backend, **lead: Any) -> tuple[str, str]:
    """Post a long-term lead; returns (lead id, enrolment id) once it is enrolled."""
    lead_id = await backend.post_lead(**{**LEAD, **lead})
    events = await backend.timeline_with(lead_id, "leadfarm.nurture.enrolled.v1")
    enrolled = next(e for e in events if e["type"] == "leadfarm.nurture.enrolled.v1")
    return lead_id, str(enrolled["data"]["enrolment_id"])


async def view(backend: Backend, lead_id: str) -> dict[str, Any]:
    response = await backend.client("nurture").get(f"/nurture/v1/leads/{lead_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def outbox(data_dir: Path) -> list[EmailMessage]:
    folder = data_dir / "nurture-outbox"
    out = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        out.append(parsed)
    return out


def path_of(url: str) -> str:
    """A link from an email, as a path and query for the test client."""
    parts = urlsplit(url.strip("<>"))
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def touches(backend: Backend, lead_id: str, count: int) -> list[dict[str, Any]]:
    """Wait for `count` nurture.touched events in the lead's timeline."""

    async def probe() -> list[dict[str, Any]] | None:
        events = await backend.timeline(lead_id)
        found = [e for e in events if e["type"] == "leadfarm.nurture.touched.v1"]
        return found if len(found) >= count else None

    return await eventually(probe)
