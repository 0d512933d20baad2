"""Throwaway loopback mail servers (Dovecot IMAP+LMTP, aiosmtpd SMTP sink) for demo and tests."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import imapclient
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

__all__ = [
    "DovecotServer",
    "PostgresServer",
    "ReceivedMail",
    "SmtpSink",
    "append",
    "find_dovecot",
    "find_postgres",
    "free_port",
]

HOST = "127.0.0.1"

# Linux allows 108 bytes in sun_path, including the terminating NUL. Dovecot creates sockets
# such as "token-login/tokenlogin" or "replication-notify-fifo" inside base_dir; keep room for
# the longest of them plus a margin.
_SUN_PATH_MAX = 107
_SOCKET_NAME_ROOM = 40

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0
_LOG_TAIL_LINES = 40
_HAVE_PROC = os.path.exists("/proc/self/stat")


def find_dovecot() -> str | None:
    """Return the path of the dovecot binary (/usr/sbin/dovecot or on PATH), or None."""
    for candidate in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("dovecot")


def find_postgres() -> Path | None:
    """The directory with PostgreSQL's initdb and postgres (pg_config, else the newest
    /usr/lib/postgresql/*/bin, Debian's layout), or None."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parent.name.split(".") if p.isdigit())

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in ("initdb", "postgres")):
            return directory
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def append(client: imapclient.IMAPClient, folder: str, raw: bytes) -> None:
    """APPEND `raw` unchanged (8-bit allowed) to `folder`, creating the folder if it is missing."""
    if not client.folder_exists(folder):
        client.create_folder(folder)
    client.append(folder, raw)


def _quote(value: str) -> str:
    """Quote a value for dovecot.conf."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"line break or NUL in a Dovecot setting: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _expand_safe(value: str) -> str:
    """Escape '%' for settings that Dovecot expands (%u, %d, ...)."""
    return value.replace("%", "%%")


def _group_members(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group `pgid`."""
    proc = Path("/proc")
    if not _HAVE_PROC:  # not Linux: ask the kernel whether anyone is left
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    pids: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


def _only_master_and_log(pgid: int) -> bool:
    """Whether Dovecot's process group holds nothing but the master and its log process."""
    if not _HAVE_PROC:
        return False
    for pid in _group_members(pgid):
        if pid == pgid:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if not cmdline.startswith(b"dovecot/log"):
            return False
    return True


def _kill_group(pgid: int) -> None:
    """SIGKILL every process in group `pgid` and wait until they are gone."""
    for _ in range(200):
        if not _group_members(pgid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.01)
    raise RuntimeError(f"processes {_group_members(pgid)} of group {pgid} survived SIGKILL")


class DovecotServer:
    """Dovecot from a config file written into `root` (a temp dir), IMAP and LMTP on free ports.

    Any user name logs in with `password`; user names are full (lower-cased) e-mail addresses,
    and LMTP ``RCPT TO:<address>`` delivers into the INBOX of the user named by the address.
    Mail lives in ``root/mail/<user>`` (Maildir), the log in ``root/dovecot.log``.

    With ``oauth2_introspection_url``, AUTHENTICATE XOAUTH2 and OAUTHBEARER are offered too
    (Dovecot's oauth2 passdb): Dovecot POSTs ``token=<access token>`` to that URL (RFC 7662
    introspection) and lets the user in when the JSON answer has ``"active": true`` and
    ``"username"`` equal to the login name. PLAIN and LOGIN keep using ``password``.
    """

    def __init__(
        self,
        root: Path,
        password: str = "secret",  # noqa: S107 (test server)
        *,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        if not password or any(ch.isspace() for ch in password):
            raise ValueError("password must be non-empty and contain no whitespace")
        self.root = Path(root).absolute()
        self.password = password
        self.oauth2_introspection_url = oauth2_introspection_url
        self.host = HOST
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        while self.lmtp_port == self.imap_port:
            self.lmtp_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._short_base_dir: Path | None = None

    # -- paths -------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def base_dir(self) -> Path:
        """Where Dovecot puts its sockets and master.pid (a short /tmp dir if root is too long)."""
        if self._short_base_dir is not None:
            return self._short_base_dir
        return self.root / "run"

    def maildir(self, user: str) -> Path:
        """The user's Maildir (Dovecot lower-cases user names: auth_username_format = %Lu)."""
        return self.root / "mail" / user.lower()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Write dovecot.conf, start Dovecot and wait until IMAP and LMTP answer."""
        if self.running:
            return
        binary = find_dovecot()
        if binary is None:
            raise RuntimeError("dovecot not installed: apt-get install dovecot-imapd dovecot-lmtpd")
        self._reap()  # leftovers of a kill()
        self._prepare_dirs()
        self.config_path.write_text(self._config())
        self._stderr = (self.root / "dovecot.stderr").open("wb")
        self._proc = subprocess.Popen(
            [binary, "-F", "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop()/kill() find every child
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop Dovecot (SIGTERM, then SIGKILL) and every child; idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            deadline = time.monotonic() + _STOP_TIMEOUT
            quiet_since: float | None = None
            while proc.poll() is None:
                # On SIGTERM the master stops and reaps its children within milliseconds, sends
                # SIGQUIT to its log process and then sleeps a fixed second before it exits.
                # Once nothing but the master and the log process is left, there is nothing
                # more to log or to save: after a short pause, spare us that second.
                if _only_master_and_log(proc.pid):
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > 0.05:
                        proc.kill()
                else:
                    quiet_since = None
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(0.01)
        self._reap()
        if self._short_base_dir is not None:
            shutil.rmtree(self._short_base_dir, ignore_errors=True)
            self._short_base_dir = None

    def kill(self) -> None:
        """SIGKILL the master, then its children (a crash); start() works again afterwards."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._reap()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------------

    def deliver(
        self, recipient: str, raw: bytes, *, mail_from: str = "devservers@localhost"
    ) -> None:
        """Deliver `raw` into `recipient`'s INBOX over LMTP.

        The default envelope sender is not the null sender, so that deliveries do not look
        like bounces; pass ``mail_from=""`` for ``MAIL FROM:<>``.
        """
        options = [] if raw.isascii() else ["BODY=8BITMIME"]
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
            refused = lmtp.sendmail(mail_from, [recipient], raw, mail_options=options)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def imap(self, user: str) -> imapclient.IMAPClient:
        """A logged-in IMAP client (plain text, no TLS); the caller logs out."""
        client = imapclient.IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=30)
        try:
            client.login(user, self.password)
        except BaseException:
            client.shutdown()
            raise
        return client

    # -- internals ---------------------------------------------------------------------------

    def _reap(self) -> None:
        """SIGKILL whatever is left of our process group (nothing after a clean stop)."""
        proc = self._proc
        if proc is not None:
            # Children of a master that died (kill(), a fatal error) do not all exit by
            # themselves: log, stats and imap processes were seen lingering for good.
            _kill_group(proc.pid)
            self._proc = None
            (self.base_dir / "master.pid").unlink(missing_ok=True)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        run = self.root / "run"
        if self._short_base_dir is None and len(str(run)) + _SOCKET_NAME_ROOM > _SUN_PATH_MAX:
            self._short_base_dir = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
        for sub in ("mail", "home", "state"):
            (self.root / sub).mkdir(exist_ok=True)
        self.base_dir.mkdir(exist_ok=True)
        # Dovecot's login and internal users must reach the sockets.
        self.base_dir.chmod(0o755)
        if os.geteuid() != 0:
            return
        # As root, mail is read and written as user dovecot: it must traverse every directory
        # above root (pytest's tmp_path parents are 0700) and own the mail and home trees.
        for directory in (self.root, *self.root.parents):
            mode = directory.stat().st_mode
            if not mode & 0o001:
                directory.chmod(mode | 0o001)
        entry = pwd.getpwnam("dovecot")
        for sub in ("mail", "home"):
            top = self.root / sub
            os.chown(top, entry.pw_uid, entry.pw_gid)
            for dirpath, dirnames, filenames in os.walk(top):
                for name in (*dirnames, *filenames):
                    os.lchown(os.path.join(dirpath, name), entry.pw_uid, entry.pw_gid)

    def _config(self) -> str:
        if os.geteuid() == 0:
            login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
            mail_user, mail_group = "dovecot", "dovecot"
        else:
            entry = pwd.getpwuid(os.geteuid())
            try:
                group = grp.getgrgid(entry.pw_gid).gr_name
            except KeyError:
                group = str(entry.pw_gid)
            login_user = internal_user = mail_user = entry.pw_name
            internal_group = mail_group = group
        mail = _expand_safe(str(self.root / "mail"))
        home = _expand_safe(str(self.root / "home"))
        password = _expand_safe(self.password)
        mechanisms = "plain login"
        oauth2_passdb: list[str] = []
        if self.oauth2_introspection_url is not None:
            mechanisms = "plain login xoauth2 oauthbearer"
            oauth2_conf = self.root / "dovecot-oauth2.conf.ext"
            oauth2_conf.write_text(
                "\n".join(
                    [
                        "introspection_mode = post",
                        f"introspection_url = {_expand_safe(self.oauth2_introspection_url)}",
                        "force_introspection = yes",
                        "username_attribute = username",
                        "active_attribute = active",
                        "active_value = true",
                        "timeout_msecs = 10000",
                    ]
                )
                + "\n"
            )
            oauth2_passdb = [
                "passdb {",
                "  driver = oauth2",
                "  mechanisms = xoauth2 oauthbearer",
                f"  args = {_quote(str(oauth2_conf))}",
                "}",
                # No 2-second delay and no penalty after a refused token: tests try bad ones.
                "auth_failure_delay = 0",
                f"login_trusted_networks = {HOST}/32",
            ]
        lines = [
            "# Written by anmeldung.devservers; a throwaway loopback server.",
            "protocols = imap lmtp",
            f"listen = {HOST}",
            f"base_dir = {_quote(str(self.base_dir))}",
            f"state_dir = {_quote(str(self.root / 'state'))}",
            f"log_path = {_quote(str(self.log_path))}",
            "ssl = no",
            "disable_plaintext_auth = no",
            f"auth_mechanisms = {mechanisms}",
            "auth_verbose = yes",
            f"default_login_user = {login_user}",
            f"default_internal_user = {internal_user}",
            f"default_internal_group = {internal_group}",
            "first_valid_uid = 0",
            f"mail_location = {_quote('maildir:' + mail + '/%u')}",
            f"mail_home = {_quote(home + '/%u')}",
            "mail_fsync = never",
            "mail_max_userip_connections = 1000",
            *oauth2_passdb,
            "passdb {",
            "  driver = static",
            *(["  mechanisms = plain login"] if oauth2_passdb else []),
            # "{PLAIN}" so that a password starting with "{" is not read as a scheme.
            f"  args = {_quote('password={PLAIN}' + password)}",
            "}",
            "userdb {",
            "  driver = static",
            f"  args = uid={mail_user} gid={mail_group} allow_all_users=yes",
            "}",
            "service imap-login {",
            "  chroot =",
            "  inet_listener imap {",
            f"    address = {HOST}",
            f"    port = {self.imap_port}",
            "  }",
            "  inet_listener imaps {",
            "    port = 0",
            "  }",
            "}",
            "service anvil {",
            "  chroot =",
            "}",
            "service lmtp {",
            "  inet_listener lmtp {",
            f"    address = {HOST}",
            f"    port = {self.lmtp_port}",
            "  }",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        pending = [(self.imap_port, b"* OK"), (self.lmtp_port, b"220 ")]
        last_error = "no answer"
        while pending:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise RuntimeError(self._failure(f"dovecot exited with status {code}"))
            if time.monotonic() > deadline:
                raise RuntimeError(
                    self._failure(f"no greeting within {_START_TIMEOUT:.0f} s ({last_error})")
                )
            port, greeting = pending[0]
            try:
                with socket.create_connection((self.host, port), timeout=2) as sock:
                    line = sock.makefile("rb").readline()
            except OSError as exc:
                last_error = f"port {port}: {exc}"
                time.sleep(0.05)
                continue
            if line.startswith(greeting):
                pending.pop(0)
            else:
                last_error = f"port {port} said {line!r}"
                time.sleep(0.05)

    def _failure(self, reason: str) -> str:
        parts = [f"Dovecot in {self.root} did not start: {reason}"]
        for path in (self.root / "dovecot.stderr", self.log_path):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            tail = text.splitlines()[-_LOG_TAIL_LINES:]
            if tail:
                parts.append(f"--- {path.name} (last lines) ---")
                parts.extend(tail)
        return "\n".join(parts)


class PostgresServer:
    """PostgreSQL from ``initdb`` in ``root`` (a temp dir), on 127.0.0.1 and a free port.

    A throwaway server for tests and benchmarks: fsync and synchronous commit are off (a
    crash loses the data, which is thrown away anyway). ``user`` is the superuser, logging in
    with ``password`` over TCP (scram-sha-256). As root the server runs as the ``postgres``
    system user, since initdb and postgres refuse to run as root; otherwise as the current
    user. The unix socket lives in the temp dir too, never in /var/run/postgresql.
    """

    def __init__(
        self,
        root: Path,
        *,
        user: str = "anmeldung",
        password: str = "secret",  # noqa: S107 (test server)
    ) -> None:
        self.root = Path(root).absolute()
        self.user = user
        self.password = password
        self.host = HOST
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._short_socket_dir: Path | None = None
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self._short_socket_dir or self.root / "run"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for ``database`` on this server."""
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{database}"
        )

    def start(self) -> None:
        """initdb (once), start postgres and wait until it takes connections."""
        if self.running:
            return
        bindir = find_postgres()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL not installed (no initdb/postgres from pg_config or in "
                "/usr/lib/postgresql/*/bin): apt-get install postgresql"
            )
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bindir)
        self._log = self.log_path.open("ab")
        settings = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            # Throwaway data: durability buys nothing here and costs most of the time.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "64MB",
            "log_min_messages": "warning",
        }
        args = [str(bindir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop()/kill() find every backend
            user=self._run_as,
            group=self._run_as,
            extra_groups=[] if self._run_as else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown (SIGINT: end sessions, checkpoint), SIGKILL after a while; idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        self._reap()
        if self._short_socket_dir is not None:
            shutil.rmtree(self._short_socket_dir, ignore_errors=True)
            self._short_socket_dir = None

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend (a crash)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self._reap()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------------

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) as the superuser."""
        import psycopg

        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE ``name`` (a copy of ``template``: fast); returns its URL."""
        _check_identifier(name)
        sql = f'CREATE DATABASE "{name}"'
        if template is not None:
            _check_identifier(template)
            sql += f' TEMPLATE "{template}"'
        self.execute(sql)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        _check_identifier(name)
        # WITH (FORCE), PostgreSQL 13+: a test that leaked a connection must not block this.
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals ---------------------------------------------------------------------------

    def _dsn(self, database: str) -> str:
        return (
            f"host={self.host} port={self.port} dbname={database} user={self.user} "
            f"password={self.password} connect_timeout=5"
        )

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if (
            self._short_socket_dir is None
            and len(str(self.root / "run" / f".s.PGSQL.{self.port}.lock")) > _SUN_PATH_MAX
        ):
            self._short_socket_dir = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        self.socket_dir.mkdir(exist_ok=True)
        if self._run_as is None:
            return
        # As root, the server runs as `postgres`: it must traverse every directory above
        # root (pytest's tmp_path parents are 0700) and own its own tree.
        for directory in (self.root, *self.root.parents):
            mode = directory.stat().st_mode
            if not mode & 0o001:
                directory.chmod(mode | 0o001)
        entry = pwd.getpwnam(self._run_as)
        for path in (self.root, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self, bindir: Path) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        args = [
            str(bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            # UTF-8 with a Unicode-aware lower() (the search in `anmeldung list`); C.UTF-8 is
            # built into glibc on Debian, no locales package needed.
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
        done = subprocess.run(
            args,
            capture_output=True,
            timeout=120,
            check=False,
            user=self._run_as,
            group=self._run_as,
            extra_groups=[] if self._run_as else None,
            cwd=self.root,
        )
        pwfile.unlink()
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(
                f"initdb in {self.data_dir} failed (status {done.returncode}):\n"
                + "\n".join(output.splitlines()[-_LOG_TAIL_LINES:])
            )

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + _START_TIMEOUT
        last_error = "no answer"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise RuntimeError(self._failure(f"postgres exited with status {code}"))
            if time.monotonic() > deadline:
                raise RuntimeError(
                    self._failure(f"no connection within {_START_TIMEOUT:.0f} s ({last_error})")
                )
            try:
                with psycopg.connect(self._dsn("postgres")):
                    return
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
                time.sleep(0.05)

    def _reap(self) -> None:
        proc = self._proc
        if proc is not None:
            _kill_group(proc.pid)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _failure(self, reason: str) -> str:
        parts = [f"PostgreSQL in {self.root} did not start: {reason}"]
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        except OSError:
            tail = []
        if tail:
            parts.append("--- postgres.log (last lines) ---")
            parts.extend(tail)
        return "\n".join(parts)


def _check_identifier(name: str) -> None:
    if not name or not all(ch.isalnum() or ch == "_" for ch in name) or not name.isascii():
        raise ValueError(f"not a plain database name: {name!r}")


@dataclass
class ReceivedMail:
    """One message as the SMTP sink received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class _SinkHandler:
    """aiosmtpd handler; runs in the Controller's event-loop thread."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sink = self.sink
        if sink.xoauth2 is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        content = envelope.original_content
        if content is None:
            content = (
                envelope.content.encode("utf-8", "surrogateescape")
                if isinstance(envelope.content, str)
                else envelope.content or b""
            )
        mail = ReceivedMail(envelope.mail_from or "", list(envelope.rcpt_tos), content)
        if sink.drop_next > 0:
            # The data arrived, but the client never learns it: the "unknown" outcome.
            sink.drop_next -= 1
            with sink._changed:
                sink.dropped.append(mail)
            transport = server.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()  # no reply; aiosmtpd's reply then goes nowhere
            return "421 4.4.2 connection dropped"
        try:
            code, text = sink.fail_next.pop(0)
        except IndexError:
            pass
        else:
            with sink._changed:
                sink.rejected.append(mail)
            return f"{code} {text}"
        if sink.forward_to is not None:
            # Deliver before recording, so that wait_for() implies "in the mailbox".
            try:
                for rcpt in mail.rcpt_tos:
                    sink.forward_to.deliver(rcpt, content, mail_from=mail.mail_from)
            except (OSError, smtplib.SMTPException) as exc:
                return f"451 4.3.0 forwarding over LMTP failed: {exc}"
        with sink._changed:
            sink.messages.append(mail)
            sink._changed.notify_all()
        if sink.delay_next:
            # Taken, but the reply comes late (aiosmtpd cancels this when the client hangs up).
            await asyncio.sleep(sink.delay_next.pop(0))
        return "250 OK"


class _CountingSMTP(SMTP):
    """aiosmtpd's SMTP session, counting the connections the sink accepted."""

    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self._sink._changed:
            self._sink.connections += 1
        super().connection_made(transport)


class _SinkController(Controller):
    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink

    def factory(self) -> SMTP:
        return _CountingSMTP(self._sink, self.handler, **self.SMTP_kwargs)


class _XOAuth2SinkHandler(_SinkHandler):
    """The sink handler plus AUTH XOAUTH2 (aiosmtpd finds ``auth_<MECHANISM>`` on handlers)."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        check = self.sink.xoauth2
        assert check is not None
        if len(args) > 1:
            blob: Any = args[1].encode()
            try:
                blob = b64decode(blob, validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:  # no initial response: ask for it with an empty challenge
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        # "user=<user>\x01auth=Bearer <token>\x01\x01"
        fields = dict(
            part.split("=", 1)
            for part in blob.decode("utf-8", "replace").split("\x01")
            if "=" in part
        )
        user = fields.get("user", "")
        scheme, _, token = fields.get("auth", "").partition(" ")
        if scheme.lower() == "bearer" and token and check(user, token):
            self.sink.logins.append(user)
            return AuthResult(success=True, auth_data=user)
        # Like Gmail: a base64 JSON error as a challenge, the client answers with an empty line.
        await server.challenge_auth('{"status":"401","schemes":"bearer","scope":"mail"}')
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )


class SmtpSink:
    """aiosmtpd Controller on a free loopback port; records every message, can forward over LMTP.

    ``fail_next`` is a queue of replies, e.g. ``(451, "4.3.0 try later")``: each DATA command
    takes the first one and is answered with it instead of being accepted (the message then
    goes to ``rejected``, not ``messages``). With ``forward_to``, a message is delivered to
    every recipient over LMTP before it is recorded; a failed delivery is answered with 451.

    Faults after the final ".", for outcome-unknown tests: ``drop_next`` (a count) makes the
    next DATA commands close the connection without any reply (the message goes to
    ``dropped``); ``delay_next`` is a queue of seconds to wait before replying, e.g. longer
    than the client's timeout (the message is recorded in ``messages`` before the wait).
    ``connections`` counts the SMTP connections accepted (start() itself makes one).

    With ``xoauth2``, a function ``(user, access_token) -> bool``, the sink offers AUTH XOAUTH2
    (only that, over plain text on loopback) and takes mail only after a login it accepted;
    ``logins`` lists the users that logged in.
    """

    def __init__(
        self,
        forward_to: DovecotServer | None = None,
        port: int | None = None,
        *,
        xoauth2: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.host = HOST
        self.xoauth2 = xoauth2
        self.logins: list[str] = []
        self.port = port if port is not None else free_port()
        self.forward_to = forward_to
        self.messages: list[ReceivedMail] = []
        self.rejected: list[ReceivedMail] = []
        self.fail_next: list[tuple[int, str]] = []
        self.drop_next = 0
        self.dropped: list[ReceivedMail] = []
        self.delay_next: list[float] = []
        self.connections = 0
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            return
        auth: dict[str, Any] = {}
        handler = _SinkHandler(self)
        if self.xoauth2 is not None:
            handler = _XOAuth2SinkHandler(self)
            auth = {"auth_require_tls": False, "auth_exclude_mechanism": ["LOGIN", "PLAIN"]}
        controller = _SinkController(
            self,
            handler,
            hostname=self.host,
            port=self.port,
            # The banner name; the default, socket.getfqdn(), can wait seconds for DNS.
            server_hostname="localhost",
            ready_timeout=10.0,
            **auth,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until at least `count` messages were accepted; return a copy of all of them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(
                    f"SMTP sink got {len(self.messages)} of {count} messages in {timeout} s"
                )
            return list(self.messages)
