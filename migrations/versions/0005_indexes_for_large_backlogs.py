"""indexes for large backlogs: the loop fuse's counts, confirmed places, the list order

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:10:00.000000

Without them every handled message counted the whole outbox twice (outbox.fuse_reason) and
the whole registrations table once, so a backlog of N mails cost O(N^2) row reads
(bench/backlog.py). The outbox indexes cover the fuse's status test: status is stored after
the body, so reading it from the row walks the body's overflow pages.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_outbox_recipient_created", "outbox", ["recipient", "created_at", "status"]),
    ("ix_outbox_created", "outbox", ["created_at", "status"]),
    ("ix_registrations_status", "registrations", ["status"]),
    ("ix_registrations_order", "registrations", ["registered_at", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
