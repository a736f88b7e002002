"""Zalo Official Account: the token pair, each resident's reply window and warnings quota, held
messages; the channel of each report card and of each warning's recipient.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both engines (batch mode would copy and drop `reportcard`).
    op.add_column(
        "reportcard",
        sa.Column("channel", sa.String(length=16), nullable=False, server_default="telegram"),
    )
    op.add_column(
        "broadcastdelivery",
        sa.Column("channel", sa.String(length=16), nullable=False, server_default="telegram"),
    )
    op.create_table(
        "zalotoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "zalochat",
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("buttons", sa.Text(), nullable=True),
        sa.Column("following", sa.Boolean(), nullable=False),
        sa.Column("warnings_month", sa.String(length=7), nullable=True),
        sa.Column("warnings_sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("external_id"),
    )
    op.create_table(
        "zaloheld",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_zaloheld_external", "zaloheld", ["external_id"])


def downgrade() -> None:
    op.drop_index("ix_zaloheld_external", table_name="zaloheld")
    op.drop_table("zaloheld")
    op.drop_table("zalochat")
    op.drop_table("zalotoken")
    op.drop_column("reportcard", "channel")
    op.drop_column("broadcastdelivery", "channel")
