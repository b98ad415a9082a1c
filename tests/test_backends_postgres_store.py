"""PostgreSQL as an event store, against a real server: appends insert version + 1, a unique
(stream, version) violation is the conflict and writes nothing, value checks insert blind."""
import asyncio
import time

import psycopg
import pytest

from occmodel.backends import StoreError, backend
from occmodel.backends.base import EVENTS_TABLE
from occmodel.backends.url import parse_url
from servers import free_port


def run(coro):
    return asyncio.run(coro)


def events(url):
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT stream, version FROM {EVENTS_TABLE} ORDER BY stream, version").fetchall()


def test_append_inserts_the_next_version_and_a_stale_one_conflicts(postgres_url):
    b = backend(parse_url(postgres_url))
    b.check()
    b.reset(4)

    async def scenario():
        a, c = await b.session("expected_version"), await b.session("expected_version")
        va, vc = await a.read([2], 1), await c.read([2], 1)
        first, second = await a.commit([2], va, 1), await c.commit([2], vc, 1)
        fresh = await c.commit([2], await c.read([2], 1), 1)
        await a.close(), await c.close()
        return va, vc, first, second, fresh

    assert run(scenario()) == ([0], [0], True, False, True)
    assert events(postgres_url) == [(2, 1), (2, 2)]


def test_a_multi_stream_commit_is_all_or_nothing(postgres_url):
    b = backend(parse_url(postgres_url))
    b.reset(4)

    async def scenario():
        me, other = await b.session("expected_version"), await b.session("expected_version")
        seen = await me.read([0, 1], 2)
        await other.commit([1], await other.read([1], 1), 1)      # stream 1 moves on
        ok = await me.commit([0, 1], seen, 2)                     # (0, 1) is free, (1, 1) is taken
        latest = await me.read([1, 0, 3], 0)                      # several streams, in the order asked
        await me.close(), await other.close()
        return ok, latest

    ok, latest = run(scenario())
    assert ok is False and latest == [1, 0, 0]
    assert events(postgres_url) == [(1, 1)]          # nothing of the failed commit was written


def test_reset_empties_the_events_table(postgres_url):
    b = backend(parse_url(postgres_url))

    async def append():
        s = await b.session("expected_version")
        await s.commit([0], [0], 1)
        await s.close()

    b.reset(1)
    run(append())
    assert events(postgres_url) == [(0, 1)]
    b.reset(1)
    assert events(postgres_url) == []


def test_nothing_listening_is_one_store_error():
    b = backend(parse_url(f"postgresql://occmodel@127.0.0.1:{free_port()}/postgres"))
    with pytest.raises(StoreError) as err:
        b.check()
    assert "no PostgreSQL server accepted the connection" in str(err.value)


def test_a_missing_database_is_one_store_error(postgres_url):
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(StoreError) as err:
        backend(parse_url(url)).check()
    assert "no_such_db" in str(err.value)


def test_server_cpu_counts_the_work_of_backends_that_have_exited(postgres_url):
    """The server's CPU (for calibration and diagnostics) includes a client's backend after its
    connection closed (the postmaster reaps it): a burst of work on a closed connection shows."""
    b = backend(parse_url(postgres_url))
    before = b.server_cpu_s()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("SELECT count(*) FROM generate_series(1, 3000000)").fetchone()
    # the backend exits after the connection closes, and the postmaster reaps it a moment later
    deadline, after = time.monotonic() + 10, b.server_cpu_s()
    while after - before <= 0.05 and time.monotonic() < deadline:
        time.sleep(0.05)
        after = b.server_cpu_s()
    assert before is not None and after - before > 0.05    # ~0.2 s of CPU for 3 million rows


def test_proc_stat_reads_this_process_ids_and_ticks():
    from occmodel.backends.postgres_store import proc_stat
    import os

    me = proc_stat(os.getpid())
    assert me[0] == os.getpid() and me[1] == os.getppid() and all(t >= 0 for t in me[2:])
