"""``cmx bench gateway --quick`` runs end to end and reports every figure."""

from __future__ import annotations

import argparse

from bench import gateway


def test_bench_gateway_quick() -> None:
    parser = argparse.ArgumentParser()
    gateway.add_arguments(parser)
    args = parser.parse_args(["--timeout", "60"])
    args.quick = True
    report = gateway.run(args)
    assert report["concurrent_clients"]["errors"] == 0
    assert report["concurrent_clients"]["orders"] == 100 * 20  # quick mode: 20 per client
    assert report["gateway"]["pipelined_errors"] == 0
    assert report["echo"]["rtt_p50_us"] > 0 and report["gateway"]["rtt_p50_us"] > 0
    assert report["fanout"]["subscribers"] == 100 and report["fanout"]["p50_us"] > 0
    assert report["server_memory_kb"]["rss"] > 0
    assert set(report["targets"]) == {"rtt_p50_at_most_1.5x_echo",
                                      "pipelined_at_least_0.6x_echo", "100_clients_zero_errors",
                                      "journal_zero_errors",
                                      "group_commit_keeps_80pct_throughput"}
    journal = report["journal"]
    assert set(journal) == {"filesystem", "no_journal", "always", "batch", "none"}
    assert journal["always"]["fsyncs"] == journal["always"]["commands"] > 0
    assert 0 < journal["batch"]["fsyncs"] < journal["batch"]["commands"]  # group commit
    assert journal["none"]["fsyncs"] == 0
    assert all(journal[p]["errors"] == 0 for p in ("no_journal", "always", "batch", "none"))
    assert "journal (" in gateway.render(report)
    assert "gateway benchmark" in gateway.render(report)
