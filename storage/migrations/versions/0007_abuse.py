"""Bans: users whose messages the bot no longer handles, with who, when and why.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30 07:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ban",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("banned_by", sa.Integer(), nullable=True),
        sa.Column("banned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.Integer(), nullable=True),
        sa.Column("lift_source", sa.String(length=64), nullable=True),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["banned_by"], ["user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["lifted_by"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ban_user_id", "ban", ["user_id"])
    in_force = sa.text("lifted_at IS NULL")
    op.create_index(
        "uq_ban_in_force",
        "ban",
        ["user_id"],
        unique=True,
        postgresql_where=in_force,
        sqlite_where=in_force,
    )


def downgrade() -> None:
    op.drop_index("uq_ban_in_force", "ban")
    op.drop_index("ix_ban_user_id", "ban")
    op.drop_table("ban")
