"""Domain allow and deny lists kept by officers, for the instant check's link analysis.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 01:57:58.709378
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "domainrule",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["added_by"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("domain"),
    )


def downgrade() -> None:
    op.drop_table("domainrule")
