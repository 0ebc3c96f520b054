"""The senders: the outbox folder, a real SMTP server on 127.0.0.1, and a webhook."""

from __future__ import annotations

import hashlib
import hmac
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import orjson
import pytest
from pydantic import SecretStr

from nurture.senders import (
    From,
    HardBounce,
    OutboxFolderSender,
    OutgoingEmail,
    PermanentFailure,
    SmtpSender,
    WebhookSender,
    build_sender,
)
from nurture.settings import NurtureSettings
from tests.unit.nurture.smtpd import smtp_server

UNSUBSCRIBE = "https://lf.example/nurture/v1/unsubscribe?token=" + "t" * 200
FROM = From("Leadfarm", "nurture@lf.example", "team@lf.example")


def email(to: str = "dana@acme.example", message_id: str = "m-1") -> OutgoingEmail:
    return OutgoingEmail(
        message_id=message_id,
        lead_id="lead-1",
        to=to,
        subject="Grüße from Leadfarm",
        text="Hello Dana\n",
        html="<p>Hello Dana</p>",
        unsubscribe_url=UNSUBSCRIBE,
        attempt=1,
    )


async def test_the_outbox_folder_keeps_each_email_as_an_eml_file_until_erased(
    tmp_path: Path,
) -> None:
    sender = build_sender(NurtureSettings(), tmp_path)
    assert isinstance(sender, OutboxFolderSender)
    accepted = await sender.send(email())
    path = tmp_path / "nurture-outbox" / "m-1.eml"
    assert accepted.provider_id == str(path)
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["To"] == "dana@acme.example"
    assert parsed["Subject"] == "Grüße from Leadfarm"
    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Message-ID"] == "<m-1@leadfarm.localhost>"
    assert not list((tmp_path / "nurture-outbox").glob("*.partial"))
    await sender.erase(["m-1", "never-sent"])
    assert not path.exists()


def smtp_settings(port: int) -> NurtureSettings:
    return NurtureSettings(
        sender="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"
    )


async def test_the_smtp_sender_delivers_to_a_real_server() -> None:
    with smtp_server() as box:
        sender = build_sender(smtp_settings(box.port), Path("unused"))
        assert isinstance(sender, SmtpSender)
        accepted = await sender.send(email())
        assert accepted.provider_id
        [(mail_from, rcpts, message)] = box.received
    assert mail_from == "nurture@leadfarm.localhost"
    assert rcpts == ["dana@acme.example"]
    assert message["Subject"] == "Grüße from Leadfarm"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["X-Leadfarm-Message-Id"] == "m-1"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "Hello Dana\n"


async def test_a_refused_recipient_is_a_hard_bounce_and_a_busy_one_is_retried() -> None:
    with smtp_server() as box:
        box.gone.add("gone")
        box.busy.add("busy")
        sender = SmtpSender(smtp_settings(box.port), FROM)
        with pytest.raises(HardBounce, match="550"):
            await sender.send(email("gone@acme.example"))
        with pytest.raises(Exception) as temporary:  # noqa: PT011 - any non-permanent error
            await sender.send(email("busy@acme.example"))
        assert not isinstance(temporary.value, (HardBounce, PermanentFailure))
        assert box.received == []


async def test_an_unreachable_smtp_server_is_a_temporary_failure() -> None:
    with smtp_server() as box:
        port = box.port
    sender = SmtpSender(smtp_settings(port), FROM)
    with pytest.raises(Exception) as failure:  # noqa: PT011 - any non-permanent error
        await sender.send(email())
    assert not isinstance(failure.value, (HardBounce, PermanentFailure))


async def test_the_webhook_sender_signs_its_posts_and_reads_the_answer() -> None:
    seen: list[httpx.Request] = []
    answers = {
        "ok@x.example": httpx.Response(202, json={"id": "esp-42"}),
        "gone@x.example": httpx.Response(422, json={"bounce": "hard"}),
        "bad@x.example": httpx.Response(400, text="no"),
        "later@x.example": httpx.Response(503),
        "slow@x.example": httpx.Response(429),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[orjson.loads(request.content)["to"]]

    settings = NurtureSettings(
        sender="webhook", webhook_url="https://esp.example/send", webhook_secret=SecretStr("s3cret")
    )
    sender = build_sender(settings, Path("unused"))
    assert isinstance(sender, WebhookSender)
    sender._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    try:
        assert (await sender.send(email("ok@x.example"))).provider_id == "esp-42"
        with pytest.raises(HardBounce):
            await sender.send(email("gone@x.example"))
        with pytest.raises(PermanentFailure, match="400"):
            await sender.send(email("bad@x.example"))
        with pytest.raises(httpx.HTTPStatusError):
            await sender.send(email("later@x.example"))
        with pytest.raises(httpx.HTTPStatusError):
            await sender.send(email("slow@x.example"))
    finally:
        await sender.close()
    first = seen[0]
    body = orjson.loads(first.content)
    assert body["subject"] == "Grüße from Leadfarm"
    assert body["headers"]["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert first.headers["idempotency-key"] == "m-1"
    stamp, _, mac = first.headers["x-leadfarm-signature"].partition(",v1=")
    expected = hmac.new(
        b"s3cret", stamp.removeprefix("t=").encode() + b"." + first.content, hashlib.sha256
    ).hexdigest()
    assert mac == expected


def test_a_sender_without_its_settings_is_refused() -> None:
    with pytest.raises(ValueError, match="SMTP_HOST"):
        NurtureSettings(sender="smtp")
    with pytest.raises(ValueError, match="WEBHOOK_URL"):
        NurtureSettings(sender="webhook")
