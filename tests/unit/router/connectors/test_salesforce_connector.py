"""The Salesforce connector against the local fake Salesforce (tests/fakes/salesforce.py),
in process (httpx's ASGI transport): the exact token requests of both OAuth flows (the JWT
assertion verified with the certificate's public key), the Lead upserts by external id and
by email (the SOQL literal escaped), a token refreshed once on INVALID_SESSION_ID, which
answers are retried and which are dead at once (with Salesforce's errorCode and message),
Task and Event records read as activities, the webhook's signature, and the account sync's
pages, cursor and domains."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ingest.providers.base import Unauthorized
from router.connectors.base import BadWebhook, ConnectorConfig, Delivery, Target, VendorError
from router.connectors.salesforce import Salesforce
from router.connectors.salesforce_accounts import website_domain
from router.connectors.salesforce_api import soql_quote
from router.connectors.salesforce_settings import SalesforceCredentials, SalesforceSettings
from router.records import RepRecord, parsed
from tests.fakes.salesforce import FakeSalesforce

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BASE = "http://sf.test"
ANA = "005000000000101AAA"
QUEUE = "00G000000000001AAA"
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE, PUBLIC = rsa_pair()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def fake(**overrides: Any) -> FakeSalesforce:
    values: dict[str, Any] = {
        "client_id": "3MVG9consumer-key",
        "client_secret": "consumer-secret-value",
        "public_key": PUBLIC,
        "username": "leadfarm@acme.example",
        "audience": BASE,
        "users": {ANA, QUEUE},
        "external_id_fields": {"Leadfarm_Lead_Id__c"},
        "custom_fields": {"Leadfarm_Lead_Id__c", "Leadfarm_Why__c"},
        "assignment_rule_owner": "00G000000000077AAA",
        "base": BASE,
    }
    return FakeSalesforce(**(values | overrides))


def client(sf: FakeSalesforce) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sf.app()))


def target(sf: FakeSalesforce, connector_id: str = "sf", **settings: Any) -> Target:
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
            "crm_owner_ids": {"salesforce": ANA},
        },
    )
    settings = {"login_url": BASE, **settings}
    credentials = {"client_id": sf.client_id, "webhook_secret": WHSEC}
    if settings.get("auth") == "jwt_bearer":
        credentials["private_key"] = PRIVATE
    else:
        credentials["client_secret"] = sf.client_secret or ""
    return Target(
        connector=ConnectorConfig(connector_id, "salesforce", settings, "sealed", True),
        settings=SalesforceSettings.model_validate(settings),
        credentials=SalesforceCredentials.model_validate(credentials),
        reps={"ana": rep},
    )


LEAD = {
    "email": "dana@acme.example",
    "first_name": "Dana",
    "last_name": "Lee",
    "company": "Acme GmbH",
    "phone": "+49305550001",
    "country": "DE",
    "source": "web",
}


def delivery(lead: dict[str, Any] | None = None, kind: str = "assigned", **data: Any) -> Delivery:
    payload: dict[str, Any] = {
        "type": f"leadfarm.lead.{kind}.v1",
        "timestamp": "2026-01-05T09:00:00Z",
        "subject": "lead-1",
        "data": {
            "lead_id": "lead-1",
            "rep_id": "ana",
            "why": "its turn in the round robin",
            "rule": "emea",
            "pool": "sdr",
            "strategy": "round_robin",
            "lead": LEAD if lead is None else lead,
            **data,
        },
    }
    return Delivery(
        "d1", "sf", "e1", payload["type"], "lead-1", orjson.dumps(payload).decode(), 0, NOW
    )


async def test_jwt_bearer_asks_a_token_with_a_verifiable_assertion_and_upserts_by_external_id() -> (
    None
):
    sf = fake()
    connector = Salesforce()
    settings: dict[str, Any] = {
        "auth": "jwt_bearer",
        "username": sf.username,
        "lead_id_field": "Leadfarm_Lead_Id__c",
    }
    async with client(sf) as http:
        written = await connector.deliver(delivery(), target(sf, **settings), http)
        again = await connector.deliver(delivery(), target(sf, **settings), http)
    (token,) = sf.requests("POST", "/services/oauth2/token")
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert set(token.body) == {"grant_type", "assertion"}
    assert token.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(token.body["assertion"], PUBLIC, algorithms=["RS256"], audience=BASE)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (sf.client_id, sf.username, BASE)
    assert 0 < claims["exp"] - datetime.now(UTC).timestamp() <= 180
    assert jwt.get_unverified_header(token.body["assertion"])["alg"] == "RS256"

    path = "/services/data/v61.0/sobjects/Lead/Leadfarm_Lead_Id__c/lead-1"
    first, _second = sf.requests("PATCH", path)
    assert first.headers["authorization"].startswith("Bearer 00D")
    assert first.headers["content-type"] == "application/json"
    assert first.headers["sforce-auto-assign"] == "FALSE"
    assert first.body == {
        "LastName": "Lee",
        "Company": "Acme GmbH",
        "FirstName": "Dana",
        "Email": "dana@acme.example",
        "Phone": "+49305550001",
        "Country": "DE",
        "OwnerId": ANA,
        "Leadfarm_Why__c": "Assigned to Ana by Leadfarm: its turn in the round robin "
        "(rule emea, pool sdr, strategy round_robin)",
    }
    assert written.record_id == again.record_id
    assert written.record_id is not None
    assert written.record_id.startswith("00Q")
    (lead,) = sf.leads.values()
    assert (lead["OwnerId"], lead["Leadfarm_Lead_Id__c"]) == (ANA, "lead-1")


async def test_client_credentials_and_an_upsert_by_email_with_the_soql_literal_escaped() -> None:
    sf = fake()
    connector = Salesforce()
    lead = {**LEAD, "email": "o'brien\\x@acme.example", "last_name": None, "company": None}
    async with client(sf) as http:
        created = await connector.deliver(delivery(lead), target(sf), http)
        updated = await connector.deliver(delivery(lead), target(sf), http)
    (token,) = sf.requests("POST", "/services/oauth2/token")
    assert token.body == {
        "grant_type": "client_credentials",
        "client_id": sf.client_id,
        "client_secret": sf.client_secret,
    }
    first, _ = sf.requests("GET", "/services/data/v61.0/query")
    assert first.query["q"] == (
        "SELECT Id FROM Lead WHERE Email = 'o\\'brien\\\\x@acme.example' "
        "AND IsConverted = false ORDER BY CreatedDate LIMIT 1"
    )
    (post,) = sf.requests("POST", "/services/data/v61.0/sobjects/Lead")
    # Salesforce requires LastName and Company: the email's local part and domain stand in.
    assert (post.body["LastName"], post.body["Company"]) == ("o'brien\\x", "acme.example")
    (patch,) = sf.requests("PATCH", f"/services/data/v61.0/sobjects/Lead/{created.record_id}")
    assert patch.body["OwnerId"] == ANA
    assert created.record_id == updated.record_id


def test_soql_quote_escapes_what_a_soql_string_literal_needs() -> None:
    assert soql_quote("a'b\\c\nd\"e") == "a\\'b\\\\c\\nd\\\"e"


async def test_an_expired_token_is_asked_again_once() -> None:
    sf = fake()
    connector = Salesforce()
    settings = {"lead_id_field": "Leadfarm_Lead_Id__c"}
    async with client(sf) as http:
        await connector.deliver(delivery(), target(sf, **settings), http)
        sf.expire_tokens()
        await connector.deliver(delivery(), target(sf, **settings), http)
        assert len(sf.requests("POST", "/services/oauth2/token")) == 2
        # A token that is refused again is not asked for a third time in the same delivery.
        sf.fail_next(401, times=2, code="INVALID_SESSION_ID", message="Session expired")
        with pytest.raises(VendorError) as raised:
            await connector.deliver(delivery(), target(sf, **settings), http)
    assert len(sf.requests("POST", "/services/oauth2/token")) == 3
    assert (raised.value.status, raised.value.permanent) == (401, False)
    assert "INVALID_SESSION_ID: Session expired" in raised.value.message


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, "REQUIRED_FIELD_MISSING", True),
        (404, "NOT_FOUND", True),
        (300, "MULTIPLE_CHOICES", True),
        (403, "REQUEST_LIMIT_EXCEEDED", False),
        (403, "INSUFFICIENT_ACCESS", False),
        (429, "REQUEST_LIMIT_EXCEEDED", False),
        (503, "SERVER_UNAVAILABLE", False),
        (500, "UNKNOWN_EXCEPTION", False),
    ],
)
async def test_which_answers_are_retried_and_which_are_dead_at_once(
    status: int, code: str, permanent: bool
) -> None:
    sf = fake()
    connector = Salesforce()
    async with client(sf) as http:
        await connector.session(target(sf), http)
        sf.fail_next(status, code=code, message="what Salesforce says")
        with pytest.raises(VendorError) as raised:
            await connector.deliver(delivery(), target(sf), http)
    assert (raised.value.status, raised.value.permanent) == (status, permanent)
    assert f"{code}: what Salesforce says" in raised.value.message
    assert "dana" not in raised.value.message, "the query (with the email) is never quoted"


async def test_salesforces_messages_never_carry_the_leads_personal_data() -> None:
    sf = fake()
    async with client(sf) as http:
        sf.fail_next(
            400,
            code="INVALID_EMAIL_ADDRESS",
            message="Email: invalid email address: dana@acme.example (Dana Lee, +49305550001)",
        )
        with pytest.raises(VendorError) as raised:
            await Salesforce().deliver(delivery(), target(sf), http)
    assert raised.value.message.endswith(
        "INVALID_EMAIL_ADDRESS: Email: invalid email address: [lead data] ([lead data] "
        "[lead data], [lead data])"
    )


async def test_a_wrong_field_or_owner_is_dead_with_salesforces_error_and_a_bad_secret_retried() -> (
    None
):
    sf = fake(custom_fields=set())
    connector = Salesforce()
    async with client(sf) as http:
        with pytest.raises(VendorError) as no_field:
            await connector.deliver(delivery(), target(sf), http)
        assert no_field.value.permanent
        assert "INVALID_FIELD: No such column 'Leadfarm_Why__c'" in no_field.value.message
        with pytest.raises(VendorError) as no_owner:
            await connector.deliver(
                delivery(kind="returned", reason="cadence exhausted"),
                target(
                    sf,
                    why_field="Description",
                    on_return="set_owner",
                    return_owner_id="00G000000000009AAA",
                ),
                http,
            )
        assert no_owner.value.permanent
        assert "FIELD_INTEGRITY_EXCEPTION" in no_owner.value.message
        wrong = fake(client_secret="another-secret-value")
        async with client(wrong) as other:
            with pytest.raises(VendorError) as refused:
                await Salesforce().deliver(delivery(), target(sf), other)
    assert (refused.value.status, refused.value.permanent) == (400, False)
    assert "invalid_client" in refused.value.message
    assert "consumer-secret-value" not in refused.value.message


async def test_a_token_naming_another_host_is_refused() -> None:
    sf = fake(base="http://elsewhere.test")
    async with client(sf) as http:
        with pytest.raises(VendorError, match="instance_url") as raised:
            await Salesforce().deliver(delivery(), target(sf), http)
    assert raised.value.permanent


async def test_a_return_to_marketing_sets_the_queue_and_says_why() -> None:
    sf = fake()
    settings = {"on_return": "set_owner", "return_owner_id": QUEUE}
    async with client(sf) as http:
        await Salesforce().deliver(
            delivery(kind="returned", reason="cadence exhausted without a connection"),
            target(sf, **settings),
            http,
        )
    (created,) = sf.leads.values()
    assert created["OwnerId"] == QUEUE
    assert created["Leadfarm_Why__c"] == (
        "Returned to marketing by Leadfarm: cadence exhausted without a connection"
    )


async def test_a_reassignment_says_why_and_a_long_explanation_fits_the_field() -> None:
    sf = fake()
    reassigned = delivery(
        kind="reassigned",
        from_rep_id="bo",
        reason="the first touch was missed",
        why="w" * 400,
        first_touch_due_at="2026-01-05T10:00:00Z",
    )
    async with client(sf) as http:
        await Salesforce().deliver(reassigned, target(sf, why_max_length=300), http)
    (created,) = sf.leads.values()
    why = created["Leadfarm_Why__c"]
    assert why.startswith("Reassigned to Ana by Leadfarm: www")
    assert len(why) == 300
    assert why.endswith("…")
    async with client(sf) as http:
        await Salesforce().deliver(
            delivery(kind="reassigned", from_rep_id="bo", reason="the first touch was missed"),
            target(sf),
            http,
        )
    assert created["Leadfarm_Why__c"] == (
        "Reassigned to Ana by Leadfarm: its turn in the round robin (rule emea, pool sdr, "
        "strategy round_robin). Reassigned because: the first touch was missed"
    )


async def test_a_rep_without_a_salesforce_id_or_a_lead_without_email_is_dead_with_why() -> None:
    sf = fake()
    async with client(sf) as http:
        with pytest.raises(VendorError, match="no Salesforce user id") as no_owner:
            await Salesforce().deliver(delivery(rep_id="bo"), target(sf), http)
        with pytest.raises(VendorError, match="has no email") as no_email:
            await Salesforce().deliver(delivery({"phone": "+4930"}), target(sf), http)
    assert no_owner.value.permanent
    assert no_email.value.permanent
    assert sf.seen == []


def test_settings_and_credentials_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="username is required"):
        SalesforceSettings.model_validate({"login_url": BASE, "auth": "jwt_bearer"})
    with pytest.raises(ValueError, match="not a PEM private key"):
        SalesforceCredentials.model_validate({"client_id": "3MVG9abc", "private_key": "x" * 200})
    ec = ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="must be an RSA key"):
        SalesforceCredentials.model_validate({"client_id": "3MVG9abc", "private_key": ec.decode()})
    with pytest.raises(ValueError, match="whsec_"):
        SalesforceCredentials.model_validate({"client_id": "3MVG9abc", "webhook_secret": "plain"})
    settings = SalesforceSettings.model_validate(
        {"login_url": BASE, "auth": "jwt_bearer", "username": "u@x.example"}
    )
    credentials = SalesforceCredentials.model_validate(
        {"client_id": "3MVG9abc", "client_secret": "consumer-secret"}
    )
    assert Salesforce().check(settings, credentials) == [
        ("credentials.private_key", "required when settings.auth is jwt_bearer")
    ]


# --- in ---------------------------------------------------------------------------------------


async def read(records: list[Any], **settings: Any) -> list[Any]:
    sf = fake()
    async with client(sf) as http:
        return await Salesforce().read(orjson.dumps(records), target(sf, **settings), http)


@pytest.mark.parametrize(
    ("subtype", "disposition", "settings", "channel", "outcome"),
    [
        ("Call", "Connected", {}, "call", "connected"),
        ("Call", "left voicemail", {}, "call", "voicemail"),
        ("Call", "No Answer", {}, "call", "no_answer"),
        ("Call", "Wrong number", {}, "call", "bad_number"),
        ("Call", None, {}, "call", "other"),
        (
            "Call",
            "Demo Set",
            {"call_outcomes": {"demo set": "meeting_booked"}},
            "call",
            "meeting_booked",
        ),
        ("Email", None, {}, "email", "sent"),
    ],
)
async def test_a_task_is_a_call_or_an_email(
    subtype: str,
    disposition: str | None,
    settings: dict[str, Any],
    channel: str,
    outcome: str,
) -> None:
    sf = fake()
    task = sf.task(
        "00Q000000000001AAA", ANA, subtype, disposition=disposition, who_email="Dana@Acme.example"
    )
    (event,) = await read([task], **settings)
    assert event.event_id == task["Id"]
    assert event.activity is not None
    assert (event.activity.channel, event.activity.outcome) == (channel, outcome)
    assert event.activity.external_id == f"task:{task['Id']}"
    assert event.activity.owner_id == ANA
    assert event.activity.record_ids == ("00Q000000000001AAA",)
    assert event.activity.emails == ("dana@acme.example",)


async def test_a_generic_task_uses_its_type_open_tasks_and_others_are_ignored() -> None:
    sf = fake()
    typed = {**sf.task("00Q000000000001AAA", ANA, "Task"), "Type": "Call"}
    open_call = sf.task("00Q000000000001AAA", ANA, "Call", status="Not Started")
    other = sf.task("00Q000000000001AAA", ANA, "Task")
    listed = sf.task("00Q000000000001AAA", ANA, "ListEmail")
    meeting = sf.event("00Q000000000001AAA", ANA)
    who = {**sf.task("00Q000000000001AAA", ANA, "Call"), "Who": {"Leadfarm_Lead_Id__c": "L-9"}}
    events = await read(
        [typed, open_call, other, listed, meeting, who], lead_id_field="Leadfarm_Lead_Id__c"
    )
    assert events[0].activity is not None
    assert events[0].activity.channel == "call"
    assert events[1].activity is None
    assert "open Task" in (events[1].ignored or "")
    assert events[2].activity is None
    assert events[3].activity is None
    assert events[4].activity is not None
    assert (events[4].activity.channel, events[4].activity.outcome) == ("meeting", "meeting_booked")
    assert events[4].activity.external_id == f"event:{meeting['Id']}"
    assert events[5].activity is not None
    assert events[5].activity.lead_ids == ("L-9",)


async def test_a_lead_the_body_says_nothing_of_is_asked_of_salesforce() -> None:
    sf = fake()
    known = sf.add_lead(LastName="Lee", Company="Acme", Email="Dana@Acme.example")
    tagged = sf.add_lead(LastName="Ng", Company="Acme", Leadfarm_Lead_Id__c="L-7")
    calls = [
        sf.task(known, ANA, "Call"),
        sf.task(known, ANA, "Email"),
        sf.task(tagged, ANA, "Call"),
        sf.task("00Q000000000999AAA", ANA, "Call"),  # deleted since
        sf.task("003000000000001AAA", ANA, "Call"),  # a Contact: not a Lead
        sf.task(known, ANA, "Call", who_email="given@acme.example"),
    ]
    settings = {"lead_id_field": "Leadfarm_Lead_Id__c"}
    async with client(sf) as http:
        events = await Salesforce().read(orjson.dumps(calls), target(sf, **settings), http)
    found = [(e.activity.emails, e.activity.lead_ids) for e in events if e.activity]
    assert found == [
        (("dana@acme.example",), ()),
        (("dana@acme.example",), ()),
        ((), ("L-7",)),
        ((), ()),
        ((), ()),
        (("given@acme.example",), ()),
    ]
    asked = [s for s in sf.seen if s.method == "GET" and "/sobjects/Lead/" in s.path]
    assert sorted(s.path.rpartition("/")[2] for s in asked) == sorted(
        [known, tagged, "00Q000000000999AAA"]
    ), "each Lead once, and only Leads the body says nothing of"
    assert asked[0].query == {"fields": "Id,Email,Leadfarm_Lead_Id__c"}
    assert asked[0].headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{", ""),
        (b'{"Id": "00T000000000001AAA"}', ""),
        (b"[1]", "0"),
        (b'[{"attributes": {"type": "Task"}}]', "0/Id"),
        (b'[{"attributes": {"type": "Task"}, "Id": "x"}]', "0/Id"),
        (b'[{"Id": "00T000000000001AAA"}]', "0/attributes/type"),
        (
            b'[{"attributes": {"type": "Task"}, "Id": "00T000000000001AAA", "OwnerId": 5}]',
            "0/OwnerId",
        ),
        (
            b'[{"attributes": {"type": "Task"}, "Id": "00T000000000001AAA", "WhoId": "a b"}]',
            "0/WhoId",
        ),
    ],
)
async def test_a_body_that_is_not_task_and_event_records_names_the_field(
    body: bytes, field: str
) -> None:
    sf = fake()
    async with client(sf) as http:
        with pytest.raises(BadWebhook) as raised:
            await Salesforce().read(body, target(sf), http)
    assert raised.value.field == field


def test_the_webhook_signature_is_standard_webhooks_within_the_window() -> None:
    sf = fake()
    body, headers = FakeSalesforce.webhook([sf.task(None, ANA, "Call")], WHSEC, NOW)
    connector, hook = Salesforce(), "http://lf/router/v1/connectors/sf/webhooks"
    connector.verify("POST", hook, headers, body, NOW + timedelta(seconds=30), target(sf))
    with pytest.raises(Unauthorized, match="no v1 signature in webhook-signature matches"):
        connector.verify("POST", hook, headers, body + b" ", NOW, target(sf))
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    _, forged = FakeSalesforce.webhook([], other, NOW)
    with pytest.raises(Unauthorized, match="no v1 signature in webhook-signature matches"):
        connector.verify(
            "POST",
            hook,
            {**headers, **{"webhook-signature": forged["webhook-signature"]}},
            body,
            NOW,
            target(sf),
        )
    with pytest.raises(Unauthorized, match="expired"):
        connector.verify("POST", hook, headers, body, NOW + timedelta(minutes=6), target(sf))
    with pytest.raises(Unauthorized, match="missing"):
        connector.verify("POST", hook, {}, body, NOW, target(sf))


# --- accounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.Acme.example/about?x=1", "acme.example"),
        ("acme.example", "acme.example"),
        ("WWW.ACME.EXAMPLE:8443", "acme.example"),
        ("http://shop.acme.example.", "shop.acme.example"),
        ("", None),
        (None, None),
        ("not a site", None),
    ],
)
def test_a_website_is_a_domain(website: str | None, domain: str | None) -> None:
    assert website_domain(website) == domain


async def test_accounts_are_read_a_page_at_a_time_from_the_cursor() -> None:
    sf = fake()
    owner = ANA
    ids = [
        sf.add_account(
            f"A{n}",
            f"https://www.a{n}.example/",
            owner,
            f"2026-01-0{1 + n // 150}T09:00:00.000+0000",
        )
        for n in range(450)
    ]
    no_site = sf.add_account("No site", None, owner, "2026-01-04T09:00:00.000+0000")
    connector = Salesforce()
    pages = []
    cursor: str | None = None
    async with client(sf) as http:
        while True:
            page = await connector.accounts(cursor, target(sf), http)
            if page.next_cursor is None:
                break
            pages.append(page)
            cursor = page.next_cursor
        # Later, one account changes: the next pass, from the kept cursor, reads only it.
        changed = sf.add_account("Late", "late.example", owner, "2026-01-09T09:00:00.000+0000")
        late = await connector.accounts(cursor, target(sf), http)
        assert [a.external_id for a in late.accounts] == [changed]
    assert [len(p.accounts) for p in pages] == [200, 200, 50]
    read = [a for p in pages for a in p.accounts]
    assert [a.external_id for a in read] == ids, "in order, each once, none without a website"
    assert read[0].domain == "a0.example"
    assert (read[0].owner_id, read[0].name) == (owner, "A0")
    first, second, *_ = sf.requests("GET", "/services/data/v61.0/query")
    assert first.query["q"] == (
        "SELECT Id, Name, Website, OwnerId, LastModifiedDate FROM Account "
        "ORDER BY LastModifiedDate, Id"
    )
    assert first.headers["sforce-query-options"] == "batchSize=200"
    locator = [s for s in sf.seen if s.path.startswith("/services/data/v61.0/query/")]
    assert len(locator) == 2, "the query's next pages follow nextRecordsUrl"
    assert second.query["q"] == (
        "SELECT Id, Name, Website, OwnerId, LastModifiedDate FROM Account WHERE "
        "LastModifiedDate > 2026-01-04T09:00:00Z OR (LastModifiedDate = 2026-01-04T09:00:00Z "
        f"AND Id > '{no_site}') ORDER BY LastModifiedDate, Id"
    ), "the cursor moves past the last account read, with or without a website"


async def test_a_forgotten_query_locator_asks_again_from_the_last_account() -> None:
    sf = fake()
    for n in range(5):
        sf.add_account(f"A{n}", f"a{n}.example", ANA, "2026-01-01T09:00:00.000+0000")
    connector = Salesforce()
    async with client(sf) as http:
        settings = target(sf)
        sf_page = await connector.accounts(None, settings, http)
        assert len(sf_page.accounts) == 5
        with sf._lock:
            sf.locators.clear()
        stale = "2026-01-01T09:00:00Z|001000000000002AAA|/services/data/v61.0/query/01gx-2"
        page = await connector.accounts(stale, settings, http)
    assert [a.name for a in page.accounts] == ["A2", "A3", "A4"], "same time, later ids"
    with pytest.raises(VendorError, match="cursor"):
        async with client(sf) as http:
            await connector.accounts("garbage", settings, http)
