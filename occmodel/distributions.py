"""Random delay distributions, parsed from config tables and sampled in blocks.

Each distribution is a small pydantic model chosen by its `dist` key. `sampler(rng)` returns a
zero-argument callable drawing one value: numpy fills a block of draws at a time and the model
pulls them one by one through an iterator's `__next__`, which is C all the way down (no Python
frame per draw, only one per block). All values are seconds (durations) and never negative.
"""
from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Literal, Union

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from .presets import PRESETS, table as preset_table
from .units import DURATION_SCHEMA, Duration, ValueType, parse_duration

Sampler = Callable[[], float]
BLOCK = 1024
Z99 = 2.3263478740408408  # standard normal 99th percentile


def blocks(fill: Callable[[int], Iterable[Any]], size: int = BLOCK, *, convert: bool = True) -> Sampler:
    """Turn a vectorised `fill(n)` into a cheap one-value-at-a-time sampler.

    `fill(n)` returns n draws (a numpy array, turned into Python numbers per block; with
    `convert=False` any iterable, used as is). Each call of the sampler is one C-level `__next__`
    of a chain of blocks; Python runs only once per block, to refill.
    """
    if convert:
        refill = lambda n: fill(n).tolist()  # noqa: E731
    else:
        refill = fill
    return itertools.chain.from_iterable(map(refill, itertools.repeat(size))).__next__


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def sampler(self, rng: np.random.Generator, size: int = BLOCK) -> Sampler:
        raise NotImplementedError

    @property
    def mean(self) -> float:
        raise NotImplementedError


class Constant(_Dist):
    dist: Literal["constant"] = Field("constant", description="every draw is `value`")
    value: Duration = Field(description="the delay")

    def sampler(self, rng: np.random.Generator, size: int = BLOCK) -> Sampler:
        return itertools.repeat(self.value).__next__

    @property
    def mean(self) -> float:
        return self.value


class Uniform(_Dist):
    dist: Literal["uniform"] = Field(description="uniform between `low` and `high`")
    low: Duration = Field(description="smallest delay")
    high: Duration = Field(description="largest delay (>= low)")

    @model_validator(mode="after")
    def _ordered(self) -> "Uniform":
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self

    def sampler(self, rng: np.random.Generator, size: int = BLOCK) -> Sampler:
        return blocks(lambda n: rng.uniform(self.low, self.high, n), size)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


class Exponential(_Dist):
    dist: Literal["exponential"] = Field(description="exponential (memoryless) with the given mean")
    mean_: Duration = Field(alias="mean", description="mean delay")

    def sampler(self, rng: np.random.Generator, size: int = BLOCK) -> Sampler:
        if self.mean_ == 0:
            return itertools.repeat(0.0).__next__
        return blocks(lambda n: rng.exponential(self.mean_, n), size)

    @property
    def mean(self) -> float:
        return self.mean_


class Normal(_Dist):
    """Normal folded at zero: |N(mean, sd)|, as in the AWS backoff simulator's network delay."""

    dist: Literal["normal"] = Field(description="|N(mean, sd)|: a normal folded at zero (no negative delays)")
    mean_: Duration = Field(alias="mean", description="mean of the normal before folding")
    sd: Duration = Field(description="standard deviation of the normal before folding")

    def sampler(self, rng: np.random.Generator, size: int = BLOCK) -> Sampler:
        return blocks(lambda n: np.abs(rng.normal(self.mean_, self.sd, n)), size)

    @property
    def mean(self) -> float:  # mean of the folded normal
        m, s = self.mean_, self.sd
        if s == 0:
            return m
        return s * math.sqrt(2 / math.pi) * math.exp(-m * m / (2 * s * s)) + m * math.erf(m / (s * math.sqrt(2)))


class Lognormal(_Dist):
    """Lognormal given by its median and either sigma or its 99th percentile."""

    dist: Literal["lognormal"] = Field(description="lognormal given by its median and one of sigma or p99")
    median: Duration = Field(description="median delay (> 0)")
    sigma: float | None = Field(default=None, ge=0, description="shape: standard deviation of the log "
                                "(give this or p99)", json_schema_extra={"unit": "log-seconds"})
    p99: Duration | None = Field(default=None, description="99th-percentile delay (>= median; give this or sigma)")

    @model_validator(mode="after")
    def _one_shape(self) -> "Lognormal":
        if (self.sigma is None) == (self.p99 is None):
            raise ValueError("give exactly one of sigma or p99")
        if self.p99 is not None and self.p99 < self.median:
            raise ValueError(f"p99 ({self.p99}) must be >= median ({self.median})")
        if self.median <= 0:
            raise ValueError("median must be > 0")
        return self

    @property
    def shape(self) -> float:
        return self.sigma if self.sigma is not None else math.log(self.p99 / self.median) / Z99

    def sampler(self, rng: np.random.Generator, size: int = BLOCK) -> Sampler:
        mu, sigma = math.log(self.median), self.shape
        return blocks(lambda n: rng.lognormal(mu, sigma, n), size)

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.shape**2 / 2)


