"""What a run with an economy prints and charts: the glut summary and the economy chart.

Kept apart from the driver so that the driver is only the period loop and the agents' view;
both functions read the run's summary and its ``economy`` table, nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa


def format_summary(summary: dict[str, Any]) -> str:
    """The economy's lines of the printed run summary (empty without an economy)."""
    if "econ_periods" not in summary:
        return ""
    s = summary
    unpaid = s.get("econ_lab_unpaid_usd", 0.0) / 1e9
    gain = s.get("econ_lab_resale_gain_usd", 0.0) / 1e9
    lines = [
        f"  economy: {s['econ_periods']:.0f} weeks ({s['econ_years']:.1f} years), strategic "
        f"overbuild {'on' if s['econ_strategic_overbuild'] else 'off'}",
        f"    spot $/GPU-h: mean {s['econ_mean_spot']:.3f}, min {s['econ_min_spot']:.3f}, "
        f"final {s['econ_final_spot']:.3f}; break-even {s['econ_break_even']:.3f}; "
        f"{s['econ_share_below_break_even']:.1%} of weeks below break-even",
        f"    overbuild ratio (capacity / demand at break-even): peak "
        f"{s['econ_peak_overbuild_ratio']:.2f}, {s['econ_share_overbuilt']:.1%} of weeks above 1;"
        f" mean utilisation {s['econ_mean_utilisation']:.1%}",
        f"    capacity {s['econ_final_capacity_gw']:.1f} GW at the end, "
        f"{s['econ_final_contracted_gw']:.1f} GW contracted; seller defaults "
        f"{s['econ_defaults']:.0f}",
        f"    lab cost per GPU-hour: net {s['econ_lab_avg_cost']:.3f} (per hour used, resales "
        f"at the lower of cost and price), gross {s['econ_lab_gross_cost']:.3f} (per hour "
        f"acquired); take-or-pay counted as owed, ${unpaid:.1f}B of it unpaid; resale gain "
        f"above cost ${gain:.1f}B",
    ]
    if "econ_lab_all_in_cost" in s:
        default = (f"defaulted in {s['econ_lab_default_year']:.1f}"
                   if s.get("econ_lab_defaulted") else "did not default")
        lines.append(
            f"    lab funding (backstop {'on' if s.get('econ_lab_backstop') else 'off'}): "
            f"equity ${s['econ_lab_equity_raised_usd'] / 1e9:.1f}B, notes "
            f"${s['econ_lab_notes_issued_usd'] / 1e9:.1f}B, vendor credit "
            f"${s['econ_lab_vendor_credit_usd'] / 1e9:.1f}B, deferred by sellers "
            f"${s['econ_lab_deferred_usd'] / 1e9:.1f}B; arrears paid down "
            f"${s['econ_lab_arrears_paid_usd'] / 1e9:.1f}B, written off "
            f"${s['econ_lab_written_off_usd'] / 1e9:.1f}B; {default}; all-in cost "
            f"{s['econ_lab_all_in_cost']:.3f} $/GPU-h (financing "
            f"${s['econ_lab_financing_cost_usd'] / 1e9:.1f}B accrued)")
    shares = {k[len("econ_circular_share_"):]: v for k, v in sorted(s.items())
              if k.startswith("econ_circular_share_")}
    if shares:
        lines.append("    circular revenue share: "
                     + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()))
    return "\n".join(lines)


#: (summary key, column title, format) of the per-case comparison ``cmx run`` prints
_COMPARED = (
    ("econ_mean_spot", "spot mean", "{:.3f}"),
    ("econ_min_spot", "spot min", "{:.3f}"),
    ("econ_share_below_break_even", "weeks < b-e", "{:.1%}"),
    ("econ_peak_overbuild_ratio", "peak ratio", "{:.2f}"),
    ("econ_defaults", "defaults", "{:.1f}"),
    ("econ_final_contracted_gw", "contracted GW", "{:.1f}"),
    ("econ_lab_avg_cost", "lab net $/h", "{:.3f}"),
    ("econ_lab_gross_cost", "lab gross $/h", "{:.3f}"),
    ("econ_lab_all_in_cost", "lab all-in $/h", "{:.3f}"),
    ("econ_lab_defaulted", "lab defaulted", "{:.0%}"),
)


def format_comparison(rows: list[dict[str, Any]], cases: dict[int, str],
                      labels: list[str]) -> str:
    """One line per case: each economy number's mean across that case's seeds (the report
    gives the intervals and the verdicts). ``cases`` maps run id to case label."""
    width = max(len(x) for x in labels) + 2
    head = "  " + "case".ljust(width) + "seeds " + " ".join(t.rjust(13) for _, t, _ in _COMPARED)
    lines = ["  mean across seeds:", head]
    for label in labels:
        group = [r for r in rows if cases.get(int(r["run_id"])) == label]
        if not group:
            continue
        cells = []
        for key, _, fmt in _COMPARED:
            values = [float(r[key]) for r in group if r.get(key) is not None]
            cells.append((fmt.format(sum(values) / len(values)) if values else "n/a").rjust(13))
        lines.append("  " + label.ljust(width) + str(len(group)).rjust(5) + " " + " ".join(cells))
    return "\n".join(lines)


def economy_chart(table: pa.Table, path: Path, title: str) -> None:
    """Spot price against break-even and marginal cost, and the overbuild ratio and
    utilisation, per simulated year (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = {name: table.column(name).to_numpy(zero_copy_only=False)
            for name in ("year", "spot_price", "break_even", "marginal_cost",
                         "overbuild_ratio", "utilisation", "lab_avg_cost")}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), dpi=100, sharex=True)
    year = cols["year"]
    top.plot(year, cols["spot_price"], lw=1.2, label="spot (VWAP)")
    top.plot(year, cols["break_even"], lw=1.0, ls="--", label="break-even")
    top.plot(year, cols["marginal_cost"], lw=1.0, ls=":", label="marginal cost")
    top.plot(year, cols["lab_avg_cost"], lw=1.0, label="lab net cost to date")
    top.set_ylabel("USD per GPU-hour")
    top.set_title(title)
    top.legend(loc="best", fontsize=8)
    bottom.plot(year, cols["overbuild_ratio"], lw=1.2, label="overbuild ratio")
    bottom.plot(year, cols["utilisation"], lw=1.0, label="utilisation")
    bottom.axhline(1.0, color="grey", lw=0.6)
    bottom.set_xlabel("year")
    bottom.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
