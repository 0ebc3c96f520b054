"""Every event Leadfarm says, as frozen pydantic models, and the one registry that parses them.

Each model names its versioned CloudEvents `type` and the service that says it. Within a
version, changes are additive only (new optional fields); a breaking change is a new class
with a new version and an entry in `UPCASTERS` that lifts old payloads when they are read.
`tests/unit/contracts/test_contracts.py` holds the committed JSON Schemas and fixture payloads
to that.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import SCHEMA_BASE_URI, Envelope, child_traceparent
from contracts.topics import ServiceName

SourceClass = Literal["marketing", "events", "referrals", "rep_prospecting"]
Lifecycle = Literal["name", "target", "suspect", "prospect"]
Stage = Literal["raw", "basic_qualified", "sales_qualified"]
Term = Literal["short", "long"]
Channel = Literal["call", "email", "meeting", "note"]


class Contract(BaseModel):
    """Base of every model that travels in an event: immutable, tolerant of new fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class LeadProfile(Contract):
    """The normalised lead as ingest captured it; carried in events so no service reads
    another's tables."""

    email: str | None = None
    phone: str | None = Field(None, description="E.164 when it could be parsed")
    phone_raw: str | None = Field(None, description="As typed, when it could not be parsed")
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    company: str | None = None
    company_domain: str | None = None
    job_title: str | None = None
    industry: str | None = None
    employees: int | None = None
    country: str | None = Field(None, description="ISO 3166-1 alpha-2")
    region: str | None = None
    language: str | None = None
    product_interest: list[str] = Field(default_factory=list)
    timeframe_days: int | None = Field(None, description="When the prospect expects to buy")
    asked_to_be_contacted: bool = False
    has_budget: bool | None = None
    need: str | None = None
    source: str = Field(description="The configured source the lead came through")
    provider: str = "api"
    source_class: SourceClass = "marketing"
    campaign: str | None = None
    is_test: bool = False
    flags: list[str] = Field(default_factory=list)
    answers: dict[str, str] = Field(default_factory=dict)
    utm: dict[str, str] = Field(default_factory=dict)
    consent_email: bool | None = None
    sourced_by_rep_id: str | None = None


class EventData(Contract):
    """Base of event payloads. Subclasses set TYPE and SERVICE and are registered by TYPE."""

    TYPE: ClassVar[str]
    SERVICE: ClassVar[ServiceName]

    lead_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE" in cls.__dict__:
            if cls.TYPE in EVENT_TYPES:
                raise TypeError(f"event type {cls.TYPE} is defined twice")
            EVENT_TYPES[cls.TYPE] = cls


EVENT_TYPES: dict[str, type[EventData]] = {}

# old type -> function lifting an old payload to (new type, new payload). Empty until a
# breaking change happens; parse_data runs them before validating.
UPCASTERS: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {}


# --- ingest -------------------------------------------------------------------------------


class LeadReceived(EventData):
    """A delivery arrived and was stored, before it became (or merged into) a lead."""

    TYPE = "leadfarm.lead.received.v1"
    SERVICE = "ingest"

    delivery_id: str
    source: str
    provider: str
    external_id: str | None = None
    received_at: datetime


class LeadCaptured(EventData):
    """A new lead, normalised."""

    TYPE = "leadfarm.lead.captured.v1"
    SERVICE = "ingest"

    delivery_id: str
    lead: LeadProfile


class LeadMerged(EventData):
    """The same person arrived again and was merged into their open lead."""

    TYPE = "leadfarm.lead.merged.v1"
    SERVICE = "ingest"

    delivery_id: str
    matched_on: Literal["email", "phone", "external_id"]
    lead: LeadProfile


# --- qualifier ----------------------------------------------------------------------------


class CriterionResult(Contract):
    """One criterion of the qualification definitions, as applied to one lead."""

    name: str = Field(description="The criterion, e.g. company, timeframe, asked_to_be_contacted")
    matched: bool
    points: int = Field(0, description="Points it added to the rule score (0 when not matched)")
    detail: str = ""
    kind: Literal["basic", "fit", "intent", "disqualifier"] | None = None
    max_points: int | None = Field(None, description="Points it is worth when it matches")


