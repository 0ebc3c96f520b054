"""The qualifier's domain: decide every lead against the active definitions and the learned
model, say the outcome once, learn from closed opportunities, and manage the definitions.

The rules themselves are the pure `qualifier.rules.decide`; this module loads what it needs
inside the caller's transaction, stores the decision and emits the event.

When a decision is said (an event is emitted):

- `lead.captured`: always, unless the lead already has a decision with the same outcome
  (a replayed capture says nothing twice).
- `lead.merged`: a lead already qualified is left alone (it is with a rep; the merged
  profile is stored for later). Otherwise the merged profile is decided again and the
  decision is said only if the outcome changed (deferred -> qualified, say).
- `lead.recycled`: always: nurture handed the lead back and waits for a verdict, so a lead
  qualified before may be qualified again (an explicit re-evaluation).
- re-evaluation after a definitions change: only leads whose outcome changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from contracts.events import (
    LeadDeferred,
    LeadDisqualified,
    LeadProfile,
    LeadQualified,
    OpportunityClosed,
    QualifierErasureCompleted,
)
from qualifier import learning, repository
from qualifier.catalog import DefinitionsCatalog
from qualifier.definitions import Definitions, DefinitionsError, parse
from qualifier.learning import Model
from qualifier.rules import Engagement, Outcome, Verdict, decide
from qualifier.settings import QualifierSettings
from services import erasure
from services.db import ReadConn, Tx
from services.outbox import emit

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


class VersionExists(Exception):
    """A PUT used a version name that is already stored with other content."""


@dataclass(frozen=True)
class DefinitionsChange:
    stored: repository.StoredDefinitions
    changed: bool


class Qualifier:
    def __init__(self, catalog: DefinitionsCatalog, settings: QualifierSettings) -> None:
        self.catalog = catalog
        self.settings = settings

    async def erase(
        self, tx: Tx, lead_id: str, erasure_id: str, traceparent: str | None = None
    ) -> int:
        """Erase the person from the qualifier's store and its own events, keep a tombstone
        (late events about the lead are then ignored) and confirm, in one transaction."""
        profile = await repository.profile_json(tx, lead_id)
        values = erasure.personal_values(profile or {})
        values |= await erasure.outbox_values(tx, lead_id)
        changed = await repository.erase_lead(tx, lead_id, values)
        changed += await erasure.redact_outbox(tx, lead_id, values)
        await repository.put_tombstone(tx, lead_id, erasure_id)
        await emit(
            tx,
            QualifierErasureCompleted(lead_id=lead_id, erasure_id=erasure_id, records=changed),
            traceparent=traceparent,
        )
        return changed

    async def model(self, conn: ReadConn | Tx, *, for_deciding: bool = False) -> Model:
        """The learned model; `for_deciding` skips the counts while it is not active."""
        return await repository.load_model(
            conn,
            min_outcomes=self.settings.min_outcomes,
            weight=self.settings.learned_weight,
            alpha=self.settings.laplace_alpha,
            counts_if_inactive=not for_deciding,
        )

    # --- deciding -----------------------------------------------------------------------

    async def on_profile(
        self,
        tx: Tx,
        lead_id: str,
        lead: LeadProfile,
        trigger: Trigger,
        traceparent: str | None,
        engagement: Engagement | None = None,
    ) -> Verdict | None:
        """Store the lead's profile, decide it, and say the decision when it is news."""
        await repository.save_profile(tx, lead_id, lead, engagement)
        previous = await repository.previous_decision(tx, lead_id)
        if trigger == "merged" and previous is not None and previous.outcome == "qualified":
            return None
        if engagement is None:
            stored = await repository.get_lead(tx, lead_id)
            engagement = stored.engagement if stored else None
        active = await self.catalog.active(tx)
        verdict = decide(
            lead, active.definitions, await self.model(tx, for_deciding=True), engagement
        )
        await repository.save_decision(tx, lead_id, verdict, trigger)
        news = previous is None or previous.outcome != verdict.outcome or trigger == "recycled"
        if news:
            await _say(tx, lead_id, lead, verdict, traceparent)
        return verdict

    async def evaluate(
        self, conn: ReadConn, lead: LeadProfile, engagement: Engagement | None
    ) -> Verdict:
        """A dry run: the decision the lead would get now. Reads only."""
        active = await self.catalog.active(conn)
        return decide(
            lead, active.definitions, await self.model(conn, for_deciding=True), engagement
        )

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
        batch = await repository.open_leads(
            tx, after=after, limit=self.settings.reevaluate_batch_size, outcomes_=wanted
        )
        if not batch:
            return False
        active = await self.catalog.active(tx)
        model = await self.model(tx, for_deciding=True)
        progress.definition_version = active.definitions.version
        progress.model_version = model.version
        for stored, previous in batch:
            verdict = decide(stored.profile, active.definitions, model, stored.engagement)
            await repository.save_decision(tx, stored.lead_id, verdict, "reevaluated")
            progress.evaluated += 1
            progress.outcomes[verdict.outcome] += 1
            if verdict.outcome != previous.outcome:
                progress.changed += 1
                if len(progress.changes) < MAX_CHANGES_LISTED:
                    progress.changes.append((stored.lead_id, previous.outcome, verdict.outcome))
                await _say(tx, stored.lead_id, stored.profile, verdict, traceparent)
        progress.last_lead_id = batch[-1][0].lead_id
        return True

    # --- learning -----------------------------------------------------------------------

    async def learn(self, tx: Tx, event: OpportunityClosed) -> None:
        """Count a closed opportunity's lead attributes as a win or a loss, once per
        opportunity. A later close of the same opportunity with the other result moves
        its counts; the same result again changes nothing."""
        seen = await repository.get_outcome(tx, event.opportunity_id)
        if seen is not None and seen.won == event.won:
            return
        if seen is not None:
            await repository.count_outcome(tx, seen.features, seen.won, -1)
        features = learning.features(event.lead)
        await repository.save_outcome(
            tx,
            opportunity_id=event.opportunity_id,
            lead_id=event.lead_id,
            won=event.won,
            amount=str(event.amount),
            currency=event.currency,
            features=features,
            exists=seen is not None,
        )
        await repository.count_outcome(tx, features, event.won, 1)

    # --- definitions --------------------------------------------------------------------

    async def change_definitions(self, tx: Tx, text: str, changed_by: str) -> DefinitionsChange:
        """Validate and store new definitions (raises DefinitionsError, VersionExists)."""
        definitions: Definitions = parse(text, source="definitions.yaml")
        active = await self.catalog.active(tx)
        if active.seq is not None and active.definitions.version == definitions.version:
            if active.yaml == text:
                head = await repository.head_definitions(tx)
                assert head is not None
                return DefinitionsChange(head, changed=False)
            raise VersionExists(definitions.version)
        if await repository.definitions_by_version(tx, definitions.version) is not None:
            raise VersionExists(definitions.version)
        stored = await repository.insert_definitions(
            tx,
            version=definitions.version,
            description=definitions.description,
            yaml=text,
            origin="api",
            changed_by=changed_by,
        )
        return DefinitionsChange(stored, changed=True)


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
