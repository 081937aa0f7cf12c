"""What the economy asks the runner to do on the exchange, as plain data.

The economy never calls the engine. Each period it returns intents naming *entities* (``lab``,
``oracle``, ...) and integer amounts (lots of an asset, or micro-USD); ``to_commands`` maps them
onto the core's ``Mint``/``Burn``/``Deposit``/``Withdraw`` commands once the runner says which
account each entity trades from. A bilateral cash payment (take-or-pay, a deal's tranche) has no
engine command of its own: it becomes a ``Withdraw`` from the payer and a ``Deposit`` to the
payee, in that order, so the payer's balance is checked first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from exchange.core.instruments import SPOT, USD, InstrumentSpec
from exchange.core.messages import Burn, Command, Deposit, Mint, Withdraw

GPUH = "GPUH"  # one lot = ``LotSizes.gpu_hours`` GPU-hours
KWH = "KWH"
CCT = "CCT"  # the compute-credit token


class Intent(msgspec.Struct, tag=True, tag_field="intent", frozen=True, kw_only=True):
    """Base of every intent; ``reason`` says which mechanism asked for it (for the record)."""

    reason: str = ""


class MintIntent(Intent):
    holder: str
    asset: str
    lots: int


class BurnIntent(Intent):
    holder: str
    asset: str
    lots: int


class DepositIntent(Intent):
    """Cash entering the exchange from outside the market (end-user revenue, a loan drawn)."""

    holder: str
    micros: int
    kind: str


class WithdrawIntent(Intent):
    """Cash leaving the exchange (debt service, operating costs, capex paid outside)."""

    holder: str
    micros: int
    kind: str


class TransferIntent(Intent):
    """A bilateral cash payment between two entities (take-or-pay, a deal's tranche)."""

    payer: str
    payee: str
    micros: int
    kind: str


AnyIntent = MintIntent | BurnIntent | DepositIntent | WithdrawIntent | TransferIntent


class LotSizes(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Units per exchange lot, which must equal the ``lot_size`` of the exchange's
    ``GPUH_USD``, ``KWH_USD`` and ``CCT_USD`` spot instruments (``from_specs`` reads them).
    The defaults match the default instruments: one GPU-hour, one kWh, one token. 10 GW of
    clusters produce ~1.8e9 GPU-hours a week; a runner that wants fewer, larger lots lists the
    instruments with a larger ``lot_size`` and passes ``from_specs`` here."""

    gpu_hours: float = 1.0
    kwh: float = 1.0
    tokens: float = 1.0

    @classmethod
    def from_specs(cls, specs: Iterable[InstrumentSpec]) -> LotSizes:
        """Lot sizes of the GPU-hour, kWh and token spot instruments among ``specs``."""
        sizes = {s.base: float(s.lot_size) for s in specs if s.kind == SPOT}
        return cls(gpu_hours=sizes.get(GPUH, 1.0), kwh=sizes.get(KWH, 1.0),
                   tokens=sizes.get(CCT, 1.0))

    def gpuh_lots(self, gpu_hours: float) -> int:
        return int(gpu_hours // self.gpu_hours) if gpu_hours > 0 else 0

    def kwh_lots(self, kwh: float) -> int:
        return int(kwh // self.kwh) if kwh > 0 else 0

    def token_lots(self, tokens: float) -> int:
        return int(tokens // self.tokens) if tokens > 0 else 0


def to_commands(intents: Iterable[AnyIntent], accounts: Mapping[str, int]) -> list[Command]:
    """Engine commands for ``intents``; ``accounts`` maps entity names to account ids.
    Zero amounts are dropped (the engine would reject them as pointless)."""
    out: list[Command] = []
    for it in intents:
        if isinstance(it, MintIntent):
            if it.lots:
                out.append(Mint(account=accounts[it.holder], asset=it.asset, amount=it.lots))
        elif isinstance(it, BurnIntent):
            if it.lots:
                out.append(Burn(account=accounts[it.holder], asset=it.asset, amount=it.lots))
        elif isinstance(it, DepositIntent):
            if it.micros:
                out.append(Deposit(account=accounts[it.holder], asset=USD, amount=it.micros))
        elif isinstance(it, WithdrawIntent):
            if it.micros:
                out.append(Withdraw(account=accounts[it.holder], asset=USD, amount=it.micros))
        elif isinstance(it, TransferIntent):
            if it.micros:
                out.append(Withdraw(account=accounts[it.payer], asset=USD, amount=it.micros))
                out.append(Deposit(account=accounts[it.payee], asset=USD, amount=it.micros))
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown intent {it!r}")
    return out
