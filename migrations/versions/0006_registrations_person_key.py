"""registrations: person_key, so one address can register several people

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:20:00.000000

A secretary who registers her Oberbürgermeister and a colleague, neither with an address of
their own, gives both the sender's address. With a unique address the second person was
silently taken for the first ("already registered"). The key is "" for the address's owner and
the folded name of anyone else registered under it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("person_key", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_registrations_email", type_="unique")
        batch_op.create_unique_constraint("uq_registrations_email_person", ["email", "person_key"])


def downgrade() -> None:
    # One row per address again: refused while an address stands for several people, rather
    # than deleting registrations (and orphaning their outbox rows) behind the organiser's back.
    shared = op.get_bind().scalar(
        sa.text(
            "SELECT COUNT(*) FROM (SELECT email FROM registrations GROUP BY email "
            "HAVING COUNT(*) > 1) AS shared"
        )
    )
    if shared:
        raise RuntimeError(
            f"cannot downgrade below 0006: {shared} address(es) stand for several registrations"
        )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_constraint("uq_registrations_email_person", type_="unique")
        batch_op.create_unique_constraint("uq_registrations_email", ["email"])
        batch_op.drop_column("person_key")
