"""B-scan-C against the simulator over real HTTP: every auth-code fault, repeats, and what money moved."""

from __future__ import annotations

import pytest

from adapters.protocol import (
    AuthCodeInvalid,
    ChannelUnavailable,
    MicropayRequest,
    OrderStateConflict,
    OutcomeUnknown,
    PaymentDeclined,
    TradeStatus,
)
from adapters.simcore.faults import Fault
from adapters.unionpay.client import UnionpayAdapter
from adapters.unionpay.simulator import UnionpaySimulator
from tests.support.simcontrol import SimControl, eventually, order_no


def charge(out_trade_no: str, auth_code: str, amount_fen: int = 1234) -> MicropayRequest:
    return MicropayRequest(out_trade_no=out_trade_no, amount_fen=amount_fen, auth_code=auth_code, description="咖啡")


async def pay_with(control: SimControl, fault: Fault, balance_fen: int | None = None) -> tuple[str, str]:
    customer = await control.customer(balance_fen)
    return customer, await control.code(fault, customer)


async def settles(adapter: UnionpayAdapter, out_trade_no: str, status: TradeStatus) -> None:
    async def reached() -> bool:
        return (await adapter.query(out_trade_no)).status is status

    await eventually(reached)


async def test_00_success_charges_once(adapter: UnionpayAdapter, control: SimControl) -> None:
    customer, code = await pay_with(control, Fault.SUCCESS, balance_fen=10_000)
    out = order_no()

    result = await adapter.micropay(charge(out, code))

    assert result.status is TradeStatus.PAID
    assert result.channel_status == "00"
    assert result.amount_fen == 1234
    assert result.channel_trade_no and result.channel_trade_no.startswith("UP")
    assert result.paid_at is not None and result.paid_at.tzinfo is not None
    assert await control.ledger(out) == [("charge", 1234)]
    assert await control.balance(customer) == 10_000 - 1234
    queried = await adapter.query(out)
    assert (queried.status, queried.channel_status, queried.channel_trade_no) == (
        TradeStatus.PAID,
        "00",
        result.channel_trade_no,
    )


async def test_01_password_then_success(adapter: UnionpayAdapter, control: SimControl) -> None:
    _, code = await pay_with(control, Fault.PASSWORD_THEN_SUCCESS)
    out = order_no()

    result = await adapter.micropay(charge(out, code))

    assert (result.status, result.channel_status) == (TradeStatus.PAYING, "02")
    await settles(adapter, out, TradeStatus.PAID)
    assert await control.ledger(out) == [("charge", 1234)]


async def test_amount_above_the_password_threshold_asks_for_the_password(
    adapter: UnionpayAdapter, control: SimControl
) -> None:
    _, code = await pay_with(control, Fault.SUCCESS, balance_fen=1_000_000)
    out = order_no()

    result = await adapter.micropay(charge(out, code, amount_fen=200_000))

    assert result.status is TradeStatus.PAYING
    await settles(adapter, out, TradeStatus.PAID)


async def test_02_password_timeout_is_reversed_without_moving_money(
    adapter: UnionpayAdapter, control: SimControl
) -> None:
    _, code = await pay_with(control, Fault.PASSWORD_TIMEOUT)
    out = order_no()

    assert (await adapter.micropay(charge(out, code))).status is TradeStatus.PAYING
    queried = await adapter.query(out)
    assert (queried.status, queried.channel_status) == (TradeStatus.PAYING, "05")

    assert (await adapter.reverse(out)).retry is False

    queried = await adapter.query(out)
    assert (queried.status, queried.channel_status) == (TradeStatus.REVERSED, "04")
    assert await control.ledger(out) == []


async def test_03_unknown_then_paid_on_query(adapter: UnionpayAdapter, control: SimControl) -> None:
    _, code = await pay_with(control, Fault.UNKNOWN_THEN_SUCCESS)
    out = order_no()

    with pytest.raises(OutcomeUnknown) as raised:
        await adapter.micropay(charge(out, code))

    assert raised.value.code == "99"
    assert not isinstance(raised.value, ChannelUnavailable)
    assert (await adapter.query(out)).status is TradeStatus.PAID
    assert await control.ledger(out) == [("charge", 1234)]


async def test_04_insufficient_balance(adapter: UnionpayAdapter, control: SimControl) -> None:
    _, code = await pay_with(control, Fault.INSUFFICIENT_BALANCE)
    out = order_no()

    with pytest.raises(PaymentDeclined) as raised:
        await adapter.micropay(charge(out, code))

    assert raised.value.code == "64"
    queried = await adapter.query(out)
    assert (queried.status, queried.channel_status) == (TradeStatus.FAILED, "06")
    assert await control.ledger(out) == []


async def test_real_shortfall_is_declined_too(adapter: UnionpayAdapter, control: SimControl) -> None:
    customer, code = await pay_with(control, Fault.SUCCESS, balance_fen=100)

    with pytest.raises(PaymentDeclined):
        await adapter.micropay(charge(order_no(), code, amount_fen=101))

    assert await control.balance(customer) == 100


