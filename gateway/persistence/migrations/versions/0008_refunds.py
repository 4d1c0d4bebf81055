"""Requested refunds: the requester's number, reason, terminal, operator and supervisor on refunds, each order's
reserved amount and refund count, and the merchant's supervisor rule

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:00:00.000000

`orders` and `merchants` only gain columns, altered in place. `refunds` gains a merchant (filled from its order)
and foreign keys, so SQLite copies it: nothing references `refunds`, so the copy cascades nowhere.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "merchants", sa.Column("refund_requires_supervisor", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("orders", sa.Column("refund_reserved_fen", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("orders", sa.Column("refund_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("refunds", sa.Column("merchant_id", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE refunds SET merchant_id = (SELECT orders.merchant_id FROM orders WHERE orders.id = refunds.order_id)"
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.alter_column("merchant_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.add_column(sa.Column("merchant_refund_no", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("description", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("terminal_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("operator_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("supervisor_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("failure_code", sa.String(length=48), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_refunds_merchant_id_merchants"), "merchants", ["merchant_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_refunds_terminal_id_terminals"), "terminals", ["terminal_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_refunds_operator_id_operators"), "operators", ["operator_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_refunds_supervisor_id_operators"), "operators", ["supervisor_id"], ["id"]
        )
        batch_op.create_unique_constraint(batch_op.f("uq_refunds_merchant_id"), ["merchant_id", "merchant_refund_no"])
        batch_op.create_index("ix_refunds_merchant_created", ["merchant_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_merchant_created")
        batch_op.drop_constraint(batch_op.f("uq_refunds_merchant_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_refunds_supervisor_id_operators"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_refunds_operator_id_operators"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_refunds_terminal_id_terminals"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_refunds_merchant_id_merchants"), type_="foreignkey")
        batch_op.drop_column("failure_code")
        batch_op.drop_column("supervisor_id")
        batch_op.drop_column("operator_id")
        batch_op.drop_column("terminal_id")
        batch_op.drop_column("description")
        batch_op.drop_column("merchant_refund_no")
        batch_op.drop_column("merchant_id")
    op.drop_column("orders", "refund_count")
    op.drop_column("orders", "refund_reserved_fen")
    op.drop_column("merchants", "refund_requires_supervisor")
