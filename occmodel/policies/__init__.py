"""Retry policies: every pattern of DESIGN section 2.6, one small class each.

Add one by subclassing `Policy` (or `Wrapper`), decorating it with `@register("kind")` and
importing its module here; its fields become its config keys.
"""
from .base import REGISTRY, REJECT, Policy, Wrapper, build_policy, register
from . import backoff  # noqa: F401  (registers the delay schedules)

__all__ = ["REGISTRY", "REJECT", "Policy", "Wrapper", "build_policy", "register"]
