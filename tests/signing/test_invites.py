"""Invites (issue #14, item 3): sending a dossier by email and by link, group by group, with
reminders and expiry as jobs, the invite token and its resolver, and the events.

Time is moved, never slept: `travel` shifts the dossier's, its invites' and the tenant's
pending jobs' times into the past, as if that much time had gone by.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, or_, select, update

from trustroom.auth.models import Role
from trustroom.auth.service import tenants
from trustroom.db import Database, bind_tenant, utcnow
from trustroom.http import API_PREFIX
from trustroom.jobs.models import CLAIMABLE, Job, JobStatus
from trustroom.jobs.runner import Runner
from trustroom.jobs.service import Task
from trustroom.keys import ServerKeys
from trustroom.messaging.tasks import SEND_MESSAGE
from trustroom.settings import Settings
from trustroom.signing import errors
from trustroom.signing import tasks as signing_tasks
from trustroom.signing.models import Dossier, Invite, Invitee, InviteeState
from trustroom.signing.service import access, delivery, invites, lifecycle, reminders, signer_access, tokens

from ..clients.conftest import Person
from ..factories import TenantFixture, make_member
from ..helpers import events_of
from ..outbound import MailCatcher
from .sending import add_document
from .test_dossiers import DOSSIERS, problem

TASKS: tuple[Task, ...] = (*signing_tasks.TASKS, SEND_MESSAGE)
HOUR = 3600
LINK = re.compile(r"http://127\.0\.0\.1:8000/s/([A-Za-z0-9_-]{64})")
ANNA = {"name": "Anna Muster", "email": "anna.muster@mail.example", "phoneNumber": "+41791234567"}
BEAT = {"name": "Beat Brändli", "email": "beat.braendli@mail.example"}
CARLA = {"name": "Carla Rossi", "email": "carla.rossi@mail.example"}
VERA = {"name": "Vera Viewer", "email": "vera.viewer@mail.example"}


# --- helpers ------------------------------------------------------------------------------


async def run_due(database: Database, settings: Settings, tenant: TenantFixture, within: float = 30) -> None:
    """Run a worker until none of the tenant's jobs is due or running (later ones stay for later)."""

    async def due() -> int:
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant.id)
            count = await session.scalar(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.tenant_id == tenant.id,
                    or_(
                        Job.status == JobStatus.LEASED, (Job.status == JobStatus.PENDING) & (Job.visible_at <= utcnow())
                    ),
                )
            )
            return int(count or 0)

    fast = settings.model_copy(update={"worker_poll_seconds": 0.05})
    runner = Runner(database, fast, TASKS, concurrency=2)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + within
    try:
        while await due():
            assert time.monotonic() < deadline, "jobs still due"
            assert not worker.done(), worker
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


async def travel(database: Database, tenant: TenantFixture, seconds: int) -> None:
    """As if `seconds` had gone by for the tenant's dossiers, invites and pending jobs."""
    back = timedelta(seconds=seconds)

    def earlier(moment: datetime | None) -> datetime | None:
        return moment - back if moment is not None else None

    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        for dossier in await session.scalars(select(Dossier).where(Dossier.tenant_id == tenant.id)):
            dossier.expires_at, dossier.sent_at = earlier(dossier.expires_at), earlier(dossier.sent_at)
        for row in await session.scalars(select(Invite).where(Invite.tenant_id == tenant.id)):
            row.expires_at, row.sent_at = earlier(row.expires_at), earlier(row.sent_at)
        for job in await session.scalars(select(Job).where(Job.tenant_id == tenant.id, Job.status == "pending")):
            job.visible_at = job.visible_at - back
        await session.commit()


