import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))   # tests share small helpers (oracles.py)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the long validation tests (marked slow)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long validation run: use --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_url():
    """A Redis server for the whole session (tests reset the keys they use: every run does)."""
    from servers import redis_server

    with redis_server() as server:
        yield server.url


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server for the whole session."""
    from servers import postgres_server

    with postgres_server() as server:
        yield server.url
