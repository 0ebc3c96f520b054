"""The inbox: which events a consumer has handled, recorded in the same transaction as the
handler's effects, so a redelivered event changes nothing.

A consumer claims its events before handling them: one INSERT of all their ids that skips
the ids already there and returns the ones it recorded. The events returned are new; the
others were handled before. If handling fails the transaction rolls back, claims included.

What it guards against comes back within minutes or hours: a batch redelivered after a
crash or a rebalance, a record a relay published twice. So each consumer forgets what it
handled `LEADFARM_INBOX_RETENTION_DAYS` (30) ago (`forget`), a chunk at a time; it used to
keep every id forever, and every claim searched them all. (A dead letter's replay is not
recognised by the inbox of the groups that handled it: it names the group it is for,
services/consumer.py.)

On PostgreSQL the claim is the statement a consumer's transaction opens with, and it reads
in the same round trip what every batch reads next: the tombstones of the batch's leads
(services/erasure.py) and the service's reference versions (services/reference.py), kept on
the transaction. Three round trips were one each, per batch of every consumer; at low rates
a batch is one event.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import cache

from sqlalchemy import Delete, bindparam, delete, select, text

from contracts.ids import ids_before
from services.db import Tx
from services.tables import inbox

_OPEN_BATCH = text(
    # The claims, the tombstones among the batch's leads and the reference versions, told
    # apart by `kind` (data-modifying CTEs run to completion whether or not they are read).
    "WITH claimed AS ("
    " INSERT INTO inbox (consumer, event_id, handled_at)"
    " SELECT CAST(:consumer AS VARCHAR), e, CAST(:now AS TIMESTAMPTZ)"
    " FROM unnest(CAST(:events AS VARCHAR[])) AS e"
    " ON CONFLICT DO NOTHING RETURNING event_id"
    ") SELECT 'claimed' AS kind, event_id AS name, 0 AS version FROM claimed"
    " UNION ALL SELECT 'erased', lead_id, 0 FROM tombstones"
    " WHERE service = :service AND lead_id = ANY(CAST(:leads AS VARCHAR[]))"
    " UNION ALL SELECT 'version', name, version FROM reference_versions"
    " WHERE service = :service"
)


async def claim(
    tx: Tx, consumer: str, event_ids: Collection[str], lead_ids: Collection[str] = ()
) -> set[str]:
    """Record `event_ids` as handled by `consumer` in `tx`; returns those not recorded
    before (the ones to handle). One statement for a batch; on PostgreSQL the same statement
    reads the tombstones of `lead_ids` (the batch's leads) and the reference versions."""
    if not event_ids:
        return set()
    now = tx.now()
    if tx.conn.dialect.name == "postgresql" and tx.reference_versions is None:
        opened = await tx.rows(
            _OPEN_BATCH,
            {
                "consumer": consumer,
                "now": now,
                "events": sorted(set(event_ids)),
                "service": tx.service,
                "leads": sorted(set(lead_ids)),
            },
        )
        tx.reference_versions = {
            r["name"]: int(r["version"]) for r in opened if r["kind"] == "version"
        }
        if tx.tombstones_read is None:
            erased = {r["name"] for r in opened if r["kind"] == "erased"}
            tx.tombstones_read = (set(lead_ids), erased)
        return {r["name"] for r in opened if r["kind"] == "claimed"}
    return await tx.insert_new(
        inbox,
        [{"consumer": consumer, "event_id": e, "handled_at": now} for e in event_ids],
        "event_id",
    )


async def is_new(tx: Tx, consumer: str, event_id: str, lead_id: str | None = None) -> bool:
    """Claim one event: True when `consumer` has not handled it before."""
    return bool(await claim(tx, consumer, [event_id], [lead_id] if lead_id else ()))


async def forget(tx: Tx, consumer: str, before: datetime, limit: int) -> int:
    """Delete up to `limit` of the events `consumer` handled before `before`; returns how
    many. Event ids are UUIDv7s, so the old ones are a range of the inbox's primary key
    (consumer, event_id): the statement reads only what it deletes. Ids made before
    Leadfarm made UUIDv7s are deleted when they sort below that range, and otherwise kept.
    Replicas of a service skip each other's rows on PostgreSQL."""
    result = await tx.conn.execute(
        _forget(tx.conn.dialect.name),
        {"consumer": consumer, "below": ids_before(before), "before": before, "limit": limit},
    )
    return result.rowcount or 0


@cache
def _forget(dialect: str) -> Delete:
    old = select(inbox.c.event_id).where(
        inbox.c.consumer == bindparam("consumer"),
        inbox.c.event_id < bindparam("below"),
        inbox.c.handled_at < bindparam("before"),
    )
    if dialect != "postgresql":
        return delete(inbox).where(
            inbox.c.consumer == bindparam("consumer"),
            inbox.c.event_id.in_(old.limit(bindparam("limit"))),
        )
    # A materialised CTE: as `IN (subquery)` PostgreSQL may run the limited subquery again
    # for each row it deletes, deleting far more than `limit`.
    chosen = (
        old.limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED")
    )
    return delete(inbox).where(
        inbox.c.consumer == bindparam("consumer"), inbox.c.event_id == chosen.c.event_id
    )
