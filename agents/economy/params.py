"""Every parameter of the economy in one tree of ``msgspec`` structs, with calibrated defaults.

``EconomyParams`` is what a scenario file's ``[economy]`` section decodes into (unknown keys
are errors). Each leaf documents its default and the market fact it is calibrated to; the
mechanism modules hold the mechanism-specific structs, this module the roster (who exists) and
how the pieces are put together.
"""

from __future__ import annotations

import msgspec

from .capacity import DEFAULT_SOURCES, ClusterParams, PowerSource
from .compute_token import TokenParams
from .deals import DEFAULT_DEALS, CommitmentParams, Deal
from .demand import DemandParams
from .energy import EnergyParams
from .finance import FinanceParams
from .intents import LotSizes
from .lab_finance import LabFinanceParams
from .units import Clock


class _Params(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class SellerParams(_Params):
    """A seller of GPU-hours (hyperscaler or neocloud).

    ``installed_gw`` is spread evenly over ``installed_vintages`` cohorts aged 0.5, 1.5, ...
    years (the H100 fleet went in during 2023-2025), so the first retirements come when the
    oldest cohort reaches the end of its life. ``pipeline_gw`` is capacity already under
    construction at the start (paid for, arriving in equal quarterly tranches over one build
    lag). ``leverage`` is initial debt over book assets, the pipeline included.
    """

    name: str
    installed_gw: float
    investment_grade: bool
    cash_usd: float
    leverage: float = 0.3
    installed_vintages: int = 3
    pipeline_gw: float = 0.0
    merchant_builds: bool = True


#: Microsoft-, Oracle- and CoreWeave-like sellers, 10 GW between them and 6 GW more under
#: construction: the order of the AI data-centre fleet in 2025 and of the builds under way
#: (not sourced figures; the pipeline lets supply keep up with the first year and a half of
#: demand growth, as the price's recovery to ~$2.35 by March 2026 suggests). Microsoft is
#: investment grade with little debt; Oracle investment grade but levered; CoreWeave non-
#: investment grade and highly levered (its 10-15% effective rates).
DEFAULT_SELLERS: tuple[SellerParams, ...] = (
    SellerParams(name="msft", installed_gw=5.0, investment_grade=True, cash_usd=80e9,
                 leverage=0.1, pipeline_gw=3.0),
    SellerParams(name="oracle", installed_gw=2.5, investment_grade=True, cash_usd=10e9,
                 leverage=0.5, pipeline_gw=1.5),
    SellerParams(name="coreweave", installed_gw=2.5, investment_grade=False, cash_usd=2e9,
                 leverage=0.8, pipeline_gw=1.5),
)


class LabParams(_Params):
    """The frontier lab (the dominant buyer).

    * ``annual_revenue_usd`` 13e9: revenue at the time of the $1.4T figure; it then grows with
      demand, which reaches the ">$20B annualised" figure within about a year.
    * ``demand_share`` 0.3: the lab's share of GPU-hour demand. At $2.35 and 8.5 GW that is
      ~$56B a year of compute, against revenue of $13B plus losses of ~$11.5B a quarter
      (~$46B a year): the two sides of the facts agree at this share.
    * ``cash_usd`` 30e9: after the SoftBank-led round (an assumption; not a sourced figure).
    * ``investment_grade`` False: the lab has no investment-grade rating, so loans backed by
      its contracts pay the non-investment-grade spread.
    * ``token_issuance_usd_per_year`` 0: the lab does not issue compute-credit tokens unless a
      scenario says so.
    * ``monetisation_growth`` 0: yearly growth of the lab's revenue per unit of its demand
      (revenue = ``annual_revenue_usd`` x demand at the reference price relative to the start
      x (1 + growth)^years). At 0, revenue per GPU-hour of the lab's demand stays at its
      calibrated start, ~$0.54 (a quarter of what that demand costs at $2.35, the facts'
      $13B of revenue against ~$46B of losses a year), for the whole run; the facts give no
      later figure than ">$20B annualised". The assumption that decides whether the lab
      defaults (docs/model.md, 3.14): a sensitivity knob, not a fact.
    * ``cash_origins`` {"lab": 1.0}: whose money the starting cash is, by share (a source
      other than the lab is tagged as its equity investment). The sources do not say how much
      of the MSFT or SoftBank money is still unspent; a scenario can set, e.g.,
      ``{"softbank": 0.6, "lab": 0.4}`` to trace it into the circular-revenue report.
    """

    name: str = "lab"
    annual_revenue_usd: float = 13e9
    demand_share: float = 0.3
    cash_usd: float = 30e9
    investment_grade: bool = False
    token_issuance_usd_per_year: float = 0.0
    monetisation_growth: float = 0.0
    cash_origins: dict[str, float] = msgspec.field(default_factory=lambda: {"lab": 1.0})

    def __post_init__(self) -> None:
        if not 0 <= self.demand_share <= 1:
            raise ValueError("demand_share must be in [0, 1]")
        if self.monetisation_growth <= -1:
            raise ValueError("monetisation_growth must be above -1")
        if any(v < 0 for v in self.cash_origins.values()) or not self.cash_origins \
                or abs(sum(self.cash_origins.values()) - 1.0) > 1e-9:
            raise ValueError("cash_origins must be non-negative shares summing to 1")


class PowerParams(_Params):
    """Power available to data centres.

    * ``initial_firm_gw`` 11: firm power already serving the 10 GW fleet, 10% headroom.
    * ``grid_additions_gw_per_year`` 4: data centres' share of new US generation, which adds
      50-60 GW a year against ~80 GW needed (a ~20 GW/yr shortfall); an assumption.
    * ``source_mix``: how producers split new orders among sources (an assumption);
      ``cover_ratio`` 1.0: producers order to cover cluster GW online plus pending.
    """

    initial_firm_gw: float = 11.0
    grid_additions_gw_per_year: float = 4.0
    sources: tuple[PowerSource, ...] = DEFAULT_SOURCES
    source_mix: dict[str, float] = msgspec.field(default_factory=lambda: {
        "gas": 0.35, "solar_storage": 0.35, "wind": 0.1, "mining_conversion": 0.1,
        "smr": 0.1})
    cover_ratio: float = 1.0
    producer: str = "power"

    def __post_init__(self) -> None:
        names = {s.name for s in self.sources}
        unknown = set(self.source_mix) - names
        if unknown:
            raise ValueError(f"source_mix names unknown sources: {sorted(unknown)}")


class VendorParams(_Params):
    """Chip vendors: how builds split their chip purchases among them, and how far a vendor
    finances its own chips.

    * ``chip_share_of_capex`` 0.6: the accelerators' share of a cluster's capital cost (an
      assumption).
    * ``vendor_shares``: each vendor's share of every build's chips, from the deals' GW (NVIDIA
      10, AMD 6, Broadcom 10). Chip purchases, and therefore who can lend on them, follow these
      shares and nothing else.
    * ``vendor_financing_rate`` 0.095: OEM vendor financing at 9-10% (CoreWeave's).
    * ``financed_share`` 0.5: a vendor loan finances at most this share of the chips the
      borrower buys from that vendor in the build it finances (OEM financing is tied to the
      vendor's own equipment). An assumption: at the default 70% debt and 60% chips, half of
      the chip price is the build's whole equity part, so bank and vendor loans together never
      exceed what the build costs.
    * ``lending_limit_usd``: the most a vendor may have lent and not yet been repaid, its
      balance sheet's limit. An assumption: each vendor's cash at the start (NVIDIA $60B, AMD
      $5B, Broadcom $10B); a vendor missing from the map does not lend.
    * ``cash_usd``: each vendor's own cash at the start (its investments are paid from it).
    """

    chip_share_of_capex: float = 0.6
    vendor_shares: dict[str, float] = msgspec.field(default_factory=lambda: {
        "amd": 6 / 26, "broadcom": 10 / 26, "nvidia": 10 / 26})
    vendor_financing_rate: float = 0.095
    financed_share: float = 0.5
    lending_limit_usd: dict[str, float] = msgspec.field(default_factory=lambda: {
        "nvidia": 60e9, "amd": 5e9, "broadcom": 10e9})
    cash_usd: dict[str, float] = msgspec.field(default_factory=lambda: {
        "nvidia": 60e9, "amd": 5e9, "broadcom": 10e9})

    def __post_init__(self) -> None:
        if not 0 <= self.chip_share_of_capex <= 1 or not 0 <= self.financed_share <= 1:
            raise ValueError("chip_share_of_capex and financed_share must be in [0, 1]")
        if any(v < 0 for v in self.vendor_shares.values()) \
                or abs(sum(self.vendor_shares.values()) - 1.0) > 1e-9:
            raise ValueError("vendor_shares must be non-negative shares summing to 1")
        if any(v < 0 for v in self.lending_limit_usd.values()):
            raise ValueError("lending limits must be non-negative")
        unknown = set(self.lending_limit_usd) - set(self.vendor_shares)
        if unknown:
            raise ValueError(f"lending_limit_usd names vendors without a chip share: "
                             f"{sorted(unknown)}")


class EconomyParams(_Params):
    clock: Clock = Clock()
    demand: DemandParams = DemandParams()
    cluster: ClusterParams = ClusterParams()
    energy: EnergyParams = EnergyParams()
    power: PowerParams = PowerParams()
    finance: FinanceParams = FinanceParams()
    token: TokenParams = TokenParams()
    commitments: CommitmentParams = CommitmentParams()
    lab: LabParams = LabParams()
    #: how the lab finances what falls due beyond its cash (equity, notes, the backstop)
    lab_finance: LabFinanceParams = LabFinanceParams()
    sellers: tuple[SellerParams, ...] = DEFAULT_SELLERS
    vendors: VendorParams = VendorParams()
    deals: tuple[Deal, ...] = DEFAULT_DEALS
    lots: LotSizes = LotSizes()
    #: capex (cluster and power orders) is decided once per this many years: quarterly, as
    #: firms plan and report capex; it also keeps the number of cohorts and loans small
    capex_every_years: float = 0.25
    #: who buys a defaulter's capacity when no surviving seller can pay the distressed price
    distressed_buyer: str = "distressed_fund"
    #: the other buyers of GPU-hours (everyone but the lab), paid for by end-user revenue
    users: str = "users"

    def __post_init__(self) -> None:
        names = [s.name for s in self.sellers]
        if len(set(names)) != len(names):
            raise ValueError("seller names must be unique")
        reserved = {self.lab.name, self.power.producer, self.users, self.distressed_buyer,
                    self.lab_finance.investor}
        if reserved & set(names):
            raise ValueError("a seller may not share a name with the lab, producer, users or "
                             "the lab's equity investors")
