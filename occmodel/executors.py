"""Where runs execute: in-process, a local process pool, or a Dask cluster.

Each executor yields (key, result) as runs finish, in whatever order they finish; the experiment
writes each result under its key, so the final files do not depend on the executor or the order.
Runs are pure functions of their task, which is what makes every executor give identical results.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Hashable, Iterator

from .errors import ConfigError

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
    with ProcessPoolExecutor(max_workers=min(workers, len(keys)), mp_context=context) as pool:
        futures = {pool.submit(fn, tasks[key]): key for key in keys}
        for future in as_completed(futures):
            yield futures[future], future.result()


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
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
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
