"""Merchant API: the merchant's operators (cashiers and supervisors who sign in on its terminals): create, list,
look up, disable, enable and give a new password (API-key auth; another merchant's operators do not exist)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import MERCHANT_AUTH, MerchantDep, MerchantsDep, OperatorsDep, only_query_params
from gateway.api.operator_schemas import OperatorAccountOut, OperatorIn, OperatorListOut, OperatorPasswordIn
from gateway.api.problems import problem_responses

router = APIRouter(prefix="/v1/operators", tags=["Operators"])


@router.post(
    "",
    operation_id="createOperator",
    summary="Create a cashier or supervisor",
    status_code=201,
    response_model=OperatorAccountOut,
    responses=problem_responses(*MERCHANT_AUTH, "operator_exists", "validation_error", "weak_password"),
)
async def create_operator(
    body: OperatorIn, merchants: MerchantsDep, operators: OperatorsDep, merchant: MerchantDep
) -> OperatorAccountOut:
    """A new operator of this merchant, who signs in on its terminals (`PUT /v1/terminal/operator`) with this
    number and password. The number is unique per merchant (409 `operator_exists`); the password is stored as a
    scrypt hash and never shown again.
    """
    operator_id = await merchants.create_operator(merchant.id, body.number, body.name, body.password, body.role)
    return OperatorAccountOut.model_validate(await operators.get_operator(operator_id, merchant.id))


@router.get(
    "",
    operation_id="listOperators",
    summary="List operators, by number",
    response_model=OperatorListOut,
    responses=problem_responses(*MERCHANT_AUTH, "unknown_parameter"),
    dependencies=[only_query_params()],
)
async def list_operators(operators: OperatorsDep, merchant: MerchantDep) -> OperatorListOut:
    """Every operator of this merchant with its role and state: disabled, locked after wrong passwords (and
    until when), when its password was last reset. Passwords are never shown.
    """
    found = await operators.list_operators(merchant.id)
    return OperatorListOut(items=[OperatorAccountOut.model_validate(operator) for operator in found])


@router.get(
    "/{operator_id}",
    operation_id="getOperator",
    summary="One operator",
    response_model=OperatorAccountOut,
    responses=problem_responses(*MERCHANT_AUTH, "operator_not_found"),
)
async def get_operator(operators: OperatorsDep, merchant: MerchantDep, operator_id: str) -> OperatorAccountOut:
    """One of this merchant's operators with its state; another merchant's does not exist for this one (404)."""
    return OperatorAccountOut.model_validate(await operators.get_operator(operator_id, merchant.id))


@router.post(
    "/{operator_id}/disable",
    operation_id="disableOperator",
    summary="Disable an operator (signed out, refused at sign-in)",
    response_model=OperatorAccountOut,
    responses=problem_responses(*MERCHANT_AUTH, "operator_not_found"),
)
async def disable_operator(operators: OperatorsDep, merchant: MerchantDep, operator_id: str) -> OperatorAccountOut:
    """The operator is signed out of every terminal it is signed in on and refused at sign-in (403
    `operator_disabled`) until it is enabled again; payments it took keep its id. A repeat changes nothing
    but the time.
    """
    return OperatorAccountOut.model_validate(await operators.set_disabled(operator_id, True, merchant.id))


@router.post(
    "/{operator_id}/enable",
    operation_id="enableOperator",
    summary="Enable a disabled operator",
    response_model=OperatorAccountOut,
    responses=problem_responses(*MERCHANT_AUTH, "operator_not_found"),
)
async def enable_operator(operators: OperatorsDep, merchant: MerchantDep, operator_id: str) -> OperatorAccountOut:
    """A disabled operator may sign in again (a lock after wrong passwords stays until it ends or a new
    password is set). Enabling an operator that is not disabled changes nothing.
    """
    return OperatorAccountOut.model_validate(await operators.set_disabled(operator_id, False, merchant.id))


@router.post(
    "/{operator_id}/password",
    operation_id="resetOperatorPassword",
    summary="Give an operator a new password (also unlocks)",
    response_model=OperatorAccountOut,
    responses=problem_responses(*MERCHANT_AUTH, "operator_not_found", "validation_error", "weak_password"),
)
async def reset_password(
    body: OperatorPasswordIn, operators: OperatorsDep, merchant: MerchantDep, operator_id: str
) -> OperatorAccountOut:
    """The operator's password becomes this one (at least 6 characters); the count of wrong passwords is
    cleared and a lock lifted, so a locked-out cashier can sign in at once. The old password stops working.
    """
    return OperatorAccountOut.model_validate(await operators.reset_password(operator_id, body.password, merchant.id))
