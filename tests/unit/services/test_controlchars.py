"""Control characters: what the edge refuses and what it strips."""

from __future__ import annotations

import pytest

from ingest.providers.base import FetchRef, Parsed, RawLead
from services.controlchars import control_character, without_controls


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("plain", None),
        ("tab\tline\nreturn\r", None),
        ("a\x00b", "U+0000"),
        ("bell\x07", "U+0007"),
        ("esc\x1b[31m", "U+001B"),
        ("del\x7f", "U+007F"),
        ("nel\x85", "U+0085"),
        ("zero\u200bwidth", None),  # invisible, not control: normalise.text drops it
        (["ok", "x\x01"], "U+0001"),
        ({"key\x02": "ok"}, "U+0002"),
        ({"k": {"deep": ["\x03"]}}, "U+0003"),
        (42, None),
        (None, None),
    ],
)
def test_control_character_finds_the_first_anywhere(value: object, found: str | None) -> None:
    assert control_character(value) == found


def test_without_controls_keeps_tabs_and_line_breaks() -> None:
    assert without_controls("A\x00c\x1bme\x7f\x9f\tGmbH\n") == "Acme\tGmbH\n"


def test_every_adapter_output_is_stripped_whatever_built_it() -> None:
    """A webhook's lead and a fetched lead are both RawLeads: neither can carry a control
    character into the store (PostgreSQL refuses a NUL outright)."""
    lead = RawLead(
        external_id="id\x00-1",
        fields={"Email\x00": "a@b.example\x00", "Note": "x\x1b", "Note\x00": "second"},
        utm={"utm_source": "ads\x00"},
        click_ids={"gclid": "g\x7f1"},
    )
    assert lead.external_id == "id-1"
    assert lead.fields == {"Email": "a@b.example", "Note": "x"}  # a name met again: first wins
    assert (lead.utm, lead.click_ids) == ({"utm_source": "ads"}, {"gclid": "g1"})
    assert RawLead(external_id="\x00", fields={}).external_id is None
    ref = FetchRef("lead\x00-7", {"form_id": "f\x00"})
    assert (ref.external_id, ref.ref) == ("lead-7", {"form_id": "f"})
    assert Parsed(deletions=["gone\x00"]).deletions == ["gone"]
