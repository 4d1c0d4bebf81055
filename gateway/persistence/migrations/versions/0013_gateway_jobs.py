"""Gateway-wide jobs and merchant events: jobs, outbox events and webhook deliveries about no order or terminal

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: SQLite rebuilds a table to drop a NOT NULL, and dropping the old outbox_events (foreign keys on, as a migration
#: runs inside the gateway's transaction) deletes the webhook deliveries and attempts that cascade from it: they
#: are kept aside and put back.
_KEEP_ASIDE = (
    "CREATE TEMP TABLE kept_deliveries AS SELECT * FROM webhook_deliveries",
    "CREATE TEMP TABLE kept_attempts AS SELECT * FROM webhook_attempts",
)
_PUT_BACK = (
    "DELETE FROM webhook_deliveries",
    "INSERT INTO webhook_deliveries SELECT * FROM kept_deliveries",
    "DELETE FROM webhook_attempts",
    "INSERT INTO webhook_attempts SELECT * FROM kept_attempts",
    "DROP TABLE kept_deliveries",
    "DROP TABLE kept_attempts",
)


def _set_nullable(table: str, column: str, nullable: bool) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(column, existing_type=sa.String(length=32), nullable=nullable)


def _rebuild_delivery_tables(change: list[tuple[str, str]], nullable: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _KEEP_ASIDE if sqlite else ():
        op.execute(statement)
    for table, column in change:
        _set_nullable(table, column, nullable)
    for statement in _PUT_BACK if sqlite else ():
        op.execute(statement)


def upgrade() -> None:
    _set_nullable("jobs", "order_id", True)
    op.create_index(
        "uq_jobs_gateway_kind",
        "jobs",
        ["kind"],
        unique=True,
        sqlite_where=sa.text("order_id IS NULL"),
        postgresql_where=sa.text("order_id IS NULL"),
    )
    _rebuild_delivery_tables([("outbox_events", "terminal_id"), ("webhook_deliveries", "order_id")], True)
    if op.get_bind().dialect.name == "postgresql":
        # A merchant's own event is on no terminal's stream: nothing for the terminals' listeners.
        op.execute("DROP TRIGGER outbox_events_notify ON outbox_events")
        op.execute(
            "CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events FOR EACH ROW "
            "WHEN (NEW.terminal_id IS NOT NULL) EXECUTE FUNCTION gateway_notify_outbox_event()"
        )


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE order_id IS NULL")
    op.execute("DELETE FROM webhook_deliveries WHERE order_id IS NULL")
    op.execute("DELETE FROM outbox_events WHERE terminal_id IS NULL")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER outbox_events_notify ON outbox_events")
        op.execute(
            "CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events FOR EACH ROW "
            "EXECUTE FUNCTION gateway_notify_outbox_event()"
        )
    _rebuild_delivery_tables([("webhook_deliveries", "order_id"), ("outbox_events", "terminal_id")], False)
    op.drop_index("uq_jobs_gateway_kind", table_name="jobs")
    _set_nullable("jobs", "order_id", False)
