"""The YAML configuration of a benchmark sweep and of the data-movement profile, validated.

Every key is optional; left out, it takes the paper's setting (B=4, H=16, D=128, N from 10^3 to
10^5 on a log grid of 10 points, float32 and bfloat16, causal, forward and forward+backward,
every method, on CUDA). An unknown key or a bad value raises ``ValueError`` naming the key,
before anything runs. Layout::

    device: cuda                 # "cpu", "cuda" or "cuda:<index>"
    seed: 0                      # inputs and output gradients are drawn from it
    methods: [fastmax_cuda, ...] # names from fastmax.bench.methods.METHOD_NAMES
    B: 4
    H: 16
    D: 128
    N: {start: 1000, stop: 100000, points: 10}   # log grid, or a list of lengths
    dtypes: [float32, bfloat16]  # float32, bfloat16, float16
    causal: [true]
    passes: [fwd, fwd_bwd]
    normalize: token             # Fastmax normalisation: token, seq_max or none
    timing: {warmup: 2, repeats: 50, min_repeats: 3, max_case_seconds: 0.5, flush_mib: 256,
             max_call_seconds: 20}  # null: no limit; see below
    movement: {method: fastmax_cuda, N: [1024, 4096], dtype: bfloat16, causal: true,
               warmup: 3, iterations: 5}

``timing.max_call_seconds`` bounds the cost of slow (quadratic) methods: once a case of a method
measures a median above that many seconds per call, the cases of the same method, dtype, causal
and pass at larger N are not run and are recorded as ``unsupported`` with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch

from fastmax.bench.methods import METHOD_NAMES
from fastmax.config_file import apply_overrides, parse_overrides, read_yaml

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PASSES = ("fwd", "fwd_bwd")
NORMALIZE = {"token": "token", "seq_max": "seq_max", "none": None}


def log_grid(start: int, stop: int, points: int) -> tuple[int, ...]:
    """``points`` integers from ``start`` to ``stop`` evenly spaced in log scale, rounded."""
    if points == 1:
        return (start,)
    ratio = math.log(stop / start) / (points - 1)
    values = [round(start * math.exp(ratio * i)) for i in range(points)]
    values[-1] = stop
    return tuple(dict.fromkeys(values))


PAPER_N = log_grid(1000, 100_000, 10)


@dataclasses.dataclass(frozen=True)
class Timing:
    """How each case is timed: warm-up calls, repeat bounds, time caps and L2 flush size.

    ``max_call_seconds`` (None: no limit) is the median time per call above which the sweep
    skips the larger lengths of that method, dtype, causal and pass.
    """

    warmup: int = 2
    repeats: int = 50
    min_repeats: int = 3
    max_case_seconds: float = 0.5
    flush_mib: int = 256
    max_call_seconds: float | None = 20.0


@dataclasses.dataclass(frozen=True)
class Movement:
    """The data-movement profile: one method's forward+backward at a few lengths."""

    method: str = "fastmax_cuda"
    N: tuple[int, ...] = (1024, 4096, 16384, 65536)
    dtype: str = "bfloat16"
    causal: bool = True
    warmup: int = 3
    iterations: int = 5


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """A validated sweep: methods x N x dtypes x causal x passes at one (B, H, D)."""

    device: str = "cuda"
    seed: int = 0
    methods: tuple[str, ...] = METHOD_NAMES
    B: int = 4
    H: int = 16
    D: int = 128
    N: tuple[int, ...] = PAPER_N
    dtypes: tuple[str, ...] = ("float32", "bfloat16")
    causal: tuple[bool, ...] = (True,)
    passes: tuple[str, ...] = PASSES
    normalize: str = "token"
    timing: Timing = dataclasses.field(default_factory=Timing)
    movement: Movement = dataclasses.field(default_factory=Movement)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings) for JSON provenance and resume checks."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def load_config(path: str | Path, overrides: list[str] | None = None) -> BenchConfig:
    """Read and validate a benchmark YAML file, with ``key=value`` overrides applied first."""
    raw = apply_overrides(read_yaml(path, empty_ok=True), parse_overrides(overrides))
    try:
        return parse_config(raw)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def parse_config(raw: Any) -> BenchConfig:
    """Validate a mapping (the parsed YAML) into a ``BenchConfig``."""
    section = _Section(raw, "", BenchConfig())
    config = BenchConfig(
        device=section.pick("device", check_device),
        seed=section.pick("seed", _int(0)),
        methods=section.pick("methods", _names(METHOD_NAMES)),
        B=section.pick("B", _int(1)),
        H=section.pick("H", _int(1)),
        D=section.pick("D", _int(1)),
        N=section.pick("N", _lengths),
        dtypes=section.pick("dtypes", _names(tuple(DTYPES))),
        causal=section.pick("causal", _bools),
        passes=section.pick("passes", _names(PASSES)),
        normalize=section.pick("normalize", _choice(tuple(NORMALIZE))),
        timing=section.pick("timing", _timing),
        movement=section.pick("movement", _movement),
    )
    section.finish()
    return config


