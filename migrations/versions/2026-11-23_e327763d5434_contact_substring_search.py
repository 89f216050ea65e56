"""search by any part of a name: search_text, pg_trgm index (PostgreSQL), FTS5 trigram (SQLite)

Revision ID: e327763d5434
Revises: ecf22c84bd04
Create Date: 2026-11-23 12:00:00.000000

PostgreSQL: `pg_trgm` must be creatable by the migrating user. It is a trusted extension
(PostgreSQL 13+), so the database's owner or any user with CREATE on the database may create
it; otherwise a superuser runs `CREATE EXTENSION pg_trgm;` in the database once, before the
migration (README, Operations).

SQLite: an FTS5 trigram table over `search_text`, kept in step by triggers. FTS5 rows are
keyed by an integer from `client_record_search_keys`, not by `client_records`' rowid:
a table without an INTEGER PRIMARY KEY may get new rowids from VACUUM. A later migration
that rebuilds `client_records` (a batch "move and copy") drops these triggers and must
create them again (`tests/clients/test_substring_search.py` checks they exist at head).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trustroom.clients.searchtext import search_text

revision: str = 'e327763d5434'
down_revision: str | None = '6dd35dbe83eb'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000

SQLITE_UP = (
    "CREATE TABLE client_record_search_keys (key INTEGER PRIMARY KEY, record_id CHAR(32) NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE client_record_search USING fts5(search_text, tokenize='trigram')",
    "INSERT INTO client_record_search_keys (record_id) SELECT id FROM client_records ORDER BY id",
    "INSERT INTO client_record_search (rowid, search_text) SELECT k.key, r.search_text "
    "FROM client_record_search_keys k JOIN client_records r ON r.id = k.record_id",
    "CREATE TRIGGER client_records_search_insert AFTER INSERT ON client_records BEGIN "
    "INSERT INTO client_record_search_keys (record_id) VALUES (new.id); "
    "INSERT INTO client_record_search (rowid, search_text) "
    "SELECT key, new.search_text FROM client_record_search_keys WHERE record_id = new.id; END",
    "CREATE TRIGGER client_records_search_update AFTER UPDATE OF search_text ON client_records "
    "WHEN old.search_text IS NOT new.search_text BEGIN "
    "UPDATE client_record_search SET search_text = new.search_text "
    "WHERE rowid = (SELECT key FROM client_record_search_keys WHERE record_id = new.id); END",
    "CREATE TRIGGER client_records_search_delete AFTER DELETE ON client_records BEGIN "
    "DELETE FROM client_record_search "
    "WHERE rowid = (SELECT key FROM client_record_search_keys WHERE record_id = old.id); "
    "DELETE FROM client_record_search_keys WHERE record_id = old.id; END",
)
SQLITE_DOWN = (
    "DROP TRIGGER client_records_search_delete",
    "DROP TRIGGER client_records_search_update",
    "DROP TRIGGER client_records_search_insert",
    "DROP TABLE client_record_search",
    "DROP TABLE client_record_search_keys",
)


def _create_pg_trgm() -> None:
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")):
        return
    allowed = bind.scalar(sa.text("SELECT has_database_privilege(current_database(), 'CREATE')"))
    superuser = bind.scalar(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
    if not (allowed or superuser):
        raise RuntimeError(
            "the pg_trgm extension is missing and this database user may not create it: "
            "as a superuser, run CREATE EXTENSION pg_trgm; in this database, then migrate again"
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


def _backfill() -> None:
    """Fill search_text from the details of every record that is not anonymized."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # client_records is under forced row-level security, which binds the table's owner too.
        bind.execute(sa.text("SELECT set_config('trustroom.rls_bypass', 'on', true)"))
    records = sa.table(
        "client_records",
        sa.column("id", sa.Uuid()),
        sa.column("details", sa.JSON()),
        sa.column("anonymized_at"),
        sa.column("search_text", sa.Text()),
    )
    after = None
    while True:
        query = sa.select(records.c.id, records.c.details).where(records.c.anonymized_at.is_(None))
        if after is not None:
            query = query.where(records.c.id > after)
        rows = bind.execute(query.order_by(records.c.id).limit(BATCH)).all()
        if not rows:
            return
        values = [{"record_id": row.id, "text": search_text(row.details or {})} for row in rows]
        found = [value for value in values if value["text"]]
        if found:
            update = records.update().where(records.c.id == sa.bindparam("record_id"))
            bind.execute(update.values(search_text=sa.bindparam("text")), found)
        after = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table('client_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), server_default='', nullable=False))
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        _create_pg_trgm()
        op.execute(
            "CREATE INDEX ix_client_records_search_text ON client_records USING gin (search_text gin_trgm_ops)"
        )
    else:
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The extension stays: other objects of the database may use it.
        op.execute("DROP INDEX ix_client_records_search_text")
    else:
        for statement in SQLITE_DOWN:
            op.execute(statement)
    with op.batch_alter_table('client_records', schema=None) as batch_op:
        batch_op.drop_column('search_text')
