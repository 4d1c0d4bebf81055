"""Channel-agnostic core of the channel simulators: wallets, orders, ledger, faults, notifications, keys."""
