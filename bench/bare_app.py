"""The ceiling for bench/micropay.py: a bare FastAPI endpoint taking a similar JSON body, nothing else."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Payment(BaseModel):
    amount_fen: int
    out_trade_no: str
    auth_code: str
    description: str = ""


@app.post("/v1/payments/micropay")
async def micropay(payment: Payment) -> dict[str, object]:
    return {"status": "PAID", "out_trade_no": payment.out_trade_no, "amount_fen": payment.amount_fen}
