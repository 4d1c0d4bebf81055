"""Our stand-in for an SDK test: messages signed and verified straight from the spec with `cryptography`.

No well-known Python SDK exists for the 云闪付 service-provider API, so these tests build a request by hand
(sorted `k=v&…`, SHA-256 lowercase hex, SHA256withRSA over the hex bytes, base64) without our signing module,
and check the simulator's answers the same way. If our module and the simulator shared a mistake, these fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from adapters.simcore.faults import Fault
from adapters.unionpay.client import UnionpayConfig
from tests.support.simcontrol import SimControl, order_no

BEIJING = timezone(timedelta(hours=8))


def spec_string(fields: dict[str, object]) -> bytes:
    """The bytes the spec says to sign: hex SHA-256 of the sorted pairs, nulls and `signature` left out."""
    pairs = sorted((k, v) for k, v in fields.items() if k != "signature" and v is not None)
    text = "&".join(f"{k}={v}" for k, v in pairs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")


@pytest.fixture(scope="module")
def provider_key(credentials: UnionpayConfig) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(credentials.private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def unionpay_key(credentials: UnionpayConfig) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(credentials.unionpay_public_key_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def signed(fields: dict[str, object], key: rsa.RSAPrivateKey) -> dict[str, object]:
    signature = key.sign(spec_string(fields), padding.PKCS1v15(), hashes.SHA256())
    return {**fields, "signature": base64.b64encode(signature).decode()}


def verifies(answer: dict[str, object], key: rsa.RSAPublicKey) -> bool:
    try:
        key.verify(base64.b64decode(str(answer["signature"])), spec_string(answer), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


def micropay_fields(credentials: UnionpayConfig, auth_code: str, out_trade_no: str) -> dict[str, object]:
    return {
        "serProvId": credentials.ser_prov_id,
        "merId": credentials.mer_id,
        "orderNo": out_trade_no,
        "orderTime": datetime.now(BEIJING).strftime("%Y%m%d%H%M%S"),
        "txnAmt": 888,  # a JSON number, as jeepay sends it
        "currencyCode": "156",
        "orderInfo": "手工签名",
        "orderType": "unionpay",
        "authCode": auth_code,
        "termId": "01727367",
        "termInfo": '{"ip": "10.0.0.8"}',
        "frontUrl": "",  # an empty string is signed too
    }


async def test_hand_signed_micropay_is_accepted_and_the_answer_verifies(
    credentials: UnionpayConfig,
    provider_key: rsa.RSAPrivateKey,
    unionpay_key: rsa.RSAPublicKey,
    sim_url: str,
    http: httpx.AsyncClient,
    control: SimControl,
) -> None:
    code = await control.code(Fault.SUCCESS)
    out = order_no()
    request = signed(micropay_fields(credentials, code, out), provider_key)

    response = await http.post(f"{sim_url}/gateway/api/pay/micropay", json=request)

    answer = response.json()
    assert response.status_code == 200
    assert (answer["respCode"], answer["orderNo"], answer["txnAmt"]) == ("00", out, "888")
    assert verifies(answer, unionpay_key)
    assert not verifies({**answer, "txnAmt": "1"}, unionpay_key)
    assert await control.ledger(out) == [("charge", 888)]


async def test_hand_signed_query_answer_verifies(
    credentials: UnionpayConfig,
    provider_key: rsa.RSAPrivateKey,
    unionpay_key: rsa.RSAPublicKey,
    sim_url: str,
    http: httpx.AsyncClient,
    control: SimControl,
) -> None:
    code = await control.code(Fault.SUCCESS)
    out = order_no()
    await http.post(
        f"{sim_url}/gateway/api/pay/micropay", json=signed(micropay_fields(credentials, code, out), provider_key)
    )
    query = signed(
        {"serProvId": credentials.ser_prov_id, "merId": credentials.mer_id, "orderNo": out, "orderType": "unionpay"},
        provider_key,
    )

    answer = (await http.post(f"{sim_url}/gateway/api/pay/queryOrder", content=json.dumps(query))).json()

    assert (answer["respCode"], answer["origRespCode"]) == ("00", "00")
    assert datetime.strptime(answer["payTime"], "%Y%m%d%H%M%S").replace(tzinfo=BEIJING) <= datetime.now(UTC)
    assert verifies(answer, unionpay_key)


async def test_dropping_the_empty_field_from_the_signed_string_is_a_bad_signature(
    credentials: UnionpayConfig,
    provider_key: rsa.RSAPrivateKey,
    unionpay_key: rsa.RSAPublicKey,
    sim_url: str,
    http: httpx.AsyncClient,
    control: SimControl,
) -> None:
    code = await control.code(Fault.SUCCESS)
    out = order_no()
    fields = micropay_fields(credentials, code, out)
    without_empty = {k: v for k, v in fields.items() if k != "frontUrl"}
    request = {**signed(without_empty, provider_key), "frontUrl": ""}

    answer = (await http.post(f"{sim_url}/gateway/api/pay/micropay", json=request)).json()

    assert answer["respCode"] == "11"
    assert verifies(answer, unionpay_key)
    assert await control.ledger(out) == []
