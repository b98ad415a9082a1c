"""Where runs execute: in-process, a local process pool, or a Dask cluster.

Each executor yields (key, result) as runs finish, in whatever order they finish; the experiment
writes each result under its key, so the final files do not depend on the executor or the order.
Runs are pure functions of their task, which is what makes every executor give identical results.

Local worker processes die with their parent: each asks the kernel for SIGKILL when the parent
goes (Linux `prctl(PR_SET_PDEATHSIG)`), so a `kill -9` of `occmodel run` leaves no orphan
computing for nobody; and when the parent stops for any reason (an error, Ctrl-C, SIGTERM turned
into the same KeyboardInterrupt by the CLI) the pool is terminated, not waited for.

Dask: the workers of a LocalCluster (no `--scheduler`) are the parent's children and die with it
by distributed's own mechanism: each watches a pipe whose write end only the parent holds, and
exits at once when the kernel closes it (`distributed.process.AsyncProcess`; measured: gone within
0.2 s of a `kill -9`); a Ctrl-C or SIGTERM closes the cluster (its nannies kill a worker still busy
after 4 s). An external cluster (`--scheduler ADDR`) is not ours to kill: its workers belong to
whoever started them and outlive occmodel by design. When occmodel dies, the scheduler drops its
client's futures, so no queued run starts; a run already executing finishes and its result is
discarded (distributed cannot interrupt a running task: dask/distributed#3681), which costs at most
one run's time per worker thread.
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from typing import Any, Callable, Hashable, Iterator

from .errors import ConfigError
from .heap import old_objects_frozen

Key = Hashable


def execute(fn: Callable[[Any], Any], tasks: dict[Key, Any], workers: int | None, executor: str,
            scheduler: str | None) -> Iterator[tuple[Key, Any]]:
    """Yield (key, fn(task)) for every task, as each finishes: inline with one worker, else a
    process pool ("local") or a Dask cluster ("dask": at `scheduler`, or a local one)."""
    if not tasks:
        return
    keys = list(tasks)
    if executor == "dask":
        yield from _dask(fn, tasks, workers, scheduler)
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(keys) == 1:
        for key in keys:
            yield key, fn(tasks[key])
        return
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    # the parent's objects frozen while workers share its pages: no collection on either side
    # touches (and so copies) them (occmodel.heap)
    with old_objects_frozen():
        # Pool (not ProcessPoolExecutor): its exit terminates the workers instead of waiting for them
        with context.Pool(min(workers, len(keys)), initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            yield from pool.imap_unordered(keyed, [(fn, key, tasks[key]) for key in keys])


def keyed(job: tuple[Callable[[Any], Any], Key, Any]) -> tuple[Key, Any]:
    """Run one task in a worker and say which it was."""
    fn, key, task = job
    return key, fn(task)


def die_with_parent(parent: int) -> None:
    """Worker initializer: get SIGKILL when the parent process dies; exit now if it already has."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # Pool.terminate's SIGTERM ends the worker quietly
    if sys.platform == "linux":
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass   # no prctl: the pool's own termination still applies
    if os.getppid() != parent:   # the parent died before prctl took effect
        os._exit(1)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done, then act on them (KeyboardInterrupt).

    Starting a Dask LocalCluster is not interruptible: a KeyboardInterrupt in the middle leaves
    workers half-started, and distributed's exit hook then fails closing them (a traceback after
    "Aborted!"). Python-level handlers only, so the workers it spawns are not affected."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt


def _dask(fn: Callable[[Any], Any], tasks: dict[Key, Any], workers: int | None,
          scheduler: str | None) -> Iterator[tuple[Key, Any]]:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as finished
    except ImportError:
        raise ConfigError("--executor", "dask", "needs dask.distributed: pip install 'occmodel[dask]'") from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError("--scheduler", scheduler, f"no Dask scheduler answered there ({exc})") from None
    else:
        with deferred_interrupts():   # a half-started cluster cannot be closed cleanly: let it start first
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            try:
                client = Client(cluster)
            except BaseException:
                cluster.close()
                raise
    try:
        keys = list(tasks)
        futures = client.map(fn, [tasks[k] for k in keys], pure=False)
        index = {f.key: k for f, k in zip(futures, keys)}
        for future in finished(futures):
            yield index[future.key], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
