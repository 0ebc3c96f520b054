"""The senders: the outbox folder, a real SMTP server on 127.0.0.1, and a webhook."""

from __future__ import annotations

import asyncio
import time
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import orjson
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

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
from services.outbound import DeadlineExceeded, ResponseTooLarge
from services.standard_webhooks import new_secret
from tests.fakes.receivers import misbehaving_receiver
from tests.fakes.smtp import smtp_server

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

    secret = new_secret()
    settings = NurtureSettings(
        sender="webhook", webhook_url="https://esp.example/send", webhook_secret=SecretStr(secret)
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
    # Signed as Standard Webhooks says, as the router's webhooks are: a receiver verifies
    # with the scheme's reference library (it also checks the timestamp is recent).
    assert Webhook(secret).verify(first.content, dict(first.headers)) == body
    assert first.headers["webhook-id"] == "m-1"  # the message id: the same on every retry
    assert "x-leadfarm-signature" not in first.headers
    assert [r.headers["webhook-id"] for r in seen] == [r.headers["idempotency-key"] for r in seen]


def test_a_webhook_secret_that_is_not_a_standard_webhooks_secret_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"LEADFARM_NURTURE_WEBHOOK_SECRET .* starts with 'whsec_'"
    ):
        NurtureSettings(
            sender="webhook",
            webhook_url="https://esp.example/send",
            webhook_secret=SecretStr("s3cret"),
        )


def test_a_sender_without_its_settings_is_refused() -> None:
    with pytest.raises(ValueError, match="SMTP_HOST"):
        NurtureSettings(sender="smtp")
    with pytest.raises(ValueError, match="WEBHOOK_URL"):
        NurtureSettings(sender="webhook")


async def test_the_webhook_sender_cuts_off_an_answer_that_drips_or_floods() -> None:
    """httpx's timeout is per read; the deadline covers the whole request and the body is
    capped, so one slow email provider cannot hold a send slot for ever."""
    async with misbehaving_receiver() as esp:
        for path, failure in (("/drip", DeadlineExceeded), ("/huge", ResponseTooLarge)):
            settings = NurtureSettings(
                sender="webhook", webhook_url=esp.url(path), webhook_timeout_s=1
            )
            sender = build_sender(settings, Path("unused"))
            started = time.monotonic()
            try:
                with pytest.raises(failure):
                    await asyncio.wait_for(sender.send(email()), timeout=10)
            finally:
                await sender.close()
            assert time.monotonic() - started < 5


async def test_the_smtp_sender_gives_up_on_a_server_that_is_slow_on_every_reply() -> None:
    """aiosmtplib's timeout is per reply: a server taking 0.7 s over each of its replies
    meets a timeout of 1 s and holds the sender for as long as the exchange lasts. The
    exchange as a whole has the deadline (a temporary failure: the email is tried again)."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: bytes) -> None:
            await asyncio.sleep(0.7)
            writer.write(line)
            await writer.drain()

        try:
            await reply(b"220 slow.example ESMTP\r\n")
            while command := await reader.readline():
                verb = command[:4].upper()
                if verb == b"DATA":
                    await reply(b"354 go ahead\r\n")
                    await reader.readuntil(b"\r\n.\r\n")
                    await reply(b"250 queued\r\n")
                elif verb == b"QUIT":
                    await reply(b"221 bye\r\n")
                    return
                else:
                    await reply(b"250 ok\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client hung up (as the tests make it): nothing left to answer
        finally:
            writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = smtp_settings(port).model_copy(update={"smtp_timeout_s": 1.0})
    sender = SmtpSender(settings, FROM)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sender.send(email()), timeout=30)
    finally:
        server.close()
    assert time.monotonic() - started < 2
