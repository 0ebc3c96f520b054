"""Security properties that hold across services, the one folder of tests/unit that mirrors
no source package (tests/unit/test_test_layout.py allows it by name). Each module checks one
threat wherever it applies, as docs/security.md lists them: SSRF on every URL Leadfarm calls
out to (the router's webhooks and ingest's provider APIs), the HTTP edge every service
shares, metric labels, and the secrets ingest, the router and nurture seal at rest. A
security test of one service's code lives with that service (the providers' signatures in
tests/unit/ingest/providers/, ingest's webhook hardening in tests/unit/ingest/)."""
