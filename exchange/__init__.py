"""The compute-market exchange: a deterministic core, a Deribit-v2 gateway and a journal."""
