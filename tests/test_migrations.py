"""Alembic: upgrade creates exactly the models' schema, is repeatable, reversible and enforced,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from anmeldung.db import Database, migrations_head
from anmeldung.errors import DatabaseError
from anmeldung.models import Base

TABLES = {"messages", "registrations", "outbox", "poll_runs"}


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    yield database
    database.dispose()


def schema(db: Database) -> dict[str, object]:
    """Tables with their columns, indexes and unique constraints, for before/after comparisons."""
    insp = inspect(db.engine)
    return {
        name: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
            sorted((i["name"] or "", tuple(i["column_names"])) for i in insp.get_indexes(name)),
            sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in insp.get_unique_constraints(name)
            ),
            sorted(
                (f["referred_table"], tuple(f["constrained_columns"]))
                for f in insp.get_foreign_keys(name)
            ),
        )
        for name in insp.get_table_names()
    }


def test_upgrade_creates_the_tables(db: Database) -> None:
    assert db.table_names() == []
    before, after = db.upgrade()
    assert before is None
    assert after is not None
    assert after == db.head_revision()
    tables = set(db.table_names())
    assert tables >= TABLES | {"alembic_version"}
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            after
        ]


def test_upgrade_again_changes_nothing(db: Database) -> None:
    _, head = db.upgrade()
    first = schema(db)
    assert db.upgrade() == (head, head)
    assert schema(db) == first
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_models_and_newest_migration_agree(db: Database) -> None:
    db.upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_constraints_the_code_relies_on_exist(db: Database) -> None:
    db.upgrade()
    insp = inspect(db.engine)
    uniques = {
        table: {tuple(u["column_names"]) for u in insp.get_unique_constraints(table)}
        for table in ("messages", "registrations", "outbox")
    }
    assert ("mailbox", "uidvalidity", "uid") in uniques["messages"]
    assert ("message_key",) in uniques["messages"]
    assert ("email", "person_key") in uniques["registrations"]
    assert ("trigger",) in uniques["outbox"]
    assert ("message_id",) in uniques["outbox"]


def test_require_current_refuses_an_empty_database(db: Database) -> None:
    with pytest.raises(DatabaseError, match="anmeldung init"):
        db.require_current()
    db.upgrade()
    db.require_current()


def test_require_current_refuses_an_old_revision(db: Database) -> None:
    db.upgrade()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old0000'"))
    with pytest.raises(DatabaseError, match="old0000"):
        db.require_current()


def test_the_migration_files_name_alembics_head(db: Database) -> None:
    assert migrations_head() == db.head_revision()


def test_an_up_to_date_database_is_checked_without_importing_alembic(
    sqlite_db: Database,
) -> None:
    """Every command starts with require_current(); Alembic's import is a fifth of it."""
    sqlite_db.upgrade()
    code = (
        "import sys; from anmeldung.db import Database; "
        f"Database({sqlite_db.url!r}).require_current(); "
        "print(sorted(m for m in sys.modules if m.startswith('alembic')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_revision_goes_down_and_up_again(db: Database) -> None:
    """Each downgrade undoes its upgrade exactly: the schema after down + up is the same."""
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = db._alembic_config()
    revisions = [r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()]
    revisions.reverse()  # oldest first
    db.upgrade()
    at_head = schema(db)
    for revision in reversed(revisions):
        before = schema(db)
        command.downgrade(cfg, "-1")
        assert db.current_revision() == (
            revisions[revisions.index(revision) - 1] if revisions.index(revision) else None
        )
        command.upgrade(cfg, "+1")
        assert schema(db) == before, revision
        command.downgrade(cfg, "-1")
    assert set(db.table_names()) <= {"alembic_version"}
    db.upgrade()
    assert schema(db) == at_head


def test_sqlite_pragmas_are_set(sqlite_db: Database) -> None:
    db = sqlite_db
    db.upgrade()
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
