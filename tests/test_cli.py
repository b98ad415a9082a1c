"""The command line as a user meets it: exit codes, one-line errors, nothing half-written."""
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from occmodel.cli import main

TINY = """
[experiment]
name = "tiny"
seed = 2
replications = 3
duration = "0.5s"
warmup = "0.1s"
bin = "0.1s"
[scenario.workload]
kind = "closed"
clients = 8
keys = {count = 2}
[scenario.network]
one_way = "1ms"
pipelining = true
[scenario.store]
commit = {capacity = 1, service = {dist = "exponential", mean = "1ms"}}
[scenario.operation]
kind = "transaction"
reads = 2
[sweep]
policy = [{label = "imm", kind = "immediate"}, {label = "jit", kind = "jitter", base = "5ms"}]
[[bounds]]
where = {policy = "jit"}
success_rate = "> 0.5"
"""


def write(tmp_path, text=TINY, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("edit,fragment", [
    (('clients = 8', 'clinets = 8'), "scenario.workload.clinets: got 8; unknown key"),
    (('one_way = "1ms"', 'one_way = "-1ms"'), "scenario.network.one_way: got '-1ms'"),
    (('kind = "immediate"', 'kind = "sometimes"'), "scenario.policy.kind: got 'sometimes'"),
    (('replications = 3', 'replications = "three"'), "experiment.replications: got 'three'"),
    (('success_rate = "> 0.5"', 'success_rate = "about 0.5"'), "bounds[0].success_rate"),
    (('seed = 2', 'seed = 2\nseed = 3'), "not valid TOML"),
])
def test_bad_config_exit_2_one_line_nothing_written(tmp_path, edit, fragment):
    cfg = write(tmp_path, TINY.replace(*edit))
    out = tmp_path / "out"
    result = invoke("run", cfg, "--out", out)
    assert result.exit_code == 2
    assert fragment in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_arguments_exit_2(tmp_path):
    cfg = write(tmp_path)
    assert invoke("run", tmp_path / "missing.toml").exit_code == 2
    assert invoke("run", cfg, "--workers", "0").exit_code == 2
    assert invoke("run", cfg, "--executor", "mpi").exit_code == 2
    assert invoke("trace", cfg, "--point", "policy=nope").exit_code == 2
    assert invoke("plot", tmp_path).exit_code == 2


def test_run_check_and_plot_end_to_end(tmp_path):
    cfg = write(tmp_path)
    out = tmp_path / "res"
    result = invoke("run", cfg, "--out", out, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "summary" in result.output and "imm" in result.output and str(out) in result.output
    assert (out / "plots").is_dir() and any((out / "plots").glob("*.png"))
    held = invoke("check", cfg, "--results", out)
    assert held.exit_code == 0 and "holds" in held.output
    failing = write(tmp_path, TINY.replace('success_rate = "> 0.5"', 'success_rate = "> 1.5"'), "fail.toml")
    result = invoke("check", failing, "--results", out)     # another config: re-runs, then fails the bound
    assert result.exit_code == 1 and "fails" in result.output
    assert invoke("plot", out).exit_code == 0


def test_trace_shows_one_operation(tmp_path):
    cfg = write(tmp_path)
    result = invoke("trace", cfg, "--point", "policy=imm", "--op", "3")
    assert result.exit_code == 0, result.output
    assert "operation #3" in result.output and "commit" in result.output and "read" in result.output


def test_console_script_installed():
    exe = Path(sys.executable).parent / "occmodel"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "occmodel.cli"]
    assert subprocess.run([*cmd, "--help"], capture_output=True, text=True).returncode == 0


CENSORING = """
[experiment]
name = "cut"
replications = 2
duration = "4s"
drain = "0s"
[scenario.workload]
kind = "closed"
clients = 1
[scenario.operation]
kind = "call"
[scenario.store]
commit = {service = "3s"}
[sweep]
policy = [{label = "a", kind = "none"}]
"""


def test_run_warns_naming_censored_points_and_flags_low_success(tmp_path):
    result = invoke("run", write(tmp_path, CENSORING), "--out", tmp_path / "out", "--no-plots")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "censored > 0.1 %" in text and "policy=a (50.00%)" in text      # 1 of 2 measured ops unfinished
    assert "all p99 ms" in text and "censored" in text
    drained = invoke("run", write(tmp_path, CENSORING.replace('drain = "0s"', 'drain = "auto"'), "auto.toml"),
                     "--out", tmp_path / "auto", "--no-plots")
    assert "censored >" not in " ".join(drained.output.split())
    low = TINY.replace('kind = "immediate"', 'kind = "none"').replace('name = "tiny"', 'name = "low"')
    result = invoke("run", write(tmp_path, low, "low.toml"), "--out", tmp_path / "low", "--no-plots")
    text = " ".join(result.output.split())
    assert " !" in text and "success rate < 0.99: p50/p99 there cover only the successful operations" in text


def test_schema_prints_the_json_schema_of_the_experiment_file():
    import json

    from occmodel.reference import json_schema

    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.output) == json_schema()


def test_policies_lists_every_kind_and_style_with_keys_and_defaults():
    from occmodel.policies import REGISTRY, STYLED

    result = invoke("policies")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert all(kind in text for kind in REGISTRY) and all(style in text for _, style in STYLED)
    for fragment in ('mode = "full"', "budget_percent = 20", "too_old_delay =", 'cooldown = "1s"', "max_attempts = 10"):
        assert fragment in text, fragment
