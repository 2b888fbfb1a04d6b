"""Normalisation of queries and keys that keeps the Taylor weights non-negative.

``"token"`` divides every token by its own L2 norm, so ``|<q_i, k_j>| <= 1`` and the weight
``a0 + a1 <q_i, k_j>`` stays non-negative for ``a0 >= a1``; it is causal-safe because no token
looks at another. ``"seq_max"`` is the rule of the original Fastmax kernels: divide by the
largest squared norm over the whole sequence, floored at 0.1. It depends on later tokens, so it
leaks the future into causal outputs; it exists to reproduce the paper. ``None`` passes inputs
through. New tensors are returned; inputs are never written.
"""

from __future__ import annotations

import torch

TOKEN_EPS = 1e-6
SEQ_MAX_FLOOR = 0.1


def normalize_qk(
    q: torch.Tensor, k: torch.Tensor, mode: str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(q, k)`` normalised by ``mode`` ("token", "seq_max" or None)."""
    if mode is None:
        return q, k
    if mode == "token":
        return _token(q), _token(k)
    if mode == "seq_max":
        return _seq_max(q), _seq_max(k)
    raise ValueError(f"normalize must be 'token', 'seq_max' or None, got {mode!r}")


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _token(x: torch.Tensor) -> torch.Tensor:
    xf = x.to(_compute_dtype(x))
    norm = torch.linalg.vector_norm(xf, dim=-1, keepdim=True).clamp_min(TOKEN_EPS)
    return (xf / norm).to(x.dtype)


def _seq_max(x: torch.Tensor) -> torch.Tensor:
    xf = x.to(_compute_dtype(x))
    sq = xf.square().sum(dim=-1)  # (B, H, N)
    peak = sq.amax(dim=-1, keepdim=True).clamp_min(SEQ_MAX_FLOOR)  # (B, H, 1)
    return (xf / peak.unsqueeze(-1)).to(x.dtype)
