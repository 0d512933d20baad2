"""The demo: throwaway Dovecot + SMTP on loopback, the example mails, one poll, the result.

Nothing outside this machine is touched; everything lives in a temp dir that is removed at the
end (pass --keep to look around afterwards).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

from anmeldung.devservers import DovecotServer, SmtpSink, append, find_dovecot

REPO = Path(__file__).resolve().parents[1]
MAILBOX = "anmeldung@stadt.example"


def sh(config: Path, *args: str) -> str:
    print(f"\n$ anmeldung {' '.join(args)}", flush=True)
    proc = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "anmeldung", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"demo: `anmeldung {' '.join(args)}` failed with exit {proc.returncode}")
    return proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and print its path")
    args = parser.parse_args()
    if find_dovecot() is None:
        print(
            "demo: Dovecot is missing; run `make demo` (it installs dovecot-imapd/-lmtpd)",
            file=sys.stderr,
        )
        return 1

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="anmeldung-demo-"))
    dovecot = DovecotServer(work / "dovecot")
    sink = SmtpSink(forward_to=dovecot)
    try:
        dovecot.start()
        sink.start()
        print(
            f"demo: Dovecot IMAP on 127.0.0.1:{dovecot.imap_port}, "
            f"SMTP on 127.0.0.1:{sink.port}, files in {work}"
        )
        config = work / "anmeldung.toml"
        example = (REPO / "config.example.toml").read_text(encoding="utf-8")
        config.write_text(_demo_config(example, dovecot, sink), encoding="utf-8")

        client = dovecot.imap(MAILBOX)
        examples = sorted((REPO / "examples").glob("*.eml"))
        for path in examples:
            append(client, "INBOX", path.read_bytes())
        client.logout()
        print(f"demo: dropped {len(examples)} registration mails from examples/ into {MAILBOX}")

        sh(config, "init")
        sh(config, "poll")
        sh(config, "list")
        sink.wait_for(1, timeout=10)
        first = sink.messages[0].rcpt_tos[0]
        print(f"\ndemo: the confirmation as it arrived in {first}'s mailbox:\n")
        print(_show(_read_inbox(dovecot, first)))
        print(f"demo: finished in {time.monotonic() - started:.1f} s")
    finally:
        sink.stop()
        dovecot.stop()
        if args.keep:
            print(f"demo: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _demo_config(example: str, dovecot: DovecotServer, sink: SmtpSink) -> str:
    """The example config, pointed at the throwaway servers."""
    lines = []
    section = ""
    for line in example.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        key = (
            stripped.split("=")[0].strip()
            if "=" in stripped and not stripped.startswith("#")
            else ""
        )
        if section == "[mailbox]" and key in ("host", "port", "security", "password_env"):
            line = {
                "host": 'host = "127.0.0.1"',
                "port": f"port = {dovecot.imap_port}",
                "security": 'security = "none"',
                "password_env": f'password = "{dovecot.password}"',
            }[key]
        elif section == "[smtp]" and key in (
            "host",
            "port",
            "security",
            "username",
            "password_env",
        ):
            line = {
                "host": 'host = "127.0.0.1"',
                "port": f"port = {sink.port}",
                "security": 'security = "none"',
                "username": "",
                "password_env": "",
            }[key]
        lines.append(line)
    return "\n".join(lines) + "\n"


def _read_inbox(dovecot: DovecotServer, user: str) -> EmailMessage:
    client = dovecot.imap(user)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        raw = client.fetch(uids[:1], ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
    finally:
        client.logout()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _show(msg: EmailMessage) -> str:
    out = []
    for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "Auto-Submitted"):
        if msg[name]:
            out.append(f"{name}: {msg[name]}")
    parts = [p.get_content_type() for p in msg.walk() if not p.is_multipart()]
    out.append(f"(MIME parts: {', '.join(parts)})")
    body = msg.get_body(("plain",))
    out.append("")
    out.append(body.get_content() if body is not None else "")
    return "\n".join(out)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
