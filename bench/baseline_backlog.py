"""Baseline for the backlog benchmark: the least any tool must do to answer a mailbox of mail.

Fetches every message of the folder with imapclient (BODY.PEEK[] in batches), parses each with
mail-parser, and sends one pre-rendered reply per message over a single SMTP connection. No
database, no classification, no moving: the floor the project is compared against.

    python bench/baseline_backlog.py --imap-port P --smtp-port Q --user U --password PW \
        --reply reply.eml
"""

from __future__ import annotations

import argparse
import smtplib
from pathlib import Path

import imapclient
import mailparser


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--imap-port", type=int, required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--folder", default="INBOX")
    p.add_argument("--reply", type=Path, required=True, help="the rendered reply (RFC 5322)")
    p.add_argument("--batch", type=int, default=500)
    args = p.parse_args()
    reply = args.reply.read_bytes()

    imap = imapclient.IMAPClient(args.host, port=args.imap_port, ssl=False)
    imap.login(args.user, args.password)
    imap.select_folder(args.folder, readonly=True)
    uids = sorted(imap.search(["NOT", "DELETED"]))
    smtp = smtplib.SMTP(args.host, args.smtp_port)
    sent = 0
    for start in range(0, len(uids), args.batch):
        chunk = uids[start : start + args.batch]
        for _uid, data in sorted(imap.fetch(chunk, ["BODY.PEEK[]"]).items()):
            mail = mailparser.parse_from_bytes(bytes(data[b"BODY[]"]))
            to = mail.from_[0][1] if mail.from_ else None
            if not to:
                continue
            smtp.sendmail(args.user, [to], reply)
            sent += 1
    smtp.quit()
    imap.logout()
    print(f"baseline: {len(uids)} fetched, {sent} replies sent")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
