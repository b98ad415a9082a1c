"""Local Redis and PostgreSQL servers for the tests: each on a free loopback port, in a temporary
directory of its own, stopped (and the directory removed) afterwards.

The servers are the Debian packages' binaries (`redis-server`, `/usr/lib/postgresql/*/bin`),
which .ci/run installs when missing; a missing binary fails the test with the command that
installs it, so CI never skips a real-store test. PostgreSQL refuses to run as root: as root the
server runs as the unprivileged user `occpg`, created here if it does not exist.

A server outlives nothing: each has a watchdog (`watch`), a small process that holds the read
end of a pipe whose write end only the test process holds. When the test process ends, however
it ends (a SIGKILL included, when no `finally` runs), the kernel closes the pipe and the watchdog
kills the server's whole process group (PostgreSQL's backends too).
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

START_S = 20.0
PG_USER = "occpg"


# the watchdog: wait for EOF on stdin (the test process is gone, or is done with the server),
# then end the server's process group: SIGTERM, and SIGKILL if it is still there 10 s later
WATCHDOG = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
group = int(sys.argv[1])
sys.stdin.buffer.read()
for sig in (signal.SIGTERM, signal.SIGKILL):
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        break
    for _ in range(100):
        time.sleep(0.1)
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            sys.exit(0)
"""


def watch(proc: subprocess.Popen) -> subprocess.Popen:
    """A watchdog for `proc` (started in a session of its own, so its process group is its pid)."""
    return subprocess.Popen([sys.executable, "-c", WATCHDOG, str(proc.pid)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, start_new_session=True)


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    directory: Path
    watchdog: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.watchdog.stdin.close()     # type: ignore[union-attr]
        self.watchdog.wait(timeout=30)

    def kill(self) -> None:
        """Die at once, as a crashed server does (SIGKILL: no goodbye to the clients)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def wait_until_up(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}")
        if answers(port):
            return
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the server did not listen on port {port} within {START_S:g} s")


def start_on_a_free_port(name: str, log: Path, launch: Callable[[int], subprocess.Popen]) -> tuple[subprocess.Popen, int]:
    """`launch(port)` on a free port until the server listens: a free port can be taken between
    probing and binding, so try up to five."""
    for _ in range(5):
        port = free_port()
        proc = launch(port)
        try:
            wait_until_up(proc, port, log)
            return proc, port
        except RuntimeError:
            proc.kill()
            proc.wait()
    raise RuntimeError(f"{name} did not start on any of 5 free ports")


def binary(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {hint} (.ci/run installs it)")
    return found


@contextlib.contextmanager
def redis_server() -> Iterator[Server]:
    exe = binary("redis-server", "apt-get install redis-server")
    directory = Path(tempfile.mkdtemp(prefix="occmodel-redis-"))
    try:
        log = directory / "redis.log"
        proc, port = start_on_a_free_port("redis-server", log, lambda port: subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(directory), "--logfile", str(log), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        server = Server(f"redis://127.0.0.1:{port}", proc, directory, watch(proc))
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    if shutil.which("pg_ctl"):
        return Path(shutil.which("pg_ctl")).parent    # type: ignore[arg-type]
    pytest.fail("PostgreSQL is not installed: apt-get install postgresql (.ci/run installs it)")


def run_as() -> dict:
    """Popen arguments that drop root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER], check=True)
    return {"user": PG_USER, "group": pwd.getpwnam(PG_USER).pw_gid}


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    bindir = postgres_bin()
    directory = Path(tempfile.mkdtemp(prefix="occmodel-pg-"))
    who = run_as()
    if who:
        os.chown(directory, pwd.getpwnam(PG_USER).pw_uid, who["group"])
    data, log = directory / "data", directory / "postgres.log"
    try:
        subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "occmodel", "--auth=trust", "-E", "UTF8",
                        "--no-sync", "--no-instructions"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, cwd=directory, **who)
        def launch(port: int) -> subprocess.Popen:
            with open(log, "ab") as logfile:
                return subprocess.Popen([str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k",
                                         str(directory), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
                                        stdout=subprocess.DEVNULL, stderr=logfile, cwd=directory,
                                        start_new_session=True, **who)

        proc, port = start_on_a_free_port("postgres", log, launch)
        server = Server(f"postgresql://occmodel@127.0.0.1:{port}/postgres", proc, directory, watch(proc))
        try:
            wait_for_connections(server.url)
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def wait_for_connections(url: str) -> None:
    """Listening is not yet accepting: wait until a connection gets through (start-up recovery)."""
    import psycopg

    deadline = time.monotonic() + START_S
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
