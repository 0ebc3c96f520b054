"""The qualifier's domain: decide every lead against the active definitions and the learned
model, say the outcome once, learn from closed opportunities, and manage the definitions.

The rules themselves are the pure `qualifier.rules.decide`; this module loads what it needs
inside the caller's transaction, stores the decision and emits the event. Lead events are
decided a run at a time (`on_profiles`): the profiles, the leads' past and the decisions
are each one statement for the whole run, and the definitions and the learned model come
from memory (reloaded when their version moves).

When a decision is said (an event is emitted):

- `lead.captured`: always, unless the lead already has a decision with the same outcome
  (a replayed capture says nothing twice).
- `lead.merged`: a lead already qualified is left alone (it is with a rep; the merged
  profile is stored for later). Otherwise the merged profile is decided again and the
  decision is said only if the outcome changed (deferred -> qualified, say).
- `lead.recycled`: always: nurture handed the lead back and waits for a verdict, so a lead
  qualified before may be qualified again (an explicit re-evaluation).
- re-evaluation after a definitions change: only leads whose outcome changed.

Within a run, a lead's later event sees its earlier event's decision as its previous one,
exactly as if the events had been handled one at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from contracts.events import (
    LeadDeferred,
    LeadDisqualified,
    LeadProfile,
    LeadQualified,
    OpportunityClosed,
    QualifierErasureCompleted,
)
from qualifier import learning
from qualifier.catalog import DefinitionsCatalog
from qualifier.definitions import DefinitionsError, parse
from qualifier.definitions.model import Definitions
from qualifier.learning import Model
from qualifier.records import Previous, StoredDecision, StoredDefinitions
from qualifier.repository import definition_versions, leads, outcomes
from qualifier.rules import NurtureEngagement, Outcome, Verdict, decide
from qualifier.settings import QualifierSettings
from services import erasure
from services.db import Conn, ReadConn, Tx
from services.errors import Conflict, FieldError
from services.outbox import emit
from services.reference import Reference

Trigger = Literal["captured", "merged", "recycled", "reevaluated"]
MAX_CHANGES_LISTED = 1000

__all__ = ["DefinitionsError", "Qualifier", "Verdict", "decide"]


@dataclass
class Reevaluation:
    definition_version: str = ""
    model_version: str | None = None
    evaluated: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    changes: list[tuple[str, Outcome, Outcome]] = field(default_factory=list)
    changed: int = 0
    last_lead_id: str | None = None


class VersionExists(Conflict):
    """A PUT used a version name that is already stored with other content."""

    def __init__(self, version: str) -> None:
        super().__init__(
            f"Definitions version {version!r} is stored already with other content; "
            "give the change a new version.",
            errors=[FieldError("version", "already used")],
        )
        self.version = version


@dataclass(frozen=True)
class Profile:
    """A lead's profile arriving in a lead event, to be decided."""

    lead_id: str
    lead: LeadProfile
    trigger: Trigger
    traceparent: str | None
    engagement: NurtureEngagement | None = None
    intent_at: datetime | None = None
    """When the event shows the lead's intent (a form submitted, a hand raised in nurture);
    None for an event that does not (nurture recycling an engaged lead on its score)."""


@dataclass(frozen=True)
class DefinitionsChange:
    stored: StoredDefinitions
    changed: bool


