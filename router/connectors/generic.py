"""A generic signed activity webhook, for dialers and sequencers (kind `webhook`).

Any tool that can post JSON and sign it the Standard Webhooks way tells Leadfarm of the
calls and emails reps make there: `POST /router/v1/connectors/{id}/webhooks` with
`webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, keyed with the connector's `whsec_` secret; the signing is
services/standard_webhooks.py's, which Leadfarm's own webhooks use) and a body of
activities. Each is matched to its lead (`lead_id`, else `email`) and rep (`rep_id`, else
`rep`, the rep's user id in the tool, which is their `crm_owner_ids.webhook`) and logged by
the framework (router/connectors/inbound.py) like `POST /router/v1/leads/{id}/activities`,
idempotent on the activity's `id`.

It writes nothing to the tool: it has no event types, and its deliveries never exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.events import Channel
from ingest.providers.base import Unauthorized
from router.connectors.base import (
    BadWebhook,
    Connector,
    Delivery,
    InboundActivity,
    InboundEvent,
    TakesActivities,
    Target,
    VendorError,
    Written,
)
from router.records import ActivityOutcome
from services.standard_webhooks import BadSignature, check_secret, verify

ACTIVITIES_PER_WEBHOOK = 100


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_clock_skew_s: int = Field(
        300,
        ge=30,
        le=900,
        description="How far webhook-timestamp may be from Leadfarm's clock (a stale or "
        "replayed webhook is refused)",
    )


class WebhookCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(
        min_length=30,
        max_length=200,
        description="The Standard Webhooks secret the tool signs with: whsec_ and base64 of "
        "24 to 64 random bytes",
    )

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_secret(value)


class WebhookActivity(BaseModel):
    """A call, an email or a meeting a rep made in the tool."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[\x21-\x7e]+$",
        description="The tool's id of the activity: the same id again is a duplicate",
    )
    lead_id: str | None = Field(
        None, max_length=64, description="The Leadfarm lead id (from the assignment webhook)"
    )
    email: str | None = Field(
        None,
        max_length=320,
        description="The lead's email, when the tool has no lead id: matched among the "
        "leads reps are working",
    )
    rep_id: str | None = Field(None, max_length=64, description="The rep's Leadfarm id")
    rep: str | None = Field(
        None,
        max_length=64,
        description="The rep's user id in the tool, when it does not know the Leadfarm id: "
        "the rep whose crm_owner_ids.webhook it is",
    )
    channel: Channel
    outcome: ActivityOutcome = Field(
        description="call: no_answer, voicemail, connected, bad_number, not_interested, "
        "meeting_booked; email: sent, replied, bounced; meeting: held, no_show; or other"
    )
    at: datetime | None = Field(
        None,
        description="When it happened in the tool (kept in the note; Leadfarm counts it when "
        "it arrives, as it does an activity posted to the API)",
    )
    note: str | None = Field(None, max_length=3000)

    @model_validator(mode="after")
    def _who(self) -> WebhookActivity:
        if not (self.lead_id or self.email):
            raise ValueError("lead_id or email is required")
        if not (self.rep_id or self.rep):
            raise ValueError("rep_id or rep is required")
        return self


class ActivitiesWebhook(BaseModel):
    """The generic activity webhook's body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "activities": [
                        {
                            "id": "call-7f3a",
                            "lead_id": "0b9d6a1e-4a54-4f0e-9a7e-3f2d1c0b9a88",
                            "rep": "dialer-user-17",
                            "channel": "call",
                            "outcome": "connected",
                            "at": "2026-01-05T09:30:00Z",
                            "note": "Talked pricing; demo Thursday",
                        }
                    ]
                }
            ]
        },
    )

    activities: list[WebhookActivity] = Field(min_length=1, max_length=ACTIVITIES_PER_WEBHOOK)


class GenericWebhook(Connector, TakesActivities):
    kind = "webhook"
    settings_model: ClassVar[type[BaseModel]] = WebhookSettings
    credentials_model: ClassVar[type[BaseModel]] = WebhookCredentials
    event_types = frozenset[str]()

    async def deliver(self, delivery: Delivery, target: Target, http: httpx.AsyncClient) -> Written:
        raise VendorError("the generic activity webhook writes nothing", permanent=True)

    def refused_field(self, index: int) -> str:
        return f"activities.{index}"

    def verify(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        received_at: datetime,
        target: Target,
    ) -> None:
        settings, credentials = target.settings, target.credentials
        assert isinstance(settings, WebhookSettings)
        assert isinstance(credentials, WebhookCredentials)
        try:
            verify(credentials.secret, headers, body, received_at, settings.max_clock_skew_s)
        except BadSignature as exc:
            raise Unauthorized(str(exc)) from None

    async def read(
        self, body: bytes, target: Target, http: httpx.AsyncClient
    ) -> list[InboundEvent]:
        try:
            parsed = ActivitiesWebhook.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            place = ".".join(str(p) for p in first["loc"])
            raise BadWebhook(place, first["msg"]) from None
        return [
            InboundEvent(index, activity.id, activity=_inbound(activity))
            for index, activity in enumerate(parsed.activities)
        ]


def _inbound(activity: WebhookActivity) -> InboundActivity:
    note = activity.note
    if activity.at is not None:
        when = f"at {activity.at.isoformat().replace('+00:00', 'Z')} in the tool"
        note = f"{note} ({when})" if note else when.capitalize()
    return InboundActivity(
        external_id=activity.id,
        channel=activity.channel,
        outcome=activity.outcome,
        owner_id=activity.rep,
        record_ids=(),
        emails=(activity.email.strip().lower(),) if activity.email else (),
        lead_ids=(activity.lead_id,) if activity.lead_id else (),
        note=note,
        rep_id=activity.rep_id,
    )
