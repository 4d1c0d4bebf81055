"""End of day (结算): a batch's totals per channel and kind, and its slip (结算总计单) as 58 mm text and HTML."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from gateway.domain.beijing import BEIJING
from gateway.domain.channels import Channel
from gateway.domain.receipts import (
    CHANNEL_NAMES,
    REPRINT_LINE,
    RULE,
    STYLE,
    WIDTH,
    center,
    columns,
    field_lines,
    wrap,
    yuan,
)

K = TypeVar("K")

#: The kinds a settlement counts, as the slip names them.
KINDS = {"payments": "消费 SALE", "voids": "撤销 VOID", "refunds": "退货 REFUND"}


@dataclass
class KindTotal:
    count: int = 0
    amount_fen: int = 0

    def add(self, amount_fen: int) -> None:
        self.count += 1
        self.amount_fen += amount_fen


@dataclass
class ChannelTotal:
    """One channel's (or the whole batch's) totals: what came in, went back, the fees, and what is left."""

    payments: KindTotal = field(default_factory=KindTotal)
    voids: KindTotal = field(default_factory=KindTotal)
    refunds: KindTotal = field(default_factory=KindTotal)
    fees_fen: int = 0  # fees charged on the payments less the fees the refunds and voids gave back

    @property
    def net_fen(self) -> int:
        return self.payments.amount_fen - self.voids.amount_fen - self.refunds.amount_fen - self.fees_fen

    def as_json(self) -> dict[str, Any]:
        kinds = {name: {"count": t.count, "amount_fen": t.amount_fen} for name, t in self.kinds()}
        return {**kinds, "fees_fen": self.fees_fen, "net_fen": self.net_fen}

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> ChannelTotal:
        kinds = {name: KindTotal(stored[name]["count"], stored[name]["amount_fen"]) for name in KINDS}
        return cls(**kinds, fees_fen=stored["fees_fen"])

    def kinds(self) -> list[tuple[str, KindTotal]]:
        return [(name, getattr(self, name)) for name in KINDS]


@dataclass(frozen=True)
class BatchPayment:
    channel: Channel
    amount_fen: int
    fee_fen: int


@dataclass(frozen=True)
class BatchRefund:
    channel: Channel
    is_void: bool
    amount_fen: int
    fee_back_fen: int


@dataclass
class BatchTotals:
    channels: dict[Channel, ChannelTotal]
    total: ChannelTotal

    def as_json(self) -> dict[str, Any]:
        return {
            "channels": {channel.value: totals.as_json() for channel, totals in self.channels.items()},
            "total": self.total.as_json(),
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> BatchTotals:
        channels = {Channel(name): ChannelTotal.from_json(totals) for name, totals in stored["channels"].items()}
        return cls(channels, ChannelTotal.from_json(stored["total"]))


def add_up(
    payments: Iterable[tuple[K, int, int]], refunds: Iterable[tuple[K, bool, int, int]]
) -> tuple[dict[K, ChannelTotal], ChannelTotal]:
    """Totals per key and overall of payments `(key, amount, fee)` and refunds `(key, is_void, amount, fee back)`:
    the fees are the payments' less what the refunds and voids gave back."""
    per_key: dict[K, ChannelTotal] = {}
    total = ChannelTotal()
    for key, amount_fen, fee in payments:
        for totals in (per_key.setdefault(key, ChannelTotal()), total):
            totals.payments.add(amount_fen)
            totals.fees_fen += fee
    for key, is_void, amount_fen, fee_back in refunds:
        for totals in (per_key.setdefault(key, ChannelTotal()), total):
            (totals.voids if is_void else totals.refunds).add(amount_fen)
            totals.fees_fen -= fee_back
    return per_key, total


