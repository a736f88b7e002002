"""Reporter identity apart: pseudonymous handles, and contact phones out of `report`.

`user.handle` is the pseudonym officers see; every reporter of a named (not anonymous) report
gets one here, later ones when first needed. The phone a reporter gave for contact moves from
`report.contact_phone` to `reportercontact`, read only when an admin reveals the reporter.

The column is dropped with SQLite's own `ALTER TABLE … DROP COLUMN` (SQLite 3.35+), not by
batch mode: batch mode copies the table and drops the old one, and with foreign keys on, that
drop would cascade to every report's evidence, events and cards.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:30:00.000000
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same alphabet and length as `storage.identity` (a migration must not import app code,
# which changes after it).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 6


def upgrade() -> None:
    op.add_column("user", sa.Column("handle", sa.String(length=16), nullable=True))
    op.create_index("ix_user_handle", "user", ["handle"], unique=True)
    op.create_table(
        "reportercontact",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("report_id"),
    )
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO reportercontact (report_id, phone, created_at) "
            "SELECT id, contact_phone, COALESCE(submitted_at, created_at) FROM report "
            "WHERE contact_phone IS NOT NULL AND contact_phone <> ''"
        )
    )
    reporters = bind.execute(
        sa.text(
            "SELECT DISTINCT reporter_id FROM report WHERE reporter_id IS NOT NULL "
            "AND NOT anonymous AND status <> 'draft' ORDER BY reporter_id"
        )
    ).scalars()
    given: set[str] = set()
    for user_id in list(reporters):
        handle = _new_handle()
        while handle in given:
            handle = _new_handle()
        given.add(handle)
        bind.execute(
            sa.text('UPDATE "user" SET handle = :handle WHERE id = :id'),
            {"handle": handle, "id": user_id},
        )
    if bind.dialect.name == "sqlite":
        op.execute("ALTER TABLE report DROP COLUMN contact_phone")
    else:
        op.drop_column("report", "contact_phone")


def downgrade() -> None:
    op.add_column("report", sa.Column("contact_phone", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE report SET contact_phone = (SELECT phone FROM reportercontact "
        "WHERE reportercontact.report_id = report.id)"
    )
    op.drop_table("reportercontact")
    op.drop_index("ix_user_handle", "user")
    if op.get_bind().dialect.name == "sqlite":
        op.execute('ALTER TABLE "user" DROP COLUMN handle')
    else:
        op.drop_column("user", "handle")


def _new_handle() -> str:
    return "NB-" + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
