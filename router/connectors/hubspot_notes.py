"""What the HubSpot connector writes: a lead's contact properties and the notes an assignment
and a return leave on the contact."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any


def contact_properties(lead: Mapping[str, Any]) -> dict[str, str]:
    names = {
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "phone": "phone",
        "company": "company",
        "job_title": "jobtitle",
        "country": "country",
    }
    return {hs: str(lead[ours]) for ours, hs in names.items() if lead.get(ours)}


def _line(label: str, value: Any) -> str:
    return f"<p><strong>{html.escape(label)}:</strong> {html.escape(str(value))}</p>"


def _summary(lead: Mapping[str, Any]) -> list[str]:
    name = lead.get("full_name") or " ".join(
        str(lead[k]) for k in ("first_name", "last_name") if lead.get(k)
    )
    fields = [
        ("Name", name),
        ("Company", lead.get("company")),
        ("Job title", lead.get("job_title")),
        ("Email", lead.get("email")),
        ("Phone", lead.get("phone")),
        ("Country", lead.get("country")),
        ("Source", lead.get("source")),
        ("Need", lead.get("need")),
    ]
    return [_line(label, value) for label, value in fields if value]


def assignment_note(data: Mapping[str, Any], rep_name: str) -> str:
    lead = data.get("lead") or {}
    what = "Reassigned" if data.get("from_rep_id") else "Assigned"
    lines = [f"<p><strong>Leadfarm: {what} to {html.escape(rep_name)}</strong></p>"]
    lines += _summary(lead)
    if data.get("score") is not None:
        lines.append(_line("Score", data["score"]))
    lines.append(_line("Why this rep", data.get("why") or ""))
    lines.append(
        _line(
            "Routing",
            f"rule {data.get('rule')}, pool {data.get('pool')}, strategy {data.get('strategy')}",
        )
    )
    if data.get("reason"):
        lines.append(_line("Reassigned because", data["reason"]))
    if data.get("first_touch_due_at"):
        lines.append(_line("First touch due", data["first_touch_due_at"]))
    return "".join(lines)


def return_note(data: Mapping[str, Any]) -> str:
    lines = ["<p><strong>Leadfarm: returned to marketing</strong></p>"]
    lines += _summary(data.get("lead") or {})
    lines.append(_line("Why", data.get("reason") or ""))
    return "".join(lines)
