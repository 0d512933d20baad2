"""devservers.PostgresServer: a real throwaway PostgreSQL on loopback, started and stopped."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import psycopg
import pytest

from anmeldung import devservers
from anmeldung.devservers import PostgresServer


def _owner(pid: int) -> str:
    return pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name


def test_starts_on_loopback_takes_a_database_and_stops(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "pg")
    with server:
        url = server.create_database("example")
        assert url.startswith("postgresql+psycopg://")
        assert f":{server.port}/example" in url
        dsn = url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT inet_server_addr()::text, current_setting('fsync'), lower('ÄÖÜ')"
            ).fetchone()
        assert row == ("127.0.0.1/32", "off", "äöü")
        # initdb and postgres refuse root: as root the server runs as the postgres user.
        pid = server._proc.pid if server._proc else 0
        expected = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        assert _owner(pid) == expected
        assert str(server.socket_dir).startswith(("/tmp", str(tmp_path)))
        server.drop_database("example")
    assert not server.running
    assert devservers._group_members(pid) == []


def test_kill_takes_every_backend_and_start_works_again(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "pg")
    server.start()
    try:
        conn = psycopg.connect(server.url().replace("postgresql+psycopg", "postgresql"))
        pid = server._proc.pid if server._proc else 0
        server.kill()
        assert devservers._group_members(pid) == []
        conn.close()
        server.start()  # the data directory is reused, no second initdb
        assert server.running
    finally:
        server.stop()


def test_missing_binaries_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devservers, "find_postgres", lambda: None)
    with pytest.raises(RuntimeError, match="apt-get install postgresql"):
        PostgresServer(tmp_path / "pg").start()
