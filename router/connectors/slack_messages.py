"""The Slack messages a rep and a manager read: the assignment, the reminder before the
first-touch deadline and the breach, in Block Kit, mrkdwn escaped, times in the rep's zone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from router.calendar import zone
from router.connectors.base import LeadNow
from router.records import RepRecord

FIELD_MAX = 1900
"""Under Block Kit's 2000 characters for a section field."""


def escape(text: Any) -> str:
    """Text for Slack's mrkdwn: `&`, `<` and `>` escaped, as Slack asks."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def when(at: datetime, time_zone: str) -> str:
    """'Tue 8 Dec 14:30 CET': a moment in a zone, as a rep reads it."""
    local = at.astimezone(zone(time_zone))
    return f"{local:%a} {local.day} {local:%b %H:%M %Z}"


def instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _name(lead: Mapping[str, Any]) -> str:
    name = lead.get("full_name") or " ".join(
        str(lead[k]) for k in ("first_name", "last_name") if lead.get(k)
    )
    return str(name or lead.get("email") or "a lead")


def _clip(text: str, limit: int = FIELD_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}")}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, 2900)}}


def _rep_zone(rep: RepRecord | None) -> str:
    return rep.time_zone if rep else "UTC"


def _context(link: str | None, lead_id: str) -> dict[str, Any]:
    # The link's `&`s are escaped too (Slack decodes them); `<`, `>` and `|` cannot be in it.
    ref = f"<{escape(link)}|Open lead {escape(lead_id)}>" if link else f"Lead {escape(lead_id)}"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Leadfarm · {ref}"}]}


def assignment_message(
    data: Mapping[str, Any], rep: RepRecord | None, link: str | None, mention: str | None
) -> dict[str, Any]:
    lead: Mapping[str, Any] = data.get("lead") or {}
    name, company = _name(lead), lead.get("company")
    due = when(instant(data["first_touch_due_at"]), _rep_zone(rep))
    who = f"{mention} " if mention else ""
    what = "Lead reassigned to you" if data.get("from_rep_id") else "New lead for you"
    headline = f"{what}: {escape(name)}" + (f" ({escape(company)})" if company else "")
    why = data.get("why") or "the routing rules"
    routing = f"rule {data.get('rule') or '?'}, pool {data.get('pool') or '?'}"
    fields = [
        _field("Company", escape(company or "-")),
        _field("First touch by", escape(due)),
        _field("Routing", escape(routing)),
    ]
    if lead.get("job_title"):
        fields.append(_field("Job title", escape(lead["job_title"])))
    blocks: list[dict[str, Any]] = [
        _section(f"{who}*{headline}*"),
        {"type": "section", "fields": fields},
        _section(f"*Why you*\n{escape(why)}"),
    ]
    if data.get("reason") and data.get("from_rep_id"):
        blocks.append(_section(f"*Reassigned because*\n{escape(data['reason'])}"))
    blocks.append(_context(link, data["lead_id"]))
    text = f"{who}{headline}. First touch by {escape(due)}. Why: {escape(why)} ({escape(routing)})."
    return {"text": _clip(text, 3000), "blocks": blocks}


def reminder_message(
    data: Mapping[str, Any],
    rep: RepRecord | None,
    link: str | None,
    mention: str | None,
    now_lead: LeadNow | None,
) -> dict[str, Any]:
    lead: Mapping[str, Any] = data.get("lead") or (now_lead.profile if now_lead else {})
    name, company = _name(lead), lead.get("company")
    due = when(instant(data["first_touch_due_at"]), _rep_zone(rep))
    who = f"{mention} " if mention else ""
    about = escape(name) + (f" ({escape(company)})" if company else "")
    reminder = (
        f"Reminder: first touch on {about} is due by {escape(due)}; no call or email is logged yet."
    )
    return {
        "text": _clip(f"{who}{reminder}", 3000),
        "blocks": [
            _section(f"{who}:alarm_clock: *{reminder}*"),
            _context(link, data["lead_id"]),
        ],
    }


def breach_message(
    data: Mapping[str, Any],
    lead_id: str,
    lead: Mapping[str, Any],
    rep: RepRecord | None,
    manager_zone: str | None,
) -> dict[str, Any]:
    rep_name = rep.name if rep else data["rep_id"]
    sla = {"first_touch": "first-touch", "cadence": "cadence"}.get(data["sla"], data["sla"])
    due_at = instant(data["due_at"])
    due = when(due_at, manager_zone or _rep_zone(rep))
    if manager_zone and rep and manager_zone != rep.time_zone:
        due += f" ({when(due_at, rep.time_zone)} for {rep_name})"
    name, company = _name(lead), lead.get("company")
    about = escape(name) + (f" ({escape(company)})" if company else "")
    action = data.get("action") or "nothing"
    headline = f"{escape(rep_name)} missed the {sla} SLA on {about}"
    fields = [
        _field("Rep", escape(rep_name)),
        _field("SLA", sla),
        _field("Was due", escape(due)),
        _field("Router", escape(action)),
    ]
    text = f"{headline}: due {escape(due)}. The router: {escape(action)}. Lead {escape(lead_id)}."
    return {
        "text": _clip(text, 3000),
        "blocks": [
            _section(f":rotating_light: *{headline}*"),
            {"type": "section", "fields": fields},
            _context(None, lead_id),
        ],
    }
