"""Client records at scale: (a) import, (b) CSV export, (c) name-prefix and substring search.

Parts (a) and (b) are described in `clients_transfer.py`. Part (c):

- 1M contacts of one tenant are bulk-loaded with COPY (names from a few hundred first and
  last names, so a three-letter prefix matches thousands of contacts; an email made of
  the names; a city out of 40 Swiss cities), with their `search_text`; the trigram index
  is built after the load, as a bulk load should.
- Trustroom: `POST /api/v1/contacts/search`'s service (`search.search`) with a random
  three-letter `name`, first page of 20, sorted by name, total count included; latency per
  query, p50 and p95 (goal: p95 under 50 ms).
- Substring search, the same way with `text`: a random 3, 4 or 5 characters from inside a
  random first name, last name, email or city (a city matches about 25,000 contacts, a
  three-letter piece of a name often more); the figures include how many contacts the
  queries matched, as the total count makes every match count.
- Baseline, in the same run: the same rows fetched with one hand-written SQL statement
  over psycopg (same filter, order, page and window count), p50 and p95; the ratio is
  baseline p95 / Trustroom p95.

    .venv/bin/python benchmarks/clients.py [--contacts 1000000] [--queries 300]
        [--import-contacts 100000] [--parts search,substring,export,import]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clients_transfer as transfer
import psycopg
from common import BenchmarkError, scratch_postgres
from pydantic import SecretStr

from trustroom.auth.service import tenants
from trustroom.cli import migrate
from trustroom.clients.lists import fold
from trustroom.clients.models import RecordKind
from trustroom.clients.searchtext import fold_text, search_text
from trustroom.clients.service import search
from trustroom.db import Database, bind_tenant
from trustroom.schemas import Paging, SortOrder
from trustroom.settings import Settings

GOAL_P95_MS = 50.0
PAGE_SIZE = 20
FIRST = [f"{a}{b}{c}" for a in "BCDFGHJKLMNPRSTVWZ" for b in "aeiou" for c in ("na", "ra", "lo", "ne")][:300]
LAST = [f"{a}{b}{c}{d}" for a in "BDFGHKLMNPRSTW" for b in "aeiou" for c in "lnrst" for d in ("er", "i", "on")][:600]
CITIES = [
    "Zürich",
    "Genève",
    "Basel",
    "Lausanne",
    "Bern",
    "Winterthur",
    "Luzern",
    "St. Gallen",
    "Lugano",
    "Biel/Bienne",
    "Thun",
    "Köniz",
    "La Chaux-de-Fonds",
    "Fribourg",
    "Schaffhausen",
    "Chur",
    "Neuchâtel",
    "Vernier",
    "Sion",
    "Uster",
    "Emmen",
    "Zug",
    "Yverdon-les-Bains",
    "Kriens",
    "Rapperswil-Jona",
    "Dübendorf",
    "Montreux",
    "Dietikon",
    "Frauenfeld",
    "Wetzikon",
    "Baar",
    "Riehen",
    "Wädenswil",
    "Wil",
    "Renens",
    "Aarau",
    "Bulle",
    "Kreuzlingen",
    "Olten",
    "Carouge",
]
BASELINE_SQL = """
SELECT id, details, count(*) OVER () FROM client_records
WHERE tenant_id = %s AND kind = 'contact' AND sort_name LIKE %s
ORDER BY sort_name, id LIMIT %s
"""
# Ordered by `sort_name || ''` as the service orders substring searches (search.search):
# by the bare column PostgreSQL may walk the whole sort-name index instead of the trigram one.
SUBSTRING_SQL = """
SELECT id, details, count(*) OVER () FROM client_records
WHERE tenant_id = %s AND kind = 'contact' AND search_text LIKE %s
ORDER BY sort_name || '', id LIMIT %s
"""
SEARCH_INDEX = "ix_client_records_search_text"


def _rows(tenant_id: uuid.UUID, start: int, count: int) -> io.StringIO:
    """COPY text of `count` contacts, numbered from `start`."""
    out = io.StringIO()
    now = datetime.now(UTC).isoformat()
    rng = random.Random(start)
    for index in range(start, start + count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        document = {
            "personalInformation": {"firstName": first, "lastName": last, "language": "DE"},
            "communication": {"email": f"{first}.{last}{index}@example.com".lower()},
            "address": {"city": rng.choice(CITIES)},
        }
        details = json.dumps(document)
        fields = [
            str(uuid.uuid4()),
            str(tenant_id),
            "contact",
            "1",
            f"user{index}",
            details.replace("\\", "\\\\"),
            "0",
            fold(f"{first} {last}"),
            search_text(document).replace("\\", "\\\\").replace("\n", "\\n"),
            now,
            now,
            "1",
        ]
        out.write("\t".join(fields) + "\n")
    out.seek(0)
    return out


def load(url: str, tenant_id: uuid.UUID, count: int) -> float:
    started = time.perf_counter()
    columns = (
        "id, tenant_id, kind, contact_type_id, username, details, schema_version, sort_name, search_text, "
        "created_at, updated_at, version"
    )
    with psycopg.connect(url) as connection:
        # One trigram index build after the load, not a million GIN insertions during it.
        connection.execute(f"DROP INDEX {SEARCH_INDEX}")
        with connection.cursor() as cursor:
            for start in range(0, count, 100_000):
                data = _rows(tenant_id, start, min(100_000, count - start))
                with cursor.copy(f"COPY client_records ({columns}) FROM STDIN") as copy:
                    while chunk := data.read(1 << 20):
                        copy.write(chunk)
        connection.execute("SET maintenance_work_mem = '512MB'")
        connection.execute(f"CREATE INDEX {SEARCH_INDEX} ON client_records USING gin (search_text gin_trgm_ops)")
        connection.commit()
        connection.execute("ANALYZE client_records")
    return time.perf_counter() - started


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def trustroom_latencies(
    database: Database, tenant_id: uuid.UUID, queries: list[search.RecordQuery], matches: list[int] | None = None
) -> list[float]:
    """Latency per query in ms; `matches` collects each query's total count."""
    actor = tenants.operator(tenant_id)
    paging = Paging(page=1, page_size=PAGE_SIZE, sort_order=SortOrder.ASCENDING)
    latencies = []
    for query in queries:
        started = time.perf_counter()
        async with database.session(write=False) as session:
            await bind_tenant(session, tenant_id)
            found = await search.search(session, actor, query, paging)
        latencies.append((time.perf_counter() - started) * 1000)
        assert found.items, query
        if matches is not None:
            matches.append(found.total_count)
    return latencies


