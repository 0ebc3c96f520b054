"""Secrets Leadfarm stores (provider secrets of API-managed sources, webhook subscription
secrets, nurture's link-signing key) are sealed with LEADFARM_SECRETS_KEY (Fernet), plain
rows from before are sealed at start, keys rotate, and the embedded runtime's files are
its owner's only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet
from pydantic import ValidationError
from sqlalchemy import select, update

from ingest.models import sources
from nurture.models import keys as nurture_keys
from nurture.worker import SendWorker
from router.models import subscriptions
from services.crypto import SEALED, SecretBox, SecretsKeyError
from services.settings import Settings
from tests.backends import ADMIN, Backend, EmbeddedBackend

TOKEN = "zap-token-Kq7tW2very-secret"
BEARER = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


def database_bytes(data_dir: Path) -> bytes:
    return b"".join(
        p.read_bytes()
        for p in (data_dir / "leadfarm.db", data_dir / "leadfarm.db-wal")
        if p.exists()
    )


async def store_secrets(backend: EmbeddedBackend) -> tuple[str, str]:
    """A source with a token, a subscription and the link-signing key; returns the
    subscription's secret and the link-signing key."""
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/zaps",
        json={"provider": "zapier", "secrets": {"token": TOKEN}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    subscribed = await http.post(
        "/router/v1/subscriptions", json={"url": "http://127.0.0.1:9/"}, headers=ADMIN
    )
    assert subscribed.status_code == 201, subscribed.text
    nurture = next(
        w.nurture for s in backend.runtime.specs for w in s.workers if isinstance(w, SendWorker)
    )
    async with backend.runtime.units["nurture"].transaction() as tx:
        signer = await nurture.links.signer(tx, create=True)
    assert signer is not None
    return subscribed.json()["secret"], signer._key.decode()


async def secrets_work(backend: EmbeddedBackend, subscription_secret: str) -> None:
    http = backend.client("ingest")
    posted = await http.post(
        "/ingest/v1/webhooks/zaps", content=b'{"email": "a@acme.example"}', headers=BEARER
    )
    assert posted.status_code == 200, posted.text
    [listed] = (await http.get("/router/v1/subscriptions", headers=ADMIN)).json()
    assert listed["secret_hint"] == subscription_secret[:10] + "…"


async def test_stored_secrets_are_not_readable_in_the_database_file(tmp_path: Path) -> None:
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        subscription_secret, signing_key = await store_secrets(backend)
        await secrets_work(backend, subscription_secret)
    finally:
        await backend.stop()
    raw = database_bytes(tmp_path)
    assert b"zaps" in raw, "the file is the one written"
    for secret in (TOKEN, subscription_secret, signing_key):
        assert secret.encode() not in raw, secret[:6]
    again = await EmbeddedBackend(tmp_path).start()  # the same key opens them again
    try:
        await secrets_work(again, subscription_secret)
    finally:
        await again.stop()


async def test_without_a_key_development_keeps_one_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADFARM_SECRETS_KEY")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        subscription_secret, _ = await store_secrets(backend)
    finally:
        await backend.stop()
    key_file = tmp_path / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert TOKEN.encode() not in database_bytes(tmp_path)
    again = await EmbeddedBackend(tmp_path).start()
    try:
        await secrets_work(again, subscription_secret)
    finally:
        await again.stop()


async def test_plain_rows_from_before_are_sealed_at_start_and_keys_rotate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("LEADFARM_SECRETS_KEY", old)
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        subscription_secret, signing_key = await store_secrets(backend)
        async with backend.runtime.units["ingest"].transaction() as tx:  # as stored before
            await tx.conn.execute(update(sources).values(secrets={"token": [TOKEN]}))
            await tx.conn.execute(update(subscriptions).values(secret=subscription_secret))
            await tx.conn.execute(update(nurture_keys).values(value=signing_key))
        await secrets_work(backend, subscription_secret)  # plain rows are still read
    finally:
        await backend.stop()
    assert TOKEN.encode() in database_bytes(tmp_path)

    async def stored() -> list[str]:
        async with rotated.runtime.units["ingest"].read() as conn:
            token = (await conn.execute(select(sources.c.secrets))).scalar_one()["token"][0]
            secret = (await conn.execute(select(subscriptions.c.secret))).scalar_one()
            key = (await conn.execute(select(nurture_keys.c.value))).scalar_one()
        return [token, secret, key]

    monkeypatch.setenv("LEADFARM_SECRETS_KEY", f"{new},{old}")
    rotated = await EmbeddedBackend(tmp_path).start()
    try:
        values = await stored()
        assert all(v.startswith(SEALED) for v in values), "sealed at start"
        only_new = Fernet(new.encode())
        for value in values:
            only_new.decrypt(value.removeprefix(SEALED).encode())  # sealed with the new key
        await secrets_work(rotated, subscription_secret)
    finally:
        await rotated.stop()
    assert TOKEN.encode() not in database_bytes(tmp_path)

    monkeypatch.setenv("LEADFARM_SECRETS_KEY", new)  # the old key is dropped
    rotated = await EmbeddedBackend(tmp_path).start()
    try:
        await secrets_work(rotated, subscription_secret)
    finally:
        await rotated.stop()

    monkeypatch.setenv("LEADFARM_SECRETS_KEY", old)  # a wrong key refuses to start
    wrong = EmbeddedBackend(tmp_path)
    with pytest.raises(SecretsKeyError, match="LEADFARM_SECRETS_KEY"):
        await wrong.start()
    await wrong.runtime.stop()


def test_production_refuses_to_start_without_a_valid_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADFARM_SECRETS_KEY")
    admin = "x" * 32
    with pytest.raises(ValidationError, match="LEADFARM_SECRETS_KEY is required in production"):
        Settings(env="production", admin_key=admin)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="key 2 of 2 is not a Fernet key") as refused:
        Settings(secrets_key=f"{Fernet.generate_key().decode()},not-a-key")  # type: ignore[arg-type]
    assert "not-a-key" not in str(refused.value)
    with pytest.raises(ValidationError) as placeholder:
        Settings(env="production", admin_key="changeme")  # type: ignore[arg-type]
    assert "changeme" not in str(placeholder.value), "the admin key is never quoted"
    Settings(env="production", admin_key=admin, secrets_key=Fernet.generate_key().decode())  # type: ignore[arg-type]


