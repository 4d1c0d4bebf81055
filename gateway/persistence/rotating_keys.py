"""Rows that carry their own key, and during a rotation the key it replaced (terminals, cameras); disabling rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, select, update

from gateway.persistence.database import Tx


@dataclass(frozen=True)
class KeyColumns:
    """Where a table keeps its current key and the previous one; keys are named as shown, `label` + stored value.

    A terminal's key id is stored as shown (`tk_...`, label ""); a camera's key is found by its stored prefix
    and shown as `ck_<prefix>` (label "ck_").
    """

    table: Table
    key: str
    secret: str
    previous_key: str
    previous_secret: str
    label: str = ""

    def live_keys(self, tx: Tx, owner_id: str) -> list[str] | None:
        """The keys that work now, as shown, oldest first (the previous one, then the current one); None if there is
        no such row, which stays locked until the transaction ends.
        """
        c = self.table.c
        row = tx.connection.execute(
            select(c[self.previous_key], c[self.key]).where(c.id == owner_id).with_for_update()
        ).first()
        if row is None:
            return None
        return [self.label + key for key in row if key is not None]

    def rotate(self, tx: Tx, owner_id: str, key: str, secret: str) -> bool:
        """Make `key` (as stored) current, keeping the current one as previous; False if a rotation is under way."""
        c = self.table.c
        rotated = tx.connection.execute(
            update(self.table)
            .where(c.id == owner_id, c[self.previous_key].is_(None))
            .values(
                {
                    self.previous_key: c[self.key],
                    self.previous_secret: c[self.secret],
                    self.key: key,
                    self.secret: secret,
                }
            )
        )
        return rotated.rowcount == 1

    def revoke(self, tx: Tx, owner_id: str, shown_key: str) -> bool:
        """Stop a key (as shown) working: the previous one, or the current one (the previous one becomes current).

        False if `shown_key` is not one of the row's two keys while it has two.
        """
        c = self.table.c
        stored = shown_key.removeprefix(self.label)
        cleared = {self.previous_key: None, self.previous_secret: None}
        dropped = tx.connection.execute(
            update(self.table).where(c.id == owner_id, c[self.previous_key] == stored).values(cleared)
        )
        if dropped.rowcount == 1:
            return True
        promoted = tx.connection.execute(
            update(self.table)
            .where(c.id == owner_id, c[self.key] == stored, c[self.previous_key].is_not(None))
            .values({self.key: c[self.previous_key], self.secret: c[self.previous_secret], **cleared})
        )
        return promoted.rowcount == 1


def set_disabled(tx: Tx, table: Table, row_id: str, disabled_at: datetime | None) -> bool:
    """Disable (a time) or enable (None) the row with this id; False if there is none."""
    changed = tx.connection.execute(update(table).where(table.c.id == row_id).values(disabled_at=disabled_at))
    return changed.rowcount == 1
