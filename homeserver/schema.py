"""A small schema layer: dataclasses describe JSON shapes, :func:`parse` checks them.

Request bodies and the config file are both described as dataclasses; a
field's annotation gives its type, its default makes it optional and
``field(metadata=...)`` adds limits (``max_len``, ``item_max_len``, ``min``, ``max``,
``choices``, ``key`` for a JSON name that is not an identifier).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")


class SchemaError(ValueError):
    """A value does not fit its schema; ``path`` names where (``a.b[2]``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def limit(**meta: Any) -> Any:
    """A required field with limits."""
    return dataclasses.field(metadata=meta)


def optional(default: Any = None, **meta: Any) -> Any:
    """An optional field with a default (copied when mutable) and limits."""
    if isinstance(default, dict | list):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def parse(cls: type[T], data: Any, *, strict: bool = False, path: str = "") -> T:
    """Build ``cls`` from JSON-like ``data``; unknown keys are errors only if ``strict``."""
    if not isinstance(data, dict):
        raise SchemaError(path, "must be an object")
    fields = _fields(cls)
    if strict:
        known = {_json_key(f) for f in fields}
        for key in data:
            if key not in known:
                raise SchemaError(_join(path, key), "unknown key")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields:
        key = _json_key(f)
        where = _join(path, key)
        if key not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(where, "is required")
            continue
        value = _check(hints[f.name], data[key], where, strict)
        _check_limits(f.metadata, value, where)
        values[f.name] = value
    try:
        return cls(**values)
    except SchemaError as exc:  # a check across fields, in the class's __post_init__
        raise SchemaError(_join(path, exc.path), exc.problem) from None


@functools.cache
def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(cls)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _json_key(f: dataclasses.Field) -> str:
    return f.metadata.get("key", f.name)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def _check(tp: Any, value: Any, path: str, strict: bool) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        return _check_union(typing.get_args(tp), value, path, strict)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise SchemaError(path, f"must be one of {list(typing.get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, strict=strict, path=path)
    if origin is list or tp is list:
        return _check_list(tp, value, path, strict)
    if origin is dict or tp is dict:
        return _check_dict(tp, value, path, strict)
    return _check_scalar(tp, value, path)


def _check_union(args: tuple, value: Any, path: str, strict: bool) -> Any:
    if value is None and type(None) in args:
        return None
    real = [a for a in args if a is not type(None)]
    last: SchemaError | None = None
    for arg in real:
        try:
            return _check(arg, value, path, strict)
        except SchemaError as exc:
            last = exc
    assert last is not None
    raise last


def _check_list(tp: Any, value: Any, path: str, strict: bool) -> list:
    if not isinstance(value, list):
        raise SchemaError(path, "must be a list")
    args = typing.get_args(tp)
    if not args:
        return value
    return [_check(args[0], v, f"{path}[{i}]", strict) for i, v in enumerate(value)]


def _check_dict(tp: Any, value: Any, path: str, strict: bool) -> dict:
    if not isinstance(value, dict):
        raise SchemaError(path, "must be an object")
    args = typing.get_args(tp)
    if not args:
        return value
    return {k: _check(args[1], v, _join(path, k), strict) for k, v in value.items()}


def _check_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise SchemaError(path, f"must be {_NAMES[tp]}")
    if not isinstance(value, tp):
        raise SchemaError(path, f"must be {_NAMES.get(tp, tp.__name__)}")
    if tp is str and "\x00" in value:
        raise SchemaError(path, "must not contain NUL characters")
    return value


def _check_limits(meta: typing.Mapping[str, Any], value: Any, path: str) -> None:
    if value is None:
        return
    if "max_len" in meta and len(value) > meta["max_len"]:
        raise SchemaError(path, f"must be at most {meta['max_len']} long")
    if "item_max_len" in meta and any(len(item) > meta["item_max_len"] for item in value):
        raise SchemaError(path, f"must hold items at most {meta['item_max_len']} long")
    if "min_len" in meta and len(value) < meta["min_len"]:
        raise SchemaError(path, f"must be at least {meta['min_len']} long")
    if "min" in meta and value < meta["min"]:
        raise SchemaError(path, f"must be at least {meta['min']}")
    if "max" in meta and value > meta["max"]:
        raise SchemaError(path, f"must be at most {meta['max']}")
    if "choices" in meta and value not in meta["choices"]:
        raise SchemaError(path, f"must be one of {sorted(meta['choices'])}")
