"""Two clients creating the same thing at once: on PostgreSQL both requests can find it
missing before either inserts, and the second insert then hits the unique key. Each must
get a clear answer (the first 201, the others 409 or 200), never a 500."""

from __future__ import annotations

import asyncio
import uuid

from tests.backends import ADMIN, Backend


async def test_concurrent_creates_of_one_rep_get_201_once_and_409_otherwise(
    backend: Backend,
) -> None:
    http = backend.client("router")
    rep_id = f"rep-{uuid.uuid4().hex[:8]}"
    body = {"id": rep_id, "name": "Ana", "email": f"{rep_id}@example.com"}
    answers = await asyncio.gather(
        *(http.post("/router/v1/reps", json=body, headers=ADMIN) for _ in range(6))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 5, [a.text for a in answers]
    assert all(
        a.headers["content-type"] == "application/problem+json"
        for a in answers
        if a.status_code == 409
    )


async def test_other_concurrent_writes_of_one_key_answer_no_5xx(backend: Backend) -> None:
    """The same suppression, consent, spend figure or erasure sent several times at once."""
    tag = uuid.uuid4().hex[:8]
    email = f"same-{tag}@acme.example"
    writes = [
        ("nurture", "POST", "/nurture/v1/suppressions", {"email": email}),
        (
            "nurture",
            "POST",
            "/nurture/v1/consents",
            {"email": email, "basis": "opt_in", "evidence": "signed form"},
        ),
        ("audit", "PUT", f"/audit/v1/spend/web-{tag}/2026-05", {"amount": "120.50"}),
        ("audit", "POST", "/audit/v1/erasures", {"lead_id": f"lead-{tag}"}),
    ]
    wrong = []
    for service, method, path, body in writes:
        http = backend.client(service)  # type: ignore[arg-type]
        answers = await asyncio.gather(
            *(http.request(method, path, json=body, headers=ADMIN) for _ in range(5)),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, BaseException) or answer.status_code >= 500:
                wrong.append((path, repr(answer)[:300]))
    assert not wrong, wrong
