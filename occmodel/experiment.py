"""Experiments: a TOML config becomes a grid of points × replications, run and saved.

`load_experiment` validates everything (the `[experiment]` table, every grid point's scenario,
the bounds) before anything runs. `run_experiment` runs what is not already on disk: each
finished run is saved atomically as `runs/<point>-<replication>.json`, so an interrupted sweep
re-run with the same command skips the finished runs; the CSVs are then rebuilt from those
files in grid order, so they are the same whichever executor ran them and in what order.
Each run's random streams depend on (seed, replication) only: common random numbers.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable, Literal, Mapping, Sequence

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from .bounds import parse_bounds
from .compare import parse_table as parse_compare
from .config import Scenario, StrictModel, validate_scenario
from .errors import ConfigError, validate
from .executors import execute
from .guards import MAX_EVENT_RATE, MAX_TIME, check_bins, check_memory
from .heap import old_objects_frozen
from .keytable import COLUMNS as KEY_COLUMNS, GAP_COLUMNS, dominant, merge_point
from .metrics import METRICS, SERIES
from .model import auto_drain, simulate
from .plotspec import parse_plot
from .precision import CONFIDENCE, Decision, Rule, decide
from .results import LOCK, Row, Table, locked, read_csv, read_json, write_atomic, write_csv, write_json
from .stats import summarize
from .units import Drain, Duration, ValueType, Warmup
from .version import __version__
from .warmup import SERIES as WARMUP_SERIES
from .warmup import check, find, pilot_bin

if TYPE_CHECKING:
    from .backends import StorePlan

TOP_LEVEL = ("experiment", "scenario", "sweep", "bounds", "tune", "compare", "plot")
NOT_RUN = ("bounds", "tune", "compare", "plot")   # tables that judge, drive or draw runs, not what a run does


MAX_REPLICATIONS = 1000   # run files are numbered r000 … r999


def parse_replications(value: Any) -> int | str:
    """`experiment.replications`: a whole number >= 1 or "auto"."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPLICATIONS:
        raise ValueError(f'expected a whole number from 1 to {MAX_REPLICATIONS}, or "auto" (see experiment.precision)')
    return value


REPLICATIONS = ValueType("replications", f'a whole number 1 … {MAX_REPLICATIONS}, or "auto" (until experiment.precision '
                         "is met)", {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_REPLICATIONS},
                                              {"type": "string", "pattern": r"^\s*[Aa][Uu][Tt][Oo]\s*$"}]})
Replications = Annotated[int | str, BeforeValidator(parse_replications), REPLICATIONS]
# wall_s is the one metric that differs between identical runs: a rule on it would not be deterministic
PrecisionMetric = Literal[tuple(m for m in METRICS if m != "wall_s")]  # type: ignore[valid-type]


class PrecisionTable(StrictModel):
    """`replications = "auto"`: replications until every listed metric is precise (Hoad–Robinson–Davies)."""

    metrics: list[PrecisionMetric] = Field(min_length=1, description="metrics whose 95 % intervals must be "
                                           "precise (any metric but wall_s); a metric undefined in a run (a latency "
                                           "with no success) counts over the runs where it is defined")
    relative: float = Field(gt=0, le=1, description="target: each metric's 95 % half-width <= relative × |mean| "
                            "over the point's replications", json_schema_extra={"unit": "fraction"})
    min: int = Field(5, ge=2, le=MAX_REPLICATIONS, description="replications every point gets before the rule is "
                     "judged", json_schema_extra={"unit": "runs"})
    max: int = Field(200, ge=2, le=MAX_REPLICATIONS, description="at most this many per point; a point stopped "
                     "here without the precision is flagged in run's output, index.md and manifest.json",
                     json_schema_extra={"unit": "runs"})
    lookahead: int = Field(5, ge=0, le=100, description="the first n that meets the target must keep meeting it "
                           "for this many more replications (per 100 past n = 100) before the point stops; "
                           "0 = stop at once", json_schema_extra={"unit": "runs"})

    @model_validator(mode="after")
    def _ordered(self) -> "PrecisionTable":
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics lists a metric twice: {self.metrics}")
        return self

    def rule(self) -> Rule:
        return Rule(tuple(self.metrics), self.relative, self.min, self.max, self.lookahead)


