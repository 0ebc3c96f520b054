"""A client generated from the committed OpenAPI document (contracts/openapi.json) with
`openapi-python-client`, as an integrator would make one: it covers every operation, each
operation that takes a body lets the caller send one, and it posts leads to a running
embedded Leadfarm."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from contracts.schemagen import OPENAPI_PATH
from services.app import create_app
from tests.backends import ADMIN_KEY, EmbeddedBackend
from tests.unit.contracts.test_openapi_document import DOCUMENT

PACKAGE = "leadfarm_generated_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
# The generator's Python client sends JSON, forms and files; PUT /qualifier/v1/definitions
# also takes its YAML as text, which the generated client leaves out (it sends the JSON form).
UNSENDABLE = {("PUT", "/qualifier/v1/definitions"): {"application/yaml", "text/plain"}}
WARNING = re.compile(r"WARNING parsing (\w+) (\S+) within \S+\.\s+(.+)")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, str]]:
    """The generated package, imported, and what the generator printed."""
    where = tmp_path_factory.mktemp("client")
    config = where / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    run = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(OPENAPI_PATH),
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(where / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE), output
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def endpoint_modules(package: ModuleType) -> dict[tuple[str, str], ModuleType]:
    """(METHOD, path) -> the generated module calling it."""
    found: dict[tuple[str, str], ModuleType] = {}
    root = Path(package.__file__ or "").parent / "api"
    for path in sorted(root.glob("*/*.py")):
        if path.name == "__init__.py":
            continue
        source = path.read_text()
        call = re.search(r'"method": "(\w+)",\s*"url": "([^"]+)"', source)
        assert call is not None, f"{path}: no request made"
        module = importlib.import_module(f"{PACKAGE}.api.{path.parent.name}.{path.stem}")
        found[(call[1].upper(), call[2])] = module
    return found


def test_the_generator_understands_the_whole_document(generated: tuple[ModuleType, str]) -> None:
    _, output = generated
    assert "Unable to parse" not in output, output
    for method, path, problem in WARNING.findall(output):
        unsendable = UNSENDABLE.get((method, path), set())
        assert problem.removeprefix("Unsupported content type ") in unsendable, problem


def test_every_operation_has_a_function_and_every_body_a_parameter(
    generated: tuple[ModuleType, str],
) -> None:
    package, _ = generated
    modules = endpoint_modules(package)
    expected = {
        (method.upper(), path): operation
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
    }
    assert set(modules) == set(expected)
    for key, module in modules.items():
        for function in ("sync_detailed", "asyncio_detailed"):
            parameters = inspect.signature(getattr(module, function)).parameters
            assert ("body" in parameters) == ("requestBody" in expected[key]), (key, function)


async def test_the_generated_client_posts_leads(
    generated: tuple[ModuleType, str], embedded: EmbeddedBackend
) -> None:
    package, _ = generated
    models: Any = importlib.import_module(f"{PACKAGE}.models")
    post_lead: Any = importlib.import_module(f"{PACKAGE}.api.ingest.post_lead_ingest_v1_leads_post")
    post_batch: Any = importlib.import_module(
        f"{PACKAGE}.api.ingest.post_batch_ingest_v1_leads_batch_post"
    )
    put_source: Any = importlib.import_module(
        f"{PACKAGE}.api.ingest.put_source_ingest_v1_sources_name_put"
    )
    webhook: Any = importlib.import_module(
        f"{PACKAGE}.api.ingest.webhook_ingest_v1_webhooks_name_post"
    )
    client = package.AuthenticatedClient(
        base_url="http://lf",
        token=ADMIN_KEY,
        httpx_args={"transport": httpx.ASGITransport(app=create_app(embedded.runtime))},
    )
    async with client:
        lead = models.LeadIn(email="dana@acme.example", company="Acme", country="DE")
        answer = await post_lead.asyncio_detailed(client=client, body=lead, idempotency_key="k1")
        assert answer.status_code == 202, answer.content
        assert isinstance(answer.parsed, models.LeadAccepted)
        assert answer.parsed.status == "captured"

        batch = models.BatchIn(
            leads=[models.LeadIn(phone="+49 30 1234567"), models.LeadIn(email="not an email")]
        )
        answer = await post_batch.asyncio_detailed(client=client, body=batch)
        assert answer.status_code == 200, answer.content
        assert (answer.parsed.accepted, answer.parsed.rejected) == (1, 1)

        # A Zap's source, then a lead posted to its webhook the way the Zap does.
        secrets = models.SourceInSecrets.from_dict({"token": "zap-token-0123456789"})
        source = models.SourceIn(provider="zapier", secrets=secrets)
        answer = await put_source.asyncio_detailed("zap", client=client, body=source)
        assert answer.status_code == 201, answer.content
    zap = package.Client(
        base_url="http://lf",
        headers={"Authorization": "Bearer zap-token-0123456789"},
        httpx_args={"transport": httpx.ASGITransport(app=create_app(embedded.runtime))},
    )
    async with zap:
        delivery = models.WebhookIngestV1WebhooksNamePostJsonBody.from_dict(
            {"id": "run-1", "email": "fox@mulder.example", "first_name": "Fox"}
        )
        answer = await webhook.asyncio_detailed("zap", client=zap, body=delivery)
        assert answer.status_code == 200, answer.content
