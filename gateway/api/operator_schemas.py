"""Request and response models of the merchant API's operators (cashiers and supervisors); no password is
ever in an answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.services.operators import OperatorRole

Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]

_OPERATOR_EXAMPLE: dict[str, Any] = {
    "operator_id": "op_0192f3a1b2c3d4e5f6a7b8c9",
    "merchant_id": "mch_0192f3a1b2c3a1b2c3d4e5f6",
    "number": "001",
    "name": "Li Na",
    "role": "cashier",
    "failed_sign_ins": 0,
    "locked_until": None,
    "disabled_at": None,
    "password_changed_at": None,
    "created_at": "2026-11-21T01:00:00Z",
}


class OperatorIn(BaseModel):
    """A new cashier or supervisor of this merchant."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"number": "001", "name": "Li Na", "role": "cashier", "password": "cashier-001"}]
        },
    )

    number: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,16}$")] = Field(
        description="What the operator signs in with; unique per merchant."
    )
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    role: OperatorRole = Field(description="A supervisor may also approve refunds and voids.")
    password: Password = Field(description="At least 6 characters; stored as a scrypt hash, never shown.")


class OperatorPasswordIn(BaseModel):
    """The operator's new password."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"password": "new-secret-001"}]})

    password: Password = Field(description="At least 6 characters.")


class OperatorAccountOut(BaseModel):
    """An operator as the merchant administers it: its state, never its password."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_OPERATOR_EXAMPLE]})

    operator_id: str
    merchant_id: str
    number: str
    name: str
    role: OperatorRole
    failed_sign_ins: int = Field(description="Wrong passwords in a row since the last right one or reset.")
    locked_until: datetime | None = Field(
        description="Refused at sign-in until then, after wrong passwords in a row (a time past: not any more); "
        "a new password unlocks."
    )
    disabled_at: datetime | None = Field(description="Refused at sign-in while set (403 `operator_disabled`).")
    password_changed_at: datetime | None = Field(description="When the password was last reset; null: never.")
    created_at: datetime


class OperatorListOut(BaseModel):
    """This merchant's operators, by number."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_OPERATOR_EXAMPLE]}]})

    items: list[OperatorAccountOut]
