"""What a consumer needs from a bus, whichever runtime it is on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from services.db import Tx


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Subscription(Protocol):
    """One consumer group member reading a set of topics."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def fetch(self, max_records: int, timeout_s: float) -> list[Message]:
        """The next messages in order, waiting up to `timeout_s` when there are none."""
        ...

    async def commit(self, handled: Sequence[Message]) -> None:
        """Mark these handled: the group resumes after the last one of each partition.
        Partitions no longer assigned to this member are left alone."""
        ...

    async def rewind(self, message: Message) -> None:
        """Deliver `message` (and what follows it) again on the next fetch."""
        ...


@runtime_checkable
class CommitsWithTransaction(Protocol):
    """A subscription whose positions live in the service's own database (the embedded
    log): the runner stores the position in the transaction that handled the messages,
    so effects and position commit together and no second transaction is needed."""

    async def commit_in(self, tx: Tx, handled: Sequence[Message]) -> None:
        """Store, as part of `tx`, that the group resumes after the last of `handled`."""
        ...


@runtime_checkable
class ReportsLag(Protocol):
    """A subscription that can say how far behind the end of the log it is."""

    async def lag(self) -> dict[tuple[str, int], int]:
        """(topic, partition) -> messages after this member's position."""
        ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ping(self) -> None:
        """Raise when the bus cannot be reached (readiness)."""
        ...

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription: ...
