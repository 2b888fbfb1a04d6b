"""The definition of Fastmax: the quadratic formula in float64.

For query ``i`` and keys ``j`` (all of them, or ``j <= i`` when causal)::

    s_ij = <q_i, k_j>
    w_ij = a0 + a1 * s_ij                       (p = 1)
    w_ij = a0 + a1 * s_ij + a2 * s_ij**2 / 2    (p = 2)
    o_i  = sum_j w_ij v_j / sum_j w_ij

It builds the whole N x N weight matrix, so it is for tests, documentation and small inputs only;
every fast implementation is checked against it, gradients included (autograd runs through it).
"""

from __future__ import annotations

import torch

from fastmax.ops.checks import check_inputs
from fastmax.ops.normalize import normalize_qk


def reference_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    normalize: str | None = "token",
    p: int = 1,
    a0: float = 1.0,
    a1: float = 1.0,
    a2: float = 1.0,
) -> torch.Tensor:
    """Fastmax attention by the quadratic formula, computed and returned in float64.

    Shapes: q (B, H, N, D); k (B, Hkv, N, D); v (B, Hkv, N, Dv) with H % Hkv == 0.
    Returns (B, H, N, Dv) in float64. Differentiable with respect to q, k and v.
    """
    check_inputs(q, k, v, causal=causal, normalize=normalize, p=p, a0=a0, a1=a1, a2=a2)
    q64, k64, v64 = (t.to(torch.float64) for t in (q, k, v))
    q64, k64 = normalize_qk(q64, k64, normalize)
    group = q.shape[1] // k.shape[1]
    k64 = k64.repeat_interleave(group, dim=1)
    v64 = v64.repeat_interleave(group, dim=1)
    s = q64 @ k64.transpose(-1, -2)
    w = a0 + a1 * s
    if p == 2:
        w = w + (a2 / 2.0) * s * s
    if causal:
        n = q.shape[2]
        keep = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        w = w.masked_fill(~keep, 0.0)
    return (w @ v64) / w.sum(dim=-1, keepdim=True)
