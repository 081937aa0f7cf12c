"""Scenario files: TOML decoded into ``msgspec`` structs, validated before anything runs.

The structs below are the single definition of the file format (docs/scenarios.md lists every
key). Loading goes: TOML text -> plain dict -> the chosen case's overrides and any sweep
overrides merged in -> ``msgspec.convert`` into ``Scenario`` -> cross-reference checks (agent
classes and their ``Params``, instruments, series names). Every failure is a ``ScenarioError``
whose message names the file, the key and what was expected, e.g.::

    scenarios/x.toml: key `agents[1].params.rate`: Expected `float` > 0.0, got `-1.0`
"""

from __future__ import annotations

import copy
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from exchange.core.instruments import InstrumentSpec, default_instruments

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
PACKAGE_DIR = Path(__file__).resolve().parent


class ScenarioError(ValueError):
    """A scenario file that cannot be run, with the file, key and expectation in the text."""


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of every section: unknown keys are errors, not silently ignored typos."""


class Meta(_Strict, kw_only=True):
    name: str
    description: str = ""
    seed: Annotated[int, msgspec.Meta(ge=0)] = 0
    duration: Positive  # seconds of virtual time
    start: datetime | None = None  # virtual start instant (UTC); default the epoch
    warmup: NonNegative = 0.0  # seconds left out of summary statistics
    sample_interval: Positive = 60.0  # seconds between agent-state and macro samples
    record_orders: bool = True
    record_quotes: bool = True
    charts: bool = True

    def __post_init__(self) -> None:
        if self.warmup >= self.duration:
            raise ValueError("warmup must be shorter than duration")

    @property
    def start_ns(self) -> int:
        if self.start is None:
            return 0
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=UTC)
        return int(start.timestamp()) * 1_000_000_000


class InstrumentConfig(InstrumentSpec, forbid_unknown_fields=True, frozen=True):
    """An instrument listed by the scenario (same keys as the core's ``InstrumentSpec``)."""

    def __post_init__(self) -> None:
        problem = self.validate()
        if problem:
            raise ValueError(problem)

    def to_spec(self) -> InstrumentSpec:
        return InstrumentSpec(**msgspec.structs.asdict(self))


class Market(_Strict, kw_only=True):
    #: "compute": the default compute-market instruments (GPU-hour spot and futures, kWh and
    #: compute-credit tokens); "none": only the instruments listed below.
    preset: Literal["compute", "none"] = "none"
    instruments: list[InstrumentConfig] = []

    def __post_init__(self) -> None:
        names = [i.name for i in self.instruments]
        if self.preset == "none" and not names:
            raise ValueError("list at least one instrument or use preset = \"compute\"")
        if len(set(names)) != len(names):
            raise ValueError("instrument names must be unique")

    def specs(self) -> list[InstrumentSpec]:
        base = default_instruments() if self.preset == "compute" else []
        return base + [i.to_spec() for i in self.instruments]


class Latency(_Strict, kw_only=True):
    order_us: NonNegative = 0.0  # agent -> exchange, microseconds
    event_us: NonNegative = 0.0  # exchange -> agent
    jitter_us: NonNegative = 0.0  # uniform extra delay on each message


class AgentGroup(_Strict, kw_only=True):
    name: str
    cls: str = msgspec.field(name="class")
    count: Annotated[int, msgspec.Meta(ge=0)] = 1
    instrument: str
    cash: NonNegative = 0.0  # USD deposited into each agent's account
    assets: dict[str, Annotated[int, msgspec.Meta(ge=0)]] = {}  # lots minted to each agent
    latency: Latency = Latency()
    params: dict[str, Any] = {}


class Series(_Strict, kw_only=True):
    """An exogenous series, precomputed on a grid of ``interval`` seconds from its own stream."""

    name: str
    kind: Literal["constant", "random_walk", "ou", "gbm"] = "constant"
    initial: Positive
    mean: float | None = None  # OU: level it reverts to (default: initial)
    kappa: NonNegative = 0.0  # OU: reversion speed per second
    sigma: NonNegative = 0.0  # per sqrt(second); relative for gbm, absolute otherwise
    interval: Positive = 1.0
    floor: float = 0.01  # values never go below this


class Shock(_Strict, kw_only=True):
    """From ``at`` seconds on, a series becomes ``value * scale + add``."""

    at: NonNegative
    series: str
    add: float = 0.0
    scale: float = 1.0


class Sweep(_Strict, kw_only=True):
    seeds: Annotated[int, msgspec.Meta(ge=1)] = 1
    #: dotted key -> values; agents are addressed by group name,
    #: e.g. "agents.flow.params.cancel_rate" = [0.1, 1.0]
    grid: dict[str, list[Any]] = {}
    per_task: Annotated[int, msgspec.Meta(ge=1)] = 8  # runs batched into one Dask task


class Compare(_Strict, kw_only=True):
    """What ``cmx run`` of the file does when neither ``--case`` nor ``--seed`` is given: the
    file as it stands and each of ``cases`` (its counterfactuals), all on the same ``seeds``
    seeds, then the report. One seed of one case cannot answer a question about a difference
    between cases, so a file that asks one says here how it must be run."""

    #: named cases run next to the file's own (e.g. ``["no_overbuild"]``), on the same seeds
    cases: list[str] = []
    #: seeds per case: the file's seed, +1, +2, ...
    seeds: Annotated[int, msgspec.Meta(ge=1)] = 1


class Scenario(_Strict, kw_only=True):
    scenario: Meta
    market: Market
    agents: list[AgentGroup]
    exogenous: list[Series] = []
    shocks: list[Shock] = []
    cases: dict[str, dict[str, Any]] = {}
    sweep: Sweep = Sweep()
    #: how ``cmx run`` runs the file by default (absent: one run of one seed)
    compare: Compare | None = None
    #: the macro economy stepped alongside the market (scenarios/economy_driver.py)
    economy: dict[str, Any] | None = None

    def specs(self) -> list[InstrumentSpec]:
        """Every instrument of the run: the market's, plus the futures strip an economy
        lists."""
        base = self.market.specs()
        if self.economy is None:
            return base
        from scenarios.economy_driver import extra_specs  # late: it imports the agents

        return base + extra_specs(self.economy, base, self.scenario.start_ns,
                                  self.scenario.duration)


class Loaded(msgspec.Struct, frozen=True):
    """A validated scenario and what produced it."""

    scenario: Scenario
    path: str
    case: str | None
    overrides: dict[str, Any]
    agent_params: list[Any]  # decoded Params struct per agent group


# -- loading ---------------------------------------------------------------------------------


def resolve_path(name: str | Path) -> Path:
    """A path, or the name of a scenario shipped in this package (``noise_market``)."""
    path = Path(name)
    if path.exists():
        return path
    shipped = PACKAGE_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if shipped.exists():
        return shipped
    choices = sorted(p.stem for p in PACKAGE_DIR.glob("*.toml"))
    raise ScenarioError(f"{name}: no such file (shipped scenarios: {', '.join(choices)})")


def read_raw(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from exc


def load(path: str | Path, case: str | None = None,
         overrides: dict[str, Any] | None = None) -> Loaded:
    """Load and validate a scenario file, applying a named case and dotted-key overrides."""
    file = resolve_path(path)
    raw = read_raw(file)
    return load_raw(raw, str(file), case, overrides or {})


def load_raw(raw: dict[str, Any], where: str, case: str | None = None,
             overrides: dict[str, Any] | None = None) -> Loaded:
    overrides = overrides or {}
    data = copy.deepcopy(raw)
    cases = data.get("cases", {})
    if case is not None:
        if not isinstance(cases, dict) or case not in cases:
            names = ", ".join(sorted(cases)) if isinstance(cases, dict) and cases else "none"
            raise ScenarioError(f"{where}: no case named {case!r} (cases: {names})")
        try:
            merge_case(data, cases[case])
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(f"{where}: key `cases.{case}`: {exc}") from exc
    for key, value in overrides.items():
        try:
            set_dotted(data, key, value)
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(f"{where}: override `{key}`: {exc}") from exc
    label = where if case is None else f"{where} (case {case!r})"
    try:
        scenario = msgspec.convert(data, Scenario)
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{label}: {_explain(exc, '')}") from exc
    params = _check_references(scenario, label)
    return Loaded(scenario, where, case, dict(overrides), params)


def _explain(exc: msgspec.ValidationError, prefix: str) -> str:
    """Turn msgspec's "msg - at `$.a[0].b`" into "key `a[0].b`: msg"."""
    text = str(exc)
    match = re.match(r"^(.*) - at `\$(.*)`$", text, re.S)
    message, path = match.groups() if match else (text, "")
    key = (prefix + path).lstrip(".")
    unknown = re.match(r"Object contains unknown field `(.*)`", message)
    if unknown:
        field = f"{key}.{unknown.group(1)}" if key else unknown.group(1)
        return f"key `{field}`: unknown key (not part of the format)"
    return f"key `{key}`: {message}" if key else message


def _check_references(scenario: Scenario, label: str) -> list[Any]:
    from agents.registry import resolve  # late: agents import the core only

    try:
        specs = scenario.specs()
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{label}: {_explain(exc, 'economy')}") from exc
    except ValueError as exc:
        raise ScenarioError(f"{label}: key `economy`: {exc}") from exc
    entities = None
    if scenario.economy is not None:
        from scenarios.economy_driver import entity_names

        entities = entity_names(scenario.economy)
    names = {s.name for s in specs}
    assets = {"USD"} | {s.base for s in specs if s.kind == "spot"}
    series = {s.name for s in scenario.exogenous}
    if len(series) != len(scenario.exogenous):
        raise ScenarioError(f"{label}: key `exogenous`: series names must be unique")
    groups = [g.name for g in scenario.agents]
    if len(set(groups)) != len(groups):
        raise ScenarioError(f"{label}: key `agents`: group names must be unique")
    decoded = []
    for i, group in enumerate(scenario.agents):
        where = f"agents[{i}]"
        try:
            cls = resolve(group.cls)
        except LookupError as exc:
            raise ScenarioError(f"{label}: key `{where}.class`: {exc}") from exc
        if group.instrument not in names:
            raise ScenarioError(f"{label}: key `{where}.instrument`: unknown instrument "
                                f"{group.instrument!r}; expected one of {sorted(names)}")
        for asset in group.assets:
            if asset not in assets or asset == "USD":
                raise ScenarioError(f"{label}: key `{where}.assets.{asset}`: unknown asset; "
                                    f"expected one of {sorted(assets - {'USD'})} "
                                    "(cash goes in `cash`)")
        try:
            params = msgspec.convert(group.params, cls.Params)
        except msgspec.ValidationError as exc:
            raise ScenarioError(f"{label}: {_explain(exc, where + '.params')}") from exc
        entity = getattr(params, "entity", None)
        if isinstance(entity, str):
            if entities is None:
                raise ScenarioError(f"{label}: key `{where}.class`: {group.cls!r} trades for "
                                    "an economy entity; the scenario needs an `[economy]`")
            if entity not in entities:
                raise ScenarioError(f"{label}: key `{where}.params.entity`: no economy entity "
                                    f"named {entity!r}; expected one of {entities}")
        ref = getattr(params, "series", None)
        if isinstance(ref, str) and ref not in series:
            raise ScenarioError(f"{label}: key `{where}.params.series`: no exogenous series "
                                f"named {ref!r}; expected one of {sorted(series)}")
        decoded.append(params)
    if scenario.compare is not None:
        for i, name in enumerate(scenario.compare.cases):
            if name not in scenario.cases:
                known = ", ".join(sorted(scenario.cases)) or "none"
                raise ScenarioError(f"{label}: key `compare.cases[{i}]`: no case named "
                                    f"{name!r} (cases: {known})")
    for i, shock in enumerate(scenario.shocks):
        if shock.series not in series:
            raise ScenarioError(f"{label}: key `shocks[{i}].series`: no exogenous series named "
                                f"{shock.series!r}; expected one of {sorted(series)}")
    _check_sizes(scenario, label)
    return decoded


#: The virtual clock is int64 nanoseconds, in the engine's timestamps and the Parquet tables.
MAX_CLOCK_NS = 2**63 - 1
#: Points of one precomputed exogenous path (a float each, held for the whole run: ~32 bytes
#: per point, so 10M points is ~320 MB).
MAX_SERIES_POINTS = 10_000_000


def _check_sizes(scenario: Scenario, label: str) -> None:
    """Reject runs that cannot be represented or held, before anything is allocated: a
    duration past the int64 nanosecond clock, or an exogenous path too long to precompute."""
    meta = scenario.scenario
    end_ns = meta.start_ns + meta.duration * 1e9
    if end_ns >= MAX_CLOCK_NS:
        years = (MAX_CLOCK_NS - meta.start_ns) / 1e9 / (365.25 * 86400)
        raise ScenarioError(f"{label}: key `scenario.duration`: {meta.duration:g} s runs past "
                            "the virtual clock (int64 nanoseconds): at most about "
                            f"{years:.0f} years from the start")
    for i, path in enumerate(scenario.exogenous):
        points = meta.duration / path.interval
        if points > MAX_SERIES_POINTS:
            raise ScenarioError(
                f"{label}: key `exogenous[{i}].interval`: series {path.name!r} would need "
                f"{points:,.0f} points over the {meta.duration:g} s run at {path.interval:g} s "
                f"each (at most {MAX_SERIES_POINTS:,}); use a longer interval or a shorter run")


# -- overrides ---------------------------------------------------------------------------------


def merge_case(data: dict[str, Any], case: dict[str, Any]) -> None:
    """Deep-merge a case into the scenario. ``agents`` in a case is a table keyed by group
    name (``[cases.no_mm.agents.mm] count = 0``), since TOML cannot address list items."""
    for key, value in case.items():
        if key == "agents":
            if not isinstance(value, dict):
                raise TypeError("`agents` in a case must be a table keyed by group name")
            for group_name, patch in value.items():
                group = _group(data, group_name)
                _deep_merge(group, patch)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            _deep_merge(data[key], value)
        else:
            data[key] = copy.deepcopy(value)


def _deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _group(data: dict[str, Any], name: str) -> dict[str, Any]:
    for group in data.get("agents", []):
        if isinstance(group, dict) and group.get("name") == name:
            return group
    raise KeyError(f"no agent group named {name!r}")


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``agents.flow.params.cancel_rate`` style keys (agents addressed by group name)."""
    parts = key.split(".")
    node: Any = data
    i = 0
    while i < len(parts) - 1:
        part = parts[i]
        if part == "agents" and node is data:
            node = _group(data, parts[i + 1])
            i += 2
            continue
        if not isinstance(node, dict):
            raise KeyError(f"{'.'.join(parts[:i])} is not a table")
        node = node.setdefault(part, {})
        i += 1
    if not isinstance(node, dict) or i >= len(parts):
        raise KeyError("key must name a value inside a table")
    node[parts[-1]] = copy.deepcopy(value)


def resolved_value(loaded: Loaded, key: str) -> Any:
    """The value a dotted key (as in ``--set`` and sweep grids) has in a loaded scenario, with
    every default filled in: what the file says, else the default of the struct that reads it
    (``[economy]`` keys resolve through the economy's own parameters). None if the key names
    nothing. A sweep records these so a report can tell which grid point is the file as
    shipped."""
    data: Any = msgspec.to_builtins(loaded.scenario)
    if loaded.scenario.economy is not None:
        from scenarios.economy_driver import decode  # late: it imports the agents

        cfg, params = decode(loaded.scenario.economy)
        economy = msgspec.to_builtins(cfg)
        economy["params"] = msgspec.to_builtins(params)
        data["economy"] = economy
    groups = {g["name"]: dict(g, params=msgspec.to_builtins(p))
              for g, p in zip(data.get("agents", []), loaded.agent_params, strict=True)}
    parts = key.split(".")
    node: Any = data
    i = 0
    while i < len(parts):
        if i == 0 and parts[0] == "agents" and len(parts) > 1:
            node = groups.get(parts[1])
            i += 2
            continue
        if not isinstance(node, dict) or parts[i] not in node:
            return None
        node = node[parts[i]]
        i += 1
    return node
