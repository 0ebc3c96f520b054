"""The generic signed activity webhook (kind `webhook`) on both runtimes: a dialer's call,
signed the Standard Webhooks way (computed here, independently of Leadfarm's code), stops
the first-touch clock and counts toward the cadence exactly like `POST /router/v1/leads/
{id}/activities`; the same activity (or the same webhook again) counts once; an activity
matching no lead or rep is refused with the reason while the others are logged; bad or
stale signatures and bad bodies are problems."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select

from router.models import activities
from services.clock import ManualClock
from tests.backends import ADMIN, Backend
from tests.integration.test_router_flow import add_rep, assigned, fire

HOOK = "/router/v1/connectors/dialer/webhooks"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed(
    body: bytes, at: int, *, msg_id: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    """The Standard Webhooks headers a dialer sends, computed from the specification."""
    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{at}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


async def post(
    backend: Backend, clock: ManualClock, activities: list[dict[str, Any]], **sign: Any
) -> Any:
    body = orjson.dumps({"activities": activities})
    headers = signed(body, int(clock.now().timestamp()), **sign)
    return await backend.client("router").post(HOOK, content=body, headers=headers)


async def test_a_dialers_call_stops_the_first_touch_clock_like_the_api(
    routed: tuple[Backend, ManualClock],
) -> None:
    backend, clock = routed
    router = backend.client("router")
    created = await router.put(
        "/router/v1/connectors/dialer",
        json={"kind": "webhook", "credentials": {"secret": SECRET}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    assert created.json()["credentials"] == {"secret": "set"}
    assert created.json()["webhook_url_path"] == HOOK
    assert SECRET not in created.text
    ana = await add_rep(backend, "ana", crm_owner_ids={"webhook": "dialer-17"})
    by_hook, _ = await assigned(backend, 1)
    by_api, _ = await assigned(backend, 2)
    clock.advance(timedelta(minutes=2))

    # The dialer's call on one lead, a rep's call through the API on the other.
    call = {
        "id": "call-1",
        "lead_id": by_hook,
        "rep": "dialer-17",
        "channel": "call",
        "outcome": "connected",
        "at": "2026-01-05T09:30:00Z",
        "note": "demo Thursday",
    }
    body = orjson.dumps({"activities": [call]})
    headers = signed(body, int(clock.now().timestamp()))
    response = await router.post(HOOK, content=body, headers=headers)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert (result["outcome"], result["lead_id"], result["event_id"]) == (
        "logged",
        by_hook,
        "call-1",
    )
    api = await router.post(
        f"/router/v1/leads/{by_api}/activities",
        json={"channel": "call", "outcome": "connected"},
        headers=ana,
    )
    assert api.status_code in (200, 201), api.text

    async def view(lead_id: str) -> dict[str, Any]:
        answer = await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    hooked, posted = await view(by_hook), await view(by_api)
    assert hooked["first_touch"] == "met"
    assert hooked["touched_at"] == clock.now().isoformat().replace("+00:00", "Z")
    for field in ("first_touch", "touched_at", "cadence", "status", "rep_id"):
        assert hooked[field] == posted[field], field

    # The same webhook again (a retry: the same webhook-id), and the same activity in a
    # new webhook: counted once.
    again = await router.post(HOOK, content=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["results"][0]["outcome"] == "duplicate"
    resent = await post(backend, clock, [call])
    assert resent.json()["results"][0]["outcome"] == "duplicate"
    events = await backend.timeline_with(by_hook, "leadfarm.contact.logged.v1")
    logged = [e for e in events if e["type"] == "leadfarm.contact.logged.v1"]
    assert len(logged) == 1
    async with backend.runtimes["router"].units["router"].read() as conn:
        note = await conn.scalar(select(activities.c.note).where(activities.c.lead_id == by_hook))
    assert note == "demo Thursday (at 2026-01-05T09:30:00Z in the tool)"

    # By the lead's email and the rep's Leadfarm id; one refused, the other logged.
    mixed = await post(
        backend,
        clock,
        [
            {
                "id": "email-1",
                "email": "Buyer2@acme.example",
                "rep_id": "ana",
                "channel": "email",
                "outcome": "sent",
            },
            {
                "id": "call-2",
                "lead_id": "no-such-lead",
                "rep": "dialer-17",
                "channel": "call",
                "outcome": "no_answer",
            },
            {
                "id": "call-3",
                "lead_id": by_api,
                "rep": "dialer-99",
                "channel": "call",
                "outcome": "no_answer",
            },
        ],
    )
    assert mixed.status_code == 422, mixed.text
    assert mixed.headers["content-type"] == "application/problem+json"
    errors = mixed.json()["errors"]
    assert [e["field"] for e in errors] == ["activities.1", "activities.2"]
    assert "matches no lead" in errors[0]["message"]
    assert "matches no rep" in errors[1]["message"]
    assert "crm_owner_ids.webhook = dialer-99" in errors[1]["message"]
    assert "1 were logged" in mixed.json()["detail"]
    assert (await view(by_api))["cadence"]["emails"]["made"] == 1

    # The deadline passes: no breach on either lead.
    clock.advance(timedelta(hours=1))
    await fire(backend)
    assert (await view(by_hook))["first_touch"] == "met"


async def test_bad_signatures_stale_webhooks_and_bad_bodies_are_problems(
    routed: tuple[Backend, ManualClock],
) -> None:
    backend, clock = routed
    router = backend.client("router")
    bad_secret = await router.put(
        "/router/v1/connectors/dialer",
        json={"kind": "webhook", "credentials": {"secret": "not-a-standard-webhooks-secret!"}},
        headers=ADMIN,
    )
    assert bad_secret.status_code == 422
    assert [e["field"] for e in bad_secret.json()["errors"]] == ["credentials.secret"]
    assert "not-a-standard" not in bad_secret.text
    created = await router.put(
        "/router/v1/connectors/dialer",
        json={"kind": "webhook", "credentials": {"secret": SECRET}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    await add_rep(backend, "ana", crm_owner_ids={"webhook": "dialer-17"})
    lead_id, _ = await assigned(backend, 1)
    call = {"id": "c", "lead_id": lead_id, "rep": "dialer-17", "channel": "call"}
    call["outcome"] = "connected"

    async def refused(response: Any, status: int, words: str) -> None:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.json()["detail"], response.json()

    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    await refused(await post(backend, clock, [call], secret=other), 401, "no v1 signature")
    body = orjson.dumps({"activities": [call]})
    stale = signed(body, int((clock.now() - timedelta(minutes=6)).timestamp()))
    await refused(await router.post(HOOK, content=body, headers=stale), 401, "expired")
    unsigned = {"content-type": "application/json"}
    await refused(await router.post(HOOK, content=body, headers=unsigned), 401, "missing")

    no_channel = await post(backend, clock, [{**call, "channel": None}])
    await refused(no_channel, 400, "not what a webhook connector takes")
    assert [e["field"] for e in no_channel.json()["errors"]] == ["activities.0.channel"]
    nobody = await post(backend, clock, [{"id": "x", "channel": "call", "outcome": "connected"}])
    assert nobody.status_code == 400, nobody.text
    assert "lead_id or email is required" in nobody.text
    not_json = b"calls: 1"
    garbled = await router.post(
        HOOK, content=not_json, headers=signed(not_json, int(clock.now().timestamp()))
    )
    assert garbled.status_code == 400
    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ADMIN)).json()
    assert view["first_touch"] == "pending", "nothing refused was counted"
