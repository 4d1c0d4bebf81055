"""The terminal request signature, pinned to the worked example in the README."""

from __future__ import annotations

from gateway.domain.signing import canonical_request, sign_request, signature_matches

BODY = b'{"amount_fen":1250,"out_trade_no":"20261121000123","auth_code":"134567890123456789","description":"2 coffees"}'
ARGS = ("POST", "/v1/payments/micropay", "1763706600", "n0nce-2f9a8c7d6e5b4a39", BODY)


def test_the_readme_example() -> None:
    assert canonical_request(*ARGS) == (
        "POST\n/v1/payments/micropay\n1763706600\nn0nce-2f9a8c7d6e5b4a39\n"
        "ca138ad5f4402ada486642cd853b257ae7c8eb6326ada905c73e3d7b011b2c7d"
    )
    assert sign_request("demo-terminal-secret", *ARGS) == (
        "b6c9767eb3d0b299855bc8431e01c8701ed08e164ebe7e79d472541d236300f0"
    )


def test_any_change_breaks_the_signature() -> None:
    signature = sign_request("demo-terminal-secret", *ARGS)
    assert signature_matches("demo-terminal-secret", signature.upper(), *ARGS)
    assert not signature_matches("other-secret", signature, *ARGS)
    assert not signature_matches("demo-terminal-secret", signature, "GET", *ARGS[1:])
    assert not signature_matches("demo-terminal-secret", signature, *ARGS[:4], BODY + b" ")
