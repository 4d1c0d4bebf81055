"""Fees and settlements: the fee and rate of each payment and the fee given back by each refund, merchants' own
rates per channel, and each terminal's settled batches with their totals

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:40:00.000000

Payments and refunds from before have no fee recorded (null): their rate at the time is not known.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("fee_rate_bp", sa.Integer(), nullable=True))
    op.add_column("orders", sa.Column("fee_fen", sa.BigInteger(), nullable=True))
    op.add_column("refunds", sa.Column("fee_fen", sa.BigInteger(), nullable=True))
    op.create_table(
        "merchant_fee_rates",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_merchant_fee_rates_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("merchant_id", "channel", name=op.f("pk_merchant_fee_rates")),
    )
    op.create_table(
        "settlements",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("terminal_id", sa.String(length=32), nullable=False),
        sa.Column("batch_no", sa.String(length=6), nullable=False),
        sa.Column("operator_id", sa.String(length=32), nullable=True),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_settlements_merchant_id_merchants")),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_settlements_operator_id_operators")),
        sa.ForeignKeyConstraint(["terminal_id"], ["terminals.id"], name=op.f("fk_settlements_terminal_id_terminals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("terminal_id", "batch_no", name=op.f("uq_settlements_terminal_id")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_terminal_id"), ["terminal_id"], unique=False)


def downgrade() -> None:
    op.drop_table("settlements")
    op.drop_table("merchant_fee_rates")
    op.drop_column("refunds", "fee_fen")
    op.drop_column("orders", "fee_fen")
    op.drop_column("orders", "fee_rate_bp")
