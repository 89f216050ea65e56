"""Client records at scale: (a) import, (b) CSV export, (c) name-prefix and substring search.

Parts (a) and (b) are described in `clients_transfer.py`. Part (c):

- 1M contacts of one tenant are bulk-loaded with COPY (names from a few hundred first and
  last names, so a three-letter prefix matches thousands of contacts; an email made of
  the names; a city out of 40 Swiss cities), with their `search_text`; the trigram index
  is built after the load and the table vacuumed, as a bulk load should (autovacuum would
  do the same within a minute).
- The service runs as production must run it (ADR 0002): as an ordinary role, not a
  superuser, so row-level security applies (`--as-superuser` measures without it, as this
  benchmark did before; only a superuser's search can use the trigram index, see ADR 0014).
- Trustroom: `POST /api/v1/contacts/search`'s service (`search.search`) with a random
  three-letter `name`, first page of 20, sorted by name, total count included; latency per
  query, p50 and p95 (goal: p95 under 50 ms).
- Substring search, the same way with `text`: a random 3, 4 or 5 characters from inside a
  random first name, last name, email or city (a city matches about 25,000 contacts, a
  three-letter piece of a name often more). Such a search counts and pages at most
  `searchtext.COUNT_LIMIT` matches; the figures say how many queries reached it.
- Baseline, in the same run and as the same role: the same rows fetched with one
  hand-written SQL statement over psycopg (same filter, order, page and count), p50 and
  p95; the ratio is baseline p95 / Trustroom p95.

    .venv/bin/python benchmarks/clients.py [--contacts 1000000] [--queries 300]
        [--import-contacts 100000] [--parts search,substring,export,import]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres] [--keep-database NAME]
        [--as-superuser]

`--keep-database NAME` loads the contacts into that database (created when missing) once and
keeps it: a later run with the same `--contacts` measures the same rows again without the
minutes of loading (migrations that are new since are applied first).

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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clients_transfer as transfer
import psycopg
from common import BenchmarkError, ensure_postgres_database, scratch_postgres
from pydantic import SecretStr

from trustroom.auth.service import tenants
from trustroom.cli import migrate
from trustroom.clients.lists import fold
from trustroom.clients.models import RecordKind
from trustroom.clients.searchtext import COUNT_LIMIT, fold_text, search_text
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
# As the service asks (search.search): `^@`, which row-level security lets use the index.
BASELINE_SQL = """
SELECT id, details, (SELECT count(*) FROM client_records
  WHERE tenant_id = %(tenant)s AND kind = 'contact' AND sort_name ^@ %(pattern)s)
FROM client_records WHERE tenant_id = %(tenant)s AND kind = 'contact' AND sort_name ^@ %(pattern)s
ORDER BY sort_name, id LIMIT %(size)s
"""
# As the service asks (search._capped): the first matches found, one more than are counted.
SUBSTRING_SQL = """
WITH found AS MATERIALIZED (SELECT id, sort_name FROM client_records
  WHERE tenant_id = %(tenant)s AND kind = 'contact' AND search_text LIKE %(pattern)s LIMIT %(limit)s)
SELECT r.id, r.details, (SELECT count(*) FROM found) FROM client_records r
JOIN (SELECT id, sort_name FROM found ORDER BY sort_name, id LIMIT %(size)s) page ON page.id = r.id
WHERE r.tenant_id = %(tenant)s ORDER BY page.sort_name, page.id
"""
# The role the service runs as: an ordinary one, which row-level security binds.
APP_ROLE = "trustroom_bench"
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
    with psycopg.connect(url, autocommit=True) as connection:
        # Index-only scans (the name-prefix count) need the visibility map that a vacuum sets.
        connection.execute("VACUUM (ANALYZE) client_records")
    return time.perf_counter() - started


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def trustroom_latencies(
    database: Database, tenant_id: uuid.UUID, queries: list[search.RecordQuery], capped: list[bool] | None = None
) -> list[float]:
    """Latency per query in ms; `capped` collects whether each query stopped counting."""
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
        if capped is not None:
            capped.append(not found.is_total_count_exact)
    return latencies


def _connect(url: str, tenant_id: uuid.UUID) -> psycopg.Connection[Any]:
    """A connection as the service's role, bound to the tenant, scanning as the service does."""
    connection = psycopg.connect(url, autocommit=True)
    connection.execute("SELECT set_config('trustroom.tenant_id', %s, false)", (str(tenant_id),))
    connection.execute("SET max_parallel_workers_per_gather = 0")
    connection.execute("SET synchronize_seqscans = off")
    return connection


