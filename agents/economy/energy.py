"""Energy coupling: GPU-hours need kWh, and kWh come only from power that has been built.

    kWh per GPU-hour  e = it_kw_per_node / gpus_per_node * pue = 6.2 / 8 * 1.2 = 0.93
    GPU-hours per GW of facility power per hour = 1e6 kW / e  (~1.075 million GPUs per GW)
    deliverable GPU-hours = min(capacity GPU-hours, kWh available / e)

Facility GW (what deals are quoted in) and GPUs are tied through ``e``: a cluster of 1 GW
running flat out draws exactly 1 GW, so "power binds" means built firm power < cluster GW.
When power binds, the energy supply is rationed pro rata to the sellers' needs (the same rule
a kWh market with a single clearing price would produce when every seller bids above it).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from .units import KW_PER_GW


class EnergyParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Calibration: an 8xH100 node draws ~6.2 kW IT load, at PUE 1.2 that is ~0.93 kWh per
    GPU-hour; energy at $0.05-0.12/kWh (reference 0.08, the middle) costs ~$0.074 per
    GPU-hour, ~3% of a $2.35 GPU-hour: "a few percent"."""

    it_kw_per_node: float = 6.2
    gpus_per_node: int = 8
    pue: float = 1.2
    reference_kwh_price: float = 0.08  # USD/kWh, middle of $0.05-0.12
    kwh_price_low: float = 0.05
    kwh_price_high: float = 0.12

    def __post_init__(self) -> None:
        if self.it_kw_per_node <= 0 or self.gpus_per_node <= 0 or self.pue < 1:
            raise ValueError("need positive node power, GPUs per node and PUE >= 1")

    @property
    def kwh_per_gpu_hour(self) -> float:
        return self.it_kw_per_node / self.gpus_per_node * self.pue


def gpus_per_gw(p: EnergyParams) -> float:
    """GPUs one GW of facility power runs (~1.075 million)."""
    return KW_PER_GW / p.kwh_per_gpu_hour


def gpu_hours_per_gw(hours: float, p: EnergyParams) -> float:
    """GPU-hours that one GW of cluster capacity produces in ``hours``."""
    return gpus_per_gw(p) * hours


def kwh_for(gpu_hours: float, p: EnergyParams) -> float:
    return gpu_hours * p.kwh_per_gpu_hour


def kwh_from_power(firm_gw: float, hours: float) -> float:
    """kWh a firm (capacity-factor-adjusted) power supply of ``firm_gw`` yields in ``hours``."""
    return firm_gw * KW_PER_GW * hours


def deliverable_gpu_hours(capacity_gpu_hours: float, kwh_available: float,
                          p: EnergyParams) -> float:
    """GPU-hours a seller can actually deliver: capacity capped by the energy it has."""
    return max(0.0, min(capacity_gpu_hours, kwh_available / p.kwh_per_gpu_hour))


def ration(supply: float, needs: Sequence[float]) -> list[float]:
    """Share ``supply`` among ``needs``: everyone in full if it suffices, else pro rata."""
    total = sum(needs)
    if total <= supply or total <= 0:
        return [float(n) for n in needs]
    factor = supply / total
    return [n * factor for n in needs]


def energy_cost_share(gpu_hour_price: float, kwh_price: float, p: EnergyParams) -> float:
    """Energy cost of a GPU-hour as a share of its price."""
    return p.kwh_per_gpu_hour * kwh_price / gpu_hour_price
