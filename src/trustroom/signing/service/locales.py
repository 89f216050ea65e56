"""Locales of dossiers and invitees: BCP 47 tags as the reference has them (de-CH, en-GB),
whose language must be one Trustroom writes texts in (DE, EN, FR, IT)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ... import i18n
from ...actor import Actor
from ...auth.models import Tenant
from ..errors import LocaleNotSupported


def canonical_locale(value: str, pointer: str) -> str:
    """`DE-ch` → `de-CH` (language lower case, region upper, script title case), or
    LocaleNotSupported at `pointer` when its language is not one of ours."""
    first, *rest = value.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 2 and part.isalpha():
            parts.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            parts.append(part.title())
        else:
            parts.append(part.lower())
    locale = "-".join(parts)
    if i18n.normalize(locale) != parts[0]:
        raise LocaleNotSupported(pointer)
    return locale


def language_of(locale: str) -> str:
    """The language the texts for this locale are written in: de, en, fr or it."""
    return i18n.normalize(locale) or "en"


async def tenant_default(session: AsyncSession, actor: Actor) -> str:
    """The locale of a dossier that names none: the tenant's default language."""
    language = await session.scalar(select(Tenant.default_language).where(Tenant.id == actor.tenant_id))
    return language or "en"
