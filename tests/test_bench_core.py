"""Smoke test of ``cmx bench core``: it runs end to end, prints one JSON object, and every
engine that ran agrees on what traded. No timing assertions: speed goals are checked by the
benchmark itself (see docs/performance.md), not by tests on a shared machine."""

from __future__ import annotations

import json

from bench.core import ENGINES, STREAMS
from exchange.cli import main

SMALL = ["--ops", "3000", "--deep-resting", "3000", "--memory-orders", "2000"]


def test_bench_core_quick_json(capsys) -> None:
    code = main(["bench", "core", "--quick", "--json", *SMALL])
    out = capsys.readouterr().out
    report = json.loads(out)  # the whole of stdout is one JSON object
    assert code == 0
    assert report["benchmark"] == "core" and report["quick"] is True
    assert report["environment"]["core"] in ("compiled", "interpreted")
    assert report["timer_overhead_ns"] >= 0
    assert set(report["streams"]) == set(STREAMS)
    for stream in report["streams"].values():
        assert stream["ops"] == 3000
        engines = stream["engines"]
        assert set(engines) == set(ENGINES)
        finished = {name: r for name, r in engines.items() if r.get("ok")}
        # the interpreted twins run beside ours and must trade exactly what they trade
        assert {"book", "engine", "book_interpreted", "engine_interpreted"} <= set(finished)
        assert "engine_interpreted" in stream["ratios"]["engine"]
        assert stream["agreement"]["disagree"] == []
        assert len({r["traded_qty"] for r in finished.values()}) == 1
        assert len({r["trades"] for r in finished.values() if r["trades"] is not None}) == 1
        for r in finished.values():
            assert r["traded_qty"] > 0 and r["ops_per_s"] > 0
            assert set(r["latency_us"]) >= {"p50", "p99", "p99_9", "max"}
            assert r["gc"]["max_pause_ms"] >= 0
        assert set(stream["ratios"]) == {"book", "engine"}
        for name in ("book", "engine"):
            by_fills = finished[name]["latency_by_fills_us"]
            assert all(g["p50"] <= g["p99"] for g in by_fills.values())
            assert sum(group["n"] for group in by_fills.values()) == stream["ops"]
            assert by_fills["0"]["n"] > by_fills["1"]["n"] > 0
    assert set(report["memory"]["bytes_per_order"]) >= {"book", "engine"}
    assert all(v > 0 for v in report["memory"]["bytes_per_order"].values())
    assert {t["key"] for t in report["targets"]} >= {
        "book_ops_per_s", "book_p99_9_us", "engine_ops_per_s", "engine_p99_us",
        "book_bytes_per_order", "engine_bytes_per_order", "gc_max_pause_ms",
        "gc_full_collect_ms",
    }


def test_missing_benchmark_module_is_reported_not_raised(capsys) -> None:
    import argparse

    from bench.cli import run_benchmark

    args = argparse.Namespace(benchmark="no_such_benchmark", quick=True, json=True)
    assert run_benchmark(args) != 0
    captured = capsys.readouterr()
    assert "not available" in captured.err and captured.out == ""


def test_fills_per_op_counts_every_trade_of_the_stream() -> None:
    """The per-operation fill counts behind the latency-by-fills table add up to the trades
    the book makes on the same stream, and cancels and resting orders count zero."""
    from bench.ours import BookAdapter, fills_per_op
    from bench.streams import CANCEL, standard_stream

    stream = standard_stream(3, 4000)
    fills = fills_per_op(stream)
    adapter = BookAdapter()
    adapter.load(stream)
    adapter.reset()
    _, trades = adapter.run()
    assert len(fills) == len(stream.ops) and sum(fills) == trades > 0
    assert all(f == 0 for f, op in zip(fills, stream.ops, strict=True) if op[0] == CANCEL)
    assert max(fills) >= 3


def test_the_text_report_shows_every_figure_of_the_json(capsys) -> None:
    """``render`` is what a user reads: each stream's table, the per-kind and per-fill latency
    lines for our book and engine, memory, targets and flags, from the same report."""
    from bench.core import render

    assert main(["bench", "core", "--quick", "--json", *SMALL,
                 "--engines", "book,engine,sorted_book"]) == 0
    report = json.loads(capsys.readouterr().out)
    text = render(report)
    assert "QUICK: indicative only" in text
    for stream in STREAMS:
        assert f"[{stream}] 3,000 ops" in text
    engine = report["streams"]["standard"]["engines"]["engine"]
    assert f"{engine['ops_per_s']:,}" in text
    for ours in ("book", "engine"):
        assert f"  {ours} latency by kind, p50/p99 us: passive" in text
        assert f"  {ours} latency by makers taken, p50/p99 us: 0: " in text
    zero = engine["latency_by_fills_us"]["0"]
    assert f"0: {zero['p50']:.2f}/{zero['p99']:.2f} (n={zero['n']:,})" in text
    assert "ratio book ops/s to: engine x" in text and "sorted_book x" in text
    assert "[memory] bytes per resting order, 2,000 resting orders" in text
    assert text.count("MET ") + text.count("MISS") == len(report["targets"])
