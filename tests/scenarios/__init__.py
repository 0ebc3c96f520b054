"""Scenarios: a Leadfarm service put in a known state for a test, with verbs to drive it and
read what happened. One module per source package, named after it, shared by every tier:

- `router.py`: the router's service on a migrated SQLite database with a manual clock, driven
  directly (`World`, `world_at`), thousands of decisions in seconds;
- `nurture.py`: nurture driven through a `Backend` with the injected clock: fire the due
  steps, let the send worker finish, walk a whole track;
- `audit.py`: a hand-computed scenario of leads, deals and spend put on audit's topic, the
  expected numbers of every report written beside it;
- `ingest.py`: ingest on an embedded Leadfarm for the provider adapters (`IngestHarness`):
  sources put, webhooks posted as each provider sends them, fetches run when the test says;
- `services.py`: the chassis's migrated database with one unit of work and a manual clock.

What they stand on is not a scenario: tests/backends.py is Leadfarm on each runtime (the
`backend`, `embedded` and `routed` fixtures in tests/conftest.py), tests/infra.py the real
Kafka and PostgreSQL. Stand-ins for outside systems (a CRM's API, Slack, an SMTP server, a
webhook receiver that misbehaves) are in tests/fakes/. tests/unit/test_test_layout.py keeps
helpers out of the test folders."""
