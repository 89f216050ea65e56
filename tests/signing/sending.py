"""What every test that sends a dossier needs: a document with a signature field per signer
(sending refuses a dossier without, `fields.check_ready`), and a signer who has passed their
authentication methods (as the one-time codes would record it)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import select

from trustroom.db import Database, bind_tenant, utcnow
from trustroom.signing.models import AuthenticationMethod, Invitee, SignerCode

from ..factories import TenantFixture
from .support import make_pdf
from .test_dossiers import DOSSIERS

SIGNATURE_SIZE = (200.0, 60.0)


async def add_document(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    dossier: dict[str, Any],
    *,
    pages: int = 2,
    name: str = "contract.pdf",
    extra_fields: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Upload a PDF to the draft and give each of its signers a signature box on the last
    page (side by side, four to a row), plus `extra_fields` as given."""
    url = f"{DOSSIERS}/{dossier['id']}/documents"
    uploaded = await client.post(url, headers=headers, files={"file": (name, make_pdf(pages), "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    document: dict[str, Any] = uploaded.json()
    signers = [person for person in dossier["invitees"] if person["role"] == "signer"]
    width, height = SIGNATURE_SIZE
    placed = [
        {
            "inviteeId": person["id"],
            "type": "signature",
            "page": pages,
            "x": 20 + (index % 4) * (width / 1.5 + 10),
            "y": 60 + (index // 4) * (height + 10),
            "width": width / 1.5,
            "height": height,
        }
        for index, person in enumerate(signers)
    ]
    fields = await client.put(
        f"{url}/{document['id']}/fields", headers=headers, json={"fields": placed + (extra_fields or [])}
    )
    assert fields.status_code == 200, fields.text
    placed_document: dict[str, Any] = fields.json()
    return placed_document


async def authenticate(database: Database, tenant: TenantFixture, invitee_id: UUID | str) -> None:
    """Record every authentication method of the invitee as passed just now."""
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        invitee = await session.get(Invitee, UUID(str(invitee_id)))
        assert invitee is not None
        for method in invitee.authentication_methods:
            row = await session.scalar(
                select(SignerCode).where(SignerCode.invitee_id == invitee.id, SignerCode.method == method)
            )
            if row is None:
                row = SignerCode(
                    tenant_id=tenant.id,
                    invitee_id=invitee.id,
                    method=AuthenticationMethod(method),
                    destination_hint="an•••@mail.example",
                )
                session.add(row)
            row.verified_at = utcnow()
        await session.commit()
