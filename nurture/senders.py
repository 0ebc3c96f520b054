"""Senders: how a rendered email leaves Leadfarm. One interface, three implementations:

- `OutboxFolderSender` (the default): writes each email as an RFC 5322 `.eml` file to a
  local folder, for trying Leadfarm and for tests; nothing leaves the machine.
- `SmtpSender`: an SMTP server (aiosmtplib), STARTTLS by default. A recipient refused with
  a 5xx reply is a hard bounce.
- `WebhookSender`: posts each email as JSON to an email service provider's endpoint,
  signed as Standard Webhooks says (`services/standard_webhooks.py`).

A sender raises `HardBounce` (the address can never receive: it is suppressed),
`PermanentFailure` (this message can never go), or anything else for a temporary failure
(retried with backoff). Senders are called by the send worker outside any database
transaction.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Protocol

import aiosmtplib
import httpx
import orjson

from nurture.settings import NurtureSettings
from services.outbound import OutboundClient
from services.standard_webhooks import signed_headers


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: str
    lead_id: str
    to: str
    subject: str
    text: str
    html: str | None
    unsubscribe_url: str
    attempt: int


@dataclass(frozen=True)
class Accepted:
    provider_id: str | None = None


class HardBounce(Exception):
    """The recipient address is refused for good."""


class PermanentFailure(Exception):
    """This message can never be sent (not the address's fault)."""


class Sender(Protocol):
    name: str

    async def send(self, email: OutgoingEmail) -> Accepted: ...

    async def erase(self, message_ids: Sequence[str]) -> None:
        """Forget the copies of these messages the sender keeps (an erasure request)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class From:
    name: str
    address: str
    reply_to: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "leadfarm.localhost"


# Header lines up to SMTP's limit, so a long List-Unsubscribe URL stays one plain value
# instead of being folded into encoded words that mail clients would not read as a URL.
POLICY = policy.SMTP.clone(max_line_length=998)


def to_mime(email: OutgoingEmail, sender: From) -> EmailMessage:
    """The email as RFC 5322, with one-click unsubscribe headers (RFC 2369, RFC 8058)."""
    message = EmailMessage(policy=POLICY)
    message["From"] = formataddr((sender.name, sender.address))
    message["To"] = email.to
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = f"<{email.message_id}@{sender.domain}>"
    message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-Leadfarm-Message-Id"] = email.message_id
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


class OutboxFolderSender:
    name = "outbox"

    def __init__(self, folder: Path, sender: From) -> None:
        self.folder = folder
        self.sender = sender

    def path_of(self, message_id: str) -> Path:
        return self.folder / f"{message_id}.eml"

    def _write(self, email: OutgoingEmail) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.path_of(email.message_id)
        partial = target.with_suffix(".eml.partial")
        # The owner's only: an email names its recipient.
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(bytes(to_mime(email, self.sender)))
        os.replace(partial, target)

    async def send(self, email: OutgoingEmail) -> Accepted:
        await asyncio.to_thread(self._write, email)
        return Accepted(provider_id=str(self.path_of(email.message_id)))

    def _erase(self, message_ids: Sequence[str]) -> None:
        for message_id in message_ids:
            self.path_of(message_id).unlink(missing_ok=True)

    async def erase(self, message_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self._erase, message_ids)

    async def close(self) -> None:
        return None


class SmtpSender:
    name = "smtp"

    def __init__(self, settings: NurtureSettings, sender: From) -> None:
        assert settings.smtp_host is not None
        self.settings = settings
        self.sender = sender

    async def send(self, email: OutgoingEmail) -> Accepted:
        s = self.settings
        try:
            # aiosmtplib's timeout is per read; this is the whole exchange's deadline, so a
            # server that drips its replies cannot hold a send slot (a TimeoutError: retried).
            async with asyncio.timeout(s.smtp_timeout_s):
                _, reply = await aiosmtplib.send(
                    to_mime(email, self.sender),
                    hostname=s.smtp_host,
                    port=s.smtp_port,
                    username=s.smtp_username,
                    password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                    use_tls=s.smtp_security == "tls",
                    start_tls=s.smtp_security == "starttls",
                    timeout=s.smtp_timeout_s,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if codes and all(500 <= c < 600 for c in codes):
                raise HardBounce(f"recipient refused: {detail}") from exc
            raise
        except aiosmtplib.SMTPRecipientRefused as exc:
            if 500 <= exc.code < 600:
                raise HardBounce(f"recipient refused: {exc.code} {exc.message}") from exc
            raise
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"refused: {exc.code} {exc.message}") from exc
            raise
        return Accepted(provider_id=reply[:200] or None)

    async def erase(self, message_ids: Sequence[str]) -> None:
        return None  # an SMTP server keeps nothing we can reach

    async def close(self) -> None:
        return None


RETRYABLE_STATUS = {408, 409, 425, 429}


class WebhookSender:
    """POSTs {message_id, lead_id, from, to, reply_to, subject, text, html, headers,
    unsubscribe_url} as JSON. 2xx is accepted (a JSON `id` is kept as the provider's id);
    a JSON body with "bounce": "hard" is a hard bounce; other 4xx are permanent (except
    408, 409, 425 and 429); 5xx and network errors are retried."""

    name = "webhook"

    def __init__(self, settings: NurtureSettings, sender: From) -> None:
        assert settings.webhook_url is not None
        self.url = settings.webhook_url
        self.secret = settings.webhook_secret
        self.timeout = settings.webhook_timeout_s
        self.sender = sender
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = OutboundClient(deadline_s=self.timeout, user_agent="leadfarm-nurture")
        return self._client

    def body(self, email: OutgoingEmail) -> bytes:
        return orjson.dumps(
            {
                "message_id": email.message_id,
                "lead_id": email.lead_id,
                "from": {"name": self.sender.name, "address": self.sender.address},
                "to": email.to,
                "reply_to": self.sender.reply_to,
                "subject": email.subject,
                "text": email.text,
                "html": email.html,
                "headers": {
                    "List-Unsubscribe": f"<{email.unsubscribe_url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                    "X-Leadfarm-Message-Id": email.message_id,
                },
                "unsubscribe_url": email.unsubscribe_url,
            }
        )

    def headers(self, email: OutgoingEmail, body: bytes, timestamp: int) -> dict[str, str]:
        """Standard Webhooks headers (`services/standard_webhooks.py`, as the router's
        webhooks): `webhook-id` is the message id, the same on every retry."""
        headers = {
            "content-type": "application/json",
            "idempotency-key": email.message_id,
            "webhook-id": email.message_id,
            "webhook-timestamp": str(timestamp),
        }
        if self.secret is not None:
            secret = self.secret.get_secret_value()
            headers |= signed_headers(secret, email.message_id, timestamp, body)
        return headers

    async def send(self, email: OutgoingEmail) -> Accepted:
        body = self.body(email)
        headers = self.headers(email, body, int(time.time()))
        response = await self.client().post(self.url, content=body, headers=headers)
        payload = _json(response)
        if response.is_success:
            provider_id = payload.get("id") if isinstance(payload, dict) else None
            return Accepted(provider_id=str(provider_id)[:200] if provider_id else None)
        if isinstance(payload, dict) and str(payload.get("bounce", "")).lower() == "hard":
            raise HardBounce(f"the provider says hard bounce: {response.text[:300]}")
        if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_STATUS:
            raise PermanentFailure(f"HTTP {response.status_code}: {response.text[:300]}")
        raise httpx.HTTPStatusError(
            f"HTTP {response.status_code}", request=response.request, response=response
        )

    async def erase(self, message_ids: Sequence[str]) -> None:
        return None  # the provider's own erasure applies to what it keeps

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _json(response: httpx.Response) -> object:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def build_sender(settings: NurtureSettings, data_dir: Path) -> Sender:
    sender = From(settings.from_name, settings.from_address, settings.reply_to)
    if settings.sender == "smtp":
        return SmtpSender(settings, sender)
    if settings.sender == "webhook":
        return WebhookSender(settings, sender)
    return OutboxFolderSender(settings.outbox_dir or data_dir / "nurture-outbox", sender)