def uses_index(url: str, sql: str, tenant_id: uuid.UUID, pattern: str, index: str) -> bool:
    """Whether PostgreSQL answers the query from `index`."""
    with psycopg.connect(url, autocommit=True) as connection:
        plan = connection.execute("EXPLAIN " + sql, (tenant_id, pattern, PAGE_SIZE)).fetchall()
    return any(index in line for (line,) in plan)


def baseline_latencies(url: str, sql: str, tenant_id: uuid.UUID, patterns: list[str]) -> list[float]:
    latencies = []
    with psycopg.connect(url, autocommit=True) as connection:
        for pattern in patterns:
            started = time.perf_counter()
            rows = connection.execute(sql, (tenant_id, pattern, PAGE_SIZE)).fetchall()
            latencies.append((time.perf_counter() - started) * 1000)
            assert rows, pattern
    return latencies


def substrings(rng: random.Random, count: int) -> list[str]:
    """What someone types to find a contact: a piece of 3 to 5 characters from inside a
    first name, last name, email or city, in the case and accents it is written with."""
    found = []
    while len(found) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        value = rng.choice((first, last, f"{first}.{last}".lower(), rng.choice(CITIES)))
        size = rng.choice((3, 4, 5))
        if len(value) >= size:
            start = rng.randrange(len(value) - size + 1)
            piece = value[start : start + size]
            if len(fold_text(piece)) >= size:  # not a piece that folds shorter (" G")
                found.append(piece)
    return found


