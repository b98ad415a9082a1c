"""Every shipped experiment's header claims are `[[bounds]]` entries, and they hold.

An experiment header that says "full jitter finishes first" is a claim about the model; a
comment cannot fail when the model changes, a bound can. So every experiments/*.toml that
sweeps something states its claims as bounds, and the slow test runs `occmodel check` on each,
exactly as a user would, failing on any bound that fails or is inconclusive. The directory is
globbed, so a new experiment is covered the day it lands. Two rules exclude files by what they
are, not by name lists: a tuning file (`[tune]`, no `[sweep]`) is judged by `occmodel tune`
(tests/test_tune.py), and `reality-*.toml` compares the model with runs against a real store
(`occmodel run --store`, issue 17's tests), which `check` alone cannot reproduce.
experiments/validation/ is the validation studies' own (tests/test_validation.py).
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from occmodel.cli import main
from occmodel.experiment import load_experiment

EXPERIMENTS = Path(__file__).parent.parent / "experiments"
SHIPPED = sorted(EXPERIMENTS.glob("*.toml"))


def needs_real_store(path: Path) -> bool:
    return path.name.startswith("reality-")


def is_tuning(raw: dict) -> bool:
    return "tune" in raw and "sweep" not in raw


CHECKED = [p for p in SHIPPED if not needs_real_store(p) and not is_tuning(tomllib.loads(p.read_text()))]


def test_every_swept_experiment_states_its_claims_as_bounds() -> None:
    assert len(CHECKED) >= 7                      # the seven shipped with issue 19, and any added since
    for path in CHECKED:
        assert tomllib.loads(path.read_text()).get("bounds"), f"{path.name}: its header's claims must be [[bounds]]"
        load_experiment(path)                      # and they name swept values and metrics that exist


@pytest.mark.slow
@pytest.mark.parametrize("config", CHECKED, ids=[p.stem for p in CHECKED])
def test_every_bound_of_a_shipped_experiment_holds(config: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCCMODEL_NO_PROGRESS", "1")
    result = CliRunner().invoke(main, ["check", str(config), "--results", str(tmp_path / config.stem)],
                                catch_exceptions=False)
    assert result.exit_code == 0, f"{config.name}: a header claim no longer holds\n{result.output}"
    assert "bound checks hold" in result.output
