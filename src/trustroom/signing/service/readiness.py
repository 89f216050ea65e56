"""Whether a dossier may be sent: the checks its first invite runs, in one place.

Each rule refuses with an error that names what is missing, before anything is written:
a signer or approver, each signer's way to authenticate, and the documents (at least one,
a signature field for every signer, `fields.check_ready`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ...actor import Actor
from ..errors import NoSigners, SignerAuthenticationMissing, SignerEmailMissing, SignerPhoneMissing
from ..models import AuthenticationMethod, Dossier, Invitee, InviteeRole, Method
from . import fields


async def assert_ready(session: AsyncSession, actor: Actor, dossier: Dossier, invitees: Sequence[Invitee]) -> None:
    """Refuse to send a dossier that cannot be completed as it stands."""
    if not any(person.role in (InviteeRole.SIGNER, InviteeRole.APPROVER) for person in invitees):
        raise NoSigners()
    for person in invitees:
        _check_authentication(dossier, person)
    await fields.check_ready(session, actor, dossier)


def _check_authentication(dossier: Dossier, person: Invitee) -> None:
    """An aes signer proves who they are with each of their methods, so each needs its address."""
    methods = set(person.authentication_methods)
    if dossier.method == Method.AES and person.role == InviteeRole.SIGNER and not methods:
        raise SignerAuthenticationMissing(invitee=str(person.id))
    if AuthenticationMethod.OTP_EMAIL in methods and not person.email:
        raise SignerEmailMissing(invitee=str(person.id))
    if AuthenticationMethod.OTP_SMS in methods and not person.phone_number:
        raise SignerPhoneMissing(invitee=str(person.id))
