"""Retry policies: every pattern of DESIGN section 2.6, one small class each.

Add one by subclassing `Policy` (or `Wrapper`), decorating it with `@register("kind")` and
importing its module here; its fields become its config keys.
"""
from .base import POLICY_SCHEMA, REGISTRY, REJECT, STYLED, Policy, PolicyTable, Wrapper, build_policy, register
from . import backoff  # noqa: F401  (registers the delay schedules)
from . import breaker  # noqa: F401  (registers circuit_breaker)
from . import polly, resilience4j  # noqa: F401  (circuit_breaker styles "polly", "resilience4j")
from . import budget  # noqa: F401  (registers retry_budget)
from . import envoy, finagle  # noqa: F401  (retry_budget styles "envoy", "finagle")
from . import throttle  # noqa: F401  (registers adaptive_throttle)
from . import hedge  # noqa: F401  (registers hedge)

__all__ = ["POLICY_SCHEMA", "REGISTRY", "REJECT", "STYLED", "Policy", "PolicyTable", "Wrapper", "build_policy", "register"]
