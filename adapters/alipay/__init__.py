"""Alipay OpenAPI 当面付 (form requests, JSON responses, RSA2): signing, wire formats, the adapter and the simulator."""
