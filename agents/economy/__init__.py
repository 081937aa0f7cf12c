"""The macro layer of the compute economy: the world the strategic agents live in.

A pure, deterministic model stepped once per period by the simulation. It reads the prices the
exchange discovered and returns what the runner should do on the exchange (``intents``: mint
GPU-hours and kWh, burn what perished or was consumed, move cash) and which flows of funds
happened (the ledger's ``Transfer`` records). It never calls the engine, reads no clock and
draws randomness only from the ``numpy.random.Generator`` it is given.

Modules, one mechanism each: ``units`` (clock, exact splits), ``demand``, ``capacity`` (build
lags, cohorts, depreciation), ``energy``, ``finance`` (cost of capital, loans, break-even,
capex rule), ``ledger`` (flow of funds by origin), ``deals`` (the deals as data, the
take-or-pay schedule), ``compute_token`` (supply and the global-games run), ``intents`` (what the
runner applies), ``params`` (the parameter tree), ``economy`` (the stepped model),
``clearing`` (a stand-in market for tests and macro-only runs) and ``summary`` (run-level
numbers for the verdicts). See docs/model.md.
"""

from .clearing import StandaloneRun, clear, run_standalone
from .compute_token import (
    Holders,
    RunOutcome,
    RunThreshold,
    run_round,
    run_threshold,
    should_redeem,
)
from .economy import (
    DefaultRecord,
    Economy,
    PeriodObservation,
    PeriodPlan,
    PeriodResult,
    Purchase,
    SellerPlan,
)
from .intents import (
    CCT,
    GPUH,
    KWH,
    AnyIntent,
    BurnIntent,
    DepositIntent,
    LotSizes,
    MintIntent,
    TransferIntent,
    WithdrawIntent,
    to_commands,
)
from .ledger import FlowLedger, Transfer
from .params import EconomyParams, LabParams, PowerParams, SellerParams, VendorParams
from .summary import circular_summary, glut_summary

__all__ = [
    "CCT",
    "GPUH",
    "KWH",
    "AnyIntent",
    "BurnIntent",
    "DefaultRecord",
    "DepositIntent",
    "Economy",
    "EconomyParams",
    "FlowLedger",
    "Holders",
    "LabParams",
    "LotSizes",
    "MintIntent",
    "PeriodObservation",
    "PeriodPlan",
    "PeriodResult",
    "PowerParams",
    "Purchase",
    "RunOutcome",
    "RunThreshold",
    "SellerParams",
    "SellerPlan",
    "StandaloneRun",
    "Transfer",
    "TransferIntent",
    "VendorParams",
    "WithdrawIntent",
    "circular_summary",
    "clear",
    "glut_summary",
    "run_round",
    "run_standalone",
    "run_threshold",
    "should_redeem",
    "to_commands",
]
