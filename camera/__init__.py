"""Camera side of B-scan-C: frame sources, payment-code decoding, the frame pipeline and its CLI."""
