"""The command line as a user meets it: exit codes, one-line errors, nothing half-written."""
import itertools
import json
import os
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


TYPED = TINY.replace('[sweep]\n', '[sweep]\n"network.pipelining" = [true, false]\n"store.commit.batch_interval" = [0.0, 0.002]\n')


@pytest.mark.parametrize("point, shown", [
    (("network.pipelining=true", "store.commit.batch_interval=0"), "network.pipelining=true, store.commit.batch_interval=0.0"),
    (("network.pipelining=false", "store.commit.batch_interval=0.002", "policy=jit"),
     "network.pipelining=false, store.commit.batch_interval=0.002, policy=jit"),
    (("store.commit.batch_interval=2e-3",), "network.pipelining=true, store.commit.batch_interval=0.002"),
])
def test_trace_point_values_match_by_type(tmp_path, point, shown):
    cfg = write(tmp_path, TYPED)
    result = invoke("trace", cfg, *itertools.chain.from_iterable(("--point", p) for p in point))
    assert result.exit_code == 0, result.output
    assert shown in result.output


@pytest.mark.parametrize("point, fragment", [
    ("network.pipelining=1", "'network.pipelining=1'; matches no value of network.pipelining; it takes: true, false"),
    ("network.pipelining=True", "it takes: true, false"),          # TOML booleans are lower case
    ("store.commit.batch_interval=0.5", "it takes: 0.0, 0.002"),
    ("policy=nope", "'policy=nope'; matches no value of policy; it takes: imm, jit"),
])
def test_trace_point_matching_nothing_lists_the_values(tmp_path, point, fragment):
    result = invoke("trace", write(tmp_path, TYPED), "--point", point)
    assert result.exit_code == 2
    assert fragment in result.output and "Traceback" not in result.output


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


# --- results directories that cannot be written, or belong to someone else (issue 13) --------------
MANY_RUNS = """
[experiment]
name = "many"
replications = 10
duration = "0.1s"
[scenario.workload]
clients = 2
think = "1ms"
[scenario.network]
one_way = "1ms"
[sweep]
"workload.clients" = [1, 2, 3, 4]
"""


