"""gRPC hedging: send another copy of a request when the first is slow to answer.

Modelled on the hedging policy of gRFC A6 "gRPC Retry Design"
(https://github.com/grpc/proposal/blob/master/A6-client-retries.md, "Hedging Policy" and "Limits on
Retries and Hedges"): the original request is sent at once; after `delay` (hedgingDelay) without a
successful reply a second copy is sent, after another `delay` a third, up to `max_attempts` copies
in all (the original included; A6 requires it and caps it at 5 on the client, so more is refused
here rather than silently cut). The first successful reply wins. A failure reply whose outcome is
in `non_fatal` (nonFatalStatusCodes) sends the next copy at once and the others keep going; any
other failure reply ends the hedged request with that failure. When every copy has failed the last
failure is returned: hedging itself never retries after that, the `inner` policy (default `none`,
as gRPC: "an individual RPC may be governed by a retry policy or a hedge policy, but not both")
decides what the operation does next. `delay = 0` sends every copy at once (A6: "Set this to 0s,
or leave unset, to immediately send all maxAttempts RPCs").

What it hedges: every round trip of an attempt (each read, the pipelined reads' one message, the
commit), as a gRPC channel hedges every call of a method given a hedgingPolicy. What it does *not*
do: cancel. gRPC cancels the other copies once one answers, but a copy the store has received is
served in full (the store never learns a client stopped waiting, as for timeouts), so a hedged
conditional commit can conflict with its own twin: both carry the same expected version, the
first one served commits and the second is refused against the version the first wrote. If the
twin's refusal reaches the client first and `conflict` is fatal (the default), the operation sees
a conflict although its write landed, and a retrying `inner` policy writes it a second time.
The per-request `operation.timeout` (and the deadline) bound the hedged request as a whole: A6's
call deadline "applies to the entire chain of hedged requests"; no copy is sent after it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..errors import ConfigError
from ..outcomes import RETRYABLE
from ..units import Duration
from .base import PolicyTable, RetryOn, Wrapper, register

if TYPE_CHECKING:
    from ..client import Op
    from ..model import Simulation

MAX_COPIES = 5      # A6 "Limits on Retries and Hedges": the client-side maximum of maxAttempts


@register("hedge")
class Hedge(Wrapper):
    """Up to `max_attempts` copies of each request, `delay` apart; the first success wins."""

    max_attempts: int = Field(ge=2, description="copies of each request in all, the original included (2 to 5; "
                              "required, as in A6)", json_schema_extra={"unit": "copies"})
    delay: Duration = Field(0.0, description="hedgingDelay: wait this long without a success before the next copy; "
                            "0 = send every copy at once")
    non_fatal: list[RetryOn] = Field(default_factory=list, description="nonFatalStatusCodes: failures that send the "
                                     "next copy at once (any other failure ends the hedged request)")
    inner: PolicyTable = Field(default_factory=lambda: {"kind": "none"}, description="the policy for the operation "
                               "after every copy failed (default none, as gRPC: retry or hedge, not both)")

    def __post_init__(self) -> None:
        if self.max_attempts > MAX_COPIES:
            raise ConfigError("policy.max_attempts", self.max_attempts,
                              f"gRPC sends at most {MAX_COPIES} copies of a hedged request (gRFC A6, "
                              "'Limits on Retries and Hedges'): use 2..5")
        super().__post_init__()

    def bind(self, sim: "Simulation") -> None:
        super().bind(sim)
        self.nonfatal = frozenset(RETRYABLE[name] for name in self.non_fatal)

    def hedging(self) -> "Hedge":
        return self

    def retry_delay(self, op: "Op", outcome: int) -> float | None:
        # `max_attempts` counts copies of one request here, not attempts of the operation
        return self.wrapped.retry_delay(op, outcome)
