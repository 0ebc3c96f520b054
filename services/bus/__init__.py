"""Buses: how consumers read the event stream. `KafkaBus` for the cluster, `EmbeddedBus`
(the SQLite outbox as the log) for the all-in-one process."""
