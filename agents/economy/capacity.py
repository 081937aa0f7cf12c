"""Capacity: build orders that arrive after a lag, cohorts that retire at the end of their life.

Two kinds of capacity share these mechanics: GPU clusters (facility GW owned by a seller) and
power plants by source (firm GW owned by an energy producer). An order placed in period ``k``
with lag ``L`` periods comes online at the start of period ``k + L``, exactly, and a cohort
online from period ``s`` with a life of ``N`` periods produces in periods ``s .. s+N-1`` and is
retired at the start of ``s + N``. Book value falls straight-line over the life (the
depreciation charge the finance module uses); a cohort sold in a default keeps its physical
life but restarts its book at the distressed price.
"""

from __future__ import annotations

import msgspec

from .units import Clock

CLUSTER = "cluster"


class ClusterParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Calibration: capital cost ">$40B per GW" (the lab's ~$1.4T for ~30 GW); servers
    depreciated over 6 years (some 5, bears say ~3: set ``life_years`` = 3 for the stress case).
    The 1.5-year build lag (shell, fit-out, delivery of GPUs, given power) has no figure in the
    sources; it is shorter than every power lead time but solar plus storage, so power is the
    slower constraint, as the facts describe."""

    build_lag_years: float = 1.5
    life_years: float = 6.0
    capex_usd_per_gw: float = 40e9

    def __post_init__(self) -> None:
        if self.life_years <= 0 or self.build_lag_years < 0 or self.capex_usd_per_gw <= 0:
            raise ValueError("need life_years > 0, build_lag_years >= 0, capex_usd_per_gw > 0")


class PowerSource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One way to add power. ``firm_factor`` turns nameplate GW into average deliverable GW;
    ``earliest_year`` is the first year the technology can come online at all (small modular
    reactors: 2030); ``max_gw_per_year`` caps orders (convertible mining sites are few)."""

    name: str
    lag_years: float
    firm_factor: float
    life_years: float = 30.0
    earliest_year: float = 0.0
    max_gw_per_year: float | None = None
    capex_usd_per_gw: float = 1.5e9  # per nameplate GW; no figure in the sources, order only


#: Lead times from the market facts: gas plant ~4 years (turbines 3-5), onshore wind 3-4,
#: utility solar 12-18 months (+ batteries < 2 years), converting a bitcoin-mining site months
#: (a ~1.3 GW conversion bid), small modular reactors 2030-2035. Firm factors are typical
#: capacity factors (not in the sources): gas 0.85, solar plus storage 0.25, wind 0.35,
#: mining sites (already connected, firm supply) 0.90, SMR 0.93.
DEFAULT_SOURCES: tuple[PowerSource, ...] = (
    PowerSource(name="gas", lag_years=4.0, firm_factor=0.85, capex_usd_per_gw=1.2e9),
    PowerSource(name="solar_storage", lag_years=1.25, firm_factor=0.25, capex_usd_per_gw=1.6e9),
    PowerSource(name="wind", lag_years=3.5, firm_factor=0.35, capex_usd_per_gw=1.5e9),
    PowerSource(name="mining_conversion", lag_years=0.33, firm_factor=0.90, life_years=10.0,
                max_gw_per_year=1.3, capex_usd_per_gw=0.5e9),
    PowerSource(name="smr", lag_years=4.0, firm_factor=0.93, earliest_year=2030.0,
                life_years=40.0, capex_usd_per_gw=8e9),
)


class BuildOrder(msgspec.Struct, frozen=True):
    owner: str
    kind: str  # CLUSTER or a power source name
    gw: float
    ordered: int  # period
    arrives: int  # period it comes online
    life: int  # periods it will produce once online
    cost: int  # micro-USD paid (book value at arrival)
    tag: str = ""  # e.g. the contract it was built for


class Cohort(msgspec.Struct, kw_only=True):
    """Capacity that came online together and retires together."""

    owner: str
    kind: str
    gw: float
    online: int  # first producing period
    retires: int  # first period it no longer produces
    cost: int  # micro-USD book value at ``book_start``
    book_start: int
    tag: str = ""

    def active(self, period: int) -> bool:
        return self.online <= period < self.retires

    def book_value(self, period: int) -> int:
        """Straight-line book value at the start of ``period`` (0 once retired)."""
        life = self.retires - self.book_start
        if life <= 0 or period >= self.retires:
            return 0
        left = min(life, self.retires - max(period, self.book_start))
        return self.cost * left // life


class CapacityBook:
    """Every pending order and every cohort of one kind of capacity (clusters, or power)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending: list[BuildOrder] = []
        self.cohorts: list[Cohort] = []
        self.retired: list[Cohort] = []

    def order(self, owner: str, kind: str, gw: float, period: int, lag_years: float,
              life_years: float, cost: int = 0, earliest_year: float = 0.0,
              tag: str = "") -> BuildOrder:
        """Place an order now; it arrives after its lag (not before ``earliest_year``)."""
        if gw <= 0:
            raise ValueError("an order needs positive GW")
        arrives = period + self.clock.periods(lag_years)
        arrives = max(arrives, self.clock.period_of_year(earliest_year))
        life = max(1, self.clock.periods(life_years))
        order = BuildOrder(owner, kind, gw, period, arrives, life, cost, tag)
        self.pending.append(order)
        return order

    def add_existing(self, owner: str, kind: str, gw: float, online: int, life_years: float,
                     cost: int, tag: str = "") -> Cohort:
        """Capacity already installed at the start (``online`` may be negative: built before
        the run, so it retires earlier)."""
        cohort = Cohort(owner=owner, kind=kind, gw=gw, online=online,
                        retires=online + max(1, self.clock.periods(life_years)), cost=cost,
                        book_start=online, tag=tag)
        self.cohorts.append(cohort)
        return cohort

    def advance(self, period: int) -> tuple[list[Cohort], list[Cohort]]:
        """Start of ``period``: bring due orders online and retire cohorts at end of life.
        Returns (arrived, retired). Orders are processed in placement order (deterministic)."""
        arrived: list[Cohort] = []
        still: list[BuildOrder] = []
        for o in self.pending:
            if o.arrives <= period:
                c = Cohort(owner=o.owner, kind=o.kind, gw=o.gw, online=o.arrives,
                           retires=o.arrives + o.life, cost=o.cost, book_start=o.arrives,
                           tag=o.tag)
                self.cohorts.append(c)
                arrived.append(c)
            else:
                still.append(o)
        self.pending = still
        retired = [c for c in self.cohorts if c.retires <= period]
        if retired:
            self.cohorts = [c for c in self.cohorts if c.retires > period]
            self.retired.extend(retired)
        return arrived, retired

    # -- queries -----------------------------------------------------------------------------
    def online_gw(self, period: int, owner: str | None = None, kind: str | None = None) -> float:
        return sum(c.gw for c in self.cohorts if c.active(period)
                   and (owner is None or c.owner == owner) and (kind is None or c.kind == kind))

    def pending_gw(self, owner: str | None = None, kind: str | None = None) -> float:
        return sum(o.gw for o in self.pending
                   if (owner is None or o.owner == owner) and (kind is None or o.kind == kind))

    def book_value(self, period: int, owner: str) -> int:
        return sum(c.book_value(period) for c in self.cohorts if c.owner == owner)

    def assets(self, period: int, owner: str) -> int:
        """Book value of installed cohorts plus the cost of builds still under way."""
        return self.book_value(period, owner) + sum(o.cost for o in self.pending
                                                    if o.owner == owner)

    def depreciation(self, period: int, owner: str) -> int:
        """Book value lost by ``owner`` over ``period`` (micro-USD)."""
        return sum(c.book_value(period) - c.book_value(period + 1)
                   for c in self.cohorts if c.owner == owner)

    def owned(self, owner: str) -> list[Cohort]:
        return [c for c in self.cohorts if c.owner == owner]

    def transfer(self, seller: str, buyer: str, period: int, price_ratio: float) -> int:
        """Hand every cohort and pending order of ``seller`` to ``buyer`` at ``price_ratio`` of
        book value (a distressed sale); returns the sale price in micro-USD. The buyer's book
        restarts at that price, which is why bankrupt capacity keeps producing cheaply."""
        ppm = int(round(price_ratio * 1_000_000))
        price = 0
        for c in self.cohorts:
            if c.owner == seller:
                value = c.book_value(period) * ppm // 1_000_000
                price += value
                c.owner = buyer
                c.cost = value
                c.book_start = period
        for i, o in enumerate(self.pending):
            if o.owner == seller:
                value = o.cost * ppm // 1_000_000
                price += value
                self.pending[i] = msgspec.structs.replace(o, owner=buyer, cost=value)
        return price
