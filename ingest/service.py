"""ingest's domain: turn what arrived into a normalised lead, recognise the same person
arriving again, and say so.

Identity: a delivery the provider already sent (same source and provider lead id) creates
nothing new; a new delivery from the same person (same normalised email, else the same
E.164 phone where no email conflicts) merges into their lead instead of creating a second
one. Every delivery keeps what was submitted in its own row, whatever the merge kept.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from contracts.events import (
    IngestErasureCompleted,
    LeadCaptured,
    LeadMerged,
    LeadProfile,
    LeadReceived,
    SourceClass,
)
from contracts.ids import new_id
from ingest import mapping, normalise, repository
from ingest.normalise import countries, domains, emails, names, phones, source_classes
from ingest.providers.base import FetchRef, RawLead, Source
from ingest.records import SubmittedLead
from ingest.roundstore import RoundStore, Touches
from services import erasure
from services.db import Tx
from services.outbox import emit

# What one lead's profile collects at most, however often the person comes back. A merge
# unions answers, product interests and UTM parameters; without a cap each delivery made
# the profile, and every lead.merged (which carries it whole), bigger. The first values
# stay; what does not fit is kept in its delivery's row, and the profile is flagged.
MAX_ANSWERS = 200  # as one delivery may carry (SubmittedLead)
MAX_ANSWER_CHARS = 32_000  # names and answers together
MAX_PRODUCT_INTEREST = 50
MAX_PRODUCT_INTEREST_CHARS = 2_000
MAX_UTM = 20
MAX_UTM_CHARS = 4_000
TRUNCATED = "profile_truncated"


class InvalidLead(ValueError):
    """The lead cannot be used; `errors` names each field and its problem."""

    def __init__(self, errors: list[tuple[str, str]], hint: str | None = None) -> None:
        said = "; ".join(f"{f}: {m}" for f, m in errors)
        super().__init__(f"{said}. {hint}" if hint else said)
        self.errors = errors


@dataclass(frozen=True)
class Outcome:
    lead_id: str | None
    status: Literal["captured", "merged", "duplicate", "pending"]
    delivery_id: str


def profile_of(
    body: SubmittedLead, *, provider: str, default_class: SourceClass, rep_id: str | None
) -> LeadProfile:
    """Normalise a lead. Raises InvalidLead when neither email nor phone is usable."""
    country = countries.country(body.country)
    email = emails.email(body.email)
    phone, phone_problem = phones.phone(body.phone, country)
    flags = list(email.flags)
    if email.problem:
        flags.append("email_invalid")
    if phone_problem:
        flags.append("phone_unparsed")
    if email.value is None and phone is None:
        raise InvalidLead(
            [
                ("email", email.problem or "missing"),
                ("phone", phone_problem or "missing"),
                ("body", "a lead needs a usable email or a usable phone number"),
            ]
        )
    first, last, full = names.names(body.first_name, body.last_name, body.full_name)
    profile = LeadProfile(
        email=email.value,
        phone=phone,
        phone_raw=normalise.text(body.phone) if phone_problem else None,
        first_name=first,
        last_name=last,
        full_name=full,
        company=normalise.text(body.company),
        company_domain=domains.domain(body.website, email.value),
        job_title=normalise.text(body.job_title),
        industry=normalise.text(body.industry),
        employees=body.employees,
        country=country,
        region=normalise.text(body.region),
        language=normalise.text(body.language),
        product_interest=[p for p in (normalise.text(i) for i in body.product_interest) if p],
        timeframe_days=body.timeframe_days,
        asked_to_be_contacted=body.asked_to_be_contacted,
        has_budget=body.has_budget,
        need=normalise.text(body.need),
        source=body.source,
        provider=provider,
        source_class=source_classes.source_class(body.source_class, body.utm, default_class),
        campaign=normalise.text(body.campaign),
        is_test=body.is_test,
        flags=flags,
        answers=body.answers,
        utm=body.utm,
        consent_email=body.consent_email,
        sourced_by_rep_id=rep_id,
    )
    return bounded(profile)


def profile_from_raw(raw: RawLead, source: Source) -> LeadProfile:
    """A provider's raw lead, mapped and normalised. Raises InvalidLead, with the adapter's
    hint of what would make the lead usable."""
    try:
        return _profile_from_raw(raw, source)
    except InvalidLead as exc:
        if raw.hint is None:
            raise
        raise InvalidLead(exc.errors, raw.hint) from exc


def _profile_from_raw(raw: RawLead, source: Source) -> LeadProfile:
    fields = mapping.to_lead_fields(raw, source.settings.get("field_map") or {})
    fields["source"] = source.name
    fields.setdefault("campaign", source.campaign)
    try:
        body = SubmittedLead.model_validate(fields)
    except ValidationError as exc:
        raise InvalidLead(
            [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc
    return profile_of(
        body, provider=source.provider, default_class=source.source_class, rep_id=None
    )


def touches(profile: LeadProfile, external_id: str | None) -> Touches:
    """What storing this lead reads and writes (its round reads them all at once)."""
    return Touches(
        persons=((profile.email, profile.phone),),
        deliveries=((profile.source, external_id),) if external_id else (),
    )


async def record(
    store: RoundStore,
    profile: LeadProfile,
    *,
    external_id: str | None = None,
    payload: dict[str, Any] | None = None,
    pending_delivery_id: str | None = None,
    traceparent: str | None = None,
) -> Outcome:
    """Store a usable lead: merged into the same person's lead, or a new one. The round's
    store must have loaded `touches(profile, external_id)`."""
    tx = store.tx
    now = tx.now()
    delivery_id = pending_delivery_id or new_id()
    if pending_delivery_id is None:
        seen = store.stored_delivery(profile.source, external_id)
        if seen is not None:  # a provider's retry, or a copy racing its first attempt
            return Outcome(seen.lead_id, "duplicate", seen.id)
    match = store.find_person(profile.email, profile.phone)
    lead_id = match[0].id if match else new_id()
    if pending_delivery_id is None:
        store.insert_delivery(
            delivery_id=delivery_id,
            lead_id=lead_id,
            source=profile.source,
            provider=profile.provider,
            external_id=external_id,
            status="accepted",
            received_at=now,
            payload=payload,
        )
    else:
        await repository.set_delivery(
            tx,
            delivery_id,
            lead_id=lead_id,
            status="accepted",
            payload=payload,
            next_attempt_at=None,
            last_error=None,
        )
    received = await emit(
        tx,
        LeadReceived(
            lead_id=lead_id,
            delivery_id=delivery_id,
            source=profile.source,
            provider=profile.provider,
            external_id=external_id,
            received_at=now,
        ),
        traceparent=traceparent,
    )
    if match is None:
        store.insert_lead(lead_id, profile, now)
        await emit(
            tx,
            LeadCaptured(lead_id=lead_id, delivery_id=delivery_id, lead=profile),
            traceparent=received.traceparent,
        )
        return Outcome(lead_id, "captured", delivery_id)
    person, matched_on = match
    merged = merge_profiles(person.profile(), profile)
    store.update_lead(person, merged, now)
    await emit(
        tx,
        LeadMerged(
            lead_id=lead_id,
            delivery_id=delivery_id,
            matched_on="email" if matched_on == "email" else "phone",
            lead=merged,
        ),
        traceparent=received.traceparent,
    )
    return Outcome(lead_id, "merged", delivery_id)


def merge_profiles(old: LeadProfile, new: LeadProfile) -> LeadProfile:
    """The person's lead after another delivery: what was known stays (the first source
    keeps the attribution), gaps are filled, lists and answers are combined, and the
    latest statement of intent counts."""
    values = old.model_dump()
    for name, value in new.model_dump().items():
        current = values.get(name)
        if isinstance(current, list):
            values[name] = current + [v for v in value if v not in current]
        elif isinstance(current, dict):  # what was known first, in its order, wins
            values[name] = current | {k: v for k, v in value.items() if k not in current}
        elif current in (None, "") and value not in (None, ""):
            values[name] = value
    values["asked_to_be_contacted"] = old.asked_to_be_contacted or new.asked_to_be_contacted
    if new.timeframe_days is not None:
        values["timeframe_days"] = new.timeframe_days
    values["is_test"] = old.is_test and new.is_test
    return bounded(LeadProfile.model_validate(values))


def bounded(profile: LeadProfile) -> LeadProfile:
    """The profile within the caps above: the first answers, interests and UTM parameters
    that fit, flagged when some did not."""
    answers = _first_fitting(profile.answers.items(), MAX_ANSWERS, MAX_ANSWER_CHARS)
    interests = _first_fitting(
        ((p, "") for p in profile.product_interest),
        MAX_PRODUCT_INTEREST,
        MAX_PRODUCT_INTEREST_CHARS,
    )
    utm = _first_fitting(profile.utm.items(), MAX_UTM, MAX_UTM_CHARS)
    if (len(answers), len(interests), len(utm)) == (
        len(profile.answers),
        len(profile.product_interest),
        len(profile.utm),
    ):
        return profile
    flags = profile.flags if TRUNCATED in profile.flags else [*profile.flags, TRUNCATED]
    return profile.model_copy(
        update={
            "answers": dict(answers),
            "product_interest": [p for p, _ in interests],
            "utm": dict(utm),
            "flags": flags,
        }
    )


def _first_fitting(
    items: Iterable[tuple[str, str]], max_items: int, max_chars: int
) -> list[tuple[str, str]]:
    kept: list[tuple[str, str]] = []
    chars = 0
    for name, value in items:
        size = len(name) + len(value)
        if len(kept) == max_items or chars + size > max_chars:
            break
        kept.append((name, value))
        chars += size
    return kept


def accept_raw(
    store: RoundStore, raw: RawLead, profile: LeadProfile, traceparent: str | None = None
) -> Coroutine[Any, Any, Outcome]:
    """Store a lead a webhook carried inline (`profile` is `profile_from_raw(raw, ...)`,
    made before the round: an unusable lead is refused before anything is written)."""
    return record(
        store,
        profile,
        external_id=raw.external_id,
        payload={"fields": dict(raw.fields)},
        traceparent=traceparent,
    )


def fetch_touches(source: Source, ref: FetchRef) -> Touches:
    return Touches(deliveries=((source.name, ref.external_id),))


def accept_fetch(store: RoundStore, source: Source, ref: FetchRef) -> Outcome:
    """A lead the webhook only named: stored as pending, fetched by the FetchWorker."""
    seen = store.stored_delivery(source.name, ref.external_id)
    if seen is not None:
        return Outcome(seen.lead_id, "duplicate", seen.id)
    delivery_id = new_id()
    store.insert_delivery(
        delivery_id=delivery_id,
        lead_id=None,
        source=source.name,
        provider=source.provider,
        external_id=ref.external_id,
        status="pending",
        received_at=store.tx.now(),
        payload={"ref": dict(ref.ref)},
        next_attempt_at=store.tx.now(),
    )
    return Outcome(None, "pending", delivery_id)


async def erase_external(tx: Tx, source: Source, external_id: str) -> bool:
    """The provider says the lead was deleted there: forget the stored copy."""
    seen = await repository.delivery_by_external_id(tx, source.name, external_id)
    if seen is None:
        return False
    await repository.set_delivery(
        tx, seen.id, status="deleted", payload=None, reason="deleted at the provider"
    )
    return True


async def erase(tx: Tx, lead_id: str, erasure_id: str, traceparent: str | None = None) -> int:
    """Erase the person behind the lead (everything merged into it is the same row), keep a
    tombstone and confirm, in the same transaction (`erasure.erase_person`); returns the rows
    changed."""
    return await erasure.erase_person(
        tx,
        lead_id,
        erasure_id,
        IngestErasureCompleted,
        profile=repository.lead_profile_json,
        own_rows=_erase_own_rows,
        traceparent=traceparent,
    )


async def _erase_own_rows(tx: Tx, lead_id: str, values: set[str]) -> int:
    """The lead keeps its id, source and times but no email, phone or personal profile
    field; its deliveries lose their raw fields and provider lead id; remembered idempotent
    answers naming it are dropped. Nothing that identifies the person is kept, so a later
    lead from them is a new lead."""
    profile = await repository.lead_profile_json(tx, lead_id)
    changed = 0
    if profile is not None:
        changed += await repository.anonymise_lead(tx, lead_id, erasure.redact(profile, values))
    for delivery in await repository.delivery_texts(tx, lead_id):
        values |= erasure.personal_values({"answers": delivery.payload})
        await repository.erase_delivery(
            tx,
            delivery.id,
            erasure.scrub_text(delivery.reason, values) if delivery.reason else None,
            erasure.scrub_text(delivery.last_error, values) if delivery.last_error else None,
        )
        changed += 1
    changed += await repository.forget_idempotency(tx, lead_id)
    return changed
