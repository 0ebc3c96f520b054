"""What one of ingest's write transactions reads at once and writes at once.

A group-commit round (services/groupcommit.py) stores the leads of many requests. Each
request says beforehand what it will touch (`Touches`: the persons' emails and phones, the
deliveries' provider ids, the signatures of signed webhooks, idempotency keys). The round
reads all of them with one statement (`RoundStore.load`: an `IN (...)` per table, the rows
told apart by kind), the works then decide in memory against that picture, which each of
them updates as it goes (a person captured by the round's first request is found by its
second), and every write is deferred to one multi-row statement per table at commit
(`Tx.defer`). A round of any size costs about eight statements where it cost four or five
per request.

Why the picture is true for the whole round: on SQLite the embedded runtime's write lock
serialises every write transaction. On PostgreSQL `load` first takes a transaction-scoped
advisory lock on every key the round touches, all in one statement and in one order (so two
rounds can wait for each other but never deadlock), and every writer of these rows goes
through a round store: a second replica's round touching the same person, delivery,
signature or key waits for this one to commit, then reads what it wrote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    cast,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)

from contracts.events import LeadProfile
from ingest.models import deliveries, idempotency, leads, webhook_replays
from ingest.repository import remember_answer_statement, remember_signature_statement
from services.db import Tx


@dataclass(frozen=True)
class Touches:
    """What one request's write reads and writes, known before its round."""

    persons: tuple[tuple[str | None, str | None], ...] = ()
    """(normalised email, E.164 phone) of each lead it stores."""
    deliveries: tuple[tuple[str, str], ...] = ()
    """(source, provider's id) of each delivery it stores with an id."""
    signature: tuple[str, str] | None = None
    """(source, signature header) of a signed webhook that is guarded against replays."""
    idempotency_key: str | None = None


@dataclass
class Person:
    """A lead as far as matching a person goes; `profile` is parsed only when matched."""

    id: str
    email: str | None
    phone: str | None
    profile_json: dict[str, Any]
    order: tuple[datetime, int]
    """Oldest first: created_at, then the order the round saw or made it."""
    pending: dict[str, Any] | None = None
    """The deferred row that writes it (an INSERT of a lead the round made, or the UPDATE of
    a merge): a second change in the round changes that row, not another one."""

    def profile(self) -> LeadProfile:
        return LeadProfile.model_validate(self.profile_json)


@dataclass(frozen=True)
class StoredDelivery:
    id: str
    lead_id: str | None