class ExperimentTable(StrictModel):
    """How the sweep is run and measured."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="the experiment's name: results go to results/<name>/ (letters, digits, . _ -)")
    seed: int = Field(default=0, ge=0, description="base of every random stream (same seed, same results)")
    replications: Replications = Field(default=1, description="independent runs per point (95 % intervals need "
                                       '>= 2); "auto": per point, until experiment.precision is met (summary.csv n '
                                       "and manifest.json say how many each got)", json_schema_extra={"unit": "runs"})
    precision: PrecisionTable | None = Field(None, description='with replications = "auto": when a point has '
                                             "enough replications, e.g. {metrics = [\"p99_ms\", \"throughput\"], "
                                             "relative = 0.05, min = 5, max = 200}")
    duration: Duration = Field(default=10.0, gt=0, description="measured window of closed and open workloads "
                               "(operations that start in it are measured); batch ignores it")
    warmup: Warmup = Field(0.0, description="simulated before the window, not measured. \"auto\": each run is "
                           "simulated first as a pilot over [0, duration) on its own random streams; MSER-5 on the "
                           "pilot's per-bin successes and conflicts picks the truncation point w, and the run then "
                           "measures the operations that start in [w, w + duration) (the same trajectory: a full "
                           "window at about twice the cost). An explicit warm-up shorter than what MSER-5 finds on a "
                           "point's first replication (series of >= 50 bins) draws a warning; manifest.json records "
                           "both. Closed and open workloads only")
    # after the window: load goes on until measured operations finish
    drain: Drain = Field("auto", description="after the window the load goes on until every measured operation "
                         "has finished, or this limit passes (the rest is censored); 0 = stop at the window's end")
    bin: Duration = Field(default=1.0, gt=0, description="width of a time-series bin (timeseries.csv, plots)")
    max_time: Duration = Field(default=MAX_TIME, gt=0, description="batch: simulated-time limit of one run "
                               "(a clear error when reached)")
    max_event_rate: float = Field(default=MAX_EVENT_RATE, gt=0, allow_inf_nan=False,
                                  description="sanity limit on events per simulated second, judged at run time: "
                                  "past it (a retry storm) the run stops with a clear error instead of running "
                                  "for hours; raise it for a load that is meant", json_schema_extra={"unit": "events/s"})
    description: str = Field("", description="free text, kept in manifest.json")


@dataclass
class Point:
    """One grid point: the swept values (column -> value) and the scenario they make."""

    index: int
    values: dict[str, Any]
    scenario: Scenario


@dataclass
class Experiment:
    settings: ExperimentTable
    raw: dict[str, Any]
    swept: list[str]
    points: list[Point]
    bounds: list[Any] = field(default_factory=list)
    source: Path | None = None     # the config file (None: built from a mapping)

    @property
    def name(self) -> str:
        return self.settings.name

    def digest(self) -> str:
        """Identifies what the runs depend on (not bounds, tune, compare): changing it invalidates saved runs."""
        return self._sha({k: v for k, v in self.raw.items() if k not in NOT_RUN})

    def identity(self) -> str:
        """Which experiment a results directory belongs to: the digest without the replication
        count (or the rule that sets it), since replication r of a point does not depend on how
        many others there are."""
        raw = {k: v for k, v in self.raw.items() if k not in NOT_RUN}
        raw["experiment"] = {k: v for k, v in raw.get("experiment", {}).items() if k not in ("replications", "precision")}
        return self._sha(raw)

    def _sha(self, raw: dict[str, Any]) -> str:
        # the samples read from input files are part of what the runs depend on (an edited CSV
        # is another experiment); configs without input files keep the digest of their text alone
        files = sorted({json.dumps(d.samples) for p in self.points for d in file_inputs(p.scenario)})
        text = json.dumps(raw, sort_keys=True, default=str)
        if files:
            text += "".join(files)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_inputs(model: Any) -> list[Any]:
    """The distributions in `model` whose samples were read from a file (empirical `csv`)."""
    found: list[Any] = []
    if isinstance(model, BaseModel):
        if getattr(model, "dist", None) == "empirical" and getattr(model, "csv", None):
            found.append(model)
        for name in type(model).model_fields:
            found.extend(file_inputs(getattr(model, name)))
    elif isinstance(model, (list, tuple)):
        for item in model:
            found.extend(file_inputs(item))
    return found


def load_experiment(source: str | Path | Mapping[str, Any], replications: int | None = None) -> Experiment:
    """Parse and validate a config (path or mapping); raises `ConfigError` on any bad input."""
    raw = _read(source) if not isinstance(source, Mapping) else copy.deepcopy(dict(source))
    base = None if isinstance(source, Mapping) else Path(source).resolve().parent   # relative csv paths
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(key, raw[key], f"unknown table; allowed: {', '.join(TOP_LEVEL)}")
    if "experiment" not in raw:
        raise ConfigError("experiment", None, "every config needs an [experiment] table with at least name")
    if not isinstance(raw["experiment"], dict):
        raise ConfigError("experiment", raw["experiment"], "expected a table with at least name")
    if replications is not None:
        if not 1 <= replications <= MAX_REPLICATIONS:
            raise ConfigError("--replications", replications, f"must be from 1 to {MAX_REPLICATIONS}")
        raw["experiment"]["replications"] = replications
        raw["experiment"].pop("precision", None)     # a fixed count replaces the rule
    settings = validate(ExperimentTable, raw["experiment"], "experiment")
    if settings.replications == "auto" and settings.precision is None:
        raise ConfigError("experiment.precision", {}, 'replications = "auto" needs a precision table, e.g. '
                          'precision = {metrics = ["p99_ms", "throughput"], relative = 0.05, min = 5, max = 200}')
    if settings.replications != "auto" and settings.precision is not None:
        raise ConfigError("experiment.precision", raw["experiment"]["precision"],
                          f'applies only with replications = "auto" (here replications = {settings.replications})')
    scenario = raw.get("scenario", {})
    if not isinstance(scenario, dict):
        raise ConfigError("scenario", scenario, "expected a table")
    validate_scenario(scenario, base=base)
    sweep = raw.get("sweep", {})
    points = [Point(i, values, _point_scenario(scenario, values, base)) for i, values in enumerate(_grid(sweep))]
    swept = list(sweep)
    if settings.warmup == "auto":
        for p in points:
            if p.scenario.workload.kind == "batch":
                raise ConfigError("experiment.warmup", "auto", "needs a closed or open workload: a batch run measures "
                                  f"every operation from t = 0 (at {_where(p)})")
    if any(p.scenario.workload.kind != "batch" for p in points):     # batch runs ignore the window
        warmup = settings.duration if settings.warmup == "auto" else settings.warmup   # auto: at most a window
        check_bins("experiment.bin", settings.bin, warmup + settings.duration)
    bounds = raw.get("bounds", [])
    if not isinstance(bounds, list):
        raise ConfigError("bounds", bounds, "expected an array of tables: [[bounds]] entries")
    columns = [{k: column_value(k, v) for k, v in p.values.items()} for p in points]
    parsed = parse_bounds(bounds, swept, METRICS, columns)   # raises BoundsError
    values = {k: [c[k] for c in columns] for k in swept}
    parse_plot(raw.get("plot"), values)
    if "compare" in raw:
        parse_compare(raw["compare"], values, settings.replications)
    return Experiment(settings, raw, swept, points, parsed, None if isinstance(source, Mapping) else Path(source).resolve())


def _read(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("CONFIG", str(path), "expected the path of an existing TOML file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("CONFIG", str(path), f"is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError("CONFIG", str(path), "is not a text file (not UTF-8): expected a TOML config") from None
    except OSError as exc:
        raise ConfigError("CONFIG", str(path), f"cannot be read ({exc.strerror})") from None


def _grid(sweep: Any) -> list[dict[str, Any]]:
    """The cartesian product of the sweep lists, first key slowest; policies as labelled variants."""
    if not isinstance(sweep, dict):
        raise ConfigError("sweep", sweep, "expected a table of lists")
    axes = []
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{key}", values, "expected a non-empty list of values")
        if key == "policy":
            labels = []
            for i, variant in enumerate(values):
                if not isinstance(variant, dict) or not isinstance(variant.get("label"), str):
                    raise ConfigError(f"sweep.policy[{i}]", variant, "expected a policy table with a label")
                labels.append(variant["label"])
            if len(set(labels)) != len(labels):
                raise ConfigError("sweep.policy", labels, "labels must be unique")
        axes.append([(key, v) for v in values])
    return [dict(combo) for combo in itertools.product(*axes)]


def _point_scenario(base: dict[str, Any], values: dict[str, Any], folder: Path | None = None) -> Scenario:
    scenario = copy.deepcopy(base)
    for key, value in values.items():
        if key == "policy":
            scenario["policy"] = {k: v for k, v in value.items() if k != "label"}
            continue
        node: Any = scenario
        *parents, leaf = key.split(".")
        for part in parents:   # a number indexes a list: "store.faults.0.probability"
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"sweep.{key}", value, f"{part!r} is not an index of that list in [scenario]")
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"sweep.{key}", value, f"{part} is not a table or list in [scenario]")
        if isinstance(node, list):
            if not leaf.isdigit() or int(leaf) >= len(node):
                raise ConfigError(f"sweep.{key}", value, f"{leaf!r} is not an index of that list in [scenario]")
            node[int(leaf)] = value
        else:
            node[leaf] = value
    where = ", ".join(f"{k} = {v['label'] if k == 'policy' else v!r}" for k, v in values.items())
    try:
        return validate_scenario(scenario, base=folder)
    except ConfigError as exc:
        if not values:
            raise
        raise ConfigError(exc.path, exc.value, f"{exc.allowed} (in the sweep point {where})") from None


def column_value(key: str, value: Any) -> Any:
    return value["label"] if key == "policy" else value


# --- running ---------------------------------------------------------------------------------
Task = tuple[Scenario, int, int, float, float, float, float, float | str, float]


def run_task(task: Task) -> dict[str, Any]:
    """One replication of one point: picklable in and out, for any executor. With warmup "auto"
    the run's warm-up is found first (occmodel.warmup) and saved beside its metrics."""
    scenario, seed, replication, duration, warmup, bin_width, max_time, drain, max_event_rate = task
    found = None
    if warmup == "auto":
        found = find(scenario, seed=seed, replication=replication, duration=duration, bin_width=bin_width,
                     max_event_rate=max_event_rate)
        warmup = found.seconds
    result = simulate(scenario, seed=seed, replication=replication, duration=duration, warmup=warmup, bin=bin_width,
                      max_time=max_time, drain=drain, max_event_rate=max_event_rate)
    edges, counts = result.latency
    return {"metrics": result.metrics, "timeseries": result.timeseries,
            "latency": [[float(e) * 1e3, int(c)] for e, c in zip(edges.tolist(), counts.tolist())],
            "keys": result.keys,
            **({} if found is None else {"warmup": found.record()})}


