"""Retention: when a report's evidence files and personal data were purged.

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-30 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both engines (SQLite 3.35+ drops columns itself): batch mode would copy
# and drop `report`, and with foreign keys on, dropping it cascades to every report's evidence,
# events and cards (see 0008).


def upgrade() -> None:
    op.add_column("report", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("attachment", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("attachment", "purged_at")
    op.drop_column("report", "purged_at")
