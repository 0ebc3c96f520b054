"""Taking leads in through the API's routes: a lead of the generic API checked before its
group-commit round (`check_lead`), a webhook's leads checked (`usable`), and what each
request writes in its round (`store_lead`, `store_batch`, `WebhookDelivery.store`).

The checks touch no database, so a lead that cannot be used is refused before a round; the
stores run inside a round shared by concurrent requests (services/groupcommit.py), each
with the round's state (`RoundStore`), and may run twice when a round is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from contracts.events import LeadProfile
from ingest import metrics, repository, service
from ingest.providers.base import Parsed, RawLead, ReplayGuard, Source, WebhookRequest
from ingest.records import StoredSource
from ingest.roundstore import RoundStore, Touches
from ingest.schemas import LeadIn
from ingest.sources import SourceCatalog
from services.auth import Principal
from services.problems import Problem, field_error

PURGE_SIGNATURES_EVERY = timedelta(minutes=1)
"""How often a webhook also drops the expired records of signed deliveries (per process)."""
PURGE_ANSWERS_EVERY = timedelta(minutes=10)
"""How often a lead with an Idempotency-Key also drops the answers past their window."""


# --- the generic API ----------------------------------------------------------------------


@dataclass(frozen=True)
class ApiLead:
    """A lead of the generic API, normalised (before the round), and as submitted."""

    profile: LeadProfile
    submitted: Any

    def touches(self) -> Touches:
        return service.touches(self.profile, None)

    async def record(self, round: RoundStore, traceparent: str | None) -> service.Outcome:
        return await service.record(
            round,
            self.profile,
            payload={"lead": self.submitted},  # as submitted: a merge keeps only the first values
            traceparent=traceparent,
        )


class Refusal:
    """A lead of the generic API that cannot be used: its answer, and its metric."""

    def __init__(self, status: int, answer: dict[str, Any], source: str | None = None) -> None:
        self.status = status
        self.answer = answer
        self.source = source
        """The lead's source, when the lead was refused as unusable (counted)."""

    def problem(self) -> Problem:
        return Problem(self.status, self.answer["detail"], errors=self.answer.get("errors"))

    async def count(self, catalog: SourceCatalog) -> None:
        if self.source is not None:
            metrics.REJECTIONS.labels(await catalog.metric_label(self.source), "unusable").inc()