def uses_index(url: str, sql: str, tenant_id: uuid.UUID, pattern: str, index: str) -> bool:
    """Whether PostgreSQL answers the query from `index`."""
    with _connect(url, tenant_id) as connection:
        plan = connection.execute("EXPLAIN " + sql, _arguments(tenant_id, pattern)).fetchall()
    return any(index in line for (line,) in plan)


def _arguments(tenant_id: uuid.UUID, pattern: str) -> dict[str, Any]:
    return {"tenant": tenant_id, "pattern": pattern, "size": PAGE_SIZE, "limit": COUNT_LIMIT + 1}


def baseline_latencies(url: str, sql: str, tenant_id: uuid.UUID, patterns: list[str]) -> list[float]:
    latencies = []
    with _connect(url, tenant_id) as connection:
        for pattern in patterns:
            started = time.perf_counter()
            rows = connection.execute(sql, _arguments(tenant_id, pattern)).fetchall()
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


TENANT_NAME = "Bench Bank"


def loaded_tenant(url: str, contacts: int) -> uuid.UUID | None:
    """The benchmark tenant of a kept database, when it holds `contacts` contacts."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT set_config('trustroom.rls_bypass', 'on', false)")
        found = connection.execute("SELECT id FROM tenants WHERE name = %s", (TENANT_NAME,)).fetchall()
        if not found:
            return None
        tenant_id: uuid.UUID = found[0][0]
        row = connection.execute(
            "SELECT count(*) FROM client_records WHERE tenant_id = %s AND kind = 'contact'", (tenant_id,)
        ).fetchone()
    if len(found) > 1 or row is None or row[0] != contacts:
        raise BenchmarkError(f"the kept database holds other contacts than {contacts}: drop it, or use another name")
    return tenant_id


async def measure(args: argparse.Namespace, settings: Settings, url: str) -> dict[str, Any]:
    database = Database(settings.resolved_database_url)
    app_url = url if args.as_superuser else app_role(url)
    searching = Database(f"postgresql+psycopg://{app_url.partition('://')[2]}")
    try:
        tenant_id = loaded_tenant(url, args.contacts) if args.keep_database else None
        if tenant_id is None:
            async with database.session() as session:
                tenant = await tenants.create_tenant(session, TENANT_NAME)
                await session.commit()
            tenant_id = tenant.id
            print(f"loading {args.contacts} contacts ...", flush=True)
            seconds = load(url, tenant_id, args.contacts)
            print(f"loaded in {seconds:.1f} s", flush=True)
        else:
            print(f"reusing the {args.contacts} contacts of {args.keep_database}", flush=True)
        role = "postgres (superuser)" if args.as_superuser else APP_ROLE
        result: dict[str, Any] = {"benchmark": "clients", "contacts": args.contacts, "role": role}
        if "search" in args.parts:
            result["search"] = await search_part(args, searching, app_url, tenant_id)
        if "substring" in args.parts:
            result["substring_search"] = await substring_part(args, searching, app_url, tenant_id)
        if "export" in args.parts:
            print("exporting from PostgreSQL ...", flush=True)
            ours = await transfer.trustroom_export(database, settings, tenant_id)
            columns = await transfer.export_columns(database, tenant_id)
            result["export_postgres"] = export_figures(ours, transfer.postgres_copy_seconds(url, tenant_id, columns))
        if "import" in args.parts:
            figures = await transfer.postgres_import(database, settings, url, args.import_contacts)
            result["import_postgres"] = import_figures(figures)
    finally:
        await searching.dispose()
        await database.dispose()
    return result


def app_role(url: str) -> str:
    """`url` as the ordinary role the service runs as (created when missing, with the rights an
    owner has on the tables but not its exemption: policies bind it like the owner under FORCE)."""
    with psycopg.connect(url, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone():
            connection.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        connection.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
        connection.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{APP_ROLE}@{rest.partition('@')[2]}"


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
    theirs = baseline_latencies(url, BASELINE_SQL, tenant_id, prefixes)
    result = _figures(args.queries, ours, theirs)
    sort_index = "ix_client_records_tenant_id_kind_sort_name"
    result["uses_sort_name_index"] = uses_index(url, BASELINE_SQL, tenant_id, prefixes[0], sort_index)
    return result


async def substring_part(
    args: argparse.Namespace, database: Database, url: str, tenant_id: uuid.UUID
) -> dict[str, Any]:
    pieces = substrings(random.Random(13), args.queries)
    by_text = [search.RecordQuery(RecordKind.CONTACT, text=piece) for piece in pieces]
    await trustroom_latencies(database, tenant_id, by_text[:20])  # warm the caches
    capped: list[bool] = []
    ours = await trustroom_latencies(database, tenant_id, by_text, capped)
    patterns = [f"%{fold_text(piece)}%" for piece in pieces]  # no wildcard characters in these
    theirs = baseline_latencies(url, SUBSTRING_SQL, tenant_id, patterns)
    result = _figures(args.queries, ours, theirs)
    result["count_limit"] = COUNT_LIMIT
    result["queries_over_limit"] = sum(capped)
    result["uses_trigram_index"] = uses_index(url, SUBSTRING_SQL, tenant_id, patterns[0], SEARCH_INDEX)
    slowest = sorted(zip(ours, pieces, capped, strict=True), reverse=True)[:5]
    result["slowest"] = [{"text": piece, "ms": round(ms, 1), "over_limit": over} for ms, piece, over in slowest]
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


@contextmanager
def benchmark_database(args: argparse.Namespace) -> Iterator[str]:
    if not args.keep_database:
        with scratch_postgres(args.postgres_url) as url:
            yield url
        return
    url = f"{args.postgres_url.rpartition('/')[0]}/{args.keep_database}"
    ensure_postgres_database(url)
    yield url


def run(args: argparse.Namespace) -> dict[str, Any]:
    with benchmark_database(args) as url, tempfile.TemporaryDirectory() as data_dir:
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
    parser.add_argument("--keep-database", metavar="NAME", help="load into this database once and reuse it")
    parser.add_argument("--as-superuser", action="store_true", help="search as postgres, without row-level security")
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
            f"(c) name-prefix search over {result['contacts']} contacts as {result['role']}: Trustroom p95 "
            f"{found['trustroom_p95_ms']} ms (p50 {found['trustroom_p50_ms']}), plain SQL p95 "
            f"{found['baseline_p95_ms']} ms, ratio {found['ratio_p95']}, goal p95 < {GOAL_P95_MS} ms: "
            f"{'met' if found['goal_met'] else 'NOT met'}"
        )
    if "substring_search" in result:
        found = result["substring_search"]
        print(
            f"(c) substring search (text) over {result['contacts']} contacts as {result['role']}: Trustroom p95 "
            f"{found['trustroom_p95_ms']} ms (p50 {found['trustroom_p50_ms']}), plain SQL p95 "
            f"{found['baseline_p95_ms']} ms, ratio {found['ratio_p95']}, {found['queries_over_limit']} of "
            f"{found['queries']} queries matched more than {found['count_limit']}, trigram index used: "
            f"{found['uses_trigram_index']}, goal p95 < {GOAL_P95_MS} ms: {'met' if found['goal_met'] else 'NOT met'}"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