def task(exp: Experiment, point: Point, replication: int) -> Task:
    s = exp.settings
    return (point.scenario, s.seed, replication, s.duration, s.warmup, s.bin, s.max_time, s.drain, s.max_event_rate)


@dataclass(frozen=True)
class Sweep:
    """A sweep's results in memory: the tables `occmodel run` writes as runs.csv, summary.csv,
    timeseries.csv and latency.csv, row for row (each a `Table`: a list of dicts, `to_pandas()`)."""

    name: str
    swept: list[str]
    runs: Table
    summary: Table
    timeseries: Table
    latency: Table
    keys: Table
    version_gaps: Table


def sweep(experiment: "Experiment | Mapping[str, Any] | str | Path", *, workers: int = 1) -> Sweep:
    """Run an experiment's whole sweep in memory and return its tables; nothing is written.

    `experiment` is what `load_experiment` takes (a TOML path or a mapping shaped like the file:
    `{"experiment": {...}, "scenario": {...}, "sweep": {...}}`) or an `Experiment`. `workers` > 1
    runs replications in that many processes; the results are the same. Raises `ConfigError` on
    bad input, before anything runs."""
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError("workers", workers, "expected a whole number >= 1")
    s = exp.settings
    first = s.precision.min if s.replications == "auto" else s.replications
    todo = [(p, r) for p in exp.points for r in range(first)]
    check_memory([p.scenario for p, _ in todo], min(workers, len(todo)))
    done: dict[tuple[int, int], dict[str, Any]] = {}

    def run(todo: list[tuple[Point, int]], total: int) -> Iterable[tuple[tuple[int, int], dict[str, Any]]]:
        for key, outcome in execute(run_task, {(p.index, r): task(exp, p, r) for p, r in todo}, workers, "local", None):
            done[key] = outcome
            yield key, outcome

    counts = None
    if s.replications == "auto":
        def have(point: int) -> list[dict[str, Any]]:
            return [done[point, r]["metrics"] for r in itertools.takewhile(lambda r: (point, r) in done, itertools.count())]

        counts = {i: d.n for i, d in _until_precise(exp, have, run, None).items()}
    else:
        for _ in run(todo, len(todo)):
            pass
    with old_objects_frozen():
        made = tables(exp, lambda point, rep: done[(point, rep)], counts)
    return Sweep(exp.name, list(exp.swept), *(made[name] for name in TABLES))


