"""The Slack connector on both runtimes, against a local fake of Slack that checks each
request as Slack documents it (tests/fakes/slack.py): a lead posted to ingest and assigned
reaches the rep in Slack with its name, company, the deadline in the rep's zone and why;
the reminder before the deadline goes out when nobody touched the lead and not when a
call was logged or the lead moved on; a breach reaches the manager's channel; an outage is
retried and a refusal is dead with Slack's error while routing never waits; bad settings
are problems naming the field."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp

from services.clock import ManualClock
from tests.backends import ADMIN, Backend, EmbeddedBackend, eventually
from tests.fakes.slack import JSON, FakeSlack, Posted
from tests.integration.test_hubspot_connector import connector_worker
from tests.integration.test_router_flow import add_rep, fire, person

ASSIGNED = "leadfarm.lead.assigned.v1"
REMINDER = "leadfarm.reminder.first_touch"
TRICKY = "Dunn & <Bradstreet>"


@pytest.fixture
def slack(serve_api: Callable[[ASGIApp], str]) -> tuple[FakeSlack, str]:
    fake = FakeSlack(
        token=f"xoxb-1234-5678-{secrets.token_hex(12)}", members={"U0ANA", "U0BO", "C0MGRS"}
    )
    return fake, serve_api(fake.app())


async def connect(
    backend: Backend, base: str, credentials: dict[str, str], **settings: Any
) -> dict[str, Any]:
    response = await backend.client("router").put(
        "/router/v1/connectors/slack",
        json={
            "kind": "slack",
            "settings": {"api_base_url": f"{base}/api", "hooks_base_url": base, **settings},
            "credentials": credentials,
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    for secret in credentials.values():
        assert secret not in response.text
    return dict(response.json())


async def deliveries(backend: Backend, lead_id: str) -> list[dict[str, Any]]:
    response = await backend.client("router").get(
        "/router/v1/connectors/slack/deliveries", headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return sorted(
        (d for d in response.json() if d["lead_id"] == lead_id), key=lambda d: d["event_type"]
    )


async def lead_of(backend: Backend, n: int, **fields: Any) -> tuple[str, str]:
    """A lead posted to ingest and assigned: its id and its rep's."""
    lead_id = await backend.post_lead(**{**person(n), **fields})
    events = await backend.timeline_with(lead_id, ASSIGNED)
    return lead_id, next(e for e in events if e["type"] == ASSIGNED)["data"]["rep_id"]


async def received(fake: FakeSlack, to: str, n: int) -> list[Posted]:
    async def enough() -> list[Posted] | None:
        found = fake.messages(to)
        return found if len(found) >= n else None

    return await eventually(enough)


