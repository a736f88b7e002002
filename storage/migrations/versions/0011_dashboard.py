"""The web dashboard: one-time login links, signed-in sessions, and an index for its queue.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboardtoken",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_dashboardtoken_user_id", "dashboardtoken", ["user_id"])
    op.create_table(
        "dashboardsession",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_dashboardsession_user_id", "dashboardsession", ["user_id"])
    op.create_index("ix_report_status_id", "report", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_report_status_id", "report")
    op.drop_index("ix_dashboardsession_user_id", "dashboardsession")
    op.drop_table("dashboardsession")
    op.drop_index("ix_dashboardtoken_user_id", "dashboardtoken")
    op.drop_table("dashboardtoken")
