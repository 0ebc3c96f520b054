"""What the qualifier refuses, answered whole: definitions that do not validate (each line
named, on a PUT and on a backtest) and a version stored already with other content, with the
status, detail and fields the API gave when its routes mapped them by hand. The domain raises
them (DomainError types) and the chassis's handler answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from qualifier.definitions import DEFAULT_FILE
from tests.backends import ADMIN, EmbeddedBackend

SHIPPED = DEFAULT_FILE.read_text()
YAML = {**ADMIN, "Content-Type": "application/yaml"}


def answer(response: httpx.Response) -> tuple[int, str, list[dict[str, Any]] | None]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    assert body["status"] == response.status_code
    return response.status_code, body["detail"], body.get("errors")


def line_of(text: str, part: str) -> int:
    return next(i for i, x in enumerate(text.splitlines(), 1) if part in x)


async def test_definitions_refusals_are_answered_as_before(embedded: EmbeddedBackend) -> None:
    http = embedded.client("qualifier")
    bad = SHIPPED.replace("    min_score: 0", "    min_score: lots").replace(
        "    company: 10", "    company: ten"
    )
    company, min_score = line_of(bad, "company: ten"), line_of(bad, "min_score: lots")
    said = [
        (company, "points.fit.company", "must be a number"),
        (min_score, "stages.sales_qualified.min_score", "must be a number"),
    ]
    said.sort()
    lines = [f"definitions.yaml line {n}: {path} {message}" for n, path, message in said]
    expected = (
        422,
        "The definitions are not valid (2 problems): " + "; ".join(lines),
        [
            {
                "field": path,
                "pointer": "/" + path.replace(".", "/"),
                "message": rendered,
                "line": str(n),
            }
            for (n, path, _), rendered in zip(said, lines, strict=True)
        ],
    )
    assert answer(await http.put("/qualifier/v1/definitions", content=bad, headers=YAML)) == (
        expected
    )
    now = embedded.runtime.units["qualifier"].clock.now()
    window = {"since": (now - timedelta(days=1)).isoformat(), "until": now.isoformat()}
    backtest = await http.post(
        "/qualifier/v1/backtests", json={**window, "yaml": bad}, headers=ADMIN
    )
    assert answer(backtest) == expected

    empty = await http.put("/qualifier/v1/definitions", content="", headers=YAML)
    assert answer(empty) == (
        422,
        "The definitions are not valid (1 problem): "
        "definitions.yaml line 1: is empty; it needs at least a version",
        [
            {
                "field": "yaml",
                "pointer": "/yaml",
                "message": "definitions.yaml line 1: is empty; it needs at least a version",
                "line": "1",
            }
        ],
    )

    v2 = SHIPPED.replace('version: "2026.03-default-1"', 'version: "v2"')
    assert (
        await http.put("/qualifier/v1/definitions", content=v2, headers=YAML)
    ).status_code == 201
    other = v2.replace("short_term_days: 90", "short_term_days: 60")
    assert answer(await http.put("/qualifier/v1/definitions", content=other, headers=YAML)) == (
        409,
        "Definitions version 'v2' is stored already with other content; "
        "give the change a new version.",
        [{"field": "version", "pointer": "/version", "message": "already used"}],
    )