async def measure(args: argparse.Namespace, settings: Settings, url: str) -> dict[str, Any]:
    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            tenant = await tenants.create_tenant(session, "Bench Bank")
            await session.commit()
        print(f"loading {args.contacts} contacts ...", flush=True)
        seconds = load(url, tenant.id, args.contacts)
        print(f"loaded in {seconds:.1f} s", flush=True)
        result: dict[str, Any] = {"benchmark": "clients", "contacts": args.contacts}
        if "search" in args.parts:
            result["search"] = await search_part(args, database, url, tenant.id)
        if "substring" in args.parts:
            result["substring_search"] = await substring_part(args, database, url, tenant.id)
        if "export" in args.parts:
            print("exporting from PostgreSQL ...", flush=True)
            ours = await transfer.trustroom_export(database, settings, tenant.id)
            columns = await transfer.export_columns(database, tenant.id)
            result["export_postgres"] = export_figures(ours, transfer.postgres_copy_seconds(url, tenant.id, columns))
        if "import" in args.parts:
            figures = await transfer.postgres_import(database, settings, url, args.import_contacts)
            result["import_postgres"] = import_figures(figures)
    finally:
        await database.dispose()
    return result


def _figures(queries: int, ours: list[float], theirs: list[float]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "queries": queries,
        "trustroom_p50_ms": round(statistics.median(ours), 2),
        "trustroom_p95_ms": round(_percentile(ours, 0.95), 2),
        "baseline_p50_ms": round(statistics.median(theirs), 2),
        "baseline_p95_ms": round(_percentile(theirs, 0.95), 2),
    }
    result["ratio_p95"] = round(result["baseline_p95_ms"] / result["trustroom_p95_ms"], 2)
    result["goal_p95_ms"] = GOAL_P95_MS
    result["goal_met"] = result["trustroom_p95_ms"] < GOAL_P95_MS
    return result


async def search_part(args: argparse.Namespace, database: Database, url: str, tenant_id: uuid.UUID) -> dict[str, Any]:
    rng = random.Random(11)
    prefixes = [fold(rng.choice(FIRST))[:3] for _ in range(args.queries)]
    by_prefix = [search.RecordQuery(RecordKind.CONTACT, name_prefix=prefix) for prefix in prefixes]
    await trustroom_latencies(database, tenant_id, by_prefix[:20])  # warm the caches
    ours = await trustroom_latencies(database, tenant_id, by_prefix)
    theirs = baseline_latencies(url, BASELINE_SQL, tenant_id, [f"{prefix}%" for prefix in prefixes])
    result = _figures(args.queries, ours, theirs)
    sort_index = "ix_client_records_tenant_id_kind_sort_name"
    result["uses_sort_name_index"] = uses_index(url, BASELINE_SQL, tenant_id, f"{prefixes[0]}%", sort_index)
    return result


async def substring_part(
    args: argparse.Namespace, database: Database, url: str, tenant_id: uuid.UUID
) -> dict[str, Any]:
    pieces = substrings(random.Random(13), args.queries)
    by_text = [search.RecordQuery(RecordKind.CONTACT, text=piece) for piece in pieces]
    await trustroom_latencies(database, tenant_id, by_text[:20])  # warm the caches
    matches: list[int] = []
    ours = await trustroom_latencies(database, tenant_id, by_text, matches)
    patterns = [f"%{fold_text(piece)}%" for piece in pieces]  # no wildcard characters in these
    theirs = baseline_latencies(url, SUBSTRING_SQL, tenant_id, patterns)
    result = _figures(args.queries, ours, theirs)
    result["matches_p50"] = int(statistics.median(matches))
    result["matches_p95"] = _percentile([float(count) for count in matches], 0.95)
    result["uses_trigram_index"] = uses_index(url, SUBSTRING_SQL, tenant_id, patterns[0], SEARCH_INDEX)
    slowest = sorted(zip(ours, pieces, matches, strict=True), reverse=True)[:5]
    result["slowest"] = [{"text": piece, "ms": round(ms, 1), "matches": count} for ms, piece, count in slowest]
    return result


