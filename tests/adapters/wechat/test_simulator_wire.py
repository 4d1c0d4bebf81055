"""The simulator spoken to directly: WeChat's envelope, refusals, signed answers, never an accidental 500."""

from __future__ import annotations

import gzip
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adapters.wechat.signing import SignType, signed, verify
from adapters.wechat.simulator import SIM_APPID, SIM_MCH_ID, load_or_create_merchant
from adapters.wechat.wire import BEIJING, BILL_COLUMNS, BILL_SUMMARY_COLUMNS, decode_xml, encode_xml
from tests.adapters.refund_support import backdate, settled_ledger
from tests.support.simcontrol import SimControl, order_no

PATHS = [
    "pay/micropay",
    "pay/unifiedorder",
    "pay/orderquery",
    "secapi/pay/reverse",
    "pay/closeorder",
    "secapi/pay/refund",
    "pay/refundquery",
    "pay/downloadbill",
]


class RawClient:
    """Builds and signs requests by hand, the way a merchant's own code would."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self.http, self.base_url, self.api_key = http, base_url, api_key

    def fields(self, **business: str) -> dict[str, str]:
        return {"appid": SIM_APPID, "mch_id": SIM_MCH_ID, "nonce_str": secrets.token_hex(16), **business}

    async def post(self, path: str, body: bytes) -> httpx.Response:
        return await self.http.post(f"{self.base_url}/{path}", content=body, headers={"Content-Type": "text/xml"})

    async def call(self, path: str, **business: str) -> dict[str, str]:
        return await self.call_signed_with(SignType.MD5, path, business)

    async def call_signed_with(self, sign_type: SignType, path: str, business: dict[str, str]) -> dict[str, str]:
        fields = self.fields(**business)
        if sign_type is not SignType.MD5:
            fields["sign_type"] = sign_type.value
        response = await self.post(path, encode_xml(signed(fields, self.api_key, sign_type)))
        assert response.status_code == 200
        return decode_xml(response.content)


@pytest.fixture
def raw(http: httpx.AsyncClient, sim_url: str, tmp_path: Path) -> RawClient:
    return RawClient(http, sim_url, load_or_create_merchant(tmp_path).api_key)


def micropay_fields(auth_code: str, total_fee: str = "100") -> dict[str, str]:
    return {
        "body": "coffee",
        "out_trade_no": order_no(),
        "total_fee": total_fee,
        "spbill_create_ip": "10.0.0.1",
        "auth_code": auth_code,
    }


async def test_success_answer_is_signed_cdata_xml(raw: RawClient, control: SimControl) -> None:
    business = micropay_fields(await control.code("00"))
    response = await raw.post("pay/micropay", encode_xml(signed(raw.fields(**business), raw.api_key, SignType.MD5)))

    assert response.headers["content-type"].startswith("text/xml")
    assert b"<return_code><![CDATA[SUCCESS]]></return_code>" in response.content
    answer = decode_xml(response.content)
    assert verify(answer, raw.api_key, SignType.MD5)
    assert (answer["result_code"], answer["trade_type"], answer["total_fee"]) == ("SUCCESS", "MICROPAY", "100")
    assert answer["appid"] == SIM_APPID and len(answer["time_end"]) == 14


async def test_hmac_request_gets_hmac_answer(raw: RawClient, control: SimControl) -> None:
    answer = await raw.call_signed_with(SignType.HMAC_SHA256, "pay/micropay", micropay_fields(await control.code("00")))

    assert answer["result_code"] == "SUCCESS"
    assert verify(answer, raw.api_key, SignType.HMAC_SHA256)
    assert not verify(answer, raw.api_key, SignType.MD5)


async def test_unknown_fields_are_accepted(raw: RawClient, control: SimControl) -> None:
    answer = await raw.call("pay/micropay", **micropay_fields(await control.code("00")), goods_tag="x", brand_new="y")

    assert answer["result_code"] == "SUCCESS"


async def refusal(response: httpx.Response) -> str:
    assert response.status_code == 200
    answer = decode_xml(response.content)
    assert answer["return_code"] == "FAIL"
    assert "sign" not in answer and "result_code" not in answer
    return answer["return_msg"]


@pytest.mark.parametrize("path", PATHS)
async def test_wrong_signature_is_refused_on_every_path(raw: RawClient, path: str) -> None:
    fields = signed(raw.fields(out_trade_no="A1"), raw.api_key, SignType.MD5)
    fields["sign"] = "0" * 32

    assert await refusal(await raw.post(path, encode_xml(fields))) == "签名错误"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "post数据为空"),
        (b"<xml><appid>wx", "XML格式错误"),
        (b'<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]><xml><appid>&a;</appid></xml>', "XML格式错误"),
        ("<xml><body>咖啡</body></xml>".encode("gbk"), "编码格式错误"),
        (b"<xml><mch_id>10000100</mch_id></xml>", "缺少参数appid"),
    ],
)
async def test_unreadable_requests_are_refused(raw: RawClient, body: bytes, message: str) -> None:
    assert await refusal(await raw.post("pay/micropay", body)) == message


async def test_get_is_refused(http: httpx.AsyncClient, sim_url: str) -> None:
    assert await refusal(await http.get(f"{sim_url}/pay/orderquery")) == "请使用post方法"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"appid": "wx0000000000000000"}, "appid和mch_id不匹配"),
        ({"mch_id": "1900000109"}, "MCHID不存在"),
        ({"sign_type": "RSA"}, "sign_type参数错误"),
    ],
)
async def test_wrong_merchant_or_sign_type_is_refused(raw: RawClient, change: dict[str, str], message: str) -> None:
    fields = signed({**raw.fields(out_trade_no="A1"), **change}, raw.api_key, SignType.MD5)

    assert await refusal(await raw.post("pay/orderquery", encode_xml(fields))) == message


async def test_missing_business_field_is_refused(raw: RawClient) -> None:
    business = micropay_fields("134567890123456700")
    del business["auth_code"]

    fields = signed(raw.fields(**business), raw.api_key, SignType.MD5)
    assert await refusal(await raw.post("pay/micropay", encode_xml(fields))) == "缺少参数auth_code"


@pytest.mark.parametrize(
    "change",
    [{"total_fee": "abc"}, {"total_fee": "0"}, {"total_fee": "-5"}, {"total_fee": "1.5"}, {"out_trade_no": "x" * 33}],
)
async def test_malformed_values_are_param_error(raw: RawClient, change: dict[str, str]) -> None:
    answer = await raw.call("pay/micropay", **{**micropay_fields("134567890123456700"), **change})

    assert (answer["result_code"], answer["err_code"]) == ("FAIL", "PARAM_ERROR")
    assert verify(answer, raw.api_key, SignType.MD5)


@pytest.mark.parametrize("path", PATHS)
async def test_garbage_values_never_cause_a_500(raw: RawClient, path: str) -> None:
    garbage = {
        name: "]]>&<ü 1"
        for name in (
            "body",
            "out_trade_no",
            "total_fee",
            "refund_fee",
            "spbill_create_ip",
            "auth_code",
            "notify_url",
            "trade_type",
            "product_id",
            "time_expire",
            "transaction_id",
            "out_refund_no",
            "refund_id",
            "bill_date",
            "bill_type",
        )
    }

    answer = await raw.call(path, **garbage)

    assert answer["return_code"] in ("SUCCESS", "FAIL")


async def test_unifiedorder_native_only_and_product_id_required(raw: RawClient) -> None:
    base = {
        "body": "lunch",
        "out_trade_no": order_no(),
        "total_fee": "100",
        "spbill_create_ip": "10.0.0.1",
        "notify_url": "http://127.0.0.1:9/n",
    }

    jsapi = await raw.call("pay/unifiedorder", **base, trade_type="JSAPI", product_id="p")
    no_product = await raw.call("pay/unifiedorder", **base, trade_type="NATIVE")
    stale = [
        await raw.call("pay/unifiedorder", **base, trade_type="NATIVE", product_id="p", time_expire=past)
        for past in ("20200101000000", "00010101000000")
    ]

    assert jsapi["err_code"] == "PARAM_ERROR"
    assert (no_product["return_code"], no_product["return_msg"]) == ("FAIL", "缺少参数product_id")
    assert [answer["err_code"] for answer in stale] == ["PARAM_ERROR", "PARAM_ERROR"]


async def test_closeorder_twice_and_after_reverse_is_orderclosed(raw: RawClient, control: SimControl) -> None:
    native = {"body": "lunch", "total_fee": "100", "spbill_create_ip": "10.0.0.1", "notify_url": "http://127.0.0.1:9/n"}
    created = await raw.call("pay/unifiedorder", **native, out_trade_no="C1", trade_type="NATIVE", product_id="p")
    paying = micropay_fields(await control.code("02"))
    await raw.call("pay/micropay", **paying)
    await raw.call("secapi/pay/reverse", out_trade_no=paying["out_trade_no"])

    first = await raw.call("pay/closeorder", out_trade_no="C1")
    second = await raw.call("pay/closeorder", out_trade_no="C1")
    reversed_ = await raw.call("pay/closeorder", out_trade_no=paying["out_trade_no"])

    assert created["result_code"] == "SUCCESS"
    assert (first["result_code"], first["result_msg"]) == ("SUCCESS", "OK")
    assert [answer["err_code"] for answer in (second, reversed_)] == ["ORDERCLOSED", "ORDERCLOSED"]


async def test_orderquery_by_transaction_id(raw: RawClient, control: SimControl) -> None:
    paid = await raw.call("pay/micropay", **micropay_fields(await control.code("00")))

    answer = await raw.call("pay/orderquery", transaction_id=paid["transaction_id"])

    assert (answer["trade_state"], answer["out_trade_no"]) == ("SUCCESS", paid["out_trade_no"])
    assert answer["trade_state_desc"] == "支付成功"


async def test_refundquery_lists_every_refund_of_an_order(raw: RawClient, control: SimControl) -> None:
    paid = await raw.call("pay/micropay", **micropay_fields(await control.code("00"), total_fee="1000"))
    for n, fee in enumerate(("100", "250")):
        await raw.call(
            "secapi/pay/refund",
            out_trade_no=paid["out_trade_no"],
            out_refund_no=f"R{n}",
            total_fee="1000",
            refund_fee=fee,
        )

    await settled_ledger(control, paid["out_trade_no"])
    by_order = await raw.call("pay/refundquery", out_trade_no=paid["out_trade_no"])
    by_id = await raw.call("pay/refundquery", refund_id=by_order["refund_id_1"])

    assert (by_order["refund_count"], by_order["refund_fee"]) == ("2", "350")
    assert [by_order[f"refund_status_{n}"] for n in range(2)] == ["SUCCESS", "SUCCESS"]
    assert (by_id["refund_count"], by_id["out_refund_no_0"], by_id["refund_fee_0"]) == ("1", "R1", "250")


async def raw_bill(raw: RawClient, **business: str) -> httpx.Response:
    response = await raw.post("pay/downloadbill", encode_xml(signed(raw.fields(**business), raw.api_key, SignType.MD5)))
    assert response.status_code == 200
    return response


async def test_downloadbill_is_wechat_text_with_fees(raw: RawClient, control: SimControl) -> None:
    paid = await raw.call("pay/micropay", **micropay_fields(await control.code("00"), total_fee="1234"))
    await raw.call(
        "secapi/pay/refund", out_trade_no=paid["out_trade_no"], out_refund_no="R1", total_fee="1234", refund_fee="234"
    )
    await settled_ledger(control, paid["out_trade_no"])
    await backdate(control, paid["out_trade_no"], 1)
    day = (datetime.now(BEIJING) - timedelta(days=1)).strftime("%Y%m%d")

    plain = await raw_bill(raw, bill_date=day)
    gzipped = await raw_bill(raw, bill_date=day, tar_type="GZIP")
    successes = (await raw_bill(raw, bill_date=day, bill_type="SUCCESS")).text.splitlines()
    refunds = (await raw_bill(raw, bill_date=day, bill_type="REFUND")).text.splitlines()

    lines = plain.text.splitlines()
    assert gzip.decompress(gzipped.content) == plain.content
    assert lines[0] == ",".join(BILL_COLUMNS)
    payment = dict(zip(BILL_COLUMNS, lines[1].removeprefix("`").split(",`"), strict=True))
    refund = dict(zip(BILL_COLUMNS, lines[2].removeprefix("`").split(",`"), strict=True))
    assert (payment["微信订单号"], payment["商户订单号"]) == (paid["transaction_id"], paid["out_trade_no"])
    assert (payment["交易状态"], payment["订单金额"], payment["手续费"], payment["费率"]) == (
        "SUCCESS",
        "12.34",
        "0.07000",  # 1234 x 0.60 % = 7.404 fen
        "0.60%",
    )
    assert (refund["交易状态"], refund["商户订单号"], refund["商户退款单号"], refund["退款金额"]) == (
        "REFUND",
        paid["out_trade_no"],
        "R1",
        "2.34",
    )
    assert (refund["订单金额"], refund["申请退款金额"], refund["手续费"]) == ("0.00", "2.34", "-0.01000")
    assert lines[3] == ",".join(BILL_SUMMARY_COLUMNS)
    assert lines[4] == "`2,`12.34,`2.34,`0.00,`0.06000,`12.34,`2.34"
    assert "退款金额" not in successes[0] and len(successes) == 4  # header, the payment, the summary pair
    assert successes[2] == "总交易单数,应结订单总金额,手续费总金额,订单总金额"
    assert "退款申请时间,退款成功时间" in refunds[0] and "`REFUND," in refunds[1] and len(refunds) == 4


async def test_downloadbill_bad_date_today_and_empty_day(raw: RawClient, control: SimControl) -> None:
    await raw.call("pay/micropay", **micropay_fields(await control.code("00"), total_fee="100"))
    bad = await raw.call("pay/downloadbill", bill_date="2026-11-21")
    bad_tar = await raw.call("pay/downloadbill", bill_date="20200101", tar_type="ZIP")
    empty = await raw.call("pay/downloadbill", bill_date="20200101")
    today = await raw.call("pay/downloadbill", bill_date=datetime.now(BEIJING).strftime("%Y%m%d"), tar_type="GZIP")

    assert (bad["return_code"], bad["error_code"]) == ("FAIL", "20001")
    assert (bad_tar["return_code"], bad_tar["error_code"]) == ("FAIL", "20001")
    for answer in (empty, today):
        assert (answer["return_code"], answer["return_msg"], answer["error_code"]) == ("FAIL", "No Bill Exist", "20002")


def test_api_key_is_generated_once_and_private(tmp_path: Path) -> None:
    first = load_or_create_merchant(tmp_path)
    again = load_or_create_merchant(tmp_path)

    assert first == again and len(first.api_key) == 32
    assert first.api_key not in repr(first)
    key_files = list((tmp_path / "keys").iterdir())
    assert [oct(path.stat().st_mode & 0o777) for path in key_files] == ["0o600"]