def invalid(exc: ValidationError, prefix: str) -> Problem:
    """A 422 naming each invalid field of a body."""
    errors = [
        field_error(prefix + (".".join(str(p) for p in e["loc"]) or "body"), e["msg"])
        for e in exc.errors()
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return Problem(422, f"The request has invalid fields. {summary}", errors=errors)


def check_lead(data: Any, principal: Principal) -> ApiLead | Refusal:
    """The lead normalised, or why it cannot be used (no database: before the round)."""
    try:
        body = LeadIn.model_validate(data)
    except ValidationError as exc:
        problem = invalid(exc, "")
        return Refusal(422, {"detail": problem.detail, "errors": problem.errors})
    rep_id = principal.rep_id if principal.scope == "rep" else None
    try:
        profile = service.profile_of(
            body,
            provider="api",
            default_class="rep_prospecting" if rep_id else "marketing",
            rep_id=rep_id,
        )
    except service.InvalidLead as exc:
        return Refusal(
            422,
            {
                "detail": f"The lead cannot be used: {exc}.",
                "errors": [field_error(f, m) for f, m in exc.errors],
            },
            source=body.source,
        )
    return ApiLead(profile, data)


async def store_lead(
    round: RoundStore,
    *,
    purge: Every,
    lead: ApiLead | Refusal,
    key: str | None,
    digest: str,
    traceparent: str | None,
) -> tuple[int, dict[str, Any], service.Outcome | None]:
    """One lead of `POST /leads` in its round: (status, answer, outcome). With an
    idempotency key, a retried request gets the first answer (within its window)."""
    if key is not None and purge.due(round.tx.now()):
        await repository.purge_answers(round.tx, round.answers_since)
    if key is not None:
        seen = round.idempotent_response(key)
        if seen is not None:
            if seen[0] != digest:
                raise Problem(
                    422,
                    "This Idempotency-Key was used with a different body; use a new "
                    "key for a new lead.",
                    errors=[field_error("Idempotency-Key", "reused with another body")],
                )
            return seen[1], seen[2], None
    if isinstance(lead, Refusal):
        return lead.status, lead.answer, None
    outcome = await lead.record(round, traceparent)
    answer = {"lead_id": outcome.lead_id, "status": outcome.status}
    if key is not None:
        round.remember_response(key, digest, 202, answer)
    return 202, answer, outcome


async def store_batch(
    round: RoundStore, *, leads: Sequence[ApiLead | Refusal], traceparent: str | None
) -> list[service.Outcome | None]:
    """The usable leads of `POST /leads:batch` in their round."""
    return [
        None if isinstance(lead, Refusal) else await lead.record(round, traceparent)
        for lead in leads
    ]


# --- provider webhooks --------------------------------------------------------------------


def usable(name: str, source: Source, raws: Sequence[RawLead]) -> list[tuple[RawLead, LeadProfile]]:
    """Each lead a webhook carried, normalised; the webhook is refused as a whole (422,
    naming the field) when one cannot be used. Before its round: nothing was written."""
    found: list[tuple[RawLead, LeadProfile]] = []
    for index, raw in enumerate(raws):
        try:
            found.append((raw, service.profile_from_raw(raw, source)))
        except service.InvalidLead as exc:
            metrics.REJECTIONS.labels(name, "unusable").inc()
            prefix = f"leads.{index}." if len(raws) > 1 else ""
            raise Problem(
                422,
                f"The lead cannot be used: {exc}.",
                errors=[field_error(prefix + f, m) for f, m in exc.errors],
            ) from exc
    return found


class Every:
    """Due once per `interval` of the service's clock."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval
        self._next: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self._next is not None and now < self._next:
            return False
        self._next = now + self.interval
        return True


class RefusedInRound(Exception):
    """A webhook refused inside its round (counted once the round is over: a work may run
    twice)."""

    def __init__(self, reason: str, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.reason = reason
        self.problem = problem


class SourceChanged(Exception):
    """The round reloaded the sources after this webhook was verified."""


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified webhook delivery, checked and ready for its round."""

    name: str
    source: Source
    inbound: WebhookRequest
    parsed: Parsed
    inline: list[tuple[RawLead, LeadProfile]]
    guard: ReplayGuard | None
    verified_with: StoredSource | None
    """The stored source it was verified against (None: from the environment)."""
    traceparent: str | None

    def touches(self) -> Touches:
        name, guard = self.name, self.guard
        return Touches(
            persons=tuple((p.email, p.phone) for _, p in self.inline),
            deliveries=tuple(
                (name, x)
                for x in [raw.external_id for raw, _ in self.inline]
                + [ref.external_id for ref in self.parsed.fetches]
                if x
            ),
            signature=(name, guard.signature) if guard is not None else None,
        )

    async def store(
        self, round: RoundStore, *, catalog: SourceCatalog, purge: Every
    ) -> list[service.Outcome]:
        """Everything the delivery carried, in its round; raises `SourceChanged` when the
        round found the source changed, `RefusedInRound` for a replayed signed delivery."""
        name, source, guard, inbound = self.name, self.source, self.guard, self.inbound
        if catalog.stored(name) != self.verified_with:  # the round found the source changed
            raise SourceChanged
        tx = round.tx
        outcomes: list[service.Outcome] = []
        if guard is not None and purge.due(tx.now()):
            await repository.purge_signatures(tx)
        # Recorded with what the delivery stored: a delivery that failed may be re-sent.
        if guard is not None and not round.remember_signature(
            name, guard.signature, inbound.received_at + timedelta(seconds=guard.window_s)
        ):
            raise RefusedInRound(
                "replayed",
                Problem(
                    409,
                    f"The webhook was refused: this signed delivery ({guard.header}) was "
                    f"already received and stored; a copy is refused for {guard.window_s} "
                    "s. A provider's retry is signed anew and accepted.",
                ),
            )
        for raw, profile in self.inline:
            outcomes.append(await service.accept_raw(round, raw, profile, self.traceparent))
        for ref in self.parsed.fetches:
            outcomes.append(service.accept_fetch(round, source, ref))
        for external_id in self.parsed.deletions:
            await service.erase_external(tx, source, external_id)
        return outcomes
