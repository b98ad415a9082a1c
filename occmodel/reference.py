"""The experiment file as one model: the source of docs/configuration.md, `occmodel schema` and
`occmodel policies`.

A reference typed by hand drifts from the code the day a key is added; this one is read off the
models that validate configs. `[experiment]` is `experiment.ExperimentTable`, `[scenario]` is
`config.Scenario` (its fields' `description`, constraints and defaults are the documentation),
and policies come from the registry at call time, so a newly registered kind or style appears in
the docs, the schema and `occmodel policies` with nothing to edit here. `[sweep]`, `[[bounds]]` and
`[tune]` are parsed by hand in their own modules; their shapes are restated below as models for
the docs and the schema, and tests/test_reference.py pins them to those parsers' key lists
(`tune.TUNE_KEYS`, `bounds.COMPARE_KEYS`, `experiment.TOP_LEVEL`), so a key added there and not here
fails a test. The JSON Schema is draft 2020-12 (https://json-schema.org/draft/2020-12), which
editors' TOML support (e.g. Taplo, "Even Better TOML") reads to complete and check keys.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, create_model

from .bounds import EXPECTS, LIMIT_PATTERN
from .compare import CompareTable
from .config import Scenario, StrictModel
from .experiment import ExperimentTable
from .metrics import METRICS
from .plotspec import PlotTable
from .policies import POLICY_SCHEMA, REGISTRY, STYLED, Policy, Wrapper
from .units import DURATION_SCHEMA, ValueType



# --- the tables parsed by hand, as models -------------------------------------------------------
SWEEP = ValueType(
    "sweep", "a table: dotted [scenario] key = a non-empty list of values; policy = a list of policy tables, "
    "each with a label",
    {"type": "object",
     "properties": {"policy": {"type": "array", "minItems": 1,
                               "items": {"allOf": [POLICY_SCHEMA, {"required": ["label"]}]}}},
     "additionalProperties": {"type": "array", "minItems": 1}})


class Compare(StrictModel):
    """A paired comparison of two values of one swept key, two policies unless `by` names another
    (per replication, on common random numbers; judged at each point of the other swept keys)."""

    a: str | bool | int | float = Field(description="a policy label of the sweep (with by: a value of that key)")
    b: str | bool | int | float = Field(description="another policy label (with by: another value of that key)")
    metric: Literal[METRICS] = Field(description="the metric compared")
    expect: Literal[tuple(EXPECTS)] = Field(description="the relation expected of a's and b's means")
    by: str = Field("policy", description="the swept key whose values a and b are, e.g. network.pipelining")


_BOUND_FIELDS: dict[str, Any] = {
    "where": (dict[str, Any], Field({}, description="the points it applies to: swept key = value (policy = label); "
                                    "{} = every point")),
    "name": (str | None, Field(None, description="a label printed before the bound's verdicts")),
    "compare": (Compare | None, Field(None, description="a paired comparison of two policies (or two values of "
                                    "another swept key) instead of limits")),
}
BoundsEntry = create_model(
    "BoundsEntry", __base__=StrictModel, __doc__="One claim judged on 95 % intervals by `occmodel check`.",
    **_BOUND_FIELDS,
    **{m: (str | None, Field(None, pattern=LIMIT_PATTERN, json_schema_extra={"metric": True},
                             description=f'a limit on {m}: an operator and a number, e.g. "< 250"')) for m in METRICS})


class TuneRange(StrictModel):
    """A searched numeric key: a range (durations in seconds; whole numbers stay whole)."""

    low: float | Annotated[str, ValueType("duration", "", DURATION_SCHEMA["anyOf"][1])] = Field(
        description="smallest value tried (a number or a duration)")
    high: float | Annotated[str, ValueType("duration", "", DURATION_SCHEMA["anyOf"][1])] = Field(
        description="largest value tried (> low)")
    log: bool = Field(False, description="search on a log scale (low > 0)")


class TuneChoices(StrictModel):
    """A searched key that takes one of listed values."""

    choices: list[str | int | float | bool] = Field(min_length=1, description="the values tried")


class TuneTable(StrictModel):
    """`occmodel tune`: the best setting of some keys under constraints."""

    params: dict[str, TuneRange | TuneChoices] = Field(
        min_length=1, description='dotted [scenario] key = {low, high, log} or {choices = [...]}, e.g. '
        '"policy.base" = {low = "1ms", high = "1s", log = true}')
    minimize: Literal[METRICS] | None = Field(None, description="the metric to minimize (give this or maximize)")
    maximize: Literal[METRICS] | None = Field(None, description="the metric to maximize (give this or minimize)")
    constraints: list[Annotated[str, Field(pattern=r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*(<=|>=|<|>)\s*\S+\s*$")]] = Field(
        [], description='limits every chosen setting must meet on its interval, e.g. "attempts_per_op <= 1.5"')
    trials: int = Field(20, ge=1, description="settings tried (--trials overrides)", json_schema_extra={"unit": "trials"})
    startup: int | None = Field(None, ge=1, description="random trials before TPE models the results "
                                "(default min(10, trials))", json_schema_extra={"unit": "trials"})


class ExperimentFile(StrictModel):
    """An occmodel experiment file (TOML)."""

    experiment: ExperimentTable = Field(description="how the sweep is run and measured")
    scenario: Scenario = Field(description="the model every point starts from (the sweep changes keys of it)")
    sweep: Annotated[dict[str, list[Any]], SWEEP] = Field(
        {}, description="the grid: every combination of the listed values is a point (first key slowest)")
    bounds: list[BoundsEntry] = Field([], description="claims about the results, judged by `occmodel check`")
    tune: TuneTable | None = Field(None, description="a search for the best setting, run by `occmodel tune`")
    compare: CompareTable | None = Field(None, description="paired differences from a baseline policy, written as "
                                         "compare.csv by `occmodel run` and `occmodel compare`")
    plot: PlotTable | None = Field(None, description="choices about the plots: metastability maps, axis labels")


# --- policies -------------------------------------------------------------------------------------
def policy_classes() -> list[tuple[str, str | None, type]]:
    """Every registered policy as (kind, style or None, class): a kind's own class, then its styles."""
    out: list[tuple[str, str | None, type]] = []
    for kind, cls in REGISTRY.items():
        out.append((kind, None, cls))
        out += [(k, style, c) for (k, style), c in STYLED.items() if k == kind]
    return out


