"""occmodel: a discrete-event model of optimistic concurrency control and its retry patterns."""
from .config import ConfigError, Scenario
from .model import Result, simulate

__version__ = "0.1.0"
__all__ = ["ConfigError", "Result", "Scenario", "simulate", "__version__"]
