"""The store's schema as numbered migrations, each applied once and recorded in ``schema_version``.

The DDL lives in the top-level ``sql/ddl/`` folder, the one place people read and edit it: a file
``NNN_name.sql`` is migration NNN. The wheel carries a copy of ``sql/`` inside this package
(``pyproject.toml``, hatch ``force-include``), found with ``importlib.resources``; a source checkout
or editable install has no copy and reads the checkout's ``sql/`` itself.

A writer's connect reads ``schema_version`` and applies only what is missing, each migration and
its ``schema_version`` row in one transaction: an interrupted migration is applied again whole.
Concurrent first opens are safe because DuckDB admits one writing process at a time (the others
wait in :func:`melodex_ml.store.connect`); threads of one process are serialised here.

To change the schema, add a file with a higher number -- never edit an applied one (its checksum
is recorded; a changed file is logged as a warning and not re-applied). A changed view is a new
migration with ``CREATE OR REPLACE VIEW``; a view documented in its own file under ``sql/`` (like
``audio_features_view.sql``) is linked from ``sql/ddl/``, and after an edit its link is renamed
to the next free number. A number whose file is gone is simply never applied again. Migrations
up to 030 predate ``schema_version`` and are idempotent (``IF NOT EXISTS``), so a store made
before it adopts them without harm.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb

from melodex_ml.store.writes import transaction

log = logging.getLogger(__name__)

_SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,   -- NNN of sql/ddl/NNN_name.sql
    name        VARCHAR NOT NULL,      -- the file name
    checksum    VARCHAR NOT NULL,      -- sha256 of the file as applied
    applied_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""
_lock = threading.Lock()


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def sql_root() -> Traversable:
    """The ``sql/`` folder: the wheel's copy inside this package, else the source checkout's."""
    packaged = resources.files(__package__).joinpath("sql")
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "sql"
    if not checkout.is_dir():
        raise FileNotFoundError(f"the store's DDL is missing: neither {packaged} nor {checkout} exists")
    return checkout


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Every migration in ``sql/ddl``, in version order."""
    found = []
    for entry in sql_root().joinpath("ddl").iterdir():
        number, _, rest = entry.name.partition("_")
        if not entry.name.endswith(".sql") or not number.isdigit() or not rest:
            continue
        found.append(Migration(int(number), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two DDL files share a migration number: {[m.name for m in found]}")
    return tuple(found)


def ddl_statements() -> str:
    """Every migration's SQL in order: the whole schema, e.g. for an in-memory database in tests."""
    return "\n".join(m.sql for m in migrations())


def applied_versions(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """{version: checksum} of the migrations recorded in this store; empty for a new store."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version' AND schema_name = 'main'"
    ).fetchone()[0]
    if not exists:
        return {}
    return dict(con.execute("SELECT version, checksum FROM schema_version").fetchall())


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations this store lacks; returns their versions (empty: nothing to do)."""
    with _lock:
        applied = applied_versions(con)
        pending = [m for m in migrations() if m.version not in applied]
        for m in migrations():
            if m.version in applied and applied[m.version] != m.checksum:
                log.warning("%s changed after it was applied; add a new migration instead (not re-applied)", m.name)
        if not pending:
            return []
        if not applied:
            con.execute(_SCHEMA_VERSION_DDL)
        for migration in pending:
            with transaction(con):
                con.execute(migration.sql)
                con.execute(
                    "INSERT INTO schema_version (version, name, checksum) VALUES (?, ?, ?)",
                    [migration.version, migration.name, migration.checksum],
                )
            log.info("store schema: applied %s", migration.name)
        return [m.version for m in pending]
