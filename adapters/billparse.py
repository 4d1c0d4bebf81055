"""What the three adapters' bill parsers share: columns found by name, bad lines reported, cancellations folded."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation

from adapters.protocol import BadBillLine, Bill, BillEntry, WireFormatError

PAYMENT, REFUND = "payment", "refund"
CANCEL = "cancel"  # what a builder calls the cancel line of a payment, until fold_cancellations folds it
SUCCESS, REVOKED = "SUCCESS", "REVOKED"


@dataclass(frozen=True)
class BillRow:
    """One detail line of a bill file, split into cells: where it came from and what it says."""

    line_no: int  # 1-based, in the file
    text: str
    cells: Sequence[str]


#: Builds the entry a line stands for from its cells by column name; None skips the line; ValueError makes it bad.
EntryBuilder = Callable[[Mapping[str, str], int], BillEntry | None]


def read_bill(
    day: date, header: Sequence[str], rows: Iterable[BillRow], required: Iterable[str], build: EntryBuilder
) -> Bill:
    """A Bill from a header and its detail rows; columns are found by name, so order and extra columns do not matter.

    A missing required column fails the whole bill (WireFormatError); a line with the wrong number of cells or a
    value `build` cannot read is a BadBillLine with its line number, and the other lines are read as usual.
    """
    names = [name.strip() for name in header]
    missing = [name for name in required if name not in names]
    if missing:
        raise WireFormatError(f"the bill has no column {', '.join(missing)}")
    entries: list[BillEntry] = []
    bad: list[BadBillLine] = []
    for row in rows:
        if len(row.cells) != len(names):
            bad.append(BadBillLine(row.line_no, row.text, f"{len(row.cells)} cells, the header has {len(names)}"))
            continue
        try:
            entry = build(dict(zip(names, row.cells, strict=True)), row.line_no)
        except (ValueError, KeyError) as exc:
            bad.append(BadBillLine(row.line_no, row.text, str(exc) or type(exc).__name__))
            continue
        if entry is not None:
            entries.append(entry)
    return Bill(day, entries, bad)


def yuan_to_fen(text: str, name: str) -> int:
    """A bill's yuan amount (any number of decimals, a sign allowed) as whole fen; ValueError otherwise."""
    try:
        fen = Decimal(text.strip()) * 100
    except InvalidOperation:
        raise ValueError(f"{name} is not a yuan amount: {text!r}") from None
    if not fen.is_finite() or fen != fen.to_integral_value():
        raise ValueError(f"{name} is not a whole number of fen: {text!r}")
    return int(fen)


def positive(fen: int, name: str) -> int:
    if fen <= 0:
        raise ValueError(f"{name} must be more than 0, got {fen} fen")
    return fen


def fold_cancellations(bill: Bill) -> Bill:
    """Bills that show a cancelled (reversed) payment as a payment line plus a cancel line: one REVOKED payment.

    The builder reads a cancel line as an entry of kind CANCEL. The payment line of the same order in the bill
    becomes REVOKED, keeping the fee it shows (0 for a real cancel); a cancel line whose payment is not in this
    bill becomes a REVOKED payment itself, with no fee.
    """
    entries = [entry for entry in bill.entries if entry.kind != CANCEL]
    for cancel in (entry for entry in bill.entries if entry.kind == CANCEL):
        index = next(
            (
                n
                for n, entry in enumerate(entries)
                if entry.kind == PAYMENT and entry.out_trade_no == cancel.out_trade_no and entry.status == SUCCESS
            ),
            None,
        )
        if index is None:
            entries.append(replace(cancel, kind=PAYMENT, status=REVOKED, fee_fen=0))
        else:
            entries[index] = replace(entries[index], status=REVOKED)
    return Bill(bill.day, entries, bill.bad_lines)
