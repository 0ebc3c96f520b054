"""A provider API answering JSON nested far deeper than any real answer: the fetch fails
(and is retried, then marked failed) instead of overflowing the stack in the fetch worker,
where the exception would leave the delivery leased and re-claimed for ever."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ingest.providers import PROVIDERS
from ingest.providers.base import FetchFailed, FetchRef, Source

SECRET = "fetch-secret-0123456789"


def deep(depth: int = 1000) -> bytes:
    return b"[" * depth + b'"x"' + b"]" * depth


# What each provider's API answers, nesting a value 1,000 levels deep where the adapter
# turns values into text.
ANSWERS: dict[str, tuple[int, bytes]] = {
    "meta": (200, b'{"id": "1", "field_data": [{"name": "email", "values": %s}]}' % deep()),
    "hubspot": (200, b'{"id": "7", "properties": {"email": %s}}' % deep()),
    "linkedin": (500, b'{"status": 500, "message": %s}' % deep()),
}


def source(provider: str) -> Source:
    names = (*PROVIDERS[provider].required_secrets, *PROVIDERS[provider].optional_secrets)
    return Source(
        name="src",
        provider=provider,
        secrets={name: (SECRET,) for name in names},
        settings={},
        api_base_url="https://api.example.test",
        source_class="marketing",
        campaign=None,
    )


@pytest.mark.parametrize("provider", sorted(ANSWERS))
async def test_a_deeply_nested_api_answer_is_a_failed_fetch(provider: str) -> None:
    status, body = ANSWERS[provider]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    ref: dict[str, Any] = {"contact_id": "7", "form_id": "1"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(FetchFailed):
            await PROVIDERS[provider].fetch(FetchRef("7", ref), source(provider), http)
