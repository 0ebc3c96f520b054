"""Call tasks for inside sales: opened by a track's task step, closed with their outcome
(which may record an engagement)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.events import NurtureTouched
from contracts.ids import new_id
from nurture.definitions import EngagementType, ScheduledStep, TrackDef
from nurture.errors import NotInNurture, TaskDone
from nurture.records import CallTask, Enrolment
from nurture.repository import tasks
from services.db import Conn, Tx
from services.outbox import emit

if TYPE_CHECKING:  # engagement imports tracks, which opens tasks: no cycle at run time
    from nurture.engagement import Engagements, EngageOutcome


class Tasks:
    """Call tasks for inside sales: a track's task steps, closed with their outcome."""

    def __init__(self, engagements: Engagements) -> None:
        self.engagements = engagements

    async def work_list(
        self, conn: Conn, status: str | None, lead_id: str | None, limit: int
    ) -> list[CallTask]:
        """Inside sales's work list, oldest first."""
        return await tasks.list_tasks(conn, status, lead_id, limit)

    async def complete(
        self,
        tx: Tx,
        task_id: str,
        outcome: str,
        engagement: EngagementType | None,
        hand_raise: bool,
        timeframe_days: int | None,
        traceparent: str | None,
    ) -> tuple[CallTask, EngageOutcome | None]:
        task = await tasks.get_task(tx, task_id)
        if task is None:
            raise NotInNurture(f"There is no task {task_id!r}.")
        if task.status == "done":
            raise TaskDone(task_id)
        await tasks.set_task(
            tx, task_id, status="done", completed_at=tx.now(), outcome=outcome[:1000]
        )
        engaged = None
        if engagement or hand_raise:
            engaged = await self.engagements.engage(
                tx,
                lead_id=task.lead_id,
                message_id=None,
                kind=engagement or "hand_raise",
                at=None,
                hand_raise=hand_raise,
                timeframe_days=timeframe_days,
                url=None,
                detail={"task_id": task_id, "outcome": outcome[:200]},
                external_id=None,
                traceparent=traceparent,
            )
        done = await tasks.get_task(tx, task_id)
        assert done is not None
        return done, engaged


async def open_task(tx: Tx, track: TrackDef, enrolment: Enrolment, step: ScheduledStep) -> None:
    now = tx.now()
    task_id = new_id()
    await tasks.insert_task(
        tx,
        id=task_id,
        enrolment_id=enrolment.id,
        lead_id=enrolment.lead_id,
        track=track.id,
        step=step.number,
        day=step.day,
        title=step.task or "",
        note=step.note,
        status="open",
        created_at=now,
    )
    await emit(
        tx,
        NurtureTouched(
            lead_id=enrolment.lead_id,
            enrolment_id=enrolment.id,
            step=step.number,
            channel="task",
            at=now,
            track=track.id,
            day=step.day,
            task_id=task_id,
        ),
    )
