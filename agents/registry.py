"""Agent classes by the name a scenario file uses for them.

A scenario may also name any importable class as ``"package.module:Class"``, so research code
can add agents without touching this table.
"""

from __future__ import annotations

import importlib

from agents.base import Agent
from agents.compute import (
    ArbitrageAgent,
    ComputeSeller,
    EndUsers,
    EnergyProducer,
    FrontierLab,
    HedgeDesk,
    TokenDealer,
    TokenHolder,
)
from agents.flow import PoissonFlowAgent
from agents.market_maker import MarketMaker
from agents.momentum import MomentumTrader
from agents.noise import NoiseTrader
from agents.value import ValueTrader
from agents.zi import ZIC, ZIU

AGENTS: dict[str, type[Agent]] = {
    "zi_c": ZIC,
    "zi_u": ZIU,
    "poisson_flow": PoissonFlowAgent,
    "noise": NoiseTrader,
    "market_maker": MarketMaker,
    "momentum": MomentumTrader,
    "value": ValueTrader,
}

#: Strategic agents of the compute economy: they act on the targets an economy driver gives
#: them (``agents.compute.EconomyView``), so they trade only in scenarios with ``[economy]``.
ECONOMY_AGENTS: dict[str, type[Agent]] = {
    "frontier_lab": FrontierLab,
    "compute_seller": ComputeSeller,
    "end_users": EndUsers,
    "energy_producer": EnergyProducer,
    "hedge_desk": HedgeDesk,
    "arbitrage": ArbitrageAgent,
    "token_holder": TokenHolder,
    "token_dealer": TokenDealer,
}


def resolve(name: str) -> type[Agent]:
    """The class a scenario's ``class`` key names; raises LookupError with the choices."""
    if name in AGENTS:
        return AGENTS[name]
    if name in ECONOMY_AGENTS:
        return ECONOMY_AGENTS[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise LookupError(f"cannot import {name!r}: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise LookupError(f"{name!r} is not an Agent subclass")
        return cls
    choices = sorted(AGENTS | ECONOMY_AGENTS)
    raise LookupError(f"unknown agent class {name!r}; expected one of {choices} "
                      "or 'package.module:Class'")