class RoundStore:
    """One transaction's picture of the persons, deliveries, replay records and idempotency
    answers its works touch, and their writes (deferred to commit)."""

    def __init__(self, tx: Tx, answers_for: timedelta) -> None:
        self.tx = tx
        self.answers_since = tx.now() - answers_for
        """Answers remembered before this are stale: not given again, and taken over."""
        self._persons: list[Person] = []
        self._deliveries: dict[tuple[str, str], StoredDelivery] = {}
        self._signatures: set[tuple[str, str]] = set()
        self._answers: dict[str, tuple[str, int, dict[str, Any]]] = {}

    @classmethod
    async def load(cls, tx: Tx, touched: Sequence[Touches], answers_for: timedelta) -> RoundStore:
        """Lock (on PostgreSQL) and read everything the round's works touch: at most one
        statement per table, none for a table nobody touches. An Idempotency-Key's answer
        counts for `answers_for` (`IngestSettings.idempotency_window`)."""
        store = cls(tx, answers_for)
        emails = {e for t in touched for e, _ in t.persons if e}
        phones = {p for t in touched for _, p in t.persons if p}
        pairs = {d for t in touched for d in t.deliveries}
        signatures = {
            (t.signature[0], _digest(t.signature[1])) for t in touched if t.signature is not None
        }
        keys = {t.idempotency_key for t in touched if t.idempotency_key is not None}
        if not tx.unit.database.is_sqlite:
            await _lock(
                tx,
                [f"ingest.person:email:{e}" for e in emails]
                + [f"ingest.person:phone:{p}" for p in phones]
                + [f"ingest.delivery:{s}:{x}" for s, x in pairs]
                + [f"ingest.signature:{s}:{d}" for s, d in signatures]
                + [f"ingest.idempotency:{k}" for k in keys],
            )
        if not (emails or phones or pairs or signatures or keys):
            return store
        rows = await tx.rows(
            _LOOKUP,
            {
                "emails": sorted(emails),
                "phones": sorted(phones),
                "deliveries": sorted(pairs),
                "delivery_sources": sorted({source for source, _ in pairs}),
                "delivery_ids": sorted({external_id for _, external_id in pairs}),
                "signatures": sorted(signatures),
                "now": tx.now(),
                "keys": sorted(keys),
                "answers_since": store.answers_since,
            },
        )
        for r in rows:
            kind, a, b = r["kind"], r["a"], r["b"]
            if kind == "person":
                order = (r["created_at"], len(store._persons))
                store._persons.append(Person(a, b, r["c"], r["json"], order))
            elif kind == "delivery":
                store._deliveries[(r["c"], r["d"])] = StoredDelivery(a, b)
            elif kind == "signature":
                store._signatures.add((a, b))
            else:
                store._answers[a] = (b, r["number"], r["json"])
        return store

    # --- persons --------------------------------------------------------------------------

    def find_person(self, email: str | None, phone: str | None) -> tuple[Person, str] | None:
        """The oldest lead with this normalised email, else this E.164 phone, and which
        matched (the rules of ingest/service.py's identity: a phone matches only a lead
        without an email when the delivery has one)."""
        if email is not None:
            by_email = [p for p in self._persons if p.email == email]
            if by_email:
                return min(by_email, key=_age), "email"
            by_phone = [p for p in self._persons if phone and p.phone == phone and p.email is None]
        else:
            by_phone = [p for p in self._persons if phone and p.phone == phone]
        return (min(by_phone, key=_age), "phone") if by_phone else None

    def insert_lead(self, lead_id: str, profile: LeadProfile, now: datetime) -> None:
        profile_json = profile.model_dump(mode="json")
        row = {
            "id": lead_id,
            "email": profile.email,
            "phone": profile.phone,
            "profile": profile_json,
            "created_at": now,
            "updated_at": now,
        }
        self.tx.defer(_INSERT_LEAD, row)
        order = (now, len(self._persons))
        self._persons.append(
            Person(lead_id, profile.email, profile.phone, profile_json, order, row)
        )

    def update_lead(self, person: Person, profile: LeadProfile, now: datetime) -> None:
        person.email, person.phone = profile.email, profile.phone
        person.profile_json = profile.model_dump(mode="json")
        values = {
            "email": person.email,
            "phone": person.phone,
            "profile": person.profile_json,
            "updated_at": now,
        }
        if person.pending is None:
            person.pending = {"lead_id": person.id, **{f"new_{k}": v for k, v in values.items()}}
            self.tx.defer(_UPDATE_LEAD, person.pending)
        else:  # made or changed earlier in the round: that row writes it
            person.pending.update(
                values if "id" in person.pending else {f"new_{k}": v for k, v in values.items()}
            )

    # --- deliveries -----------------------------------------------------------------------

    def stored_delivery(self, source: str, external_id: str | None) -> StoredDelivery | None:
        """The delivery stored before with this provider id (in an earlier transaction or
        earlier in the round)."""
        return self._deliveries.get((source, external_id)) if external_id else None

    def insert_delivery(
        self,
        *,
        delivery_id: str,
        lead_id: str | None,
        source: str,
        provider: str,
        external_id: str | None,
        status: str,
        received_at: datetime,
        payload: dict[str, Any] | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        self.tx.defer(
            _INSERT_DELIVERY,
            {
                "id": delivery_id,
                "lead_id": lead_id,
                "source": source,
                "provider": provider,
                "external_id": external_id,
                "status": status,
                "reason": None,
                "received_at": received_at,
                "payload": payload,
                "attempts": 0,
                "next_attempt_at": next_attempt_at,
                "last_error": None,
                "updated_at": received_at,
            },
        )
        if external_id is not None:
            self._deliveries[(source, external_id)] = StoredDelivery(delivery_id, lead_id)

    # --- replay records and idempotency answers -------------------------------------------

    def remember_signature(self, source: str, signature: str, expires_at: datetime) -> bool:
        """Record a signed delivery; False when the same signature is recorded and has not
        expired (a replay)."""
        key = (source, _digest(signature))
        if key in self._signatures:
            return False
        self._signatures.add(key)
        self.tx.defer(
            remember_signature_statement(self.tx.conn.dialect.name),
            {"source": key[0], "signature": key[1], "expires_at": expires_at, "now": self.tx.now()},
        )
        return True

    def idempotent_response(self, key: str) -> tuple[str, int, dict[str, Any]] | None:
        """The answer remembered for an Idempotency-Key: (request hash, status, body)."""
        return self._answers.get(key)

    def remember_response(
        self, key: str, request_hash: str, status: int, response: dict[str, Any]
    ) -> None:
        self._answers[key] = (request_hash, status, response)
        self.tx.defer(
            remember_answer_statement(self.tx.conn.dialect.name),
            {
                "key": key,
                "request_hash": request_hash,
                "status_code": status,
                "response": response,
                "created_at": self.tx.now(),
                "stale_before": self.answers_since,
            },
        )


def _age(person: Person) -> tuple[datetime, int]:
    return person.order


def _digest(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()


async def _lock(tx: Tx, keys: Iterable[str]) -> None:
    """Advisory locks on `keys` until commit, in sorted order, in one statement (a function
    scan of an array yields its elements in order). The same statement reads the service's
    reference versions, which the round's source check asks for next (`Tx.reference_versions`;
    as of the statement's start, like any first read of them)."""
    ordered = sorted(set(keys))
    if not ordered:
        return
    rows = await tx.rows(_LOCK, {"keys": ordered, "service": tx.service})
    if tx.reference_versions is None:
        tx.reference_versions = {
            r["name"]: int(r["version"]) for r in rows if r["name"] is not None
        }


# Built once (a statement built per call costs more CPU than the database takes to run it).
_LOCK = text(
    # The CTE runs once, first (a volatile function's CTE is never inlined); with no
    # versions stored the one row says NULL.
    "WITH locked AS (SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) AS n"
    " FROM unnest(CAST(:keys AS text[])) AS k)"
    " SELECT reference_versions.name, reference_versions.version FROM locked"
    " LEFT JOIN reference_versions ON reference_versions.service = :service"
)


def _nothing(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(null(), column.type)


_LOOKUP = union_all(
    # Everything a round reads after its locks, in one statement: the persons by email or
    # phone, the deliveries by provider id, the replay records by signature and the
    # remembered answers by idempotency key, told apart by `kind` (each part matches nothing
    # when its list is empty). Column types are the first part's.
    select(
        literal("person").label("kind"),
        leads.c.id.label("a"),
        leads.c.email.label("b"),
        leads.c.phone.label("c"),
        _nothing(deliveries.c.external_id).label("d"),
        leads.c.profile.label("json"),
        leads.c.created_at.label("created_at"),
        _nothing(idempotency.c.status_code).label("number"),
    ).where(
        or_(
            leads.c.email.in_(bindparam("emails", expanding=True)),
            leads.c.phone.in_(bindparam("phones", expanding=True)),
        )
    ),
    select(
        literal("delivery"),
        deliveries.c.id,
        deliveries.c.lead_id,
        deliveries.c.source,
        deliveries.c.external_id,
        _nothing(leads.c.profile),
        _nothing(leads.c.created_at),
        _nothing(idempotency.c.status_code),
    ).where(
        tuple_(deliveries.c.source, deliveries.c.external_id).in_(
            bindparam("deliveries", expanding=True)
        ),
        # The pairs' sources and ids again, each an IN list: SQLite searches the partial
        # unique index on (source, external_id) by them, where by the pairs alone it
        # scanned the whole table (tests/integration/test_query_plans.py).
        deliveries.c.source.in_(bindparam("delivery_sources", expanding=True)),
        deliveries.c.external_id.in_(bindparam("delivery_ids", expanding=True)),
    ),
    select(
        literal("signature"),
        webhook_replays.c.source,
        webhook_replays.c.signature,
        _nothing(leads.c.phone),
        _nothing(deliveries.c.external_id),
        _nothing(leads.c.profile),
        _nothing(leads.c.created_at),
        _nothing(idempotency.c.status_code),
    ).where(
        tuple_(webhook_replays.c.source, webhook_replays.c.signature).in_(
            bindparam("signatures", expanding=True)
        ),
        webhook_replays.c.expires_at > bindparam("now"),
    ),
    select(
        literal("answer"),
        idempotency.c.key,
        idempotency.c.request_hash,
        _nothing(leads.c.phone),
        _nothing(deliveries.c.external_id),
        idempotency.c.response,
        _nothing(leads.c.created_at),
        idempotency.c.status_code,
    ).where(
        idempotency.c.key.in_(bindparam("keys", expanding=True)),
        idempotency.c.created_at > bindparam("answers_since"),
    ),
)
_INSERT_LEAD = leads.insert()
_UPDATE_LEAD = (
    update(leads)
    .where(leads.c.id == bindparam("lead_id"))
    .values(
        email=bindparam("new_email"),
        phone=bindparam("new_phone"),
        profile=bindparam("new_profile"),
        updated_at=bindparam("new_updated_at"),
    )
)
_INSERT_DELIVERY = deliveries.insert()
