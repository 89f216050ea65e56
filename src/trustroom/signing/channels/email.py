"""The email channel: the invite and its reminders as outbound messages (SMTP or the local
outbox), in the invitee's language, naming the dossier, the member responsible for it and
the provider. The mail server's verdict comes back as the `signing.invite_message` job
(messaging's `notify`), which sets `emailSentAt` or `emailBouncedAt`."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ...errors import N_
from ...i18n import translations
from ...jobs.service import TaskRef
from ...keys import ServerKeys
from ...messaging import service as messaging
from ...messaging.models import Channel as MessageChannel
from ..errors import InviteeEmailMissing
from ..models import InviteChannel, Invitee, InviteeRole
from .base import Kind, Letter

# The task (signing/tasks.py) told how each invite email ended.
MESSAGE_OUTCOME = TaskRef("signing.invite_message")
PURPOSES = {Kind.INVITE: "signing.invite", Kind.REMINDER: "signing.reminder"}

SUBJECTS = {
    InviteeRole.SIGNER: N_("%(sender)s (%(organisation)s) asks you to sign: %(dossier)s"),
    InviteeRole.APPROVER: N_("%(sender)s (%(organisation)s) asks you to approve: %(dossier)s"),
    InviteeRole.VIEWER: N_("%(sender)s (%(organisation)s) shares documents with you: %(dossier)s"),
}
TEXTS = {
    InviteeRole.SIGNER: N_(
        "Hello %(name)s,\n\n"
        "%(sender)s of %(organisation)s asks you to sign the documents of “%(dossier)s”.\n\n"
        "Open this link to read and sign them:\n%(link)s\n\n"
        "The link is personal; do not forward it. It works until %(expires)s (UTC).\n\n"
        "If you did not expect this message, do not open the link and tell %(organisation)s."
    ),
    InviteeRole.APPROVER: N_(
        "Hello %(name)s,\n\n"
        "%(sender)s of %(organisation)s asks you to approve the documents of “%(dossier)s”.\n\n"
        "Open this link to read and approve them:\n%(link)s\n\n"
        "The link is personal; do not forward it. It works until %(expires)s (UTC).\n\n"
        "If you did not expect this message, do not open the link and tell %(organisation)s."
    ),
    InviteeRole.VIEWER: N_(
        "Hello %(name)s,\n\n"
        "%(sender)s of %(organisation)s shares the documents of “%(dossier)s” with you.\n\n"
        "Open this link to read them:\n%(link)s\n\n"
        "The link is personal; do not forward it. It works until %(expires)s (UTC).\n\n"
        "If you did not expect this message, do not open the link and tell %(organisation)s."
    ),
}
REMINDER_SUBJECT = N_("Reminder: “%(dossier)s” is waiting for you")
REMINDER_TEXT = N_(
    "Hello %(name)s,\n\n"
    "%(sender)s of %(organisation)s is still waiting for you on “%(dossier)s”.\n\n"
    "Open this link to continue:\n%(link)s\n\n"
    "The link is personal; do not forward it. It works until %(expires)s (UTC)."
)


class EmailChannel:
    name = InviteChannel.EMAIL
    shows_link = False  # the link goes to the invitee's mailbox only

    def check(self, invitee: Invitee, pointer: str) -> None:
        if not invitee.email:
            raise InviteeEmailMissing(pointer)

    async def deliver(self, session: AsyncSession, keys: ServerKeys, letter: Letter) -> UUID | None:
        assert letter.invitee.email, "checked when the invite was made"
        gettext = translations(letter.language).gettext
        params = {
            "name": letter.invitee.name,
            "sender": letter.sender,
            "organisation": letter.organisation,
            "dossier": letter.dossier.name,
            "link": letter.link,
            "expires": letter.expires_at.strftime("%Y-%m-%d %H:%M"),
        }
        if letter.kind is Kind.INVITE:
            role = InviteeRole(letter.invitee.role)
            subject, text = gettext(SUBJECTS[role]) % params, gettext(TEXTS[role]) % params
        else:
            subject, text = gettext(REMINDER_SUBJECT) % params, gettext(REMINDER_TEXT) % params
        message = await messaging.queue(
            session,
            keys,
            tenant_id=letter.invite.tenant_id,
            channel=MessageChannel.EMAIL,
            content=messaging.Content(letter.invitee.email, subject, text),
            purpose=PURPOSES[letter.kind],
            about_id=letter.invite.id,
            notify=MESSAGE_OUTCOME,
        )
        return message.id
