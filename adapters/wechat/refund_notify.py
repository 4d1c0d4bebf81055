"""WeChat Pay APIv2 refund notifications: `req_info` is AES-256-ECB (PKCS7) of a `<root>` XML, keyed by MD5(API key)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.wechat.wire import WireFormatError, decode_xml, encode_xml

PLAINTEXT_ROOT = "root"
_BLOCK_BITS = algorithms.AES.block_size


def req_info_key(api_key: str) -> bytes:
    """The 32-byte AES-256 key: the lowercase hex MD5 of the merchant's API key, as ASCII."""
    return hashlib.md5(api_key.encode("utf-8"), usedforsecurity=False).hexdigest().encode("ascii")


def encrypt_req_info(fields: Mapping[str, str], api_key: str) -> str:
    """`req_info` for the refund's fields: base64 of AES-256-ECB over the PKCS7-padded `<root>` XML."""
    padder = padding.PKCS7(_BLOCK_BITS).padder()
    plaintext = padder.update(encode_xml(fields, PLAINTEXT_ROOT)) + padder.finalize()
    encryptor = _cipher(api_key).encryptor()  # ECB is WeChat's choice for req_info, not ours
    return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode("ascii")


def decrypt_req_info(req_info: str, api_key: str) -> dict[str, str]:
    """The `<root>` fields inside `req_info`; WireFormatError if it is not base64, not ours, or not that XML."""
    try:
        ciphertext = base64.b64decode(req_info, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WireFormatError("req_info is not base64") from exc
    if not ciphertext or len(ciphertext) % (_BLOCK_BITS // 8):
        raise WireFormatError("req_info is not a whole number of AES blocks")
    decryptor = _cipher(api_key).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
    try:
        plaintext = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise WireFormatError("req_info does not decrypt with this merchant's key") from exc
    return decode_xml(plaintext, PLAINTEXT_ROOT)


def _cipher(api_key: str) -> Cipher[modes.ECB]:
    return Cipher(algorithms.AES(req_info_key(api_key)), modes.ECB())  # noqa: S305 - the protocol's mode
