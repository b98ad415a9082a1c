"""occmodel: a discrete-event model of optimistic concurrency control and its retry patterns."""
from .config import Scenario
from .errors import ConfigError
from .experiment import Sweep, sweep
from .model import Result, simulate
from .results import Table
from .version import __version__

__all__ = ["ConfigError", "Result", "Scenario", "Sweep", "Table", "simulate", "sweep", "__version__"]
