"""Process settings set for the span of a block: environment variables, and torch's float32
matmul precision."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

import torch


@contextlib.contextmanager
def environment_set(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ``; afterwards each variable is as it was (or unset again)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def float32_matmul_precision(precision: str | None) -> Iterator[None]:
    """``torch.set_float32_matmul_precision(precision)`` inside the block (None: unchanged), the
    previous setting afterwards."""
    before = torch.get_float32_matmul_precision()
    if precision is not None:
        torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)
