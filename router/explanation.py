"""Why a lead went where it went: the explanation a routing decision carries, stored with
the lead and its assignment and shown by the API (`GET /router/v1/leads/{id}`, the dry run).

One type and one builder for the pool's decisions (decisions.py) and a manager's
(lead_actions.py). Its JSON is what the router has always stored: a manager's choice has
no `outside_hours`, `excluded` or `held_until`; only account_owner_first pools say the
`account`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict, cast

from router.sla import Sla


class RuleRef(TypedDict):
    id: str
    name: str


class AccountRef(TypedDict):
    domain: str | None
    owner: str | None


class Explanation(TypedDict):
    decided_at: str
    trigger: str
    outcome: str
    rule: RuleRef
    rules_checked: list[dict[str, Any]]
    pool: str
    strategy: str
    strategy_used: str
    outside_hours: NotRequired[str]
    excluded: NotRequired[list[str]]
    considered: list[dict[str, Any]]
    chosen: str | None
    why: str
    held_until: NotRequired[str | None]
    first_touch_due_at: str | None
    cadence_due_at: str | None
    sla: dict[str, Any]
    account: NotRequired[AccountRef]


class PoolChoice(TypedDict):
    """What only a pool's decision says: its outside-hours rule, the reps it left out, and
    until when the lead is held (None: not held)."""

    outside_hours: str
    excluded: list[str]
    held_until: datetime | None


def explain(
    *,
    now: datetime,
    trigger: str,
    outcome: str,
    rule: RuleRef,
    rules_checked: list[dict[str, Any]],
    pool: str,
    strategy: str,
    strategy_used: str,
    considered: list[dict[str, Any]],
    chosen: str | None,
    why: str,
    first_touch_due_at: datetime | None,
    cadence_due_at: datetime | None,
    sla: Sla,
    pool_choice: PoolChoice | None = None,
    account: AccountRef | None = None,
) -> Explanation:
    """The explanation, its keys in the order the router has always stored them."""
    explanation: Explanation = {
        "decided_at": now.isoformat(),
        "trigger": trigger,
        "outcome": outcome,
        "rule": rule,
        "rules_checked": rules_checked,
        "pool": pool,
        "strategy": strategy,
        "strategy_used": strategy_used,
        "considered": considered,
        "chosen": chosen,
        "why": why,
        "first_touch_due_at": _iso(first_touch_due_at),
        "cadence_due_at": _iso(cadence_due_at),
        "sla": sla.model_dump(),
    }
    if pool_choice is not None:
        explanation = _with_pool_choice(explanation, pool_choice)
    if account is not None:
        explanation["account"] = account
    return explanation


def _with_pool_choice(explanation: Explanation, choice: PoolChoice) -> Explanation:
    """`outside_hours` and `excluded` after `strategy_used`, `held_until` after `why`."""
    ordered: dict[str, Any] = {}
    for key, value in explanation.items():
        ordered[key] = value
        if key == "strategy_used":
            ordered |= {"outside_hours": choice["outside_hours"], "excluded": choice["excluded"]}
        elif key == "why":
            ordered["held_until"] = _iso(choice["held_until"])
    return cast(Explanation, ordered)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
