"""Where does the glut start? The glut verdict per point of a sweep grid over assumptions.

``cmx sweep compute_glut`` runs the file's grid (demand growth, depreciation life, size of the
take-or-pay programme) on a few seeds per point, optionally with the counterfactual case on the
same seeds (``--with-case no_overbuild``). The report never pools points: each gets the glut
test of ``report.py`` (share of glut weeks, 95% t-interval across seeds, the same threshold and
rule) and, when its counterfactual runs are there, the paired buyer-gain test and the
counterfactual's own glut share, which tells a glut the overbuild caused from one slow demand
would cause anyway.

"Where the glut starts" is read like the compute run's tipping point: among the points whose
glut verdict is yes, those that change the fewest assumptions from the file's own values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenarios.report import (
    GLUT_WEEKS_THRESHOLD,
    INCONCLUSIVE,
    MIN_SEEDS,
    NO,
    RUN_GRID_KEYS,
    YES,
    Interval,
    _save,
    buyer_cost,
    run_metrics,
    t_interval,
    threshold_verdict,
)

if TYPE_CHECKING:  # pragma: no cover
    from scenarios.report import Failure, Run

#: per-point numbers shown next to the verdicts (overbuild runs' means)
SHOWN = ("peak_overbuild_ratio", "share_below_break_even", "mean_spot", "min_spot", "defaults")


def _short(key: str) -> str:
    """``economy.params.cluster.life_years`` -> ``life_years``: table headings."""
    return key.rsplit(".", 1)[-1]


def sensitivity(runs: list[Run], setting: Callable[[Run], tuple[tuple[str, str], ...]],
                failed: list[Failure] | None = None) -> dict[str, Any]:
    """The glut (and, with counterfactual runs, buyer-gain) verdict of every grid point.
    ``failed`` runs (outside the exchange's range) count against their point: its verdict
    rests on the seeds that finished, and the table says how many did not."""
    groups: dict[tuple[tuple[str, str], ...], list[Run]] = {}
    for r in runs:
        groups.setdefault(setting(r), []).append(r)
    lost: dict[tuple[tuple[str, str], ...], list[Failure]] = {}
    for f in failed or []:
        key = tuple(kv for kv in f.params if kv[0] not in RUN_GRID_KEYS)
        lost.setdefault(key, []).append(f)
        groups.setdefault(key, [])
    keys = sorted({k for s in groups for k, _ in s})
    defaults = {k: v for r in runs if r.is_default for k, v in setting(r)}
    points = []
    for params, group in sorted(groups.items()):
        values = {k: json.loads(v) for k, v in params}
        changed = sorted(k for k, v in params if defaults.get(k) != v)
        treat = sorted((r for r in group if r.overbuild), key=lambda r: r.seed)
        base = {r.seed: r for r in group if not r.overbuild}
        t_rows = [run_metrics(r.economy) for r in treat]
        glut = t_interval([m["glut_weeks_share"] for m in t_rows])
        verdict, reason = threshold_verdict(glut, GLUT_WEEKS_THRESHOLD)
        cf = t_interval([run_metrics(r.economy)["glut_weeks_share"] for r in base.values()])
        pairs = [(m, run_metrics(base[r.seed].economy)) for r, m in zip(treat, t_rows,
                                                                           strict=True)
                 if r.seed in base]
        diff = t_interval([buyer_cost(a) - buyer_cost(b) for a, b in pairs])
        if pairs:
            b_verdict, b_reason = threshold_verdict(diff, 0.0, above=NO, below=YES)
        else:
            b_verdict, b_reason = INCONCLUSIVE, "no counterfactual runs at this point"
        gone = lost.get(params, [])
        if gone and verdict == INCONCLUSIVE and glut.n < MIN_SEEDS:
            reason = (f"{len(gone)} run(s) failed (the economy's cash outgrew the exchange's "
                      f"integer balances); {reason}")
        points.append({
            "params": values,
            "failed": [{"seed": f.seed, "case": f.case or "default", "message": f.message}
                       for f in gone],
            "changed": changed,
            "default": bool(defaults) and not changed,
            "seeds": [r.seed for r in treat],
            "glut_weeks_share": glut.as_dict(),
            "verdict": verdict,
            "reason": reason,
            "counterfactual_glut_weeks_share": cf.as_dict(),
            "lab_cost_difference": diff.as_dict(),
            "buyer_gain": b_verdict,
            "buyer_reason": b_reason,
            "means": {k: _mean(t_rows, k) for k in SHOWN},
            # where the lab's default, not the overbuild, may be what sends spot below
            # break-even (docs/model.md 3.12): in how many runs of each arm it defaulted
            "lab_defaults": {"overbuild": _defaulted(t_rows), "counterfactual":
                             _defaulted([run_metrics(r.economy) for r in base.values()])},
            # and when: the earliest and latest year of the default among the runs that
            # defaulted (null without one), which is how far the assumptions move it
            "lab_default_years": {
                "overbuild": _default_years(t_rows),
                "counterfactual": _default_years([run_metrics(r.economy)
                                                  for r in base.values()])},
        })
    yes = [p for p in points if p["verdict"] == YES]
    fewest = min((len(p["changed"]) for p in yes), default=None)
    starts = [p["params"] for p in yes if len(p["changed"]) == fewest]
    return {
        "statement": "Under which assumptions does the glut occur? The glut test, point by "
                     "point of the sweep grid, never pooled across points.",
        "rule": f"per point: yes iff the 95% CI of the overbuild runs' share of glut weeks lies "
                f"entirely above {GLUT_WEEKS_THRESHOLD:.0%}, no iff entirely below, otherwise "
                f"(or with fewer than {MIN_SEEDS} seeds) inconclusive. The glut starts at the "
                "yes points that change the fewest assumptions from the file's own values.",
        "keys": keys,
        "defaults": {k: json.loads(v) for k, v in sorted(defaults.items())},
        "points": points,
        "glut_points": len(yes),
        "glut_starts": starts,
        "fewest_changes": fewest,
    }


def _defaulted(rows: list[dict[str, float]]) -> dict[str, int]:
    """Runs in which the lab defaulted, of the runs (runs written before the lab could
    default count as not defaulted)."""
    return {"runs": len(rows),
            "defaulted": sum(1 for r in rows if r.get("lab_defaulted", 0.0) > 0)}


def _default_years(rows: list[dict[str, float]]) -> list[float] | None:
    """[earliest, latest] year of the lab's default among ``rows`` that defaulted, or None."""
    years = [r["lab_default_year"] for r in rows if r.get("lab_defaulted", 0.0) > 0
             and math.isfinite(r.get("lab_default_year", math.nan))]
    return [min(years), max(years)] if years else None


def _mean(rows: list[dict[str, float]], key: str) -> float | None:
    iv: Interval = t_interval([r[key] for r in rows])
    return iv.mean


def _label(point: dict[str, Any]) -> str:
    if point["default"]:
        return "file's values"
    return ", ".join(f"{_short(k)}={point['params'][k]:g}" if isinstance(point["params"][k],
                                                                          (int, float))
                     else f"{_short(k)}={point['params'][k]}" for k in point["changed"])


def _num(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else fmt.format(x)


def _runs(d: dict[str, int], years: list[float] | None = None) -> str:
    """``{"runs": 3, "defaulted": 1}`` -> ``1 of 3`` (``n/a`` without runs), with the years
    of the defaults when given: ``3 of 3 (2032.4-2032.9)``."""
    if not d["runs"]:
        return "n/a"
    text = f"{d['defaulted']} of {d['runs']}"
    if years:
        lo, hi = years
        text += f" ({lo:.1f})" if f"{lo:.1f}" == f"{hi:.1f}" else f" ({lo:.1f}-{hi:.1f})"
    return text


def _point_years(p: dict[str, Any], arm: str) -> list[float] | None:
    return (p.get("lab_default_years") or {}).get(arm)


def _ci(m: dict[str, Any], fmt: str = "{:.1%}") -> str:
    if m["mean"] is None:
        return "n/a"
    if m["low"] is None:
        return f"{fmt.format(m['mean'])} (n={m['n']})"
    return f"{fmt.format(m['mean'])} [{fmt.format(m['low'])}, {fmt.format(m['high'])}]"


def sensitivity_markdown(s: dict[str, Any]) -> str:
    """The report's section: one row per grid point, then where the glut starts."""
    keys = s["keys"]
    lines = ["## Sensitivity: where does the glut start?", "",
             f"*Question.* {s['statement']}", "", f"*Rule.* {s['rule']}", "",
             "File's values: " + ", ".join(f"`{_short(k)}` = {v}"
                                           for k, v in s["defaults"].items()) + ".", "",
             "| " + " | ".join(_short(k) for k in keys) + " | glut weeks, overbuild [95% CI] "
             "| glut | glut weeks, counterfactual | lab cost difference, $/GPU-h [95% CI] "
             "| buyer gained | lab defaulted (years), overbuild / counterfactual | peak ratio "
             "| weeks below break-even | mean spot | seller defaults | failed runs |",
             "| " + " | ".join("---" for _ in range(len(keys) + 11)) + " |"]
    for p in s["points"]:
        m = p["means"]
        lines.append(
            "| " + " | ".join(str(p["params"].get(k, "")) for k in keys)
            + f" | {_ci(p['glut_weeks_share'])} | **{p['verdict']}** | "
            f"{_ci(p['counterfactual_glut_weeks_share'])} | "
            f"{_ci(p['lab_cost_difference'], '{:.3f}')} | {p['buyer_gain']} | "
            f"{_runs(p['lab_defaults']['overbuild'], _point_years(p, 'overbuild'))} / "
            f"{_runs(p['lab_defaults']['counterfactual'], _point_years(p, 'counterfactual'))}"
            " | "
            f"{_num(m['peak_overbuild_ratio'], '{:.2f}')} | "
            f"{_num(m['share_below_break_even'], '{:.1%}')} | "
            f"{_num(m['mean_spot'], '{:.2f}')} | {_num(m['defaults'], '{:.1f}')} | "
            f"{len(p['failed'])} |")
    lines.append("")
    if s["glut_starts"]:
        shown = "; ".join(", ".join(f"{_short(k)} = {v}" for k, v in sorted(p.items())
                                    if k in keys) for p in s["glut_starts"])
        lines.append(f"**Where the glut starts:** {s['glut_points']} of {len(s['points'])} "
                     f"points have a glut; the fewest assumptions changed from the file's "
                     f"values that give one: {s['fewest_changes']}, at {shown}.")
    else:
        lines.append(f"**Where the glut starts:** no point of the grid has a glut "
                     f"(a 95% CI entirely above {GLUT_WEEKS_THRESHOLD:.0%}).")
    if any(p["failed"] for p in s["points"]):
        lines += ["", "*Failed runs* did not finish: the economy's cash outgrew the exchange's "
                  "integer balances (2^62 micro-USD, about $4.6T, per account and per asset "
                  "outstanding). A point's verdict rests on the seeds that finished; with "
                  f"fewer than {MIN_SEEDS} it is inconclusive."]
    return "\n".join(lines) + "\n"


def sensitivity_chart(s: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """Share of glut weeks per grid point with its interval, coloured by verdict, and the
    counterfactual's share at the same point; the threshold as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = s["points"]
    if not points:
        return []
    colors = {YES: "C3", NO: "C2", INCONCLUSIVE: "C7"}
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(points) + 1.6), dpi=90)
    for i, p in enumerate(points):
        c = p["counterfactual_glut_weeks_share"]
        if c["mean"] is not None:
            ax.plot([c["mean"]], [i], "x", color="black", ms=5)
        g = p["glut_weeks_share"]
        if g["mean"] is None:
            continue
        err = ([[g["mean"] - g["low"]], [g["high"] - g["mean"]]] if g["low"] is not None
               else None)
        ax.errorbar([g["mean"]], [i], xerr=err, fmt="o", color=colors[p["verdict"]],
                    capsize=3, ms=5)
    ax.axvline(GLUT_WEEKS_THRESHOLD, color="grey", ls="--", lw=0.8)
    ax.set_yticks(range(len(points)),
                  [_label(p) + (f" ({len(p['failed'])} runs failed)" if p["failed"] else "")
                   for p in points], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share of glut weeks (spot below break-even while capacity > demand)")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=f"glut: {v}")
               for v, c in colors.items()]
    handles.append(plt.Line2D([], [], marker="x", ls="", color="black",
                              label="counterfactual (same point, same seeds)"))
    ax.legend(handles=handles, loc="best", fontsize=7)
    return [_save(fig, out, "sensitivity.png",
                  "Share of glut weeks per grid point (overbuild runs: mean and 95% t-interval "
                  "across seeds, coloured by verdict; x: the counterfactual's mean), labelled "
                  "by the assumptions changed from the file's values; dashed: the threshold.")]


def format_sensitivity(s: dict[str, Any]) -> str:
    """The lines ``cmx`` prints about the grid."""
    lines = [f"  glut by grid point ({len(s['points'])} points, "
             f"{s['glut_points']} with a glut):"]
    for p in s["points"]:
        lines.append(f"    {_label(p):48s} glut weeks {_ci(p['glut_weeks_share']):24s} "
                     f"{p['verdict']:12s} lab defaulted "
                     f"{_runs(p['lab_defaults']['overbuild'], _point_years(p, 'overbuild'))}")
    return "\n".join(lines)