def run_path(out: Path, point: int, replication: int) -> Path:
    return out / "runs" / f"p{point:04d}-r{replication:03d}.json"


def run_experiment(exp: Experiment, out: Path, *, workers: int | None = None, executor: str = "local",
                   scheduler: str | None = None, progress: Callable[[int, int], None] | None = None,
                   command: str | None = None, force: bool = False, option: str = "--out",
                   store: "StorePlan | None" = None) -> list[Row]:
    """Run every (point, replication) not already saved in `out`, then write the result files.

    `out` belongs to one experiment: another config's results there are refused unless `force`
    (which removes only the saved runs occmodel wrote). One process at a time writes a directory.
    A run stopped by bad input (a guard: `ConfigError`) leaves a directory this call created as
    it found it: absent. `option` is the command-line option that named `out`, for messages.
    With `store` (occmodel.backends.plan) the runs are real clients against that store, one run
    at a time; a store that fails mid-sweep raises `StoreError` with every finished run kept."""
    s = exp.settings
    if store is not None:
        refuse_for_store(exp)
    first = s.replications if s.replications != "auto" else s.precision.min
    todo = [(p, r) for p in exp.points for r in range(first) if not run_path(out, p.index, r).exists()]
    if store is None:
        check_memory([p.scenario for p, _ in todo], min(workers or os.cpu_count() or 1, len(todo)) if executor == "local" else 1)
    backend = "model" if store is None else store.kind
    fresh = not out.exists()
    with locked(out, option):
        done = 0
        try:
            _claim(out, exp, force, option, backend)
            seen: dict[tuple[int, int], dict[str, Any]] = {}

            def run(todo: list[tuple[Point, int]], total: int) -> Iterable[tuple[tuple[int, int], dict[str, Any]]]:
                """Run and save `todo`, moving the progress bar; yield each finished run."""
                nonlocal done
                if store is None:
                    finished = execute(run_task, {(p.index, r): task(exp, p, r) for p, r in todo}, workers, executor,
                                       scheduler)
                else:
                    finished = _real_runs(exp, todo, store)
                for key, outcome in finished:
                    write_atomic(run_path(out, *key), json.dumps(outcome))
                    seen[key] = outcome["metrics"]
                    done += 1
                    if progress:
                        progress(done, total)
                    yield key, outcome

            if s.replications == "auto":
                _until_precise(exp, lambda point: saved_metrics(out, point, seen), run, progress)
            else:
                todo = [(p, r) for p in exp.points for r in range(s.replications) if not run_path(out, p.index, r).exists()]
                total = len(exp.points) * s.replications
                done = total - len(todo)
                if progress:
                    progress(done, total)
                for _ in run(todo, total):
                    pass
            return write_results(exp, out, command, store)
        except ConfigError as exc:
            if store is not None and exc.path == "--store":    # the store failed: keep every finished run
                from .backends import StoreError

                raise StoreError(exc.value, f"{exc.allowed}; the {done} finished run(s) are kept in {out}: "
                                            "the same command resumes from them") from None
            if fresh:
                _unmake(out)
            raise


