"""Closed forms the model must agree with."""
import math


def mm1_response(lam: float, mu: float) -> float:
    return 1.0 / (mu - lam)


def erlang_c(c: int, a: float) -> float:
    """Probability an arrival waits in M/M/c with offered load a = λ/μ (Erlang C)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def mmc_response(lam: float, mu: float, c: int) -> float:
    return erlang_c(c, lam / mu) / (c * mu - lam) + 1.0 / mu
