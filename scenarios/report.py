"""``cmx report``: the compute-glut, circular-revenue and compute-run verdicts of runs with an
economy.

Inputs are ``cmx run`` directories (``summary.json`` + ``economy.parquet``) and ``cmx sweep``
directories (``sweep.json`` + ``economy/run-*.parquet``), in any mix. Runs are split into two
arms by the economy's own switch, ``strategic_overbuild`` (read from each run's summary), and
an overbuild run is paired with the counterfactual run that has the same seed and the same
sweep parameters. Everything the verdicts use is recomputed here from the weekly economy
table, so the rules below are the whole test and a script can check them in ``verdicts.json``.

Intervals are two-sided 95% Student-t intervals of the mean across seeds (``t_interval``);
the quantiles are tabulated (scipy is not a dependency). A verdict needs at least
``MIN_SEEDS`` values; with fewer, or when the interval straddles the threshold, it is
``inconclusive``.

The compute run is a proportion, not a mean: per cell of the shock x leverage grid, the share of
seeds that ran, with a Wilson score interval (``wilson_interval``); see ``run_outcomes`` for
the rule that says what a run is.
"""

from __future__ import annotations

import base64
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from scenarios.outputs import write_json

SCHEMA_VERSION = 1
CONFIDENCE = 0.95
#: fewer seeds than this give no verdict: a t-interval on two values says little
MIN_SEEDS = 3
#: glut occurred iff the share of "glut weeks" (spot below break-even while capacity exceeds
#: demand at break-even) has a 95% CI entirely above this; did not iff entirely below
GLUT_WEEKS_THRESHOLD = 0.25
#: circular revenue is material iff some seller's share has a 95% CI entirely above this;
#: immaterial iff every seller's CI is entirely below it
CIRCULAR_THRESHOLD = 0.10
OVERBUILD_KEY = "economy.params.commitments.strategic_overbuild"
#: a compute run: the token ends more than this below its peak ...
RUN_DRAWDOWN = 0.80
#: ... while the GW ordered from the shock on fall more than this share short of what the same
#: seed's reference run ordered (``run_outcomes``)
RUN_CAPACITY_CUT = 0.01
#: the tipping point is the smallest shock whose run probability exceeds this
RUN_TIPPING = 0.5
#: sweep keys a compute-run report may vary across runs (its grid)
RUN_GRID_KEYS = ("economy.token_shock", "economy.params.finance.token_sensitivity",
                 "economy.token_leverage")

#: economy-table column prefixes of the circular shares (traced, the lower bound)
SELLER_TRACED = "circular_share_"
VENDOR_TRACED = "vendor_circular_share_"

YES, NO, INCONCLUSIVE, NOT_AVAILABLE = "yes", "no", "inconclusive", "not available"

# Two-sided 95% Student-t quantiles t_{0.975, df}, df = 1..30, then 40, 60, 120 and infinity.
_T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646,
         8: 2.3060, 9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448,
         15: 2.1314, 16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 21: 2.0796,
         22: 2.0739, 23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484,
         29: 2.0452, 30: 2.0423, 40: 2.0211, 60: 2.0003, 120: 1.9799}
_Z975 = 1.9600


class ReportError(Exception):
    """The inputs cannot be reported on (no economy, nothing found)."""


def t_quantile(df: int) -> float:
    """t_{0.975, df}: tabulated to df 30, then interpolated linearly in 1/df (exact to
    the table's 4 decimals at 40, 60, 120; the error in between is below 0.001)."""
    if df < 1:
        raise ValueError("need df >= 1")
    if df in _T975:
        return _T975[df]
    knots = [(1 / k, v) for k, v in sorted(_T975.items()) if k >= 30] + [(0.0, _Z975)]
    x = 1 / df
    for (x0, y0), (x1, y1) in zip(knots, knots[1:], strict=False):
        if x1 <= x <= x0:
            return y1 + (y0 - y1) * (x - x1) / (x0 - x1)
    return _Z975


@dataclass
class Interval:
    """Mean of per-seed values with its 95% t-interval (None bounds when n < 2)."""

    n: int
    mean: float | None
    low: float | None
    high: float | None
    values: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "low": self.low, "high": self.high,
                "values": self.values}


def t_interval(values: list[float] | np.ndarray) -> Interval:
    """Mean +/- t_{0.975, n-1} * s / sqrt(n), with s the sample standard deviation (ddof 1).
    NaN values (a run that has no such number) are left out."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    vals = [float(v) for v in x]
    if n == 0:
        return Interval(0, None, None, None, vals)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, None, None, vals)
    half = t_quantile(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half, vals)


def threshold_verdict(iv: Interval, threshold: float, above: str = YES,
                      below: str = NO) -> tuple[str, str]:
    """``above`` iff the CI lies entirely above ``threshold``, ``below`` iff entirely below,
    otherwise inconclusive; too few values is inconclusive too. Returns (verdict, reason)."""
    if iv.n < MIN_SEEDS or iv.low is None or iv.high is None:
        return INCONCLUSIVE, f"{iv.n} value(s); a verdict needs at least {MIN_SEEDS} seeds"
    if iv.low > threshold:
        return above, f"95% CI [{iv.low:.4g}, {iv.high:.4g}] is entirely above {threshold:g}"
    if iv.high < threshold:
        return below, f"95% CI [{iv.low:.4g}, {iv.high:.4g}] is entirely below {threshold:g}"
    return INCONCLUSIVE, f"95% CI [{iv.low:.4g}, {iv.high:.4g}] contains {threshold:g}"


# -- loading -------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run with an economy: where it came from, its pairing key and its weekly table."""

    source: str
    seed: int
    case: str
    overbuild: bool
    params: tuple[tuple[str, str], ...]  # sweep parameters other than the overbuild switch
    economy: dict[str, np.ndarray]
    #: whether the run's sweep parameters are the file's own values (None: not recorded)
    is_default: bool | None = None

    @property
    def backstop(self) -> bool:
        """Whether the lab's partners backstopped it in this run ("too big to fail"; read
        from the economy table, False for runs written before the switch existed)."""
        col = self.economy.get("lab_backstop")
        return bool(col is not None and col.size and col[-1] > 0)


@dataclass
class Failure:
    """A planned run that did not finish (``EconomyOutOfRange``): it has no economy table."""

    source: str
    seed: int
    case: str
    params: tuple[tuple[str, str], ...]
    message: str


#: failures met by the last ``load_runs`` (reset by each call)
FAILED: list[Failure] = []


def _columns(path: Path) -> dict[str, np.ndarray]:
    table = pq.read_table(path)
    return {name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            for name in table.column_names if name != "run_id"}


def _params(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in params.items()
                        if k != OVERBUILD_KEY))


