"""The `occmodel` command: a thin layer over the Python API.

Every command validates its input first; a bad config or argument prints one line naming the
key, the value and what is allowed, exits with status 2 and writes nothing.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import click
from rich.console import Console
from rich.table import Table

from .bounds import BoundsError
from .errors import ConfigError
from .stats import LOW_SUCCESS

err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 160)   # piped output: don't squeeze tables to 80


class BadInput(click.ClickException):
    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"occmodel: error: {self.message}", err=True)


def _guard(option: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn config errors into exit status 2 with one clear line (no traceback); a file that
    cannot be written (read-only mount, full disk) is bad input too: the message names the
    command's output `option` and the file. SIGTERM stops a command as Ctrl-C does (workers
    terminated, no traceback)."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            signal.signal(signal.SIGTERM, _interrupt)
            try:
                return fn(*args, **kwargs)
            except (ConfigError, BoundsError) as exc:
                raise BadInput(str(exc)) from None
            except OSError as exc:
                where = exc.filename or "a file"
                raise BadInput(f"{option or 'output'}: cannot write {where}: {exc.strerror or exc} (is the directory "
                               "writable and the disk not full?)") from None
            finally:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)

        return wrapper

    return decorate


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _writable(option: str, target: Path) -> None:
    """Refuse an output directory that cannot be created or written, before anything runs."""
    probe = target
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(option, str(target), f"{probe} is not a writable directory: choose another")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="occmodel")
def main() -> None:
    """Performance model of optimistic concurrency control and its retry patterns."""


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="results directory [results/<name>]")
@click.option("--workers", type=click.IntRange(min=1), help="parallel runs [all cores]")
@click.option("--replications", type=click.IntRange(min=1), help="override [experiment].replications")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", help="address of a running Dask scheduler (with --executor dask)")
@click.option("--no-plots", is_flag=True, help="skip drawing plots")
@click.option("--force", is_flag=True, help="replace the results of another config in the directory")
@click.option("--store", "store_url", metavar="URL",
              help="run real clients against this store instead of the model: redis://HOST:PORT or "
                   "postgresql://USER@HOST:PORT/DATABASE (loopback only)")
@click.option("--client-processes", type=click.IntRange(min=1), help="with --store: client processes [one per core]")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True,
              help="file format of the plots")
@_guard("--out")
def run(config: str, out_dir: str | None, workers: int | None, replications: int | None, executor: str,
        scheduler: str | None, no_plots: bool, force: bool, store_url: str | None,
        client_processes: int | None, fmt: str) -> None:
    """Run CONFIG's sweep; resumes an interrupted run of the same config."""
    from .experiment import load_experiment

    if scheduler and executor != "dask":
        raise ConfigError("--scheduler", scheduler, "only goes with --executor dask")
    if store_url is None and client_processes is not None:
        raise ConfigError("--client-processes", client_processes, "only goes with --store")
    if store_url is not None and (executor != "local" or workers is not None):
        raise ConfigError("--executor" if executor != "local" else "--workers", executor if executor != "local" else
                          workers, "does not go with --store: runs against a store go one at a time")
    exp = load_experiment(config, replications)
    store = None
    if store_url is not None:
        from .backends import plan
        from .experiment import refuse_for_store

        refuse_for_store(exp)
        store = plan(store_url, exp, client_processes)
        for note in store.notes:
            err.print(f"note: {note}", highlight=False, markup=False)
    name = exp.name if store is None else f"{exp.name}-{store.kind}"
    target = Path(out_dir) if out_dir else Path("results") / name
    _writable("--out", target)
    _run(exp, target, workers, executor, scheduler, force, store=store)
    if not no_plots:
        from .plots import draw

        drawn = draw(target, fmt)
        out.print(f"{len(drawn)} plots in {target / 'plots'} (index: {target / 'index.md'})")
    if "compare" in exp.raw:
        _compare(target, None, None, (), plot=not no_plots, fmt=fmt)


