"""Operators: a wrong-password count and lockout, disabling, and when the password was last set

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:30:00.000000

Only columns are added, so SQLite alters `operators` in place (copying it would cascade into what references it).
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


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), again without copying the table.
    op.drop_column("operators", "password_changed_at")
    op.drop_column("operators", "disabled_at")
    op.drop_column("operators", "locked_until")
    op.drop_column("operators", "failed_sign_ins")
