"""YAML run configurations checked against dataclasses, with ``key=value`` overrides.

A schema is a dataclass whose fields are typed with ``int``, ``float``, ``str``, ``bool``,
``Literal[...]``, unions (``X | None``), ``list[X]``, ``tuple[X, ...]``, ``dict[str, Any]`` or
another dataclass. :func:`load_config` reads a YAML file, applies overrides such as
``train.max_tokens=4096`` (values parsed as YAML), and builds the dataclass; an unknown key, a
missing required key or a value of the wrong type raises ``ValueError`` naming the key and file.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

T = TypeVar("T")
_MISSING = object()


def add_set_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """The ``--set KEY=VALUE ...`` option of the commands that read a validated YAML config."""
    parser.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help=f"override config keys, e.g. {example}",
    )


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}`` with values parsed as YAML."""
    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like key=value (e.g. train.seed=1)")
        parsed[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return parsed


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with each dotted key of ``overrides`` set (sections created as needed)."""
    result = _deep_copy(data)
    for dotted, value in overrides.items():
        node = result
        parts = dotted.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ValueError(f"override {dotted!r}: {where!r} is not a section")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _deep_copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_deep_copy(value) for value in data]
    return data


def read_yaml(path: str | Path, empty_ok: bool = False) -> dict[str, Any]:
    """The mapping stored in a YAML file (``{}`` for an empty file when ``empty_ok``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {error}") from error
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}"
        )
    return data


def load_config(path: str | Path, schema: type[T], overrides: list[str] | None = None) -> T:
    """Read ``path``, apply ``overrides`` (``key=value`` strings), check it against ``schema``."""
    data = apply_overrides(read_yaml(path), parse_overrides(overrides))
    return build(schema, data, where=str(path))


def build(schema: type[T], data: Any, where: str) -> T:
    """Construct the dataclass ``schema`` from ``data``, checking keys and types."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {field.name: field for field in dataclasses.fields(schema) if field.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed keys: {sorted(fields)}")
    hints = typing.get_type_hints(schema)
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{where}: {name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ValueError(f"{where}: missing required key {name!r}")
    return schema(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    result = _try_convert(hint, value, where)
    if result is _MISSING:
        raise ValueError(f"{where} must be {_describe(hint)}, got {value!r}")
    return result


def _try_convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        for option in args:
            result = _try_convert(option, value, where)
            if result is not _MISSING:
                return result
        return _MISSING
    if hint is type(None):
        return None if value is None else _MISSING
    if origin is Literal:
        return value if any(value == a and type(value) is type(a) for a in args) else _MISSING
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    if hint is bool:
        return value if isinstance(value, bool) else _MISSING
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISSING
    if hint is float:
        return _to_float(value)
    if hint is str:
        return value if isinstance(value, str) else _MISSING
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return _MISSING
        item_hint = args[0] if args else Any
        items = [_convert(item_hint, item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            return _MISSING
        return dict(value)
    raise TypeError(f"{where}: unsupported schema type {hint!r}")


def _to_float(value: Any) -> Any:
    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            return float(value)
        except ValueError:
            return _MISSING
    return _MISSING


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(option) for option in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if hint is type(None):
        return "null"
    if origin is list:
        return f"a list of {_describe(args[0])}" if args else "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(hint):
        return f"a mapping ({hint.__name__})"
    return getattr(hint, "__name__", str(hint))


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain dicts/lists (for YAML/JSON dumps)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {field.name: to_plain(getattr(obj, field.name)) for field in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(item) for item in obj]
    if isinstance(obj, dict):
        return {key: to_plain(value) for key, value in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj
