"""The audit log: append-only, hash-chained events, and the chain's head.

Triggers refuse UPDATE and DELETE on `auditevent` (and TRUNCATE on PostgreSQL), and refuse
deleting the head or moving it backwards. A superuser or the table's owner can still disable
or drop them; the hash chain is what shows that happened (docs/audit.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 07:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

POSTGRES_UP = (
    """
    CREATE FUNCTION tinbao_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE FUNCTION tinbao_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.last_id < OLD.last_id OR NEW.id <> OLD.id THEN
            RAISE EXCEPTION 'the audit chain head only moves forward'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent "
    "FOR EACH ROW EXECUTE FUNCTION tinbao_audit_append_only()",
    "CREATE TRIGGER auditevent_no_truncate BEFORE TRUNCATE ON auditevent "
    "FOR EACH STATEMENT EXECUTE FUNCTION tinbao_audit_append_only()",
    "CREATE TRIGGER audithead_kept BEFORE DELETE ON audithead "
    "FOR EACH ROW EXECUTE FUNCTION tinbao_audit_append_only()",
    "CREATE TRIGGER audithead_no_truncate BEFORE TRUNCATE ON audithead "
    "FOR EACH STATEMENT EXECUTE FUNCTION tinbao_audit_append_only()",
    "CREATE TRIGGER audithead_forward BEFORE UPDATE ON audithead "
    "FOR EACH ROW EXECUTE FUNCTION tinbao_audit_head_forward()",
)
POSTGRES_DOWN = (
    "DROP TRIGGER audithead_forward ON audithead",
    "DROP TRIGGER audithead_no_truncate ON audithead",
    "DROP TRIGGER audithead_kept ON audithead",
    "DROP TRIGGER auditevent_no_truncate ON auditevent",
    "DROP TRIGGER auditevent_append_only ON auditevent",
    "DROP FUNCTION tinbao_audit_head_forward()",
    "DROP FUNCTION tinbao_audit_append_only()",
)
SQLITE_UP = (
    "CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused'); END",
    "CREATE TRIGGER audithead_kept BEFORE DELETE ON audithead "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused'); END",
    "CREATE TRIGGER audithead_forward BEFORE UPDATE ON audithead "
    "WHEN NEW.last_id < OLD.last_id OR NEW.id <> OLD.id "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END",
)
SQLITE_DOWN = (
    "DROP TRIGGER audithead_forward",
    "DROP TRIGGER audithead_kept",
    "DROP TRIGGER auditevent_no_delete",
    "DROP TRIGGER auditevent_no_update",
)


def upgrade() -> None:
    op.create_table(
        "auditevent",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("object_kind", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=253), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prev_hash"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index("ix_auditevent_object", "auditevent", ["object_kind", "object_id"])
    op.create_index("ix_auditevent_actor", "auditevent", ["actor_id"])
    op.create_index("ix_auditevent_at", "auditevent", ["at"])
    head = op.create_table(
        "audithead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": GENESIS}])
    for statement in POSTGRES_UP if _postgres() else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRES_DOWN if _postgres() else SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("audithead")
    op.drop_index("ix_auditevent_at", "auditevent")
    op.drop_index("ix_auditevent_actor", "auditevent")
    op.drop_index("ix_auditevent_object", "auditevent")
    op.drop_table("auditevent")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