def export_figures(ours: dict[str, Any], baseline_seconds: float) -> dict[str, Any]:
    return {
        "rows": ours["rows"],
        "csv_bytes": ours["bytes"],
        "trustroom_seconds": round(ours["seconds"], 2),
        "trustroom_rows_per_second": round(ours["rows"] / ours["seconds"]),
        "baseline_seconds": round(baseline_seconds, 2),
        "ratio": round(baseline_seconds / ours["seconds"], 2),
        "goal_ratio": transfer.GOAL_EXPORT_RATIO,
        "goal_met": baseline_seconds / ours["seconds"] >= transfer.GOAL_EXPORT_RATIO,
        "peak_rss_growth_mb": round(ours["peak_rss_growth_mb"], 1),
    }


def import_figures(figures: dict[str, Any]) -> dict[str, Any]:
    ours = figures["contacts"] / figures["trustroom_seconds"]
    theirs = figures["contacts"] / figures["baseline_seconds"]
    return {
        "contacts": figures["contacts"],
        "trustroom_contacts_per_second": round(ours),
        "baseline_contacts_per_second": round(theirs),
        "ratio": round(ours / theirs, 3),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with scratch_postgres(args.postgres_url) as url, tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=Path(data_dir), database_url=url, secret_key=SecretStr("b" * 48), run_worker_in_process=False
        )
        migrate(settings)
        result = asyncio.run(measure(args, settings, url))
    if "export" in args.parts:
        sqlite = transfer.sqlite_export(args.contacts)
        result["export_sqlite"] = export_figures(sqlite["trustroom"], sqlite["baseline_seconds"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--import-contacts", type=int, default=100_000)
    parts = {"search", "substring", "export", "import"}
    parser.add_argument("--parts", type=lambda text: set(text.split(",")), default=parts)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    if "import_postgres" in result:
        found = result["import_postgres"]
        print(
            f"(a) import of {found['contacts']} contacts: Trustroom {found['trustroom_contacts_per_second']}/s, "
            f"validate + COPY {found['baseline_contacts_per_second']}/s, ratio {found['ratio']}"
        )
    for name, baseline in (("export_postgres", "COPY TO STDOUT CSV"), ("export_sqlite", "sqlite3 -csv")):
        if name in result:
            found = result[name]
            print(
                f"(b) CSV export of {found['rows']} contacts ({name[7:]}): Trustroom {found['trustroom_seconds']} s, "
                f"{baseline} {found['baseline_seconds']} s, ratio {found['ratio']} (goal >= {found['goal_ratio']}: "
                f"{'met' if found['goal_met'] else 'NOT met'}), peak memory growth {found['peak_rss_growth_mb']} MB"
            )
    if "search" in result:
        found = result["search"]
        print(
            f"(c) name-prefix search over {result['contacts']} contacts: Trustroom p95 {found['trustroom_p95_ms']} ms "
            f"(p50 {found['trustroom_p50_ms']}), plain SQL p95 {found['baseline_p95_ms']} ms, "
            f"ratio {found['ratio_p95']}, goal p95 < {GOAL_P95_MS} ms: {'met' if found['goal_met'] else 'NOT met'}"
        )
    if "substring_search" in result:
        found = result["substring_search"]
        print(
            f"(c) substring search (text) over {result['contacts']} contacts: Trustroom p95 "
            f"{found['trustroom_p95_ms']} ms (p50 {found['trustroom_p50_ms']}), plain SQL p95 "
            f"{found['baseline_p95_ms']} ms, ratio {found['ratio_p95']}, matches per query p50 "
            f"{found['matches_p50']} p95 {found['matches_p95']}, trigram index used: {found['uses_trigram_index']}, "
            f"goal p95 < {GOAL_P95_MS} ms: {'met' if found['goal_met'] else 'NOT met'}"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
