"""The `trustroom` command: serve, worker, migrations, tenants, keys, members, imports, audit,
configuration.

Every command takes `--json` and then prints exactly one JSON object. Global flags (`--json`,
`--dev`) go before or after the command. Every command first checks every setting: a broken
one stops it with one line per problem (naming the variable) and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from . import demo, logs, settings_report
from .actor import Actor, ActorKind
from .audit import service as audit
from .auth.models import ALL_SCOPES, ApiKey, Member, Role
from .auth.service import api_keys, members, portal, tenants
from .clients import tasks as clients_tasks
from .clients.models import RecordKind, TransferStatus
from .clients.service import imports, pictures
from .db import Database, bind_tenant, cross_tenant, utcnow
from .errors import AppError
from .keys import ServerKeys
from .settings import ConfigurationError, Settings
from .settings_problems import Problem, SettingsInvalid
from .signing.service import check as signing_check
from .signing.service import credentials as signing_credentials
from .storage import rotation
from .storage.blobs import store_from_settings
from .storage.keyring import SealedKeyring
from .worker import run_worker

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHOWN_FAILURES = 20
IMPORT_KINDS = {"contacts": RecordKind.CONTACT, "legal-entities": RecordKind.LEGAL_ENTITY}


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def emit(self, data: dict[str, Any], text: str) -> None:
        print(json.dumps(data, default=str) if self.as_json else text)

    def fail(self, data: dict[str, Any], text: str) -> None:
        """An error: one JSON object on stdout with --json, else lines on stderr."""
        if self.as_json:
            print(json.dumps(data, default=str))
        else:
            print(text, file=sys.stderr)


def alembic_config(database_url: str) -> Any:
    # Alembic, uvicorn and the app are imported where used: each command needs one of them,
    # and importing all would cost every command seconds of start-up.
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415

    config = AlembicConfig(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def migrate(settings: Settings) -> None:
    from alembic import command as alembic_command  # noqa: PLC0415

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    alembic_command.upgrade(alembic_config(settings.resolved_database_url), "head")


async def _in_session(settings: Settings, work: Callable[[Any], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    database = Database(settings.resolved_database_url)
    try:
        async with database.session(write=True) as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await database.dispose()


async def _tenant_create(
    settings: Settings, name: str, language: str, username_from_email: bool, client_codes: str
) -> dict[str, Any]:
    async def work(session: Any) -> dict[str, Any]:
        tenant = await tenants.create_tenant(
            session,
            name,
            default_language=language,
            username_from_email=username_from_email,
            client_code_channel=client_codes,
        )
        return {"id": str(tenant.id), "name": tenant.name}

    return await _in_session(settings, work)


async def _api_key_create(
    settings: Settings, tenant_id: UUID, scopes: Sequence[str], expires_in: int | None, name: str
) -> dict[str, Any]:
    keys = ServerKeys.from_settings(settings)

    async def work(session: Any) -> dict[str, Any]:
        await tenants.get_tenant(session, tenant_id)
        operator = tenants.operator(tenant_id)
        issued = await api_keys.create(session, operator, keys, name=name, scopes=scopes, expires_in=expires_in)
        return {"id": str(issued.api_key.id), "key": issued.secret, "scopes": issued.api_key.scopes}

    return await _in_session(settings, work)


async def _member_create(
    settings: Settings, tenant_id: UUID, email: str, role: Role, name: str | None
) -> dict[str, Any]:
    keys = ServerKeys.from_settings(settings)

    async def work(session: Any) -> dict[str, Any]:
        await tenants.get_tenant(session, tenant_id)
        new = await members.create(
            session, tenants.operator(tenant_id), keys, email=email, role=role, display_name=name
        )
        return {
            "id": str(new.member.id),
            "email": new.member.email,
            "password": new.password,
            "totpSecret": new.totp_secret,
            # Sign-ins are bound to a tenant: the member needs this address (TRUSTROOM_PUBLIC_URL's host).
            "advisorPortal": f"{settings.public_url.rstrip('/')}{portal.login_path(tenant_id)}",
        }

    return await _in_session(settings, work)


async def _demo(settings: Settings) -> dict[str, Any]:
    keys = ServerKeys.from_settings(settings)
    return await _in_session(settings, lambda session: demo.seed(session, settings, keys))


async def _audit_verify(settings: Settings, tenant_id: UUID | None) -> dict[str, Any]:
    database = Database(settings.resolved_database_url)
    try:
        async with database.session(write=False) as session, cross_tenant(session):
            report = await audit.verify(session, tenant_id)
    finally:
        await database.dispose()
    result: dict[str, Any] = {"intact": report.intact, "tenants": report.tenants, "rows": report.rows}
    if report.first_break is not None:
        brk = report.first_break
        result["firstBadRow"] = {
            "tenantId": str(brk.tenant_id),
            "seq": brk.seq,
            "id": str(brk.row_id) if brk.row_id else None,
            "reason": brk.reason,
            "description": brk.describe(),
        }
    return result


async def _keys_status(settings: Settings) -> dict[str, Any]:
    keys = ServerKeys.from_settings(settings)

    async def work(session: Any) -> dict[str, Any]:
        async with cross_tenant(session):
            live = (ApiKey.revoked_at.is_(None)) & (ApiKey.expires_at.is_(None) | (ApiKey.expires_at > utcnow()))
            old_keys = await session.scalar(
                select(func.count()).select_from(ApiKey).where(live, ApiKey.secret_id != keys.secret_id)
            )
            everyone = list(await session.scalars(select(Member)))
        old_seals = sum(
            not keys.is_current_seal(m.totp_secret_sealed, context=members.totp_context(m)) for m in everyone
        )
        old_pictures = await pictures.count_on_older_secrets(session, keys)
        old_keks = await SealedKeyring(keys).count_on_older_secrets(session)
        old_signing = await signing_credentials.count_on_older_secrets(session, keys)
        return {
            "currentSecretId": keys.secret_id,
            "apiKeysOnOlderSecrets": int(old_keys or 0),
            "totpSecretsOnOlderSecrets": old_seals,
            "profilePicturesOnOlderSecrets": old_pictures,
            "storageKeysOnOlderSecrets": old_keks,
            "signingKeysOnOlderSecrets": old_signing,
            "previousSecretsStillNeeded": bool(old_keys or old_seals or old_pictures or old_keks or old_signing),
        }

    return await _in_session(settings, work)


async def _keys_reseal(settings: Settings) -> dict[str, Any]:
    keys = ServerKeys.from_settings(settings)

    async def work(session: Any) -> dict[str, Any]:
        resealed, total = await members.reseal_all(session, keys)
        pictures_resealed, picture_count = await pictures.reseal_all(session, keys)
        keks_resealed, kek_count = await SealedKeyring(keys).reseal_all(session)
        signing_resealed, signing_count = await signing_credentials.reseal_all(session, keys)
        return {
            "resealed": resealed,
            "members": total,
            "picturesResealed": pictures_resealed,
            "pictures": picture_count,
            "storageKeysResealed": keks_resealed,
            "storageKeys": kek_count,
            "signingKeysResealed": signing_resealed,
            "signingKeys": signing_count,
        }

    return await _in_session(settings, work)


async def _keys_rotate(settings: Settings, tenant_id: UUID | None, purpose: str | None) -> dict[str, Any]:
    keys = ServerKeys.from_settings(settings)

    async def work(session: Any) -> dict[str, Any]:
        async with cross_tenant(session):
            rotated = await rotation.rotate(session, SealedKeyring(keys), tenant_id=tenant_id, purpose=purpose)
        return {"keysRotated": rotated.keys, "dataKeysRewrapped": rotated.data_keys}

    return await _in_session(settings, work)


async def _import(
    settings: Settings, tenant_id: UUID, kind: RecordKind, paths: list[Path], show: bool
) -> dict[str, Any]:
    """Upload the files and sync them as the operator, with a worker of this process doing
    the sync (any other worker may take it too; the bar follows the run either way)."""
    from rich.progress import Progress  # noqa: PLC0415 - only this command draws a bar

    keys = ServerKeys.from_settings(settings)
    actor = Actor(tenant_id=tenant_id, kind=ActorKind.OPERATOR, id=None, permissions=frozenset(ALL_SCOPES))
    database = Database(settings.resolved_database_url)
    stop = asyncio.Event()
    try:
        async with database.session(write=True) as session:
            await bind_tenant(session, tenant_id)
            kek = await SealedKeyring(keys).current(session, tenant_id, imports.KEK_PURPOSE)
            upload = imports.Upload(
                session,
                actor,
                kind,
                store_from_settings(settings),
                kek,
                timedelta(seconds=settings.clients.import_ttl_seconds),
            )
            try:
                for path in paths:
                    await upload.begin("files", path.name, "application/json")
                    with path.open("rb") as file:
                        while chunk := file.read(1 << 20):
                            await upload.data(chunk)
                    await upload.end()
                await upload.finish()
                run = await imports.start_sync(session, actor, kind, [f.id for f in upload.files])
                await session.commit()
            except BaseException:
                await upload.abort()
                raise
        worker = asyncio.create_task(
            run_worker(settings, stop, database=database, tasks=(clients_tasks.IMPORT,), schedules=())
        )
        with Progress(disable=not show, transient=False) as progress:
            bar = progress.add_task(f"importing {run.total_count} record(s)", total=run.total_count)
            while True:
                async with database.session(write=False) as session:
                    await bind_tenant(session, tenant_id)
                    run, failures = await imports.status(session, actor, run.id)
                progress.update(bar, completed=run.processed_count)
                if run.status not in (TransferStatus.QUEUED, TransferStatus.RUNNING) or worker.done():
                    break
                await asyncio.sleep(0.2)
        stop.set()
        await worker
    finally:
        stop.set()
        await database.dispose()
    return {
        "statusId": str(run.id),
        "status": str(run.status),
        "total": run.total_count,
        "created": run.created_count,
        "updated": run.updated_count,
        "unchanged": run.unchanged_count,
        "failed": run.failed_count,
        "failures": [
            {"externalId": f.external_id, "position": f.position, "code": f.code, "message": f.message}
            for f in failures[:SHOWN_FAILURES]
        ],
    }


async def _signing_check(settings: Settings, tenant_id: UUID, output: Path | None) -> dict[str, Any]:
    keys = ServerKeys.from_settings(settings)

    async def work(session: Any) -> dict[str, Any]:
        await tenants.get_tenant(session, tenant_id)
        await bind_tenant(session, tenant_id)
        result = await signing_check.run(session, keys, settings, tenant_id)
        if output is not None:
            await asyncio.to_thread(output.write_bytes, result.signed)
        return {
            "ok": result.ok,
            "timestamping": result.timestamping,
            "output": str(output) if output else None,
            "signatures": [
                {
                    "field": r.field,
                    "kind": r.kind,
                    "signer": r.signer,
                    "level": r.level,
                    "intact": r.intact,
                    "trusted": r.trusted,
                    "revoked": r.revoked,
                    "docmdpOk": r.docmdp_ok,
                    "adesIndication": r.ades_indication,
                    "ok": r.ok,
                }
                for r in result.reports
            ],
        }

    return await _in_session(settings, work)


def _signing_check_text(result: dict[str, Any]) -> str:
    lines = [
        f"{s['field']:<14} {s['kind']:<13} {s['level']:<6} signer {s['signer']}: "
        + (
            "ok"
            if s["ok"]
            else f"NOT OK (intact {s['intact']}, trusted {s['trusted']}, revoked {s['revoked']}, "
            f"changes allowed {s['docmdpOk']}, AdES {s['adesIndication']})"
        )
        for s in result["signatures"]
    ]
    verdict = "signing works" if result["ok"] else "SIGNING CHECK FAILED"
    return "\n".join([*lines, f"{verdict} (timestamps: {result['timestamping']})"])


async def _signing_start_up_problems(settings: Settings) -> list[Problem]:
    """Signing keys the configured secrets cannot open, or expired CA/TSA certificates: start-up stops.

    A database not migrated yet has no keys to check (`migrate` comes first)."""
    keys = ServerKeys.from_settings(settings)
    database = Database(settings.resolved_database_url)
    try:
        async with database.session(write=False) as session:
            found = await signing_credentials.start_up_problems(session, keys)
    except DBAPIError:
        return []
    finally:
        await database.dispose()
    return [Problem("TRUSTROOM_SECRET_KEY", problem, None) for problem in found]


def check_signing_or_stop(settings: Settings) -> None:
    problems = asyncio.run(_signing_start_up_problems(settings))
    if problems:
        raise SettingsInvalid(problems)


def with_listening_url(settings: Settings, host: str, port: int) -> Settings:
    """Unless TRUSTROOM_PUBLIC_URL says otherwise, links that leave the server (access
    links) point where it listens: `serve --port 8010` links to port 8010."""
    if "public_url" in settings.model_fields_set:
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound
    shown = f"[{shown}]" if ":" in shown else shown
    return settings.model_copy(update={"public_url": f"http://{shown}:{port}"})


def serve(settings: Settings, host: str, port: int, with_worker: bool) -> None:
    import uvicorn  # noqa: PLC0415

    from .app import create_app  # noqa: PLC0415

    check_signing_or_stop(settings)
    app = create_app(with_listening_url(settings, host, port), run_worker_in_process=with_worker)
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=20, proxy_headers=False)


def worker(settings: Settings, concurrency: int | None = None) -> None:
    settings.secret()
    check_signing_or_stop(settings)
    logs.configure(settings.log_level, as_json=settings.log_json)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop, concurrency=concurrency)

    asyncio.run(main())


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (a number from 1 to 65535)")
    return int(text)


def _global_flags(*, on_command: bool) -> argparse.ArgumentParser:
    """The flags every command takes, before or after it. On a command they default to
    "not given" (SUPPRESS): argparse would otherwise let the command's default False
    overwrite a flag given before the command (`trustroom --json tenant create X`)."""
    flags = argparse.ArgumentParser(add_help=False)
    default: Any = argparse.SUPPRESS if on_command else False
    flags.add_argument("--json", action="store_true", default=default, help="print one JSON object")
    flags.add_argument(
        "--dev", action="store_true", default=default, help="development mode (generated secret key allowed)"
    )
    return flags


def build_parser() -> argparse.ArgumentParser:
    common = _global_flags(on_command=True)
    parser = argparse.ArgumentParser(
        prog="trustroom",
        description=__doc__,
        parents=[_global_flags(on_command=False)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", parents=[common], help="serve the API and pages")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--no-worker", action="store_true", help="do not run the worker in this process")
    p = sub.add_parser("worker", parents=[common], help="run the background worker")
    p.add_argument("--concurrency", type=int, metavar="N", help="jobs run at once (default: setting)")
    sub.add_parser("migrate", parents=[common], help="upgrade the database schema")
    sub.add_parser("demo", parents=[common], help="seed (idempotently) a demo tenant and print its credentials")
    tenant = sub.add_parser("tenant", parents=[common]).add_subparsers(dest="action", required=True)
    p = tenant.add_parser("create", parents=[common], help="create a tenant")
    p.add_argument("name")
    p.add_argument("--language", choices=["de", "en", "fr", "it"], default="en")
    p.add_argument("--username-from-email", action="store_true", help="contacts' usernames are their email addresses")
    p.add_argument(
        "--client-codes",
        choices=["sms", "email"],
        default="sms",
        help="how exchange clients get their one-time sign-in codes (default: SMS to their mobile)",
    )
    key = sub.add_parser("api-key", parents=[common]).add_subparsers(dest="action", required=True)
    p = key.add_parser("create", parents=[common], help="create an API key (shown once)")
    p.add_argument("--tenant", type=UUID, required=True)
    p.add_argument("--scope", action="append", choices=sorted(ALL_SCOPES), help="repeat; default: every scope")
    p.add_argument("--expires-in", type=int, metavar="SECONDS")
    p.add_argument("--name", default="CLI key")
    member = sub.add_parser("member", parents=[common]).add_subparsers(dest="action", required=True)
    p = member.add_parser("create", parents=[common], help="create a member (password and TOTP secret shown once)")
    p.add_argument("--tenant", type=UUID, required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--role", choices=[r.value for r in Role], required=True)
    p.add_argument("--name")
    keys_cmd = sub.add_parser("keys", parents=[common]).add_subparsers(dest="action", required=True)
    keys_cmd.add_parser("status", parents=[common], help="what still depends on previous server secrets")
    keys_cmd.add_parser(
        "reseal",
        parents=[common],
        help="seal every TOTP secret, profile picture, storage key and signing key under the current server secret",
    )
    p = keys_cmd.add_parser(
        "rotate",
        parents=[common],
        help="new key-encryption keys for stored files: data keys are re-wrapped, content is not touched",
    )
    p.add_argument("--tenant", type=UUID, help="only this tenant's keys")
    p.add_argument("--purpose", help="only keys of this purpose (e.g. exchange:<id>)")
    import_cmd = sub.add_parser("import", parents=[common]).add_subparsers(dest="action", required=True)
    for kind in IMPORT_KINDS:
        p = import_cmd.add_parser(
            kind, parents=[common], help=f"import {kind} from JSON files (create or update by externalId)"
        )
        p.add_argument("--tenant", type=UUID, required=True)
        p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    audit_cmd = sub.add_parser("audit", parents=[common]).add_subparsers(dest="action", required=True)
    p = audit_cmd.add_parser("verify", parents=[common], help="verify the audit hash chains")
    p.add_argument("--tenant", type=UUID)
    signing_cmd = sub.add_parser("signing", parents=[common]).add_subparsers(dest="action", required=True)
    p = signing_cmd.add_parser(
        "check",
        parents=[common],
        help="sign a generated PDF with the tenant's seal through the configured TSA to B-LTA and validate it "
        "(exit 1 when it does not validate)",
    )
    p.add_argument("--tenant", type=UUID, required=True)
    p.add_argument("--output", type=Path, metavar="FILE", help="also write the signed PDF here")
    config_cmd = sub.add_parser("config", parents=[common]).add_subparsers(dest="action", required=True)
    config_cmd.add_parser(
        "check",
        parents=[common],
        help="check every setting and print the effective configuration, secrets masked (exit 2 when invalid)",
    )
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.dev:
        os.environ["TRUSTROOM_DEV"] = "1"
    out = Output(args.json)
    try:
        settings = Settings()
        return _dispatch(args, settings, out)
    except SettingsInvalid as exc:
        data = {"error": "SettingsInvalid", "message": str(exc), "problems": [p.as_json() for p in exc.problems]}
        out.fail(data, "\n".join(f"error: {p.line}" for p in exc.problems))
        return 2
    except (ConfigurationError, AppError) as exc:
        out.fail({"error": type(exc).__name__, "message": str(exc)}, f"error: {exc}")
        return 2


def _dispatch(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    match args.command, getattr(args, "action", None):
        case "serve", _:
            serve(settings, args.host, args.port, with_worker=not args.no_worker)
        case "worker", _:
            worker(settings, args.concurrency)
        case "migrate", _:
            migrate(settings)
            out.emit({"migrated": True}, "database is up to date")
        case "demo", _:
            migrate(settings)
            seeded = asyncio.run(_demo(settings))
            m, c = seeded["member"], seeded["client"]
            out.emit(
                seeded,
                f"Demo tenant   {seeded['tenantId']}\nAPI key       {seeded['apiKey']}\n"
                f"Member login  {m['email']} / {m['password']}\nTOTP secret   {m['totpSecret']}\n"
                f"Client login  {c['username']} / {c['password']} (codes: {c['codes']})\n"
                + "\n".join(f"{name:<13} {url}" for name, url in seeded["urls"].items()),
            )
        case "tenant", "create":
            result = asyncio.run(
                _tenant_create(settings, args.name, args.language, args.username_from_email, args.client_codes)
            )
            out.emit(result, result["id"])
        case "api-key", "create":
            result = asyncio.run(
                _api_key_create(settings, args.tenant, args.scope or sorted(ALL_SCOPES), args.expires_in, args.name)
            )
            out.emit(result, f"id  {result['id']}\nkey {result['key']}")
        case "member", "create":
            result = asyncio.run(_member_create(settings, args.tenant, args.email, Role(args.role), args.name))
            out.emit(
                result,
                f"id          {result['id']}\npassword    {result['password']}\ntotp secret {result['totpSecret']}\n"
                f"sign in at  {result['advisorPortal']}",
            )
        case "keys", "status":
            result = asyncio.run(_keys_status(settings))
            out.emit(
                result,
                f"current secret {result['currentSecretId']}: {result['apiKeysOnOlderSecrets']} live API key(s), "
                f"{result['totpSecretsOnOlderSecrets']} TOTP secret(s), {result['profilePicturesOnOlderSecrets']} "
                f"profile picture(s), {result['storageKeysOnOlderSecrets']} storage key(s) and "
                f"{result['signingKeysOnOlderSecrets']} signing key(s) still on older secrets",
            )
        case "keys", "reseal":
            result = asyncio.run(_keys_reseal(settings))
            out.emit(
                result,
                f"resealed {result['resealed']} of {result['members']} TOTP secret(s), "
                f"{result['picturesResealed']} of {result['pictures']} profile picture(s), "
                f"{result['storageKeysResealed']} of {result['storageKeys']} storage key(s) and "
                f"{result['signingKeysResealed']} of {result['signingKeys']} signing key(s)",
            )
        case "keys", "rotate":
            result = asyncio.run(_keys_rotate(settings, args.tenant, args.purpose))
            out.emit(
                result,
                f"rotated {result['keysRotated']} key-encryption key(s), "
                f"re-wrapped {result['dataKeysRewrapped']} data key(s)",
            )
        case "import", str() as kind:
            result = asyncio.run(_import(settings, args.tenant, IMPORT_KINDS[kind], args.files, show=not args.json))
            out.emit(
                result,
                f"{result['status']}: {result['created']} created, {result['updated']} updated, "
                f"{result['unchanged']} unchanged, {result['failed']} failed (status {result['statusId']})"
                + "".join(
                    f"\n  record {f['position']} ({f['externalId'] or 'no externalId'}): {f['code']}: {f['message']}"
                    for f in result["failures"]
                ),
            )
            return 0 if result["failed"] == 0 else 1
        case "signing", "check":
            result = asyncio.run(_signing_check(settings, args.tenant, args.output))
            out.emit(result, _signing_check_text(result))
            return 0 if result["ok"] else 1
        case "config", "check":
            problems = settings_report.start_up_problems(settings)
            if problems:
                raise SettingsInvalid(problems)
            found = settings_report.rows(settings)
            unknown = settings_report.unknown_variables(settings, os.environ)
            out.emit(
                {"valid": True, "settings": [r.as_json() for r in found], "warnings": unknown},
                settings_report.text(found) + "".join(f"\nwarning: {w}" for w in unknown) + "\nconfiguration is valid",
            )
        case "audit", "verify":
            result = asyncio.run(_audit_verify(settings, args.tenant))
            text = (
                f"intact: {result['tenants']} tenant(s), {result['rows']} row(s)"
                if result["intact"]
                else f"BROKEN: {result['firstBadRow']['description']}"
            )
            out.emit(result, text)
            return 0 if result["intact"] else 1
    return 0


def main() -> None:
    sys.exit(run())
