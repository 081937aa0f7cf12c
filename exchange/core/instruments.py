"""Instrument specifications and the default compute-market registry.

The core only ever sees integers: prices in ticks, quantities in lots, cash in micro-USD
(``USD_SCALE`` units per dollar). An ``InstrumentSpec`` is the one place that knows how those
integers map to decimal prices and amounts, so conversion happens at the edges (gateway,
scenario files, reports) and nowhere else.

Futures follow Deribit naming (``GPUH-25DEC26``) and expire on the last Friday of the month at
08:00 UTC, the convention Deribit uses for its monthly series. Calendar arithmetic here works on
explicit dates; nothing reads the wall clock.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import msgspec

USD = "USD"
USD_SCALE = 1_000_000  # cash is held in micro-USD
NS_PER_SECOND = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_SECOND

SPOT = "spot"
FUTURE = "future"

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class OffTickError(ValueError):
    """A decimal price or amount is not a whole number of ticks or lots."""


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the engine needs to know about one tradable instrument.

    ``tick_value`` is derived (micro-USD per tick per lot) and validated to be a whole number,
    which is what lets every cash movement in the engine be exact integer arithmetic.
    Fees are in parts per million of notional (2 bps = 200 ppm); margins in basis points.
    """

    name: str
    kind: str  # SPOT or FUTURE
    base: str  # asset delivered (spot) or referenced (future), e.g. "GPUH"
    quote: str = USD
    tick_size: str  # decimal string, e.g. "0.001"
    lot_size: str = "1"  # decimal string: base units per lot
    min_amount: int = 1  # lots
    expiry_ts: int | None = None  # ns since epoch, futures only
    index: str | None = None  # spot instrument whose TWAP settles this future
    settlement_window_ns: int = NS_PER_HOUR
    initial_margin_bps: int = 1000
    maintenance_margin_bps: int = 500
    maker_fee_ppm: int = 0
    taker_fee_ppm: int = 0
    price_band_bps: int = 1000  # market orders may trade at most this far from the touch
    # Derived, never read from input: micro-USD that one tick of price is worth on one lot.
    # Stored as a field (set in __post_init__) because the engine reads it on every fill and
    # a Decimal computation there would cost more than the rest of the fill.
    tick_value: int = 0

    def __post_init__(self) -> None:
        try:
            value = int(Decimal(self.tick_size) * Decimal(self.lot_size) * USD_SCALE)
        except (InvalidOperation, ValueError):
            value = 0  # validate() reports the bad decimal
        msgspec.structs.force_setattr(self, "tick_value", value)

    @property
    def is_future(self) -> bool:
        return self.kind == FUTURE

    def validate(self) -> str | None:
        """Return a description of what is wrong with this spec, or None if it is usable."""
        try:
            tick = Decimal(self.tick_size)
            lot = Decimal(self.lot_size)
        except InvalidOperation:
            return "tick_size and lot_size must be decimal strings"
        if tick <= 0 or lot <= 0:
            return "tick_size and lot_size must be positive"
        value = tick * lot * USD_SCALE
        if value != value.to_integral_value() or value < 1:
            return "tick_size * lot_size must be a whole number of micro-USD"
        if self.kind not in (SPOT, FUTURE):
            return f"kind must be {SPOT!r} or {FUTURE!r}"
        if self.kind == FUTURE and self.expiry_ts is None:
            return "a future needs expiry_ts"
        if self.min_amount < 1:
            return "min_amount must be at least one lot"
        if not 0 < self.maintenance_margin_bps <= self.initial_margin_bps <= 10_000:
            return "need 0 < maintenance_margin_bps <= initial_margin_bps <= 10000"
        if self.price_band_bps <= 0:
            return "price_band_bps must be positive"
        return None

    # -- conversions at the edge -------------------------------------------------------------
    def price_to_ticks(self, price: str | int | float | Decimal) -> int:
        """Decimal price -> integer ticks; raises OffTickError when not on the tick grid."""
        return _to_units(price, self.tick_size, "price")

    def ticks_to_price(self, ticks: int) -> Decimal:
        return Decimal(ticks) * Decimal(self.tick_size)

    def amount_to_lots(self, amount: str | int | float | Decimal) -> int:
        return _to_units(amount, self.lot_size, "amount")

    def lots_to_amount(self, lots: int) -> Decimal:
        return Decimal(lots) * Decimal(self.lot_size)