class Empirical(_Dist):
    """Resample observed latencies: an inline list, or a CSV column (values in `unit`).

    A relative `csv` path is resolved against the folder of the config file that names it (the
    validation context's `base`), so a config runs the same from any working directory; the
    loaded samples are part of the scenario, hence of the run's identity (an edited CSV is a
    different experiment)."""

    dist: Literal["empirical"] = Field(description="resample observed delays (give samples or csv)")
    samples: list[Duration] | None = Field(default=None, description="the observed delays, inline")
    csv: str | None = Field(default=None, description="a CSV file of observed delays (relative to the config's folder)")
    column: Annotated[int, Field(ge=0)] | str = Field(0, description="csv: the column, by 0-based index or header name")
    unit: Literal["ns", "us", "ms", "s"] = Field("s", description="csv: the unit its numbers are in")

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> "Empirical":
        if (self.samples is None) == (self.csv is None):
            raise ValueError("give exactly one of samples (a list) or csv (a file path)")
        if self.csv is not None:
            path = Path(self.csv).expanduser()
            base = (info.context or {}).get("base")
            if not path.is_absolute() and base is not None:
                path = Path(base) / path
            object.__setattr__(self, "csv", str(path))
            object.__setattr__(self, "samples", _read_column(path, self.column, parse_duration("1" + self.unit)))
        if not self.samples:
            raise ValueError("needs at least one sample" + (f" (no numbers found in {self.csv})" if self.csv else ""))
        return self

    def sampler(self, rng: np.random.Generator, size: int = BLOCK) -> Sampler:
        values = np.asarray(self.samples, dtype=float)
        return blocks(lambda n: rng.choice(values, n), size)

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))


def _read_column(path: Path, column: int | str, scale: float) -> list[float]:
    if not path.is_file():
        raise ValueError(f"csv file {str(path)!r} not found")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise ValueError(f"csv file {str(path)!r} is not a readable text CSV ({type(exc).__name__})") from None
    if isinstance(column, str):
        if not rows:
            raise ValueError(f"csv file {str(path)!r} is empty: no header to find column {column!r} in")
        header, rows = rows[0], rows[1:]
        if column not in header:
            raise ValueError(f"csv has no column {column!r} (columns: {', '.join(header)})")
        column = header.index(column)
    out = []
    for row in rows:
        try:
            value = float(row[column]) * scale
        except (ValueError, IndexError):
            continue  # headers and blank lines
        if not 0 <= value < math.inf:
            raise ValueError(f"csv sample {value} is not a finite non-negative duration")
        out.append(value)
    return out


def _shorthand(value: Any) -> Any:
    """A bare duration ("2ms", 0.5) means a constant; `{preset = "NAME"}` a published fit."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {"dist": "constant", "value": value}
    if isinstance(value, dict) and "preset" in value:
        if len(value) > 1:
            raise ValueError("a preset table takes only the key 'preset' (its fit is fixed by its source)")
        return preset_table(value["preset"])
    if isinstance(value, dict) and "dist" not in value:
        raise ValueError("a distribution table needs a 'dist' key: constant | uniform | exponential | normal | "
                         "lognormal | empirical, or a 'preset' key (see `occmodel presets`)")
    return value


DISTRIBUTION = ValueType(
    "distribution", 'a table with `dist` (see Distributions), a bare duration (a constant: "2ms") or '
    '{preset = "NAME"} (`occmodel presets`)',
    {"anyOf": [*DURATION_SCHEMA["anyOf"],
               {"type": "object", "properties": {"preset": {"enum": list(PRESETS)}}, "required": ["preset"],
                "additionalProperties": False}]}, extends=True)
Distribution = Annotated[
    Union[Constant, Uniform, Exponential, Normal, Lognormal, Empirical],
    Field(discriminator="dist"),
    BeforeValidator(_shorthand),
    DISTRIBUTION,
]
ZERO = Constant(value=0.0)
