"""Consumer lag per group and partition: committed offset, end offset, lag.

Cluster: the group's committed offsets (Kafka admin) against each partition's end offset.
Embedded: the group's position in `embedded_offsets` against the log (one partition per
topic; the offset is the outbox row id, shared by every topic, so the lag is the number of
the topic's rows after the position, not end - committed). One position serves every topic
of the group and runs ahead of a quiet topic's last row, so a topic's committed offset is
the position capped at the topic's end offset (the log's retention may have deleted the
topic's rows before the position: services/bus/retention.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from services.runtime import Runtime
from services.tables import embedded_offsets, outbox


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None
    """None: the group has committed nothing there yet (it starts at the earliest offset)."""
    end: int
    lag: int


async def consumer_lag(runtimes: list[Runtime]) -> list[PartitionLag]:
    """Lag of every consumer group of these runtimes' services."""
    rows: list[PartitionLag] = []
    for runtime in runtimes:
        if runtime.mode == "embedded":
            rows.extend(await _embedded_lag(runtime))
        else:
            rows.extend(await _kafka_lag(runtime))
    return sorted(rows, key=lambda r: (r.group, r.topic, r.partition))


def _groups(runtime: Runtime) -> list[tuple[str, list[str]]]:
    namespace = runtime.settings.topic_namespace
    return [(s.group(namespace), s.topics(namespace)) for s in runtime.specs if s.event_types()]


async def _embedded_lag(runtime: Runtime) -> list[PartitionLag]:
    rows: list[PartitionLag] = []
    async with runtime.database.connect() as conn:
        for group, topics in _groups(runtime):
            position = await conn.scalar(
                select(embedded_offsets.c.position).where(embedded_offsets.c.group_id == group)
            )
            for topic in topics:
                end, behind = (
                    await conn.execute(
                        select(
                            func.coalesce(func.max(outbox.c.id), 0),
                            func.count().filter(outbox.c.id > (position or 0)),
                        ).where(outbox.c.topic == topic)
                    )
                ).one()
                committed = None if position is None else min(int(position), int(end))
                rows.append(PartitionLag(group, topic, 0, committed, int(end), int(behind)))
    return rows


async def topic_partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of these topics (the ones that exist), from the cluster's metadata."""
    described = await admin.describe_topics(topics)
    return sorted(
        TopicPartition(str(t["topic"]), int(p["partition"]))
        for t in described
        if t.get("error_code", 0) == 0 and t["topic"] in topics
        for p in t["partitions"]
    )


async def _kafka_lag(runtime: Runtime) -> list[PartitionLag]:
    servers = runtime.settings.kafka_bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    rows: list[PartitionLag] = []
    try:
        for group, topics in _groups(runtime):
            committed = await admin.list_consumer_group_offsets(group)
            partitions = await topic_partitions(admin, topics)
            if not partitions:
                continue
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            for tp in partitions:
                meta = committed.get(tp)
                position = meta.offset if meta is not None and meta.offset >= 0 else None
                from_ = position if position is not None else starts[tp]
                rows.append(
                    PartitionLag(
                        group, tp.topic, tp.partition, position, ends[tp], max(ends[tp] - from_, 0)
                    )
                )
    finally:
        await consumer.stop()
        await admin.close()
    return rows