#: Decimal steps ("0.001" -> Decimal), parsed once: a conversion runs for every order.
_STEPS: dict[str, Decimal] = {}
#: Beyond this many digits a value is past every bound the engine accepts (prices and amounts
#: up to 1e12 units, balances up to 2^62): it is clamped to +/-10^UNITS_DIGITS units, which the
#: engine rejects as too large, instead of being turned into an int of up to ~1e6 digits (a
#: price of "1e99999" would otherwise cost a quarter of a second of CPU to convert).
UNITS_DIGITS = 30


def _to_units(value: str | int | float | Decimal, step: str, what: str) -> int:
    if type(value) is Decimal:
        dec = value
    else:
        try:
            # float goes through repr so that 2.35 means "2.35", not its binary expansion
            dec = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise OffTickError(f"{what} {value!r} is not a number") from exc
    if not dec.is_finite():
        raise OffTickError(f"{what} {value!r} is not finite")
    unit = _STEPS.get(step)
    if unit is None:
        unit = _STEPS[step] = Decimal(step)
    if dec.adjusted() - unit.adjusted() > UNITS_DIGITS:
        return 10 ** UNITS_DIGITS if dec > 0 else -(10 ** UNITS_DIGITS)
    units = dec / unit
    whole = int(units)
    if units != whole:
        raise OffTickError(f"{what} {value} is not a multiple of {step}")
    return whole


def usd_to_micros(amount: str | int | float | Decimal) -> int:
    """Dollars -> integer micro-USD (the engine's cash unit)."""
    return _to_units(amount, "0.000001", "usd amount")


def micros_to_usd(micros: int) -> Decimal:
    return Decimal(micros) / USD_SCALE


# -- futures calendar ----------------------------------------------------------------------


def last_friday(year: int, month: int) -> date:
    last_day = calendar.monthrange(year, month)[1]
    d = date(year, month, last_day)
    return d - timedelta(days=(d.weekday() - calendar.FRIDAY) % 7)


def expiry_ns(year: int, month: int) -> int:
    """Expiry instant of the monthly future: last Friday of the month, 08:00 UTC."""
    d = last_friday(year, month)
    moment = datetime(d.year, d.month, d.day, 8, 0, tzinfo=UTC)
    return int(moment.timestamp()) * NS_PER_SECOND


def future_name(base: str, year: int, month: int) -> str:
    """Deribit-style name, e.g. ``GPUH-25DEC26``."""
    d = last_friday(year, month)
    return f"{base}-{d.day}{_MONTHS[month - 1]}{year % 100:02d}"


def monthly_futures(
    base: str,
    index: str,
    start_year: int,
    start_month: int,
    count: int,
    **overrides: object,
) -> list[InstrumentSpec]:
    """A monthly series of cash-settled linear futures on ``index``."""
    specs = []
    year, month = start_year, start_month
    for _ in range(count):
        fields: dict[str, object] = {
            "name": future_name(base, year, month),
            "kind": FUTURE,
            "base": base,
            "tick_size": "0.001",
            "expiry_ts": expiry_ns(year, month),
            "index": index,
        }
        fields.update(overrides)
        specs.append(InstrumentSpec(**fields))  # type: ignore[arg-type]
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return specs


def default_instruments(start_year: int = 2026, start_month: int = 12, months: int = 6) -> list[
    InstrumentSpec
]:
    """The compute market: GPU-hour spot, kWh and compute-credit tokens, GPU-hour futures.

    Tick sizes are chosen so that the prices in the market facts (H100 hours at $1.65-$8,
    energy at $0.05-0.12/kWh) sit on many ticks, and every tick value is whole micro-USD.
    """
    spots = [
        InstrumentSpec(name="GPUH_USD", kind=SPOT, base="GPUH", tick_size="0.001"),
        InstrumentSpec(name="KWH_USD", kind=SPOT, base="KWH", tick_size="0.0001"),
        InstrumentSpec(name="CCT_USD", kind=SPOT, base="CCT", tick_size="0.0001"),
    ]
    return spots + monthly_futures("GPUH", "GPUH_USD", start_year, start_month, months)


class Registry:
    """Instruments by name, plus the assets they move."""

    def __init__(self, specs: Iterable[InstrumentSpec] = ()) -> None:
        self.by_name: dict[str, InstrumentSpec] = {}
        self.assets: set[str] = {USD}
        for spec in specs:
            self.add(spec)

    def add(self, spec: InstrumentSpec) -> None:
        problem = spec.validate()
        if problem:
            raise ValueError(f"instrument {spec.name}: {problem}")
        if spec.name in self.by_name:
            raise ValueError(f"instrument {spec.name} listed twice")
        self.by_name[spec.name] = spec
        if spec.kind == SPOT:
            self.assets.add(spec.base)

    def __getitem__(self, name: str) -> InstrumentSpec:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __iter__(self):
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)
