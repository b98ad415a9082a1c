"""What an attempt can come back with. Small ints, because they are compared on the hot path."""
from __future__ import annotations

OK, CONFLICT, ERROR, TIMEOUT, TOO_OLD, REJECTED = range(6)
NAMES = ("ok", "conflict", "error", "timeout", "too_old", "rejected")
RETRYABLE = {"conflict": CONFLICT, "error": ERROR, "timeout": TIMEOUT, "too_old": TOO_OLD}