def _run(exp: Any, target: Path, workers: int | None, executor: str, scheduler: str | None,
         force: bool = False, option: str = "--out", store: Any = None, note: str = "") -> list[dict]:
    """Run `exp` into `target` under a progress bar; `note` is printed once the directory is
    known to be ours (not above a refusal)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    from .experiment import run_experiment

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:.2f} runs/s" if task.speed else "")

    columns = (TextColumn(f"[bold]{exp.name}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"), Rate(),
               TimeElapsedColumn(), TextColumn("elapsed,"), TimeRemainingColumn(), TextColumn("left"))
    with Progress(*columns, console=err, transient=False, disable=os.environ.get("OCCMODEL_NO_PROGRESS") == "1") as bar:
        s = exp.settings
        task = bar.add_task("runs", total=len(exp.points) * (s.precision.min if s.replications == "auto" else s.replications))

        def progress(done: int, total: int) -> None:
            nonlocal note
            if note:
                bar.console.print(note, highlight=False)
                note = ""
            bar.update(task, completed=done, total=total)

        try:
            runs = run_experiment(exp, target, workers=workers, executor=executor, scheduler=scheduler,
                                  progress=progress, command=" ".join(["occmodel", *sys.argv[1:]]), force=force,
                                  option=option, store=store)
        except ConfigError:
            bar.update(task, visible=False)     # refused: the error is the one line the user reads
            raise
    print_summary(target)
    warn_censored(target, exp.swept)
    _report_precision(target)
    _report_warmup(target)
    from .results import read_json

    hottest = read_json(target / "manifest.json").get("dominant_key")
    if hottest:
        out.print(hottest, highlight=False, markup=False)
    extra = "" if store is None else f", diagnostics.csv; measured on {store.backend.url.shown}"
    out.print(f"results in {target}/ (runs.csv, summary.csv, timeseries.csv, latency.csv, keys.csv, "
              f"version_gaps.csv, manifest.json{extra})")
    return runs


SHOWN = (("throughput", "ops/s", "{:.1f}"), ("success_rate", "success", "{:.3f}"),
         ("attempts_per_op", "attempts/op", "{:.2f}"), ("p50_ms", "p50 ms", "{:.2f}"), ("p99_ms", "p99 ms", "{:.2f}"),
         ("all_p99_ms", "all p99 ms", "{:.2f}"), ("censored", "censored", "{:.0f}"),
         ("calls", "calls", "{:.0f}"), ("makespan_s", "makespan s", "{:.3f}"), ("errors", "errors", "{:.0f}"),
         ("rejected", "rejected", "{:.0f}"), ("breaker_open_fraction", "open", "{:.2f}"),
         ("cache_hit_rate", "cache hits", "{:.2f}"))


CENSORED_WARN = 0.001   # warn when more than 0.1 % of a point's measured operations never finished


def warn_censored(target: Path, swept: list[str]) -> None:
    """Name the points whose latency tails are cut off: measured operations still unfinished
    when the drain ended (`censored`) above `CENSORED_WARN` of the point's operations."""
    from .results import read_csv

    bad = []
    for r in read_csv(target / "summary.csv"):
        censored, finished = r.get("censored") or 0, r.get("operations") or 0
        if censored and censored > CENSORED_WARN * (censored + finished):
            where = ", ".join(f"{c}={r[c]}" for c in swept) or "the only point"
            bad.append(f"{where} ({censored / (censored + finished):.2%})")
    if bad:
        err.print("warning: measured operations still unfinished when the drain ended (censored > 0.1 %; "
                  "latency tails and success rates there are biased; raise experiment.drain): " + "; ".join(bad),
                  highlight=False, markup=False)


