"""Scenario files: every error names the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import loaded, scenario

from scenarios.config import PACKAGE_DIR, ScenarioError, load, read_raw

ZI = {"name": "b", "class": "zi_c", "count": 2, "instrument": "ASSET_USD", "cash": 1000.0,
      "params": {"role": "buyer", "units": 2}}


def error_of(raw: dict, **kw) -> str:
    with pytest.raises(ScenarioError) as info:
        loaded(raw, **kw)
    return str(info.value)


def test_shipped_scenarios_and_all_their_cases_load() -> None:
    files = sorted(PACKAGE_DIR.glob("*.toml"))
    assert {f.stem for f in files} >= {"noise_market", "classic_double_auction", "fpz_spread"}
    for file in files:
        load(file)
        for case in read_raw(file).get("cases", {}):
            load(file, case)


def test_unknown_key_is_named() -> None:
    raw = scenario([ZI])
    raw["agents"][0]["colour"] = "red"
    assert "key `agents[0].colour`: unknown key" in error_of(raw)
    raw = scenario([ZI])
    raw["scenario"]["durration"] = 5.0
    assert "`scenario.durration`" in error_of(raw)


def test_wrong_type_and_impossible_values() -> None:
    raw = scenario([{**ZI, "count": "two"}])
    message = error_of(raw)
    assert message.startswith("<test>: key `agents[0].count`: Expected `int`, got `str`")
    raw = scenario([{**ZI, "count": -1}])
    assert "key `agents[0].count`: Expected `int` >= 0" in error_of(raw)
    raw = scenario([ZI], duration=-5.0)
    assert "key `scenario.duration`: Expected `float` > 0" in error_of(raw)


def test_runs_too_long_to_represent_or_precompute_are_rejected_before_they_start() -> None:
    raw = scenario([ZI], duration=1e30)
    assert ("key `scenario.duration`: 1e+30 s runs past the virtual clock (int64 "
            "nanoseconds): at most about 292 years") in error_of(raw)
    # from a start in 2026 there is less of the clock left
    raw = scenario([ZI], duration=300 * 365.25 * 86400, start="2026-01-01T00:00:00Z")
    assert "at most about 236 years from the start" in error_of(raw)
    fundamental = {"name": "fundamental", "kind": "ou", "initial": 100.0, "interval": 1.0}
    raw = scenario([ZI], duration=2e7)
    raw["exogenous"] = [fundamental]
    assert ("key `exogenous[0].interval`: series 'fundamental' would need 20,000,000 points "
            "over the 2e+07 s run at 1 s each (at most 10,000,000)") in error_of(raw)
    raw["exogenous"] = [{**fundamental, "interval": 2.0}]
    assert loaded(raw).scenario.scenario.duration == 2e7  # 10M points: the limit is inclusive


def test_agent_params_are_validated_against_the_class() -> None:
    raw = scenario([{**ZI, "params": {"role": "buyer", "rate": -1.0}}])
    assert "key `agents[0].params.rate`: Expected `float` > 0.0" in error_of(raw)
    raw = scenario([{**ZI, "params": {"role": "trader"}}])
    assert "key `agents[0].params.role`" in error_of(raw)
    raw = scenario([{**ZI, "params": {"role": "buyer", "speed": 3}}])
    assert "key `agents[0].params.speed`: unknown key" in error_of(raw)
    raw = scenario([{**ZI, "params": {"role": "buyer", "price_min": 300.0}}])
    assert "key `agents[0].params`: price_min must be below price_max" in error_of(raw)


def test_cross_references() -> None:
    assert "key `agents[0].class`: unknown agent class 'zi_x'" in error_of(
        scenario([{**ZI, "class": "zi_x"}]))
    assert "key `agents[0].instrument`: unknown instrument 'NOPE'" in error_of(
        scenario([{**ZI, "instrument": "NOPE"}]))
    assert "key `agents[0].assets.GOLD`: unknown asset" in error_of(
        scenario([{**ZI, "assets": {"GOLD": 1}}]))
    bad_series = {"name": "v", "class": "value", "instrument": "ASSET_USD",
                  "params": {"series": "missing"}}
    assert "key `agents[0].params.series`: no exogenous series named 'missing'" in error_of(
        scenario([bad_series]))
    bad_tick = scenario([ZI])
    bad_tick["market"]["instruments"][0]["tick_size"] = "-1"
    assert "key `market.instruments[0]`: tick_size and lot_size must be positive" in error_of(
        bad_tick)


def test_cases_and_overrides() -> None:
    raw = scenario([ZI, {**ZI, "name": "s", "params": {"role": "seller", "units": 2}}])
    raw["cases"] = {"unconstrained": {"agents": {"b": {"class": "zi_u", "count": 3}},
                                      "scenario": {"duration": 9.0}}}
    case = loaded(raw, case="unconstrained")
    assert case.scenario.agents[0].cls == "zi_u" and case.scenario.agents[0].count == 3
    assert case.scenario.scenario.duration == 9.0
    assert case.scenario.agents[1].cls == "zi_c"
    assert "no case named 'nope' (cases: unconstrained)" in error_of(raw, case="nope")
    over = loaded(raw, overrides={"agents.s.params.units": 4, "scenario.seed": 9})
    assert over.agent_params[1].units == 4 and over.scenario.scenario.seed == 9
    assert "override `agents.zz.count`: \"no agent group named 'zz'\"" in error_of(
        raw, overrides={"agents.zz.count": 1})


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\nname = 1")
    with pytest.raises(ScenarioError, match=r"bad.toml: not valid TOML"):
        load(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[scenario]\nname = "x"\nduration = "long"\n[market]\npreset = "compute"\n'
                     "agents = []\n")
    with pytest.raises(ScenarioError, match=r"wrong.toml: key `scenario.duration`: Expected"):
        load(wrong)
    with pytest.raises(ScenarioError, match="no such file"):
        load(tmp_path / "missing.toml")
