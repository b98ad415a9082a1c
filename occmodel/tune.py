"""Tuning: the best setting of a retry policy's parameters under constraints.

A sweep answers "what happens at these 80 points"; a team wants "use this setting". The `[tune]`
table names the parameters to search (dotted scenario keys with a range or a list of choices),
one objective metric to minimize or maximize, and constraints written like bounds
(`"attempts_per_op <= 1.5"`). Optuna's TPE sampler proposes settings (with constraints, so it
learns where the feasible region is); each trial is a one-point experiment run by the ordinary
machinery into `trials/tNNN/`, so every trial uses the same replications' random streams (common
random numbers: trials differ only by their setting), an interrupted tune resumes, and a trial's
files can be inspected like any run. The sampler is seeded with the experiment seed, so the same
config gives the same trials.

A constraint holds only when the metric's 95 % interval clears the limit (the same judgement
`occmodel check` makes, via `bounds.evaluate`); a trial is feasible when every constraint
holds, and the best trial is the feasible one with the best mean objective (earliest on ties).
Optuna: https://optuna.readthedocs.io (TPESampler `seed`; `Trial.set_constraint`, feasible when ≤ 0).
"""
from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .bounds import Bound, BoundsError, Verdict, evaluate, parse_bounds
from .config import ConfigError
from .experiment import load_experiment, run_experiment
from .metrics import METRICS
from .results import Row, write_atomic, write_csv
from .stats import summarize
from .units import format_duration, parse_duration

TUNE_KEYS = ("params", "minimize", "maximize", "constraints", "trials", "startup")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")
_MISSING_PENALTY = 1e9      # constraint violation reported to the sampler when a metric is undefined


