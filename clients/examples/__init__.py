"""Example bots: one on the SDK, one on unmodified ccxt."""
