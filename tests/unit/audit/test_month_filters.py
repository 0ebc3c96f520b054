"""A month filter outside what a datetime holds, or written in another script's digits, is
a 422 naming the parameter (year 0 and the month after 9999-12 answered 500)."""

from __future__ import annotations

import pytest

from tests.backends import ADMIN, EmbeddedBackend


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=0000-01", "from"), ("to=9999-12", "to"), ("from=\u0662\u0660\u0662\u0666-01", "from")],
)
async def test_months_that_are_no_dates_are_refused_naming_the_parameter(
    embedded: EmbeddedBackend, query: str, field: str
) -> None:
    http = embedded.client("audit")
    for path in ("/audit/v1/metrics/time-to-first-touch", "/audit/v1/forecast", "/audit/v1/spend"):
        answer = await http.get(f"{path}?{query}", headers=ADMIN)
        assert answer.status_code == 422, (path, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field], (path, answer.text)