async def make_dossier(client: httpx.AsyncClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"name": "Mandate agreement", "invitees": [ANNA], **extra}
    answer = await client.post(DOSSIERS, headers=headers, json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    if any(person["role"] == "signer" for person in created["invitees"]):
        await add_document(client, headers, created)
    return created


async def invite(
    client: httpx.AsyncClient, headers: dict[str, str], dossier: dict[str, Any], *entries: dict[str, Any]
) -> list[dict[str, Any]]:
    answer = await client.post(f"{DOSSIERS}/{dossier['id']}/invites", headers=headers, json=list(entries))
    assert answer.status_code == 201, answer.text
    made: list[dict[str, Any]] = answer.json()
    return made


def entry(dossier: dict[str, Any], index: int, channel: str = "email", **extra: Any) -> dict[str, Any]:
    return {"inviteeId": dossier["invitees"][index]["id"], "channel": channel, **extra}


async def read(client: httpx.AsyncClient, headers: dict[str, str], dossier_id: str) -> dict[str, Any]:
    answer = await client.get(f"{DOSSIERS}/{dossier_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def invite_of(client: httpx.AsyncClient, headers: dict[str, str], dossier_id: str, invite_id: str) -> Any:
    answer = await client.get(f"{DOSSIERS}/{dossier_id}/invites/{invite_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def resolve(
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    token: str,
    *,
    ip: str = "198.51.100.7",
    dossier_id: str | None = None,
) -> signer_access.SignerAccess:
    """The resolver as a request runs it: refusals that keep their writes commit them."""
    async with database.session() as session:
        try:
            found = await signer_access.resolve(
                session, keys, settings, token, ip=ip, dossier_id=UUID(dossier_id) if dossier_id else None
            )
        except errors.AppError as error:
            if error.keeps_writes:
                await session.commit()
            raise
        await session.commit()
        return found


async def move(database: Database, tenant: TenantFixture, invitee_id: str, *targets: InviteeState) -> None:
    """What the signer side does when an invitee acts: move them, then `advance`."""
    actor = tenants.operator(tenant.id)
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        invitee = await session.get(Invitee, UUID(invitee_id))
        assert invitee is not None
        for target in targets:
            await lifecycle.move_invitee(session, actor, invitee, target)
        dossier = await access.load_dossier(session, actor, invitee.dossier_id, for_update=True)
        await invites.advance(session, actor, dossier)
        await session.commit()


def token_in(message: Any) -> str:
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(1)


@pytest.fixture
async def advisor(database: Database, keys: ServerKeys, tenant: TenantFixture) -> Person:
    member = await make_member(database, keys, tenant.id, role=Role.ADVISOR, display_name="Beat Berater")
    return Person(member.member.id, {**tenant.headers, "X-Acting-Member": str(member.member.id)})


@pytest.fixture
def smtp_settings(settings: Settings, mail: MailCatcher) -> Settings:
    return mail.settings(settings)


# --- email and link -----------------------------------------------------------------------


async def test_an_email_invite_sends_the_dossier_in_the_invitees_language_with_a_working_link(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    smtp_settings: Settings,
    mail: MailCatcher,
    tenant: TenantFixture,
    advisor: Person,
) -> None:
    dossier = await make_dossier(client, advisor.headers, locale="de-CH", invitees=[{**ANNA, "locale": "fr-CH"}, BEAT])
    made = await invite(client, advisor.headers, dossier, entry(dossier, 0), entry(dossier, 1))
    first = made[0]
    assert set(first) >= {
        "id",
        "inviteeId",
        "inviteUri",
        "channel",
        "reminder",
        "emailSentAt",
        "emailBouncedAt",
        "expiresIn",
        "expiresAt",
        "createdAt",
    }
    assert (first["channel"], first["state"], first["inviteUri"], first["reminder"]) == ("email", "sent", None, False)
    sent = await read(client, advisor.headers, dossier["id"])
    assert sent["state"] == "pending"
    assert [i["state"] for i in sent["invitees"]] == ["invited", "invited"]
    assert first["expiresAt"] == sent["expiresAt"]  # no expiresIn: until the dossier expires

    await run_due(database, smtp_settings, tenant)
    (french,) = mail.to(ANNA["email"])
    assert french["Subject"].startswith("Beat Berater (Test Bank")
    assert "vous demande de signer" in french.get_content()
    assert "Mandate agreement" in french["Subject"] and "Anna Muster" in french.get_content()
    (german,) = mail.to(BEAT["email"])
    assert "unterschreiben" in german.get_content()
    found = await resolve(database, keys, settings, token_in(french))
    assert (str(found.invitee.id), str(found.invite.id), str(found.dossier.id)) == (
        first["inviteeId"],
        first["id"],
        dossier["id"],
    )
    assert token_in(french) != token_in(german)
    read_back = await invite_of(client, advisor.headers, dossier["id"], first["id"])
    assert read_back["emailSentAt"] is not None and read_back["emailBouncedAt"] is None

    # Opening the link changed nothing.
    assert [i["state"] for i in (await read(client, advisor.headers, dossier["id"]))["invitees"]] == [
        "invited",
        "invited",
    ]
    actions = await audit_actions(client, tenant, first["id"])
    assert actions == ["signing.invite.created", "signing.invite.sent"]


async def audit_actions(client: httpx.AsyncClient, tenant: TenantFixture, target_id: str) -> list[str]:
    answer = await client.get(
        f"{API_PREFIX}/audit-events",
        headers=tenant.headers,
        params={"targetId": target_id, "sortOrder": "Ascending", "pageSize": 200},
    )
    assert answer.status_code == 200, answer.text
    return [item["action"] for item in answer.json()["items"]]


async def test_a_link_invite_answers_a_uri_whose_token_resolves_and_sends_nothing(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    smtp_settings: Settings,
    mail: MailCatcher,
    tenant: TenantFixture,
    advisor: Person,
) -> None:
    dossier = await make_dossier(client, advisor.headers)
    (made,) = await invite(client, advisor.headers, dossier, entry(dossier, 0, "link", expiresIn=2 * HOUR))
    uri = made["inviteUri"]
    match = LINK.fullmatch(uri)
    assert match, uri
    found = await resolve(database, keys, settings, match.group(1), dossier_id=dossier["id"])
    assert str(found.invite.id) == made["id"]
    assert datetime.fromisoformat(made["expiresAt"]) - datetime.fromisoformat(made["createdAt"]) == timedelta(hours=2)
    assert (await invite_of(client, advisor.headers, dossier["id"], made["id"]))["inviteUri"] == uri
    listed = await client.get(f"{DOSSIERS}/{dossier['id']}/invites", headers=advisor.headers)
    assert [(i["id"], i["inviteUri"]) for i in listed.json()["items"]] == [(made["id"], uri)]
    await run_due(database, smtp_settings, tenant)
    assert mail.received == []
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        row = await session.get(Invite, UUID(made["id"]))
        assert row is not None and tokens.token_of(keys, row) == match.group(1)
        # Nothing of the token is stored: no column holds it.
        assert match.group(1) not in repr([getattr(row, c.key) for c in Invite.__table__.columns])


# --- groups -------------------------------------------------------------------------------


async def test_a_later_group_is_invited_only_when_every_signer_and_approver_before_has_finished(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    smtp_settings: Settings,
    mail: MailCatcher,
    tenant: TenantFixture,
    advisor: Person,
) -> None:
    dossier = await make_dossier(
        client,
        advisor.headers,
        invitees=[
            {**ANNA, "position": 1},
            {**BEAT, "position": 1, "role": "approver"},
            {**CARLA, "position": 2},
            {**VERA, "position": 3, "role": "viewer"},
        ],
    )
    made = await invite(
        client,
        advisor.headers,
        dossier,
        entry(dossier, 0),
        entry(dossier, 1),
        entry(dossier, 2, "link"),
        entry(dossier, 3),
    )
    assert [m["state"] for m in made] == ["sent", "sent", "scheduled", "sent"]  # viewers with the first group
    assert made[2]["expiresAt"] is None
    carla_token = LINK.fullmatch(made[2]["inviteUri"])
    assert carla_token
    with pytest.raises(errors.InviteNotOpenYet):
        await resolve(database, keys, settings, carla_token.group(1))
    await run_due(database, smtp_settings, tenant)
    assert {address for _, rcpt, _ in mail.received for address in rcpt} == {
        ANNA["email"],
        BEAT["email"],
        VERA["email"],
    }
    ids = [i["id"] for i in dossier["invitees"]]

    await move(database, tenant, ids[0], InviteeState.VIEWED, InviteeState.SIGNED)
    await run_due(database, smtp_settings, tenant)
    states = [i["state"] for i in (await read(client, advisor.headers, dossier["id"]))["invitees"]]
    assert states == ["signed", "invited", "waiting", "invited"]  # the approver has not finished
    assert (await invite_of(client, advisor.headers, dossier["id"], made[2]["id"]))["state"] == "scheduled"

    await move(database, tenant, ids[1], InviteeState.VIEWED, InviteeState.APPROVED)
    await run_due(database, smtp_settings, tenant)
    states = [i["state"] for i in (await read(client, advisor.headers, dossier["id"]))["invitees"]]
    assert states == ["signed", "approved", "invited", "invited"]
    carla = await invite_of(client, advisor.headers, dossier["id"], made[2]["id"])
    assert carla["state"] == "sent" and carla["expiresAt"] is not None
    found = await resolve(database, keys, settings, carla_token.group(1))
    assert str(found.invitee.id) == ids[2]
    assert len(mail.received) == 3  # a link invite sends nothing

    invitee_events = [
        (data["inviteeId"], data["previousState"], data["state"])
        for kind, data in await events_of(database, tenant, "dossier.invitee.")
    ]
    assert (ids[2], "waiting", "invited") in invitee_events
    assert invitee_events.index((ids[2], "waiting", "invited")) > invitee_events.index((ids[1], "viewed", "approved"))


# --- reminders and expiry -----------------------------------------------------------------


async def test_reminders_go_every_reminder_in_at_most_five_times_and_stop_when_cancelled(
    client: httpx.AsyncClient,
    database: Database,
    smtp_settings: Settings,
    mail: MailCatcher,
    tenant: TenantFixture,
    advisor: Person,
) -> None:
    dossier = await make_dossier(client, advisor.headers, reminderIn=HOUR, invitees=[ANNA, BEAT])
    cancelled = await make_dossier(client, advisor.headers, reminderIn=HOUR, invitees=[CARLA])
    (anna, beat) = await invite(client, advisor.headers, dossier, entry(dossier, 0), entry(dossier, 1, "link"))
    await invite(client, advisor.headers, cancelled, entry(cancelled, 0))
    await run_due(database, smtp_settings, tenant)
    await travel(database, tenant, HOUR)
    await run_due(database, smtp_settings, tenant)
    assert len(mail.to(CARLA["email"])) == 2  # the invite and one reminder
    answer = await client.post(f"{DOSSIERS}/{cancelled['id']}/cancel", headers=advisor.headers, json={"reason": "No"})
    assert answer.status_code == 200, answer.text

    for _ in range(7):
        await travel(database, tenant, HOUR)
        await run_due(database, smtp_settings, tenant)

    anna_mail = mail.to(ANNA["email"])
    assert len(anna_mail) == 6  # the invite and five reminders
    assert all(token_in(message) == token_in(anna_mail[0]) for message in anna_mail)  # the same link
    assert "Mandate agreement" in anna_mail[-1]["Subject"] and anna_mail[-1]["Subject"].startswith("Reminder")
    assert len(mail.to(CARLA["email"])) == 2  # nothing after the cancel
    assert mail.to(BEAT["email"]) == []  # a link invite is reminded by an event, not by email
    for made in (anna, beat):
        read_back = await invite_of(client, advisor.headers, dossier["id"], made["id"])
        assert (read_back["reminder"], read_back["remindersSent"]) == (True, 5)
    reminders = [
        (data["inviteId"], data["channel"], data["reminder"])
        for _, data in await events_of(database, tenant, "dossier.reminder.sent")
    ]
    assert sorted(r for r in reminders if r[0] == anna["id"]) == [(anna["id"], "email", n) for n in range(1, 6)]
    assert sorted(r for r in reminders if r[0] == beat["id"]) == [(beat["id"], "link", n) for n in range(1, 6)]
    assert len(reminders) == 11  # and one of the cancelled dossier's
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant.id)
        left = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.tenant_id == tenant.id, Job.task == delivery.REMIND.name, Job.status.in_(CLAIMABLE))
        )
        assert left == 0