def _where(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "the only point"


def _report_precision(target: Path) -> None:
    """`replications = "auto"`: how many replications the points got; the points stopped at `max`
    without the precision asked, flagged with their half-widths."""
    from .results import read_json

    rule = read_json(target / "manifest.json").get("precision")
    if not rule:
        return
    ns = [p["n"] for p in rule["points"]]
    short = [p for p in rule["points"] if not p["reached"]]
    target_text = f"95 % half-width <= {rule['relative']:.3g} × |mean| of {', '.join(rule['metrics'])}"
    out.print(f"replications until precise ({target_text}): n = {min(ns)}–{max(ns)} per point "
              f"(summary.csv n)", highlight=False)
    if short:
        def widths(p: dict[str, Any]) -> str:
            return ", ".join(f"{m} ±{'∞' if w is None else f'{w:.1%}'}" for m, w in p["relative_ci95"].items())

        err.print(f"warning: {len(short)} point(s) stopped at experiment.precision.max = {rule['max']} replications "
                  "without the precision asked (raise max or relative): "
                  + "; ".join(f"{_where(p['point'])} ({widths(p)})" for p in short), highlight=False, markup=False)


def _report_warmup(target: Path) -> None:
    """Warm-up found by MSER-5: the range of `warmup = "auto"`; a warning when an explicit warm-up
    is shorter than what MSER-5 finds on a point's first replication."""
    from .results import read_json

    w = read_json(target / "manifest.json").get("warmup") or {}
    points = w.get("points", [])
    if w.get("mode") == "auto":
        found = [s for p in points for s in p["s"]]
        unsettled = [(p, r) for p in points for r in p["unsettled"]]
        out.print(f"warm-up by MSER-5 on each run: {min(found):.3g}–{max(found):.3g} s (manifest.json warmup)",
                  highlight=False)
        if unsettled:
            err.print(f"warning: in {len(unsettled)} run(s) MSER-5 found no end of the transient within the first "
                      f"half of the {w['pilot_s']:g} s pilot (the warm-up there is a lower limit; raise "
                      "experiment.duration): " + "; ".join(f"{_where(p['point'])} replication {r}" for p, r in unsettled),
                      highlight=False, markup=False)
    elif w.get("explicit"):
        short = [p for p in points if p.get("shorter")]
        if short:
            err.print(f"warning: experiment.warmup = {w['s']:g} s is shorter than the warm-up MSER-5 finds on the first "
                      "replication (raise it, or set warmup = \"auto\"): "
                      + "; ".join(f"{_where(p['point'])}: {p['mser5_s']:.3g} s" for p in short),
                      highlight=False, markup=False)


def print_summary(target: Path) -> None:
    """The summary table `run` ends with: success rate beside latency, flagged below LOW_SUCCESS."""
    from .results import read_csv, read_json

    rows = read_csv(target / "summary.csv")
    swept = read_json(target / "manifest.json")["swept"]
    shown = [s for s in SHOWN if s[0] == "success_rate" or any(r.get(s[0]) not in (None, 0) for r in rows)]
    flagged = False
    intervals = any((r.get("n") or 0) > 1 for r in rows)   # one replication has no interval: no ± anywhere
    title = "summary (mean ± 95 % CI half-width; ? = undefined)" if intervals else "summary (one replication: no intervals)"
    table = Table(title=title, show_edge=False)
    for col in swept:
        table.add_column(col, no_wrap=True)
    table.add_column("n", justify="right")
    for _, head, _ in shown:
        table.add_column(head, justify="right")
    for r in rows:
        cells = [str(r[c]) for c in swept] + [str(r["n"])]
        for metric, _, fmt in shown:
            value, ci = r.get(metric), r.get(f"{metric}_ci95")
            cell = "—" if value is None else fmt.format(value)
            if value is not None and intervals:             # every number the same way: mean±half-width
                cell += "±" + (fmt.format(ci) if ci is not None and math.isfinite(ci) else "?")
            if metric == "success_rate" and value is not None and value < LOW_SUCCESS:
                cell, flagged = cell + " !", True
            cells.append(cell)
        table.add_row(*cells)
    out.print(table)
    if flagged:
        out.print(f"! success rate < {LOW_SUCCESS:g}: p50/p99 there cover only the successful operations; "
                  "compare 'all p99' (every outcome)", highlight=False)


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True,
              help="file format of the plots")
@_guard("DIRECTORY")
def plot(directory: str, fmt: str) -> None:
    """Redraw the plots of a results DIRECTORY."""
    from .plots import draw

    if not (Path(directory) / "manifest.json").exists():
        raise ConfigError("DIRECTORY", directory, "expected a results directory written by 'occmodel run'")
    drawn = draw(Path(directory), fmt)
    out.print(f"{len(drawn)} plots in {Path(directory) / 'plots'}")


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--baseline", help="the policy (with --by: the value) the others are compared with [compare.baseline]")
@click.option("--by", help="compare the values of this swept key instead of policies [compare.by, else policy]")
@click.option("--metric", "metrics", multiple=True, help="a metric to plot, repeatable [compare.metrics, else the "
              "headline metrics that differ]; compare.csv has every metric")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True,
              help="file format of the plot")
@_guard("DIRECTORY")
def compare(directory: str, baseline: str | None, by: str | None, metrics: tuple[str, ...], fmt: str) -> None:
    """Paired differences from a baseline policy: DIRECTORY/compare.csv and plots/compare.<format>."""
    _compare(Path(directory), baseline, by, metrics, fmt=fmt)


