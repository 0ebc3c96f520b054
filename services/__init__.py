"""The chassis every Leadfarm service stands on: settings, database, outbox and inbox, buses,
consumer runner, timers, HTTP app factory, auth, telemetry, CLI and the all-in-one runner."""
