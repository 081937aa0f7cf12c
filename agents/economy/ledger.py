"""Flow-of-funds ledger: every dollar carries the name of whose money it originally was.

Each holder has a cash *pool*: micro-USD broken down by origin, an ``(source, channel)`` pair.
``source`` is the entity whose money it first was (or ``end_users`` for revenue from outside
the modelled economy, ``lenders`` for debt); ``channel`` is how it first left that source
(equity investment, vendor financing, warrant, token issuance, ...). A payment takes the payer's
mix pro rata (a payer's cash is fungible, so every dollar it pays is the same blend of origins)
and the parts are split with the exact largest-remainder rule, so the tags of a transfer sum to
the micro-USD moved. That is what makes the circular-revenue measure auditable: a seller's
revenue whose ``source`` is the seller itself is its own investment coming back.

Money a holder had "of its own" carries the channel ``own``; when the holder pays it out the
channel becomes the kind of that payment (MSFT's own cash invested in the lab is tagged
``(msft, equity)``), and from then on the tag travels unchanged with the money.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from .units import split_pro_rata

# channels / transfer kinds
OWN = "own"  # a holder's own money, not yet paid out
EQUITY = "equity"  # equity investment (MSFT, NVIDIA, SoftBank into the lab)
COMPUTE_PURCHASE = "compute_purchase"  # GPU-hours bought (spot, futures delivery, take-or-pay)
CHIP_PURCHASE = "chip_purchase"  # a seller paying a chip vendor for GPUs
VENDOR_FINANCING = "vendor_financing"  # a vendor lending to its own customer
WARRANT = "warrant"  # value of vendor equity given away to win a deal (AMD)
TOKEN_ISSUANCE = "token_issuance"  # holders buying compute-credit tokens from the lab
TOKEN_BUYBACK = "token_buyback"  # the lab buying its tokens back on the market
END_USER_REVENUE = "end_user_revenue"  # subscriptions/API revenue from outside the model
ENERGY_PURCHASE = "energy_purchase"  # kWh bought from an energy producer
DEBT = "debt"  # a loan drawn from lenders outside the model
DEBT_SERVICE = "debt_service"  # interest and principal repaid to lenders
OPEX = "opex"  # operating costs paid outside the model
DISTRESSED_SALE = "distressed_sale"  # proceeds of a defaulter's capacity sold off
EXCHANGE_FEE = "exchange_fee"  # trading fees paid to (or rebates from) the exchange
BACKSTOP_CREDIT = "backstop_credit"  # a partner (chip vendor) lending the lab cash to avert
#: its default ("too big to fail"); repaid as ``debt_service``

OUTSIDE = "outside"  # the rest of the world: payee of costs, payer of injections
END_USERS = "end_users"
LENDERS = "lenders"

Origin = tuple[str, str]  # (source, channel)


class InsufficientFunds(ValueError):
    """A holder tried to pay more than its pool holds (the runner missed an inflow)."""


class LedgerMismatch(ValueError):
    """The exchange's cash and the ledger's pools disagree (a flow was not reported)."""


class Transfer(msgspec.Struct, frozen=True):
    """One recorded movement of cash; ``parts`` are (source, channel, micro-USD), sorted."""

    period: int
    payer: str
    payee: str
    amount: int
    kind: str
    parts: tuple[tuple[str, str, int], ...]


class FlowLedger:
    """Cash pools by origin for every holder, and the list of every transfer made."""

    def __init__(self) -> None:
        self.pools: dict[str, dict[Origin, int]] = {}
        self.transfers: list[Transfer] = []

    # -- state -----------------------------------------------------------------------------
    def balance(self, holder: str) -> int:
        return sum(self.pools.get(holder, {}).values())

    def mix(self, holder: str) -> dict[Origin, int]:
        """A copy of a holder's pool, origin -> micro-USD (zero parts dropped)."""
        return {o: v for o, v in sorted(self.pools.get(holder, {}).items()) if v}

    def holders(self) -> list[str]:
        return sorted(self.pools)

    def total(self) -> int:
        return sum(sum(p.values()) for p in self.pools.values())

    # -- movements -------------------------------------------------------------------------
    def inject(self, holder: str, amount: int, source: str, channel: str, period: int,
               kind: str | None = None) -> Transfer:
        """Money entering the modelled economy (end-user revenue, a loan, a holder's own
        starting cash): it lands in ``holder``'s pool tagged ``(source, channel)``."""
        if amount < 0:
            raise ValueError("amount must be non-negative")
        pool = self.pools.setdefault(holder, {})
        origin = (source, channel)
        pool[origin] = pool.get(origin, 0) + amount
        record = Transfer(period, OUTSIDE, holder, amount, kind or channel,
                          ((source, channel, amount),) if amount else ())
        self.transfers.append(record)
        return record

    def transfer(self, payer: str, payee: str, amount: int, kind: str, period: int) -> Transfer:
        """Move ``amount`` from payer to payee, carrying the payer's origin mix pro rata.

        ``payee`` may be ``OUTSIDE`` (costs, debt service): the money leaves the model with its
        tags recorded. Raises ``InsufficientFunds`` rather than inventing money.
        """
        if amount < 0:
            raise ValueError("amount must be non-negative")
        if payer == payee:
            raise ValueError("a holder cannot pay itself")
        pool = self.pools.setdefault(payer, {})
        have = sum(pool.values())
        if amount > have:
            raise InsufficientFunds(f"{payer} pays {amount} but holds {have}")
        origins = sorted(o for o, v in pool.items() if v)
        shares = split_pro_rata(amount, [pool[o] for o in origins])
        parts: dict[Origin, int] = {}
        for origin, share in zip(origins, shares, strict=True):
            if not share:
                continue
            pool[origin] -= share
            if not pool[origin]:
                del pool[origin]
            source, channel = origin
            tagged = (source, kind) if channel == OWN and source == payer else origin
            parts[tagged] = parts.get(tagged, 0) + share
        if payee != OUTSIDE:
            target = self.pools.setdefault(payee, {})
            for origin, share in parts.items():
                target[origin] = target.get(origin, 0) + share
        record = Transfer(period, payer, payee, amount, kind,
                          tuple((s, c, v) for (s, c), v in sorted(parts.items())))
        self.transfers.append(record)
        return record

    def pay_up_to(self, payer: str, payee: str, amount: int, kind: str,
                  period: int) -> Transfer:
        """Pay what is owed or, if the payer is short, everything it has."""
        return self.transfer(payer, payee, min(amount, self.balance(payer)), kind, period)

    # -- reports ---------------------------------------------------------------------------
    def received(self, payee: str, kinds: Iterable[str] = (COMPUTE_PURCHASE,),
                 since: int = 0) -> dict[str, int]:
        """Micro-USD received by ``payee`` through transfers of ``kinds``, by source."""
        wanted = set(kinds)
        out: dict[str, int] = {}
        for t in self.transfers:
            if t.payee == payee and t.kind in wanted and t.period >= since:
                for source, _, value in t.parts:
                    out[source] = out.get(source, 0) + value
        return dict(sorted(out.items()))

    def circular_revenue(self, seller: str, kinds: Iterable[str] = (COMPUTE_PURCHASE,),
                         since: int = 0) -> tuple[int, int]:
        """(own money returned, total revenue) for ``seller``, both in micro-USD."""
        by_source = self.received(seller, kinds, since)
        return by_source.get(seller, 0), sum(by_source.values())

    def circular_share(self, seller: str, kinds: Iterable[str] = (COMPUTE_PURCHASE,),
                       since: int = 0) -> float:
        """Share of ``seller``'s revenue that is its own investment coming back (0 if none)."""
        own, total = self.circular_revenue(seller, kinds, since)
        return own / total if total else 0.0

    def flows_by_kind(self, period: int | None = None) -> Mapping[str, int]:
        """Total micro-USD moved per transfer kind (all periods, or one)."""
        out: dict[str, int] = {}
        for t in self.transfers:
            if period is None or t.period == period:
                out[t.kind] = out.get(t.kind, 0) + t.amount
        return dict(sorted(out.items()))