def _compare(target: Path, baseline: str | None, by: str | None, metrics: tuple[str, ...], plot: bool = True,
             fmt: str = "png") -> None:
    from .compare import compare_directory, write
    from .metrics import METRICS
    from .plots_compare import draw_compare, plotted

    for m in metrics:
        if m not in METRICS:
            raise ConfigError("--metric", m, f"unknown metric; allowed: {', '.join(METRICS)}")
    comparison = compare_directory(target, baseline, by)
    write(target, comparison)
    drawn = draw_compare(target, comparison, metrics, fmt) if plot else None
    for m in plotted(comparison, metrics):
        verdicts = [r["verdict"] for r in comparison.rows if r["metric"] == m]
        counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("higher", "lower", "no clear difference", "equal", "undefined")
                           if verdicts.count(v))
        out.print(f"{m} − {comparison.baseline}: {counts}", highlight=False, markup=False)
    out.print(f"paired differences from {comparison.baseline} in {target / 'compare.csv'}"
              + (f", plot {drawn}" if drawn else ""), highlight=False, markup=False)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--results", "results_dir", type=click.Path(file_okay=False),
              help="saved results to judge [results/<name>]; run when missing or from another config")
@click.option("--workers", type=click.IntRange(min=1))
@click.option("--force", is_flag=True, help="replace the results of another config in the directory")
@_guard("--results")
def check(config: str, results_dir: str | None, workers: int | None, force: bool) -> None:
    """Evaluate CONFIG's [[bounds]]: exit 0 when all hold, 1 otherwise."""
    from .bounds import all_hold, evaluate, render, table
    from .experiment import load_experiment, saved_runs

    exp = load_experiment(config)
    if not exp.bounds:
        raise ConfigError("bounds", None, f"{config} has no [[bounds]] to check")
    target = Path(results_dir) if results_dir else Path("results") / exp.name
    runs = saved_runs(exp, target)
    if runs is None:
        _writable("--results", target)
        runs = _run(exp, target, workers, "local", None, force, "--results",
                    note=f"no matching saved results in {target}: running {config}")
    verdicts = evaluate(exp.bounds, runs, exp.swept)
    if out.is_terminal:
        out.print(table(verdicts))
    else:                       # piped or in a log: one line per verdict at its natural width, not wrapped
        click.echo(render(verdicts), nl=False)
    held = all_hold(verdicts)
    out.print(f"{sum(v.verdict == 'holds' for v in verdicts)} of {len(verdicts)} bound checks hold")
    sys.exit(0 if held else 1)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--trials", type=click.IntRange(min=1), help="override [tune].trials")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="results directory [results/<name>-tune]")
@click.option("--workers", type=click.IntRange(min=1), help="parallel replications per trial [all cores]")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True,
              help="file format of the plots")
@_guard("--out")
def tune(config: str, trials: int | None, out_dir: str | None, workers: int | None, fmt: str) -> None:
    """Search CONFIG's [tune] params for the best setting that meets the constraints.

    Writes tune.csv, best.toml (a ready [scenario.policy] table) and plots/pareto.<format>;
    exit 1 when no trial meets every constraint."""
    from .experiment import load_experiment
    from .plots_tune import draw_pareto
    from .tune import best, describe, parse_tune, run_tune, validate, write_best

    exp = load_experiment(config)
    spec = parse_tune(exp.raw.get("tune"), trials)
    validate(exp.raw, spec)
    target = Path(out_dir) if out_dir else Path("results") / f"{exp.name}-tune"
    with _bar(f"{exp.name} tune", spec.trials, "trials") as progress:
        done = run_tune(exp.raw, target, spec, seed=exp.settings.seed, workers=workers, progress=progress)
    chosen = best(spec, done)
    draw_pareto(target / "plots" / f"pareto.{fmt}", spec, done, chosen, exp.name)
    feasible = sum(t.feasible for t in done)
    out.print(f"{feasible} of {len(done)} trials meet every constraint; results in {target}/ "
              f"(tune.csv, plots/pareto.{fmt}, trials/)", highlight=False)
    if chosen is None:
        out.print("no feasible setting: relax the constraints, widen the ranges or add trials")
        sys.exit(1)
    write_best(target / "best.toml", exp.raw, spec, chosen, len(done), config)
    setting = ", ".join(f"{p.key} = {p.show(chosen.values[p.key])}" for p in spec.params)
    out.print(f"best (trial {chosen.number}): {setting}", highlight=False)
    for line in describe(spec, chosen):
        out.print(f"  {line}", highlight=False)
    out.print(f"ready [scenario.policy] table: {target / 'best.toml'}", highlight=False, markup=False)


