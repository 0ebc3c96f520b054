"""The activities Salesforce posts (Tasks, by the signed outbound webhook), read as
InboundActivity: checked ids, the channel and outcome, the Lead or Contact they are on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from router.connectors.base import (
    BadWebhook,
    InboundActivity,
    InboundEvent,
)
from router.connectors.salesforce_ids import SALESFORCE_ID
from router.connectors.salesforce_settings import SalesforceSettings
from router.records import ActivityOutcome

GENERIC_SUBTYPES = frozenset({"", "Task"})
"""A Task whose subtype says nothing: its `Type` picklist (Call, Email) decides."""


def inbound_activity(
    index: int,
    record: Any,
    settings: SalesforceSettings,
    outcomes: Mapping[str, ActivityOutcome],
) -> InboundEvent:
    if not isinstance(record, dict):
        raise BadWebhook(f"{index}", "each record must be a JSON object (a Task or an Event)")
    record_id = record.get("Id")
    if not isinstance(record_id, str) or not SALESFORCE_ID.match(record_id):
        raise BadWebhook(f"{index}/Id", "missing or not a Salesforce id")
    attributes = record.get("attributes")
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if sobject not in ("Task", "Event"):
        raise BadWebhook(
            f"{index}/attributes/type",
            "must be Task or Event (JSON.serialize writes it from the record)",
        )
    owner = record.get("OwnerId")
    if owner is not None and (not isinstance(owner, str) or not SALESFORCE_ID.match(owner)):
        raise BadWebhook(f"{index}/OwnerId", "not a Salesforce id")
    who = record.get("WhoId")
    if who is not None and (not isinstance(who, str) or not SALESFORCE_ID.match(who)):
        raise BadWebhook(f"{index}/WhoId", "not a Salesforce id")
    if sobject == "Event":
        # A meeting on the calendar with the lead: they agreed to it, a connection.
        channel, outcome = "meeting", "meeting_booked"
    else:
        closed = record.get("IsClosed")
        if closed is False or (closed is None and record.get("Status") != "Completed"):
            return InboundEvent(
                index,
                record_id,
                ignored=f"an open Task (Status {record.get('Status')!r}): it counts once completed",
            )
        subtype = str(record.get("TaskSubtype") or "")
        kind = str(record.get("Type") or "") if subtype in GENERIC_SUBTYPES else subtype
        if kind == "Call":
            disposition = str(record.get("CallDisposition") or "").strip().lower()
            channel, outcome = "call", outcomes.get(disposition, "other")
        elif kind == "Email":
            channel, outcome = "email", "sent"
        else:
            return InboundEvent(
                index, record_id, ignored=f"a Task of subtype {subtype or kind or 'none'}"
            )
    who_record = record.get("Who") if isinstance(record.get("Who"), dict) else {}
    assert isinstance(who_record, dict)
    emails = (
        (str(who_record["Email"]).strip().lower(),)
        if isinstance(who_record.get("Email"), str) and who_record["Email"]
        else ()
    )
    lead_ids: tuple[str, ...] = ()
    if settings.lead_id_field and isinstance(who_record.get(settings.lead_id_field), str):
        lead_ids = (who_record[settings.lead_id_field],)
    subject = record.get("Subject")
    note = f"Salesforce {sobject} {record_id}" + (f": {subject}"[:300] if subject else "")
    return InboundEvent(
        index,
        record_id,
        activity=InboundActivity(
            external_id=f"{sobject.lower()}:{record_id}",
            channel=channel,
            outcome=outcome,
            owner_id=owner,
            record_ids=(who,) if who else (),
            emails=emails,
            lead_ids=lead_ids,
            note=note,
        ),
    )


def with_lead(
    event: InboundEvent, leads: Mapping[str, Mapping[str, Any]], settings: SalesforceSettings
) -> InboundEvent:
    """The event, with the email and lead id Salesforce has on its Lead."""
    activity = event.activity
    if (
        activity is None
        or activity.emails
        or activity.lead_ids
        or not activity.record_ids
        or activity.record_ids[0] not in leads
    ):
        return event
    found = leads[activity.record_ids[0]]
    email = found.get("Email")
    lead_id = found.get(settings.lead_id_field) if settings.lead_id_field else None
    return replace(
        event,
        activity=replace(
            activity,
            emails=(email.strip().lower(),) if isinstance(email, str) and email else (),
            lead_ids=(lead_id,) if isinstance(lead_id, str) and lead_id else (),
        ),
    )
