"""The mix of deliveries: mostly new people, 10% repeated deliveries (the same provider
and submission id again, as a provider's retry), 10% the same person from another source."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.payloads import PROVIDERS, Delivery, Person

REPEAT_SHARE = 0.10
OTHER_SOURCE_SHARE = 0.10


@dataclass
class Workload:
    """An endless, reproducible stream of deliveries shared by the phases of one runtime
    (a later phase may repeat an earlier phase's deliveries, as real providers do)."""

    run: str
    seed: int = 7
    sent: list[Delivery] = field(default_factory=list)
    people: int = 0
    _rng: random.Random = field(init=False)
    _next_id: int = field(default=1_000_000, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _external_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def next(self) -> Delivery:
        roll = self._rng.random()
        if self.sent and roll < REPEAT_SHARE:
            delivery = self._rng.choice(self.sent)
        elif self.sent and roll < REPEAT_SHARE + OTHER_SOURCE_SHARE:
            earlier = self._rng.choice(self.sent)
            others = [p for p in PROVIDERS if p != earlier.provider]
            delivery = Delivery(self._rng.choice(others), earlier.person, self._external_id())
        else:
            person = Person(self.people, self.run)
            self.people += 1
            delivery = Delivery(
                PROVIDERS[person.index % len(PROVIDERS)], person, self._external_id()
            )
        self.sent.append(delivery)
        return delivery

    def __iter__(self) -> Iterator[Delivery]:
        while True:
            yield self.next()