def fields_of(cls: type) -> dict[str, Any]:
    """A model's or a policy dataclass's fields (pydantic `FieldInfo`s), in declaration order."""
    return dict(getattr(cls, "model_fields", None) or cls.__pydantic_fields__)


def own_fields(cls: type, base: type | None = None) -> dict[str, Any]:
    """A policy's keys beyond the common ones every policy (or every wrapper) has, or those of
    `base`; keys it redefines (another default or meaning) count as its own."""
    common = fields_of(base or (Wrapper if issubclass(cls, Wrapper) else Policy))
    return {k: f for k, f in fields_of(cls).items()
            if k not in common or (default_of(f), f.description) != (default_of(common[k]), common[k].description)}


def default_of(info: Any) -> Any:
    """A field's default (a factory called), or `REQUIRED`."""
    if info.is_required():
        return REQUIRED
    return info.get_default(call_default_factory=True)


REQUIRED = object()


def _policy_schema(kind: str, style: str | None, cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(cls).json_schema(ref_template="#/$defs/{model}")
    defs.update(schema.pop("$defs", {}))
    schema["properties"] = {"kind": {"const": kind, "description": (cls.__doc__ or "").strip().splitlines()[0]},
                            **schema.get("properties", {})}
    schema["required"] = ["kind", *schema.get("required", []), *(["style"] if style else [])]
    schema["title"] = f"{kind} ({style})" if style else kind
    return schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment file (as the TOML parses), draft 2020-12."""
    schema = ExperimentFile.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    variants = [_policy_schema(kind, style, cls, defs) for kind, style, cls in policy_classes()]
    defs["policy"] = {"description": "a retry policy: kind picks the class (and style, for retry_budget's "
                                     "library styles)", "oneOf": variants}
    schema = _resolved(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _resolved(node: Any) -> Any:
    """The policy placeholder made a reference to the policy union; infinity (which JSON lacks)
    written as the string a config would use."""
    if isinstance(node, dict):
        out = {k: _resolved(v) for k, v in node.items() if (k, v) not in POLICY_SCHEMA.items()}
        return {"$ref": "#/$defs/policy", **out} if POLICY_SCHEMA.items() <= node.items() else out
    if isinstance(node, list):
        return [_resolved(v) for v in node]
    if isinstance(node, float) and math.isinf(node):
        return "inf"
    return node


__all__ = ["BoundsEntry", "ExperimentFile", "REQUIRED", "TuneTable", "default_of", "fields_of", "json_schema",
           "own_fields", "policy_classes"]
