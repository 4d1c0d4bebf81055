"""UnionPay QR (云闪付 service-provider JSON API): signing, wire format, adapter and simulator."""
