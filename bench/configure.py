"""What the benchmark configures through the public APIs with the admin key: a source per
provider it drives (with the provider's secret), three reps who work around the clock, and
a webhook subscription to `lead.assigned` pointing at the benchmark's receiver."""

from __future__ import annotations

import httpx

from bench.payloads import PROVIDERS, SECRETS, source_name
from bench.systems import ADMIN_KEY

ALWAYS = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
REPS = ("ana", "ben", "cho")


async def configure_sources(ingest_url: str) -> None:
    """One source per provider the benchmark drives, with the provider's secret."""
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as http:
        for provider in PROVIDERS:
            response = await http.put(
                f"{ingest_url}/ingest/v1/sources/{source_name(provider)}",
                json={"provider": provider, "secrets": SECRETS[provider]},
            )
            response.raise_for_status()


async def configure(urls: dict[str, str], receiver_url: str) -> str:
    """Set everything up; returns the subscription's signing secret."""
    await configure_sources(urls["ingest"])
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as http:
        for rep in REPS:
            response = await http.post(
                f"{urls['router']}/router/v1/reps",
                json={
                    "id": rep,
                    "name": rep.title(),
                    "email": f"{rep}@bench.example",
                    "working_hours": ALWAYS,
                },
            )
            response.raise_for_status()
        response = await http.post(
            f"{urls['router']}/router/v1/subscriptions",
            json={"url": receiver_url, "events": ["lead.assigned"], "description": "bench"},
        )
        response.raise_for_status()
        return str(response.json()["secret"])


async def leads_of(ingest_url: str, emails: list[str], concurrency: int = 8) -> dict[str, int]:
    """How many leads ingest holds for each email (exactly one is right)."""
    import asyncio

    gate = asyncio.Semaphore(concurrency)
    found: dict[str, int] = {}
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as http:

        async def one(email: str) -> None:
            async with gate:
                response = await http.get(f"{ingest_url}/ingest/v1/leads", params={"email": email})
                response.raise_for_status()
                found[email] = len(response.json())

        await asyncio.gather(*(one(e) for e in emails))
    return found
