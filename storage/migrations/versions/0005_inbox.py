"""The durable inbox: webhook updates stored before they are acknowledged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:12:52.275608
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inboxupdate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "update_id", name="uq_inbox_channel_update"),
    )
    unhandled = sa.text("handled_at IS NULL")
    op.create_index(
        "ix_inbox_unhandled",
        "inboxupdate",
        ["channel", "id"],
        postgresql_where=unhandled,
        sqlite_where=unhandled,
    )
    op.create_index(
        "ix_inbox_user_head",
        "inboxupdate",
        ["channel", "user_key", "update_id"],
        postgresql_where=unhandled,
        sqlite_where=unhandled,
    )
    op.create_index("ix_inbox_handled", "inboxupdate", ["handled_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_handled", "inboxupdate")
    op.drop_index("ix_inbox_user_head", "inboxupdate")
    op.drop_index("ix_inbox_unhandled", "inboxupdate")
    op.drop_table("inboxupdate")
