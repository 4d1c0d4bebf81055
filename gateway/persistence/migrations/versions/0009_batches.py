"""Batches, voucher and reference numbers: each terminal's open batch and voucher counter, each merchant's
reference counter, and the three numbers on orders and refunds

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:30:00.000000

Only columns and indexes are added, altered in place on both backends; rows from before keep no numbers (NULL),
and terminals from before open their first batch at the next sign-in or transaction.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NUMBERED = ("orders", "refunds")


def upgrade() -> None:
    op.add_column("merchants", sa.Column("reference_seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("terminals", sa.Column("batch_no", sa.Integer(), nullable=True))
    op.add_column("terminals", sa.Column("voucher_seq", sa.Integer(), nullable=False, server_default="0"))
    for name in _NUMBERED:
        op.add_column(name, sa.Column("batch_no", sa.String(length=6), nullable=True))
        op.add_column(name, sa.Column("voucher_no", sa.String(length=6), nullable=True))
        op.add_column(name, sa.Column("reference_no", sa.String(length=12), nullable=True))
        # A unique index (not a constraint): created and dropped in place on SQLite too.
        op.create_index(f"uq_{name}_reference_no", name, ["merchant_id", "reference_no"], unique=True)
    op.create_index("ix_orders_terminal_voucher", "orders", ["terminal_id", "batch_no", "voucher_no"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_terminal_voucher", table_name="orders")
    for name in _NUMBERED:
        op.drop_index(f"uq_{name}_reference_no", table_name=name)
        for column in ("reference_no", "voucher_no", "batch_no"):
            op.drop_column(name, column)
    op.drop_column("terminals", "voucher_seq")
    op.drop_column("terminals", "batch_no")
    op.drop_column("merchants", "reference_seq")