async def settled(backend: Backend, lead_id: str, event_type: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        found = [d for d in await deliveries(backend, lead_id) if d["event_type"] == event_type]
        return found[0] if found and found[0]["status"] != "pending" else None

    return await eventually(done)


async def test_the_rep_is_told_reminded_unless_they_touched_it_and_the_manager_hears_of_a_breach(
    routed: tuple[Backend, ManualClock],
    slack: tuple[FakeSlack, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    backend, clock = routed
    fake, base = slack
    router = backend.client("router")
    answer = await connect(
        backend,
        base,
        {"bot_token": fake.token},
        remind_before_minutes=2,
        breaches_to="manager_channel",
        manager_channel="C0MGRS",
        manager_time_zone="America/New_York",
        lead_link="https://crm.example.com/leads/{lead_id}",
    )
    assert answer["credentials"] == {"bot_token": "set"}
    assert answer["webhook_url_path"] is None, "Slack takes no activities in"
    await add_rep(backend, "ana", time_zone="Europe/Berlin", crm_owner_ids={"slack": "U0ANA"})
    bo = await add_rep(backend, "bo", time_zone="Europe/London", crm_owner_ids={"slack": "U0BO"})

    # Assigned (the deadline is five minutes away, 09:05 UTC): ana hears of it in Slack.
    missed, rep = await lead_of(backend, 1, company=TRICKY)
    assert rep == "ana"
    (told,) = await received(fake, "U0ANA", 1)
    assert told.path == "/api/chat.postMessage"
    assert told.headers["authorization"] == f"Bearer {fake.token}"
    assert told.headers["content-type"] == JSON
    assert set(told.body) == {"channel", "text", "blocks"}
    assert told.channel == "U0ANA"
    events = await backend.timeline_with(missed, ASSIGNED)
    data = next(e for e in events if e["type"] == ASSIGNED)["data"]
    assert told.text == (
        "New lead for you: Dana Lee (Dunn &amp; &lt;Bradstreet&gt;). "
        "First touch by Mon 5 Jan 10:05 CET. "
        f"Why: {data['why']} (rule {data['rule']}, pool {data['pool']})."
    )
    blocks = told.body["blocks"]
    assert blocks[0] == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*New lead for you: Dana Lee (Dunn &amp; &lt;Bradstreet&gt;)*",
        },
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert "*First touch by*\nMon 5 Jan 10:05 CET" in fields
    assert "*Company*\nDunn &amp; &lt;Bradstreet&gt;" in fields
    assert blocks[2]["text"]["text"].startswith("*Why you*\n")
    assert blocks[-1]["elements"][0]["text"] == (
        f"Leadfarm · <https://crm.example.com/leads/{missed}|Open lead {missed}>"
    )

    # Bo gets the next one and calls at once; ana does nothing with hers.
    worked, rep = await lead_of(backend, 2)
    assert rep == "bo"
    (bos,) = await received(fake, "U0BO", 1)
    assert "Mon 5 Jan 09:05 GMT" in bos.text, "bo's deadline in bo's zone"
    clock.advance(timedelta(minutes=1))
    call = {"channel": "call", "outcome": "no_answer"}
    logged = await router.post(f"/router/v1/leads/{worked}/activities", json=call, headers=bo)
    assert logged.status_code == 201, logged.text

    # Two minutes before the deadline: the reminders come due (durably queued rows).
    clock.advance(timedelta(seconds=119))
    connector_worker(backend).wake()
    assert [d["status"] for d in await deliveries(backend, missed)] == ["delivered", "pending"]
    clock.advance(timedelta(seconds=1))
    connector_worker(backend).wake()
    reminded = await settled(backend, missed, REMINDER)
    assert reminded["status"] == "delivered", reminded
    _, reminder = await received(fake, "U0ANA", 2)
    assert reminder.text == (
        "Reminder: first touch on Dana Lee (Dunn &amp; &lt;Bradstreet&gt;) is due by "
        "Mon 5 Jan 10:05 CET; no call or email is logged yet."
    )
    skipped = await settled(backend, worked, REMINDER)
    assert skipped["status"] == "skipped"
    assert skipped["last_error"] == "the rep touched the lead before the reminder"
    assert skipped["last_status_code"] is None
    assert len(fake.messages("U0BO")) == 1, "bo, who called, is not reminded"

    # The deadline passes: ana's lead goes to bo, and the managers hear of it.
    clock.advance(timedelta(minutes=2))
    assert await fire(backend) == 1
    (breach,) = await received(fake, "C0MGRS", 1)
    assert breach.headers["authorization"] == f"Bearer {fake.token}"
    assert breach.text == (
        "Ana missed the first-touch SLA on Dana Lee (Dunn &amp; &lt;Bradstreet&gt;): due "
        "Mon 5 Jan 04:05 EST (Mon 5 Jan 10:05 CET for Ana). The router: reassigned to bo. "
        f"Lead {missed}."
    )
    _, moved = await received(fake, "U0BO", 2)
    assert moved.text.startswith("Lead reassigned to you: Dana Lee")
    assert "First touch by Mon 5 Jan 09:10 GMT" in moved.text

    # Nothing of Leadfarm's logs the token or the lead's details (aiokafka's DEBUG lines
    # print the records it produces, whatever they hold).
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiokafka"))
    assert fake.token not in ours
    assert "Bradstreet" not in ours
    assert fake.refused == []


async def test_a_channel_webhook_names_the_rep_and_a_reassigned_leads_old_reminder_is_skipped(
    routed: tuple[Backend, ManualClock], slack: tuple[FakeSlack, str]
) -> None:
    backend, clock = routed
    fake, base = slack
    channel, managers = fake.add_webhook(), fake.add_webhook(bot="B0002")
    router = backend.client("router")
    await connect(
        backend,
        base,
        {
            "webhook_url": f"https://hooks.slack.com{channel}",
            "manager_webhook_url": f"https://hooks.slack.com{managers}",
        },
        send_with="incoming_webhook",
        remind_before_minutes=3,
        breaches_to="manager_webhook",
    )
    ana = await add_rep(backend, "ana", crm_owner_ids={"slack": "U0ANA"})
    await add_rep(backend, "bo")  # no Slack id: named, not mentioned

    lead_id, rep = await lead_of(backend, 1)
    assert rep == "ana"
    (told,) = await received(fake, channel, 1)
    assert "authorization" not in told.headers, "an incoming webhook's URL is its secret"
    assert told.headers["content-type"] == JSON
    assert set(told.body) == {"text", "blocks"}
    assert told.text.startswith("<@U0ANA> New lead for you: Dana Lee (Acme GmbH).")
    assert "First touch by Mon 5 Jan 09:05 UTC" in told.text

    # Ana hands it back before the reminder: bo has it; ana's reminder is not sent.
    clock.advance(timedelta(minutes=1))
    rejected = await router.post(
        f"/router/v1/leads/{lead_id}/reject", json={"reason": "on holiday"}, headers=ana
    )
    assert rejected.json()["outcome"] == "reassigned"
    _, moved = await received(fake, channel, 2)
    assert moved.text.startswith("Lead reassigned to you: Dana Lee")
    clock.advance(timedelta(minutes=1))
    connector_worker(backend).wake()

    async def both_reminders_settled() -> list[dict[str, Any]] | None:
        found = [d for d in await deliveries(backend, lead_id) if d["event_type"] == REMINDER]
        done = [d for d in found if d["status"] != "pending"]
        return found if len(found) == 2 and len(done) == 1 else None

    reminders = await eventually(both_reminders_settled)
    old = next(d for d in reminders if d["status"] != "pending")
    assert (old["status"], old["last_error"]) == (
        "skipped",
        "the lead was reassigned or closed since",
    )
    # Bo's own reminder, three minutes before bo's deadline (09:01 + 5 min), is sent.
    clock.advance(timedelta(minutes=1))
    connector_worker(backend).wake()
    assert (await settled_all(backend, lead_id, REMINDER)) == ["delivered", "skipped"]
    posted = fake.messages(channel)
    assert len(posted) == 3
    assert posted[2].text.startswith("Reminder: first touch on Dana Lee (Acme GmbH)")
    assert "<@" not in posted[2].text, "bo has no Slack id"

    # The deadline passes untouched: the managers' webhook hears of it, in the rep's zone.
    clock.advance(timedelta(minutes=3))
    assert await fire(backend) == 1
    (breach,) = await received(fake, managers, 1)
    assert "authorization" not in breach.headers
    assert breach.text.startswith(
        "Bo missed the first-touch SLA on Dana Lee (Acme GmbH): due Mon 5 Jan 09:06 UTC."
    )


async def settled_all(backend: Backend, lead_id: str, event_type: str) -> list[str]:
    async def done() -> list[str] | None:
        found = [d for d in await deliveries(backend, lead_id) if d["event_type"] == event_type]
        statuses = sorted(d["status"] for d in found)
        return statuses if "pending" not in statuses else None

    return list(await eventually(done))


async def test_a_slack_outage_is_retried_a_refusal_is_dead_and_routing_never_waits(
    routed: tuple[Backend, ManualClock], slack: tuple[FakeSlack, str]
) -> None:
    backend, clock = routed
    fake, base = slack
    router = backend.client("router")
    await connect(backend, base, {"bot_token": fake.token})
    await add_rep(backend, "ana", crm_owner_ids={"slack": "U0ANA"})
    worker = connector_worker(backend)

    # Slack answers 503, then 429 ratelimited with Retry-After, then takes it.
    fake.fail_next(503)
    fake.fail_next(429, retry_after="30")
    lead_id, _ = await lead_of(backend, 1)  # routing did not wait for Slack

    async def attempted(n: int) -> dict[str, Any] | None:
        found = await deliveries(backend, lead_id)
        return found[0] if found and found[0]["attempts"] >= n else None

    first = await eventually(lambda: attempted(1))
    assert (first["status"], first["last_status_code"]) == ("pending", 503)
    assert first["last_error"].startswith("Slack answered 503 to chat.postMessage")
    clock.advance(timedelta(seconds=5))
    worker.wake()
    second = await eventually(lambda: attempted(2))
    assert (second["status"], second["last_status_code"]) == ("pending", 429)
    assert second["next_attempt_at"] == (clock.now() + timedelta(seconds=30)).isoformat().replace(
        "+00:00", "Z"
    ), "Retry-After asked for 30 s, more than the 10 s backoff"
    clock.advance(timedelta(seconds=30))
    worker.wake()
    third = await eventually(lambda: attempted(3))
    assert third["status"] == "delivered", third
    assert len(fake.messages("U0ANA")) == 1

    # ok:false ratelimited (HTTP 200) is retried too; then a permanent refusal is dead.
    fake.fail_next(200, error="ratelimited", retry_after="20")
    fake.fail_next(200, error="account_inactive")
    refused, _ = await lead_of(backend, 2)
    limited = await eventually(lambda: _attempts(backend, refused, 1))
    assert (limited["status"], limited["last_error"]) == (
        "pending",
        "Slack refused chat.postMessage: ratelimited",
    )
    assert limited["next_attempt_at"] == (clock.now() + timedelta(seconds=20)).isoformat().replace(
        "+00:00", "Z"
    )
    clock.advance(timedelta(seconds=20))
    worker.wake()

    async def dead() -> dict[str, Any] | None:
        found = await deliveries(backend, refused)
        return found[0] if found[0]["status"] == "dead" else None

    gone = await eventually(dead)
    assert (gone["attempts"], gone["last_status_code"]) == (2, 200)
    assert gone["last_error"] == "Slack refused chat.postMessage: account_inactive"
    assert (await router.get(f"/router/v1/leads/{refused}/assignment", headers=ADMIN)).json()[
        "rep_id"
    ] == "ana"

    # A rep Slack does not know: dead at once with Slack's channel_not_found.
    patched = await router.patch(
        "/router/v1/reps/ana", json={"crm_owner_ids": {"slack": "U0GONE"}}, headers=ADMIN
    )
    assert patched.status_code == 200, patched.text
    unknown, _ = await lead_of(backend, 3)

    async def dead_unknown() -> dict[str, Any] | None:
        found = await deliveries(backend, unknown)
        return found[0] if found and found[0]["status"] == "dead" else None

    lost = await eventually(dead_unknown)
    assert (lost["attempts"], lost["last_error"]) == (
        1,
        "Slack refused chat.postMessage: channel_not_found",
    )


async def _attempts(backend: Backend, lead_id: str, n: int) -> dict[str, Any] | None:
    found = await deliveries(backend, lead_id)
    return found[0] if found and found[0]["attempts"] >= n else None


async def test_a_removed_incoming_webhook_is_dead_with_slacks_answer(
    tmp_path: Path, slack: tuple[FakeSlack, str]
) -> None:
    fake, base = slack
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        await connect(
            backend,
            base,
            {"webhook_url": "https://hooks.slack.com/services/T0001/B0001/gone0gone0gone"},
            send_with="incoming_webhook",
        )
        await add_rep(backend, "ana")
        lead_id, _ = await lead_of(backend, 1)

        async def dead() -> dict[str, Any] | None:
            found = await deliveries(backend, lead_id)
            return found[0] if found and found[0]["status"] == "dead" else None

        gone = await eventually(dead)
    finally:
        await backend.stop()
    assert (gone["attempts"], gone["last_status_code"]) == (1, 404)
    assert gone["last_error"] == "Slack answered 404 to the incoming webhook: no_service"
    assert fake.messages() == []


async def test_bad_slack_settings_are_problems_naming_the_field(tmp_path: Path) -> None:
    backend = await EmbeddedBackend(tmp_path).start()
    token = "xoxb-1234-5678-s3cr3tvalue"
    try:
        router = backend.client("router")

        async def refused(settings: dict[str, Any], credentials: dict[str, str]) -> list[str]:
            response = await router.put(
                "/router/v1/connectors/slack",
                json={"kind": "slack", "settings": settings, "credentials": credentials},
                headers=ADMIN,
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "s3cr3t" not in response.text
            return [e["field"] for e in response.json()["errors"]]

        hook = {"webhook_url": "https://hooks.slack.com/services/T0001/B0001/s3cr3t"}
        assert await refused({}, {}) == ["credentials.bot_token"]
        assert await refused({"send_with": "incoming_webhook"}, {"bot_token": token}) == [
            "credentials.webhook_url"
        ]
        assert await refused(
            {"send_with": "incoming_webhook"},
            {"webhook_url": "https://example.com/services/T0001/B0001/s3cr3t"},
        ) == ["credentials.webhook_url"]
        assert await refused({}, {"bot_token": "xoxp-user-s3cr3t-token"}) == [
            "credentials.bot_token"
        ]
        for bad in (0, -5, 2000, "soon"):
            assert await refused({"remind_before_minutes": bad}, {"bot_token": token}) == [
                "settings.remind_before_minutes"
            ]
        assert await refused({"breaches_to": "manager_channel"}, {"bot_token": token}) == [
            "settings.manager_channel"
        ]
        assert await refused(
            {"send_with": "incoming_webhook", "breaches_to": "manager_webhook"}, hook
        ) == ["credentials.manager_webhook_url"]
        for zone in ("Mars/Olympus", "../../etc/passwd"):
            assert await refused({"manager_time_zone": zone}, {"bot_token": token}) == [
                "settings.manager_time_zone"
            ]
        long_zone = await router.post(
            "/router/v1/reps",
            json={"id": "z", "name": "Z", "email": "z@example.com", "time_zone": "a" * 300},
            headers=ADMIN,
        )
        assert long_zone.status_code == 422, long_zone.text
        assert long_zone.json()["errors"][0]["field"] == "time_zone"
        assert await refused(
            {"lead_link": "https://crm.example.com/leads"}, {"bot_token": token}
        ) == ["settings.lead_link"]
        bad_rep = await router.post(
            "/router/v1/reps",
            json={
                "id": "x",
                "name": "X",
                "email": "x@example.com",
                "crm_owner_ids": {"slack": "U 1"},
            },
            headers=ADMIN,
        )
        assert bad_rep.status_code == 422, bad_rep.text
        assert bad_rep.json()["errors"][0]["field"].startswith("crm_owner_ids.slack")
    finally:
        await backend.stop()


async def test_a_queued_reminder_survives_a_restart(
    tmp_path: Path, slack: tuple[FakeSlack, str]
) -> None:
    fake, base = slack
    clock = ManualClock()
    backend = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    try:
        await connect(backend, base, {"bot_token": fake.token}, remind_before_minutes=2)
        await add_rep(backend, "ana", crm_owner_ids={"slack": "U0ANA"})
        lead_id, _ = await lead_of(backend, 1)
        await received(fake, "U0ANA", 1)
    finally:
        await backend.stop()
    clock.advance(timedelta(minutes=3))
    again = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    try:
        connector_worker(again).wake()
        _, reminder = await received(fake, "U0ANA", 2)
        assert reminder.text.startswith("Reminder: first touch on Dana Lee (Acme GmbH)")
        assert (await settled(again, lead_id, REMINDER))["status"] == "delivered"
    finally:
        await again.stop()
