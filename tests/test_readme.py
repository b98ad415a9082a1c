"""The README's Python examples run and say what they claim."""
import re
from pathlib import Path

import pytest

import occmodel

BLOCKS = re.findall(r"```python\n(.*?)```", (Path(__file__).parent.parent / "README.md").read_text(), re.S)


def test_api_example_matches_mm1(capsys):
    namespace: dict = {}
    exec(BLOCKS[0], namespace)
    assert namespace["r"].metrics["mean_ms"] == pytest.approx(2.0, rel=0.05)


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
    exec(BLOCKS[1], {})
    from occmodel.policies import REGISTRY
    assert REGISTRY["linear"].__pydantic_fields__["step"].description   # documented, as docgen requires
    sc = {"workload": {"kind": "batch", "clients": 5, "keys": {"count": 1}}, "network": {"one_way": "1ms"},
          "policy": {"kind": "linear", "step": "5ms", "max_attempts": 0}}
    assert occmodel.simulate(sc, seed=1).metrics["successes"] == 5
    with pytest.raises(occmodel.ConfigError, match="step"):
        occmodel.simulate({**sc, "policy": {"kind": "linear", "step": "-1ms"}}, seed=1)
