"""docs/configuration.md, written from the models: `python -m occmodel.docgen` (from the repository root).

Every key of the experiment file is a field of a model (`occmodel.reference` gathers them): its
annotation gives the type and allowed values, its constraints the limits, its default the
default, its `json_schema_extra["unit"]` (or its value type: durations are seconds) the unit, and
its `description` the one line of meaning. Nothing is typed here per key, so a key added to a
model appears in the reference when the file is regenerated, and tests/test_docgen.py fails until
it is (the file must equal `generate()`) or when a key has no description. `--check` exits 1 when
the file is stale, for CI and hooks.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

import annotated_types as at
from pydantic import BaseModel

from .metrics import METRICS
from .policies import Policy, Wrapper
from .presets import PRESETS
from .reference import (REQUIRED, BoundsEntry, ExperimentFile, TuneChoices, TuneRange, TuneTable, default_of,
                        fields_of, own_fields, policy_classes)
from .units import ValueType, format_duration

TARGET = Path("docs") / "configuration.md"
COMMAND = "python -m occmodel.docgen"


class DocError(Exception):
    """A key the reference cannot document (no description): the message names it."""


# --- one field -----------------------------------------------------------------------------------
def value_type(annotation: Any, metadata: list[Any]) -> ValueType | None:
    """The `ValueType` a field's type carries (in the field's metadata or its Annotated alias)."""
    for m in metadata:
        if isinstance(m, ValueType):
            return m
    if typing.get_origin(annotation) is typing.Annotated:
        return value_type(typing.get_args(annotation)[0], list(annotation.__metadata__))
    return None


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union (None dropped), or the annotation itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _bare(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def is_model(annotation: Any) -> bool:
    a = _bare(annotation)
    return isinstance(a, type) and issubclass(a, BaseModel)


def type_text(annotation: Any, metadata: list[Any] = ()) -> str:
    """A field's type in words: integer, duration, list of string, table ..."""
    vt = value_type(annotation, list(metadata))
    if vt is not None:
        return f"[{vt.name}](#{vt.name})"
    names = []
    for a in map(_bare, _members(_bare(annotation))):
        vt = value_type(a, [])
        origin = typing.get_origin(a)
        if vt is not None:
            names.append(f"[{vt.name}](#{vt.name})")
        elif origin is Literal:
            values = typing.get_args(a)
            names.append("integer" if all(isinstance(v, int) for v in values) else "string")
        elif origin is list:
            inner = typing.get_args(a)[0]
            names.append("array of tables" if all(is_model(m) for m in _members(_bare(inner)))
                         else f"list of {type_text(inner)}")
        elif origin is dict or is_model(a):
            names.append("table")
        else:
            names.append({int: "integer", float: "number", bool: "boolean", str: "string"}.get(a, str(a)))
    return " or ".join(dict.fromkeys(names))


def _literals(annotation: Any) -> list[Any]:
    for a in _members(_bare(annotation)):
        if typing.get_origin(a) is Literal:
            return list(typing.get_args(a))
        if typing.get_origin(a) is list:
            return _literals(typing.get_args(a)[0])
    return []


def _limits(metadata: list[Any], annotation: Any) -> list[str]:
    out = []
    sources = list(metadata)
    for a in _members(_bare(annotation)):          # constraints inside a union member: Annotated[int, Field(ge=0)]
        if typing.get_origin(a) is typing.Annotated:
            for m in a.__metadata__:
                sources += getattr(m, "metadata", [])
    for m in sources:
        for cls, sign, attr in ((at.Ge, "≥", "ge"), (at.Gt, ">", "gt"), (at.Le, "≤", "le"), (at.Lt, "<", "lt")):
            if isinstance(m, cls):
                out.append(f"{sign} {getattr(m, attr):g}")
        if isinstance(m, at.MinLen) and m.min_length:
            out.append(f"at least {m.min_length}")
    return out


def allowed_text(info: Any) -> str:
    values = _literals(info.annotation)
    if values == list(METRICS):
        return "a metric name ([metrics](#metrics))"
    if values:
        every = typing.get_origin(_members(_bare(info.annotation))[0]) is list
        return ("any of " if every else "") + " \\| ".join(f"`{json.dumps(v)}`" for v in values)
    limits = _limits(info.metadata, info.annotation)
    if _bare(info.annotation) is bool:
        return "`true` \\| `false`"
    return ", ".join(limits)


