"""Pure business rules of the gateway: money, orders and their states, payment-code and app classification."""