class _Section:
    """One mapping of the YAML file: hands out known keys (or their defaults), rejects the rest."""

    def __init__(self, raw: Any, prefix: str, defaults: Any = None) -> None:
        where = prefix.rstrip(".") or "the config"
        if not isinstance(raw, dict):
            raise ValueError(f"{where} must be a mapping of keys to values, got {raw!r}")
        self.raw = dict(raw)
        self.prefix = prefix
        self.defaults = defaults
        self.known: list[str] = []

    def pick(self, key: str, check) -> Any:
        """The checked value of ``key``; the default when absent (required without defaults)."""
        self.known.append(key)
        name = self.prefix + key
        if key in self.raw:
            return check(self.raw.pop(key), name)
        if self.defaults is None:
            raise ValueError(f"{name} is required")
        return getattr(self.defaults, key)

    def finish(self) -> None:
        """Raise when keys were left that no ``pick`` asked for."""
        if self.raw:
            unknown = ", ".join(repr(self.prefix + str(key)) for key in self.raw)
            known = ", ".join(self.prefix + key for key in self.known)
            raise ValueError(f"unknown key {unknown}; expected one of: {known}")


def _int(minimum: int):
    def check(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        return value

    return check


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _positive_float_or_null(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number or null (no limit), got {value!r}")
    return float(value)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _choice(options: tuple[str, ...]):
    def check(value: Any, name: str) -> str:
        if value not in options:
            raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
        return value

    return check


def _names(options: tuple[str, ...]):
    def check(value: Any, name: str) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{name} must be a non-empty list, got {value!r}")
        for item in value:
            _choice(options)(item, name)
        if len(set(value)) != len(value):
            raise ValueError(f"{name} lists an entry twice: {list(value)}")
        return tuple(value)

    return check


def _bools(value: Any, name: str) -> tuple[bool, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list of true/false, got {value!r}")
    items = tuple(_bool(item, name) for item in value)
    if len(set(items)) != len(items):
        raise ValueError(f"{name} lists an entry twice: {list(items)}")
    return items


def check_device(value: Any, name: str) -> str:
    """``value`` if it names a device (cpu, cuda, cuda:<index>), else ValueError naming ``name``."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be 'cpu', 'cuda' or 'cuda:<index>', got {value!r}")
    kind, _, index = value.partition(":")
    if (kind == "cpu" and not index) or (kind == "cuda" and (not index or index.isdigit())):
        return value
    raise ValueError(f"{name} must be 'cpu', 'cuda' or 'cuda:<index>', got {value!r}")


def _lengths(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, dict):
        grid = _Section(value, name + ".")
        start = grid.pick("start", _int(1))
        stop = grid.pick("stop", _int(1))
        points = grid.pick("points", _int(1))
        grid.finish()
        if stop < start:
            raise ValueError(f"{name}.stop ({stop}) must be >= {name}.start ({start})")
        return log_grid(start, stop, points)
    if isinstance(value, (list, tuple)) and value:
        items = tuple(_int(1)(item, name) for item in value)
        if len(set(items)) != len(items):
            raise ValueError(f"{name} lists a length twice: {list(items)}")
        return items
    raise ValueError(
        f"{name} must be a non-empty list of lengths or a log grid "
        f"{{start: ..., stop: ..., points: ...}}, got {value!r}"
    )


def _timing(value: Any, name: str) -> Timing:
    section = _Section(value, name + ".", Timing())
    timing = Timing(
        warmup=section.pick("warmup", _int(1)),
        repeats=section.pick("repeats", _int(1)),
        min_repeats=section.pick("min_repeats", _int(1)),
        max_case_seconds=section.pick("max_case_seconds", _positive_float),
        flush_mib=section.pick("flush_mib", _int(0)),
        max_call_seconds=section.pick("max_call_seconds", _positive_float_or_null),
    )
    section.finish()
    if timing.min_repeats > timing.repeats:
        raise ValueError(
            f"{name}.min_repeats ({timing.min_repeats}) must be <= "
            f"{name}.repeats ({timing.repeats})"
        )
    return timing


def _movement(value: Any, name: str) -> Movement:
    section = _Section(value, name + ".", Movement())
    movement = Movement(
        method=section.pick("method", _choice(METHOD_NAMES)),
        N=section.pick("N", _lengths),
        dtype=section.pick("dtype", _choice(tuple(DTYPES))),
        causal=section.pick("causal", _bool),
        warmup=section.pick("warmup", _int(1)),
        iterations=section.pick("iterations", _int(1)),
    )
    section.finish()
    return movement
