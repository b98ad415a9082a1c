"""Config errors people can act on, and the translation of pydantic's errors into them.

Pydantic does the checking; this module decides what the user reads when a check fails: one
line naming the key path as it appears in the TOML, the offending value and what is allowed
(with a did-you-mean for misspelt keys). `ConfigError` is the single exception the CLI turns
into exit status 2. It lives at the bottom of the layers so that every module (config, policies,
executors, experiment) can raise it without importing the config models.
"""
from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


class ConfigError(Exception):
    """Invalid input: `path` is the dotted key, `value` what was given, `allowed` what would do."""

    def __init__(self, path: str, value: Any, allowed: str):
        # args are the constructor's, so the error survives pickling (process pools) and SimPy's
        # re-raise of a process's exception, both of which rebuild it as type(e)(*e.args)
        super().__init__(path, value, allowed)
        self.path, self.value, self.allowed = path, value, allowed

    def __str__(self) -> str:
        where = self.path or "(top level)"
        if isinstance(self.value, dict):  # a rule about the whole table: the table is not worth printing
            return f"{where}: {self.allowed}"
        return f"{where}: got {'(missing)' if self.value is _MISSING else repr(self.value)}; {self.allowed}"


_MISSING = object()


def validate(model: type[BaseModel], data: Any, prefix: str, context: dict[str, Any] | None = None) -> Any:
    """`model` validated from `data`, or one `ConfigError` whose path starts with `prefix`."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise from_pydantic(exc, data, prefix, model) from None


def from_pydantic(exc: ValidationError, data: Any, prefix: str, model: Any = None) -> ConfigError:
    """Translate pydantic's first error into a `ConfigError` whose path is the user's key path."""
    # an unknown key explains the errors that follow from it, so it is reported first
    err = min(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    parts, value, node, cls = [], data, data, model
    for item in err["loc"]:
        if isinstance(node, dict) and item in node:
            parts.append(str(item))
            value = node = node[item]
            cls = _field_model(cls, str(item), node)
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
            value = node = node[item]
            cls = _item_model(cls, node)
        # other loc items are pydantic's names for union members and validators: not user keys
    if err["type"] == "missing":
        parts.append(str(err["loc"][-1]))
        value = _MISSING
    path = ".".join(p for p in [prefix, *parts] if p)
    if err["type"] == "extra_forbidden":
        parent = _parent_model(model, data, err["loc"])
        allowed = sorted(f.alias or k for k, f in (getattr(parent, "model_fields", {}) or {}).items())
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        msg = f"unknown key; allowed keys here: {', '.join(a for a in allowed)}"
        return ConfigError(path, value, msg + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    if err["type"] == "union_tag_invalid":
        msg = f"{err['ctx']['discriminator'].strip(chr(39))} must be one of {err['ctx']['expected_tags']}"
    elif err["type"] == "literal_error":
        msg = f"expected one of {err['ctx']['expected']}"
    elif err["type"] == "missing":
        msg = "this key is required here"
    return ConfigError(path, value, msg)


def _unwrap(annotation: Any, data: Any) -> Any:
    """The model class an annotation stands for, given the data (tags pick union members)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], data)
    if origin in (list,):
        return _unwrap(typing.get_args(annotation)[0], data)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
        for m in members:
            tag = next((k for k in ("dist", "kind") if k in m.model_fields), None)
            if tag and isinstance(data, dict) and typing.get_args(m.model_fields[tag].annotation) == (data.get(tag),):
                return m
        return members[0] if len(members) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _field_model(cls: Any, key: str, data: Any) -> Any:
    fields = getattr(cls, "model_fields", None) or {}
    field = fields.get(key) or next((f for f in fields.values() if f.alias == key), None)
    return _unwrap(field.annotation, data) if field else None


def _item_model(cls: Any, data: Any) -> Any:
    return cls if cls is None else _unwrap(cls, data) if not isinstance(cls, type) else cls


def _parent_model(model: Any, data: Any, loc: tuple) -> Any:
    cls, node = model, data
    for item in loc[:-1]:
        if isinstance(node, dict) and item in node:
            node = node[item]
            cls = _field_model(cls, str(item), node)
        elif isinstance(node, list) and isinstance(item, int):
            node = node[item]
    if cls is not None and isinstance(node, dict):
        for tag in ("dist", "kind"):
            if tag in node and _unwrap(cls, node) is not None:
                return _unwrap(cls, node)
    return cls
