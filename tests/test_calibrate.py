"""`occmodel calibrate URL --out DIR`: low-load round trips of a real store as the model's input.

Against the session's real Redis and PostgreSQL (tests/servers.py): the CSVs hold every sample,
the written experiment loads them (from any working directory) and a model run of it
reproduces what was measured (one client, no conflicts: an operation is one read draw plus one
commit draw, so its mean latency is the sum of the two sample means, to within the run's
sampling error); bad URLs, unreachable or dying stores and directories that are not a
calibration's are refused with exit 2 and nothing written."""
import csv
import json
import math
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from occmodel.backends import parse_url
from occmodel.backends.base import Backend, Session
from occmodel.backends.calibrate import COLUMN, FILES, calibrate
from occmodel.cli import main
from occmodel.errors import ConfigError
from occmodel.experiment import load_experiment, run_experiment


def column(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [COLUMN]
    return np.array([float(r[0]) for r in rows[1:]])


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
def test_calibration_files_and_a_model_run_that_reproduces_them(kind, redis_url, postgres_url, tmp_path, monkeypatch):
    url = redis_url if kind == "redis" else postgres_url
    out = tmp_path / "cal"
    result = CliRunner().invoke(main, ["calibrate", url, "--out", str(out), "--samples", "300"])
    assert result.exit_code == 0, result.output
    assert "read" in result.output and "commit" in result.output and "calibrated.toml" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)      # no lock file or temp file left
    read, commit = column(out / "read.csv"), column(out / "commit.csv")
    assert len(read) == len(commit) == 300 and (read > 0).all() and (commit > 0).all()
    info = json.loads((out / "calibration.json").read_text())
    assert info["backend"] == kind and info["samples"] == 300 and "password" not in json.dumps(info)
    # the figures are the CSVs' (to the ns the CSVs keep)
    assert info["read_ms"]["p50"] == pytest.approx(np.quantile(read, 0.5), abs=2e-6)
    assert info["commit_ms"]["mean"] == pytest.approx(commit.mean(), abs=2e-6)
    assert info["server_cpu_per_attempt_ms"] > 0 and info["client_lag_ms"]["p50"] >= 0
    # one client waits for each reply: its CPU per attempt is below the attempt's wall time
    assert 0 < info["client_cpu_per_attempt_ms"] <= (read + commit).mean() * 1.05

    monkeypatch.chdir(tmp_path)      # relative csv paths resolve against the config's folder, not the cwd
    exp = load_experiment(out / "calibrated.toml")
    store = exp.points[0].scenario.store
    assert np.allclose(store.read.service.samples, read * 1e-3) and np.allclose(store.commit.service.samples, commit * 1e-3)
    assert exp.points[0].scenario.network.one_way.mean == 0 and store.read.capacity == math.inf

    runs = run_experiment(load_experiment(out / "calibrated.toml", replications=1), tmp_path / "model")
    r = runs[0]
    expected = read.mean() + commit.mean()
    # the run's mean is over its operations, each a read and a commit draw: its standard error
    se = math.sqrt((read.var() + commit.var()) / r["operations"])
    assert r["conflict_rate"] == 0 and r["attempts_per_op"] == 1
    assert abs(r["mean_ms"] - expected) < 5 * se + 1e-9, (r["mean_ms"], expected, se)
    assert r["throughput"] == pytest.approx(1e3 / r["mean_ms"], rel=0.02)    # one closed client, no think time


def test_calibrate_then_run_the_same_file_against_the_store(redis_url, tmp_path):
    """The calibrated experiment runs against the store it came from too: the store replaces the
    calibrated round trips (noted), the files are a real run's."""
    out = tmp_path / "cal"
    assert CliRunner().invoke(main, ["calibrate", redis_url, "--out", str(out), "--samples", "50"]).exit_code == 0
    result = CliRunner().invoke(main, ["run", str(out / "calibrated.toml"), "--store", redis_url, "--out",
                                       str(tmp_path / "real"), "--no-plots", "--replications", "1"])
    assert result.exit_code == 0, result.output
    assert "store.read, store.commit" in " ".join(result.output.split())
    assert json.loads((tmp_path / "real" / "manifest.json").read_text())["backend"] == "redis"


