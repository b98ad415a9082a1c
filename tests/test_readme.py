"""The README's Python examples run and say what they claim."""
import re
from pathlib import Path

import pytest

import occmodel

BLOCKS = re.findall(r"```python\n(.*?)```", (Path(__file__).parent.parent / "README.md").read_text(), re.S)


def block(marker: str) -> str:
    """The README example that contains `marker` (found by content, not position)."""
    [found] = [b for b in BLOCKS if marker in b]
    return found


def test_api_example_matches_mm1(capsys):
    namespace: dict = {}
    exec(block("occmodel.simulate("), namespace)
    assert namespace["r"].metrics["mean_ms"] == pytest.approx(2.0, rel=0.05)


def test_sweep_example_matches_mm1_and_prints_each_rate(capsys):
    namespace: dict = {}
    exec(block("occmodel.sweep("), namespace)
    summary = namespace["s"].summary
    assert [r["workload.rate"] for r in summary] == [250, 500]
    for row in summary:                                      # M/M/1 mean response 1 / (μ − λ), μ = 1000/s
        assert row["mean_ms"] == pytest.approx(1e3 / (1000 - row["workload.rate"]), rel=0.05)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed] == ["250", "500"]


@pytest.fixture
def registry():
    """The example registers a policy: take it out again, so the registry (and the reference
    generated from it) is the package's own for every other test."""
    from occmodel.policies import REGISTRY

    saved = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)


def test_new_policy_example_registers_and_runs(registry):
    exec(block("@register"), {})
    from occmodel.policies import REGISTRY
    assert REGISTRY["linear"].__pydantic_fields__["step"].description   # documented, as docgen requires
    sc = {"workload": {"kind": "batch", "clients": 5, "keys": {"count": 1}}, "network": {"one_way": "1ms"},
          "policy": {"kind": "linear", "step": "5ms", "max_attempts": 0}}
    assert occmodel.simulate(sc, seed=1).metrics["successes"] == 5
    with pytest.raises(occmodel.ConfigError, match="step"):
        occmodel.simulate({**sc, "policy": {"kind": "linear", "step": "-1ms"}}, seed=1)