def refuse_for_store(exp: Experiment) -> None:
    """What runs against a real store cannot do: find a warm-up by a pilot on the same random streams."""
    if exp.settings.warmup == "auto":
        raise ConfigError("experiment.warmup", "auto", "needs the model (a pilot on the run's own random streams): "
                          "against a real store give a duration, e.g. the warm-up a model run found")


Runner = Callable[[list[tuple[Point, int]], int], Iterable[tuple[tuple[int, int], dict[str, Any]]]]


def _until_precise(exp: Experiment, have: Callable[[int], list[dict[str, Any]]], run: Runner,
                   progress: Callable[[int, int], None] | None) -> dict[int, Decision]:
    """`replications = "auto"`: in rounds, ask the rule of each undecided point how many more
    replications it needs (`have(point)`: the metrics of its replications 0, 1, … done so far,
    saved ones included, so a resumed sweep picks up where it stopped), and run all of those
    together, so that workers stay busy across points. The rule reads replications in order, so
    the answer is the one a serial run would give (`occmodel.precision`)."""
    rule = exp.settings.precision.rule()
    while True:
        todo, used, total, decisions = [], 0, 0, {}
        for p in exp.points:
            runs = have(p.index)
            d = decisions[p.index] = decide(rule, runs)
            if d.n is None:
                todo += [(p, r) for r in range(len(runs), len(runs) + d.more)]
            used += len(runs) if d.n is None else d.n
            total += len(runs) + d.more if d.n is None else d.n
        if not todo:
            return decisions
        if progress:
            progress(used, total)
        for _ in run(todo, total):
            pass


