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
from urllib.parse import urlsplit

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
from router.schemas.reps import RepOut

ASSIGNED = "leadfarm.lead.assigned.v1"
REASSIGNED = "leadfarm.lead.reassigned.v1"
BREACHED = "leadfarm.sla.breached.v1"

WORKING = frozenset({"assigned", "accepted", "opportunity"})
"""The lead statuses in which a rep works a lead (router.records.WORKING_STATUSES)."""

RETRIED_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
        "rollup_error",
    }
)
"""Slack's error codes that say "try again later"; every other code says the request or
the app's configuration is wrong (channel_not_found, invalid_auth, not_authed,
account_inactive, token_revoked, missing_scope, invalid_blocks...), which no retry fixes."""

WEBHOOK_URL = re.compile(r"^https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+$")
SLACK_ID = r"^[CGDUW][A-Z0-9]{2,20}$"
JSON = "application/json; charset=utf-8"
FIELD_MAX = 1900
"""Under Block Kit's 2000 characters for a section field."""


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
            at = _instant(data["first_touch_due_at"]) - timedelta(
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
        poster = _Poster(http, settings, credentials)
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


def escape(text: Any) -> str:
    """Text for Slack's mrkdwn: `&`, `<` and `>` escaped, as Slack asks."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def when(at: datetime, time_zone: str) -> str:
    """'Tue 8 Dec 14:30 CET': a moment in a zone, as a rep reads it."""
    local = at.astimezone(zone(time_zone))
    return f"{local:%a} {local.day} {local:%b %H:%M %Z}"


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _name(lead: Mapping[str, Any]) -> str:
    name = lead.get("full_name") or " ".join(
        str(lead[k]) for k in ("first_name", "last_name") if lead.get(k)
    )
    return str(name or lead.get("email") or "a lead")


def _clip(text: str, limit: int = FIELD_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}")}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, 2900)}}


def _rep_zone(rep: RepOut | None) -> str:
    return rep.time_zone if rep else "UTC"


def _context(link: str | None, lead_id: str) -> dict[str, Any]:
    # The link's `&`s are escaped too (Slack decodes them); `<`, `>` and `|` cannot be in it.
    ref = f"<{escape(link)}|Open lead {escape(lead_id)}>" if link else f"Lead {escape(lead_id)}"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Leadfarm · {ref}"}]}


def assignment_message(
    data: Mapping[str, Any], rep: RepOut | None, link: str | None, mention: str | None
) -> dict[str, Any]:
    lead: Mapping[str, Any] = data.get("lead") or {}
    name, company = _name(lead), lead.get("company")
    due = when(_instant(data["first_touch_due_at"]), _rep_zone(rep))
    who = f"{mention} " if mention else ""
    what = "Lead reassigned to you" if data.get("from_rep_id") else "New lead for you"
    headline = f"{what}: {escape(name)}" + (f" ({escape(company)})" if company else "")
    why = data.get("why") or "the routing rules"
    routing = f"rule {data.get('rule') or '?'}, pool {data.get('pool') or '?'}"
    fields = [
        _field("Company", escape(company or "-")),
        _field("First touch by", escape(due)),
        _field("Routing", escape(routing)),
    ]
    if lead.get("job_title"):
        fields.append(_field("Job title", escape(lead["job_title"])))
    blocks: list[dict[str, Any]] = [
        _section(f"{who}*{headline}*"),
        {"type": "section", "fields": fields},
        _section(f"*Why you*\n{escape(why)}"),
    ]
    if data.get("reason") and data.get("from_rep_id"):
        blocks.append(_section(f"*Reassigned because*\n{escape(data['reason'])}"))
    blocks.append(_context(link, data["lead_id"]))
    text = f"{who}{headline}. First touch by {escape(due)}. Why: {escape(why)} ({escape(routing)})."
    return {"text": _clip(text, 3000), "blocks": blocks}


def reminder_message(
    data: Mapping[str, Any],
    rep: RepOut | None,
    link: str | None,
    mention: str | None,
    now_lead: LeadNow | None,
) -> dict[str, Any]:
    lead: Mapping[str, Any] = data.get("lead") or (now_lead.profile if now_lead else {})
    name, company = _name(lead), lead.get("company")
    due = when(_instant(data["first_touch_due_at"]), _rep_zone(rep))
    who = f"{mention} " if mention else ""
    about = escape(name) + (f" ({escape(company)})" if company else "")
    reminder = (
        f"Reminder: first touch on {about} is due by {escape(due)}; no call or email is logged yet."
    )
    return {
        "text": _clip(f"{who}{reminder}", 3000),
        "blocks": [
            _section(f"{who}:alarm_clock: *{reminder}*"),
            _context(link, data["lead_id"]),
        ],
    }


def breach_message(
    data: Mapping[str, Any],
    lead_id: str,
    lead: Mapping[str, Any],
    rep: RepOut | None,
    manager_zone: str | None,
) -> dict[str, Any]:
    rep_name = rep.name if rep else data["rep_id"]
    sla = {"first_touch": "first-touch", "cadence": "cadence"}.get(data["sla"], data["sla"])
    due_at = _instant(data["due_at"])
    due = when(due_at, manager_zone or _rep_zone(rep))
    if manager_zone and rep and manager_zone != rep.time_zone:
        due += f" ({when(due_at, rep.time_zone)} for {rep_name})"
    name, company = _name(lead), lead.get("company")
    about = escape(name) + (f" ({escape(company)})" if company else "")
    action = data.get("action") or "nothing"
    headline = f"{escape(rep_name)} missed the {sla} SLA on {about}"
    fields = [
        _field("Rep", escape(rep_name)),
        _field("SLA", sla),
        _field("Was due", escape(due)),
        _field("Router", escape(action)),
    ]
    text = f"{headline}: due {escape(due)}. The router: {escape(action)}. Lead {escape(lead_id)}."
    return {
        "text": _clip(text, 3000),
        "blocks": [
            _section(f":rotating_light: *{headline}*"),
            {"type": "section", "fields": fields},
            _context(None, lead_id),
        ],
    }


# --- Slack's two ways of posting ------------------------------------------------------------


class _Poster:
    """chat.postMessage with the bot token, or an incoming webhook; Slack's refusals as
    `VendorError`s quoting Slack's error code."""

    def __init__(
        self, http: httpx.AsyncClient, settings: SlackSettings, credentials: SlackCredentials
    ) -> None:
        self.http = http
        self.settings = settings
        self.credentials = credentials

    async def _post(
        self, what: str, url: str, headers: dict[str, str], body: Any
    ) -> httpx.Response:
        try:
            return await self.http.post(
                url, content=orjson.dumps(body), headers={"content-type": JSON, **headers}
            )
        except httpx.HTTPError as exc:
            raise VendorError(
                f"Slack could not be reached ({what}): {type(exc).__name__}"
            ) from None

    async def post_message(self, channel: str, message: dict[str, Any]) -> None:
        token = self.credentials.bot_token
        if not token:
            raise VendorError("the connector has no credentials.bot_token", permanent=True)
        response = await self._post(
            "chat.postMessage",
            self.settings.api_base_url.rstrip("/") + "/chat.postMessage",
            {"authorization": f"Bearer {token}"},
            {"channel": channel, **message},
        )
        status = response.status_code
        if status != 200:
            raise _http_error("chat.postMessage", response)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise VendorError(f"Slack answered {status} with a body that is not JSON") from None
        if not isinstance(answer, dict):
            raise VendorError(f"Slack answered {status} with a body that is not an object")
        if answer.get("ok") is True:
            return
        error = str(answer.get("error") or "unknown_error")[:100]
        notes = (answer.get("response_metadata") or {}).get("messages") or []
        detail = f" ({'; '.join(str(m) for m in notes)[:500]})" if notes else ""
        raise VendorError(
            f"Slack refused chat.postMessage: {error}{detail}",
            status=status,
            permanent=error not in RETRIED_ERRORS,
            retry_after_s=_retry_after(response),
        )

    async def webhook(self, url: str, message: dict[str, Any]) -> None:
        path = urlsplit(url).path
        response = await self._post(
            "incoming webhook", self.settings.hooks_base_url.rstrip("/") + path, {}, message
        )
        if response.status_code != 200:
            raise _http_error("the incoming webhook", response)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def _http_error(what: str, response: httpx.Response) -> VendorError:
    """A non-200 answer: 429 and 5xx are retried (Retry-After honoured); any other says the
    request or the webhook is wrong (400 invalid_payload, 403 action_prohibited, 404
    no_service or channel_not_found, 410 channel_is_archived)."""
    status = response.status_code
    body = response.text.strip()[:200] or "(no body)"
    return VendorError(
        f"Slack answered {status} to {what}: {body}",
        status=status,
        permanent=status != 429 and status < 500,
        retry_after_s=_retry_after(response),
    )


CONNECTOR = Slack()
