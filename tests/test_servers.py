"""tests/servers.py: a test server does not outlive the test process, however that process ends."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servers import answers

HOLD = """
import sys, time
sys.path.insert(0, {tests!r})
from servers import {kind}_server
with {kind}_server() as server:
    print(server.url.rsplit(":", 1)[1].split("/")[0], server.process.pid, flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_a_killed_test_process_leaves_no_server(kind):
    holder = subprocess.Popen([sys.executable, "-c", HOLD.format(tests=str(Path(__file__).parent), kind=kind)],
                              stdout=subprocess.PIPE, text=True)
    try:
        port, pid = map(int, holder.stdout.readline().split())
        assert answers(port) and alive(pid)
        holder.send_signal(signal.SIGKILL)      # no finally runs: only the watchdog can stop the server
        holder.wait(timeout=10)
        deadline = time.monotonic() + 20
        while (alive(pid) or answers(port)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid) and not answers(port)
    finally:
        if holder.poll() is None:
            holder.kill()