class IntentDecay(Contract):
    """How the stated intent aged: its points halve every half-life since the last intent
    signal (a form submitted, a hand raised in nurture)."""

    half_life_days: float = Field(description="The definitions' decay.intent_half_life")
    age_days: float = Field(description="Days since the last intent signal")
    intent_points: int = Field(description="The matched intent criteria's points, as stated")
    decayed_intent_points: int = Field(description="What is left of them after the decay")
    raw_score: int = Field(ge=0, le=100, description="The score the lead would have undecayed")


class Decision(Contract):
    """What the qualifier decided and why."""

    lifecycle: Lifecycle
    stage: Stage
    term: Term
    score: int = Field(ge=0, le=100)
    definition_version: str
    model_version: str | None = None
    reasons: list[str] = Field(default_factory=list)
    criteria: list[CriterionResult] = Field(
        default_factory=list, description="Every criterion checked, matched or not"
    )
    rule_score: int | None = Field(
        None, description="The definitions' points alone, before any learned blend"
    )
    win_probability: float | None = Field(
        None, description="The learned model's P(win | attributes), when a model was used"
    )
    intent_decay: IntentDecay | None = Field(
        None,
        description="Set when the definitions give intent a half-life: `score` is then the "
        "decayed score and `intent_decay.raw_score` the score before the decay",
    )


class LeadQualified(EventData):
    """Sales-qualified and short-term: ready for a rep."""

    TYPE = "leadfarm.lead.qualified.v1"
    SERVICE = "qualifier"

    decision: Decision
    lead: LeadProfile


class LeadDeferred(EventData):
    """Long-term or not ready yet: for nurture."""

    TYPE = "leadfarm.lead.deferred.v1"
    SERVICE = "qualifier"

    decision: Decision
    lead: LeadProfile


class LeadDisqualified(EventData):
    """Never qualifies under the definitions; `reason` says why in words."""

    TYPE = "leadfarm.lead.disqualified.v1"
    SERVICE = "qualifier"

    reason: str
    definition_version: str
    disqualifiers: list[str] = Field(
        default_factory=list, description="The disqualifiers that applied, e.g. free_mail"
    )


# --- router -------------------------------------------------------------------------------


class LeadAssigned(EventData):
    """A rep got the lead; it carries the lead so the rep's tools (CRM, dialer) can act."""

    TYPE = "leadfarm.lead.assigned.v1"
    SERVICE = "router"

    assignment_id: str
    rep_id: str
    rep_name: str
    pool: str
    rule: str
    strategy: str
    first_touch_due_at: datetime
    cadence_due_at: datetime | None = Field(
        None, description="When the contact cadence's window closes (business days)"
    )
    why: str | None = Field(
        None, description="Why this rep, in words; the full explanation is in the API"
    )
    score: int | None = None
    lead: LeadProfile | None = None


class LeadReassigned(EventData):
    TYPE = "leadfarm.lead.reassigned.v1"
    SERVICE = "router"

    assignment_id: str
    from_rep_id: str | None
    rep_id: str
    rep_name: str
    reason: str
    first_touch_due_at: datetime
    pool: str | None = None
    rule: str | None = None
    strategy: str | None = None
    cadence_due_at: datetime | None = None
    why: str | None = None
    lead: LeadProfile | None = None


class LeadQueued(EventData):
    """No rep could take the lead: it waits in a fallback queue and an alert is raised, or
    (queue `hold`) it is held until the next rep's working hours begin."""

    TYPE = "leadfarm.lead.queued.v1"
    SERVICE = "router"

    queue: str
    reason: str
    pool: str | None = None
    rule: str | None = None
    held_until: datetime | None = Field(None, description="Set when the lead is held, not queued")


