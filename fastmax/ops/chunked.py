"""Fastmax in O(N) time with plain PyTorch: the ``backend="torch"`` path.

The sequence is cut into chunks of ``chunk_size`` tokens. Inside a chunk the small masked
quadratic term is computed directly; across chunks the sums ``sum_j phi(k_j) v_j^T``,
``sum_j phi(k_j)``, ``sum_j v_j`` and the token count are carried as prefix sums, where
``phi(k) = k`` for p = 1 and ``phi(k) = [k, vec(k k^T)]`` for p = 2 (the O(N D^3) feature form).
Works on any device and dtype (half precision is computed in float32), autograd runs through it,
and grouped key/value heads are broadcast, never copied. Inputs must already be normalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_CHUNK = 64


def chunked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool,
    p: int,
    a0: float,
    a1: float,
    a2: float,
    chunk_size: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Fastmax attention of already-normalised q (B,H,N,D), k (B,Hkv,N,D), v (B,Hkv,N,Dv)."""
    b, h, n, d = q.shape
    h_kv, dv = k.shape[1], v.shape[3]
    compute = torch.float64 if q.dtype == torch.float64 else torch.float32
    qf = q.to(compute).reshape(b, h_kv, h // h_kv, n, d)
    kf = k.to(compute).unsqueeze(2)
    vf = v.to(compute).unsqueeze(2)
    if causal:
        num, den = _causal(qf, kf, vf, p, a0, a1, a2, chunk_size)
    else:
        num, den = _full(qf, kf, vf, p, a0, a1, a2)
    return (num / den).reshape(b, h, n, dv).to(q.dtype)


def _features(
    q: torch.Tensor, k: torch.Tensor, p: int, a1: float, a2: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature maps with <phi_q(q), phi_k(k)> = a1 s + (a2/2) s^2 [p = 2], s = <q, k>."""
    if p == 1:
        return a1 * q, k
    q2 = (q.unsqueeze(-1) * q.unsqueeze(-2)).flatten(-2)
    k2 = (k.unsqueeze(-1) * k.unsqueeze(-2)).flatten(-2)
    return torch.cat([a1 * q, (a2 / 2.0) * q2], dim=-1), torch.cat([k, k2], dim=-1)


def _full(q, k, v, p, a0, a1, a2):
    phi_q, phi_k = _features(q, k, p, a1, a2)
    n = q.shape[-2]
    state = phi_k.transpose(-1, -2) @ v  # (..., F, Dv)
    k_sum = phi_k.sum(dim=-2).unsqueeze(-1)  # (..., F, 1)
    num = a0 * v.sum(dim=-2, keepdim=True) + phi_q @ state
    den = a0 * n + phi_q @ k_sum
    return num, den


def _exclusive_cumsum(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum of all earlier slices along ``dim`` (zero for the first)."""
    total = x.cumsum(dim=dim)
    return torch.cat(
        [torch.zeros_like(total.narrow(dim, 0, 1)), total.narrow(dim, 0, x.shape[dim] - 1)], dim=dim
    )


def _causal(q, k, v, p, a0, a1, a2, chunk):
    n = q.shape[-2]
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n

    def split(x):
        x = F.pad(x, (0, 0, 0, pad))
        return x.reshape(*x.shape[:-2], n_chunks, chunk, x.shape[-1])

    qc, kc, vc = split(q), split(k), split(v)  # (..., n_chunks, C, *)
    pos = torch.arange(n_chunks * chunk, device=q.device).reshape(n_chunks, chunk)
    keep = (pos.unsqueeze(-1) >= pos.unsqueeze(-2)) & (pos < n).unsqueeze(-2)  # (n_chunks, C, C)

    s = qc @ kc.transpose(-1, -2)
    w = a0 + a1 * s
    if p == 2:
        w = w + (a2 / 2.0) * s * s
    w = torch.where(keep, w, torch.zeros((), dtype=w.dtype, device=w.device))
    num = w @ vc
    den = w.sum(dim=-1, keepdim=True)

    phi_q, phi_k = _features(qc, kc, p, a1, a2)
    state = _exclusive_cumsum(phi_k.transpose(-1, -2) @ vc, dim=-3)  # (..., n_chunks, F, Dv)
    k_sum = _exclusive_cumsum(phi_k.sum(dim=-2), dim=-2).unsqueeze(-1)  # (..., n_chunks, F, 1)
    v_sum = _exclusive_cumsum(vc.sum(dim=-2), dim=-2).unsqueeze(-2)  # (..., n_chunks, 1, Dv)
    count = pos[:, 0].to(q.dtype).reshape(n_chunks, 1, 1)  # tokens in earlier chunks

    num = num + a0 * v_sum + phi_q @ state
    den = den + a0 * count + phi_q @ k_sum
    flat = (*num.shape[:-3], n_chunks * chunk)
    return num.reshape(*flat, -1)[..., :n, :], den.reshape(*flat, 1)[..., :n, :]
