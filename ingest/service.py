"""ingest's domain: turn an accepted lead into a normalised profile and say so."""

from __future__ import annotations

import uuid

from contracts.events import LeadCaptured, LeadProfile, LeadReceived, SourceClass
from ingest import normalise, repository
from ingest.schemas import LeadIn
from services.db import Tx
from services.outbox import emit


class InvalidLead(ValueError):
    """The lead cannot be used; `errors` names each field and its problem."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


def profile_of(
    body: LeadIn, *, provider: str, default_class: SourceClass, rep_id: str | None
) -> LeadProfile:
    """Normalise a posted lead. Raises InvalidLead when neither email nor phone is usable."""
    country = normalise.country(body.country)
    email, email_problem = normalise.email(body.email)
    phone, phone_problem = normalise.phone(body.phone, country)
    flags = []
    if email_problem:
        flags.append("email_invalid")
    if phone_problem:
        flags.append("phone_unparsed")
    if email is None and phone is None:
        raise InvalidLead(
            [
                ("email", email_problem or "missing"),
                ("phone", phone_problem or "missing"),
                ("body", "a lead needs a usable email or a usable phone number"),
            ]
        )
    first, last = normalise.text(body.first_name), normalise.text(body.last_name)
    full = normalise.text(body.full_name) or " ".join(p for p in (first, last) if p) or None
    return LeadProfile(
        email=email,
        phone=phone,
        first_name=first,
        last_name=last,
        full_name=full,
        company=normalise.text(body.company),
        company_domain=normalise.domain(body.website, email),
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
        source_class=body.source_class or default_class,
        campaign=normalise.text(body.campaign),
        is_test=body.is_test,
        flags=flags,
        answers=body.answers,
        utm=body.utm,
        consent_email=body.consent_email,
        sourced_by_rep_id=rep_id,
    )


async def capture(tx: Tx, profile: LeadProfile, *, traceparent: str | None = None) -> str:
    """Store a new lead with its delivery and say lead.received and lead.captured."""
    lead_id = str(uuid.uuid4())
    delivery_id = str(uuid.uuid4())
    now = tx.now()
    await repository.insert_lead(tx, lead_id, profile, now)
    await repository.insert_delivery(
        tx,
        delivery_id=delivery_id,
        lead_id=lead_id,
        source=profile.source,
        provider=profile.provider,
        external_id=None,
        status="accepted",
        received_at=now,
    )
    received = await emit(
        tx,
        LeadReceived(
            lead_id=lead_id,
            delivery_id=delivery_id,
            source=profile.source,
            provider=profile.provider,
            received_at=now,
        ),
        traceparent=traceparent,
    )
    await emit(
        tx,
        LeadCaptured(lead_id=lead_id, delivery_id=delivery_id, lead=profile),
        traceparent=received.traceparent,
    )
    return lead_id