class LeadAccepted(EventData):
    """The rep accepted the lead."""

    TYPE = "leadfarm.lead.accepted.v1"
    SERVICE = "router"

    assignment_id: str
    rep_id: str
    at: datetime


class LeadRejected(EventData):
    """The rep rejected the lead; `outcome` says whether it was reassigned or returned."""

    TYPE = "leadfarm.lead.rejected.v1"
    SERVICE = "router"

    assignment_id: str
    rep_id: str
    reason: str
    outcome: Literal["reassigned", "returned"]
    at: datetime


class ContactLogged(EventData):
    TYPE = "leadfarm.contact.logged.v1"
    SERVICE = "router"

    activity_id: str
    rep_id: str
    channel: Channel
    outcome: str
    at: datetime
    assignment_id: str | None = None
    connected: bool | None = Field(None, description="The rep reached the prospect")
    counted: bool | None = Field(
        None, description="Counted toward the cadence (a call or email far enough from the last)"
    )


class SlaBreached(EventData):
    TYPE = "leadfarm.sla.breached.v1"
    SERVICE = "router"

    rep_id: str
    sla: Literal["first_touch", "cadence"]
    due_at: datetime
    assignment_id: str | None = None
    action: str | None = Field(
        None, description="What the router did about it, e.g. reassigned to bo, kept by ana"
    )


class RepSuspended(EventData):
    """A rep left the distribution, suspended by the router for SLA compliance or by a
    manager (`by`); `lead_id` is empty and the subject is `rep:<id>`."""

    TYPE = "leadfarm.rep.suspended.v1"
    SERVICE = "router"

    rep_id: str
    reason: str
    compliance: float = Field(
        description="The share of SLA obligations the rep met in the compliance window "
        "(when a manager suspended them: however few there were, 1.0 with none)"
    )
    by: str | None = Field(
        None, description="The API key of the manager who suspended the rep (none: the router)"
    )


class RepReinstated(EventData):
    """A manager put a suspended rep back in the distribution; `lead_id` is empty and the
    subject is `rep:<id>`."""

    TYPE = "leadfarm.rep.reinstated.v1"
    SERVICE = "router"

    rep_id: str
    reason: str | None = None


class LeadReturned(EventData):
    """Back to marketing: cadence exhausted without a connection, rejected, or long-term."""

    TYPE = "leadfarm.lead.returned.v1"
    SERVICE = "router"

    rep_id: str | None
    reason: str
    lead: LeadProfile
    reason_code: str | None = Field(
        None, description="cadence_exhausted, cadence_expired or rejected"
    )
    assignment_id: str | None = None


class OpportunityOpened(EventData):
    TYPE = "leadfarm.opportunity.opened.v1"
    SERVICE = "router"

    opportunity_id: str
    rep_id: str
    amount: Decimal
    currency: str = "USD"
    name: str | None = None
    lead: LeadProfile
    assignment_id: str | None = Field(
        None, description="The assignment the opportunity was opened on (its first touch)"
    )


class OpportunityClosed(EventData):
    TYPE = "leadfarm.opportunity.closed.v1"
    SERVICE = "router"

    opportunity_id: str
    rep_id: str
    won: bool
    amount: Decimal
    currency: str = "USD"
    lead: LeadProfile
    reason: str | None = None


# What "sales followed up" means, one definition for the router's first-touch SLA and for
# audit's follow-up rate and SLA compliance: a call, an email or a meeting logged by the rep
# (a note is not a touch), or an opportunity opened on the lead (a rep who opens one without
# logging the call has plainly spoken to the prospect).
TOUCH_CHANNELS: frozenset[str] = frozenset({"call", "email", "meeting"})


def is_touch(data: EventData) -> bool:
    """Whether the event is a touch of its lead by the rep it names (see TOUCH_CHANNELS)."""
    if isinstance(data, ContactLogged):
        return data.channel in TOUCH_CHANNELS
    return isinstance(data, OpportunityOpened)


