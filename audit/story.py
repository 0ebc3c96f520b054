"""A lead's timeline as a person reads it: one line per event, with when, what happened and
who did it, instead of the raw CloudEvents (`GET /audit/v1/leads/{id}/timeline/summary`,
`leadfarm leads timeline`).

Each line is built from the stored envelope's own fields and never from the prospect's
profile (`data.lead`): no email, phone, name or company. What a line may show is what the
caller of the full timeline sees already: ids, reps' names, pools, rules, stages, scores,
amounts and the reasons people typed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from audit.schemas import StoryLine

Data = Mapping[str, Any]


def _when(value: Any) -> str:
    """A time in the event's data, to the minute: `2026-12-07 09:05 UTC`."""
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return at.strftime("%Y-%m-%d %H:%M %Z").strip()


def _money(data: Data) -> str:
    currency = data.get("currency")
    return f"{data.get('amount')} {currency}" if currency else str(data.get("amount"))


def _rep(data: Data, key: str = "rep_id") -> str:
    name, rep_id = data.get("rep_name"), data.get(key)
    return f"{name} ({rep_id})" if name else str(rep_id)


def _decision(data: Data) -> Data:
    decision = data.get("decision")
    return decision if isinstance(decision, Mapping) else {}


def _qualified(verb: str) -> Callable[[Data], str]:
    # Not the decision's reasons: a criterion's reason may quote the profile ("company
    # (Acme)"); the stage, term and score say the same without it.
    def line(data: Data) -> str:
        decision = _decision(data)
        return (
            f"{verb} as {decision.get('stage')} ({decision.get('term')}-term, score "
            f"{decision.get('score')}, definition {decision.get('definition_version')})"
        )

    return line


def _disqualified(data: Data) -> str:
    # The disqualifiers' names; `reason` may quote the profile (the free-mail address).
    names = ", ".join(data.get("disqualifiers") or []) or "a disqualifier"
    return f"disqualified: {names} (definition {data.get('definition_version')})"


def _assigned(data: Data) -> str:
    return (
        f"assigned to {_rep(data)} from pool {data.get('pool')} by rule {data.get('rule')}; "
        f"first touch due {_when(data.get('first_touch_due_at'))}"
    )


def _reassigned(data: Data) -> str:
    return (
        f"reassigned from {data.get('from_rep_id') or 'nobody'} to {_rep(data)}: "
        f"{data.get('reason')}; first touch due {_when(data.get('first_touch_due_at'))}"
    )


def _queued(data: Data) -> str:
    if data.get("held_until"):
        return f"held until {_when(data['held_until'])}: {data.get('reason')}"
    return f"queued on {data.get('queue')}: {data.get('reason')}"


def _recorded(data: Data) -> str:
    said = f"prospect says {data.get('outcome')}"
    if data.get("satisfaction") is not None:
        said += f", satisfaction {data['satisfaction']}/5"
    contacted = "contacted" if data.get("contacted") else "not contacted"
    return f"satisfaction audit recorded: {contacted}; {said}"


WHAT: dict[str, Callable[[Data], str]] = {
    "lead.received": lambda d: f"received from source {d.get('source')} ({d.get('provider')})",
    "lead.captured": lambda d: "captured: normalised and stored",
    "lead.merged": lambda d: f"a new delivery merged in (matched on {d.get('matched_on')})",
    "lead.qualified": _qualified("qualified"),
    "lead.deferred": _qualified("deferred"),
    "lead.disqualified": _disqualified,
    "lead.assigned": _assigned,
    "lead.reassigned": _reassigned,
    "lead.queued": _queued,
    "lead.accepted": lambda d: "accepted by the rep",
    "lead.rejected": lambda d: f"rejected by the rep: {d.get('reason')} ({d.get('outcome')})",
    "contact.logged": lambda d: f"{d.get('channel')} logged: {d.get('outcome')}",
    "sla.breached": lambda d: (
        f"{d.get('sla')} deadline missed (due {_when(d.get('due_at'))})"
        + (f"; {d['action']}" if d.get("action") else "")
    ),
    "rep.suspended": lambda d: f"rep {d.get('rep_id')} suspended: {d.get('reason')}",
    "rep.reinstated": lambda d: f"rep {d.get('rep_id')} reinstated",
    "lead.returned": lambda d: f"returned to marketing: {d.get('reason')}",
    "opportunity.opened": lambda d: f"opportunity opened: {_money(d)}",
    "opportunity.closed": lambda d: (
        f"opportunity {'won' if d.get('won') else 'lost'}: {_money(d)}"
        + (f" ({d['reason']})" if d.get("reason") else "")
    ),
    "nurture.enrolled": lambda d: f"enrolled in nurture track {d.get('track')}: {d.get('reason')}",
    "nurture.touched": lambda d: (
        f"nurture step {d.get('step')} sent by {d.get('channel')}"
        + (f" ({d['template']})" if d.get("template") else "")
    ),
    "lead.recycled": lambda d: (
        f"recycled to sales: {d.get('reason')} (engagement {d.get('engagement_score')})"
    ),
    "audit.opened": lambda d: (
        f"satisfaction audit opened ({d.get('reason')}), due {_when(d.get('due_at'))}"
    ),
    "audit.recorded": _recorded,
    "forecast.changed": lambda d: f"forecast {d.get('action')}: {_money(d)} ({d.get('reason')})",
    "forecast.removal_requested": lambda d: f"removal from the forecast asked: {d.get('reason')}",
    "forecast.removal_decided": lambda d: f"removal from the forecast {d.get('decision')}",
    "person.erasure_requested": lambda d: "erasure of the person's data requested",
}

# Who acted, where a person did (a rep, or an API key by its id); otherwise the service that
# said it.
WHO: dict[str, Callable[[Data], str | None]] = {
    "lead.accepted": lambda d: f"rep {d.get('rep_id')}",
    "lead.rejected": lambda d: f"rep {d.get('rep_id')}",
    "contact.logged": lambda d: f"rep {d.get('rep_id')}",
    "opportunity.opened": lambda d: f"rep {d.get('rep_id')}",
    "opportunity.closed": lambda d: f"rep {d.get('rep_id')}",
    "forecast.removal_requested": lambda d: f"key {d.get('requested_by')}",
    "forecast.removal_decided": lambda d: f"key {d.get('decided_by')}",
    "forecast.changed": lambda d: f"key {d['approved_by']}" if d.get("approved_by") else None,
}


def short_type(event_type: str) -> str:
    """`leadfarm.lead.assigned.v1` -> `lead.assigned`."""
    parts = event_type.split(".")
    if parts and parts[0] == "leadfarm":
        parts = parts[1:]
    if parts and parts[-1].startswith("v") and parts[-1][1:].isdigit():
        parts = parts[:-1]
    return ".".join(parts)


def line_of(envelope: Mapping[str, Any]) -> StoryLine:
    """One event, told in a line."""
    kind = short_type(str(envelope.get("type", "")))
    raw = envelope.get("data")
    data: Data = raw if isinstance(raw, Mapping) else {}
    service = str(envelope.get("source", "")).rsplit("/", 1)[-1] or "unknown"
    if kind.endswith(".erasure_completed"):
        what = f"personal data erased ({data.get('records', 0)} record(s))"
    elif kind in WHAT:
        what = WHAT[kind](data)
    else:  # a type this module does not know yet: its name, in words
        what = kind.replace(".", " ").replace("_", " ")
    who = (WHO[kind](data) if kind in WHO else None) or service
    return StoryLine(time=_time(envelope.get("time")), event=kind, what=what, who=who)


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
