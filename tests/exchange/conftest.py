"""Fixtures of secure exchange: an exchange made through the API, and uploads."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from trustroom.http import API_PREFIX

EXCHANGES = f"{API_PREFIX}/exchanges"
PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


def exchange_body(**extra: Any) -> dict[str, Any]:
    n = next(_numbers)
    return {
        "username": f"client-{n}-user",
        "externalUserId": f"crm-user-{n}",
        "languageCode": "DE",
        "password": PASSWORD,
        "client": {
            "firstName": "Anna",
            "lastName": "Muster",
            "email": f"anna{n}@mail.example",
            "mobileNumber": "+41791234567",
        },
        "externalExchangeId": f"crm-room-{n}",
        "name": "Mandat Muster",
        "description": "Unterlagen zu Ihrem Mandat",
        "advisor": {"firstName": "Beat", "lastName": "Berater", "email": "beat@bank.example"},
        **extra,
    }


async def create_exchange(client: httpx.AsyncClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = await client.post(EXCHANGES, headers=headers, json=exchange_body(**extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_folder(
    client: httpx.AsyncClient, headers: dict[str, str], exchange_id: str, name: str = "Steuern", **extra: Any
) -> dict[str, Any]:
    response = await client.post(f"{EXCHANGES}/{exchange_id}/folders", headers=headers, json={"name": name, **extra})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    exchange_id: str,
    folder_id: str,
    name: str,
    content: bytes,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await client.post(
        f"{EXCHANGES}/{exchange_id}/folders/{folder_id}/documents",
        headers=headers,
        files={"file": (name, content, content_type)},
    )