@dataclass(frozen=True)
class Param:
    """One searched key: a numeric range (durations in seconds) or a list of choices."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    duration: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def show(self, value: Any) -> str:
        return format_duration(value) if self.duration else f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TuneSpec:
    params: tuple[Param, ...]
    objective: str
    direction: str                 # "minimize" | "maximize"
    constraints: tuple[Bound, ...]  # one limit each, judged by `bounds.evaluate`
    trials: int
    startup: int                   # random trials before TPE models the results


@dataclass
class Trial:
    number: int
    values: dict[str, Any]
    summary: Row                   # n, <metric>, <metric>_ci95
    verdicts: list[Verdict]
    objective: float | None        # mean of the objective metric; None when undefined

    @property
    def feasible(self) -> bool:
        return all(v.verdict == "holds" for v in self.verdicts)


def _param(key: str, raw: Any) -> Param:
    path = f"tune.params.{key}"
    if not isinstance(raw, Mapping):
        raise ConfigError(path, raw, "expected {low, high, log} or {choices = [...]}")
    if "choices" in raw:
        extra = set(raw) - {"choices"}
        if extra:
            raise ConfigError(f"{path}.{sorted(extra)[0]}", raw[sorted(extra)[0]], "a choices parameter takes only choices")
        choices = raw["choices"]
        if (not isinstance(choices, list) or not choices
                or not all(isinstance(c, (str, int, float, bool)) for c in choices)):
            raise ConfigError(f"{path}.choices", choices, "expected a non-empty list of strings, numbers or booleans")
        return Param(key, choices=tuple(choices))
    for k in raw:
        if k not in ("low", "high", "log"):
            raise ConfigError(f"{path}.{k}", raw[k], "allowed: low, high, log (or choices)")
    if "low" not in raw or "high" not in raw:
        raise ConfigError(path, raw, "a range needs low and high")
    lo, hi, log = raw["low"], raw["high"], raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{path}.log", log, "expected true or false")
    duration = isinstance(lo, str) or isinstance(hi, str)
    integer = not duration and all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi))
    bounds = []
    for name, v in (("low", lo), ("high", hi)):
        try:
            bounds.append(parse_duration(v) if duration else float(v))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}.{name}", v, f"expected a number or a duration ({exc})") from None
        if isinstance(v, bool) or not math.isfinite(bounds[-1]):
            raise ConfigError(f"{path}.{name}", v, "expected a finite number or duration")
    if not bounds[0] < bounds[1]:
        raise ConfigError(f"{path}.high", hi, f"must be greater than low ({lo!r})")
    if log and bounds[0] <= 0:
        raise ConfigError(f"{path}.low", lo, "a log range needs low > 0")
    return Param(key, bounds[0], bounds[1], log, integer, duration)


def _constraint(i: int, text: Any) -> Bound:
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if m is None:
        raise ConfigError(f"tune.constraints[{i}]", text, 'expected "METRIC OP NUMBER", e.g. "attempts_per_op <= 1.5"')
    try:
        return parse_bounds([{m[1]: f"{m[2]} {m[3]}"}], [], METRICS)[0]
    except BoundsError as exc:
        raise ConfigError(f"tune.constraints[{i}]", text, str(exc).split(": ", 1)[-1]) from None


def parse_tune(raw: Any, trials: int | None = None) -> TuneSpec:
    """Validate the `[tune]` table (`trials` overrides its budget); raises `ConfigError`."""
    if not isinstance(raw, Mapping):
        raise ConfigError("tune", raw, "tune needs a [tune] table with params, minimize or maximize, trials")
    for k in raw:
        if k not in TUNE_KEYS:
            raise ConfigError(f"tune.{k}", raw[k], f"unknown key; allowed: {', '.join(TUNE_KEYS)}")
    params = raw.get("params")
    if not isinstance(params, Mapping) or not params:
        raise ConfigError("tune.params", params, 'expected a table of dotted keys, e.g. "policy.base" = {low = "1ms", high = "1s"}')
    goals = [k for k in ("minimize", "maximize") if k in raw]
    if len(goals) != 1:
        raise ConfigError("tune", raw, "give exactly one of minimize or maximize (a metric name)")
    objective = raw[goals[0]]
    if objective not in METRICS:
        raise ConfigError(f"tune.{goals[0]}", objective, f"expected a metric: {', '.join(METRICS)}")
    constraints = raw.get("constraints", [])
    if not isinstance(constraints, list):
        raise ConfigError("tune.constraints", constraints, 'expected a list such as ["attempts_per_op <= 1.5"]')
    budget = raw.get("trials", 20) if trials is None else trials
    path = "--trials" if trials is not None else "tune.trials"
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(path, budget, "expected a whole number >= 1")
    startup = raw.get("startup", min(10, budget))
    if isinstance(startup, bool) or not isinstance(startup, int) or startup < 1:
        raise ConfigError("tune.startup", startup, "expected a whole number >= 1 (random trials before TPE)")
    return TuneSpec(tuple(_param(k, v) for k, v in params.items()), objective, goals[0],
                    tuple(_constraint(i, c) for i, c in enumerate(constraints)), budget, startup)


def trial_config(raw: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment a trial runs: the config without [tune], its params as a one-point sweep."""
    config = {k: copy.deepcopy(v) for k, v in raw.items() if k not in ("tune", "bounds", "compare", "plot")}
    config["sweep"] = {k: [v] for k, v in values.items()}
    return config


def validate(raw: Mapping[str, Any], spec: TuneSpec) -> None:
    """Every parameter's ends (and each choice) must make a valid scenario: fail before running."""
    if raw.get("sweep"):
        raise ConfigError("sweep", raw["sweep"], "tune searches [tune].params; remove the [sweep] table")
    for p in spec.params:
        for v in p.choices or (p.low, p.high):
            mid = {q.key: (q.choices[0] if q.choices else int(q.low) if q.integer else q.low) for q in spec.params}
            load_experiment(trial_config(raw, {**mid, p.key: int(v) if p.integer else v}))


def _violations(verdicts: Sequence[Verdict], constraints: Sequence[Bound]) -> list[float]:
    """Per constraint, how far its interval is on the wrong side (≤ 0 only when it holds),
    in the metric's units: Optuna's constraints convention."""
    out = []
    for v, lim in zip(verdicts, (b.limits[0] for b in constraints)):
        if v.low is None:
            out.append(_MISSING_PENALTY)
            continue
        gap = v.high - lim.value if lim.op in ("<", "<=") else lim.value - v.low
        out.append(gap if v.verdict == "holds" else max(gap, 1e-12))
    return out


