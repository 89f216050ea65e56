"""Parts (a) and (b) of the client-records benchmark: import and CSV export.

(a) Import of N contacts (default 100k) from one JSON file on PostgreSQL: Trustroom's
    upload and sync (the job's work, in process: every record checked, created, connected
    to its external id, with history, audit and events) in contacts/s, against the same
    records checked with the same validator and bulk-inserted with plain SQL (COPY) in the
    same run. Ratio = Trustroom rate / baseline rate.
(b) CSV export of every contact (the 1M loaded for part (c)) on PostgreSQL, and of a
    SQLite database holding the same rows: Trustroom's export job (filter, visibility,
    exportable columns, formula neutralization, sealed storage) against `COPY (SELECT …) TO
    STDOUT CSV` and `sqlite3 -csv` selecting the same columns. Ratio = baseline seconds /
    Trustroom seconds (goal ≥ 0.3). Peak memory growth of the export is printed too.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import resource
import sqlite3
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr

from trustroom.auth.service import tenants
from trustroom.cli import migrate
from trustroom.clients import csvfile
from trustroom.clients.lists import fold
from trustroom.clients.models import RecordKind
from trustroom.clients.service import definitions, exports, imports, writes
from trustroom.clients.service.channels import Verifier
from trustroom.db import Database, bind_tenant
from trustroom.keys import ServerKeys
from trustroom.settings import Settings
from trustroom.storage.blobs import store_from_settings
from trustroom.storage.keyring import SealedKeyring

GOAL_EXPORT_RATIO = 0.3


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- (b) export ------------------------------------------------------------------------


async def trustroom_export(database: Database, settings: Settings, tenant_id: uuid.UUID) -> dict[str, Any]:
    keys = ServerKeys.from_settings(settings)
    actor = tenants.operator(tenant_id)
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        started = await exports.start(session, actor, RecordKind.CONTACT, {})
        await session.commit()
    run = exports.Run(database, settings, SealedKeyring(keys), store_from_settings(settings), tenant_id, started.id)
    rss_before = peak_rss_mb()
    began = time.perf_counter()
    written = await run.execute()
    assert written is not None
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        await exports.finish(session, run, *written)
        await session.commit()
    seconds = time.perf_counter() - began
    blob, rows = written
    return {"seconds": seconds, "rows": rows, "bytes": blob.byte_size, "peak_rss_growth_mb": peak_rss_mb() - rss_before}


async def export_columns(database: Database, tenant_id: uuid.UUID) -> csvfile.Columns:
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant_id)
        schema = await definitions.for_kind(session, tenants.operator(tenant_id), RecordKind.CONTACT)
    return csvfile.columns(RecordKind.CONTACT, schema.map)


def postgres_select(columns: csvfile.Columns) -> str:
    record = ["id", "username", "contact_type_id", "created_at", "updated_at"]
    details = ["details #>> '{" + ",".join(column.path) + "}'" for column in columns.details]
    selected = ", ".join(record + details)
    return f"SELECT {selected} FROM client_records WHERE tenant_id = %s AND kind = 'contact' ORDER BY id"  # noqa: S608


def sqlite_select(columns: csvfile.Columns, tenant_hex: str) -> str:
    record = ["id", "username", "contact_type_id", "created_at", "updated_at"]
    details = [f"json_extract(details, '$.{'.'.join(column.path)}')" for column in columns.details]
    selected = ", ".join(record + details)
    # Column names from our own schema and a tenant id we made: nothing outside goes in.
    return f"SELECT {selected} FROM client_records WHERE tenant_id = '{tenant_hex}' AND kind = 'contact' ORDER BY id"  # noqa: S608


def postgres_copy_seconds(url: str, tenant_id: uuid.UUID, columns: csvfile.Columns) -> float:
    query = postgres_select(columns).replace("%s", f"'{tenant_id}'")
    began = time.perf_counter()
    size = 0
    with (
        psycopg.connect(url) as connection,
        connection.cursor() as cursor,
        cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy,
    ):
        for chunk in copy:
            size += len(chunk)
    assert size > 0
    return time.perf_counter() - began


def sqlite_cli_seconds(db_path: Path, query: str) -> float:
    began = time.perf_counter()
    with Path("/dev/null").open("wb") as sink:
        subprocess.run(["sqlite3", "-csv", "-header", str(db_path), query], stdout=sink, check=True)
    return time.perf_counter() - began


def load_sqlite(db_path: Path, tenant_id: uuid.UUID, count: int) -> None:
    """The same kind of rows as the PostgreSQL load, straight into the migrated SQLite file."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    rng = random.Random(5)
    connection = sqlite3.connect(db_path)
    try:
        for start in range(0, count, 50_000):
            rows = []
            for index in range(start, min(count, start + 50_000)):
                first, last = f"First{rng.randrange(300)}", f"Last{rng.randrange(600)}"
                details = {"personalInformation": {"firstName": first, "lastName": last, "language": "DE"}}
                rows.append(
                    (
                        uuid.uuid4().hex,
                        tenant_id.hex,
                        "contact",
                        1,
                        f"user{index}",
                        json.dumps(details),
                        0,
                        fold(f"{first} {last}"),
                        now,
                        now,
                        1,
                    )
                )
            connection.executemany(
                "INSERT INTO client_records (id, tenant_id, kind, contact_type_id, username, details, schema_version, "
                "sort_name, created_at, updated_at, version) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            connection.commit()
    finally:
        connection.close()


def sqlite_export(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), secret_key=SecretStr("b" * 48), run_worker_in_process=False)
        migrate(settings)
        ours, query = asyncio.run(_sqlite_export(settings, count))
        baseline = sqlite_cli_seconds(Path(data_dir) / "trustroom.db", query)
    assert ours["rows"] == count, ours
    return {"trustroom": ours, "baseline_seconds": baseline}


