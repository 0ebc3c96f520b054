"""A provider API answering JSON nested far deeper than any real answer: the fetch fails
(and is retried, then marked failed) instead of overflowing the stack in the fetch worker,
where the exception would leave the delivery leased and re-claimed for ever."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ingest.providers import PROVIDERS
from ingest.providers.base import (
    MAX_JSON_DEPTH,
    BadPayload,
    FetchFailed,
    FetchRef,
    Source,
    loads_json,
)

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


def nested(depth: int, inner: bytes = b'"x"') -> bytes:
    """A value `depth` levels deep: objects and arrays alternating."""
    for level in range(depth):
        inner = b'{"a": %s}' % inner if level % 2 else b"[%s]" % inner
    return inner


@pytest.mark.parametrize("as_text", [False, True])
def test_json_nested_to_the_limit_is_taken_and_one_level_more_is_refused(as_text: bool) -> None:
    def load(data: bytes) -> Any:
        return loads_json(data.decode() if as_text else data, "the body")

    assert load(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(BadPayload, match=f"nests deeper than {MAX_JSON_DEPTH} levels"):
        load(nested(MAX_JSON_DEPTH + 1))


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    # More brackets than the limit, all in strings: shallow, so taken (the count only
    # decides whether the parsed value is walked).
    body = b'{"note": "%s", "list": [%s]}' % (b"[{" * 40, b'"{"' * 1)
    assert loads_json(body, "the body")["note"].startswith("[{")
    deep_with_text = b'{"note": "%s", "x": %s}' % (b"[" * 40, nested(MAX_JSON_DEPTH))
    with pytest.raises(BadPayload, match="nests deeper"):
        loads_json(deep_with_text, "the body")
