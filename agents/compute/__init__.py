"""Strategic agents of the compute economy: the frontier lab, GPU-hour sellers, end users, the
energy producer, futures hedge desks, software arbitrageurs, compute-credit token holders and
their dealer.

They trade only through their ``Client``, like every other agent. What the macro economy
tells them (this period's demand curve, their kWh needs, marginal cost, the futures strip) comes
through one narrow, read-only channel: an ``EconomyView`` that the economy driver hands to each
agent once, before the run starts (``EconomyAgent.attach_view``). Nothing in the view lets an
agent change the economy or the market. See docs/model.md, "Wiring the economy to the exchange".
"""

from .arbitrage import ArbitrageAgent
from .base import EconomyAgent
from .desk import HedgeDesk
from .energy import EnergyProducer
from .lab import FrontierLab
from .seller import ComputeSeller
from .token_holder import TokenDealer, TokenHolder
from .users import EndUsers
from .view import EconomyView, FutureInfo

__all__ = ["ArbitrageAgent", "ComputeSeller", "EconomyAgent", "EconomyView", "EndUsers",
           "EnergyProducer", "FrontierLab", "FutureInfo", "HedgeDesk", "TokenDealer", "TokenHolder"]
