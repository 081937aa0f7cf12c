"""The economy driver on the exchange: the intents it applies, the perishing of unsold hours,
the flow-of-funds ledger against the cash the exchange moved, determinism and conservation."""

from __future__ import annotations

from collections import defaultdict

import pytest

from agents.economy.intents import GPUH, KWH, BurnIntent, MintIntent
from agents.economy.ledger import LedgerMismatch
from exchange.core.instruments import USD
from exchange.core.messages import Burn, Deposit, Mint
from scenarios.config import load
from scenarios.runner import Simulation, run

WEEKS = 12


def small(case: str | None = None, weeks: int = WEEKS, **extra: object) -> Simulation:
    overrides = {"scenario.duration": 60.0 * weeks, "scenario.charts": False, **extra}
    return Simulation(load("compute_glut", case, overrides), 3)


def test_mints_and_burns_are_the_economys_plan_and_unsold_hours_perish() -> None:
    sim = small()
    driver = sim.economy
    econ = driver.economy
    plans, results = [], []
    open_, close = econ.open_period, econ.close_period
    econ.open_period = lambda *a, **k: plans.append(open_(*a, **k)) or plans[-1]
    econ.close_period = lambda obs: results.append(close(obs)) or results[-1]
    applied: dict[tuple[int, str, str, str], int] = defaultdict(int)

    def observe(command, events, ts) -> None:  # noqa: ANN001
        if isinstance(command, Mint | Burn):
            kind = "mint" if isinstance(command, Mint) else "burn"
            applied[(ts, kind, driver.by_account[command.account], command.asset)] += \
                command.amount

    sim.venue.observers.append(observe)
    held_before_close: list[dict[str, int]] = []
    after_close: list[dict[str, tuple[int, int]]] = []
    real_close = driver._close

    def checked_close() -> None:
        held_before_close.append({e: driver._holding(e, GPUH) for e in driver.accounts})
        real_close()
        after_close.append({e: (driver._holding(e, GPUH), driver._holding(e, KWH))
                            for e in driver.accounts})

    driver._close = checked_close
    sim.run()
    assert len(plans) == WEEKS and len(results) == WEEKS
    period_ns = driver.period_ns()
    for k, plan in enumerate(plans):
        ts = sim.start_ns + k * period_ns
        for intent in plan.intents:
            if isinstance(intent, MintIntent) and intent.lots:
                assert applied[(ts, "mint", intent.holder, intent.asset)] >= intent.lots
        minted = sum(i.lots for i in plan.intents
                     if isinstance(i, MintIntent) and i.asset == GPUH)
        assert minted == sum(v for (t, kind, _, asset), v in applied.items()
                             if t == ts and kind == "mint" and asset == GPUH)
        assert minted > 0
    for k, result in enumerate(results):
        burned: dict[str, int] = defaultdict(int)
        for i in result.intents:
            if isinstance(i, BurnIntent) and i.asset == GPUH:
                burned[i.holder] += i.lots
        # every hour an entity still held when the period closed was burned: sold hours were
        # consumed, the rest perished
        for entity, held in held_before_close[k].items():
            assert burned.get(entity, 0) == held, (k, entity)
        for entity, (gpuh, _) in after_close[k].items():
            assert gpuh == 0, (k, entity)
        assert after_close[k][econ.params.power.producer][1] == 0  # unsold power is not kept


def test_flows_of_funds_match_the_cash_the_exchange_moved() -> None:
    sim = small()
    sim.run()
    driver = sim.economy
    ledger = driver.economy.ledger
    assert ledger.transfers
    for t in ledger.transfers:
        assert sum(v for _, _, v in t.parts) == t.amount
    cash = {e: driver._holding(e, USD) for e in driver.accounts}
    for entity, micros in cash.items():
        assert ledger.balance(entity) == micros, entity
    assert ledger.total() == sum(cash.values())
    kinds = {t.kind for t in ledger.transfers}
    assert {"compute_purchase", "energy_purchase", "end_user_revenue", "opex",
            "debt_service"} <= kinds


def test_an_unreported_cash_movement_is_caught() -> None:
    sim = small(weeks=3)
    driver = sim.economy
    account = driver.accounts["msft"]

    def leak(s: Simulation) -> None:
        s.venue.apply_now(Deposit(account=account, asset=USD, amount=1))

    sim.every(90.0, leak, first=90.0)  # mid-week 2: money the ledger never heard of
    with pytest.raises(LedgerMismatch):
        sim.run()


def test_conservation_holds_at_the_end() -> None:
    sim = small()
    sim.run()
    sim.engine.check_invariants()
    assert sim.engine.external[GPUH] == sum(
        a.assets.get(GPUH, 0) for a in sim.engine.accounts.values())


def test_same_seed_same_tables(tmp_path) -> None:  # noqa: ANN001
    from scenarios.outputs import write_parquet

    loaded = load("compute_glut", None, {"scenario.duration": 60.0 * 8})
    first = run(loaded, 5)
    second = run(loaded, 5)
    assert "economy" in first.tables
    for name, table in first.tables.items():
        a, b = tmp_path / f"a_{name}.parquet", tmp_path / f"b_{name}.parquet"
        write_parquet(table, a)
        write_parquet(second.tables[name], b)
        assert a.read_bytes() == b.read_bytes(), name
    assert first.summary == second.summary
    other = run(loaded, 6)
    assert other.summary["state_hash"] != first.summary["state_hash"]


def test_economy_section_errors_name_the_key() -> None:
    from scenarios.config import ScenarioError

    with pytest.raises(ScenarioError, match="economy"):
        load("compute_glut", None, {"economy.period_secs": 60.0})
    with pytest.raises(ScenarioError, match="strategic_overbild"):
        load("compute_glut", None,
             {"economy.params.commitments.strategic_overbild": False})
    with pytest.raises(ScenarioError, match=r"agents\[1\].params.entity.*'msfx'"):
        load("compute_glut", None, {"agents.msft.params.entity": "msfx"})


def test_hedge_desks_take_opposite_sides_of_the_strip() -> None:
    sim = small()
    sim.run()
    driver = sim.economy
    desks = {g: a for a, g in zip(sim.agents, sim.groups, strict=True) if g.endswith("_desk")}
    strip = [f.name for f in driver.strip]

    def position(group: str) -> int:
        return sum(sim.engine.accounts[desks[group].agent_id].positions[name].size
                   for name in strip
                   if name in sim.engine.accounts[desks[group].agent_id].positions)

    assert position("lab_desk") > 0  # the lab buys on spot: it hedges long
    assert sum(position(g) for g in desks) == 0  # every future has a buyer for each seller
    assert min(position(g) for g in desks if g != "lab_desk") < 0


def test_purchases_funded_by_sales_in_the_same_period_are_recorded_after_them() -> None:
    from agents.economy import Purchase

    driver = small(weeks=1).economy
    cash = driver.economy.ledger.balance("lab")
    buys = Purchase("lab", "msft", cash + 5, 1.0)  # more than the lab held at the start...
    sells = Purchase("users", "lab", 10, 1.0)  # ...paid for by hours it resold
    driver.economy.fund("users", 10, "end_users", "end_user_revenue")
    assert driver._payable_order([buys, sells]) == [sells, buys]
    assert driver._payable_order([sells, buys]) == [sells, buys]
