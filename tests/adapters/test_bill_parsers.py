"""The three bill parsers on files as real bills vary: columns reordered and added, a malformed line among good
ones, the wrong encoding or no bill at all; the lines they read are the ones the simulators' renderers wrote."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from adapters.alipay import wire as alipay
from adapters.protocol import Bill, BillEntry, WireFormatError
from adapters.unionpay import wire as unionpay
from adapters.wechat import wire as wechat

DAY = date(2026, 12, 1)
PAID_AT = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)  # 10:30 in Beijing
REFUNDED_AT = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
EXTRA = "新增字段"  # a column a later version of the bill adds


def wechat_bill() -> str:
    common = {"appid": "wx1", "mch_id": "1900000109", "openid": "o1", "trade_type": "MICROPAY", "rate_bp": 60}
    return wechat.render_bill(
        [
            wechat.BillLine(PAID_AT, transaction_id="4200001", out_trade_no="ord1", trade_state="SUCCESS",
                            amount_fen=1250, fee_fen=8, **common),
            wechat.BillLine(REFUNDED_AT, transaction_id="4200001", out_trade_no="ord1", trade_state="REFUND",
                            amount_fen=500, fee_fen=3, refund_id="5000001", out_refund_no="rfd1", **common),
        ]
    )  # fmt: skip


def alipay_bill(encoding: str = alipay.BILL_ENCODING) -> bytes:
    lines = [
        alipay.BillLine("payment", "2026120122001", "ord1", "咖啡", PAID_AT, PAID_AT, "b***@x.com", 1250, 1250,
                        fee_fen=8),
        alipay.BillLine("refund", "2026120122001", "ord1", "咖啡", PAID_AT, REFUNDED_AT, "b***@x.com", 1250, 500,
                        out_request_no="rfd1", fee_fen=3),
    ]  # fmt: skip
    archive = alipay.render_bill("2088000000000001", DAY, lines, REFUNDED_AT)
    if encoding == alipay.BILL_ENCODING:
        return archive
    return _rezip(archive, lambda text: text, encoding)


def unionpay_bill() -> str:
    return unionpay.render_bill(
        "898000000000001",
        DAY,
        [
            unionpay.BillRow(PAID_AT, unionpay.TxnType.CONSUME, "ord1", "T0001", 1250, fee_fen=5, account="6212***4"),
            unionpay.BillRow(REFUNDED_AT, unionpay.TxnType.REFUND, "rfd1", "T0002", 500, orig_order_no="ord1",
                             orig_trans_index="T0001", fee_fen=0, orig_txn_time=PAID_AT),
        ],
    )  # fmt: skip


def _reordered(rows: list[list[str]]) -> list[list[str]]:
    """Columns in the opposite order, and one more column in the middle."""
    middle = len(rows[0]) // 2
    turned = [list(reversed(row)) for row in rows]
    return [[*row[:middle], EXTRA if n == 0 else "x", *row[middle:]] for n, row in enumerate(turned)]


def _rezip(archive: bytes, change: Callable[[str], str], encoding: str = alipay.BILL_ENCODING) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            text = source.read(name).decode(alipay.BILL_ENCODING)
            target.writestr(name, (change(text) if name.endswith("_业务明细.csv") else text).encode(encoding))
    return out.getvalue()


def _wechat_reordered(text: str) -> str:
    lines = text.splitlines()
    summary = next(n for n, line in enumerate(lines) if line.startswith(wechat.BILL_SUMMARY_COLUMNS[0]))
    rows = [lines[0].split(",")] + [[cell.removeprefix("`") for cell in line.split(",")] for line in lines[1:summary]]
    turned = _reordered(rows)
    body = [",".join(turned[0])] + [",".join("`" + cell for cell in row) for row in turned[1:]]
    return "\r\n".join(body + lines[summary:]) + "\r\n"


def _pipe_reordered(text: str) -> str:
    lines = text.splitlines()
    data = [n for n, line in enumerate(lines) if not line.startswith("#")]
    turned = _reordered([lines[n].split("|") for n in data])
    for n, row in zip(data, turned, strict=True):
        lines[n] = "|".join(row)
    return "\r\n".join(lines) + "\r\n"


def _csv_reordered(text: str) -> str:
    lines = text.splitlines()
    data = [n for n, line in enumerate(lines) if not line.startswith("#")]
    turned = _reordered([next(csv.reader([lines[n]])) for n in data])
    for n, row in zip(data, turned, strict=True):
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(row)
        lines[n] = out.getvalue()
    return "\r\n".join(lines) + "\r\n"


def _with_bad_line(text: str, after_header: Callable[[str], bool], bad: str) -> tuple[str, int]:
    """The bill with `bad` inserted as the first detail line; its 1-based line number."""
    lines = text.splitlines()
    header = next(n for n, line in enumerate(lines) if after_header(line))
    lines.insert(header + 1, bad)
    return "\r\n".join(lines) + "\r\n", header + 2


def money(bill: Bill) -> list[tuple[str, str, int, int, str, str | None]]:
    """What reconciliation reads of each entry (line numbers aside)."""
    return [_money(entry) for entry in bill.entries]


def _money(entry: BillEntry) -> tuple[str, str, int, int, str, str | None]:
    return (entry.kind, entry.out_trade_no, entry.amount_fen, entry.fee_fen, entry.status, entry.out_refund_no)


EXPECTED = {
    "wechat": [("payment", "ord1", 1250, 8, "SUCCESS", None), ("refund", "ord1", 500, 3, "SUCCESS", "rfd1")],
    "alipay": [("payment", "ord1", 1250, 8, "SUCCESS", None), ("refund", "ord1", 500, 3, "SUCCESS", "rfd1")],
    "unionpay": [("payment", "ord1", 1250, 5, "SUCCESS", None), ("refund", "ord1", 500, 0, "SUCCESS", "rfd1")],
}


def parse(channel: str, reorder: bool = False) -> Bill:
    if channel == "wechat":
        text = wechat_bill()
        return wechat.parse_bill(_wechat_reordered(text) if reorder else text, DAY)
    if channel == "alipay":
        archive = alipay_bill()
        return alipay.parse_bill(_rezip(archive, _csv_reordered) if reorder else archive, DAY)
    text = unionpay_bill()
    return unionpay.parse_bill(_pipe_reordered(text) if reorder else text, DAY)


@pytest.mark.parametrize("channel", sorted(EXPECTED))
def test_rendered_bills_parse_back(channel: str) -> None:
    bill = parse(channel)
    assert (bill.day, money(bill), bill.bad_lines) == (DAY, EXPECTED[channel], [])


@pytest.mark.parametrize("channel", sorted(EXPECTED))
def test_reordered_and_extra_columns_read_the_same(channel: str) -> None:
    bill = parse(channel, reorder=True)
    assert (money(bill), bill.bad_lines) == (EXPECTED[channel], [])


def test_a_malformed_wechat_line_is_reported_and_the_rest_is_read() -> None:
    text, bad_line_no = _with_bad_line(wechat_bill(), lambda line: line.startswith("交易时间"), "`2026-12-01,`oops")
    bill = wechat.parse_bill(text, DAY)
    assert money(bill) == EXPECTED["wechat"]
    [bad] = bill.bad_lines
    assert bad.line_no == bad_line_no and "cells" in bad.reason
    # a line of the right shape with a value that is no amount
    broken = wechat_bill().replace("`0.08000,", "`0.08x00,", 1)
    [bad] = wechat.parse_bill(broken, DAY).bad_lines
    assert bad.line_no == 2 and "0.08x00" in bad.reason


def test_a_malformed_alipay_line_is_reported_and_the_rest_is_read() -> None:
    def spoil(text: str) -> str:
        return _with_bad_line(text, lambda line: line.startswith("支付宝交易号"), "2026,ord9,交易")[0]

    bill = alipay.parse_bill(_rezip(alipay_bill(), spoil), DAY)
    assert money(bill) == EXPECTED["alipay"]
    [bad] = bill.bad_lines
    assert bad.text == "2026,ord9,交易"


def test_a_malformed_unionpay_line_is_reported_and_the_rest_is_read() -> None:
    text, bad_line_no = _with_bad_line(
        unionpay_bill(), lambda line: line.startswith("交易代码"), "01|000001|1201103000|x|12.50"
    )
    bill = unionpay.parse_bill(text, DAY)
    assert money(bill) == EXPECTED["unionpay"]
    assert [bad.line_no for bad in bill.bad_lines] == [bad_line_no]


def test_an_alipay_bill_in_the_wrong_encoding_or_not_a_zip_is_no_bill() -> None:
    with pytest.raises(WireFormatError, match="not GBK"):
        alipay.parse_bill(alipay_bill(encoding="utf-8"), DAY)
    with pytest.raises(WireFormatError):
        alipay.parse_bill(b"<html>error</html>", DAY)


def test_a_bill_without_a_required_column_fails_as_a_whole() -> None:
    without_fee = wechat_bill().replace("手续费,", "服务费,", 1)
    with pytest.raises(WireFormatError, match="手续费"):
        wechat.parse_bill(without_fee, DAY)
    with pytest.raises(WireFormatError):
        unionpay.parse_bill("#only a title\r\n", DAY)
