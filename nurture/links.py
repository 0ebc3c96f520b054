"""The links in nurture's emails: the unsubscribe link and tracked links, signed with
the configured key or the one kept in nurture's tables."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from nurture.repository import keys
from nurture.settings import NurtureSettings
from nurture.signing import CLICK, UNSUBSCRIBE, Signer
from services.crypto import SecretBox
from services.db import Conn, Tx


class Links:
    def __init__(self, settings: NurtureSettings, box: SecretBox) -> None:
        self.settings = settings
        self.box = box  # the stored link-signing key is sealed
        self._signer: Signer | None = (
            Signer(settings.signing_key.get_secret_value().encode())
            if settings.signing_key
            else None
        )

    async def signer(self, conn: Conn, *, create: bool = False) -> Signer | None:
        """The link-signing key: the configured one, else the one kept in nurture's tables
        (made on first use when `create`)."""
        if self._signer is not None:
            return self._signer
        stored = await keys.signing_key(conn)
        if stored is not None:
            self._signer = Signer(self.box.open(stored).encode())  # committed: safe to keep
            return self._signer
        if not create:
            return None
        assert isinstance(conn, Tx)
        made = await keys.create_signing_key(
            conn, self.box.seal(secrets.token_urlsafe(32)), conn.now()
        )
        # Not kept in memory: the transaction that stored it may still roll back.
        return Signer(self.box.open(made).encode())

    def _url(self, path: str) -> str:
        return self.settings.public_url.rstrip("/") + path

    def unsubscribe_url(self, signer: Signer, hashed: str, lead_id: str, track: str) -> str:
        token = signer.sign(UNSUBSCRIBE, {"h": hashed, "l": lead_id, "t": track})
        return self._url(f"/nurture/v1/unsubscribe?token={quote(token)}")

    def link_url(
        self, signer: Signer, message_id: str, lead_id: str, url: str, key_page: bool
    ) -> str:
        token = signer.sign(CLICK, {"m": message_id, "l": lead_id, "u": url, "k": key_page})
        return self._url(f"/nurture/v1/r/{quote(token)}")
