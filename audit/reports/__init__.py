"""audit's reports: the numbers that settle arguments, computed from audit's read models
(not Prometheus metrics: audit's `/metrics` is the chassis's, like every service's).

Pure functions over typed facts (no SQL, no clock), so each one is checked against a
hand-computed fixture. Each returns a `Report` (`facts.py`): rows grouped by one dimension,
a total row, warnings, and the same content as JSON or CSV. `marketing.py` answers
marketing's questions (funnel, costs, source mix), `sales.py` those about what sales did
(follow-up, time to first touch, SLA, lead to close, Prospect Satisfaction findings).
`service.py` reads a metric's facts from the read models and runs it, and keeps the spend
entered.

Units: a lead is counted in the period it was captured (its cohort). Questions about sources
are asked of leads; questions about reps are asked of assignments (what a rep did with what
they were given), so a lead reassigned once counts once for its source and once for each rep.
Money is in minor units inside and in major units (2 decimals) outside. Durations are
seconds (time to first touch) or days (lead to close). Percentiles use the nearest-rank
method: the p-th percentile of n sorted values is the ceil(p/100 * n)-th value.
"""
