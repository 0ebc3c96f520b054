"""How long the embedded log keeps a record: `LEADFARM_LOG_RETENTION_DAYS` (7), as Kafka keeps
a topic's records for its retention, and never a record some consumer has not read yet.

The embedded runtime's log is its outbox table, and it kept every record for ever: each
lead's events (several KB), which audit's archive also keeps (`audit_events`, the record of
everything that happened). Every ten minutes `LogRetention` deletes the records that were
written more than the retention ago and that every consumer group of the runtime has read
(each group's position in `embedded_offsets`), 1,000 a transaction, at most 0.1 s a turn.
Dead letters (`<topic>.dlq`) and their replays (`replay-<id>`) stay: `leadfarm dlq` lists
them from the log, and a replay's row is what makes a dead letter replayed at most once.

What it changes: `leadfarm replay --since` cannot go further back than the retention (as on
Kafka), and the inbox must remember events at least as long (`LEADFARM_INBOX_RETENTION_DAYS`,
30). The log's ids are never reused (AUTOINCREMENT), so positions stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select

from contracts.topics import DLQ_SUFFIX
from services.clock import Clock
from services.db import Database
from services.outbox import REPLAY_PREFIX
from services.polling import PollingWorker
from services.pruning import prune_turn
from services.tables import embedded_offsets, outbox

EVERY_S = 600.0


class LogRetention(PollingWorker):
    """Deletes what the embedded log has kept long enough (see the module)."""

    name = "log-retention"

    def __init__(
        self,
        database: Database,
        clock: Clock,
        groups: Sequence[str],
        retention: timedelta,
        every_s: float = EVERY_S,
    ) -> None:
        super().__init__(every_s)
        self.database = database
        self.clock = clock
        self.groups = list(groups)
        self.retention = retention
        self.deleted = 0

    async def round(self) -> bool:
        """One turn of chunks (services/pruning.py): True when records to delete are left
        (the next turn comes at once)."""
        upto = await self._deletable_through()
        if upto <= 0:
            return False

        async def chunk(limit: int) -> int:
            async with (
                self.database.write_lock(),
                self.database.connect() as conn,
                conn.begin(),
            ):
                result = await conn.execute(_DELETE, {"upto": upto, "limit": limit})
            return result.rowcount or 0

        gone, more = await prune_turn(chunk, lambda: self.stopping)
        self.deleted += gone
        return more

    async def _deletable_through(self) -> int:
        """The last id that may go: read by every group (a group with no position yet has
        read nothing), and before the first record written within the retention."""
        async with self.database.connect() as conn:
            positions = dict(
                (
                    await conn.execute(
                        select(embedded_offsets.c.group_id, embedded_offsets.c.position).where(
                            embedded_offsets.c.group_id.in_(self.groups)
                        )
                    )
                ).all()
            )
            read = min((int(positions.get(g) or 0) for g in self.groups), default=0)
            first_kept = await conn.scalar(
                _FIRST_WITHIN, {"since": self.clock.now() - self.retention}
            )
            newest = int(await conn.scalar(select(func.coalesce(func.max(outbox.c.id), 0))) or 0)
        within = int(first_kept) - 1 if first_kept is not None else newest
        return min(read, within)


_KEPT = (
    outbox.c.topic.not_like(f"%{DLQ_SUFFIX}"),
    outbox.c.event_id.not_like(f"{REPLAY_PREFIX}%"),
)
# The first record written within the retention, in log order: the walk from the start
# passes only the records kept for ever (dead letters, replays) once the old ones are gone.
_FIRST_WITHIN = (
    select(outbox.c.id)
    .where(outbox.c.created_at >= bindparam("since"))
    .order_by(outbox.c.id)
    .limit(1)
)
_DELETE = delete(outbox).where(
    outbox.c.id.in_(
        select(outbox.c.id)
        .where(outbox.c.id <= bindparam("upto"), *_KEPT)
        .order_by(outbox.c.id)
        .limit(bindparam("limit"))
    )
)