def saved_metrics(out: Path, point: int, seen: dict[tuple[int, int], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The metrics of a point's saved replications 0, 1, … up to the first one missing (`seen`:
    those already read)."""
    seen = {} if seen is None else seen
    runs, r = [], 0
    while (point, r) in seen or run_path(out, point, r).exists():
        if (point, r) not in seen:
            seen[point, r] = json.loads(run_path(out, point, r).read_text())["metrics"]
        runs.append(seen[point, r])
        r += 1
    return runs


def decided(exp: Experiment, out: Path) -> dict[int, Decision] | None:
    """`replications = "auto"`: each point's decision from its saved runs (None: a fixed count)."""
    s = exp.settings
    if s.replications != "auto":
        return None
    rule = s.precision.rule()
    found = {p.index: decide(rule, saved_metrics(out, p.index)) for p in exp.points}
    for p in exp.points:
        if found[p.index].n is None:
            raise ConfigError(str(out), {}, f"has too few saved runs at {_where(p)} for the precision rule: "
                                            "run the experiment again to finish it")
    return found


def _real_runs(exp: Experiment, todo: list[tuple[Point, int]], store: "StorePlan") -> Any:
    from .backends import run_points
    from .backends.real import Job

    s = exp.settings
    drain = auto_drain(s.duration) if s.drain == "auto" else float(s.drain)
    jobs = {(p.index, r): Job(p.scenario, s.seed, r, s.duration, s.warmup, s.bin, drain, s.max_time) for p, r in todo}
    names = {(p.index, r): f"{run_path(Path(), p.index, r).stem} ({_where(p)}, replication {r})" for p, r in todo}
    return run_points(store.backend, jobs, store.processes, names.__getitem__)


def _where(p: Point) -> str:
    return ", ".join(f"{k} = {column_value(k, v)}" for k, v in p.values.items()) or "the only point"


def _unmake(out: Path) -> None:
    """Remove what occmodel wrote into `out` (which it created), and `out` itself if that empties it."""
    runs = out / "runs"
    if runs.is_dir():
        for f in runs.iterdir():
            if RUN_FILE.match(f.name) or f.name in ("owner", "config.sha"):
                f.unlink()
        with contextlib.suppress(OSError):
            runs.rmdir()
    (out / LOCK).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        out.rmdir()


RUN_FILE = re.compile(r"^p\d{4}-r\d{3}\.json$")


def _claim(out: Path, exp: Experiment, force: bool, option: str = "--out", backend: str = "model") -> None:
    """Start or resume `out`, which belongs to one experiment: its name, its config file and the
    backend it ran on (the model, or a kind of real store: measured and modelled runs never mix).

    Runs of the same experiment are kept whatever the replication count (fewer replications use
    the first ones); runs of an edited config of the same experiment (same name, same file) are
    stale and replaced. A directory holding another experiment is refused unless `force`, and so
    is one holding a *different* config that shares the name (another file, other runs): copying a
    config and forgetting to rename it must not silently replace the original's results. Only run
    files occmodel wrote are ever removed."""
    runs = out / "runs"
    owner, legacy = runs / "owner", runs / "config.sha"   # owner: JSON {name, identity, config}
    source = str(exp.source) if exp.source else None
    config = source
    if owner.exists():
        held = read_json(owner)
        if not isinstance(held, dict):
            raise ConfigError(str(owner), {}, "is not an owner file occmodel wrote; remove it or choose another directory")
        name, same, config = held.get("name"), held.get("identity") == exp.identity(), held.get("config")
        ran_on = held.get("backend", "model")
        if ran_on != backend and name == exp.name and not force:
            raise ConfigError(option, str(out), f"holds results of {exp.name!r} measured on {ran_on!r}, not on "
                                                f"{backend!r}: choose another directory, or pass --force to replace them")
        same = same and ran_on == backend
    elif legacy.exists():    # written before the owner file existed: only an identical config is the same
        try:
            name = read_json(out / "manifest.json").get("name")
        except (OSError, ConfigError, AttributeError):
            name = None
        same, config = legacy.read_text() == exp.digest(), None
    else:
        name, same = exp.name, True
    if not force:
        if name != exp.name:
            raise ConfigError(option, str(out), f"holds the results of experiment {name!r}, not {exp.name!r}: "
                                                "choose another directory, or pass --force to replace them")
        if not same and config and source and config != source:
            raise ConfigError(option, str(out), f"holds the results of another config named {name!r} ({config}), "
                                                f"not of {source}: rename one experiment, choose another "
                                                "directory, or pass --force to replace them")
    if not same or name != exp.name:
        for f in runs.iterdir():
            if RUN_FILE.match(f.name):
                f.unlink()
    write_json(owner, {"name": exp.name, "identity": exp.identity(), "config": source or config, "backend": backend})
    write_atomic(legacy, exp.digest())


# --- writing ---------------------------------------------------------------------------------
TABLES = ("runs", "summary", "timeseries", "latency", "keys", "version_gaps")


def tables(exp: Experiment, saved: Callable[[int, int], dict[str, Any]],
           counts: dict[int, int] | None = None) -> dict[str, Table]:
    """The result tables of every run, in grid order (`saved(point, replication)`: what `run_task`
    returned; `counts`: each point's replications, when replications = "auto"): what the CSVs hold
    and what `sweep` returns, so the two cannot differ. Runs against a real store add `diagnostics`;
    runs saved by versions before keys.csv leave out `keys` and `version_gaps`."""
    s = exp.settings
    runs, series, latency, diagnostics, keys, gaps = [], [], [], [], [], []
    for p in exp.points:
        columns = {k: column_value(k, v) for k, v in p.values.items()}
        buckets: dict[float, int] = {}
        parts = []
        for r in range(s.replications if counts is None else counts[p.index]):
            outcome = saved(p.index, r)
            parts.append(outcome.get("keys"))
            runs.append({**columns, "replication": r, "seed": s.seed, **outcome["metrics"]})
            if "diagnostics" in outcome:
                diagnostics.append({**columns, "replication": r, **outcome["diagnostics"]})
            ts = outcome["timeseries"]
            for i, t in enumerate(ts["t_s"]):
                series.append({**columns, "replication": r, "t_s": t, **{name: ts[name][i] for name in SERIES}})
            for edge, count in outcome["latency"]:
                buckets[edge] = buckets.get(edge, 0) + count
        latency.extend({**columns, "le_ms": e, "count": buckets[e]} for e in sorted(buckets))
        if all(parts):
            key_rows, gap_rows = merge_point(parts)
            keys.extend({**columns, **row} for row in key_rows)
            gaps.extend({**columns, **row} for row in gap_rows)
        else:
            keys = gaps = None
    cols = exp.swept
    made = {"runs": Table([*cols, "replication", "seed", *METRICS], runs),
            "summary": Table([*cols, "n", *itertools.chain.from_iterable((m, f"{m}_ci95") for m in METRICS)],
                             summarize(runs, cols, METRICS)),
            "timeseries": Table([*cols, "replication", "t_s", *SERIES], series),
            "latency": Table([*cols, "le_ms", "count"], latency)}
    if keys is not None and gaps is not None:
        made["keys"] = Table([*cols, *KEY_COLUMNS], keys)
        made["version_gaps"] = Table([*cols, *GAP_COLUMNS], gaps)
    if diagnostics:
        made["diagnostics"] = Table([*cols, "replication", *(k for k in diagnostics[0] if k not in cols
                                                               and k != "replication")], diagnostics)
    return made


def write_results(exp: Experiment, out: Path, command: str | None = None, store: "StorePlan | None" = None) -> list[Row]:
    """Rebuild runs.csv, summary.csv, timeseries.csv, latency.csv, keys.csv, version_gaps.csv and
    manifest.json from saved runs (and diagnostics.csv from runs against a real store)."""
    s = exp.settings
    decisions = decided(exp, out)
    found: dict[int, list[dict[str, Any]]] = {}

    def load(point: int, rep: int) -> dict[str, Any]:
        """A saved run, noting its warm-up ("auto") or MSER-5 on the first replication's series."""
        outcome = json.loads(run_path(out, point, rep).read_text())
        if s.warmup == "auto":
            found.setdefault(point, []).append(outcome["warmup"])
        elif rep == 0:
            found[point] = [_checked(exp.points[point], outcome["timeseries"], s.bin)]
        return outcome

    with old_objects_frozen():    # tens of thousands of rows: no full collection of the sweep's older objects
        made = tables(exp, load, None if decisions is None else {i: d.n for i, d in decisions.items()})
        for name, table in made.items():
            write_csv(out / f"{name}.csv", table.columns, table)
    rows = {f"{name}.csv": len(made[name]) for name in TABLES if name in made}
    warmups = [{"point": {k: column_value(k, v) for k, v in p.values.items()}, **_warmup_entry(s.warmup, found[p.index])}
               for p in exp.points]
    extra = {"rows": rows, "warmup": warmup_record(exp, warmups),      # plot checks the rows
             "dominant_key": dominant_key(exp, made.get("keys", []))}
    if decisions is not None:
        extra["precision"] = precision_record(exp, decisions)
    write_json(out / "manifest.json", {**manifest(exp, command, store), **extra})
    return list(made["runs"])


def dominant_key(exp: Experiment, keys: Sequence[Row]) -> str | None:
    """`keytable.dominant` over the points: the line `run` prints when one key holds the conflicts."""
    by_point: dict[tuple[Any, ...], list[Row]] = {}
    for row in keys:
        by_point.setdefault(tuple(row[c] for c in exp.swept), []).append(row)
    return dominant([(_where(p), by_point.get(tuple(column_value(c, p.values[c]) for c in exp.swept), []),
                      p.scenario.workload.keys.count) for p in exp.points])


def _checked(p: Point, timeseries: dict[str, list[float]], bin_width: float) -> dict[str, Any]:
    """MSER-5 on a fixed-warm-up point's first replication (nothing for a batch run: no warm-up)."""
    found = None if p.scenario.workload.kind == "batch" else check(timeseries, bin_width)
    return {"s": None, "settled": None, "bin_s": bin_width} if found is None else found.record()


def _warmup_entry(warmup: float | str, found: list[dict[str, Any]]) -> dict[str, Any]:
    if warmup == "auto":
        return {"s": [f["s"] for f in found], "unsettled": [r for r, f in enumerate(found) if not f["settled"]]}
    f = found[0]
    return {"mser5_s": f["s"], "settled": f["settled"], "shorter": f["s"] is not None and warmup < f["s"]}


def warmup_record(exp: Experiment, points: list[dict[str, Any]]) -> dict[str, Any]:
    """manifest.json's `warmup`: per point, each run's warm-up ("auto"), or what MSER-5 finds on
    the first replication beside the fixed warm-up (`shorter`: the warm-up is shorter than that;
    `run` warns when the config gave it explicitly)."""
    s = exp.settings
    method = {"method": "MSER-5", "series": list(WARMUP_SERIES)}
    if s.warmup == "auto":
        return {"mode": "auto", **method, "pilot_s": s.duration, "pilot_bin_s": pilot_bin(s.duration, s.bin),
                "points": points}
    return {"mode": "fixed", "s": s.warmup, "explicit": "warmup" in exp.raw.get("experiment", {}), **method,
            "bin_s": s.bin, "points": points}


def precision_record(exp: Experiment, decisions: dict[int, Decision]) -> dict[str, Any]:
    """manifest.json's `precision`: the rule, and per point n, whether the target was reached,
    the confirmed first n, and each metric's half-width / |mean| (None: no interval)."""
    rule = exp.settings.precision
    entries = []
    for p in exp.points:
        d = decisions[p.index]
        entries.append({"point": {k: column_value(k, v) for k, v in p.values.items()}, "n": d.n, "reached": d.reached,
                        "first": d.first,
                        "relative_ci95": {m: None if w == float("inf") else w for m, w in d.widths.items()}})
    return {**rule.model_dump(), "confidence": CONFIDENCE, "rule": "Hoad-Robinson-Davies", "points": entries}


def manifest(exp: Experiment, command: str | None, store: "StorePlan | None" = None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": sys.version.split()[0], "occmodel": __version__}
    for package in ("simpy", "numpy", "scipy", "pydantic", "matplotlib"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    s = exp.settings
    # the scenario with every default filled in (of the first point; the sweep says what varies)
    resolved = {"experiment": s.model_dump(), "scenario": exp.points[0].scenario.model_dump(mode="json", by_alias=True),
                "sweep": exp.raw.get("sweep", {}), "bounds": exp.raw.get("bounds", []),
                **{k: exp.raw[k] for k in ("plot", "compare") if k in exp.raw}}
    return {"name": s.name, "seed": s.seed, "replications": s.replications, "swept": exp.swept,
            "points": len(exp.points), "config": resolved, "config_sha": exp.digest(),
            "versions": versions, "command": command or " ".join(sys.argv),
            "backend": "model" if store is None else store.kind, **({} if store is None else {"store": store.manifest()})}


def saved_runs(exp: Experiment, out: Path) -> list[Row] | None:
    """The runs saved in `out` if they are complete and from this very config, else None."""
    marker = out / "runs" / "config.sha"
    if not marker.exists() or marker.read_text() != exp.digest() or not (out / "runs.csv").exists():
        return None
    if read_json(out / "manifest.json").get("config_sha") != exp.digest():
        return None
    rows = read_csv(out / "runs.csv")
    s = exp.settings
    try:
        expected = len(exp.points) * s.replications if s.replications != "auto" else \
            sum(p["n"] for p in read_json(out / "manifest.json")["precision"]["points"])
    except (KeyError, TypeError):
        return None
    return rows if len(rows) == expected else None
