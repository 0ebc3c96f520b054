"""The benchmark's deliveries: a repeated delivery is a provider's retry, signed anew, so
ingest never sees two copies with one signature (a replay it answers 409), however fast
the driver signs them (the smoke run once failed on a copy signed in the same
millisecond)."""

from __future__ import annotations

from bench.payloads import Delivery, Person, build


def test_a_delivery_signed_twice_at_once_has_two_signatures() -> None:
    for provider, header in (
        ("webflow", "x-webflow-signature"),
        ("hubspot", "x-hubspot-signature-v3"),
    ):
        delivery = Delivery(provider, Person(1, "t"), "1000001")
        signatures = {build(delivery, "http://x").headers[header] for _ in range(50)}
        assert len(signatures) == 50, provider