async def _sqlite_export(settings: Settings, count: int) -> tuple[dict[str, Any], str]:
    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            tenant = await tenants.create_tenant(session, "Bench Bank")
            await session.commit()
        print(f"loading {count} contacts into SQLite ...", flush=True)
        load_sqlite(settings.data_dir / "trustroom.db", tenant.id, count)
        ours = await trustroom_export(database, settings, tenant.id)
        columns = await export_columns(database, tenant.id)
    finally:
        await database.dispose()
    return ours, sqlite_select(columns, tenant.id.hex)


# --- (a) import -------------------------------------------------------------------------


def import_records(count: int) -> list[dict[str, Any]]:
    rng = random.Random(3)
    return [
        {
            "externalId": f"CBS-{index}",
            "contactTypeId": 1,
            "username": f"imported{index}",
            "details": {
                "personalInformation": {
                    "firstName": f"First{rng.randrange(300)}",
                    "lastName": f"Last{rng.randrange(600)}",
                    "language": "DE",
                },
                "communication": {"email": f"client{index}@example.com"},
                "address": {"city": "Zürich", "postalCode": "8001", "country": "CH"},
            },
        }
        for index in range(count)
    ]


async def trustroom_import(database: Database, settings: Settings, tenant_id: uuid.UUID, content: bytes) -> float:
    keys = ServerKeys.from_settings(settings)
    keyring, store = SealedKeyring(keys), store_from_settings(settings)
    actor = tenants.operator(tenant_id)
    began = time.perf_counter()
    async with database.session() as session:
        await bind_tenant(session, tenant_id)
        kek = await keyring.current(session, tenant_id, imports.KEK_PURPOSE)
        upload = imports.Upload(session, actor, RecordKind.CONTACT, store, kek, timedelta(days=1))
        await upload.begin("files", "bench.json", "application/json")
        for start in range(0, len(content), 1 << 20):
            await upload.data(content[start : start + (1 << 20)])
        await upload.end()
        await upload.finish()
        run = await imports.start_sync(session, actor, RecordKind.CONTACT, None)
        await session.commit()
    sync = imports.Sync(database, settings, keyring, store, Verifier(keys, settings.clients), tenant_id, run.id)
    done = await sync.execute()
    assert done is not None and done.created_count == done.total_count, done and done.failed_count
    return time.perf_counter() - began


async def baseline_import(database: Database, url: str, tenant_id: uuid.UUID, records: list[dict[str, Any]]) -> float:
    """The same records through the same validator, then one COPY into client_records."""
    actor = tenants.operator(tenant_id)
    began = time.perf_counter()
    out = io.StringIO()
    now = datetime.now(UTC).isoformat()
    async with database.session(write=False) as session:
        await bind_tenant(session, tenant_id)
        schema = await definitions.for_kind(session, actor, RecordKind.CONTACT)
        for record in records:
            assert not await writes.check_details(session, actor, schema, record["details"])
            details = json.dumps(record["details"]).replace("\\", "\\\\")
            name = fold(" ".join(record["details"]["personalInformation"][k] for k in ("firstName", "lastName")))
            row = [
                str(uuid.uuid4()),
                str(tenant_id),
                "contact",
                "1",
                record["username"],
                details,
                str(schema.version),
                name,
                now,
                now,
                "1",
            ]
            out.write("\t".join(row) + "\n")
    out.seek(0)
    columns = (
        "id, tenant_id, kind, contact_type_id, username, details, schema_version, sort_name, "
        "created_at, updated_at, version"
    )
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY client_records ({columns}) FROM STDIN") as copy:
            while chunk := out.read(1 << 20):
                copy.write(chunk)
        connection.commit()
    return time.perf_counter() - began


async def postgres_import(database: Database, settings: Settings, url: str, count: int) -> dict[str, Any]:
    records = import_records(count)
    content = json.dumps(records).encode()
    async with database.session() as session:
        ours_tenant = await tenants.create_tenant(session, "Import Bank")
        baseline_tenant = await tenants.create_tenant(session, "Baseline Bank")
        await session.commit()
    print(f"importing {count} contacts ...", flush=True)
    ours = await trustroom_import(database, settings, ours_tenant.id, content)
    theirs = await baseline_import(database, url, baseline_tenant.id, records)
    return {"contacts": count, "trustroom_seconds": ours, "baseline_seconds": theirs}
