"""B-scan-C: jobs, outbox, idempotency, nonces, used payment codes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 14:27:31.010749
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "terminal_nonces",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_terminal_nonces")),
    )
    with op.batch_alter_table("terminal_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_terminal_nonces_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("terminal_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_idempotency_records_terminal_id_terminals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("terminal_id", "key", name=op.f("uq_idempotency_records_terminal_id")),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_records_created_at"), ["created_at"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_jobs_order_id_orders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("kind", "order_id", name=op.f("uq_jobs_kind")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_due", ["due_at"], unique=False)

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("terminal_id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_outbox_events_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_outbox_events_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_outbox_events_terminal_id_terminals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("terminal_id", "seq", name=op.f("uq_outbox_events_terminal_id")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_events_merchant_id"), ["merchant_id"], unique=False)

    op.create_table(
        "used_payment_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_used_payment_codes_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_used_payment_codes")),
    )
    with op.batch_alter_table("used_payment_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_payment_codes_used_at"), ["used_at"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure_code", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("failure_detail", sa.String(length=256), nullable=True))

    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_seq", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("operator_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("operator_signed_in_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_terminals_operator_id_operators"), "operators", ["operator_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_terminals_operator_id_operators"), type_="foreignkey")
        batch_op.drop_column("operator_signed_in_at")
        batch_op.drop_column("operator_id")
        batch_op.drop_column("event_seq")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("failure_detail")
        batch_op.drop_column("failure_code")
        batch_op.drop_column("deadline_at")

    with op.batch_alter_table("used_payment_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_payment_codes_used_at"))

    op.drop_table("used_payment_codes")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_merchant_id"))

    op.drop_table("outbox_events")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_due")

    op.drop_table("jobs")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_created_at"))

    op.drop_table("idempotency_records")
    with op.batch_alter_table("terminal_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terminal_nonces_seen_at"))

    op.drop_table("terminal_nonces")
