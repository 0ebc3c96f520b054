"""What the Salesforce connector writes on a Lead: its fields from the lead's profile (the
required ones never empty) and why the rep has it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.connectors.salesforce_settings import SalesforceSettings

NOT_PROVIDED = "[not provided]"
"""What Salesforce's own Web-to-Lead writes in a required field the form did not have."""


def truncated(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lead_fields(lead: Mapping[str, Any], settings: SalesforceSettings) -> dict[str, Any]:
    """The Lead's standard fields from the profile. LastName and Company are required by
    Salesforce: the name's last word or the email's local part, and the email's domain,
    else "[not provided]" as Web-to-Lead writes."""
    email = str(lead.get("email") or "")
    full = str(lead.get("full_name") or "").split()
    last = lead.get("last_name") or (full[-1] if full else None) or email.partition("@")[0]
    first = lead.get("first_name") or (" ".join(full[:-1]) if len(full) > 1 else None)
    company = lead.get("company") or lead.get("company_domain") or email.partition("@")[2]
    fields: dict[str, Any] = {
        "LastName": truncated(str(last or NOT_PROVIDED), 80),
        "Company": truncated(str(company or NOT_PROVIDED), 255),
    }
    optional = {
        "FirstName": (first, 40),
        "Email": (email, 80),
        "Phone": (lead.get("phone") or lead.get("phone_raw"), 40),
        "Title": (lead.get("job_title"), 128),
        "NumberOfEmployees": (lead.get("employees"), 0),
    }
    for name, (value, limit) in optional.items():
        if value:
            fields[name] = value if limit == 0 else truncated(str(value), limit)
    if settings.country_field and lead.get("country"):
        fields[settings.country_field] = str(lead["country"])
    if settings.lead_source:
        fields["LeadSource"] = settings.lead_source
    return fields


def why_text(data: Mapping[str, Any], rep_name: str) -> str:
    what = "Reassigned" if data.get("from_rep_id") or data.get("reason") else "Assigned"
    text = f"{what} to {rep_name} by Leadfarm: {data.get('why') or 'no reason given'}"
    routing = [f"{k} {data[k]}" for k in ("rule", "pool", "strategy") if data.get(k)]
    if routing:
        text += f" ({', '.join(routing)})"
    if data.get("reason"):
        text += f". Reassigned because: {data['reason']}"
    if data.get("first_touch_due_at"):
        text += f". First touch due {data['first_touch_due_at']}"
    return text
