"""Activities from a vendor's webhook, logged as the rep's own: each is matched to its lead
(the lead id Leadfarm wrote on the record, the record Leadfarm wrote, else the record's
email among the leads reps are working) and to its rep (by their id in the vendor's system),
then logged by `Router.log_activity`, the code behind `POST /router/v1/leads/{id}/
activities`, so it stops the first-touch clock and counts toward the cadence exactly alike.
The vendor's activity id is recorded in the same transaction: a second webhook about it is a
no-op.

`Inbound.webhook` is what the webhook route calls: it checks the vendor's signature, reads
the webhook's events and logs each; what it refuses is a chassis domain error (401 a bad
signature, 400 a body the kind cannot read, 503 the vendor's API out of reach, 422 the
activities that match no lead or rep, each named, the others logged)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import httpx

from ingest.providers.base import Unauthorized
from router import metrics
from router import repository as router_repository
from router.config import RoutingConfig
from router.connectors import KINDS, repository
from router.connectors.base import (
    BadWebhook,
    ConnectorConfig,
    InboundActivity,
    TakesActivities,
    VendorError,
)
from router.connectors.schemas import InboundResult
from router.connectors.worker import ConnectorWorker, open_target
from router.records import NewActivity
from router.repository import Conn
from router.schemas.leads import ActivityIn
from router.service import Router
from services.crypto import SecretBox
from services.db import UnitOfWork
from services.egress import PrivateAddress, check_public
from services.errors import DomainError, FieldError, NotFound


class WebhookUnauthorized(DomainError):
    """A webhook whose signature is bad or stale (401)."""

    status = 401


class VendorUnavailable(DomainError):
    """The vendor's API the webhook's activities are read from cannot be called (503);
    nothing was logged, and the vendor can send the webhook again."""

    status = 503


class ActivitiesRefused(DomainError):
    """Activities of a webhook that match no lead or rep (422, naming each event); the
    others were logged."""

    status = 422


class Inbound:
    """A vendor's webhook, verified, read and each of its activities logged (`take_in`)."""

    def __init__(
        self, unit: UnitOfWork, router: Router, worker: ConnectorWorker, box: SecretBox
    ) -> None:
        self.unit = unit
        self.router = router
        self.worker = worker
        self.box = box

    async def webhook(
        self,
        connector_id: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        received_at: datetime,
        traceparent: str | None,
    ) -> list[InboundResult]:
        """What came of each of the webhook's events (`headers` by lower-case name)."""
        async with self.unit.read() as conn:
            config = await self.router.routing.current(conn)
        connector: ConnectorConfig | None = next(
            (c for c in config.connectors if c.id == connector_id), None
        )
        kind = KINDS.get(connector.kind) if connector else None
        if connector is None or not isinstance(kind, TakesActivities):
            raise NotFound(f"There is no active connector {connector_id!r} taking webhooks.")
        target = open_target(connector, self.box, config.reps)
        try:
            kind.verify(method, url, headers, body, received_at, target)
        except Unauthorized as exc:
            metrics.CONNECTOR_ACTIVITIES.labels(connector.id, connector.kind, "unauthorized").inc()
            raise WebhookUnauthorized(f"The webhook was refused: {exc}.") from None
        base = kind.api_base_url(target.settings)
        if base and not self.router.settings.allow_private_webhook_urls:
            try:
                await check_public(base)
            except PrivateAddress as exc:
                raise VendorUnavailable(
                    f"{connector.kind}'s API at settings.{kind.api_base_setting} cannot be "
                    f"called: {exc} "
                    "(LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS is off); nothing was logged."
                ) from None
        try:
            events = await kind.read(body, target, self.worker.http())
        except BadWebhook as exc:
            raise DomainError(
                f"The body is not what a {connector.kind} connector takes: {exc.message}.",
                errors=[FieldError(exc.field or "body", exc.message)],
            ) from None
        except (VendorError, httpx.HTTPError) as exc:
            raise VendorUnavailable(
                f"{connector.kind}'s API could not be asked about the webhook's activities "
                f"({exc}); nothing was logged, and the webhook can be sent again."
            ) from None
        results: list[InboundResult] = []
        refused: list[FieldError] = []
        for event in events:
            if event.activity is None:
                results.append(
                    InboundResult(
                        index=event.index,
                        event_id=event.event_id,
                        outcome="ignored",
                        reason=event.ignored,
                    )
                )
                outcome = "ignored"
            else:
                try:
                    result = await take_in(
                        self.unit,
                        self.router,
                        config,
                        connector,
                        event.index,
                        event.event_id,
                        event.activity,
                        traceparent,
                    )
                except Refusal as exc:
                    refused.append(FieldError(kind.refused_field(event.index), exc.message))
                    outcome = "refused"
                else:
                    results.append(result)
                    outcome = result.outcome
            metrics.CONNECTOR_ACTIVITIES.labels(connector.id, connector.kind, outcome).inc()
        if refused:
            logged = sum(1 for r in results if r.outcome == "logged")
            raise ActivitiesRefused(
                f"{len(refused)} of {len(events)} events were refused "
                f"({'; '.join(e.message for e in refused)}); {logged} were logged.",
                errors=refused,
            )
        return results


