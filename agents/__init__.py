"""Agents: strategies that see the market only through a ``clients.base.Client``.

``agents.base.Agent`` is the API; the classic agents (zero-intelligence ZI-C/ZI-U traders,
Poisson order flow, noise, market-making, momentum and value traders) live in one module each
and are listed by scenario name in ``agents.registry``.
"""
