"""The deals of the market facts as data, and the frontier lab's take-or-pay schedule.

Every deal is a list of ``Flow`` records (who pays whom, how much, over which years, through
which channel) and, where there is one, a GW figure. Flows with ``per_gw`` set are triggered by
deployment: NVIDIA invests $10B per GW of its systems deployed (up to 10 GW), AMD's warrants
vest per GW of the 6 GW deal. Time-scheduled flows are spread evenly over their years; those
that ended before the run starts are history and are kept for the record (and for a report of
circularity to date), not replayed.

The lab's take-or-pay commitments follow a GW schedule: ~30 GW coming online linearly over
~8 years for ~$1.4T, so the contract price is $1.4T over the GW-years the schedule delivers
(~$11.7B per GW-year, ~$1.24 per GPU-hour of capacity, paid whether used or not). With
``strategic_overbuild`` off the lab commits only to its own forecast demand plus a cushion: the
counterfactual the glut scenario runs on the same seeds.
"""

from __future__ import annotations

import msgspec

from .ledger import EQUITY, WARRANT

LAB = "lab"


class Flow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A payment stream. ``usd`` is the total over [start_year, end_year), or, when
    ``per_gw`` is true, the amount per GW deployed (up to ``max_gw``)."""

    payer: str
    payee: str
    usd: float
    kind: str
    start_year: float = 0.0
    end_year: float = 0.0
    per_gw: bool = False
    max_gw: float = 0.0


class Deal(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    counterparty: str
    gw: float = 0.0
    commitment_usd: float = 0.0  # take-or-pay / lease value owed by the lab, if any
    commitment_years: float = 0.0
    flows: tuple[Flow, ...] = ()
    fact: str = ""  # the market-facts line this encodes


#: AMD: 160M shares at $0.01, vesting over 6 GW; the value handed over depends on AMD's price
#: (milestones up to $600). ``AMD_SHARE_PRICE`` 200 is an assumption for the default value.
AMD_WARRANT_SHARES = 160e6
AMD_STRIKE = 0.01
AMD_SHARE_PRICE = 200.0

DEFAULT_DEALS: tuple[Deal, ...] = (
    Deal(name="microsoft", counterparty="msft", commitment_usd=250e9, commitment_years=8.0,
         flows=(Flow(payer="msft", payee=LAB, usd=13e9, kind=EQUITY, start_year=2019.0,
                     end_year=2023.0),),
         fact=">$13B invested 2019-2023, most paid back as Azure compute; later a further "
              "$250B Azure commitment"),
    Deal(name="oracle", counterparty="oracle", gw=4.5, commitment_usd=300e9,
         commitment_years=5.0,
         fact="~$300B of data centres over ~5 years (~4.5 GW, ~$60B/yr from 2028), paid back "
              "by lease payments of a similar amount"),
    Deal(name="coreweave", counterparty="coreweave", commitment_usd=22.4e9,
         commitment_years=5.0,
         flows=(Flow(payer="coreweave", payee=LAB, usd=350e6, kind=EQUITY, start_year=2025.0,
                     end_year=2025.25),),
         fact="~$22.4B compute contract in three tranches; the lab received ~$350M of "
              "CoreWeave stock"),
    Deal(name="softbank", counterparty="softbank",
         flows=(Flow(payer="softbank", payee=LAB, usd=40e9, kind=EQUITY, start_year=2025.5,
                     end_year=2026.5),),
         fact="led a $40B round; raising ~$100B for data centres"),
    Deal(name="nvidia", counterparty="nvidia", gw=10.0,
         flows=(Flow(payer="nvidia", payee=LAB, usd=10e9, kind=EQUITY, per_gw=True,
                     max_gw=10.0),),
         fact="up to $100B invested in $10B tranches as ~10 GW of NVIDIA systems is deployed"),
    Deal(name="amd", counterparty="amd", gw=6.0,
         flows=(Flow(payer="amd", payee=LAB,
                     usd=AMD_WARRANT_SHARES / 6.0 * (AMD_SHARE_PRICE - AMD_STRIKE),
                     kind=WARRANT, per_gw=True, max_gw=6.0),),
         fact="6 GW multi-generation deal; warrants for 160M AMD shares at $0.01 vesting with "
              "deployment and share-price milestones"),
    Deal(name="broadcom", counterparty="broadcom", gw=10.0,
         fact="10 GW of custom accelerators"),
    Deal(name="amazon", counterparty="amazon", commitment_usd=38e9, commitment_years=7.0,
         fact="7-year $38B AWS deal, compute credits and Trainium chips"),
    Deal(name="g42", counterparty="g42", commitment_usd=20e9,
         fact="G42 (UAE): ~$20B campus"),
)


def chip_vendor_shares(deals: tuple[Deal, ...] = DEFAULT_DEALS) -> dict[str, float]:
    """Share of the lab's accelerators by vendor, from the GW of the chip deals (NVIDIA 10,
    AMD 6, Broadcom 10)."""
    chips = {d.counterparty: d.gw for d in deals if d.counterparty in
             ("nvidia", "amd", "broadcom") and d.gw > 0}
    total = sum(chips.values())
    return {k: v / total for k, v in sorted(chips.items())}


def flow_in_window(flow: Flow, start_year: float, end_year: float) -> float:
    """USD of a time-scheduled flow falling in [start_year, end_year) (spread evenly)."""
    if flow.per_gw or flow.end_year <= flow.start_year:
        return 0.0
    lo = max(start_year, flow.start_year)
    hi = min(end_year, flow.end_year)
    if hi <= lo:
        return 0.0
    return flow.usd * (hi - lo) / (flow.end_year - flow.start_year)


def per_gw_amount(flow: Flow, deployed_before: float, deployed_after: float) -> float:
    """USD a deployment-triggered flow releases as deployment goes from before to after GW."""
    if not flow.per_gw:
        return 0.0
    lo = min(deployed_before, flow.max_gw)
    hi = min(deployed_after, flow.max_gw)
    return max(0.0, hi - lo) * flow.usd


class CommitmentParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The lab's take-or-pay programme. Defaults: ~$1.4T, ~30 GW, ~8 years from 2026, online
    linearly; ``seller_shares`` splits the GW among the default sellers roughly by the deals'
    sizes (Oracle ~$300B/4.5 GW, Microsoft $250B, CoreWeave $22.4B standing in for the
    neoclouds and the remaining Stargate, Amazon and G42 capacity)."""

    total_usd: float = 1.4e12
    total_gw: float = 30.0
    years: float = 8.0
    start_year: float = 2026.0
    strategic_overbuild: bool = True
    #: without the overbuild: commit to forecast own demand times this cushion
    cushion: float = 1.1
    #: size of the programme relative to the facts' ~$1.4T for ~30 GW: GW and dollars scale
    #: together, so the price per GW-year stays the deals' (a sensitivity knob, not a fact)
    scale: float = 1.0
    seller_shares: dict[str, float] = msgspec.field(
        default_factory=lambda: {"oracle": 0.45, "msft": 0.35, "coreweave": 0.20})

    def __post_init__(self) -> None:
        if self.total_gw <= 0 or self.years <= 0 or self.total_usd < 0 or self.scale <= 0:
            raise ValueError("need total_gw > 0, years > 0, total_usd >= 0, scale > 0")
        total = sum(self.seller_shares.values())
        if self.seller_shares and abs(total - 1.0) > 1e-9:
            raise ValueError("seller_shares must sum to 1")

    def scheduled_gw(self, year: float) -> float:
        """Contracted GW due online by ``year`` under the overbuild schedule (linear ramp)."""
        frac = (year - self.start_year) / self.years
        return self.total_gw * self.scale * min(1.0, max(0.0, frac))

    @property
    def gw_years(self) -> float:
        """GW-years delivered over the programme by the linear ramp (half the full area)."""
        return 0.5 * self.total_gw * self.years

    @property
    def usd_per_gw_year(self) -> float:
        """Take-or-pay price per GW-year of contracted capacity online (~$11.7B)."""
        return self.total_usd / self.gw_years

    def target_gw(self, year: float, own_demand_gw: float) -> float:
        """GW the lab wants contracted by ``year``: the schedule with the overbuild, else its
        own forecast demand times the cushion (never above the schedule)."""
        scheduled = self.scheduled_gw(year)
        if self.strategic_overbuild:
            return scheduled
        return min(scheduled, own_demand_gw * self.cushion)