@contextlib.contextmanager
def _bar(title: str, total: int, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields the callback (done, total) that moves it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False, disable=os.environ.get("OCCMODEL_NO_PROGRESS") == "1") as bar:
        task = bar.add_task(unit, total=total)
        yield lambda done, n: bar.update(task, completed=done, total=n)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--op", "op_index", type=click.IntRange(min=0), default=None,
              help="which operation (0-based, in start order) [the first one after warm-up]")
@click.option("--point", "point_filters", multiple=True, metavar="KEY=VALUE",
              help="select the sweep point, e.g. --point policy=full-jitter --point workload.clients=64")
@click.option("--replication", type=click.IntRange(min=0), default=0, show_default=True)
@_guard(None)
def trace(config: str, op_index: int | None, point_filters: tuple[str, ...], replication: int) -> None:
    """Print one operation's timeline, attempt by attempt."""
    from .experiment import load_experiment
    from .model import Simulation
    from .trace import render

    exp = load_experiment(config)
    point = _select(exp, point_filters)
    s = exp.settings
    warmup = s.warmup
    if warmup == "auto":
        from .warmup import find

        warmup = find(point.scenario, seed=s.seed, replication=replication, duration=s.duration, bin_width=s.bin,
                      max_event_rate=s.max_event_rate).seconds
        err.print(f"warm-up by MSER-5 on replication {replication}: {warmup:.3g} s", highlight=False)
    sim = Simulation(point.scenario, seed=s.seed, replication=replication, duration=s.duration, warmup=warmup,
                     bin_width=s.bin, trace_op=op_index if op_index is not None else -1, stop_after_trace=True,
                     drain=s.drain, max_time=s.max_time, max_event_rate=s.max_event_rate)
    sim.run()
    if sim.trace is None:
        raise ConfigError("--op", op_index, f"the run started only {sim.started} operations")
    where = ", ".join(f"{k}={_shown(v, k)}" for k, v in point.values.items()) or "the only point"
    out.print(f"{exp.name} — {where}, replication {replication}, operation #{sim.traced_index}", highlight=False)
    out.print(render(sim.trace, messages=sim.message_totals()), highlight=False, markup=False)


def _select(exp: Any, filters: tuple[str, ...]) -> Any:
    """The sweep point `--point KEY=VALUE ...` names; VALUE is read as TOML reads it (`true`, `0`,
    `"2ms"` or a bare label), so `true` matches `true` and `0` matches `0.0`, never `1` for `true`."""
    wanted, given = {}, {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or key not in exp.swept:
            raise ConfigError("--point", f, f"expected KEY=VALUE with KEY one of: {', '.join(exp.swept) or '(nothing is swept)'}")
        wanted[key], given[key] = _typed(value), f
    values = {k: list(dict.fromkeys(_shown(p.values[k], k) for p in exp.points)) for k in wanted}
    for key, value in wanted.items():
        if not any(_matches(p.values[key], key, value) for p in exp.points):
            raise ConfigError("--point", given[key], f"matches no value of {key}; it takes: {', '.join(values[key])}")
    for p in exp.points:
        if all(_matches(p.values[k], k, v) for k, v in wanted.items()):
            return p
    raise ConfigError("--point", " ".join(filters), "no sweep point has this combination; the values are: " +
                      "; ".join(f"{k}: {', '.join(vs)}" for k, vs in values.items()))


def _typed(text: str) -> Any:
    """A `--point` value as TOML would read it; a bare word (a policy label, 2ms) stays text."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _matches(swept: Any, key: str, value: Any) -> bool:
    swept = swept["label"] if key == "policy" else swept
    if isinstance(swept, bool) or isinstance(value, bool):
        return isinstance(swept, bool) and isinstance(value, bool) and swept == value
    if isinstance(swept, (int, float)) and isinstance(value, (int, float)):
        return float(swept) == float(value)
    return str(swept) == str(value)


def _shown(value: Any, key: str = "") -> str:
    """A swept value as the config writes it: true, 0.5, 2ms, a label."""
    value = value["label"] if key == "policy" else value
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@main.command()
@click.option("--quick", is_flag=True, help="smaller runs (seconds instead of a minute)")
@click.option("--long", "long_run", is_flag=True, help="memory run of 10 million operations (minutes)")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=1.0, hidden=True,
              help="multiply every duration and operation count (tests)")
@click.option("--only", "parts", type=click.Choice(["speed", "sweep", "memory"]), multiple=True,
              help="measure only these parts (repeatable; default all): speed = the equal-work ratios to "
              "hand-written models, sweep = parallel efficiency, memory = peak memory")
@_guard(None)
def bench(quick: bool, long_run: bool, scale: float, parts: tuple[str, ...]) -> None:
    """Measure the simulator's own speed against bare SimPy and hand-written models in the same run."""
    from .bench import PARTS, main as bench_main

    bench_main(quick=quick, console=out, long=long_run, scale=scale, parts=parts or PARTS)


@main.command()
@click.argument("url")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="directory for read.csv, commit.csv, calibrated.toml and calibration.json")
@click.option("--samples", type=click.IntRange(min=10), default=2000, show_default=True,
              help="attempts measured (each one read and one commit round trip)")