async def test_05_expired_code(adapter: UnionpayAdapter, control: SimControl) -> None:
    _, code = await pay_with(control, Fault.CODE_EXPIRED)
    out = order_no()

    with pytest.raises(AuthCodeInvalid) as raised:
        await adapter.micropay(charge(out, code))

    assert raised.value.code == "45"
    assert (await adapter.query(out)).status is TradeStatus.NOT_FOUND


async def test_06_http_timeout_after_charging(adapter: UnionpayAdapter, control: SimControl) -> None:
    _, code = await pay_with(control, Fault.HTTP_TIMEOUT)
    out = order_no()

    with pytest.raises(ChannelUnavailable) as raised:
        await adapter.micropay(charge(out, code))

    assert raised.value.code == "timeout"
    assert (await adapter.query(out)).status is TradeStatus.PAID
    assert await control.ledger(out) == [("charge", 1234)]


async def test_07_first_reverse_asks_to_be_called_again(adapter: UnionpayAdapter, control: SimControl) -> None:
    customer, code = await pay_with(control, Fault.RECALL_ON_REVERSE, balance_fen=5_000)
    out = order_no()
    assert (await adapter.micropay(charge(out, code))).status is TradeStatus.PAID

    first = await adapter.reverse(out)
    assert first.retry is True
    assert await control.ledger(out) == [("charge", 1234)]

    second = await adapter.reverse(out)
    assert second.retry is False
    assert await control.ledger(out) == [("charge", 1234), ("reversal", 1234)]
    assert await control.balance(customer) == 5_000
    assert (await adapter.query(out)).status is TradeStatus.REVERSED


async def test_08_http_500_moves_nothing(adapter: UnionpayAdapter, control: SimControl) -> None:
    _, code = await pay_with(control, Fault.HTTP_500)
    out = order_no()

    with pytest.raises(ChannelUnavailable) as raised:
        await adapter.micropay(charge(out, code))

    assert raised.value.code == "http_500"
    assert (await adapter.query(out)).status is TradeStatus.NOT_FOUND
    assert await control.ledger(out) == []


async def test_09_payment_lands_during_the_reverse(adapter: UnionpayAdapter, control: SimControl) -> None:
    customer, code = await pay_with(control, Fault.PAY_DURING_REVERSE, balance_fen=5_000)
    out = order_no()
    assert (await adapter.micropay(charge(out, code))).status is TradeStatus.PAYING
    assert (await adapter.query(out)).status is TradeStatus.PAYING

    assert (await adapter.reverse(out)).retry is False

    assert await control.ledger(out) == [("charge", 1234), ("reversal", 1234)]
    assert await control.balance(customer) == 5_000
    assert (await adapter.query(out)).status is TradeStatus.REVERSED


async def test_reused_code_is_refused(adapter: UnionpayAdapter, control: SimControl) -> None:
    _, code = await pay_with(control, Fault.SUCCESS)
    await adapter.micropay(charge(order_no(), code))
    second = order_no()

    with pytest.raises(AuthCodeInvalid) as raised:
        await adapter.micropay(charge(second, code))

    assert raised.value.code == "46"
    assert await control.ledger(second) == []


async def test_code_of_another_wallet_is_refused_before_the_bank(adapter: UnionpayAdapter) -> None:
    with pytest.raises(AuthCodeInvalid) as raised:
        await adapter.micropay(charge(order_no(), "134567890123456789"))

    assert raised.value.code == "44"


async def test_unissued_codes_are_invalid_when_walk_ins_are_off(
    adapter: UnionpayAdapter, simulator: UnionpaySimulator
) -> None:
    simulator.bank.settings.accept_unissued_codes = False

    with pytest.raises(AuthCodeInvalid) as raised:
        await adapter.micropay(charge(order_no(), "6200000000000000000"))

    assert raised.value.code == "44"


async def test_same_request_again_is_a_duplicate_and_charges_once(
    adapter: UnionpayAdapter, control: SimControl
) -> None:
    _, code = await pay_with(control, Fault.SUCCESS)
    out = order_no()
    await adapter.micropay(charge(out, code))

    with pytest.raises(OutcomeUnknown) as raised:
        await adapter.micropay(charge(out, code))

    assert raised.value.code == "12"
    assert (await adapter.query(out)).status is TradeStatus.PAID
    assert await control.ledger(out) == [("charge", 1234)]


async def test_same_order_number_with_another_amount_is_refused(adapter: UnionpayAdapter, control: SimControl) -> None:
    _, code = await pay_with(control, Fault.SUCCESS)
    out = order_no()
    await adapter.micropay(charge(out, code))

    with pytest.raises(OrderStateConflict) as raised:
        await adapter.micropay(charge(out, code, amount_fen=999))

    assert raised.value.code == "36"
    assert await control.ledger(out) == [("charge", 1234)]
