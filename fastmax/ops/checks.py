"""Argument checks shared by every Fastmax implementation.

Each check raises a ``TypeError`` or ``ValueError`` that names the offending argument and says
what was expected; nothing here modifies a tensor.
"""

from __future__ import annotations

import numbers

import torch

NORMALIZE_MODES = ("token", "seq_max", None)
ORDERS = (1, 2)
BACKENDS = ("auto", "cuda", "torch")
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_inputs(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool,
    normalize: str | None,
    p: int,
    a0: float,
    a1: float,
    a2: float,
) -> None:
    """Validate shapes, dtypes, devices and options of an attention call."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(
                f"{name} must have 4 dimensions (batch, heads, tokens, head_dim), "
                f"got shape {tuple(t.shape)}"
            )
        if t.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be float16, bfloat16, float32 or float64, got {t.dtype}")
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(
            f"q, k and v must share one dtype, got q={q.dtype}, k={k.dtype}, v={v.dtype}"
        )
    if k.device != q.device or v.device != q.device:
        raise ValueError(
            f"q, k and v must be on one device, got q={q.device}, k={k.device}, v={v.device}"
        )
    b, h, n, d = q.shape
    if k.shape[0] != b or v.shape[0] != b:
        raise ValueError(
            f"batch size must match: q has {b}, k has {k.shape[0]}, v has {v.shape[0]}"
        )
    if k.shape[2] != n or v.shape[2] != n:
        raise ValueError(
            f"number of tokens must match: q has {n}, k has {k.shape[2]}, v has {v.shape[2]}"
        )
    if n < 1:
        raise ValueError("q, k and v must hold at least one token (dimension 2 >= 1)")
    if k.shape[3] != d:
        raise ValueError(f"head_dim of k ({k.shape[3]}) must equal head_dim of q ({d})")
    if d < 1 or v.shape[3] < 1:
        raise ValueError("head_dim of q, k and v must be at least 1")
    h_kv = k.shape[1]
    if v.shape[1] != h_kv:
        raise ValueError(f"k and v must have the same number of heads, got {h_kv} and {v.shape[1]}")
    if h_kv < 1 or h % h_kv != 0:
        raise ValueError(
            f"heads of q ({h}) must be a multiple of heads of k and v ({h_kv}) (GQA/MQA)"
        )
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")
    if isinstance(p, bool) or p not in ORDERS:
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    for name, value in (("a0", a0), ("a1", a1), ("a2", a2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
