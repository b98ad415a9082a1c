"""The project's performance regression suite, and `occmodel check` as a user meets it.

Every config under tests/bounds/ is a small, fast experiment whose `[[bounds]]` pin one family of
retry patterns (its comment header says what and why). Each is run here once and judged with the
pytest helper, exactly as `occmodel check` judges it (95 % intervals, paired compares), and then
`occmodel check --results` must agree from the saved results without re-running anything.
The CLI tests below use a tiny config of their own: exit 0 when every bound holds, 1 when one
fails or is inconclusive, 2 for a bad bound; saved results are re-used only when they are from
the very same config.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from occmodel.cli import main
from occmodel.experiment import load_experiment, run_experiment
from occmodel.policies import REGISTRY
from occmodel.policies.base import styles as styles_of
from occmodel.results import read_csv
from occmodel.stats import mean_ci95
from occmodel.testing import assert_bounds

BOUNDS = Path(__file__).parent / "bounds"
CONFIGS = sorted(BOUNDS.glob("*.toml"))


@pytest.fixture(autouse=True)
def _no_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCCMODEL_NO_PROGRESS", "1")


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((out / "runs").glob("*.json"))}


# --- the regression suite ------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_bounds_config_holds(config: Path, tmp_path: Path) -> None:
    exp = load_experiment(config)
    out = tmp_path / exp.name
    runs = run_experiment(exp, out, workers=2)
    verdicts = assert_bounds(runs, exp.raw["bounds"], exp.swept)
    assert len(verdicts) >= len(exp.bounds)

    # `occmodel check` reaches the same verdicts from the saved results, without re-running them
    before = mtimes(out)
    result = invoke("check", config, "--results", out)
    assert result.exit_code == 0, result.output
    assert f"{len(verdicts)} of {len(verdicts)} bound checks hold" in result.output
    assert "no matching saved results" not in result.output
    assert mtimes(out) == before


def _policies(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy table of a config (base and swept), with the policies they wrap."""
    tables = [raw.get("scenario", {}).get("policy"), *raw.get("sweep", {}).get("policy", [])]
    found = []
    for table in filter(None, tables):
        while table:
            found.append(table)
            table = table.get("inner")
    return found


def _style(p: dict[str, Any]) -> str | None:
    """The style a policy table runs: its own, else its kind's default style (retry_budget: aws)."""
    field = REGISTRY[p["kind"]].__pydantic_fields__.get("style")
    return p.get("style", field.default if field is not None else None)


def test_suite_pins_every_pattern_and_every_variant() -> None:
    """Every registered kind and every style of it (from the registry, so a new one must join the
    suite), and the variants whose semantics differ most."""
    kinds, modes, scopes, styles, operations = set(), set(), set(), set(), set()
    counts, backoff = set(), set()
    for config in CONFIGS:
        text = config.read_text()
        assert text.startswith("#"), f"{config.name}: needs a comment header saying what it pins and why"
        raw = tomllib.loads(text)
        exp = load_experiment(raw)
        assert 5 <= exp.settings.replications <= 10, config.name
        assert exp.bounds, f"{config.name} states no bounds"
        for p in _policies(raw):
            kinds.add(p["kind"])
            if p["kind"] == "jitter":
                modes.add(p.get("mode", "full"))
            if p["kind"] == "circuit_breaker":
                scopes.add(p.get("scope", "client"))
            styles.add((p["kind"], _style(p)))
            if p["kind"] == "circuit_breaker":
                counts.add(p.get("counts", "attempts"))
            if p.get("style") == "envoy":
                backoff.add(p.get("count_backoff", False))
        operations.update(exp.raw.get("sweep", {}).get("operation.kind", []))
        operations.add(raw.get("scenario", {}).get("operation", {}).get("kind", "append"))
        # every swept policy is named by some bound: nothing in a sweep is left unpinned
        named = set()
        for b in exp.bounds:
            named.update([b.compare.a, b.compare.b] if b.compare else [])
            named.add(b.where.get("policy"))
        labels = [p["label"] for p in raw.get("sweep", {}).get("policy", [])]
        assert set(labels) <= named, f"{config.name}: no bound names {sorted(set(labels) - named)}"
    assert kinds >= set(REGISTRY), f"no bounds file runs {sorted(set(REGISTRY) - kinds)}"
    every_style = {(k, s) for k in REGISTRY for s in styles_of(k)}
    assert styles >= every_style, f"no bounds file runs {sorted(every_style - styles)}"
    assert modes >= {"full", "equal", "decorrelated", "additive"}
    assert scopes >= {"global", "operation"}
    assert counts >= {"attempts", "operations"} and backoff >= {False, True}
    assert operations >= {"append", "value_check"}