async def test_a_reminder_job_run_twice_reminds_once(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    advisor: Person,
) -> None:
    dossier = await make_dossier(client, advisor.headers, reminderIn=HOUR)
    (made,) = await invite(client, advisor.headers, dossier, entry(dossier, 0, "link"))
    outbound = invites.Outbound(keys, settings.public_url)
    actor = delivery.system_actor(tenant.id)
    outcomes = []
    for _ in range(2):
        await travel(database, tenant, HOUR)
        async with database.session() as session:
            await bind_tenant(session, tenant.id)
            outcome = await reminders.remind(session, actor, outbound, UUID(dossier["id"]), UUID(made["id"]), 1)
            await session.commit()
            outcomes.append(outcome)
    assert outcomes == ["reminder 1 sent", "reminder 1 already sent"]
    assert len(await events_of(database, tenant, "dossier.reminder.sent")) == 1


async def test_expiry_ends_invites_and_then_the_dossier(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    advisor: Person,
) -> None:
    dossier = await make_dossier(client, advisor.headers, expiresIn=3 * HOUR, invitees=[ANNA, BEAT])
    short, full = await invite(
        client, advisor.headers, dossier, entry(dossier, 0, "link", expiresIn=HOUR), entry(dossier, 1, "link")
    )
    long_asked = await invite(client, advisor.headers, dossier, entry(dossier, 1, "link", expiresIn=30 * 86400))
    assert long_asked[0]["expiresAt"] == (await read(client, advisor.headers, dossier["id"]))["expiresAt"]
    replaced_token = LINK.fullmatch(full["inviteUri"])
    assert replaced_token
    with pytest.raises(errors.InviteReplaced):
        await resolve(database, keys, settings, replaced_token.group(1))
    assert (await invite_of(client, advisor.headers, dossier["id"], full["id"]))["state"] == "revoked"

    await travel(database, tenant, HOUR + 1)
    await run_due(database, settings, tenant)
    assert (await invite_of(client, advisor.headers, dossier["id"], short["id"]))["state"] == "expired"
    assert (await read(client, advisor.headers, dossier["id"]))["state"] == "pending"
    short_token = LINK.fullmatch(short["inviteUri"]) if short["inviteUri"] else None
    assert short_token
    with pytest.raises(errors.InviteExpired):
        await resolve(database, keys, settings, short_token.group(1))

    await travel(database, tenant, 2 * HOUR)
    await run_due(database, settings, tenant)
    ended = await read(client, advisor.headers, dossier["id"])
    assert ended["state"] == "expired"
    assert (await invite_of(client, advisor.headers, dossier["id"], long_asked[0]["id"]))["state"] == "expired"
    with pytest.raises(errors.DossierEnded):
        await resolve(database, keys, settings, LINK.fullmatch(long_asked[0]["inviteUri"] or "").group(1))  # type: ignore[union-attr]
    expired = [data["inviteId"] for _, data in await events_of(database, tenant, "dossier.invite.expired")]
    assert expired == [short["id"], long_asked[0]["id"]]
    states = [data["state"] for _, data in await events_of(database, tenant, "dossier.state.updated")]
    assert states == ["pending", "expired"]
    refused = await client.post(
        f"{DOSSIERS}/{dossier['id']}/invites", headers=advisor.headers, json=[entry(dossier, 0)]
    )
    problem(refused, 409, "Conflict", "DossierNotSendable")