class Refusal(Exception):
    """The activity matches no lead or rep (or the lead takes no activities now)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def take_in(
    unit: UnitOfWork,
    router: Router,
    config: RoutingConfig,
    connector: ConnectorConfig,
    index: int,
    event_id: str,
    activity: InboundActivity,
    traceparent: str | None,
) -> InboundResult:
    """Log one activity in a transaction of its own; raises `Refusal` saying why not."""
    rep = (
        config.reps.get(activity.rep_id)
        if activity.rep_id
        else next(
            (
                r
                for r in config.reps.values()
                if activity.owner_id and r.crm_owner_ids.get(connector.kind) == activity.owner_id
            ),
            None,
        )
    )
    try:
        async with unit.transaction() as tx:
            done = await repository.crm.activity_of(tx, connector.id, activity.external_id)
            if done is not None:
                return InboundResult(
                    index=index,
                    event_id=event_id,
                    outcome="duplicate",
                    activity_id=done[0],
                    lead_id=done[1],
                )
            lead_id = await _lead_of(tx, connector, activity)
            if lead_id is None:
                records = ", ".join(activity.record_ids) or "none"
                raise Refusal(
                    f"{activity.external_id} matches no lead: it is logged on "
                    f"{connector.kind} record(s) {records}, and no lead a rep is working has "
                    "that record, its email or a Leadfarm lead id on it"
                )
            if rep is None and activity.rep_id:
                raise Refusal(
                    f"{activity.external_id} matches no rep: there is no rep {activity.rep_id!r}"
                )
            if rep is None:
                raise Refusal(
                    f"{activity.external_id} matches no rep: no rep has "
                    f"crm_owner_ids.{connector.kind} = {activity.owner_id or '(no owner)'}; set "
                    "it on the rep (PATCH /router/v1/reps/{id})"
                )
            lead = await router_repository.leads.get_lead(tx, lead_id, for_update=True)
            assert lead is not None
            if lead.rep_id != rep.id:
                raise Refusal(
                    f"{activity.external_id} was logged by rep {rep.id!r}, but lead "
                    f"{lead_id} is {lead.status} with "
                    f"{'rep ' + repr(lead.rep_id) if lead.rep_id else 'no rep'}"
                )
            if not await repository.crm.claim_activity(
                tx, connector.id, activity.external_id, lead_id, tx.now()
            ):
                return InboundResult(
                    index=index, event_id=event_id, outcome="duplicate", lead_id=lead_id
                )
            logged = await router.log_activity(
                tx,
                lead,
                NewActivity(  # checked as the API checks a rep's (ActivityIn)
                    **ActivityIn.model_validate(
                        {
                            "channel": activity.channel,
                            "outcome": activity.outcome,
                            "note": activity.note,
                        }
                    ).model_dump()
                ),
                traceparent,
            )
            await repository.crm.set_activity(tx, connector.id, activity.external_id, logged.id)
            return InboundResult(
                index=index,
                event_id=event_id,
                outcome="logged",
                activity_id=logged.id,
                lead_id=lead_id,
            )
    except DomainError as exc:
        raise Refusal(f"{activity.external_id}: {exc.detail}") from exc


async def _lead_of(tx: Conn, connector: ConnectorConfig, activity: InboundActivity) -> str | None:
    """The lead by the Leadfarm lead id on the record, the record Leadfarm wrote, or the
    record's email among the leads reps are working; in that order."""
    for lead_id in activity.lead_ids:
        if await router_repository.leads.get_lead(tx, lead_id) is not None:
            return lead_id
    if activity.record_ids:
        found = await repository.crm.leads_of_records(tx, connector.id, activity.record_ids)
        if found:
            return found[0]
    by_email = await repository.crm.working_leads_by_email(tx, activity.emails)
    return by_email[0] if by_email else None