# --- occmodel check: exit codes and re-use of saved results -------------------------------------
TINY = """
[experiment]
name = "tiny-check"
seed = 5
replications = {reps}
duration = "{duration}"
warmup = "0.05s"

[scenario.workload]
kind = "closed"
clients = 4
think = {{dist = "exponential", mean = "2ms"}}

[scenario.network]
one_way = {{dist = "exponential", mean = "500us"}}

[scenario.store]
faults = [{{kind = "error", probability = 0.5}}]

[scenario.operation]
kind = "call"

[sweep]
policy = [{{label = "imm", kind = "immediate", max_attempts = 10}}, {{label = "none", kind = "none"}}]

{bounds}
"""
EXACT = """
[[bounds]]
where = {policy = "none"}
attempts_per_op = "<= 1"
"""
HOLDS = EXACT + """
[[bounds]]
compare = {a = "none", b = "imm", metric = "attempts_per_op", expect = "a < b"}
"""


def tiny(tmp_path: Path, bounds: str = HOLDS, *, reps: int = 3, duration: str = "0.3s", name: str = "tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(TINY.format(reps=reps, duration=duration, bounds=bounds))
    return path


def test_check_exits_0_when_every_bound_holds(tmp_path: Path) -> None:
    result = invoke("check", tiny(tmp_path), "--results", tmp_path / "out", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "2 of 2 bound checks hold" in result.output
    assert "attempts_per_op: none < imm" in result.output


def test_check_exits_1_when_a_bound_fails(tmp_path: Path) -> None:
    failing = HOLDS + '\n[[bounds]]\nwhere = {policy = "none"}\nattempts_per_op = "> 1.5"\n'
    result = invoke("check", tiny(tmp_path, failing), "--results", tmp_path / "out", "--workers", "1")
    assert result.exit_code == 1, result.output
    assert "2 of 3 bound checks hold" in result.output
    row = next(line for line in result.output.splitlines() if "attempts_per_op > 1.5" in line)
    assert "policy=none" in row and "fails" in row


def test_check_exits_1_when_a_bound_is_inconclusive(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("check", tiny(tmp_path, EXACT, reps=2), "--results", out, "--workers", "1").exit_code == 0
    throughput = [r["throughput"] for r in read_csv(out / "runs.csv") if r["policy"] == "imm"]
    mean, half = mean_ci95(throughput)
    assert half > 0
    limit = mean + half / 4          # inside the 95 % interval: two replications cannot decide it
    straddling = EXACT + f'\n[[bounds]]\nwhere = {{policy = "imm"}}\nthroughput = "< {limit!r}"\n'
    result = invoke("check", tiny(tmp_path, straddling, reps=2), "--results", out, "--workers", "1")
    assert result.exit_code == 1, result.output
    assert "1 of 2 bound checks hold" in result.output
    row = next(line for line in result.output.splitlines() if "throughput <" in line)
    assert "inconclusive" in row and "replications would likely decide it" in row


@pytest.mark.parametrize("bounds, fragment", [
    ('[[bounds]]\nwhere = {policy = "none"}\np99 = "< 1"\n', "bounds[0].p99: unknown metric"),
    ('[[bounds]]\ncompare = {a = "none", b = "imm", metric = "atempts", expect = "a < b"}\n',
     "bounds[0].compare.metric: unknown metric 'atempts'"),
    ('[[bounds]]\nwhere = {policy = "jitter"}\nthroughput = "> 1"\n', "bounds[0].where.policy: 'jitter' matches no point"),
    ("", "has no [[bounds]] to check"),
])
def test_check_exits_2_on_a_bad_bound_and_runs_nothing(tmp_path: Path, bounds: str, fragment: str) -> None:
    out = tmp_path / "out"
    result = invoke("check", tiny(tmp_path, bounds), "--results", out)
    assert result.exit_code == 2
    assert fragment in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_check_reuses_saved_results_of_the_same_config_and_reruns_a_changed_one(tmp_path: Path) -> None:
    config, out = tiny(tmp_path), tmp_path / "out"
    first = invoke("check", config, "--results", out, "--workers", "1")
    assert first.exit_code == 0 and "no matching saved results" in first.output
    saved = mtimes(out)
    assert len(saved) == 2 * 3
    table = (out / "runs.csv").read_text()

    again = invoke("check", config, "--results", out, "--workers", "1")
    assert again.exit_code == 0 and "no matching saved results" not in again.output
    assert mtimes(out) == saved and (out / "runs.csv").read_text() == table

    tiny(tmp_path, duration="0.4s")          # same file, another scenario: the saved runs are stale
    changed = invoke("check", config, "--results", out, "--workers", "1")
    assert changed.exit_code == 0 and "no matching saved results" in changed.output
    rerun = mtimes(out)
    assert rerun.keys() == saved.keys() and all(rerun[k] != saved[k] for k in saved)
    assert (out / "runs.csv").read_text() != table