# --- the token ----------------------------------------------------------------------------


async def test_the_resolver_refuses_wrong_forged_other_and_ended_tokens_and_limits_guessing(
    client: httpx.AsyncClient,
    database: Database,
    keys: ServerKeys,
    settings: Settings,
    tenant: TenantFixture,
    advisor: Person,
) -> None:
    dossier = await make_dossier(client, advisor.headers)
    other = await make_dossier(client, advisor.headers)
    (made,) = await invite(client, advisor.headers, dossier, entry(dossier, 0, "link"))
    (other_made,) = await invite(client, advisor.headers, other, entry(other, 0, "link"))
    token = LINK.fullmatch(made["inviteUri"]).group(1)  # type: ignore[union-attr]
    other_token = LINK.fullmatch(other_made["inviteUri"]).group(1)  # type: ignore[union-attr]
    strict = settings.model_copy(update={"auth": settings.auth.model_copy(update={"ip_attempts_per_minute": 4})})
    ip = f"198.51.100.{secrets.randbelow(200) + 20}"

    forged = token[:22] + other_token[22:]  # this invite's id with another's MAC
    bad = [secrets.token_urlsafe(48), forged, "short"]
    for wrong in bad:
        with pytest.raises(errors.InviteTokenInvalid):
            await resolve(database, keys, strict, wrong, ip=ip)
    with pytest.raises(errors.InviteTokenInvalid):  # a real token, but of another dossier
        await resolve(database, keys, strict, other_token, ip=ip, dossier_id=dossier["id"])
    with pytest.raises(errors.InviteTokenRateLimited):
        await resolve(database, keys, strict, secrets.token_urlsafe(48), ip=ip)
    with pytest.raises(errors.InviteTokenRateLimited):  # even the right one, from that address
        await resolve(database, keys, strict, token, ip=ip)
    assert str((await resolve(database, keys, strict, token, ip="192.0.2.99")).invite.id) == made["id"]

    cancel = await client.post(f"{DOSSIERS}/{other['id']}/cancel", headers=advisor.headers, json={"reason": "No"})
    assert cancel.status_code == 200
    with pytest.raises(errors.DossierEnded) as ended:
        await resolve(database, keys, settings, other_token, ip="192.0.2.98")
    assert ended.value.params == {"state": "cancelled"}
    # A token made under a previous secret still opens its invite after a rotation.
    rotated = ServerKeys(b"a brand new secret for the test".ljust(32, b"!"), [settings.secret()])
    assert str((await resolve(database, rotated, settings, token, ip="192.0.2.97")).invite.id) == made["id"]