class Qualifier:
    def __init__(self, catalog: DefinitionsCatalog, settings: QualifierSettings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.deciding_model = Reference(
            "qualifier",
            outcomes.MODEL,
            lambda conn: outcomes.load_model(
                conn,
                min_outcomes=settings.min_outcomes,
                weight=settings.learned_weight,
                alpha=settings.laplace_alpha,
                counts_if_inactive=False,
            ),
        )

    async def erase(
        self, tx: Tx, lead_id: str, erasure_id: str, traceparent: str | None = None
    ) -> int:
        """Erase the person from the qualifier's store and its own events, keep a tombstone
        (late events about the lead are then ignored) and confirm, in one transaction."""
        return await erasure.erase_person(
            tx,
            lead_id,
            erasure_id,
            QualifierErasureCompleted,
            profile=leads.profile_json,
            own_rows=leads.erase_lead,
            traceparent=traceparent,
        )

    async def decision(self, conn: ReadConn, lead_id: str) -> StoredDecision | None:
        """The latest decision on a lead, if it has one."""
        return await leads.get_decision(conn, lead_id)

    async def model(self, conn: Conn, *, for_deciding: bool = False) -> Model:
        """The learned model; `for_deciding` skips the counts while it is not active, and
        comes from memory (reloaded when a closed opportunity moved the counts)."""
        if for_deciding:
            return await self.deciding_model.current(conn)
        return await outcomes.load_model(
            conn,
            min_outcomes=self.settings.min_outcomes,
            weight=self.settings.learned_weight,
            alpha=self.settings.laplace_alpha,
            counts_if_inactive=not for_deciding,
        )

    # --- deciding -----------------------------------------------------------------------

    async def on_profiles(self, tx: Tx, profiles: Sequence[Profile]) -> list[Verdict | None]:
        """Store each lead's profile, decide it, and say the decision when it is news: a run
        of lead events in order, with one statement per table for the run. A lead that is
        in the run twice sees its first decision as the previous one of its second."""
        now = tx.now()
        latest = {p.lead_id: p.lead for p in profiles}
        signals: dict[str, datetime] = {}
        for p in profiles:
            if p.intent_at is not None:
                at = min(p.intent_at, now)  # a producer's clock ahead of ours
                signals[p.lead_id] = max(at, signals.get(p.lead_id, at))
        # First: waits for a re-evaluation's locks. Each lead's last intent signal is then
        # the latest of the run's (all decided at the same `now`) and the stored one.
        await leads.save_profiles(tx, latest, signals)
        states = await leads.lead_states(tx, list(latest))
        previous = {lead_id: s.previous for lead_id, s in states.items()}
        engagements = {lead_id: s.engagement for lead_id, s in states.items()}
        intent_at = {lead_id: s.intent_at for lead_id, s in states.items()}
        active = await self.catalog.active(tx)
        model = await self.model(tx, for_deciding=True)
        decided: dict[str, tuple[Verdict, str]] = {}
        engaged: dict[str, tuple[LeadProfile, NurtureEngagement]] = {}
        verdicts: list[Verdict | None] = []
        for p in profiles:
            if p.engagement is not None:
                engagements[p.lead_id] = p.engagement
                engaged[p.lead_id] = (latest[p.lead_id], p.engagement)
            before = previous.get(p.lead_id)
            if p.trigger == "merged" and before is not None and before.outcome == "qualified":
                verdicts.append(None)
                continue
            verdict = decide(
                p.lead,
                active.definitions,
                model,
                engagements.get(p.lead_id),
                _age(intent_at.get(p.lead_id), now),
            )
            decided[p.lead_id] = (verdict, p.trigger)
            previous[p.lead_id] = Previous(verdict.outcome, verdict.decision.definition_version)
            if before is None or before.outcome != verdict.outcome or p.trigger == "recycled":
                await _say(tx, p.lead_id, p.lead, verdict, p.traceparent)
            verdicts.append(verdict)
        leads.save_decisions(tx, decided)
        await leads.save_engagements(tx, engaged)
        return verdicts

    async def evaluate(
        self,
        conn: ReadConn,
        lead: LeadProfile,
        engagement: NurtureEngagement | None,
        intent_age: timedelta | None = None,
    ) -> Verdict:
        """A dry run: the decision the lead would get now, its last intent signal
        `intent_age` ago. Reads only."""
        active = await self.catalog.active(conn)
        model = await self.model(conn, for_deciding=True)
        return decide(lead, active.definitions, model, engagement, intent_age)

    async def reevaluate_batch(
        self,
        tx: Tx,
        *,
        after: str,
        include_disqualified: bool,
        traceparent: str | None,
        progress: Reevaluation,
    ) -> bool:
        """Decide the next batch of open leads again; False when there were none left."""
        wanted = ("deferred", "disqualified") if include_disqualified else ("deferred",)
        batch = await leads.open_leads(
            tx, after=after, limit=self.settings.reevaluate_batch_size, outcomes_=wanted
        )
        if not batch:
            return False
        active = await self.catalog.active(tx)
        model = await self.model(tx, for_deciding=True)
        progress.definition_version = active.definitions.version
        progress.model_version = model.version
        decided: dict[str, tuple[Verdict, str]] = {}
        now = tx.now()
        for stored, previous in batch:
            verdict = decide(
                stored.profile,
                active.definitions,
                model,
                stored.engagement,
                _age(stored.intent_at, now),
            )
            decided[stored.lead_id] = (verdict, "reevaluated")
            progress.evaluated += 1
            progress.outcomes[verdict.outcome] += 1
            if verdict.outcome != previous.outcome:
                progress.changed += 1
                if len(progress.changes) < MAX_CHANGES_LISTED:
                    progress.changes.append((stored.lead_id, previous.outcome, verdict.outcome))
                await _say(tx, stored.lead_id, stored.profile, verdict, traceparent)
        leads.save_decisions(tx, decided)
        progress.last_lead_id = batch[-1][0].lead_id
        return True

    # --- learning -----------------------------------------------------------------------

    async def learn(self, tx: Tx, event: OpportunityClosed) -> None:
        """Count a closed opportunity's lead attributes as a win or a loss, once per
        opportunity. A later close of the same opportunity with the other result moves
        its counts; the same result again changes nothing."""
        seen = await outcomes.get_outcome(tx, event.opportunity_id)
        if seen is not None and seen.won == event.won:
            return
        changes: list[tuple[dict[str, list[str]], bool, int]] = []
        if seen is not None:
            changes.append((seen.features, seen.won, -1))
        features = learning.features(event.lead)
        await outcomes.save_outcome(
            tx,
            opportunity_id=event.opportunity_id,
            lead_id=event.lead_id,
            won=event.won,
            amount=str(event.amount),
            currency=event.currency,
            features=features,
            exists=seen is not None,
        )
        changes.append((features, event.won, 1))
        await outcomes.count_outcomes(tx, changes)  # bumps the model's version

    # --- definitions --------------------------------------------------------------------

    async def change_definitions(self, tx: Tx, text: str, changed_by: str) -> DefinitionsChange:
        """Validate and store new definitions (raises DefinitionsError, VersionExists)."""
        definitions: Definitions = parse(text, source="definitions.yaml")
        active = await self.catalog.active(tx)
        if active.seq is not None and active.definitions.version == definitions.version:
            if active.yaml == text:
                head = await definition_versions.head_definitions(tx)
                assert head is not None
                return DefinitionsChange(head, changed=False)
            raise VersionExists(definitions.version)
        if await definition_versions.definitions_by_version(tx, definitions.version) is not None:
            raise VersionExists(definitions.version)
        stored = await definition_versions.insert_definitions(
            tx,
            version=definitions.version,
            description=definitions.description,
            yaml=text,
            origin="api",
            changed_by=changed_by,
        )
        return DefinitionsChange(stored, changed=True)


def _age(intent_at: datetime | None, now: datetime) -> timedelta | None:
    return now - intent_at if intent_at is not None else None


async def _say(
    tx: Tx, lead_id: str, lead: LeadProfile, verdict: Verdict, traceparent: str | None
) -> None:
    if verdict.outcome == "qualified":
        await emit(
            tx,
            LeadQualified(lead_id=lead_id, decision=verdict.decision, lead=lead),
            traceparent=traceparent,
        )
    elif verdict.outcome == "deferred":
        await emit(
            tx,
            LeadDeferred(lead_id=lead_id, decision=verdict.decision, lead=lead),
            traceparent=traceparent,
        )
    else:
        await emit(
            tx,
            LeadDisqualified(
                lead_id=lead_id,
                reason=verdict.reason,
                definition_version=verdict.decision.definition_version,
                disqualifiers=verdict.disqualifiers,
            ),
            traceparent=traceparent,
        )