def private_mount(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run `script` (sh) in a mount namespace of its own, where it may mount a tmpfs at $M: as
    root directly, else in a user namespace. Skips where neither is allowed."""
    env = {**os.environ, "OCCMODEL_NO_PROGRESS": "1", "M": str(tmp_path / "m"), "T": str(tmp_path),
           "OCC": f"{sys.executable} -m occmodel.cli"}
    (tmp_path / "m").mkdir()
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        try:
            probe = subprocess.run([*prefix, "sh", "-c", 'mount -t tmpfs tmpfs "$M" && umount "$M"'], env=env,
                                   capture_output=True)
        except OSError:
            break
        if probe.returncode == 0:
            return subprocess.run([*prefix, "sh", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    pytest.skip("no mount namespace here (needs root or user namespaces) to make a full or read-only disk")


def test_a_full_disk_stops_with_one_message_and_no_half_written_file(tmp_path):
    """--out on a 64 kB tmpfs: the sweep fills it. Exit 2, one line naming --out and the file, no
    traceback, no temp file left, every saved run whole; with room again, the run resumes."""
    cfg = write(tmp_path, MANY_RUNS, "many.toml")
    done = private_mount(f'mount -t tmpfs -o size=64k tmpfs "$M"; $OCC run {cfg} --out "$M/out" --workers 1; '
                         'echo "rc=$?"; cp -a "$M/out" "$T/full"; mount -o remount,size=4m "$M"; '
                         f'$OCC run {cfg} --out "$M/out" --workers 1 --no-plots > /dev/null; echo "rc=$?"; '
                         'cp -a "$M/out" "$T/resumed"', tmp_path)
    first, second = [line for line in done.stdout.splitlines() if line.startswith("rc=")]
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert first == "rc=2" and "Traceback" not in done.stderr
    assert len(errors) == 1 and errors[0].startswith("occmodel: error: --out: cannot write "), done.stderr
    assert "No space left on device" in errors[0] and "/out/" in errors[0]
    saved = sorted((tmp_path / "full").rglob("*"))
    assert not [p for p in saved if p.name.endswith(".tmp")]
    runs = [p for p in saved if p.name.startswith("p0")]
    assert 0 < len(runs) < 40
    for p in runs:
        assert set(json.loads(p.read_text())) == {"metrics", "timeseries", "latency", "keys"}
    assert second == "rc=0" and len((tmp_path / "resumed" / "runs.csv").read_text().splitlines()) == 41
    kept = {p.name: p.read_bytes() for p in runs}
    assert all((tmp_path / "resumed" / "runs" / n).read_bytes() == b for n, b in kept.items())   # none redone


@pytest.mark.slow
def test_a_read_only_out_is_refused_before_anything_runs(tmp_path):
    """As root permission bits do not stop a write, a read-only mount does (os.access says so)."""
    cfg = write(tmp_path, MANY_RUNS, "many.toml")
    done = private_mount(f'mount -t tmpfs tmpfs "$M" && mount -o remount,ro "$M"; $OCC run {cfg} --out "$M/out"; '
                         'echo "rc=$?"; ls -A "$M"', tmp_path)
    assert done.stdout.splitlines() == ["rc=2"], done.stdout       # and nothing in the mount
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("occmodel: error: --out: got ") and "is not a writable directory" in done.stderr


def test_check_names_results_when_refusing_another_experiments_directory(tmp_path):
    out = tmp_path / "out"
    assert invoke("run", write(tmp_path), "--out", out, "--no-plots").exit_code == 0
    other = write(tmp_path, TINY.replace('name = "tiny"', 'name = "other"'), "other.toml")
    result = CliRunner().invoke(main, ["check", str(other), "--results", str(out)])
    assert result.exit_code == 2 and "occmodel: error: --results: got" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output     # no "running ..." note above it
    assert len(list((out / "runs").glob("p*.json"))) == 6            # tiny's 2 points x 3 runs, kept
    assert "'tiny', not 'other'" in result.output and "--out" not in result.output


def test_two_config_files_sharing_a_name_do_not_replace_each_others_results(tmp_path):
    """A copied config whose name was not changed is another experiment: refused, naming both
    files, unless --force; an edit of the same file still replaces its stale runs."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    out = tmp_path / "out"
    first = write(tmp_path / "a", TINY)
    assert invoke("run", first, "--out", out, "--no-plots").exit_code == 0
    saved = (out / "runs.csv").read_text()
    copy = write(tmp_path / "b", TINY.replace('one_way = "1ms"', 'one_way = "2ms"'))
    result = CliRunner().invoke(main, ["run", str(copy), "--out", str(out), "--no-plots"])
    assert result.exit_code == 2 and str(first) in result.output and str(copy) in result.output, result.output
    assert "another config named 'tiny'" in result.output and (out / "runs.csv").read_text() == saved
    same = write(tmp_path / "b", TINY)       # identical content: the same experiment, its runs are reused
    assert invoke("run", same, "--out", out, "--no-plots").exit_code == 0 and (out / "runs.csv").read_text() == saved
    write(tmp_path / "b", TINY.replace('one_way = "1ms"', 'one_way = "2ms"'))
    assert invoke("run", copy, "--out", out, "--no-plots", "--force").exit_code == 0
    assert (out / "runs.csv").read_text() != saved
    first.write_text(TINY.replace('one_way = "1ms"', 'one_way = "3ms"'))   # now b's: a's edit is refused...
    assert CliRunner().invoke(main, ["run", str(first), "--out", str(out), "--no-plots"]).exit_code == 2
    edited = write(tmp_path / "b", TINY.replace('one_way = "1ms"', 'one_way = "5ms"'))
    before = (out / "runs.csv").read_text()
    assert invoke("run", edited, "--out", out, "--no-plots").exit_code == 0    # ...b's own edit replaces
    assert (out / "runs.csv").read_text() != before


def test_trace_keeps_the_experiments_max_time(tmp_path):
    """`trace` of a batch whose operations never finish stops at experiment.max_time, not at 1 h."""
    never = ('[experiment]\nname = "never"\nmax_time = "2s"\n[scenario.workload]\nkind = "batch"\n'
             '[scenario.operation]\ntimeout = "10ms"\n[scenario.store]\nfaults = [{kind = "down", mode = "hang"}]\n'
             '[scenario.policy]\nkind = "exponential"\nmax_attempts = 0\n')
    result = CliRunner().invoke(main, ["trace", str(write(tmp_path, never, "never.toml"))])
    assert result.exit_code == 2 and "experiment.max_time: got '2s'" in result.output, result.output


def test_one_success_threshold_flags_latency_everywhere(tmp_path, capsys):
    """0.985 is below 0.99 and flagged by the run table, check's verdicts and the plots; 0.995 by none."""
    from occmodel import cli
    from occmodel.bounds import success_text
    from occmodel.plotbase import low_success
    from occmodel.results import write_csv, write_json

    for rate, flagged in ((0.985, True), (0.995, False)):
        write_csv(tmp_path / "summary.csv", ["policy", "n", "success_rate", "p99_ms"],
                  [{"policy": "a", "n": 3, "success_rate": rate, "p99_ms": 5.0}])
        write_json(tmp_path / "manifest.json", {"swept": ["policy"]})
        cli.print_summary(tmp_path)
        table = capsys.readouterr().out
        assert (f"{rate:.3f}±? !" in table) is flagged and ("success rate < 0.99" in table) is flagged, table
        assert success_text([{"success_rate": rate}]).endswith("(< 0.99!)") is flagged
        assert low_success({"success_rate": rate}) is flagged


def test_summary_table_prints_every_number_one_way(tmp_path, capsys):
    """With replications every cell is mean±half-width, a zero or undefined interval too (not "1.000"
    beside "0.950±0.010"); with one replication no cell has one."""
    from occmodel import cli
    from occmodel.results import write_csv, write_json

    cols = ["policy", "n", "success_rate", "success_rate_ci95", "p99_ms", "p99_ms_ci95"]
    write_json(tmp_path / "manifest.json", {"swept": ["policy"]})
    write_csv(tmp_path / "summary.csv", cols, [
        {"policy": "a", "n": 3, "success_rate": 1.0, "success_rate_ci95": 0.0, "p99_ms": 5.0, "p99_ms_ci95": 0.25},
        {"policy": "b", "n": 3, "success_rate": 0.995, "success_rate_ci95": 0.004, "p99_ms": 7.0,
         "p99_ms_ci95": float("nan")}])
    cli.print_summary(tmp_path)
    table = capsys.readouterr().out
    for cell in ("1.000±0.000", "5.00±0.25", "0.995±0.004", "7.00±?"):
        assert cell in table, table
    write_csv(tmp_path / "summary.csv", cols, [
        {"policy": "a", "n": 1, "success_rate": 1.0, "p99_ms": 5.0}, {"policy": "b", "n": 1, "success_rate": 0.995,
                                                                      "p99_ms": 7.0}])
    cli.print_summary(tmp_path)
    table = capsys.readouterr().out
    assert "±" not in table and "1.000" in table and "7.00" in table and "one replication" in table


def test_the_censoring_warning_starts_above_one_in_a_thousand(tmp_path, capsys):
    """Hand-computed: 2 of 1000 measured operations unfinished (0.2 %) warns, naming the point;
    1 of 1999 (0.05 %) does not; the share is of finished + censored."""
    from occmodel import cli
    from occmodel.results import write_csv

    write_csv(tmp_path / "summary.csv", ["policy", "n", "operations", "censored"],
              [{"policy": "a", "n": 2, "operations": 998, "censored": 2},
               {"policy": "b", "n": 2, "operations": 1998, "censored": 1},
               {"policy": "c", "n": 2, "operations": 999, "censored": 1}])
    cli.warn_censored(tmp_path, ["policy"])
    text = " ".join(capsys.readouterr().err.split())
    assert "policy=a (0.20%)" in text and "policy=b" not in text and "policy=c" not in text   # c: exactly 0.1 %
