"""No log line carries a test lead's email or phone, on both runtimes.

Every log record of every logger (the root's, and any logger that does not propagate) is
formatted by the service's own JSON formatter (`services.logs`) into a buffer while a lead
crosses all five services, and while the risky paths run: a 422 whose body carries the
address, a poison event whose validation error quotes it, and a handler that fails with the
person's details in its exception (retried, then dead-lettered)."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.events import LeadCaptured, LeadProfile, make_envelope
from router.service import Router
from services.logs import JsonFormatter
from tests.backends import ADMIN, Backend, eventually

EMAIL = "Ozmira.Thrandel-Pix@Kelvorine-Logs.example"
PHONE = "+44 20 7946 0857"
FAILING_EMAIL = "Brevik.Sollund@Kelvorine-Fails.example"
FAILING_PHONE = "+49 30 9012 3456"
PERSON = {
    "email": EMAIL,
    "phone": PHONE,
    "first_name": "Ozmira",
    "last_name": "Thrandel",
    "company": "Kelvorine",
    "country": "GB",
    "source": "website",
    "timeframe_days": 30,
    "asked_to_be_contacted": True,
}
# What must never be written: each address, its local part, and each phone as typed, as
# E.164 and as bare digits (case-insensitive).
FORBIDDEN = (
    EMAIL,
    EMAIL.split("@")[0],
    "%40kelvorine",
    PHONE,
    PHONE.replace(" ", ""),
    "2079460857",
    FAILING_EMAIL,
    FAILING_EMAIL.split("@")[0],
    FAILING_PHONE,
    FAILING_PHONE.replace(" ", ""),
    "3090123456",
)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything every logger writes, through the services' JSON formatter, at INFO (the
    default) and DEBUG for Leadfarm's own loggers."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    ours = [logging.getLogger(n) for n in ("services", "ingest", "qualifier", "router")]
    ours += [logging.getLogger(n) for n in ("nurture", "audit")]
    levels = [lg.level for lg in ours]
    for lg in ours:
        lg.setLevel(logging.DEBUG)
    root.addHandler(handler)
    detached = [
        lg
        for lg in logging.root.manager.loggerDict.values()
        if isinstance(lg, logging.Logger) and not lg.propagate
    ]
    for lg in detached:
        lg.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for lg in detached:
            lg.removeHandler(handler)
        for lg, old in zip(ours, levels, strict=True):
            lg.setLevel(old)
        root.setLevel(level)


def leaks(text: str) -> list[tuple[str, str]]:
    lowered = [line.lower() for line in text.splitlines()]
    return [(f, line) for line in lowered for f in FORBIDDEN if f.lower() in line]


async def test_no_log_line_carries_a_leads_email_or_phone(
    backend: Backend, logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_on_qualified = Router.on_qualified

    async def on_qualified(self: Router, tx: Any, events: Any) -> Any:
        for event in events:
            lead: LeadProfile = event.data.lead
            if lead.email == FAILING_EMAIL.lower():
                raise ValueError(f"cannot route {lead.email} ({lead.phone}, {lead.phone_raw})")
        return await real_on_qualified(self, tx, events)

    monkeypatch.setattr(Router, "on_qualified", on_qualified)

    added = await backend.client("router").post(
        "/router/v1/reps",
        json={"id": "ana", "name": "Ana", "email": "ana@example.com"},
        headers=ADMIN,
    )
    assert added.status_code == 201, added.text

    # The happy path through all five services, with the person's details in free text.
    lead_id = await backend.post_lead(**PERSON)
    await backend.timeline_with(lead_id, "leadfarm.lead.assigned.v1")
    router = backend.client("router")
    noted = await router.post(
        f"/router/v1/leads/{lead_id}/activities",
        json={"channel": "call", "outcome": "no_answer", "note": f"call {PHONE} or {EMAIL}"},
        headers=ADMIN,
    )
    assert noted.status_code == 201, noted.text
    rejected = await router.post(
        f"/router/v1/leads/{lead_id}/reject",
        json={"reason": f"wrong person, write to {EMAIL}", "disposition": "return"},
        headers=ADMIN,
    )
    assert rejected.status_code == 200, rejected.text
    await backend.timeline_with(lead_id, "leadfarm.nurture.enrolled.v1")

    # A 422 whose body carries the address and the phone.
    ingest = backend.client("ingest")
    bad = await ingest.post(
        "/ingest/v1/leads",
        json={"email": EMAIL, "phone": PHONE, "timeframe_days": EMAIL, "employees": PHONE},
        headers=ADMIN,
    )
    assert bad.status_code == 422, bad.text
    lookup = await ingest.get("/ingest/v1/leads", params={"email": EMAIL}, headers=ADMIN)
    assert lookup.status_code < 500

    # A poison event whose validation error quotes the address and the phone.
    poison_lead = str(uuid.uuid4())
    poison = make_envelope(
        LeadCaptured(
            lead_id=poison_lead,
            delivery_id="d-poison",
            lead=LeadProfile(email=EMAIL.lower(), source="website"),
        ),
        time=datetime.now(UTC),
    )
    broken = poison.model_copy(
        update={
            "data": {
                **poison.data,
                "lead": {**poison.data["lead"], "employees": EMAIL, "timeframe_days": PHONE},
            }
        }
    )
    await backend.inject("ingest", poison_lead, broken.to_json())

    # A handler that fails with the person's details in its error: retried, dead-lettered.
    failing = await backend.post_lead(**{**PERSON, "email": FAILING_EMAIL, "phone": FAILING_PHONE})

    async def dead_lettered() -> bool:
        letters = await backend.dead_letters("qualifier")
        return any(
            h["x-leadfarm-consumer"].endswith(".router") and k == failing
            for h, k in ((h, _key(v)) for h, v in letters)
        )

    await eventually(dead_lettered, timeout=60)

    async def poison_seen() -> bool:
        return "dead-lettered" in logs.getvalue() and "employees" in logs.getvalue()

    await eventually(poison_seen, timeout=30)

    text = logs.getvalue()
    assert "handler for leadfarm.lead.qualified.v1 failed" in text, "the failure was logged"
    assert "[email]" in text, "the redactor had work to do"
    assert "[phone]" in text
    assert leaks(text) == []


def _key(value: bytes) -> str:
    import orjson

    parsed: dict[str, Any] = orjson.loads(value)
    return str(parsed.get("subject"))
