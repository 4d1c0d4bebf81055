"""The ceiling for the benchmarks: bare FastAPI endpoints taking similar JSON bodies, nothing else."""

from fastapi import FastAPI, Response
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


class QrPayment(BaseModel):
    amount_fen: int
    out_trade_no: str
    channel: str
    expires_in_s: int | None = None
    description: str = ""


#: A stand-in image as large as the gateway's 512 px PNG of a channel code (about 2 KB): the ceiling has no QR work.
_PNG_SIZED_BODY = b"\x89PNG\r\n\x1a\n" + bytes(2048)


@app.post("/v1/payments/qr", status_code=201)
async def create_qr(payment: QrPayment) -> dict[str, object]:
    return {
        "order_id": f"ord_{payment.out_trade_no}",
        "status": "AWAITING_PAYMENT",
        "code_url": f"weixin://wxpay/bizpayurl?pr={payment.out_trade_no}",
        "qr_png_url": f"/v1/payments/ord_{payment.out_trade_no}/qr.png",
    }


@app.get("/v1/payments/{order_id}/qr.png")
async def qr_png(order_id: str) -> Response:
    return Response(_PNG_SIZED_BODY, media_type="image/png")