def _is_default(params: dict[str, Any], grid: dict[str, Any],
                defaults: dict[str, Any] | None) -> bool | None:
    """Whether a sweep run's grid values are the file's own (None when the sweep did not
    record them). Compared as numbers where they are numbers: 6 and 6.0 are one point."""
    if not grid:
        return True
    if defaults is None:
        return None
    return all(key in params and _same(params[key], defaults.get(key)) for key in grid)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return bool(a == b)


def _overbuild(summary: dict[str, Any]) -> bool:
    flag = summary.get("econ_strategic_overbuild")
    if flag is None:
        raise ReportError("a run's summary has no econ_strategic_overbuild")
    return bool(flag)


def load_runs(paths: list[Path]) -> list[Run]:
    """Every run with an economy under ``paths`` (run or sweep directories). Sweep runs that
    failed are left out and listed in ``FAILED``."""
    FAILED.clear()
    runs: list[Run] = []
    for path in paths:
        if (path / "sweep.json").exists():
            plan = json.loads((path / "sweep.json").read_text())
            index = {r["run_id"]: r for r in pq.read_table(path / "runs.parquet").to_pylist()}
            for planned in plan["runs"]:
                rid = planned["run_id"]
                if index[rid].get("failed"):  # outside the exchange's range: counted, no data
                    FAILED.append(Failure(f"{path.name}/run-{rid:06d}", int(planned["seed"]),
                                          str(index[rid].get("case") or ""),
                                          _params(planned.get("params", {})),
                                          str(index[rid]["failed"])))
                    continue
                file = path / "economy" / f"run-{rid:06d}.parquet"
                if not file.exists():
                    raise ReportError(f"{path}: run {rid} has no economy table ({file})")
                row = index[rid]
                economy = _columns(file)
                params = planned.get("params", {})
                runs.append(Run(f"{path.name}/run-{rid:06d}", int(planned["seed"]),
                                str(row.get("case") or ""), _overbuild(row),
                                _params(params), economy,
                                _is_default(params, plan.get("grid", {}),
                                            plan.get("defaults"))))
        elif (path / "summary.json").exists():
            file = path / "economy.parquet"
            if not file.exists():
                raise ReportError(f"{path}: no economy.parquet (not a run with an economy)")
            summary = json.loads((path / "summary.json").read_text())
            overrides: dict[str, Any] = {}
            if (path / "config.json").exists():
                overrides = json.loads((path / "config.json").read_text()).get("overrides", {})
            economy = _columns(file)
            runs.append(Run(path.name, int(summary["seed"]), str(summary.get("case") or ""),
                            _overbuild(summary), _params(overrides), economy))
        else:
            raise ReportError(f"{path}: neither a run (summary.json) nor a sweep (sweep.json)")
    if not runs:
        raise ReportError("no runs found")
    return runs


# -- per-run metrics -----------------------------------------------------------------------------

GLUT_METRICS = {
    "glut_weeks_share": "share of weeks with spot below break-even and overbuild ratio > 1",
    "share_below_break_even": "share of weeks with the spot VWAP below break-even",
    "share_overbuilt": "share of weeks with capacity above demand at break-even",
    "peak_overbuild_ratio": "peak capacity / demand at break-even",
    "mean_overbuild_ratio": "mean capacity / demand at break-even",
    "mean_utilisation": "mean share of minted GPU-hours consumed",
    "mean_spot": "mean weekly spot VWAP, $/GPU-hour",
    "min_spot": "lowest weekly spot VWAP, $/GPU-hour",
    "mean_futures": "mean of the weeks' mean traded futures price, $/GPU-hour",
    "mean_spot_minus_break_even": "mean of spot - break-even, $/GPU-hour",
    "mean_spot_over_marginal_cost": "mean of spot / marginal cost",
    "defaults": "seller defaults over the run",
    "lab_avg_cost": "lab's net cost per GPU-hour used at the end (resold hours at the lower "
                    "of cost and price; take-or-pay as owed), $",
    "lab_gross_cost": "lab's gross cost per GPU-hour acquired at the end (take-or-pay as "
                      "owed), $",
    "lab_resale_gain_busd": "lab's gain from reselling hours above their cost, to the end, $B",
    "lab_unpaid_busd": "take-or-pay the lab owed and has not paid (arrears and write-offs), "
                       "$B",
    "lab_all_in_cost": "lab's net cost per GPU-hour used plus its accrued financing cost per "
                       "hour used, at the end, $",
}

#: the lab's funding picture per run (``Economy.lab_finance_metrics``): economy column, then
#: description; USD columns are reported in $B
FUNDING_METRICS = {
    "lab_equity_raised_usd": "equity rounds raised in the run, $B",
    "lab_notes_issued_usd": "revenue-linked notes (compute-credit tokens) sold, $B",
    "lab_vendor_credit_usd": "backstop credit drawn from chip vendors, $B",
    "lab_deferred_usd": "take-or-pay sellers deferred under the backstop, $B",
    "lab_arrears_paid_usd": "arrears paid down, $B",
    "lab_arrears_usd": "arrears outstanding at the end, $B",
    "lab_written_off_usd": "arrears and credit written off on the lab's default, $B",
    "lab_financing_cost_usd": "financing cost accrued (equity return, note yield, credit and "
                              "arrears interest), $B",
    "lab_defaulted": "share of runs in which the lab defaulted",
    "lab_default_year": "year of the lab's default (runs that defaulted)",
}


def _nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def run_metrics(e: dict[str, np.ndarray]) -> dict[str, float]:
    """The run-level numbers of ``GLUT_METRICS`` and each seller's final circular share."""
    spot, be, ratio = e["spot_price"], e["break_even"], e["overbuild_ratio"]
    below = spot < be
    over = ratio > 1.0
    out = {
        "glut_weeks_share": float(np.mean(below & over)),
        "share_below_break_even": float(np.mean(below)),
        "share_overbuilt": float(np.mean(over)),
        "peak_overbuild_ratio": float(np.max(ratio)),
        "mean_overbuild_ratio": float(np.mean(ratio)),
        "mean_utilisation": float(np.mean(e["utilisation"])),
        "mean_spot": float(np.mean(spot)),
        "min_spot": float(np.min(spot)),
        "mean_futures": _nanmean(e["futures_mean"]) if "futures_mean" in e else math.nan,
        "mean_spot_minus_break_even": float(np.mean(spot - be)),
        "mean_spot_over_marginal_cost": float(np.mean(spot / e["marginal_cost"])),
        "defaults": float(np.sum(e["defaults"])),
        "lab_avg_cost": float(e["lab_avg_cost"][-1]),
        "lab_gross_cost": float(e["lab_gross_cost"][-1]),
        # runs written before these columns existed have no value (NaN, left out of means)
        "lab_resale_gain_busd": float(e["lab_resale_gain_usd"][-1]) / 1e9
        if "lab_resale_gain_usd" in e else math.nan,
        "lab_unpaid_busd": float(e["lab_unpaid_usd"][-1]) / 1e9
        if "lab_unpaid_usd" in e else math.nan,
    }
    out["lab_all_in_cost"] = (float(e["lab_all_in_cost"][-1]) if "lab_all_in_cost" in e
                              else math.nan)
    for key in FUNDING_METRICS:
        if key not in e:
            out[key] = math.nan
        elif key == "lab_default_year":
            out[key] = float(e[key][-1]) if e["lab_defaulted"][-1] > 0 else math.nan
        elif key.endswith("_usd"):
            out[key] = float(e[key][-1]) / 1e9
        else:
            out[key] = float(e[key][-1])
    for name in sorted(e):  # circular shares at the end: sellers' and chip vendors'
        for prefix, role in ((SELLER_TRACED, "seller"), (VENDOR_TRACED, "vendor")):
            if name.startswith(prefix):
                firm = name[len(prefix):]
                out[f"circular_share_{firm}"] = float(e[name][-1])
                upper = e.get(("circular_upper_" if role == "seller"
                               else "vendor_circular_upper_") + firm)
                # runs written before the earmarked bound existed: the traced share is all
                # there is, so it stands in for both bounds
                out[f"circular_upper_{firm}"] = float((upper if upper is not None
                                                       else e[name])[-1])
                out[f"circular_role_{firm}"] = 0.0 if role == "seller" else 1.0
    return out