def default_text(info: Any) -> str:
    default = default_of(info)
    vt = value_type(info.annotation, info.metadata)
    if default is REQUIRED:
        return "required"
    if default is None:
        return "—"
    if isinstance(default, BaseModel):
        if getattr(default, "dist", None) == "constant":
            return f'`"{duration(default.value)}"`' if default.value else "`0`"
        return "(table)"
    if isinstance(default, float) and math.isinf(default):
        return '`"inf"`'
    if vt is not None and vt.name in ("duration", "drain") and isinstance(default, float):
        return f'`"{duration(default)}"`' if default else "`0`"
    return f"`{toml(default)}`"


def duration(seconds: float) -> str:
    """A default duration as a config would write it: "10ms", "5s", "1h"."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return format_duration(seconds)


def toml(value: Any) -> str:
    """A value as a config would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def unit_text(info: Any) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "unit" in extra:
        return str(extra["unit"])
    vt = value_type(info.annotation, info.metadata)
    return "s" if vt is not None and vt.name in ("duration", "drain") else ""


def row(path: str, key: str, info: Any) -> str:
    if not info.description:
        raise DocError(f"{path}{key}: no description; give the field Field(..., description=\"one line of meaning\") "
                       f"and run `{COMMAND}`")
    cells = [f"`{key}`", type_text(info.annotation, info.metadata), default_text(info), unit_text(info),
             allowed_text(info), info.description]
    return "| " + " | ".join(c.replace("\n", " ").replace("|", "\\|") if i == 5 else c
                             for i, c in enumerate(cells)) + " |"


HEAD = ["| key | type | default | unit | allowed | meaning |", "|---|---|---|---|---|---|"]


def table(path: str, fields: dict[str, Any], skip: set[str] = frozenset()) -> list[str]:
    return [*HEAD, *(row(path, info.alias or name, info) for name, info in fields.items() if name not in skip)]


# --- the walk over [scenario] ----------------------------------------------------------------------
def nested(annotation: Any) -> list[tuple[str, type]]:
    """The models a field holds: ("", M) for a table, ("[]", M) for an array of tables."""
    out = []
    for a in _members(_bare(annotation)):
        if typing.get_origin(a) is list:
            out += [("[]", m) for _, m in nested(typing.get_args(a)[0])]
        elif is_model(a):
            out.append(("", _bare(a)))
    return out


def walk(model: type, path: str, seen: dict[type, list[str]], order: list[type]) -> None:
    """Every model reachable from `model`, with the key paths it appears at (distributions excluded:
    they have a section of their own)."""
    if model not in seen:
        seen[model], _ = [], order.append(model)
    seen[model].append(path)
    for name, info in fields_of(model).items():
        vt = value_type(info.annotation, info.metadata)
        if vt is not None and vt.name == "distribution":
            continue
        for suffix, m in nested(info.annotation):
            walk(m, f"{path}.{info.alias or name}{suffix}", seen, order)


def _doc(cls: type) -> str:
    """The first paragraph of a class's own docstring (not one inherited from pydantic)."""
    text = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    return " ".join(text.split("\n\n")[0].split())


def model_sections(root: type, path: str) -> list[str]:
    seen: dict[type, list[str]] = {}
    order: list[type] = []
    walk(root, path, seen, order)
    lines = []
    for model in order:
        paths = seen[model]
        if model is not root:
            tag = next((n for n in ("kind", "dist") if n in model.model_fields
                        and len(_literals(model.model_fields[n].annotation)) == 1), None)
            title = ", ".join(f"`[[{p[:-2]}]]`" if p.endswith("[]") else f"`[{p}]`" for p in paths)
            if tag:
                title += f" with `{tag} = {json.dumps(_literals(model.model_fields[tag].annotation)[0])}`"
            lines += [f"### {title}", ""]
        lines += [*([_doc(model), ""] if _doc(model) else []), *table(f"{paths[0]}.", model.model_fields), ""]
    return lines


def distribution_sections() -> list[str]:
    from .distributions import DISTRIBUTION, Distribution

    lines = ["## Distributions", "", f"Wherever a key's type is *distribution*: {DISTRIBUTION.rule}. Presets: "
             + ", ".join(f"`{name}`" for name in PRESETS) + ". Values are seconds (durations).", ""]
    for model in _members(_bare(Distribution)):
        tag = model.model_fields["dist"]
        name = _literals(tag.annotation)[0]
        lines += [f"### `dist = \"{name}\"`", "", _doc(model) or tag.description[0].upper() + tag.description[1:] + ".", "",
                  *table(f"distribution ({name}).", model.model_fields, skip={"dist"}), ""]
    return lines


def value_types() -> list[ValueType]:
    """Every value type a key of the file uses, in first-use order."""
    found: dict[str, ValueType] = {}

    def visit(model: type) -> None:
        for info in fields_of(model).values():
            for vt in [value_type(info.annotation, info.metadata)] + [value_type(a, []) for a in _members(_bare(info.annotation))]:
                if vt is not None and vt.name not in found:
                    found[vt.name] = vt
            for _, m in nested(info.annotation):
                visit(m)

    visit(ExperimentFile)
    for *_, cls in policy_classes():
        visit(cls)
    return list(found.values())


