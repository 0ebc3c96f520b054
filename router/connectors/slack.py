"""Slack: the assigned rep is told, reminded before the first-touch deadline, and a manager
is told of a breach.

Out only, through one of Slack's two ways of posting (`settings.send_with`):

- `bot_token`: a Slack app's bot token (`xoxb-`, scope `chat:write`) posts with
  `POST https://slack.com/api/chat.postMessage`; a rep's message goes to their Slack member
  id (`crm_owner_ids.slack`), which Slack delivers as a direct message from the app. Slack
  answers HTTP 200 with `{"ok": false, "error": "channel_not_found"}` when it refuses.
- `incoming_webhook`: an incoming webhook (`https://hooks.slack.com/services/T…/B…/…`)
  posts to the one channel it was made for, naming the rep (`<@U…>`). Slack answers 200
  `ok`, or an error code as text (`invalid_payload`, 404 `no_service`, 410
  `channel_is_archived`...).

- `lead.assigned`, `lead.reassigned`: the rep gets the lead's name and company, the
  first-touch deadline in the rep's time zone, why they got it (rule, pool, the router's
  words) and a link to the lead when `settings.lead_link` is set. With
  `settings.remind_before_minutes`, a reminder is queued in the same transaction, due that
  long before the deadline (durable: a restart does not lose it); when it comes due it is
  sent only if the lead is still with that assignment and untouched, else skipped.
- `sla.breached`: the manager's channel (`settings.breaches_to`) hears which rep missed
  which SLA on which lead, when it was due, and what the router did.

Messages are Block Kit with a plain `text` fallback (what notifications show); everything
from the lead is escaped as Slack's mrkdwn asks (`&`, `<`, `>`). The lead's details go to
Slack only: errors and logs name the lead by id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from router.calendar import CalendarError, zone
from router.connectors.base import (
    FIRST_TOUCH_REMINDER,
    Connector,
    Delivery,
    LeadNow,
    Planned,
    Target,
    VendorError,
    Written,
)
from router.connectors.slack_http import Poster
from router.connectors.slack_messages import (
    assignment_message,
    breach_message,
    instant,
    reminder_message,
)

ASSIGNED = "leadfarm.lead.assigned.v1"
REASSIGNED = "leadfarm.lead.reassigned.v1"
BREACHED = "leadfarm.sla.breached.v1"

WORKING = frozenset({"assigned", "accepted", "opportunity"})
"""The lead statuses in which a rep works a lead (router.records.WORKING_STATUSES)."""


WEBHOOK_URL = re.compile(r"^https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+$")
SLACK_ID = r"^[CGDUW][A-Z0-9]{2,20}$"


def _webhook_url(value: str | None) -> str | None:
    if value is not None and not WEBHOOK_URL.match(value):
        raise ValueError(
            "must be a Slack incoming webhook URL, https://hooks.slack.com/services/T…/B…/…"
        )
    return value


def _time_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            zone(value)
        except CalendarError as exc:
            raise ValueError(str(exc)) from None
    return value


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send_with: Literal["bot_token", "incoming_webhook"] = Field(
        "bot_token",
        description="bot_token: each rep gets a direct message from the app "
        "(credentials.bot_token, crm_owner_ids.slack); incoming_webhook: one channel "
        "(credentials.webhook_url) hears of every rep's leads",
    )
    remind_before_minutes: int | None = Field(
        None,
        ge=1,
        le=1440,
        description="Remind the rep this many minutes before the first-touch deadline "
        "when they have not touched the lead (none: no reminder)",
    )
    breaches_to: Literal["nobody", "manager_channel", "manager_webhook"] = Field(
        "nobody",
        description="Where an SLA breach is told: settings.manager_channel (with the bot "
        "token) or credentials.manager_webhook_url",
    )
    manager_channel: str | None = Field(
        None,
        pattern=SLACK_ID,
        description="A channel id (C…) or a manager's member id (U…) for breaches",
    )
    manager_time_zone: str | None = Field(
        None, max_length=64, description="IANA zone of breach times (none: the rep's zone)"
    )
    lead_link: str | None = Field(
        None,
        max_length=500,
        pattern=r"^https?://[^\s<>|]*\{lead_id\}[^\s<>|]*$",
        description="A link to the lead in messages, {lead_id} replaced, e.g. "
        "https://crm.example.com/leads/{lead_id}",
    )
    api_base_url: str = Field(
        "https://slack.com/api",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="Slack's Web API (a local fake in tests)",
    )
    hooks_base_url: str = Field(
        "https://hooks.slack.com",
        pattern=r"^https?://[^/?#\s]+$",
        description="Where incoming webhook URLs' paths are posted (a local fake in tests)",
    )

    _zone = field_validator("manager_time_zone")(_time_zone)


class SlackCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot_token: str | None = Field(
        None,
        pattern=r"^xoxb-[A-Za-z0-9-]{8,300}$",
        description="The Slack app's bot token (xoxb-…, scope chat:write)",
    )
    webhook_url: str | None = Field(
        None, description="An incoming webhook's URL (its channel hears of every assignment)"
    )
    manager_webhook_url: str | None = Field(
        None, description="An incoming webhook's URL for the manager's channel (breaches)"
    )

    _webhooks = field_validator("webhook_url", "manager_webhook_url")(_webhook_url)


class Slack(Connector):
    kind = "slack"
    settings_model: ClassVar[type[BaseModel]] = SlackSettings
    credentials_model: ClassVar[type[BaseModel]] = SlackCredentials
    event_types = frozenset({ASSIGNED, REASSIGNED, BREACHED})
    reads_lead = frozenset({FIRST_TOUCH_REMINDER, BREACHED})

    def api_base_url(self, settings: BaseModel) -> str | None:
        assert isinstance(settings, SlackSettings)
        if settings.send_with == "incoming_webhook":
            return settings.hooks_base_url
        return settings.api_base_url

    def check(self, settings: BaseModel, credentials: BaseModel) -> list[tuple[str, str]]:
        assert isinstance(settings, SlackSettings)
        assert isinstance(credentials, SlackCredentials)
        problems: list[tuple[str, str]] = []
        if settings.send_with == "bot_token" and not credentials.bot_token:
            problems.append(("credentials.bot_token", "required when send_with is bot_token"))
        if settings.send_with == "incoming_webhook" and not credentials.webhook_url:
            problems.append(
                ("credentials.webhook_url", "required when send_with is incoming_webhook")
            )
        if settings.breaches_to == "manager_channel":
            if not settings.manager_channel:
                problems.append(
                    ("settings.manager_channel", "required when breaches_to is manager_channel")
                )
            if not credentials.bot_token and settings.send_with != "bot_token":
                problems.append(
                    ("credentials.bot_token", "required when breaches_to is manager_channel")
                )
        if settings.breaches_to == "manager_webhook" and not credentials.manager_webhook_url:
            problems.append(
                ("credentials.manager_webhook_url", "required when breaches_to is manager_webhook")
            )
        # The framework checks one base per connector for a public address, the one the
        # reps' messages use; breaches sent the other way must go to Slack's own.
        unchecked = {
            ("bot_token", "manager_webhook"): "hooks_base_url",
            ("incoming_webhook", "manager_channel"): "api_base_url",
        }.get((settings.send_with, settings.breaches_to))
        if (
            unchecked
            and getattr(settings, unchecked) != SlackSettings.model_fields[unchecked].default
        ):
            problems.append(
                (
                    f"settings.{unchecked}",
                    f"must be Slack's own when send_with is {settings.send_with} and "
                    f"breaches_to is {settings.breaches_to}",
                )
            )
        return problems

    def plan(
        self, event_type: str, data: Mapping[str, Any], settings: BaseModel, now: datetime
    ) -> list[Planned]:
        assert isinstance(settings, SlackSettings)
        if event_type == BREACHED:
            return [Planned(event_type)] if settings.breaches_to != "nobody" else []
        if event_type not in (ASSIGNED, REASSIGNED):
            return []
        planned = [Planned(event_type)]
        if settings.remind_before_minutes:
            at = instant(data["first_touch_due_at"]) - timedelta(
                minutes=settings.remind_before_minutes
            )
            if at > now:  # else the message itself is the reminder
                planned.append(Planned(FIRST_TOUCH_REMINDER, at=at, key="remind"))
        return planned

    async def deliver(self, delivery: Delivery, target: Target, http: httpx.AsyncClient) -> Written:
        settings, credentials = target.settings, target.credentials
        assert isinstance(settings, SlackSettings)
        assert isinstance(credentials, SlackCredentials)
        event = orjson.loads(delivery.payload)
        data: dict[str, Any] = event["data"]
        poster = Poster(http, settings, credentials)
        if delivery.event_type == BREACHED:
            rep = target.reps.get(data["rep_id"])
            lead = target.lead.profile if target.lead else {}
            message = breach_message(
                data, event.get("subject") or "", lead, rep, settings.manager_time_zone
            )
            if settings.breaches_to == "manager_webhook":
                assert credentials.manager_webhook_url is not None
                await poster.webhook(credentials.manager_webhook_url, message)
            else:
                assert settings.manager_channel is not None
                await poster.post_message(settings.manager_channel, message)
            return Written()
        if delivery.event_type == FIRST_TOUCH_REMINDER:
            why_not = _reminder_unwanted(data, target.lead)
            if why_not:
                return Written(skipped=why_not)
        rep = target.reps.get(data["rep_id"])
        member = (rep.crm_owner_ids.get("slack") if rep else None) or None
        link = (
            settings.lead_link.replace("{lead_id}", data["lead_id"]) if settings.lead_link else None
        )
        mention = f"<@{member}>" if member and settings.send_with == "incoming_webhook" else None
        if delivery.event_type == FIRST_TOUCH_REMINDER:
            message = reminder_message(data, rep, link, mention, target.lead)
        else:
            message = assignment_message(data, rep, link, mention)
        if settings.send_with == "incoming_webhook":
            assert credentials.webhook_url is not None
            await poster.webhook(credentials.webhook_url, message)
        else:
            if member is None:
                raise VendorError(
                    f"rep {data['rep_id']!r} has no Slack member id: set crm_owner_ids.slack "
                    "on the rep (PATCH /router/v1/reps/{id}), then retry the delivery",
                    permanent=True,
                )
            await poster.post_message(member, message)
        return Written()


def _reminder_unwanted(data: Mapping[str, Any], lead: LeadNow | None) -> str | None:
    """Why a first-touch reminder is not sent when it comes due, or None to send it."""
    if lead is None:
        return "the lead is gone"
    if lead.assignment_id != data["assignment_id"] or lead.status not in WORKING:
        return "the lead was reassigned or closed since"
    if lead.touched_at is not None:
        return "the rep touched the lead before the reminder"
    return None


# --- messages ---------------------------------------------------------------------------------


# --- Slack's two ways of posting ------------------------------------------------------------


CONNECTOR = Slack()
