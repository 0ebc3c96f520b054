"""Secrets at rest: provider secrets of API-managed sources, the router's webhook
subscription secrets and nurture's link-signing key are stored sealed with Fernet
(`cryptography`: AES-128-CBC and HMAC-SHA256 under a random IV, authenticated, with no
crypto of ours) under the key(s) in `LEADFARM_SECRETS_KEY`.

Keys are comma-separated; the first seals, every one opens (`MultiFernet`), so a key is
rotated by putting a new one first and, once every stored secret is resealed with it
(each service reseals its rows when it starts), dropping the old one (docs/operations.md,
"Rotating the secrets key").

A sealed value is stored as `fernet:<token>`. A value without the prefix is a plain one
written before secrets were sealed: it is still read, and resealed when its service starts.

Without `LEADFARM_SECRETS_KEY`, production refuses to start (services/settings.py); in
development and tests a key is made once and kept in `<data dir>/secrets.key` (0600).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED = "fernet:"
DEV_KEY_FILE = "secrets.key"
MAKE_A_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SecretsKeyError(ValueError):
    """A stored secret cannot be opened with the configured keys (never says the value)."""


def parse_keys(text: str, where: str = "LEADFARM_SECRETS_KEY") -> list[bytes]:
    """The keys of `LEADFARM_SECRETS_KEY`, first (sealing) key first. Raises ValueError
    naming the bad key's position, never its value."""
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise ValueError(f"{where} is empty")
    keys = []
    for index, part in enumerate(parts, start=1):
        try:
            Fernet(part.encode())
        except ValueError as exc:
            raise ValueError(
                f"{where}: key {index} of {len(parts)} is not a Fernet key "
                f"(32 url-safe base64-encoded bytes); make one with: {MAKE_A_KEY}"
            ) from exc
        keys.append(part.encode())
    return keys


def development_key(data_dir: Path) -> list[bytes]:
    """The key kept in `<data dir>/secrets.key`, made (0600) on first use."""
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: a reader never sees a
        # half-written key, and of two processes making one at once, one key wins.
        draft = data_dir / f".{DEV_KEY_FILE}.{os.getpid()}"
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(Fernet.generate_key())
        try:
            # Another service of this process (or another process) may have made it first.
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    return parse_keys(path.read_text(), str(path))


_OPENED_KEPT = 4096
"""How many opened secrets a box keeps (then it starts over)."""


class SecretBox:
    """Seals and opens stored secrets. The keys are read on first use, so building a
    runtime (e.g. to print its OpenAPI document) touches no file."""

    def __init__(self, keys: Sequence[bytes] | Callable[[], Sequence[bytes]]) -> None:
        self._keys = keys
        self._fernet: MultiFernet | None = None
        self._primary: Fernet | None = None
        self._opened: dict[str, str] = {}
        """Secrets opened before, by their sealed form: a webhook's secret is opened for
        every delivery, and decrypting it was a measurable share of sending one."""

    @classmethod
    def ephemeral(cls) -> SecretBox:
        """A box with a fresh random key (tests)."""
        return cls([Fernet.generate_key()])

    def _multi(self) -> tuple[MultiFernet, Fernet]:
        if self._fernet is None or self._primary is None:
            keys = list(self._keys() if callable(self._keys) else self._keys)
            fernets = [Fernet(k) for k in keys]
            self._fernet, self._primary = MultiFernet(fernets), fernets[0]
        return self._fernet, self._primary

    def seal(self, plain: str) -> str:
        return SEALED + self._multi()[0].encrypt(plain.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret; a value stored before secrets were sealed is returned as it is."""
        if not stored.startswith(SEALED):
            return stored
        opened = self._opened.get(stored)
        if opened is not None:
            return opened
        try:
            opened = self._multi()[0].decrypt(stored.removeprefix(SEALED).encode()).decode()
        except InvalidToken as exc:
            raise SecretsKeyError(
                "a stored secret cannot be opened with LEADFARM_SECRETS_KEY: the key that "
                "sealed it is not among the configured keys"
            ) from exc
        if len(self._opened) >= _OPENED_KEPT:
            self._opened.clear()
        self._opened[stored] = opened
        return opened

    def resealed(self, stored: str) -> str | None:
        """`stored` sealed with the first key, or None when it already is."""
        if stored.startswith(SEALED) and self._sealed_by_first_key(stored):
            return None
        return self.seal(self.open(stored))

    def _sealed_by_first_key(self, stored: str) -> bool:
        try:
            self._multi()[1].decrypt(stored.removeprefix(SEALED).encode())
        except InvalidToken:
            return False
        return True
