"""A rep's logged activities (calls, emails, meetings) on a lead."""

from __future__ import annotations

from dataclasses import asdict

from router.models import (
    activities,
)
from router.records import Activity
from services.db import Tx


async def insert_activity(tx: Tx, activity: Activity) -> None:
    await tx.conn.execute(activities.insert().values(**asdict(activity)))