# -- the verdicts --------------------------------------------------------------------------------


def buyer_cost(m: dict[str, float]) -> float:
    """The lab's cost per GPU-hour the buyer-gain verdict compares: net cost per hour used
    plus the financing cost per hour used, the same rule in both arms (runs written before
    the lab's financing existed have only the net cost, which is then all there is)."""
    v = m.get("lab_all_in_cost", math.nan)
    return v if math.isfinite(v) else m["lab_avg_cost"]


def _interval_of(rows: list[dict[str, float]], key: str) -> Interval:
    return t_interval([r.get(key, math.nan) for r in rows])


def verdicts(runs: list[Run]) -> dict[str, Any]:
    """Every hypothesis's statement, test, rule, metrics with intervals, and verdict."""
    treat = sorted((r for r in runs if r.overbuild),
                   key=lambda r: (r.params, r.backstop, r.seed))
    base = sorted((r for r in runs if not r.overbuild),
                  key=lambda r: (r.params, r.backstop, r.seed))
    t_rows = [run_metrics(r.economy) for r in treat]
    b_rows = [run_metrics(r.economy) for r in base]
    # a pair shares the seed, the parameters and the lab's financing regime
    by_key = {(r.params, r.backstop, r.seed): m for r, m in zip(base, b_rows, strict=True)}
    pairs = [(m, by_key[(r.params, r.backstop, r.seed)])
             for r, m in zip(treat, t_rows, strict=True)
             if (r.params, r.backstop, r.seed) in by_key]
    settings = sorted({r.params for r in runs})

    glut_metrics = {k: {"description": d, "overbuild": _interval_of(t_rows, k).as_dict(),
                        "counterfactual": _interval_of(b_rows, k).as_dict()}
                    for k, d in GLUT_METRICS.items()}
    funding = {k: {"description": d, "overbuild": _interval_of(t_rows, k).as_dict(),
                   "counterfactual": _interval_of(b_rows, k).as_dict()}
               for k, d in FUNDING_METRICS.items()}
    glut_iv = _interval_of(t_rows, "glut_weeks_share")
    if not treat:
        g_verdict, g_reason = INCONCLUSIVE, "no runs with strategic_overbuild on"
    else:
        g_verdict, g_reason = threshold_verdict(glut_iv, GLUT_WEEKS_THRESHOLD)
    glut = {
        "statement": "The lab's strategic overbuild makes capacity outgrow demand and holds the "
                     "GPU-hour spot price below the sellers' break-even.",
        "test": "Per overbuild run, the share of weeks in which the spot VWAP is below "
                "break-even while the overbuild ratio (capacity / demand at break-even) "
                "exceeds 1; mean across seeds with a 95% t-interval.",
        "rule": f"yes iff the 95% CI of that share lies entirely above "
                f"{GLUT_WEEKS_THRESHOLD:.0%}; no iff entirely below; otherwise, or with fewer "
                f"than {MIN_SEEDS} seeds, inconclusive.",
        "metric": "glut_weeks_share",
        "threshold": GLUT_WEEKS_THRESHOLD,
        "verdict": g_verdict,
        "reason": g_reason,
        "metrics": glut_metrics,
        "funding": funding,
    }

    diff = t_interval([buyer_cost(a) - buyer_cost(b) for a, b in pairs])
    net = t_interval([a["lab_avg_cost"] - b["lab_avg_cost"] for a, b in pairs])
    gross = t_interval([a["lab_gross_cost"] - b["lab_gross_cost"] for a, b in pairs])
    below = t_interval([a["share_below_break_even"] - b["share_below_break_even"]
                        for a, b in pairs])
    if not pairs:
        b_verdict, b_reason = INCONCLUSIVE, ("no overbuild run has a counterfactual run on the "
                                             "same seed")
    else:
        b_verdict, b_reason = threshold_verdict(diff, 0.0, above=NO, below=YES)
    note = ""
    if (diff.low is not None and gross.low is not None and diff.n >= MIN_SEEDS
            and (diff.high < 0 < gross.low or gross.high < 0 < diff.low)):
        note = ("the gross cost per GPU-hour acquired moves the other way (its paired 95% CI "
                f"is [{gross.low:.4g}, {gross.high:.4g}]): the verdict rests on the net cost "
                "per hour used, after resales of hours the lab did not use")
    buyer = {
        "statement": "The dominant buyer (the lab) gains from the overbuild: its average cost "
                     "per GPU-hour is lower than in the counterfactual without it.",
        "test": "Paired by seed: the lab's all-in cost per GPU-hour used at the end of the "
                "run (net cost per hour used plus the accrued cost of its financing per hour "
                "used), overbuild minus counterfactual; mean difference with a 95% "
                "t-interval.",
        "rule": f"yes iff the 95% CI of the paired difference lies entirely below 0; no iff "
                f"entirely above 0; otherwise, or with fewer than {MIN_SEEDS} pairs, "
                f"inconclusive.",
        "metric": "lab_cost_difference",
        "threshold": 0.0,
        "verdict": b_verdict,
        "reason": b_reason,
        "note": note,
        "metrics": {
            "lab_cost_difference": {"description": "lab all-in cost per GPU-hour (net plus "
                                                   "financing), overbuild - counterfactual, $",
                                    **diff.as_dict()},
            "lab_net_cost_difference": {"description": "lab net cost per GPU-hour (before "
                                                       "financing), overbuild - "
                                                       "counterfactual, $", **net.as_dict()},
            "lab_gross_cost_difference": {"description": "lab gross cost per GPU-hour, "
                                                         "overbuild - counterfactual, $",
                                          **gross.as_dict()},
            "share_below_break_even_difference": {
                "description": "share of weeks below break-even, overbuild - counterfactual",
                **below.as_dict()},
            "lab_avg_cost": glut_metrics["lab_avg_cost"],
            "lab_all_in_cost": glut_metrics["lab_all_in_cost"],
        },
    }

    circular = circular_verdict(t_rows, b_rows)
    run_h = run_verdict(runs)
    return {
        "schema": SCHEMA_VERSION,
        "interval": {"method": "Student t, two-sided, mean across seeds (paired differences "
                               "for the buyer)", "confidence": CONFIDENCE,
                     "min_seeds": MIN_SEEDS},
        "inputs": {
            "overbuild_runs": [r.source for r in treat],
            "counterfactual_runs": [r.source for r in base],
            "overbuild_seeds": [r.seed for r in treat],
            "counterfactual_seeds": [r.seed for r in base],
            "pairs": len(pairs),
            "parameter_sets": [dict(p) for p in settings],
        },
        "hypotheses": {"glut": glut, "buyer_gain": buyer, "circular_revenue": circular,
                       "compute_run": run_h},
    }