def batch_totals(payments: Iterable[BatchPayment], refunds: Iterable[BatchRefund]) -> BatchTotals:
    """Sum a batch per channel: every payment whose money arrived (also those refunded or voided since), every
    refund and void that succeeded."""
    channels, total = add_up(
        ((p.channel, p.amount_fen, p.fee_fen) for p in payments),
        ((r.channel, r.is_void, r.amount_fen, r.fee_back_fen) for r in refunds),
    )
    return BatchTotals(dict(sorted(channels.items())), total)


@dataclass(frozen=True)
class SettlementSlip:
    """Everything the 结算总计单 shows; `settled_at` aware UTC."""

    merchant_name: str
    merchant_no: str
    store: str
    terminal_id: str
    operator_no: str
    batch_no: str
    settled_at: datetime
    totals: BatchTotals
    reprint: bool = False


def _pair(label: str, value: str) -> list[str]:
    """`label` left and `value` right on one line when they fit, else the value right-aligned below."""
    gap = WIDTH - columns(label) - columns(value)
    if gap >= 1:
        return [label + " " * gap + value]
    return [*wrap(label), " " * max(0, WIDTH - columns(value)) + value]


def _sections(slip: SettlementSlip) -> list[tuple[str, list[tuple[str, str]]]]:
    """The slip's headed blocks of (label, value): one per channel, then the batch's total."""
    blocks = [(CHANNEL_NAMES[channel], totals) for channel, totals in slip.totals.channels.items()]
    blocks.append(("合计 TOTAL", slip.totals.total))
    sections = []
    for title, totals in blocks:
        rows = [(f"{KINDS[name]} {t.count}笔", yuan(t.amount_fen)) for name, t in totals.kinds()]
        rows += [("手续费 FEES", yuan(totals.fees_fen)), ("净额 NET", yuan(totals.net_fen))]
        sections.append((title, rows))
    return sections


def _heading(slip: SettlementSlip) -> list[tuple[str, str]]:
    local = slip.settled_at.astimezone(BEIJING)
    return [
        ("商户名称 MERCHANT NAME", slip.merchant_name),
        ("商户编号 MERCHANT NO", slip.merchant_no),
        ("门店 STORE", slip.store),
        ("终端编号 TERMINAL NO", slip.terminal_id),
        ("操作员号 OPERATOR NO", slip.operator_no),
        ("批次号 BATCH NO", slip.batch_no),
        ("日期时间 DATE/TIME", local.strftime("%Y/%m/%d %H:%M:%S")),
    ]


TITLE = "结算总计单 SETTLEMENT"


def render_settlement_text(slip: SettlementSlip) -> str:
    lines = [center(TITLE)]
    if slip.reprint:
        lines.append(center(REPRINT_LINE))
    lines.append(RULE)
    for label, value in _heading(slip):
        lines.extend(field_lines(label, value))
    for title, rows in _sections(slip):
        lines.extend([RULE, *wrap(title)])
        for label, value in rows:
            lines.extend(_pair(label, value))
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def render_settlement_html(slip: SettlementSlip) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>结算总计单 {e(slip.terminal_id)} {e(slip.batch_no)}</title>",
        f"<style>\n{STYLE}\ntable {{ width: 100%; border-collapse: collapse; }}\n"
        "td.amount { text-align: right; white-space: nowrap; }\nh2 { font-size: 9pt; margin: 1mm 0 0; }\n</style>",
        "</head>",
        "<body>",
        f"<h1>{e(TITLE)}</h1>",
    ]
    if slip.reprint:
        parts.append(f'<p class="reprint">{e(REPRINT_LINE)}</p>')
    parts.append("<dl>")
    parts.extend(f"<dt>{e(label)}</dt><dd>{e(value)}</dd>" for label, value in _heading(slip))
    parts.append("</dl>")
    for title, rows in _sections(slip):
        parts.append(f"<h2>{e(title)}</h2>")
        parts.append("<table>")
        parts.extend(f'<tr><td>{e(label)}</td><td class="amount">{e(value)}</td></tr>' for label, value in rows)
        parts.append("</table>")
    parts.extend(["</body>", "</html>"])
    return "\n".join(parts) + "\n"