def policy_sections() -> list[str]:
    lines = ["## Policies (`[scenario.policy]`, `inner`, `[sweep]` policy lists)", "",
             "`kind` picks the policy (and `style`, for `retry_budget`'s library styles). Keys of another kind are "
             "errors. `occmodel policies` prints the same list.", "",
             "### Keys every policy takes", "", *table("policy.", fields_of(Policy)), "",
             "### Keys every wrapper takes (a policy around an `inner` one)", "",
             *table("policy.", own_fields(Wrapper, Policy)), ""]
    for kind, style, cls in policy_classes():
        title = f'`kind = "{kind}"`' + (f', `style = "{style}"`' if style else "")
        wrapper = " A wrapper: it takes `inner` and the wrapper keys." if issubclass(cls, Wrapper) else ""
        fields = own_fields(cls)
        lines += [f"### {title}", "", _doc(cls) + wrapper, ""]
        lines += [*table(f"policy ({kind}).", fields), ""] if fields else ["No keys beyond the common ones.", ""]
    return lines


def bounds_section() -> list[str]:
    fields = fields_of(BoundsEntry)
    limits = [k for k, f in fields.items() if (f.json_schema_extra or {}).get("metric")]
    rest = {k: f for k, f in fields.items() if k not in limits}
    from .reference import Compare

    return ["## `[[bounds]]`", "", _doc(BoundsEntry) + " Each entry has metric limits or one `compare`.", "",
            *table("bounds.", rest),
            "| `<metric>` | string | — | the metric's | an operator `<` `<=` `>` `>=` and a number | a limit on that "
            "metric's mean, held only when its whole 95 % interval is on the right side ([metrics](#metrics)) |", "",
            '<a id="metrics"></a>Metrics (the columns of runs.csv; README\'s "Metrics" says what each measures): '
            + ", ".join(f"`{m}`" for m in METRICS) + ".", "",
            "### `compare`", "", _doc(Compare), "", *table("bounds.compare.", fields_of(Compare)), ""]


def tune_section() -> list[str]:
    return ["## `[tune]`", "", _doc(TuneTable), "", *table("tune.", fields_of(TuneTable)), "",
            "### `params` entries: a range", "", *table("tune.params.KEY.", fields_of(TuneRange)), "",
            "### `params` entries: choices", "", *table("tune.params.KEY.", fields_of(TuneChoices)), ""]


def compare_plot_sections() -> list[str]:
    from .compare import CompareTable
    from .plotspec import HeatmapTable, PlotTable

    return ["## `[compare]`", "", _doc(CompareTable), "", *table("compare.", fields_of(CompareTable)), "",
            "## `[plot]`", "", _doc(PlotTable), "", *table("plot.", fields_of(PlotTable)), "",
            "### `heatmap`", "", _doc(HeatmapTable) + " Needs two numeric swept keys (numbers or durations, two "
            "values or more) besides policy.", "", *table("plot.heatmap.", fields_of(HeatmapTable)), ""]


def generate() -> str:
    """The whole reference as Markdown."""
    top = fields_of(ExperimentFile)
    from .reference import SWEEP

    lines = ["# Configuration reference", "",
             f"<!-- generated by `{COMMAND}` from the config and policy models: do not edit; "
             "regenerate after changing a model (tests/test_docgen.py fails while this file is stale) -->", "",
             "An experiment file is TOML with these tables. `occmodel schema` prints the same as a JSON Schema "
             "(for editors); `occmodel policies` lists the policies. Unknown keys are errors, as are values of "
             "the wrong type (no coercion: `clients = 2.0` is refused).", "",
             *table("", top), "", "## Value types", ""]
    for vt in value_types():
        lines += [f'<a id="{vt.name}"></a>**{vt.name}**: {vt.rule}.', ""]
    lines += ["## `[experiment]`", "", *model_sections(top["experiment"].annotation, "experiment"),
              "## `[scenario]`", "", *model_sections(top["scenario"].annotation, "scenario"),
              *distribution_sections(), *policy_sections(),
              "## `[sweep]`", "", f"{top['sweep'].description.capitalize()}: {SWEEP.rule}. A swept list may index a list of "
              "`[scenario]` by number: `\"store.faults.0.probability\" = [0.1, 0.2]`.", "",
              *bounds_section(), *tune_section(),
              *compare_plot_sections()]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m occmodel.docgen", description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=TARGET, help=f"where to write [{TARGET}]")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs, write nothing")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text, encoding="utf-8")
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