def circular_verdict(t_rows: list[dict[str, float]],
                     b_rows: list[dict[str, float]]) -> dict[str, Any]:
    """Circular revenue of every seller and chip vendor, as two bounds (``agents/economy/
    circular.py``): traced through the ledger (lower) and earmarked by the deals (upper).
    Material iff some firm's lower bound is above the threshold; immaterial iff every firm's
    upper bound is below it; otherwise the bounds straddle it and the data cannot say."""
    rows = t_rows or b_rows
    firms = sorted({k[len("circular_share_"):] for r in rows for k in r
                    if k.startswith("circular_share_")})
    role = {f: ("vendor" if any(r.get(f"circular_role_{f}") == 1.0 for r in rows)
                else "seller") for f in firms}
    firms.sort(key=lambda f: (role[f], f))
    metrics: dict[str, Any] = {}
    lows: dict[str, tuple[str, str]] = {}
    highs: dict[str, tuple[str, str]] = {}
    for f in firms:
        what = "compute" if role[f] == "seller" else "chip"
        lo = _interval_of(rows, f"circular_share_{f}")
        hi = _interval_of(rows, f"circular_upper_{f}")
        metrics[f"circular_share_{f}"] = {
            "description": f"{role[f]} {f}: share of its {what} revenue traced to its own "
                           "money (lower bound)", "role": role[f], **lo.as_dict()}
        metrics[f"circular_upper_{f}"] = {
            "description": f"{role[f]} {f}: share of its {what} revenue its own investment "
                           "could account for, as earmarked (upper bound)", "role": role[f],
            **hi.as_dict()}
        lows[f] = threshold_verdict(lo, CIRCULAR_THRESHOLD)
        highs[f] = threshold_verdict(hi, CIRCULAR_THRESHOLD)
    if not firms:
        verdict, reason = INCONCLUSIVE, "no seller or vendor has a circular-revenue series"
    elif any(v == YES for v, _ in lows.values()):
        verdict = YES
        reason = "; ".join(f"{f} traced share: {r}" for f, (v, r) in lows.items() if v == YES)
    elif all(v == NO for v, _ in highs.values()):
        verdict = NO
        reason = f"every firm's earmarked (upper-bound) 95% CI is below {CIRCULAR_THRESHOLD:g}"
    elif len({r for _, r in highs.values()}) == 1 and highs[firms[0]][0] == INCONCLUSIVE \
            and "seeds" in highs[firms[0]][1]:
        verdict, reason = INCONCLUSIVE, highs[firms[0]][1]  # too few seeds for every firm
    else:
        verdict = INCONCLUSIVE
        reason = "; ".join(
            f"{f}: traced {_fmt(metrics[f'circular_share_{f}']['mean'])}, earmarked "
            f"{_fmt(metrics[f'circular_upper_{f}']['mean'])}"
            for f in firms if highs[f][0] != NO)
        reason = (f"the bounds straddle {CIRCULAR_THRESHOLD:g} ({reason}): how much of that "
                  "money came back depends on whether it is fungible or earmarked")
    note = ("in plain words: the lower bound treats money as fully mixed, so a firm's "
            "dollar that passes through the lab's or a seller's cash is diluted by everything "
            "else there (end-user revenue, bank loans) and only the part still carrying the "
            "firm's name when it comes back counts; the upper bound takes the deals at their "
            "word, so every dollar the firm put into its customers (equity in the lab, "
            "warrants, loans to sellers that buy its chips) counts as coming back, up to its "
            "revenue. The true share lies between the two: a firm whose upper bound is small "
            "cannot have much circular revenue, one whose lower bound is large certainly has. "
            "A vendor's loans finance at most a fixed share of the chips the borrower buys "
            "from it, so loans alone cannot push its upper bound past that share")
    return {
        "statement": "A material share of sellers' or chip vendors' revenue is their own "
                     "investment returning (circular revenue).",
        "test": f"Per firm (sellers: compute revenue; chip vendors: chip revenue), at the end "
                f"of each {'overbuild' if t_rows else 'counterfactual'} run, two bounds on the "
                "share that is the firm's own money returning: traced pro rata through the "
                "flow-of-funds ledger (lower) and earmarked, every dollar it invested in its "
                "customers (equity, vendor financing, warrants) counted as returning (upper); "
                "mean across seeds with a 95% t-interval.",
        "rule": f"yes iff some firm's lower bound has a 95% CI entirely above "
                f"{CIRCULAR_THRESHOLD:.0%}; no iff every firm's upper bound has a 95% CI "
                f"entirely below it; otherwise, or with fewer than {MIN_SEEDS} seeds, "
                "inconclusive.",
        "threshold": CIRCULAR_THRESHOLD,
        "verdict": verdict,
        "reason": reason,
        "note": note,
        "metrics": metrics,
    }


# -- the compute run -----------------------------------------------------------------------------


