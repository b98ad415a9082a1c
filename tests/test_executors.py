"""Executors: local workers die with their parent, whatever kills it (issue 13); they start with the parent's objects frozen."""
import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from occmodel.errors import ConfigError
from occmodel.executors import deferred_interrupts, execute
from occmodel.model import simulate

LONG = """
[experiment]
name = "long"
replications = 4
duration = "300s"
[scenario.workload]
clients = 8
think = "1ms"
[scenario.network]
one_way = "1ms"
"""


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def spawned(pid: int) -> list[int]:
    """Worker processes among `pid`'s children (not multiprocessing's resource tracker)."""
    found = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            found.append(child)
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("executor", ["local", pytest.param("dask", marks=pytest.mark.slow)])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_parent_is_killed(tmp_path, sig, executor):
    """Local pool workers get SIGKILL from the kernel (PR_SET_PDEATHSIG); a Dask LocalCluster's
    workers exit when the pipe their parent holds open closes (distributed's own watch)."""
    if executor == "dask":
        pytest.importorskip("dask.distributed")
    cfg = tmp_path / "long.toml"
    cfg.write_text(LONG)
    env = {**os.environ, "OCCMODEL_NO_PROGRESS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "occmodel.cli", "run", str(cfg), "--out", str(tmp_path / "out"),
                             "--workers", "2", "--no-plots", "--executor", executor], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline, workers = time.time() + 60, []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.1)
        workers = spawned(proc.pid)
    assert len(workers) == 2, "the workers never started"
    time.sleep(0.5 if executor == "local" else 5)   # workers are inside their runs
    everything = children(proc.pid)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(w) for w in everything):
        time.sleep(0.1)
    assert not any(alive(w) for w in everything), "orphan workers still running"
    if sig == signal.SIGTERM:
        assert b"Traceback" not in stderr and proc.returncode != 0


def test_inline_and_pool_give_the_same_results_in_any_order():
    tasks = {k: k for k in range(6)}
    assert sorted(execute(abs, tasks, 1, "local", None)) == sorted(execute(abs, tasks, 2, "local", None)) \
        == [(k, k) for k in range(6)]


def test_a_worker_error_reaches_the_parent_intact():
    with pytest.raises(ConfigError, match="^seed: got 1.5"):   # pickled back from the worker
        list(execute(failing, {0: 1.5, 1: 2}, 2, "local", None))


def failing(seed):
    return simulate({"network": {"one_way": "1ms"}}, seed=seed, duration="1ms").metrics


def test_interrupts_during_cluster_start_are_held_then_raised():
    """SIGTERM inside the block does not interrupt it (a half-started Dask cluster cannot be closed
    cleanly); it becomes a KeyboardInterrupt when the block ends, and the handlers are restored."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            finished.append(True)
    assert finished == [True]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    with deferred_interrupts():
        pass                                       # nothing caught: nothing raised


def frozen_in_worker(_):
    return gc.get_freeze_count()


def test_pool_workers_start_with_the_parents_objects_frozen():
    """Forked workers share the parent's pages: frozen there, no collection on either side copies them."""
    counts = dict(execute(frozen_in_worker, {i: i for i in range(4)}, 2, "local", None))
    assert all(c > 0 for c in counts.values()) and gc.get_freeze_count() == 0
