"""Lead provider adapters, one module each, registered here by name.

Adding a provider: write `ingest/providers/<name>.py` with a `Provider` subclass (see
`base.py`), add it to `_ADAPTERS` below, document it in docs/sources/<name>.md (and the
table in docs/sources.md) and test it in
`tests/unit/ingest/providers/test_<name>.py`.
"""

from __future__ import annotations

from ingest.providers.base import Provider

_ADAPTERS = (
    "form",
    "zapier",
    "gravity_forms",
    "unbounce",
    "typeform",
    "webflow",
    "hubspot",
    "google_ads",
    "meta",
    "linkedin",
)


def _load() -> dict[str, Provider]:
    import importlib

    registry: dict[str, Provider] = {}
    for module_name in _ADAPTERS:
        provider: Provider = importlib.import_module(f"ingest.providers.{module_name}").PROVIDER
        registry[provider.name] = provider
    return registry


PROVIDERS: dict[str, Provider] = _load()


def get(name: str) -> Provider | None:
    return PROVIDERS.get(name)
