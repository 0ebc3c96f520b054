"""All of audit's SQL, a module per noun (`events.py` the archive, `leads.py`,
`assignments.py`, `deals.py`, `forecast.py`, `satisfaction_audits.py`, `reports.py` the
facts and spend, `roles.py`, `erasures.py`; `common.py` what they share). Functions take
a `Tx` (writes, and reads inside a write) or a `ReadConn`; none commits.

A consumer's run of events is written per table, not per event: one multi-row insert of
the archive rows, one upsert of the lead rows, one of the reps, one insert of the new
assignments. Projections are written so that events handled concurrently by two replicas
(one lead's events arrive on several topics) cannot lose each other's updates: inserts
ignore conflicts, and the lead rows are merged ("earliest", "latest", "furthest") in SQL
from the stored values rather than read-modify-write in Python. Only which assignment ends
when is decided from a read, and a lead's assignments all come from the router's topic,
keyed by the lead, so from one consumer in order.
"""
