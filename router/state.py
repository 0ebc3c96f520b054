"""What a routing decision depends on besides configuration, kept for one transaction.

Each rep's open leads and assignments today, each pool's weighted round-robin counters and
its round-robin cursor are read from the database once per transaction (per rep, per pool),
then kept current in memory as the transaction's decisions are made, and written back once
at the end with one multi-row upsert per table. So a batch of a hundred decisions reads and
writes each piece of state once, and each decision still sees every earlier one: round
robin, weights and caps stay exact. The transaction holds the routing locks of the pools and
reps involved (`router.repository.routing.lock_partitions`), so no other decision changes them
meanwhile.

A rep's load is stored, not counted (`router_rep_loads`): open leads are kept by triggers
on the leads table, and the day's assignments by the routing transaction, which alone
assigns. The day's count is stored with the midnight it counts from; a read on a later day
is 0, and where the stored day cannot answer (never counted, or a timezone change put the
rep's midnight before it) the assignments since midnight are counted once and stored.

Also here: the rows a batch of decisions writes (`RoutingWrites`), collected and written with
set-based statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from router import repository
from router.distribution import Load, Pick
from router.records import LeadRecord, PoolRepState
from router.repository import Conn
from services import timers
from services.db import Tx


@dataclass
class RoutingState:
    open_leads: dict[str, int] = field(default_factory=dict)
    today: dict[str, int] = field(default_factory=dict)
    pools: dict[str, dict[str, PoolRepState]] = field(default_factory=dict)
    """Pool -> rep -> weighted counters (only reps with a stored row)."""
    cursors: dict[str, str | None] = field(default_factory=dict)
    changed_states: set[tuple[str, str]] = field(default_factory=set)
    changed_cursors: set[str] = field(default_factory=set)
    midnights: dict[str, datetime] = field(default_factory=dict)
    """Rep -> the local midnight `today` counts from."""
    changed_days: set[str] = field(default_factory=set)

    async def load(
        self, conn: Conn, pool: str, midnights: dict[str, datetime], *, cursor: bool
    ) -> None:
        """Read what is not held yet for `pool` and the reps in `midnights` (each rep's
        local midnight, from which today's assignments count)."""
        missing = sorted(r for r in midnights if r not in self.open_leads)
        if pool not in self.pools:
            self.pools[pool] = {}
        unknown = sorted(r for r in midnights if r not in self.pools[pool])
        read_cursor = cursor and pool not in self.cursors
        read = await repository.routing.routing_state(
            conn, pool, missing, unknown, cursor=read_cursor
        )
        recount: dict[str, datetime] = {}
        for rep in missing:
            load = read.loads.get(rep)
            midnight = self.midnights[rep] = midnights[rep]
            self.open_leads[rep] = load.open_leads if load else 0
            if load is None or load.day_start is None or load.day_start > midnight:
                recount[rep] = midnight
            else:  # the day counted, or an earlier one (nothing assigned since midnight)
                self.today[rep] = load.assigned_that_day if load.day_start == midnight else 0
        if recount:
            counted = await repository.routing.assigned_since(conn, recount)
            for rep in recount:
                self.today[rep] = counted.get(rep, 0)
            self.changed_days.update(recount)  # stored, so the next decision reads it
        self.pools[pool].update(read.states)
        for rep in unknown:
            self.pools[pool].setdefault(rep, PoolRepState(0, 0, None))
        if read_cursor:
            self.cursors[pool] = read.cursor

    def loads(self, pool: str, rep_ids: Iterable[str]) -> dict[str, Load]:
        states = self.pools.get(pool, {})
        return {
            r: Load(
                open_leads=self.open_leads.get(r, 0),
                assigned_today=self.today.get(r, 0),
                current=states[r].current if r in states else 0,
                last_assigned_at=states[r].last_assigned_at if r in states else None,
            )
            for r in rep_ids
        }

    def states_of(self, pool: str) -> dict[str, PoolRepState]:
        return dict(self.pools.get(pool, {}))

    def assigned(self, pool: str, pick: Pick, at: datetime) -> None:
        """Count an assignment the pick made: the rep's load, the counters, the cursor."""
        rep = pick.rep
        assert rep is not None
        self.open_leads[rep.id] = self.open_leads.get(rep.id, 0) + 1
        self.today[rep.id] = self.today.get(rep.id, 0) + 1
        if rep.id in self.midnights:
            self.changed_days.add(rep.id)
        states = self.pools.setdefault(pool, {})
        for rep_id in sorted(set(pick.currents) | {rep.id}):
            old = states.get(rep_id) or PoolRepState(0, 0, None)
            chosen = rep_id == rep.id
            states[rep_id] = PoolRepState(
                current=pick.currents.get(rep_id, old.current),
                assigned=old.assigned + (1 if chosen else 0),
                last_assigned_at=at if chosen else old.last_assigned_at,
            )
            self.changed_states.add((pool, rep_id))
        if pick.cursor is not None:
            self.cursors[pool] = pick.cursor
            self.changed_cursors.add(pool)

    def released(self, rep_id: str) -> None:
        """A lead the rep had open is no longer theirs (ended, reassigned)."""
        if rep_id in self.open_leads:
            self.open_leads[rep_id] = max(0, self.open_leads[rep_id] - 1)

    async def write(self, tx: Tx) -> None:
        states = [
            {"pool": pool, "rep_id": rep, **vars(self.pools[pool][rep])}
            for pool, rep in sorted(self.changed_states)
        ]
        cursors = [
            {"pool": pool, "last_rep_id": self.cursors[pool]}
            for pool in sorted(self.changed_cursors)
            if self.cursors[pool] is not None
        ]
        repository.routing.save_routing_state(tx, states, cursors)
        repository.routing.save_rep_days(
            tx,
            [
                {
                    "rep_id": rep,
                    "day_start": self.midnights[rep],
                    "assigned_that_day": self.today[rep],
                }
                for rep in sorted(self.changed_days)
            ],
        )
        self.changed_states.clear()
        self.changed_cursors.clear()
        self.changed_days.clear()


@dataclass
class RoutingWrites:
    """The rows a transaction's routing decisions write, collected so that each table gets
    one multi-row statement: new leads, lead changes, assignments, deadline timers."""

    new_leads: dict[str, dict[str, Any]] = field(default_factory=dict)
    lead_changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    cancels: set[tuple[str, str]] = field(default_factory=set)
    schedules: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = field(default_factory=dict)

    def new_lead(self, lead: LeadRecord) -> None:
        self.new_leads[lead.lead_id] = repository.leads.lead_row(lead)

    def change_lead(self, lead_id: str, now: datetime, **values: Any) -> None:
        values = repository.leads.lead_values(values) | {"updated_at": now}
        if lead_id in self.new_leads:
            self.new_leads[lead_id].update(values)
        else:
            self.lead_changes.setdefault(lead_id, {}).update(values)

    def schedule(
        self, kind: str, key: str, due_at: datetime, payload: dict[str, Any] | None = None
    ) -> None:
        """Replace the pending timer of (kind, key), as `services.timers.schedule` does."""
        self.cancels.add((kind, key))
        self.schedules[(kind, key)] = (due_at, payload or {})

    def cancel(self, kind: str, key: str) -> None:
        self.cancels.add((kind, key))
        self.schedules.pop((kind, key), None)

    async def write(self, tx: Tx) -> None:
        repository.leads.insert_leads(tx, list(self.new_leads.values()))
        await repository.leads.change_leads(tx, self.lead_changes)
        repository.assignments.insert_assignments(tx, self.assignments)
        await timers.replace_many(
            tx,
            sorted(self.cancels),
            [(kind, key, due, payload) for (kind, key), (due, payload) in self.schedules.items()],
        )
        self.new_leads.clear()
        self.lead_changes.clear()
        self.assignments.clear()
        self.cancels.clear()
        self.schedules.clear()
