"""Metric labels never take a value straight from a client: each new value is a new time
series in Prometheus, so free text (a lead's `source`, an HTTP method) would let anyone
grow the server's memory and the monitoring's without bound."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from tests.backends import ADMIN, EmbeddedBackend


def label_values(metric: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in REGISTRY.collect()
        if family.name == metric
        for sample in family.samples
        if label in sample.labels
    }


async def test_a_leads_free_text_source_is_not_a_label_value(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/expo-2026",
        json={"provider": "zapier", "secrets": {"token": "t-1"}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    made_up = [f"made-up-{uuid.uuid4().hex}" for _ in range(20)]
    for index, source in enumerate([*made_up, "expo-2026", "api"]):
        accepted = await http.post(
            "/ingest/v1/leads",
            json={"email": f"label{index}@acme.example", "source": source},
            headers=ADMIN,
        )
        assert accepted.status_code == 202, accepted.text
        unusable = await http.post(
            "/ingest/v1/leads", json={"first_name": "x", "source": source}, headers=ADMIN
        )
        assert unusable.status_code == 422, unusable.text
    for metric in ("leadfarm_ingest_deliveries", "leadfarm_ingest_rejections"):
        values = label_values(metric, "source")
        assert not values & set(made_up), metric
        assert {"expo-2026", "api", "other"} <= values, (metric, values)


async def test_an_unknown_http_method_is_not_a_label_value(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    method = f"X{uuid.uuid4().hex[:10].upper()}"
    answered = await http.request(method, "/healthz")
    assert answered.status_code == 405
    assert method not in label_values("leadfarm_http_requests", "method")
    assert "other" in label_values("leadfarm_http_requests", "method")