@pytest.mark.parametrize("url,says", [
    ("redis://10.1.2.3:6379", "not a loopback address"),
    ("mysql://127.0.0.1/db", "unknown scheme"),
    ("postgresql://u@127.0.0.1:5432", "names no database"),
])
def test_bad_urls_exit_2_and_write_nothing(url, says, tmp_path):
    result = CliRunner().invoke(main, ["calibrate", url, "--out", str(tmp_path / "cal")])
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
    assert result.output.startswith("occmodel: error: URL:")
    assert not (tmp_path / "cal").exists()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:{port}", "postgresql://x@127.0.0.1:{port}/db"])
def test_an_unreachable_store_exits_2_and_writes_nothing(url, tmp_path):
    from servers import free_port

    result = CliRunner().invoke(main, ["calibrate", url.format(port=free_port()), "--out", str(tmp_path / "cal")])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.startswith("occmodel: error: URL:") and "127.0.0.1" in result.output
    assert not (tmp_path / "cal").exists()


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
def test_a_store_dying_mid_calibration_exits_2_and_writes_nothing(kind, tmp_path):
    from servers import postgres_server, redis_server

    out = tmp_path / "cal"
    (out).mkdir()
    (out / "keep.txt").write_text("mine")
    with (redis_server if kind == "redis" else postgres_server)() as server:
        killer = threading.Timer(1.0, server.kill)
        killer.start()
        result = CliRunner().invoke(main, ["calibrate", server.url, "--out", str(out), "--samples", "10000000"])
        killer.join()
    assert result.exit_code == 2, result.output
    message = [line for line in result.output.splitlines() if line.startswith("occmodel: error:")]
    assert len(message) == 1 and "URL:" in message[0] and "Traceback" not in result.output, result.output
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_a_directory_of_experiment_results_is_refused_unless_forced(redis_url, tmp_path):
    results = tmp_path / "results"
    toml = tmp_path / "e.toml"
    toml.write_text('[experiment]\nname = "other"\nduration = "0.2s"\n[scenario.store.commit]\nservice = "1ms"\n')
    assert CliRunner().invoke(main, ["run", str(toml), "--out", str(results), "--no-plots", "--workers", "1"]).exit_code == 0
    before = sorted(p.name for p in results.iterdir())
    result = CliRunner().invoke(main, ["calibrate", redis_url, "--out", str(results), "--samples", "20"])
    assert result.exit_code == 2 and "holds the results of experiment 'other'" in result.output
    assert sorted(p.name for p in results.iterdir()) == before
    forced = CliRunner().invoke(main, ["calibrate", redis_url, "--out", str(results), "--samples", "20", "--force"])
    assert forced.exit_code == 0, forced.output
    assert set(before) | set(FILES) == {p.name for p in results.iterdir()}     # theirs kept, ours added


def test_another_stores_calibration_is_refused_the_same_stores_replaced(redis_url, postgres_url, tmp_path):
    out = tmp_path / "cal"
    assert CliRunner().invoke(main, ["calibrate", redis_url, "--out", str(out), "--samples", "20"]).exit_code == 0
    first = (out / "read.csv").read_text()
    again = CliRunner().invoke(main, ["calibrate", redis_url, "--out", str(out), "--samples", "30"])
    assert again.exit_code == 0 and (out / "read.csv").read_text() != first and len(column(out / "read.csv")) == 30
    other = CliRunner().invoke(main, ["calibrate", postgres_url, "--out", str(out), "--samples", "20"])
    assert other.exit_code == 2 and "holds a calibration of 'redis', not of 'postgresql'" in other.output
    assert json.loads((out / "calibration.json").read_text())["backend"] == "redis"


class Busy(Backend):
    """A store someone else writes to: every commit conflicts."""

    kind = "redis"
    failures = (OSError,)

    def check(self):
        return {}

    def reset(self, keys):
        pass

    async def session(self, conflict="expected_version"):
        class Conflicting(Session):
            async def read(self, keys, watch):
                return [0]

            async def commit(self, keys, seen, writes):
                return False

            async def close(self):
                pass

        return Conflicting()


def test_a_store_others_write_to_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        calibrate(Busy(parse_url("redis://127.0.0.1:1")), tmp_path / "cal", samples=10)
    assert err.value.path == "URL" and "another client" in err.value.allowed
    assert not (tmp_path / "cal").exists()
