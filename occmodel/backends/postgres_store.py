"""PostgreSQL as an event store: expected-version appends on a table with a unique (stream, version).

The seeds' event-store append, as SQL. A key is a stream; its version is the number of its latest
event (none = 0). The read round trip asks for the latest version of the streams read
(`max(version)`, an index-only probe of the primary key); the commit round trip inserts one event
per written stream with version = the one read + 1, in one statement (so in one transaction, in
autocommit mode). If another client appended to that stream in between, the row (stream, v + 1)
exists and the insert fails with a unique violation: that is the version conflict, and nothing of
the commit is written. The check happens when the insert runs, as the model checks a commit when
it is served. This is the `expected_version` rule; `read_set` is the same rule when every key read
is written (reads = writes) and is refused otherwise. A value check (`operation.kind =
"value_check"`) is the same insert with the version the client cached, no read at all.
(Unique violation = SQLSTATE 23505, psycopg's `errors.UniqueViolation`:
https://www.postgresql.org/docs/15/errcodes-appendix.html, https://www.psycopg.org/psycopg3/docs/api/errors.html)

Connections are psycopg 3's `AsyncConnection` in autocommit mode with statements prepared on
first use (`prepare_threshold=0`), one per client.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from .base import EVENTS_TABLE, Backend, Session

CONNECT_TIMEOUT_S = 5
LATEST_ONE = f"SELECT coalesce(max(version), 0) FROM {EVENTS_TABLE} WHERE stream = %s"
LATEST = (f"SELECT s, coalesce((SELECT max(version) FROM {EVENTS_TABLE} WHERE stream = s), 0) "
          "FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(s, i) ORDER BY i")
APPEND_ONE = f"INSERT INTO {EVENTS_TABLE} (stream, version) VALUES (%s, %s)"
APPEND = f"INSERT INTO {EVENTS_TABLE} (stream, version) SELECT * FROM unnest(%s::bigint[], %s::bigint[])"
CREATE = (f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (stream bigint NOT NULL, version bigint NOT NULL, "
          "PRIMARY KEY (stream, version))")


def connect_args(backend: "PostgresBackend") -> dict[str, Any]:
    u = backend.url
    args: dict[str, Any] = {"host": u.host, "port": u.port, "dbname": u.database, "connect_timeout": CONNECT_TIMEOUT_S,
                            "autocommit": True}
    if u.user:
        args["user"] = u.user
    if u.password:
        args["password"] = u.password
    return args


class PostgresSession(Session):
    def __init__(self, conn: Any, unique: type[BaseException]) -> None:
        self.conn, self.unique = conn, unique

    async def read(self, keys: Sequence[int], watch: int) -> list[int]:
        if len(keys) == 1:
            cur = await self.conn.execute(LATEST_ONE, (keys[0],))
            return [(await cur.fetchone())[0]]
        cur = await self.conn.execute(LATEST, (list(keys),))
        return [row[1] for row in await cur.fetchall()]

    async def commit(self, keys: Sequence[int], seen: Sequence[int], writes: int) -> bool:
        try:
            if writes == 1:
                await self.conn.execute(APPEND_ONE, (keys[0], seen[0] + 1))
            else:
                await self.conn.execute(APPEND, (list(keys[:writes]), [v + 1 for v in seen[:writes]]))
        except self.unique:
            return False
        return True

    async def close(self) -> None:
        await self.conn.close()


class PostgresBackend(Backend):
    kind = "postgresql"
    operations = frozenset({"append", "value_check"})
    conflicts = frozenset({"expected_version"})

    def __init__(self, url: Any) -> None:
        super().__init__(url)
        import psycopg

        # every way the connection can fail a client (a unique violation is a conflict, not a failure)
        self.failures = (OSError, psycopg.OperationalError, psycopg.InterfaceError, psycopg.DatabaseError)

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(**connect_args(self))

    def check(self) -> dict[str, Any]:
        import psycopg

        try:
            with self.admin() as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]
                conn.execute(CREATE)
        except psycopg.Error as exc:
            raise self.fail(f"no PostgreSQL server accepted the connection ({self.describe_failure(exc)})") from None
        return {"server": "postgresql", "version": version}

    def reset(self, keys: int) -> None:
        import psycopg

        try:
            with self.admin() as conn:
                conn.execute(CREATE)
                conn.execute(f"TRUNCATE {EVENTS_TABLE}")
        except psycopg.Error as exc:
            raise self.fail(f"the store stopped answering while its events table was reset "
                            f"({self.describe_failure(exc)})") from None

    def server_cpu_s(self) -> float | None:
        """CPU seconds of the server's processes so far: the postmaster, its exited children (a
        client's backend ends with its connection) and its live ones, from /proc (a loopback
        server runs on this machine); None where /proc does not say. The admin connection that
        asks adds its own start-up (a few ms) once it has exited: noise of that size per reading."""
        import psycopg

        try:
            with self.admin() as conn:
                me = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                postmaster = proc_stat(me)[1]
                ticks = sum(proc_stat(postmaster)[2:6])
                for entry in os.scandir("/proc"):
                    if entry.name.isdigit() and int(entry.name) not in (me, postmaster):
                        try:
                            stat = proc_stat(int(entry.name))
                        except (OSError, ValueError, IndexError):
                            continue     # gone meanwhile, or not ours to read
                        if stat[1] == postmaster:
                            ticks += stat[2] + stat[3]
        except (psycopg.Error, OSError, ValueError, IndexError):
            return None
        return ticks / os.sysconf("SC_CLK_TCK")

    async def session(self, conflict: str = "expected_version") -> PostgresSession:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(**connect_args(self), prepare_threshold=0)
        return PostgresSession(conn, psycopg.errors.UniqueViolation)

    def describe_failure(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def proc_stat(pid: int) -> list[int]:
    """(pid, ppid, utime, stime, cutime, cstime) of a process, in clock ticks (/proc/PID/stat; the
    command name, which may hold spaces, ends at the last ')')."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    return [pid, int(fields[1]), int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14])]
