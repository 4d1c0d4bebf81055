"""The QR-code aggregate payment gateway service."""

__version__ = "0.1.0"