def wilson_interval(k: int, n: int, z: float = _Z975) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n``: unlike the normal approximation it
    stays inside [0, 1] and is not degenerate at 0 or n successes, which is where a run
    probability across a handful of seeds usually is."""
    if n <= 0:
        raise ValueError("need n >= 1")
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class RunOutcome:
    """One token run's numbers, as the report's rule reads them."""

    shock: float
    leverage: float
    seed: int
    final_price: float
    drawdown: float  # 1 - final / peak token price
    builds_after: float  # GW ordered from the shock period on
    capacity_cut: bool | None  # None: no reference run without the token channel
    run: bool
    first_recovery: float
    last_recovery: float
    #: weeks from the shock until the token is first more than RUN_DRAWDOWN below its peak
    #: to date (NaN: it never is): how fast a sale turns into a collapse
    weeks_to_collapse: float = math.nan


def _last(e: dict[str, np.ndarray], key: str) -> float:
    return float(e[key][-1]) if key in e and len(e[key]) else math.nan


def leverage_axis(runs: list[Run]) -> str:
    """Which leverage the runs vary: ``holders`` (their borrowed leverage, ``token_leverage``,
    acting through margin calls) when any run has some, else ``capital`` (the spread a token
    collapse adds to sellers' cost of debt, ``token_sensitivity``)."""
    for r in runs:
        lev = r.economy.get("token_leverage")
        if lev is not None and len(lev) and float(lev[0]) > 0:
            return "holders"
    return "capital"


def run_outcomes(runs: list[Run]) -> list[RunOutcome]:
    """Every run with a traded token, with the run rule applied: drawdown above
    ``RUN_DRAWDOWN`` and GW ordered after the shock more than ``RUN_CAPACITY_CUT`` below the
    same seed's reference run. The reference depends on the leverage axis
    (``leverage_axis``): for holders' borrowed leverage, the same seed with neither shock nor
    leverage (and the same token channel); for the capital channel, the same seed without the
    channel (leverage 0, where the token cannot move capacity). Without a reference the
    capacity part cannot be tested and the run counts on the drawdown alone (``capacity_cut``
    None)."""
    axis = leverage_axis(runs)
    rows = []
    for r in runs:
        e = r.economy
        if "token_shock" not in e or "token_price" not in e or not len(e["token_price"]):
            continue
        start = int(e["token_shock_period"][0]) if "token_shock_period" in e else 0
        price = e["token_price"]
        channel = float(e["token_sensitivity"][0])
        held = float(e["token_leverage"][0]) if "token_leverage" in e else 0.0
        lev = held if axis == "holders" else channel
        fallen = np.nonzero(price < (1.0 - RUN_DRAWDOWN) * np.maximum.accumulate(price))[0]
        weeks = float(fallen[0] - start) if fallen.size else math.nan
        rows.append((r, float(e["token_shock"][0]), lev, channel,
                     float(price[-1]), 1.0 - float(price[-1]) / float(np.max(price)),
                     float(np.sum(e["builds_gw"][start:])), weeks))
    if axis == "holders":
        reference = {(r.seed, ch): b for r, shock, lev, ch, _, _, b, _ in rows
                     if lev == 0.0 and shock == 0.0}
    else:
        reference = {(r.seed, 0.0): b for r, _, lev, _, _, _, b, _ in rows if lev == 0.0}
    out = []
    for r, shock, lev, ch, final, dd, builds, weeks in rows:
        ref = reference.get((r.seed, ch if axis == "holders" else 0.0))
        cut = None if ref is None else bool(builds < ref * (1.0 - RUN_CAPACITY_CUT))
        out.append(RunOutcome(shock, lev, r.seed, final, dd, builds, cut,
                              dd > RUN_DRAWDOWN and cut is not False,
                              _last(r.economy, "token_first_decile_recovery"),
                              _last(r.economy, "token_last_decile_recovery"), weeks))
    return out


def run_cells(outcomes: list[RunOutcome]) -> list[dict[str, Any]]:
    """Run probability per (shock, leverage) cell across seeds, with its Wilson interval."""
    cells: dict[tuple[float, float], list[RunOutcome]] = {}
    for o in outcomes:
        cells.setdefault((o.shock, o.leverage), []).append(o)
    out = []
    for (shock, lev), group in sorted(cells.items()):
        k = sum(o.run for o in group)
        n = len(group)
        low, high = wilson_interval(k, n)
        collapses = sum(o.drawdown > RUN_DRAWDOWN for o in group)
        out.append({"shock": shock, "leverage": lev, "runs": k, "n": n, "probability": k / n,
                    "low": low, "high": high, "collapses": collapses,
                    "mean_final_price": float(np.mean([o.final_price for o in group])),
                    "mean_weeks_to_collapse": _nanmean(np.asarray(
                        [o.weeks_to_collapse for o in group], dtype=np.float64)),
                    "seeds": sorted(o.seed for o in group)})
    return out


def tipping_points(cells: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per leverage, the smallest shock whose run probability exceeds ``RUN_TIPPING`` (None:
    no shock in the grid does)."""
    out: dict[str, float | None] = {}
    for lev in sorted({c["leverage"] for c in cells}):
        hits = [c["shock"] for c in cells if c["leverage"] == lev
                and c["probability"] > RUN_TIPPING]
        out[f"{lev:g}"] = min(hits) if hits else None
    return out


def run_verdict(runs: list[Run]) -> dict[str, Any]:
    """The compute-run hypothesis: run probability per cell, tipping points, first movers."""
    statement = ("A negative shock to the lab's prospects can set off a compute run: the "
                 "token collapses while the capacity pipeline contracts, and more likely so "
                 "the larger the shock and the token leverage.")
    outcomes = run_outcomes(runs)
    if not outcomes:
        return {"statement": statement, "verdict": NOT_AVAILABLE,
                "reason": "no run traded the compute-credit token (run `cmx sweep compute_run`)",
                "metrics": {}}
    cells = run_cells(outcomes)
    tipping = tipping_points(cells)
    if any(c["n"] < MIN_SEEDS for c in cells):
        verdict, reason = INCONCLUSIVE, f"a cell has fewer than {MIN_SEEDS} seeds"
    elif any(c["low"] > RUN_TIPPING for c in cells):
        hit = [c for c in cells if c["low"] > RUN_TIPPING]
        verdict = YES
        reason = (f"{len(hit)} of {len(cells)} cells have a run probability whose 95% Wilson "
                  f"interval lies entirely above {RUN_TIPPING:g}, the first at shock "
                  f"{hit[0]['shock']:g}, leverage {hit[0]['leverage']:g}")
    elif all(c["high"] < RUN_TIPPING for c in cells):
        verdict, reason = NO, f"every cell's 95% Wilson interval lies below {RUN_TIPPING:g}"
    else:
        verdict, reason = INCONCLUSIVE, f"no cell's interval lies entirely above {RUN_TIPPING:g}"
    untested = sum(o.capacity_cut is None for o in outcomes)
    metrics = {
        "first_decile_recovery": {"description": "recovery per token at par of the first "
                                                 "decile of sellers (by first sale)",
                                  **t_interval([o.first_recovery for o in outcomes]).as_dict()},
        "last_decile_recovery": {"description": "recovery per token at par of the last "
                                                "decile of sellers",
                                 **t_interval([o.last_recovery for o in outcomes]).as_dict()},
        "first_minus_last_recovery": {
            "description": "first movers' recovery minus last movers', per run",
            **t_interval([o.first_recovery - o.last_recovery for o in outcomes]).as_dict()},
    }
    axis = leverage_axis(runs)
    if axis == "holders":
        lev_text = ("leverage: token holders' borrowed leverage, debt / equity, acting through "
                    "margin calls")
        ref_text = "same seed with neither shock nor leverage"
    else:
        lev_text = "leverage: the spread a full token collapse adds to sellers' cost of debt"
        ref_text = ("same seed without the token channel (leverage 0, where the token cannot "
                    "move capacity)")
    out: dict[str, Any] = {
        "statement": statement,
        "axis": axis,
        "test": f"Each run of the shock x leverage grid ({lev_text}) is a run iff the token's "
                f"final price is more than {RUN_DRAWDOWN:.0%} below its peak and the cluster "
                f"GW ordered from the shock on are more than {RUN_CAPACITY_CUT:.0%} below "
                f"those of the {ref_text}. Per cell, the share of seeds that ran, with a 95% "
                "Wilson interval.",
        "rule": f"yes iff some cell's interval lies entirely above {RUN_TIPPING:g}; no iff "
                f"every cell's lies entirely below; otherwise, or with fewer than {MIN_SEEDS} "
                "seeds in a cell, inconclusive. The tipping point per leverage is the smallest "
                f"shock whose run probability (point estimate) exceeds {RUN_TIPPING:g}.",
        "threshold": RUN_TIPPING,
        "verdict": verdict,
        "reason": reason,
        "cells": cells,
        "tipping_point": tipping,
        "outcomes": [{"shock": o.shock, "leverage": o.leverage, "seed": o.seed,
                      "final_price": o.final_price, "drawdown": o.drawdown,
                      "weeks_to_collapse": o.weeks_to_collapse,
                      "builds_after_shock_gw": o.builds_after, "capacity_cut": o.capacity_cut,
                      "run": o.run} for o in outcomes],
        "metrics": metrics,
    }
    if untested:
        out["note"] = (f"{untested} run(s) had no same-seed run without the token channel, "
                       "so they count as runs on the drawdown alone")
    return out


def run_chart(v: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """The bifurcation-style chart: final token price against shock size, per leverage."""
    h = v["hypotheses"]["compute_run"]
    if not h.get("outcomes"):
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=90)
    levs = sorted({o["leverage"] for o in h["outcomes"]})
    for i, lev in enumerate(levs):
        pts = [o for o in h["outcomes"] if o["leverage"] == lev]
        color = f"C{i}"
        ax.plot([o["shock"] for o in pts], [o["final_price"] for o in pts], "o", ms=4,
                alpha=0.5, color=color)
        cells = [c for c in h["cells"] if c["leverage"] == lev]
        ax.plot([c["shock"] for c in cells], [c["mean_final_price"] for c in cells], "-",
                color=color, label=f"leverage {lev:g}")
    ax.set_xlabel("shock to the lab's coverage")
    ax.set_ylabel("final token price, USD")
    ax.legend(loc="best", fontsize=8)
    return [_save(fig, out, "token_run.png",
        "Final token price against shock size: each seed a dot, the "
        "line the mean across seeds, one colour per token leverage.")]


# -- charts --------------------------------------------------------------------------------------


def _stack(runs: list[Run], key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(years, values[run, week]) over the weeks every run has."""
    rows = [r.economy for r in runs if key in r.economy]
    if not rows:
        return None
    n = min(len(e[key]) for e in rows)
    return rows[0]["year"][:n], np.vstack([e[key][:n] for e in rows])


def charts(runs: list[Run], v: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """Write the report's PNGs; returns (file name, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [("overbuild", [r for r in runs if r.overbuild], "C0"),
            ("counterfactual", [r for r in runs if not r.overbuild], "C1")]
    made: list[tuple[str, str]] = []

    def band(ax: Any, key: str, label: str, dots: bool = False) -> None:
        for arm, rs, color in arms:
            got = _stack(rs, key)
            if got is None:
                continue
            year, vals = got
            with warnings.catch_warnings():  # weeks with no futures trade are NaN in every run
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(vals, axis=0)
            if dots:  # sparse series (futures trade in few weeks): points, no band
                ax.plot(year, mean, ".", color=color, ms=3, label=f"{label}, {arm}")
                continue
            ax.plot(year, mean, color=color, lw=1.2, label=f"{label}, {arm}")
            if vals.shape[0] > 1:
                ax.fill_between(year, np.nanmin(vals, axis=0), np.nanmax(vals, axis=0),
                                color=color, alpha=0.15, lw=0)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), dpi=90, sharex=True)
    band(top, "overbuild_ratio", "overbuild ratio")
    top.axhline(1.0, color="grey", lw=0.6)
    top.set_ylabel("capacity / demand")
    top.legend(loc="best", fontsize=8)
    band(bottom, "utilisation", "utilisation")
    bottom.set_ylabel("utilisation")
    bottom.set_xlabel("year")
    bottom.legend(loc="best", fontsize=8)
    made.append(_save(fig, out, "overbuild.png",
        "Overbuild ratio and utilisation: mean across seeds, band "
        "from the lowest to the highest seed."))

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=90)
    band(ax, "spot_price", "spot VWAP")
    band(ax, "futures_mean", "futures (traded weeks)", dots=True)
    ref = runs[0].economy
    ax.plot(ref["year"], ref["break_even"], color="black", ls="--", lw=1.0,
            label="break-even (first run)")
    ax.plot(ref["year"], ref["marginal_cost"], color="grey", ls="-.", lw=1.0,
            label="marginal cost (first run)")
    ax.set_ylabel("USD per GPU-hour")
    ax.set_xlabel("year")
    ax.legend(loc="best", fontsize=8)
    made.append(_save(fig, out, "prices.png",
        "Spot and futures prices against break-even and marginal "
        "cost: mean across seeds, band from lowest to highest seed."))

    fig, ax = plt.subplots(figsize=(10, 4), dpi=90)
    band(ax, "lab_avg_cost", "lab net cost to date")
    ax.set_ylabel("USD per GPU-hour used")
    ax.set_xlabel("year")
    ax.legend(loc="best", fontsize=8)
    made.append(_save(fig, out, "lab_cost.png",
        "The lab's net cost per GPU-hour used, to date, by arm."))

    metrics = v["hypotheses"]["circular_revenue"]["metrics"]
    firms = [k[len("circular_share_"):] for k in metrics if k.startswith("circular_share_")]
    if firms:
        fig, ax = plt.subplots(figsize=(8, 3.8), dpi=90)
        x = np.arange(len(firms))
        for offset, key, label, color in ((-0.2, "circular_share_", "traced (lower bound)",
                                           "C2"),
                                          (0.2, "circular_upper_", "earmarked (upper bound)",
                                           "C4")):
            ms = [metrics[key + f] for f in firms]
            means = [m["mean"] or 0.0 for m in ms]
            err = [[(m["mean"] - m["low"]) if m["low"] is not None else 0.0 for m in ms],
                   [(m["high"] - m["mean"]) if m["high"] is not None else 0.0 for m in ms]]
            ax.bar(x + offset, means, width=0.4, yerr=err, capsize=3, color=color,
                   label=label)
        ax.set_xticks(x, [f"{f}\n({metrics['circular_share_' + f].get('role', 'seller')})"
                          for f in firms], fontsize=8)
        ax.axhline(CIRCULAR_THRESHOLD, color="grey", ls="--", lw=0.8, label="threshold")
        ax.set_ylabel("own money in revenue")
        ax.legend(loc="best", fontsize=8)
        made.append(_save(fig, out, "circular.png",
            "Circular revenue per seller and chip vendor: traced (lower bound) and "
            "earmarked (upper bound) shares, mean with 95% t-interval across seeds."))
    return made


# -- writing -------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if 1000 <= abs(x) < 100_000:
        return f"{x:.1f}"  # years (2032.9) and $B totals keep their first decimal
    return f"{x:.4g}"


def _ci(m: dict[str, Any]) -> str:
    if m["low"] is None:
        return f"{_fmt(m['mean'])} (n={m['n']}, no interval)"
    return f"{_fmt(m['mean'])} [{_fmt(m['low'])}, {_fmt(m['high'])}] (n={m['n']})"


def markdown(v: dict[str, Any], pictures: list[tuple[str, str]]) -> str:
    """The report as Markdown; images are referenced by file name next to it."""
    h = v["hypotheses"]
    inp = v["inputs"]
    lines = [
        "# Compute economy report",
        "",
        f"Runs: {len(inp['overbuild_runs'])} with strategic overbuild (seeds "
        f"{inp['overbuild_seeds']}), {len(inp['counterfactual_runs'])} counterfactual (seeds "
        f"{inp['counterfactual_seeds']}); {inp['pairs']} pair(s) on the same seed.",
        "",
        f"Intervals: {v['interval']['method']}, {v['interval']['confidence']:.0%}; a verdict "
        f"needs at least {v['interval']['min_seeds']} seeds (or pairs). Verdicts are yes, no, "
        f"inconclusive or not available.",
        "",
        "| hypothesis | verdict | why |",
        "| --- | --- | --- |",
    ]
    if min(len(inp["overbuild_runs"]), inp["pairs"]) < v["interval"]["min_seeds"]:
        lines[-2:-2] = ["Too few seeds or pairs for a verdict on every hypothesis: run both "
                        "arms on the same seeds, e.g. `cmx sweep compute_glut --seeds 5 "
                        "--with-case no_overbuild`.", ""]
    titles = {"glut": "Glut occurred", "buyer_gain": "Dominant buyer gained",
              "circular_revenue": "Circular revenue is material",
              "compute_run": "Compute run"}
    for key, title in titles.items():
        lines.append(f"| {title} | **{h[key]['verdict']}** | {h[key]['reason']} |")
    for key, title in titles.items():
        hyp = h[key]
        lines += ["", f"## {title}", "", f"*Hypothesis.* {hyp['statement']}", ""]
        if "test" in hyp:
            lines += [f"*Test.* {hyp['test']}", "", f"*Rule.* {hyp['rule']}", ""]
        lines += [f"*Verdict:* **{hyp['verdict']}** ({hyp['reason']}).", ""]
        if hyp.get("note"):
            lines += [f"*Note.* {hyp['note'][0].upper()}{hyp['note'][1:]}.", ""]
        if key == "glut":
            lines += ["| metric | overbuild: mean [95% CI] | counterfactual: mean [95% CI] |",
                      "| --- | --- | --- |"]
            for name, m in hyp["metrics"].items():
                lines.append(f"| {m['description']} (`{name}`) | {_ci(m['overbuild'])} | "
                             f"{_ci(m['counterfactual'])} |")
            if hyp.get("funding"):
                lines += ["", "The lab's funding (what it raised when its cash did not cover "
                          "what fell due, docs/model.md 3.13):", "",
                          "| funding | overbuild: mean [95% CI] | counterfactual: mean "
                          "[95% CI] |", "| --- | --- | --- |"]
                for name, m in hyp["funding"].items():
                    lines.append(f"| {m['description']} (`{name}`) | {_ci(m['overbuild'])} | "
                                 f"{_ci(m['counterfactual'])} |")
        if key == "compute_run" and hyp.get("cells"):
            lines += ["| shock | leverage | runs / seeds | P(run) [95% Wilson] | token "
                      "collapses (drawdown only) | weeks from shock to collapse (mean of "
                      "collapses) | mean final token price |",
                      "| --- | --- | --- | --- | --- | --- | --- |"]
            for c in hyp["cells"]:
                weeks = c.get("mean_weeks_to_collapse", math.nan)
                lines.append(f"| {c['shock']:g} | {c['leverage']:g} | {c['runs']} / {c['n']} "
                             f"| {c['probability']:.2f} [{c['low']:.2f}, {c['high']:.2f}] | "
                             f"{c['collapses']} / {c['n']} | {_fmt(weeks)} | "
                             f"{c['mean_final_price']:.4g} |")
            tips = ", ".join(f"leverage {k}: {'none in the grid' if t is None else f'{t:g}'}"
                             for k, t in hyp["tipping_point"].items())
            why = ("At leverage 0 the token cannot move capacity, so a collapse there is not "
                   "a compute run: those runs are the reference." if hyp.get("axis") != "holders"
                   else "The reference is the same seed with neither shock nor leverage, so "
                   "that cell cannot run by construction.")
            lines += ["", f"Tipping point (smallest shock with P(run) > "
                          f"{hyp['threshold']:g}): {tips}. {why}", ""]
        if key != "glut" and hyp["metrics"]:
            lines += ["| metric | mean [95% CI] |", "| --- | --- |"]
            for name, m in hyp["metrics"].items():
                if "overbuild" in m:
                    lines.append(f"| {m['description']}, overbuild (`{name}`) | "
                                 f"{_ci(m['overbuild'])} |")
                    lines.append(f"| {m['description']}, counterfactual (`{name}`) | "
                                 f"{_ci(m['counterfactual'])} |")
                else:
                    lines.append(f"| {m['description']} (`{name}`) | {_ci(m)} |")
    if v.get("financing"):
        lines += ["", "## Too big to fail: the verdicts with the backstop off and on", "",
                  f"The headline above is the file's own setting ({v['financing_headline']})."
                  " Each financing regime's runs are paired with the counterfactual of the "
                  "same regime and seed.", "",
                  "| regime | glut | glut weeks, overbuild [95% CI] | buyer gained | all-in "
                  "cost difference $/GPU-h [95% CI] | lab defaulted (overbuild / "
                  "counterfactual) | equity $B | notes $B | vendor credit $B | deferred $B | "
                  "written off $B |", "| --- | --- | --- | --- | --- | --- | --- | --- | "
                  "--- | --- | --- |"]
        for label, f in v["financing"].items():
            fund = f["funding"]

            def both(key: str, fmt: str = "{:.1f}", fund: dict[str, Any] = fund) -> str:
                a, b = fund[key]["overbuild"]["mean"], fund[key]["counterfactual"]["mean"]
                return " / ".join("n/a" if x is None else fmt.format(x) for x in (a, b))

            lines.append(f"| {label} | **{f['glut']}** | {_ci(f['glut_weeks_share'])} | "
                         f"**{f['buyer_gain']}** | {_ci(f['lab_cost_difference'])} | "
                         f"{both('lab_defaulted', '{:.0%}')} | "
                         f"{both('lab_equity_raised_usd')} | {both('lab_notes_issued_usd')} | "
                         f"{both('lab_vendor_credit_usd')} | {both('lab_deferred_usd')} | "
                         f"{both('lab_written_off_usd')} |")
        lines += ["", "Funding columns: overbuild / counterfactual, means across seeds.", ""]
    if pictures:
        lines += ["", "## Charts", ""]
        for name, caption in pictures:
            lines += [f"![{caption}]({name})", "", caption, ""]
    return "\n".join(lines).rstrip() + "\n"


def html(md: str, out: Path) -> str:
    """A self-contained HTML page of the Markdown: tables and headings converted, images
    embedded as base64 data URIs, nothing fetched from anywhere."""
    import html as esc
    import re

    def inline(text: str) -> str:
        text = esc.escape(text)
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
        text = re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", text)

    body: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            head, rows = table[0], table[2:]
            body.append("<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r)
                                  + "</tr>" for r in rows) + "</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split(" | ")])
            continue
        flush()
        image = re.fullmatch(r"!\[(.*)\]\((.+)\)", line)
        if image:
            data = base64.b64encode((out / image.group(2)).read_bytes()).decode("ascii")
            body.append(f'<img alt="{esc.escape(image.group(1))}" '
                        f'src="data:image/png;base64,{data}">')
        elif line.startswith("## "):
            body.append(f"<h2>{inline(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{inline(line[2:])}</h1>")
        elif line:
            body.append(f"<p>{inline(line)}</p>")
    flush()
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:.2em .5em;text-align:left}img{max-width:100%}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Compute economy "
            f"report</title><style>{style}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def write_report(paths: list[Path], out: Path, with_charts: bool = True) -> dict[str, Any]:
    """Read the runs under ``paths``, write ``report.md``, ``report.html``, ``verdicts.json``
    (and the PNGs) to ``out``; returns the verdicts."""
    from scenarios.sensitivity import sensitivity, sensitivity_chart, sensitivity_markdown

    runs = load_runs(paths)
    settings = {_setting(r) for r in runs}
    grid = None
    headline = runs
    if len(settings) > 1:  # a sweep grid: one verdict per point, never pooled across points
        if any(r.is_default is None for r in runs):
            shown = "; ".join(", ".join(f"{k}={v}" for k, v in s) or "(none)"
                              for s in sorted(settings))
            raise ReportError(f"the runs differ in parameters other than the overbuild "
                              f"switch ({shown}) and do not say which are the file's own "
                              "values; report one parameter set at a time")
        grid = sensitivity(runs, _setting, list(FAILED))
        headline = [r for r in runs if r.is_default]
    regimes = sorted({r.backstop for r in headline})
    financing: dict[str, Any] = {}
    if len(regimes) > 1:  # the lab's financing regimes: one verdict each, never pooled
        own = [r.backstop for r in headline if not r.case]
        base_regime = own[0] if own else False
        for flag in regimes:
            sub = verdicts([r for r in headline if r.backstop == flag])["hypotheses"]
            financing[_regime(flag)] = {
                "glut": sub["glut"]["verdict"], "glut_reason": sub["glut"]["reason"],
                "glut_weeks_share": sub["glut"]["metrics"]["glut_weeks_share"]["overbuild"],
                "buyer_gain": sub["buyer_gain"]["verdict"],
                "buyer_gain_reason": sub["buyer_gain"]["reason"],
                "lab_cost_difference": sub["buyer_gain"]["metrics"]["lab_cost_difference"],
                "funding": sub["glut"]["funding"]}
        headline = [r for r in headline if r.backstop == base_regime]
    v = verdicts(headline)
    if financing:
        v["financing"] = financing
        v["financing_headline"] = _regime(headline[0].backstop)
    if grid is not None:
        v["sensitivity"] = grid
        if not headline:
            for hyp in ("glut", "buyer_gain", "circular_revenue"):
                v["hypotheses"][hyp]["verdict"] = INCONCLUSIVE
                v["hypotheses"][hyp]["reason"] = ("the sweep has no grid point at the file's "
                                                  "own values; see the sensitivity table")
    out.mkdir(parents=True, exist_ok=True)
    pictures: list[tuple[str, str]] = []
    if with_charts:
        pictures = (charts(headline, v, out) if headline else []) + run_chart(v, out)
        if grid is not None:
            pictures += sensitivity_chart(grid, out)
    md = markdown(v, pictures)
    if grid is not None:
        md = md.rstrip() + "\n\n" + sensitivity_markdown(grid)
    (out / "report.md").write_text(md)
    (out / "report.html").write_text(html(md, out))
    write_json(v, out / "verdicts.json")
    return v


def _regime(backstop: bool) -> str:
    return "backstop on" if backstop else "backstop off"


def _setting(r: Run) -> tuple[tuple[str, str], ...]:
    """A run's parameter set, less the compute-run grid (reported cell by cell on its own)."""
    return tuple(kv for kv in r.params if kv[0] not in RUN_GRID_KEYS)


def format_verdicts(v: dict[str, Any]) -> str:
    """The lines ``cmx`` prints: one per hypothesis (and the glut's sensitivity, if swept)."""
    lines = [f"  {key}: {hyp['verdict']} ({hyp['reason']})"
             for key, hyp in v["hypotheses"].items()]
    for label, f in v.get("financing", {}).items():
        lines.append(f"  {label}: glut {f['glut']} ({f['glut_reason']}); buyer_gain "
                     f"{f['buyer_gain']} ({f['buyer_gain_reason']})")
    if "sensitivity" in v:
        from scenarios.sensitivity import format_sensitivity

        lines.append(format_sensitivity(v["sensitivity"]))
    return "\n".join(lines)


def _save(fig: Any, out: Path, name: str, caption: str) -> tuple[str, str]:
    """Write one chart (no timestamped metadata, so reports are reproducible) and close it;
    returns the (file, caption) pair the report lists."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out / name, metadata={"Software": None})
    plt.close(fig)
    return name, caption