# --- nurture ------------------------------------------------------------------------------


class NurtureEnrolled(EventData):
    TYPE = "leadfarm.nurture.enrolled.v1"
    SERVICE = "nurture"

    enrolment_id: str
    track: str
    reason: str
    next_touch_at: datetime | None
    trigger: str | None = Field(
        None, description="What enrolled the lead: deferred, returned or deferred_again"
    )
    consent_basis: str | None = Field(
        None,
        description="The email consent basis at enrolment: opt_in, legitimate_interest, "
        "or None (no email is sent without one)",
    )


class NurtureTouched(EventData):
    """A step of the lead's track touched them: an email the sender accepted, or a task
    created for inside sales."""

    TYPE = "leadfarm.nurture.touched.v1"
    SERVICE = "nurture"

    enrolment_id: str
    step: int = Field(description="The step's number on the track, from 1")
    channel: str = Field(description="email or task")
    at: datetime
    track: str | None = None
    day: int | None = Field(None, description="The step's offset in days from enrolment")
    template: str | None = Field(None, description="The email's template")
    message_id: str | None = None
    task_id: str | None = None


class LeadRecycled(EventData):
    """Warmed up in nurture: back to the qualifier with its engagement."""

    TYPE = "leadfarm.lead.recycled.v1"
    SERVICE = "nurture"

    reason: str
    engagement_score: float
    engagements: list[dict[str, Any]] = Field(default_factory=list)
    lead: LeadProfile
    hand_raise: bool = Field(
        False, description="An explicit hand raise (the profile then says asked_to_be_contacted)"
    )
    threshold: float | None = Field(None, description="The engagement score that recycles")
    enrolment_id: str | None = None
    track: str | None = None


# --- audit --------------------------------------------------------------------------------

AuditReason = Literal["sampled", "returned", "rejected", "manual"]
AuditOutcome = Literal[
    "still_evaluating", "bought_from_us", "bought_from_competitor", "no_decision"
]


class AuditOpened(EventData):
    """A Prospect Satisfaction audit was opened for the lead: the policy sampled it, or it was
    returned or rejected by sales, or a manager asked for one."""

    TYPE = "leadfarm.audit.opened.v1"
    SERVICE = "audit"

    audit_id: str
    reason: AuditReason
    due_at: datetime = Field(description="When the prospect should be asked")
    rep_id: str | None = None


class AuditRecorded(EventData):
    """A Prospect Satisfaction audit's outcome."""

    TYPE = "leadfarm.audit.recorded.v1"
    SERVICE = "audit"

    audit_id: str
    contacted: bool
    satisfaction: int | None = Field(None, ge=1, le=5)
    outcome: str = Field(
        description="still_evaluating, bought_from_us, bought_from_competitor or no_decision"
    )
    contact_count: int | None = Field(None, ge=0, description="Contacts the prospect recalls")
    contacted_by: str | None = Field(None, description="The rep the prospect names, when known")
    contacted_within: Literal["hour", "day", "week", "longer"] | None = Field(
        None, description="How soon after asking the prospect says they were contacted"
    )
    reason: AuditReason | None = Field(None, description="Why the audit was opened")
    rep_id: str | None = Field(None, description="The rep the lead was assigned to")
    source: str | None = None
    source_class: SourceClass | None = None
    logged_contact: bool | None = Field(
        None, description="Whether a rep had logged a contact with the lead before the audit"
    )


class ForecastChanged(EventData):
    TYPE = "leadfarm.forecast.changed.v1"
    SERVICE = "audit"

    action: Literal["added", "removed"]
    amount: Decimal
    reason: str
    currency: str | None = None
    period: str | None = Field(None, description="Expected close month, YYYY-MM")
    rep_id: str | None = None
    source: str | None = None
    source_class: SourceClass | None = None
    request_id: str | None = Field(None, description="The approved removal request")
    approved_by: str | None = Field(None, description="Key id of the sales executive")


