"""The outbound client: answers come back whole and decoded, within the cap."""

from __future__ import annotations

import gzip

import httpx
import pytest

from services.outbound import OutboundClient, ResponseTooLarge


async def test_a_compressed_answer_is_decoded_and_counted_after_decoding() -> None:
    body = b'{"id": "esp-42"}' + b" " * 5000

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "identity"
        return httpx.Response(
            200, content=gzip.compress(body), headers={"content-encoding": "gzip"}
        )

    async with OutboundClient(
        deadline_s=5, user_agent="t", transport=httpx.MockTransport(answer)
    ) as client:
        response = await client.get("http://x.example/")
        assert response.content == body
        assert response.json() == {"id": "esp-42"}
    async with OutboundClient(
        deadline_s=5,
        user_agent="t",
        max_response_bytes=1000,
        transport=httpx.MockTransport(answer),
    ) as client:
        with pytest.raises(ResponseTooLarge, match="larger than 1000 bytes"):
            await client.get("http://x.example/")  # 200 bytes compressed, 5 KB decoded


async def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 2000)

    async with OutboundClient(
        deadline_s=5,
        user_agent="t",
        max_response_bytes=1000,
        transport=httpx.MockTransport(answer),
    ) as client:
        with pytest.raises(ResponseTooLarge):
            await client.get("http://x.example/")
