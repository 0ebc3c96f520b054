"""Activities from a vendor's webhook, logged as the rep's own: each is matched to its lead
(the lead id Leadfarm wrote on the record, the record Leadfarm wrote, else the record's
email among the leads reps are working) and to its rep (by their id in the vendor's system),
then logged by `Router.log_activity`, the code behind `POST /router/v1/leads/{id}/
activities`, so it stops the first-touch clock and counts toward the cadence exactly alike.
The vendor's activity id is recorded in the same transaction: a second webhook about it is a
no-op."""

from __future__ import annotations

from router import repository as router_repository
from router.config import RoutingConfig
from router.connectors import repository
from router.connectors.base import ConnectorConfig, InboundActivity
from router.connectors.schemas import InboundResult
from router.records import NewActivity
from router.repository import Conn
from router.schemas.leads import ActivityIn
from router.service import Router
from services.db import UnitOfWork
from services.errors import DomainError


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