class ForecastRemovalRequested(EventData):
    """Someone asked to take the lead off the forecast; a sales executive decides."""

    TYPE = "leadfarm.forecast.removal_requested.v1"
    SERVICE = "audit"

    request_id: str
    requested_by: str = Field(description="Key id of the requester, or system:<event>")
    reason: str


class ForecastRemovalDecided(EventData):
    """A sales executive approved or denied a request to take the lead off the forecast."""

    TYPE = "leadfarm.forecast.removal_decided.v1"
    SERVICE = "audit"

    request_id: str
    decision: Literal["approved", "denied"]
    decided_by: str = Field(description="Key id of the sales executive")
    reason: str


# --- erasure (issue 9) --------------------------------------------------------------------


class ErasureRequested(EventData):
    """An admin asked audit to erase a person (`POST /audit/v1/erasures`). Every other
    service erases or anonymises the lead's personal data in its own store, keeps a
    tombstone so late events cannot bring it back, and confirms with its own
    `<service>.erasure_completed`. Carries no personal data; the subject is the lead id."""

    TYPE = "leadfarm.person.erasure_requested.v1"
    SERVICE = "audit"

    erasure_id: str
    requested_at: datetime


class ErasureCompleted(EventData):
    """Base of the per-service confirmations (not an event type itself)."""

    erasure_id: str
    records: int = Field(0, ge=0, description="Rows the service erased or anonymised")


class IngestErasureCompleted(ErasureCompleted):
    """ingest erased the person's lead, deliveries, idempotency records and events."""

    TYPE = "leadfarm.ingest.erasure_completed.v1"
    SERVICE = "ingest"


class QualifierErasureCompleted(ErasureCompleted):
    """The qualifier erased the person's profile, decisions' text and events."""

    TYPE = "leadfarm.qualifier.erasure_completed.v1"
    SERVICE = "qualifier"


class RouterErasureCompleted(ErasureCompleted):
    """The router erased the person's profile, explanations, notes, webhooks and events."""

    TYPE = "leadfarm.router.erasure_completed.v1"
    SERVICE = "router"


class NurtureErasureCompleted(ErasureCompleted):
    """nurture erased the person's enrolments, emails, tasks, engagements and consents."""

    TYPE = "leadfarm.nurture.erasure_completed.v1"
    SERVICE = "nurture"


# --- parsing and building -----------------------------------------------------------------


class UnknownEventType(ValueError):
    """An envelope whose type no model (or upcaster) knows: dead-lettered, never guessed."""


def parse_data(envelope: Envelope) -> EventData:
    """The typed payload of an envelope, after any upcasting. Raises on unknown types and on
    payloads that do not validate (the consumer runner dead-letters those)."""
    event_type, data = envelope.type, envelope.data
    while event_type in UPCASTERS:
        event_type, data = UPCASTERS[event_type](data)
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    return model.model_validate(data)


def source_of(service: ServiceName) -> str:
    """The CloudEvents `source` of everything a service says."""
    return f"/leadfarm/{service}"


def schema_uri(event_type: str) -> str:
    """The CloudEvents `dataschema` of a type: an absolute URI, as the specification asks
    (`contracts.envelope.SCHEMA_BASE_URI` says where it resolves)."""
    return f"{SCHEMA_BASE_URI}{event_type}.json"


def make_envelope(
    data: EventData,
    *,
    time: datetime,
    traceparent: str | None = None,
    subject: str | None = None,
    own_traceparent: str | None = None,
) -> Envelope:
    """Wrap a payload in its envelope. `traceparent` is the event or request being handled
    (the event gets a child of it); `own_traceparent`, the context of the span that creates
    the event, is used as it is (services/tracing.py)."""
    return Envelope(
        source=source_of(data.SERVICE),
        type=data.TYPE,
        time=time,
        subject=subject or data.lead_id,
        dataschema=schema_uri(data.TYPE),
        traceparent=own_traceparent or child_traceparent(traceparent),
        data=data.model_dump(mode="json"),
    )
