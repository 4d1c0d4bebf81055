"""Voids and receipts: whether a refund row is a void sent as the channel's reverse/cancel, and how many times
each slip of a transaction was printed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 22:00:00.000000

`refunds` only gains a column, altered in place; refunds from before were all sent as refunds (false).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("refunds", sa.Column("via_reverse", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "receipt_prints",
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("slip", sa.String(length=16), nullable=False),
        sa.Column("prints", sa.Integer(), nullable=False),
        sa.Column("last_printed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", "slip", name=op.f("pk_receipt_prints")),
    )


def downgrade() -> None:
    op.drop_table("receipt_prints")
    op.drop_column("refunds", "via_reverse")