# --- refusals -----------------------------------------------------------------------------


async def test_invites_are_refused_with_the_reason_and_change_nothing(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, other_tenant: TenantFixture, advisor: Person
) -> None:
    dossier = await make_dossier(client, advisor.headers, invitees=[ANNA, {"name": "No Mail"}])
    url = f"{DOSSIERS}/{dossier['id']}/invites"
    unknown = await client.post(url, headers=advisor.headers, json=[{"inviteeId": str(UUID(int=7))}])
    assert [e["pointer"] for e in problem(unknown, 400, "BadRequest", "InviteeUnknown")] == ["/0/inviteeId"]
    twice = await client.post(url, headers=advisor.headers, json=[entry(dossier, 0), entry(dossier, 0, "link")])
    assert [e["pointer"] for e in problem(twice, 400, "BadRequest", "InviteeRepeated")] == ["/1/inviteeId"]
    no_mail = await client.post(url, headers=advisor.headers, json=[entry(dossier, 1)])
    assert [e["pointer"] for e in problem(no_mail, 400, "BadRequest", "InviteeEmailMissing")] == ["/0/channel"]
    empty = await client.post(url, headers=advisor.headers, json=[])
    problem(empty, 422, "UnprocessableEntity", "ValidationFailed")
    assert (await read(client, advisor.headers, dossier["id"]))["state"] == "draft"

    viewers = await make_dossier(client, advisor.headers, invitees=[{**ANNA, "role": "viewer"}])
    refused = await client.post(
        f"{DOSSIERS}/{viewers['id']}/invites", headers=advisor.headers, json=[entry(viewers, 0)]
    )
    problem(refused, 400, "BadRequest", "NoSigners")

    # An aes signer whose otp_email lost its address (a draft changed under the rules) is not sent.
    aes = await make_dossier(
        client, advisor.headers, method="aes", invitees=[{**ANNA, "authenticationMethods": ["otp_email"]}]
    )
    async with database.session() as session:
        await bind_tenant(session, tenant.id)
        await session.execute(update(Invitee).where(Invitee.id == UUID(aes["invitees"][0]["id"])).values(email=None))
        await session.commit()
    unready = await client.post(
        f"{DOSSIERS}/{aes['id']}/invites", headers=advisor.headers, json=[entry(aes, 0, "link")]
    )
    problem(unready, 400, "BadRequest", "SignerEmailMissing")

    await invite(client, advisor.headers, dossier, entry(dossier, 0, "link"))
    await client.post(f"{DOSSIERS}/{dossier['id']}/cancel", headers=advisor.headers, json={"reason": "Changed"})
    late = await client.post(url, headers=advisor.headers, json=[entry(dossier, 1, "link")])
    problem(late, 409, "Conflict", "DossierNotSendable")
    assert "cancelled" in late.json()["detail"]

    # Another tenant sees none of it.
    for path in (url, f"{url}/{UUID(int=1)}"):
        problem(await client.get(path, headers=other_tenant.headers), 404, "NotFound", "DossierNotFound")
    problem(
        await client.post(url, headers=other_tenant.headers, json=[entry(dossier, 0)]),
        404,
        "NotFound",
        "DossierNotFound",
    )


