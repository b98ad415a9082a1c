"""keys.png: one row per shown point, share and conflict rate by key rank and the gap distribution,
a line per policy, twins named, and a truncated keys.csv refused."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from click.testing import CliRunner

from occmodel.cli import main
from occmodel.plots import build_figures

CONFIG = """
[experiment]
name = "keys-plot"
seed = 5
replications = 2
duration = "0.6s"
warmup = "0.1s"

[scenario.workload]
kind = "closed"
clients = 6
think = {dist = "exponential", mean = "2ms"}
keys = {count = 16, choice = "zipf", s = 1.2}

[scenario.store]
commit = {capacity = 1, service = {dist = "exponential", mean = "1ms"}}

[scenario.operation]
kind = "append"

[sweep]
"workload.clients" = [2, 6]
policy = [{label = "immediate", kind = "immediate", max_attempts = 4},
          {label = "twin", kind = "immediate", max_attempts = 4},
          {label = "jitter", kind = "jitter", base = "2ms", cap = "50ms", max_attempts = 4}]
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("kp")
    (d / "exp.toml").write_text(CONFIG)
    result = CliRunner().invoke(main, ["run", str(d / "exp.toml"), "--out", str(d / "out"), "--no-plots"])
    assert result.exit_code == 0, result.output
    return d / "out"


def test_keys_plot_has_a_row_per_point_and_a_line_per_policy(results):
    plots = {p.name: p for p in build_figures(results)}
    try:
        fig = plots["keys.png"].figure
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert len(axes) == 6                                    # 2 points × (share, rate, gaps)
        share, rate, gaps = axes[3:6]                            # the 6-client row
        assert share.get_xscale() == share.get_yscale() == rate.get_yscale() == "log"
        assert len(rate.get_lines()) == 3                        # immediate, twin, jitter
        assert "6 clients" not in share.get_title() and "workload.clients=6" in share.get_title()
        assert share.get_ylabel() == "share of all conflicts" and "key rank" in share.get_xlabel()
        assert "version gap" in gaps.get_xlabel()
        notes = " ".join(t.get_text() for t in share.texts)
        assert "twin = immediate" in notes and "even spread over 16 keys" in notes
        assert "keys.csv" in plots["keys.png"].caption
    finally:
        for p in plots.values():
            plt.close(p.figure)


def test_truncated_keys_csv_is_refused(results, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    lines = (copy / "keys.csv").read_text().splitlines()
    (copy / "keys.csv").write_text("\n".join(lines[:-3]) + "\n")
    result = CliRunner().invoke(main, ["plot", str(copy)])
    assert result.exit_code == 2 and "keys.csv" in result.output and "Traceback" not in result.output
    assert not (copy / "plots").exists()
