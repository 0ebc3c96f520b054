"""A lead's timeline in short (audit/story.py): every event type is told in words, and no
line quotes the prospect's profile."""

from __future__ import annotations

from typing import Any

from audit.story import WHAT, line_of, short_type
from contracts.events import EVENT_TYPES

PROFILE = {
    "email": "dana.private@acme.example",
    "phone": "+4930123456",
    "first_name": "Dana",
    "company": "Acme Secret GmbH",
    "source": "website",
}


def envelope(event_type: str, data: dict[str, Any], source: str = "router") -> dict[str, Any]:
    return {
        "type": event_type,
        "source": f"/leadfarm/{source}",
        "time": "2026-12-05T10:00:00Z",
        "data": {"lead_id": "l1", "lead": PROFILE, **data},
    }


def test_every_event_type_has_its_own_words() -> None:
    untold = [
        t
        for t in EVENT_TYPES
        if short_type(t) not in WHAT and not short_type(t).endswith(".erasure_completed")
    ]
    assert not untold


def test_lines_say_what_and_who_without_the_profile() -> None:
    assigned = line_of(
        envelope(
            "leadfarm.lead.assigned.v1",
            {
                "rep_id": "ana",
                "rep_name": "Ana Ruiz",
                "pool": "dach",
                "rule": "germany",
                "first_touch_due_at": "2026-12-07T09:05:00Z",
            },
        )
    )
    assert assigned.event == "lead.assigned"
    assert assigned.what == (
        "assigned to Ana Ruiz (ana) from pool dach by rule germany; "
        "first touch due 2026-12-07 09:05 UTC"
    )
    assert assigned.who == "router"
    qualified = line_of(
        envelope(
            "leadfarm.lead.qualified.v1",
            {
                "decision": {
                    "stage": "sales_qualified",
                    "term": "short",
                    "score": 64,
                    "definition_version": "v1",
                    "reasons": ["company (Acme Secret GmbH)"],
                }
            },
            "qualifier",
        )
    )
    assert qualified.what == "qualified as sales_qualified (short-term, score 64, definition v1)"
    disqualified = line_of(
        envelope(
            "leadfarm.lead.disqualified.v1",
            {
                "reason": "free mail: dana.private@acme.example",
                "disqualifiers": ["free_mail"],
                "definition_version": "v1",
            },
            "qualifier",
        )
    )
    assert disqualified.what == "disqualified: free_mail (definition v1)"
    touched = line_of(
        envelope("leadfarm.contact.logged.v1", {"rep_id": "ana", "channel": "call", "outcome": "x"})
    )
    assert touched.who == "rep ana"
    decided = line_of(
        envelope(
            "leadfarm.forecast.removal_decided.v1",
            {"decision": "approved", "decided_by": "k1", "request_id": "r", "reason": "y"},
            "audit",
        )
    )
    assert (decided.what, decided.who) == ("removal from the forecast approved", "key k1")
    erased = line_of(envelope("leadfarm.nurture.erasure_completed.v1", {"records": 3}, "nurture"))
    assert (erased.what, erased.who) == ("personal data erased (3 record(s))", "nurture")
    unknown = line_of(envelope("leadfarm.something.new_here.v2", {}, "audit"))
    assert unknown.what == "something new here"

    for event_type in EVENT_TYPES:
        told = line_of(envelope(event_type, {}))
        for private in ("dana", "Dana", "Acme", "0123456"):
            assert private not in told.what, (event_type, told.what)
