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
from typing import TYPE_CHECKING, Any, Callable, Mapping

from pydantic import BaseModel, Field

from .bounds import parse_bounds
from .compare import parse_table as parse_compare
from .config import Scenario, StrictModel, validate_scenario
from .errors import ConfigError, validate
from .executors import execute
from .guards import MAX_EVENT_RATE, MAX_TIME, check_memory
from .metrics import METRICS, SERIES
from .model import auto_drain, simulate
from .plotspec import parse_plot
from .results import LOCK, Row, Table, locked, read_csv, read_json, write_atomic, write_csv, write_json
from .stats import summarize
from .units import Drain, Duration
from .version import __version__

if TYPE_CHECKING:
    from .backends import StorePlan

TOP_LEVEL = ("experiment", "scenario", "sweep", "bounds", "tune", "compare", "plot")
NOT_RUN = ("bounds", "tune", "compare", "plot")   # tables that judge, drive or draw runs, not what a run does


class ExperimentTable(StrictModel):
    """How the sweep is run and measured."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="the experiment's name: results go to results/<name>/ (letters, digits, . _ -)")
    seed: int = Field(default=0, ge=0, description="base of every random stream (same seed, same results)")
    replications: int = Field(default=1, ge=1, description="independent runs per point (95 % intervals need >= 2)",
                              json_schema_extra={"unit": "runs"})
    duration: Duration = Field(default=10.0, gt=0, description="measured window of closed and open workloads "
                               "(operations that start in it are measured); batch ignores it")
    warmup: Duration = Field(0.0, description="simulated before the window, not measured")
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
        count, since replication r of a point does not depend on how many others there are."""
        raw = {k: v for k, v in self.raw.items() if k not in NOT_RUN}
        raw["experiment"] = {k: v for k, v in raw.get("experiment", {}).items() if k != "replications"}
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
        if replications < 1:
            raise ConfigError("--replications", replications, "must be >= 1")
        raw["experiment"]["replications"] = replications
    settings = validate(ExperimentTable, raw["experiment"], "experiment")
    scenario = raw.get("scenario", {})
    if not isinstance(scenario, dict):
        raise ConfigError("scenario", scenario, "expected a table")
    validate_scenario(scenario, base=base)
    sweep = raw.get("sweep", {})
    points = [Point(i, values, _point_scenario(scenario, values, base)) for i, values in enumerate(_grid(sweep))]
    swept = list(sweep)
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
    """One replication of one point: picklable in and out, for any executor."""
    scenario, seed, replication, duration, warmup, bin_width, max_time, drain, max_event_rate = task
    result = simulate(scenario, seed=seed, replication=replication, duration=duration, warmup=warmup, bin=bin_width,
                      max_time=max_time, drain=drain, max_event_rate=max_event_rate)
    edges, counts = result.latency
    return {"metrics": result.metrics, "timeseries": result.timeseries,
            "latency": [[float(e) * 1e3, int(c)] for e, c in zip(edges.tolist(), counts.tolist())]}


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


