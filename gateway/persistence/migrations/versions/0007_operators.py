"""Operators: a wrong-password count and lockout, disabling, when the password was last set; scan sessions
remember the operator who opened them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:30:00.000000

`operators` gets columns only, so SQLite alters it in place (copying it would cascade into what references it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("operators", sa.Column("failed_sign_ins", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("operators", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("operators", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("operators", sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
    # A foreign key cannot be added by ALTER TABLE on SQLite: scan_sessions is copied, which is safe as nothing
    # references it.
    with op.batch_alter_table("scan_sessions") as batch_op:
        batch_op.add_column(sa.Column("operator_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_scan_sessions_operator_id_operators"), "operators", ["operator_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("scan_sessions") as batch_op:  # copied again on SQLite
        batch_op.drop_constraint(batch_op.f("fk_scan_sessions_operator_id_operators"), type_="foreignkey")
        batch_op.drop_column("operator_id")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), without copying `operators`.
    op.drop_column("operators", "password_changed_at")
    op.drop_column("operators", "disabled_at")
    op.drop_column("operators", "locked_until")
    op.drop_column("operators", "failed_sign_ins")