def run_tune(raw: Mapping[str, Any], out: Path, spec: TuneSpec, *, seed: int, workers: int | None = None,
             executor: str = "local", scheduler: str | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[Trial]:
    """Run `spec.trials` trials into `out/trials/`, then write tune.csv; returns the trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup)
    study = optuna.create_study(direction=spec.direction, sampler=sampler)
    trials: list[Trial] = []
    for number in range(spec.trials):
        ot = study.ask()
        values = {p.key: p.suggest(ot) for p in spec.params}
        exp = load_experiment(trial_config(raw, values))
        runs = run_experiment(exp, out / "trials" / f"t{number:03d}", workers=workers, executor=executor,
                              scheduler=scheduler, command=f"occmodel tune (trial {number})")
        summary = summarize(runs, [], METRICS)[0]
        verdicts = evaluate(spec.constraints, runs, []) if spec.constraints else []
        for i, violation in enumerate(_violations(verdicts, spec.constraints)):
            ot.set_constraint(f"c{i}", violation)        # TPE reads these: feasible when all <= 0
        objective = summary[spec.objective]
        if objective is None:       # e.g. a latency when nothing succeeded: the sampler learns nothing
            study.tell(ot, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(ot, float(objective))
        trials.append(Trial(number, values, summary, verdicts, objective))
        if progress:
            progress(number + 1, spec.trials)
    write_table(out / "tune.csv", spec, trials)
    return trials


def best(spec: TuneSpec, trials: Sequence[Trial]) -> Trial | None:
    """The feasible trial with the best mean objective; the earliest among equals."""
    sign = 1.0 if spec.direction == "minimize" else -1.0
    feasible = [t for t in trials if t.feasible and t.objective is not None]
    return min(feasible, key=lambda t: (sign * t.objective, t.number), default=None)


def write_table(path: Path, spec: TuneSpec, trials: Sequence[Trial]) -> None:
    """tune.csv: one row per trial: its setting, feasibility, each constraint's verdict, every
    metric's mean and 95 % half-width."""
    keys = [p.key for p in spec.params]
    checks = [b.limits[0].text for b in spec.constraints]
    rows = []
    for t in trials:
        row = {"trial": t.number, **t.values, "feasible": int(t.feasible), "n": t.summary["n"]}
        row.update({c: v.verdict for c, v in zip(checks, t.verdicts)})
        row.update(t.summary)
        rows.append(row)
    metric_cols = [c for m in METRICS for c in (m, f"{m}_ci95")]
    write_csv(path, ["trial", *keys, "feasible", *checks, "n", *metric_cols], rows)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf") if v == v else "nan"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as TOML")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def describe(spec: TuneSpec, trial: Trial) -> list[str]:
    """The objective and each constraint with its 95 % interval, one line each."""
    s = trial.summary
    lines = [f"{spec.objective} = {s[spec.objective]:.4g} ± {s[spec.objective + '_ci95']:.3g} "
             f"(95 % CI over {s['n']} replications; {spec.direction})"]
    for v in trial.verdicts:
        lines.append(f"{v.bound}: {v.estimate:.4g} [{v.low:.4g}, {v.high:.4g}] {v.verdict}")
    return lines


def write_best(path: Path, raw: Mapping[str, Any], spec: TuneSpec, trial: Trial, trials: int, source: str) -> None:
    """best.toml: the best setting as a ready `[scenario.policy]` table (whole policy, searched
    keys replaced); searched keys outside the policy are listed as comments."""
    policy = copy.deepcopy(raw.get("scenario", {}).get("policy", {"kind": "none"}))
    others = []
    for p in spec.params:
        value = trial.values[p.key]
        if not p.key.startswith("policy."):
            others.append(f'#   "{p.key}" = {_toml_value(value)}   ({p.show(value)})')
            continue
        node = policy
        *parents, leaf = p.key.split(".")[1:]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    lines = [f"# occmodel tune {source}: best feasible of {trials} trials (trial {trial.number})",
             *(f"# {line}" for line in describe(spec, trial))]
    if others:
        lines += ["# searched keys outside the policy (set them in their own tables):", *others]
    lines.append("[scenario.policy]")
    shown = {p.key.split(".", 1)[1]: p for p in spec.params if p.key.startswith("policy.") and "." not in p.key[7:]}
    for k, v in policy.items():
        note = f"   # {shown[k].show(v)}" if k in shown and shown[k].duration else ""
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}{note}")
    write_atomic(path, "\n".join(lines) + "\n")

