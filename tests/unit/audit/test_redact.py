"""Redaction: the person's data leaves an event, the event stays valid, and nothing that is
counted (ids, sources, stages) changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audit.redact import ERASED, personal_values, redact, redact_envelope, scrub_text
from contracts.envelope import Envelope
from contracts.events import LeadQualified, parse_data

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"


def fixture(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{event_type}.json").read_text())
    return loaded


def test_a_redacted_event_still_parses_and_keeps_what_is_counted() -> None:
    envelope = fixture("leadfarm.lead.qualified.v1")
    envelope["data"]["decision"]["reasons"] = [
        "has a company (Acme GmbH)",
        "business email domain acme.example",
        "Dana asked to be called",
    ]
    envelope["data"]["lead"]["answers"] = {"note": "call Dana after 5"}
    values = personal_values(envelope["data"])
    assert {"dana.lee@acme.example", "dana.lee", "acme.example", "Dana", "Acme GmbH"} <= values

    clean = redact_envelope(envelope, values)
    data = parse_data(Envelope.model_validate(clean))
    assert isinstance(data, LeadQualified)
    lead = data.lead
    assert (lead.email, lead.phone, lead.first_name, lead.last_name, lead.full_name) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert (lead.company, lead.company_domain, lead.answers) == (None, None, {})
    assert (lead.source, lead.source_class, lead.country, lead.timeframe_days) == (
        "website",
        "marketing",
        "DE",
        30,
    )
    assert data.decision.stage == "sales_qualified"
    assert data.decision.reasons == [
        f"has a company ({ERASED})",
        f"business email domain {ERASED}",
        f"{ERASED} asked to be called",
    ]
    for key in ("id", "type", "subject", "time", "source", "traceparent"):
        assert clean[key] == envelope[key]
    assert "dana" not in json.dumps(clean).lower()
    assert "acme" not in json.dumps(clean).lower()


def test_ids_and_categories_are_never_rewritten() -> None:
    data = {
        "lead_id": "acme-1",
        "rep_id": "acme",
        "source": "acme-webinar",
        "reason": "Acme called back",
        "lead": {"company": "Acme", "source": "acme-webinar"},
    }
    clean = redact(data, personal_values(data))
    assert clean == {
        "lead_id": "acme-1",
        "rep_id": "acme",
        "source": "acme-webinar",
        "reason": f"{ERASED} called back",
        "lead": {"company": None, "source": "acme-webinar"},
    }


def test_short_values_and_free_text() -> None:
    assert personal_values({"first_name": "Al", "email": "al@x.io"}) == {"al@x.io", "x.io"}
    assert scrub_text("Spoke to KIM LEE today", {"Kim Lee", "Kim"}) == f"Spoke to {ERASED} today"
    assert scrub_text("nothing to see", set()) == "nothing to see"
    nested = {"engagements": [{"email": "kim@x.io"}], "items": [{"note": "kim@x.io wrote"}]}
    assert redact(nested, personal_values(nested)) == {
        "engagements": [],
        "items": [{"note": f"{ERASED} wrote"}],
    }