async def test_the_data_directory_and_database_files_are_the_owners_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    backend = await EmbeddedBackend(data_dir).start()
    try:
        await backend.post_lead(email="files@acme.example")
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in data_dir.iterdir()
            if p.name.startswith("leadfarm.db")
        }
    finally:
        await backend.stop()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert set(modes) >= {"leadfarm.db", "leadfarm.db-wal", "leadfarm.db-shm"}, modes
    assert set(modes.values()) == {0o600}, modes

    loose = tmp_path / "older"  # a database made before: tightened at the next start
    loose.mkdir()
    (loose / "leadfarm.db").touch(mode=0o644)
    (loose / "leadfarm.db").chmod(0o644)
    backend = await EmbeddedBackend(loose).start()
    await backend.stop()
    assert stat.S_IMODE((loose / "leadfarm.db").stat().st_mode) == 0o600
    assert json.dumps(sorted(p.name for p in loose.iterdir()))


async def test_secrets_are_stored_sealed_on_both_runtimes(backend: Backend) -> None:
    """PostgreSQL too: the sealed values fit their columns and open again."""
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/zaps",
        json={"provider": "zapier", "secrets": {"token": TOKEN}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    subscribed = await backend.client("router").post(
        "/router/v1/subscriptions", json={"url": "http://127.0.0.1:9/"}, headers=ADMIN
    )
    assert subscribed.status_code == 201, subscribed.text
    async with backend.runtimes["ingest"].units["ingest"].read() as conn:
        token = (await conn.execute(select(sources.c.secrets))).scalar_one()["token"][0]
    async with backend.runtimes["router"].units["router"].read() as conn:
        secret = (await conn.execute(select(subscriptions.c.secret))).scalar_one()
    assert token.startswith(SEALED)
    assert secret.startswith(SEALED)
    posted = await http.post(
        "/ingest/v1/webhooks/zaps", content=b'{"email": "b@acme.example"}', headers=BEARER
    )
    assert posted.status_code == 200, posted.text


def test_no_settings_error_quotes_a_secret() -> None:
    """A service's settings hold passwords and keys too; a refusal names the problem only."""
    from nurture.settings import NurtureSettings

    with pytest.raises(ValidationError, match="SMTP_HOST") as refused:
        NurtureSettings(sender="smtp", smtp_password="hunter2-secret")  # type: ignore[arg-type]
    assert "hunter2" not in str(refused.value)


def test_a_secret_is_decrypted_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook's secret is opened for every delivery; decrypting it each time was a
    measurable share of sending one."""
    box = SecretBox.ephemeral()
    stored = box.seal("whsec_abc")
    decrypted: list[bytes] = []
    decrypt = MultiFernet.decrypt

    def counted(self: MultiFernet, token: bytes, ttl: int | None = None) -> bytes:
        decrypted.append(token)
        return decrypt(self, token, ttl)

    monkeypatch.setattr(MultiFernet, "decrypt", counted)
    assert [box.open(stored) for _ in range(3)] == ["whsec_abc"] * 3
    assert len(decrypted) == 1