@click.option("--force", is_flag=True, help="write into a directory that holds other results or another store's calibration")
@_guard("--out")
def calibrate(url: str, out_dir: str, samples: int, force: bool) -> None:
    """Measure URL's read and commit round trips at low load (one client) for the model.

    Writes round-trip CSVs that the empirical distribution takes and an experiment that uses
    them; nothing is written if the store cannot be reached or stops answering."""
    from .backends import backend, parse_url
    from .backends.calibrate import calibrate as measure

    store = backend(parse_url(url, "URL"))
    target = Path(out_dir)
    _writable("--out", target)
    info = measure(store, target, samples=samples, force=force, command=" ".join(["occmodel", *sys.argv[1:]]))
    table = Table("round trip", "mean ms", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
                  title=f"{store.url.shown}: {samples} attempts by one client", show_edge=False)
    for name in ("read", "commit"):
        q = info[f"{name}_ms"]
        table.add_row(name, *(f"{q[k]:.4g}" for k in ("mean", "p50", "p90", "p99", "p99.9")))
    out.print(table)
    cpu = info["server_cpu_per_attempt_ms"]
    lag = info["client_lag_ms"]
    out.print(f"server CPU per attempt: {'not reported' if cpu is None else f'{cpu:.4g} ms'} (the client's: "
              f"{info['client_cpu_per_attempt_ms']:.4g} ms); this machine wakes "
              f"a 1 ms sleep {lag['p50']:.3g} ms late (p50), {lag['p99']:.3g} ms (p99)", highlight=False)
    out.print(f"calibrated experiment: {target / 'calibrated.toml'} (read.csv, commit.csv, calibration.json beside it)",
              highlight=False, markup=False)


@main.command()
def presets() -> None:
    """List the named latency presets, the figures each was fitted to, and their sources."""
    from .presets import PRESETS

    table = Table("preset", "distribution", "fitted to")
    table.add_column("source", overflow="fold")
    for p in PRESETS.values():
        dist = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.table.items())
        figures = "; ".join(f"{'typical' if f.quantile is None else f'q{f.quantile:.3g}'} = {f.seconds * 1e3:.4g} ms"
                            for f in p.figures)
        table.add_row(p.name, dist, f"{figures} ({p.note})", p.source)
    out.print(table)
    out.print('Use wherever a distribution goes: one_way = {preset = "cross-az"}; durations in seconds.')


@main.command()
def schema() -> None:
    """Print the JSON Schema of the experiment file (for editors' TOML support)."""
    import json

    from .reference import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


@main.command()
def policies() -> None:
    """List the policy kinds (and styles) with their keys and defaults."""
    from .docgen import default_text
    from .policies import Policy, Wrapper
    from .reference import fields_of, own_fields, policy_classes

    def keys(fields: dict[str, Any]) -> list[str]:
        return [f"{k} = {default_text(f).strip('`')}" for k, f in fields.items()]

    # One block per kind, one key per line: a table wraps "key = default" pairs across rows.
    def block(title: str, lines: list[str]) -> None:
        out.print(title, highlight=False, soft_wrap=True)
        for line in lines or ["(only the common keys)"]:
            out.print(f"    {line}", highlight=False, soft_wrap=True)

    block("every policy:", keys(fields_of(Policy)))
    block("every wrapper (around inner):", keys(own_fields(Wrapper, Policy)))
    for kind, style, cls in policy_classes():
        doc = " ".join((cls.__dict__.get("__doc__") or "").split("\n\n")[0].split())
        name = f'kind = "{kind}"' + (f', style = "{style}"' if style else "")
        block(f"\n{name}: {doc}", keys(own_fields(cls)))
    out.print("Meaning, units and allowed values of every key: docs/configuration.md (Policies).", highlight=False)


if __name__ == "__main__":
    main()
