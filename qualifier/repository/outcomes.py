"""The qualifier's SQL for learning: closed opportunities' outcomes and the counts of the
learned model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from qualifier.learning import Counts, Model
from qualifier.models import attribute_stats, outcomes
from qualifier.records import StoredOutcome
from services.db import Tx, connection_of
from services.reference import bump
from services.statements import upsert

TOTAL = ("*", "*")
MODEL = "model"
"""Reference data name (services/reference.py): bumped with every change of the learned counts."""


async def get_outcome(tx: Tx, opportunity_id: str) -> StoredOutcome | None:
    query = select(outcomes.c.won, outcomes.c.features).where(
        outcomes.c.opportunity_id == opportunity_id
    )
    row = (await tx.conn.execute(query)).first()
    return StoredOutcome(opportunity_id, row.won, row.features) if row is not None else None


async def save_outcome(
    tx: Tx,
    *,
    opportunity_id: str,
    lead_id: str,
    won: bool,
    amount: str,
    currency: str,
    features: dict[str, list[str]],
    exists: bool,
) -> None:
    values = {
        "lead_id": lead_id,
        "won": won,
        "amount": amount,
        "currency": currency,
        "features": features,
        "closed_at": tx.now(),
    }
    if exists:
        await tx.conn.execute(
            update(outcomes).where(outcomes.c.opportunity_id == opportunity_id).values(**values)
        )
    else:
        # The primary key refuses a second row for the same opportunity.
        await tx.conn.execute(outcomes.insert().values(opportunity_id=opportunity_id, **values))


async def count_outcomes(
    tx: Tx, changes: Sequence[tuple[Mapping[str, Sequence[str]], bool, int]]
) -> None:
    """Add (`times` 1) or remove (-1) outcomes, each `(features, won, times)`, to the totals
    and each attribute value's counts: one statement, and the model's version bumped."""
    deltas: dict[tuple[str, str], list[int]] = {}
    for features, won, times in changes:
        pairs = [TOTAL] + [(a, v) for a, values in features.items() for v in values]
        for pair in pairs:
            delta = deltas.setdefault(pair, [0, 0])
            delta[0 if won else 1] += times
    if not deltas:
        return
    rows = [
        {"attribute": attribute, "value": value, "wins": wins, "losses": losses}
        for (attribute, value), (wins, losses) in deltas.items()
    ]
    statement = upsert(
        attribute_stats,
        tx.conn.dialect.name,
        ("attribute", "value", "wins", "losses"),
        ("attribute", "value"),
        ("wins", "losses"),
    )
    await tx.conn.execute(statement, rows)
    await bump(tx, MODEL)


async def load_model(
    conn: AsyncConnection | Tx,
    *,
    min_outcomes: int,
    weight: float,
    alpha: float,
    counts_if_inactive: bool = True,
) -> Model:
    """The learned model. With `counts_if_inactive` False a model that is not active yet
    (too few outcomes, or weight 0) comes without its per-attribute counts: deciding a lead
    does not need them, and that saves reading them all."""
    c = connection_of(conn)
    if not counts_if_inactive:
        row = (
            await c.execute(
                select(attribute_stats.c.wins, attribute_stats.c.losses).where(
                    attribute_stats.c.attribute == TOTAL[0], attribute_stats.c.value == TOTAL[1]
                )
            )
        ).first()
        outcomes_seen = (row.wins + row.losses) if row is not None else 0
        if outcomes_seen < min_outcomes or weight <= 0:
            total = Counts(row.wins, row.losses) if row is not None else Counts()
            return Model(total=total, min_outcomes=min_outcomes, weight=weight, alpha=alpha)
    rows = (await c.execute(select(attribute_stats))).all()
    total = Counts()
    counts: dict[tuple[str, str], Counts] = {}
    for r in rows:
        seen = Counts(max(0, r.wins), max(0, r.losses))
        if (r.attribute, r.value) == TOTAL:
            total = seen
        else:
            counts[(r.attribute, r.value)] = seen
    return Model(total=total, counts=counts, min_outcomes=min_outcomes, weight=weight, alpha=alpha)
