"""A rep's logged activities (calls, emails, meetings) on a lead."""

from __future__ import annotations

from router.models import (
    activities,
)
from router.schemas.leads import ActivityOut
from services.db import Tx


async def insert_activity(tx: Tx, activity: ActivityOut) -> None:
    await tx.conn.execute(activities.insert().values(**activity.model_dump()))
