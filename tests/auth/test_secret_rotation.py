"""Rotating the server secret: what the old secret made keeps working and moves over."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any
from uuid import UUID

import httpx
import pyotp
import pytest
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import select

from trustroom import cli
from trustroom.app import create_app
from trustroom.auth.models import ApiKey, Member
from trustroom.auth.service.tenants import operator
from trustroom.clients.models import RecordKind
from trustroom.clients.service import pictures, records
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.storage import service as storage
from trustroom.storage.blobs import store_from_settings
from trustroom.storage.keyring import SealedKeyring

from ..conftest import TEST_SECRET
from ..factories import make_member, make_tenant

NEW_SECRET = "the-next-server-secret-0123456789-abcdefghij"


def rotated(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"secret_key": SecretStr(NEW_SECRET), "previous_secret_keys": [SecretStr(TEST_SECRET)]}
    )


async def cli_json(monkeypatch: pytest.MonkeyPatch, settings: Settings, capsys: Any, *argv: str) -> dict[str, Any]:
    monkeypatch.setenv("TRUSTROOM_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TRUSTROOM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRUSTROOM_SECRET_KEY", NEW_SECRET)
    monkeypatch.setenv("TRUSTROOM_PREVIOUS_SECRET_KEYS", json.dumps([TEST_SECRET]))
    assert await asyncio.to_thread(cli.run, [*argv, "--json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


async def contact_with_picture(database: Database, keys: ServerKeys, settings: Settings, tenant_id: UUID) -> UUID:
    image = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(image, "PNG")
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        actor = operator(tenant_id)
        details = {"personalInformation": {"firstName": "Pia", "lastName": "Bild"}}
        record = await records.create(session, actor, RecordKind.CONTACT, details, contact_type_id=1, username="pia")
        encoded = base64.b64encode(image.getvalue()).decode()
        await pictures.put(session, actor, keys, settings.clients, record.id, encoded)
        await session.commit()
    return record.id


async def sealed_blob(database: Database, keys: ServerKeys, settings: Settings, tenant_id: UUID) -> UUID:
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        kek = await SealedKeyring(keys).current(session, tenant_id, "tests.rotation")
        async with storage.write_blob(
            store_from_settings(settings), tenant_id, kek, content_type="text/plain"
        ) as writer:
            await writer.write(b"kept across the rotation")
        assert writer.blob is not None
        session.add(writer.blob)
        await session.commit()
        return writer.blob.id


async def test_api_keys_and_totp_secrets_survive_and_move_to_the_new_secret(
    settings: Settings,
    database: Database,
    keys: ServerKeys,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant = await make_tenant(database, keys)
    member = await make_member(database, keys, tenant.id)
    contact_id = await contact_with_picture(database, keys, settings, tenant.id)
    blob_id = await sealed_blob(database, keys, settings, tenant.id)
    new_settings = rotated(settings)
    new_keys = ServerKeys.from_settings(new_settings)

    before = await cli_json(monkeypatch, settings, capsys, "keys", "status")
    assert before["currentSecretId"] == new_keys.secret_id
    assert before["apiKeysOnOlderSecrets"] >= 1 and before["totpSecretsOnOlderSecrets"] >= 1
    assert before["profilePicturesOnOlderSecrets"] >= 1 and before["storageKeysOnOlderSecrets"] >= 1

    app = create_app(new_settings, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        assert (await client.get("/api/v1/members", headers=tenant.headers)).status_code == 200
        await app.state.usage.flush(app.state.database)
    await app.state.database.dispose()
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        stored = await session.scalar(select(ApiKey).where(ApiKey.id == tenant.api_key_id))
    assert stored is not None and stored.secret_id == new_keys.secret_id
    assert stored.key_hash == new_keys.keyed_hash("api-key", tenant.api_key)

    resealed = await cli_json(monkeypatch, settings, capsys, "keys", "reseal")
    assert resealed["resealed"] >= 1
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        sealed = await session.scalar(select(Member.totp_secret_sealed).where(Member.id == member.member.id))
    assert sealed is not None
    only_new = ServerKeys(NEW_SECRET.encode())
    context = f"member-totp:{member.member.id}"
    assert only_new.unseal(sealed, context=context) == member.totp_secret
    assert pyotp.TOTP(member.totp_secret).now()
    assert resealed["picturesResealed"] >= 1
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        picture, is_default = await pictures.get(session, operator(tenant.id), only_new, contact_id)
    assert not is_default and picture.content.startswith(b"\x89PNG")
    assert resealed["storageKeysResealed"] >= 1
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        opened = await storage.open_blob(
            session, SealedKeyring(only_new), store_from_settings(settings), tenant.id, blob_id
        )
    assert b"".join([chunk async for chunk in opened.chunks()]) == b"kept across the rotation"
    after = await cli_json(monkeypatch, settings, capsys, "keys", "status")
    assert after["profilePicturesOnOlderSecrets"] == 0 and after["totpSecretsOnOlderSecrets"] == 0
    assert after["storageKeysOnOlderSecrets"] == 0

    # Once nothing depends on it, the old secret can go: the moved key still works.
    only_new_settings = new_settings.model_copy(update={"previous_secret_keys": []})
    app = create_app(only_new_settings, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        assert (await client.get("/api/v1/members", headers=tenant.headers)).status_code == 200
    await app.state.database.dispose()


def test_short_previous_secrets_are_refused(settings: Settings) -> None:
    from trustroom.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="PREVIOUS_SECRET_KEYS"):
        settings.model_copy(update={"previous_secret_keys": [SecretStr("short")]}).previous_secrets()
