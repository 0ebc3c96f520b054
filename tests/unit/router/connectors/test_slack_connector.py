"""The Slack connector's own decisions: when a reminder is planned, how a moment reads in a
zone, what mrkdwn escapes, and which of Slack's answers are retried and which are dead at
once (against httpx's mock transport)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from router.connectors.base import (
    FIRST_TOUCH_REMINDER,
    ConnectorConfig,
    Delivery,
    Target,
    VendorError,
)
from router.connectors.slack import ASSIGNED, BREACHED, CONNECTOR, SlackCredentials, SlackSettings
from router.connectors.slack_messages import assignment_message, escape, when
from router.records import RepRecord, parsed

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TOKEN = "xoxb-1-2-abcdefgh"


def test_a_reminder_is_planned_before_the_deadline_only_when_there_is_time_for_one() -> None:
    data = {"first_touch_due_at": "2026-01-05T09:05:00Z"}
    reminding = SlackSettings(remind_before_minutes=2)
    plans = CONNECTOR.plan(ASSIGNED, data, reminding, NOW)
    assert [(p.event_type, p.at, p.key) for p in plans] == [
        (ASSIGNED, None, ""),
        (FIRST_TOUCH_REMINDER, NOW + timedelta(minutes=3), "remind"),
    ]
    too_close = SlackSettings(remind_before_minutes=5)
    assert [p.event_type for p in CONNECTOR.plan(ASSIGNED, data, too_close, NOW)] == [ASSIGNED]
    assert [p.event_type for p in CONNECTOR.plan(ASSIGNED, data, SlackSettings(), NOW)] == [
        ASSIGNED
    ]
    assert CONNECTOR.plan(BREACHED, {}, SlackSettings(), NOW) == []
    told = SlackSettings(breaches_to="manager_channel", manager_channel="C0MGRS")
    assert [p.event_type for p in CONNECTOR.plan(BREACHED, {}, told, NOW)] == [BREACHED]


def test_a_moment_reads_in_the_reps_zone_and_mrkdwn_is_escaped() -> None:
    at = datetime(2026, 12, 8, 13, 30, tzinfo=UTC)
    assert when(at, "Europe/Berlin") == "Tue 8 Dec 14:30 CET"
    assert when(at, "America/New_York") == "Tue 8 Dec 08:30 EST"
    assert when(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Europe/Berlin") == "Wed 1 Jul 14:00 CEST"
    assert escape("A&B <C>") == "A&amp;B &lt;C&gt;"


def test_the_link_to_the_lead_is_a_mrkdwn_link_with_its_ampersands_escaped() -> None:
    data = orjson.loads(_delivery().payload)["data"]
    message = assignment_message(data, None, "https://crm.example.com/l?id=L1&tab=1", None)
    assert message["blocks"][-1]["elements"][0]["text"] == (
        "Leadfarm · <https://crm.example.com/l?id=L1&amp;tab=1|Open lead L1>"
    )


def _target(members: dict[str, str]) -> Target:
    rep = parsed(
        RepRecord,
        {
            "id": "ana",
            "name": "Ana",
            "email": "ana@example.com",
            "weight": 1,
            "active": True,
            "created_at": NOW,
            "time_zone": "UTC",
            "working_hours": {},
            "languages": [],
            "territories": [],
            "max_open_leads": None,
            "daily_cap": None,
            "out_of_office": [],
            "team_id": None,
            "crm_owner_ids": members,
        },
    )
    return Target(
        connector=ConnectorConfig("slack", "slack", {}, "", True),
        settings=SlackSettings(api_base_url="https://slack.test/api"),
        credentials=SlackCredentials(bot_token=TOKEN),
        reps={"ana": rep},
    )


def _delivery() -> Delivery:
    payload = {
        "type": ASSIGNED,
        "timestamp": "2026-01-05T09:00:00Z",
        "subject": "L1",
        "data": {
            "lead_id": "L1",
            "assignment_id": "A1",
            "rep_id": "ana",
            "rep_name": "Ana",
            "pool": "p",
            "rule": "r",
            "strategy": "round_robin",
            "first_touch_due_at": "2026-01-05T09:05:00Z",
            "why": "next in turn",
            "lead": {"first_name": "Dana", "company": "Acme", "source": "web"},
        },
    }
    return Delivery("d1", "slack", "e1", ASSIGNED, "L1", orjson.dumps(payload).decode(), 0, NOW)


async def _deliver(answer: httpx.Response, members: dict[str, str] | None = None) -> Any:
    def reply(request: httpx.Request) -> httpx.Response:
        assert request.url == "https://slack.test/api/chat.postMessage"
        return answer

    async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as http:
        return await CONNECTOR.deliver(
            _delivery(), _target({"slack": "U0ANA"} if members is None else members), http
        )


@pytest.mark.parametrize(
    ("answer", "permanent", "retry_after"),
    [
        (httpx.Response(200, json={"ok": False, "error": "channel_not_found"}), True, None),
        (httpx.Response(200, json={"ok": False, "error": "invalid_auth"}), True, None),
        (httpx.Response(200, json={"ok": False, "error": "not_authed"}), True, None),
        (httpx.Response(200, json={"ok": False, "error": "account_inactive"}), True, None),
        (httpx.Response(200, json={"ok": False, "error": "internal_error"}), False, None),
        (
            httpx.Response(
                429, json={"ok": False, "error": "ratelimited"}, headers={"retry-after": "7"}
            ),
            False,
            7.0,
        ),
        (httpx.Response(503, text="upstream connect error"), False, None),
        (httpx.Response(404, text="unknown_method"), True, None),
    ],
)
async def test_slacks_refusals_are_retried_or_dead(
    answer: httpx.Response, permanent: bool, retry_after: float | None
) -> None:
    with pytest.raises(VendorError) as caught:
        await _deliver(answer)
    assert (caught.value.permanent, caught.value.retry_after_s) == (permanent, retry_after)
    assert caught.value.status == answer.status_code


async def test_a_rep_without_a_slack_id_is_dead_at_once_with_the_reason() -> None:
    with pytest.raises(VendorError) as caught:
        await _deliver(httpx.Response(200, json={"ok": True}), members={})
    assert caught.value.permanent
    assert "crm_owner_ids.slack" in caught.value.message
    assert await _deliver(httpx.Response(200, json={"ok": True, "ts": "1.1"})) is not None


def test_settings_and_credentials_that_do_not_agree_name_the_field() -> None:
    token = SlackCredentials(bot_token=TOKEN)
    hook = SlackCredentials(webhook_url="https://hooks.slack.com/services/T1/B1/abc")
    assert CONNECTOR.check(SlackSettings(), token) == []
    assert [f for f, _ in CONNECTOR.check(SlackSettings(), hook)] == ["credentials.bot_token"]
    both = SlackSettings(
        breaches_to="manager_webhook", hooks_base_url="http://10.0.0.1", api_base_url="http://x"
    )
    with_hook = SlackCredentials(bot_token=TOKEN, manager_webhook_url=hook.webhook_url)
    assert [f for f, _ in CONNECTOR.check(both, with_hook)] == ["settings.hooks_base_url"]
    faked = SlackSettings(send_with="incoming_webhook", hooks_base_url="http://127.0.0.1:9")
    assert CONNECTOR.check(faked, hook) == [], "the one base in use may point at a fake"
