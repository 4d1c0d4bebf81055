"""Key rotation and disabling: a second key on terminals and cameras, merchants that can be disabled

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:00:00.000000

Only columns and indexes are added (a unique index, not a unique constraint), so SQLite alters the tables in
place: copying `terminals` would cascade into everything that references it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("merchants", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("terminals", sa.Column("previous_key_id", sa.String(length=32), nullable=True))
    op.add_column("terminals", sa.Column("previous_secret_encrypted", sa.String(length=256), nullable=True))
    op.create_index(op.f("ix_terminals_previous_key_id"), "terminals", ["previous_key_id"], unique=True)
    op.add_column("cameras", sa.Column("previous_key_prefix", sa.String(length=16), nullable=True))
    op.add_column("cameras", sa.Column("previous_secret_hash", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_cameras_previous_key_prefix"), "cameras", ["previous_key_prefix"], unique=True)


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), again without copying any table.
    op.drop_index(op.f("ix_cameras_previous_key_prefix"), table_name="cameras")
    op.drop_column("cameras", "previous_secret_hash")
    op.drop_column("cameras", "previous_key_prefix")
    op.drop_index(op.f("ix_terminals_previous_key_id"), table_name="terminals")
    op.drop_column("terminals", "previous_secret_encrypted")
    op.drop_column("terminals", "previous_key_id")
    op.drop_column("merchants", "disabled_at")
