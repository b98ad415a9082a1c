"""occmodel: a discrete-event model of optimistic concurrency control and its retry patterns."""
from .config import Scenario
from .errors import ConfigError
from .model import Result, simulate
from .version import __version__

__all__ = ["ConfigError", "Result", "Scenario", "simulate", "__version__"]
