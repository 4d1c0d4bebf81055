"""Daily reports: a Beijing business day's takings per store, terminal and channel, as JSON rows, CSV and a page."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.domain.channels import Channel
from gateway.domain.receipts import yuan
from gateway.domain.settlements import KINDS, ChannelTotal, add_up


@dataclass(frozen=True, order=True)
class ReportKey:
    store_id: str
    store_name: str
    terminal_id: str
    terminal_name: str
    channel: Channel


@dataclass(frozen=True)
class DayPayment:
    key: ReportKey
    amount_fen: int
    fee_fen: int


@dataclass(frozen=True)
class DayRefund:
    key: ReportKey
    is_void: bool
    amount_fen: int
    fee_back_fen: int


@dataclass
class DailyReport:
    merchant_id: str
    day: date
    rows: dict[ReportKey, ChannelTotal]
    total: ChannelTotal

    def as_json(self) -> dict[str, Any]:
        return {
            "merchant_id": self.merchant_id,
            "date": self.day.isoformat(),
            "rows": [{**_key_json(key), **totals.as_json()} for key, totals in self.rows.items()],
            "total": self.total.as_json(),
        }


def daily_report(
    merchant_id: str, day: date, payments: Iterable[DayPayment], refunds: Iterable[DayRefund]
) -> DailyReport:
    """Sum the day per store, terminal and channel: payments whose money arrived that day, refunds and voids that
    succeeded that day."""
    rows, total = add_up(
        ((p.key, p.amount_fen, p.fee_fen) for p in payments),
        ((r.key, r.is_void, r.amount_fen, r.fee_back_fen) for r in refunds),
    )
    return DailyReport(merchant_id, day, dict(sorted(rows.items())), total)


def _key_json(key: ReportKey) -> dict[str, str]:
    return {
        "store_id": key.store_id,
        "store_name": key.store_name,
        "terminal_id": key.terminal_id,
        "terminal_name": key.terminal_name,
        "channel": key.channel.value,
    }


CSV_COLUMNS = (
    "date", "store_id", "store_name", "terminal_id", "terminal_name", "channel",
    *(f"{kind}_{part}" for kind in KINDS for part in ("count", "amount_fen")),
    "fees_fen", "net_fen",
)  # fmt: skip


def render_csv(report: DailyReport) -> str:
    """One line per store, terminal and channel, then a TOTAL line; amounts in integer fen."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    lines = [(_key_json(key), totals) for key, totals in report.rows.items()]
    lines.append(({"store_id": "TOTAL"}, report.total))
    for names, totals in lines:
        numbers = totals.as_json()
        cells = [numbers[kind][part] for kind in KINDS for part in ("count", "amount_fen")]
        key_cells = [names.get(column, "") for column in CSV_COLUMNS[1:6]]
        writer.writerow([report.day.isoformat(), *key_cells, *cells, numbers["fees_fen"], numbers["net_fen"]])
    return out.getvalue()


PAGE_STYLE = """@page { size: A4 landscape; margin: 12mm; }
body { font-family: "Noto Sans CJK SC", "DejaVu Sans", sans-serif; font-size: 10pt; margin: 0; }
h1 { font-size: 14pt; margin: 0 0 2mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #444; padding: 1mm 2mm; }
th { background: #eee; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid #000; }"""


def render_html(report: DailyReport) -> str:
    """A printable page: one row per store, terminal and channel, amounts in yuan, the day's total last."""
    e = html.escape
    head = ["门店 Store", "终端 Terminal", "渠道 Channel"]
    for label in KINDS.values():
        head += [f"{label} 笔数", f"{label} 金额"]
    head += ["手续费 Fees", "净额 Net"]

    def cells(totals: ChannelTotal) -> str:
        values: list[str] = []
        for _, kind in totals.kinds():
            values += [str(kind.count), yuan(kind.amount_fen)]
        values += [yuan(totals.fees_fen), yuan(totals.net_fen)]
        return "".join(f'<td class="n">{e(value)}</td>' for value in values)

    body = [
        f"<tr><td>{e(key.store_name)}</td><td>{e(key.terminal_name)}</td><td>{e(key.channel.value)}</td>"
        f"{cells(totals)}</tr>"
        for key, totals in report.rows.items()
    ]
    body.append(f'<tr class="total"><td colspan="3">合计 Total</td>{cells(report.total)}</tr>')
    title = f"日报 Daily report {report.day.isoformat()}"
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="zh-CN">',
                "<head>",
                '<meta charset="utf-8">',
                f"<title>{e(title)} {e(report.merchant_id)}</title>",
                f"<style>\n{PAGE_STYLE}\n</style>",
                "</head>",
                "<body>",
                f"<h1>{e(title)}</h1>",
                f"<p>商户 Merchant {e(report.merchant_id)} · 北京时间 Beijing business day</p>",
                "<table>",
                "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>",
                "<tbody>",
                *body,
                "</tbody>",
                "</table>",
                "</body>",
                "</html>",
            ]
        )
        + "\n"
    )