async def test_an_invitee_who_finished_is_not_invited_again(
    client: httpx.AsyncClient, database: Database, tenant: TenantFixture, advisor: Person
) -> None:
    dossier = await make_dossier(client, advisor.headers, invitees=[ANNA, BEAT])
    await invite(client, advisor.headers, dossier, entry(dossier, 0, "link"), entry(dossier, 1, "link"))
    await move(database, tenant, dossier["invitees"][0]["id"], InviteeState.VIEWED, InviteeState.SIGNED)
    again = await client.post(f"{DOSSIERS}/{dossier['id']}/invites", headers=advisor.headers, json=[entry(dossier, 0)])
    assert [e["pointer"] for e in problem(again, 400, "BadRequest", "InviteeFinished")] == ["/0/inviteeId"]


# --- bounces and events -------------------------------------------------------------------


async def test_a_refused_address_marks_the_invite_bounced_and_is_announced_without_personal_data(
    client: httpx.AsyncClient,
    database: Database,
    smtp_settings: Settings,
    mail: MailCatcher,
    tenant: TenantFixture,
    advisor: Person,
) -> None:
    mail.refuse.add(BEAT["email"])
    dossier = await make_dossier(client, advisor.headers, reminderIn=HOUR, invitees=[ANNA, BEAT])
    anna, beat = await invite(client, advisor.headers, dossier, entry(dossier, 0), entry(dossier, 1))
    await run_due(database, smtp_settings, tenant)
    bounced = await invite_of(client, advisor.headers, dossier["id"], beat["id"])
    assert bounced["emailBouncedAt"] is not None and bounced["emailSentAt"] is None
    delivered = await invite_of(client, advisor.headers, dossier["id"], anna["id"])
    assert delivered["emailBouncedAt"] is None and delivered["emailSentAt"] is not None
    undelivered = await events_of(database, tenant, "dossier.invite.undelivered")
    assert undelivered == [
        (
            "dossier.invite.undelivered",
            {
                "dossierId": dossier["id"],
                "inviteId": beat["id"],
                "inviteeId": beat["inviteeId"],
                "channel": "email",
                "state": "sent",
            },
        )
    ]
    assert await audit_actions(client, tenant, beat["id"]) == [
        "signing.invite.created",
        "signing.invite.sent",
        "signing.invite.undelivered",
    ]
    await travel(database, tenant, HOUR)
    await run_due(database, smtp_settings, tenant)

    everything = await events_of(database, tenant, "dossier.")
    kinds = {kind for kind, _ in everything}
    assert {"dossier.invite.created", "dossier.invitee.state.updated", "dossier.reminder.sent"} <= kinds
    personal = [*ANNA.values(), *BEAT.values(), "Mandate agreement", "Beat Berater"]
    for kind, data in everything:
        text = repr(data)
        assert not [value for value in personal if value in text], (kind, data)
        assert not LINK.search(text) and "/s/" not in text


async def test_the_catalogue_lists_the_invite_events_with_their_schemas(
    client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    answer = await client.get(f"{API_PREFIX}/events", headers=tenant.headers, params={"pageSize": 200})
    found = {item["type"]: item for item in answer.json()["items"]}
    invite_fields = {"dossierId", "inviteId", "inviteeId", "channel", "state"}
    for name in (
        "dossier.invite.created",
        "dossier.invite.viewed",
        "dossier.invite.expired",
        "dossier.invite.undelivered",
    ):
        assert set(found[name]["dataSchema"]["properties"]) == invite_fields
    assert set(found["dossier.invitee.state.updated"]["dataSchema"]["properties"]) == {
        "dossierId",
        "inviteeId",
        "state",
        "previousState",
        "by",
    }
    assert set(found["dossier.reminder.sent"]["dataSchema"]["properties"]) == {
        "dossierId",
        "inviteId",
        "inviteeId",
        "channel",
        "reminder",
    }
