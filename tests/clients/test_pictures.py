"""Profile pictures: real PNG or JPEG only, re-encoded without metadata, stored sealed."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from trustroom.clients.models import ProfilePicture
from trustroom.db import Database, bind_tenant
from trustroom.settings import Settings

from ..factories import TenantFixture
from .conftest import CONTACTS, create_contact

MARKER = "PICTURE-SECRET-COMMENT-4711"
GPS_IFD = 0x8825


def png_with_comment() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARKER)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_location() -> bytes:
    image = Image.new("RGB", (2000, 1500), (20, 90, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to show upright
    exif.get_ifd(GPS_IFD)[2] = (47.0, 22.0, 0.0)  # a latitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def encoded(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def put(client: httpx.AsyncClient, tenant: TenantFixture, contact_id: str, content: str) -> httpx.Response:
    return await client.put(
        f"{CONTACTS}/{contact_id}/profile-picture", headers=tenant.headers, json={"imageContentBase64": content}
    )


async def read(client: httpx.AsyncClient, tenant: TenantFixture, contact_id: str) -> dict[str, Any]:
    response = await client.get(f"{CONTACTS}/{contact_id}/profile-picture", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def opened(body: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(body["imageContentBase64"])))


async def test_a_png_is_stored_sealed_without_its_metadata(
    client: httpx.AsyncClient, tenant: TenantFixture, database: Database
) -> None:
    contact = await create_contact(client, tenant.headers)
    default = await read(client, tenant, contact["id"])
    assert default["isDefaultImage"] is True and opened(default).format == "PNG"

    assert (await put(client, tenant, contact["id"], encoded(png_with_comment()))).status_code == 204
    stored = await read(client, tenant, contact["id"])
    assert stored["isDefaultImage"] is False and stored["contentType"] == "image/png"
    image = opened(stored)
    assert image.size == (64, 48) and image.getpixel((0, 0)) == (200, 30, 30)
    assert MARKER not in str(image.info) and MARKER.encode() not in base64.b64decode(stored["imageContentBase64"])
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        row = await session.scalar(select(ProfilePicture))
        assert row is not None and not row.sealed_content.startswith(b"\x89PNG")
        assert b"IHDR" not in row.sealed_content

    removed = await client.delete(f"{CONTACTS}/{contact['id']}/profile-picture", headers=tenant.headers)
    assert removed.status_code == 204
    assert (await read(client, tenant, contact["id"]))["isDefaultImage"] is True


async def test_a_jpeg_is_turned_upright_scaled_down_and_loses_its_location(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    contact = await create_contact(client, tenant.headers)
    assert (await put(client, tenant, contact["id"], encoded(jpeg_with_location()))).status_code == 204
    image = opened(await read(client, tenant, contact["id"]))
    assert image.format == "JPEG" and image.size == (768, 1024)  # rotated, then at most 1024 a side
    assert not image.getexif().get_ifd(GPS_IFD)


async def test_anything_but_a_sound_png_or_jpeg_is_refused(
    client: httpx.AsyncClient, tenant: TenantFixture, settings: Settings
) -> None:
    contact = await create_contact(client, tenant.headers)
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    bomb = io.BytesIO()
    Image.new("1", (8000, 8000)).save(bomb, "PNG")  # tiny file, 64 million pixels
    refused = {
        "not base64": "@@@@",
        "text": encoded(b"just some text, not a picture"),
        "gif": encoded(gif.getvalue()),
        "truncated png": encoded(png_with_comment()[:60]),
        "decompression bomb": encoded(bomb.getvalue()),
    }
    for name, content in refused.items():
        response = await put(client, tenant, contact["id"], content)
        assert response.status_code == 400 and response.json()["subCode"] == "PictureInvalid", name
    too_big = encoded(b"\x89PNG\r\n\x1a\n" + bytes(settings.clients.profile_picture_max_bytes))
    response = await put(client, tenant, contact["id"], too_big)
    assert response.status_code == 413 and response.json()["subCode"] == "PictureTooLarge"
    assert (await read(client, tenant, contact["id"]))["isDefaultImage"] is True