def sweep(experiment: "Experiment | Mapping[str, Any] | str | Path", *, workers: int = 1) -> Sweep:
    """Run an experiment's whole sweep in memory and return its tables; nothing is written.

    `experiment` is what `load_experiment` takes (a TOML path or a mapping shaped like the file:
    `{"experiment": {...}, "scenario": {...}, "sweep": {...}}`) or an `Experiment`. `workers` > 1
    runs replications in that many processes; the results are the same. Raises `ConfigError` on
    bad input, before anything runs."""
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError("workers", workers, "expected a whole number >= 1")
    todo = [(p, r) for p in exp.points for r in range(exp.settings.replications)]
    check_memory([p.scenario for p, _ in todo], min(workers, len(todo)))
    done = dict(execute(run_task, {(p.index, r): task(exp, p, r) for p, r in todo}, workers, "local", None))
    made = tables(exp, lambda point, rep: done[(point, rep)])
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
    todo = [(p, r) for p in exp.points for r in range(s.replications) if not run_path(out, p.index, r).exists()]
    if store is None:
        check_memory([p.scenario for p, _ in todo], min(workers or os.cpu_count() or 1, len(todo)) if executor == "local" else 1)
    backend = "model" if store is None else store.kind
    fresh = not out.exists()
    with locked(out, option):
        done = 0
        try:
            _claim(out, exp, force, option, backend)
            todo = [(p, r) for p in exp.points for r in range(s.replications) if not run_path(out, p.index, r).exists()]
            total = len(exp.points) * s.replications
            done = total - len(todo)
            if progress:
                progress(done, total)
            if store is None:
                finished = execute(run_task, {(p.index, r): task(exp, p, r) for p, r in todo}, workers, executor,
                                   scheduler)
            else:
                finished = _real_runs(exp, todo, store)
            for (point, rep), outcome in finished:
                write_atomic(run_path(out, point, rep), json.dumps(outcome))
                done += 1
                if progress:
                    progress(done, total)
            return write_results(exp, out, command, store)
        except ConfigError as exc:
            if store is not None and exc.path == "--store":    # the store failed: keep every finished run
                from .backends import StoreError

                raise StoreError(exc.value, f"{exc.allowed}; the {done} finished run(s) are kept in {out}: "
                                            "the same command resumes from them") from None
            if fresh:
                _unmake(out)
            raise


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
TABLES = ("runs", "summary", "timeseries", "latency")


def tables(exp: Experiment, saved: Callable[[int, int], dict[str, Any]]) -> dict[str, Table]:
    """The result tables of every run, in grid order (`saved(point, replication)`: what `run_task`
    returned): what the CSVs hold and what `sweep` returns, so the two cannot differ. Runs against
    a real store add `diagnostics`."""
    s = exp.settings
    runs, series, latency, diagnostics = [], [], [], []
    for p in exp.points:
        columns = {k: column_value(k, v) for k, v in p.values.items()}
        buckets: dict[float, int] = {}
        for r in range(s.replications):
            outcome = saved(p.index, r)
            runs.append({**columns, "replication": r, "seed": s.seed, **outcome["metrics"]})
            if "diagnostics" in outcome:
                diagnostics.append({**columns, "replication": r, **outcome["diagnostics"]})
            ts = outcome["timeseries"]
            for i, t in enumerate(ts["t_s"]):
                series.append({**columns, "replication": r, "t_s": t, **{name: ts[name][i] for name in SERIES}})
            for edge, count in outcome["latency"]:
                buckets[edge] = buckets.get(edge, 0) + count
        latency.extend({**columns, "le_ms": e, "count": buckets[e]} for e in sorted(buckets))
    cols = exp.swept
    made = {"runs": Table([*cols, "replication", "seed", *METRICS], runs),
            "summary": Table([*cols, "n", *itertools.chain.from_iterable((m, f"{m}_ci95") for m in METRICS)],
                             summarize(runs, cols, METRICS)),
            "timeseries": Table([*cols, "replication", "t_s", *SERIES], series),
            "latency": Table([*cols, "le_ms", "count"], latency)}
    if diagnostics:
        made["diagnostics"] = Table([*cols, "replication", *(k for k in diagnostics[0] if k not in cols
                                                               and k != "replication")], diagnostics)
    return made


def write_results(exp: Experiment, out: Path, command: str | None = None, store: "StorePlan | None" = None) -> list[Row]:
    """Rebuild runs.csv, summary.csv, timeseries.csv, latency.csv and manifest.json from saved runs
    (and diagnostics.csv from runs against a real store)."""
    made = tables(exp, lambda point, rep: json.loads(run_path(out, point, rep).read_text()))
    for name, table in made.items():
        write_csv(out / f"{name}.csv", table.columns, table)
    rows = {f"{name}.csv": len(made[name]) for name in TABLES}
    write_json(out / "manifest.json", {**manifest(exp, command, store), "rows": rows})   # plot checks them
    return list(made["runs"])


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
    return rows if len(rows) == len(exp.points) * exp.settings.replications else None
