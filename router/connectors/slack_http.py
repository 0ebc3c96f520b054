"""Slack's two ways of posting: the Web API's chat.postMessage with a bot token, and an
incoming webhook; errors Slack may clear later are retried, the others are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import orjson

from router.connectors.base import VendorError

if TYPE_CHECKING:
    from router.connectors.slack import SlackCredentials, SlackSettings

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


JSON = "application/json; charset=utf-8"


class Poster:
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
