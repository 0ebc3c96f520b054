"""A hand-computed scenario: eight leads (and one test lead) from four sources over two
months, two reps, two won deals and one lost, spend per source and month.

The events are put on audit's own topic, so only audit handles them (no other service
reacts), in three batches: the leads' January story, then the January closes, then
February; each batch is waited for, so the forecast basis (which learns the average deal
size from closed-won deals) sees the same order on both runtimes.

Times are whole minutes so every expected number below can be checked by hand:

  lead  source (class)          captured  stage            assigned (due)          first touch
  L1    web (marketing)         Jan 5     SQ, 30 days      ana 09:01 (09:06)       ana 09:03
  L2    web (marketing)         Jan 6     SQ, no timeframe ana 09:00 (09:05)       ana 09:10
  L3    expo (events)           Jan 7     SQ, 14 days      bo 09:00 (09:05) breach -
  L4    expo (events)           Jan 8     basic, long      -                       -
  L5    partner (referrals)     Jan 9     SQ, 60 days      bo 09:00 (09:05)        bo 09:04
  LT    web, is_test            Jan 10    SQ               ana                     ana
  L6    web (marketing)         Feb 2     disqualified     -                       -
  L7    web (marketing)         Feb 3     SQ, 30 days      ana 09:00 (09:05) breach,
                                                           bo 09:05 (09:10)        bo 09:07
  L8    cold (rep_prospecting)  Feb 4     basic, long      -                       -

Closes: L5 won Jan 19 (6,000), L2 lost Jan 20, L1 won Jan 25 (12,000). L5 has a cadence
breach; LT, a test lead, is excluded from every number.

Every lead is captured at 08:58 and decided at 08:59.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Envelope
from contracts.events import (
    ContactLogged,
    Decision,
    EventData,
    LeadAssigned,
    LeadCaptured,
    LeadDeferred,
    LeadDisqualified,
    LeadProfile,
    LeadQualified,
    LeadReassigned,
    OpportunityClosed,
    SlaBreached,
    make_envelope,
)
from services.outbox import write_record
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend, eventually

# What the scenario needs from audit's settings (the tests set them in the environment).
SETTINGS = {
    "LEADFARM_AUDIT_SAMPLE_RATE": "0",
    "LEADFARM_AUDIT_MIN_WON_DEALS": "2",
    "LEADFARM_AUDIT_DEFAULT_DEAL_SIZE": "20000",
    "LEADFARM_AUDIT_DOMINANCE_THRESHOLD": "0.45",
}

SOURCES = {
    "web": "marketing",
    "expo": "events",
    "partner": "referrals",
    "cold": "rep_prospecting",
}
SPEND = {("web", "2026-01"): "1000", ("web", "2026-02"): "500", ("expo", "2026-01"): "3000"}
SPEND_NO_LEADS = ("radio", "2026-01", "200")


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def profile(source: str, timeframe: int | None = None, **extra: Any) -> LeadProfile:
    return LeadProfile(
        source=source,
        source_class=SOURCES.get(source, "marketing"),  # type: ignore[arg-type]
        timeframe_days=timeframe,
        email=f"{source}-{uuid.uuid4().hex[:6]}@example.com",
        **extra,
    )


def decision(stage: str, term: str) -> Decision:
    return Decision.model_validate(
        {
            "lifecycle": "prospect" if stage == "sales_qualified" else "suspect",
            "stage": stage,
            "term": term,
            "score": 80 if stage == "sales_qualified" else 40,
            "definition_version": "scenario-1",
        }
    )


class Scenario:
    """The events of the scenario, with the lead ids of this run."""

    def __init__(self) -> None:
        run = uuid.uuid4().hex[:8]
        self.ids = {
            name: f"{name}-{run}" for name in ("L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "LT")
        }
        self.profiles: dict[str, LeadProfile] = {}
        self.batches: list[list[Envelope]] = [[], [], []]

    def id(self, name: str) -> str:
        return self.ids[name]

    def say(self, batch: int, data: EventData, time: datetime) -> None:
        self.batches[batch].append(make_envelope(data, time=time))

    def lead(self, batch: int, name: str, month: int, day: int, source: str, **kw: Any) -> None:
        p = profile(source, **kw)
        self.profiles[name] = p
        self.say(
            batch,
            LeadCaptured(lead_id=self.id(name), delivery_id=f"d-{name}", lead=p),
            at(month, day, 8, 58),
        )

    def qualify(self, batch: int, name: str, month: int, day: int) -> None:
        self.say(
            batch,
            LeadQualified(
                lead_id=self.id(name),
                decision=decision("sales_qualified", "short"),
                lead=self.profiles[name],
            ),
            at(month, day, 8, 59),
        )

    def defer(self, batch: int, name: str, month: int, day: int) -> None:
        self.say(
            batch,
            LeadDeferred(
                lead_id=self.id(name),
                decision=decision("basic_qualified", "long"),
                lead=self.profiles[name],
            ),
            at(month, day, 8, 59),
        )

    def assign(
        self, batch: int, name: str, rep: str, when: datetime, assignment: str, minutes: int = 5
    ) -> None:
        self.say(
            batch,
            LeadAssigned(
                lead_id=self.id(name),
                assignment_id=f"{assignment}-{self.id(name)}",
                rep_id=rep,
                rep_name=rep.title(),
                pool="everyone",
                rule="default",
                strategy="round_robin",
                first_touch_due_at=when + timedelta(minutes=minutes),
            ),
            when,
        )

    def touch(self, batch: int, name: str, rep: str, when: datetime) -> None:
        self.say(
            batch,
            ContactLogged(
                lead_id=self.id(name),
                activity_id=str(uuid.uuid4()),
                rep_id=rep,
                channel="call",
                outcome="connected",
                at=when,
            ),
            when,
        )

    def breach(self, batch: int, name: str, rep: str, when: datetime, sla: str) -> None:
        self.say(
            batch,
            SlaBreached(lead_id=self.id(name), rep_id=rep, sla=sla, due_at=when),  # type: ignore[arg-type]
            when,
        )

    def close(
        self, batch: int, name: str, rep: str, won: bool, amount: str, when: datetime
    ) -> None:
        self.say(
            batch,
            OpportunityClosed(
                lead_id=self.id(name),
                opportunity_id=f"o-{self.id(name)}",
                rep_id=rep,
                won=won,
                amount=Decimal(amount),
                lead=self.profiles[name],
            ),
            when,
        )


def build() -> Scenario:
    s = Scenario()
    # January: the leads' stories up to the closes.
    s.lead(0, "L1", 1, 5, "web", timeframe=30)
    s.qualify(0, "L1", 1, 5)
    s.assign(0, "L1", "ana", at(1, 5, 9, 1), "a1")
    s.touch(0, "L1", "ana", at(1, 5, 9, 3))

    s.lead(0, "L2", 1, 6, "web")
    s.qualify(0, "L2", 1, 6)
    s.assign(0, "L2", "ana", at(1, 6), "a2")
    s.touch(0, "L2", "ana", at(1, 6, 9, 10))

    s.lead(0, "L3", 1, 7, "expo", timeframe=14)
    s.qualify(0, "L3", 1, 7)
    s.assign(0, "L3", "bo", at(1, 7), "a3")
    s.breach(0, "L3", "bo", at(1, 7, 9, 5), "first_touch")

    s.lead(0, "L4", 1, 8, "expo", timeframe=300)
    s.defer(0, "L4", 1, 8)

    s.lead(0, "L5", 1, 9, "partner", timeframe=60)
    s.qualify(0, "L5", 1, 9)
    s.assign(0, "L5", "bo", at(1, 9), "a5")
    s.touch(0, "L5", "bo", at(1, 9, 9, 4))
    s.breach(0, "L5", "bo", at(1, 12, 9, 0), "cadence")

    s.lead(0, "LT", 1, 10, "web", timeframe=10, is_test=True)
    s.qualify(0, "LT", 1, 10)
    s.assign(0, "LT", "ana", at(1, 10), "at")
    s.touch(0, "LT", "ana", at(1, 10, 9, 1))

    # The January closes (after the leads above entered the forecast at the default size).
    s.close(1, "L5", "bo", True, "6000", at(1, 19, 8, 58))
    s.close(1, "L2", "ana", False, "5000", at(1, 20, 8, 58))
    s.close(1, "L1", "ana", True, "12000", at(1, 25, 8, 58))

    # February (the forecast has learned the average deal size: (12,000 + 6,000) / 2).
    s.lead(2, "L6", 2, 2, "web")
    s.say(
        2,
        LeadDisqualified(lead_id=s.id("L6"), reason="student", definition_version="scenario-1"),
        at(2, 2, 8, 59),
    )
    s.lead(2, "L7", 2, 3, "web", timeframe=30)
    s.qualify(2, "L7", 2, 3)
    s.assign(2, "L7", "ana", at(2, 3), "a7")
    s.breach(2, "L7", "ana", at(2, 3, 9, 5), "first_touch")
    s.say(
        2,
        LeadReassigned(
            lead_id=s.id("L7"),
            assignment_id=f"a7b-{s.id('L7')}",
            from_rep_id="ana",
            rep_id="bo",
            rep_name="Bo",
            reason="first touch missed",
            first_touch_due_at=at(2, 3, 9, 10),
        ),
        at(2, 3, 9, 5),
    )
    s.touch(2, "L7", "bo", at(2, 3, 9, 7))

    s.lead(2, "L8", 2, 4, "cold", timeframe=400)
    s.defer(2, "L8", 2, 4)
    return s


async def put_on_audit_topic(backend: Backend, envelopes: list[Envelope]) -> None:
    """Put the events on audit's own topic (nobody else consumes it), in order."""
    if isinstance(backend, ClusterBackend):
        producer = AIOKafkaProducer(bootstrap_servers=backend.settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            for envelope in envelopes:
                await producer.send_and_wait(
                    backend.topic("audit"), value=envelope.to_json(), key=envelope.subject.encode()
                )
        finally:
            await producer.stop()
    elif isinstance(backend, EmbeddedBackend):  # one transaction: the log keeps the order
        async with backend.runtime.units["audit"].transaction() as tx:
            for envelope in envelopes:
                await write_record(
                    tx,
                    backend.topic("audit"),
                    envelope.subject,
                    envelope.to_json(),
                    event_id=f"injected-{uuid.uuid4()}",
                )
    else:
        for envelope in envelopes:
            await backend.inject("audit", envelope.subject, envelope.to_json())


async def archived(backend: Backend, envelopes: list[Envelope]) -> None:
    """Wait until audit has handled every one of `envelopes`."""
    wanted: dict[str, set[str]] = {}
    for envelope in envelopes:
        wanted.setdefault(envelope.subject, set()).add(envelope.id)

    async def probe() -> bool:
        for lead_id, ids in wanted.items():
            seen = {e["id"] for e in await backend.timeline(lead_id)}
            if not ids <= seen:
                return False
        return True

    await eventually(probe, timeout=60)


async def load(backend: Backend) -> Scenario:
    """Play the scenario into a running Leadfarm and enter the spend."""
    scenario = build()
    for batch in scenario.batches:
        await put_on_audit_topic(backend, batch)
        await archived(backend, batch)
    http = backend.client("audit")
    for (source, period), amount in SPEND.items():
        response = await http.put(
            f"/audit/v1/spend/{source}/{period}", json={"amount": amount}, headers=ADMIN
        )
        assert response.status_code == 201, response.text
    source, period, amount = SPEND_NO_LEADS
    response = await http.put(
        f"/audit/v1/spend/{source}/{period}", json={"amount": amount}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return scenario
