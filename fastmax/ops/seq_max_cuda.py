"""``normalize="seq_max"`` on the CUDA op, folded into the weights instead of scaled copies.

seq_max divides q by P_q = max(max_i ||q_i||^2, 0.1) over each (batch, head) sequence and k by
P_k likewise, so the weights a0 + a1 <q_i / P_q, k_j / P_k> are those of the raw rows with
a1' = a1 / (P_q P_k): one number per head, which the kernels take per key/value head
(``a1_heads``). With grouped heads the query heads of one key/value head may have different
P_q, so q is divided by P_q in a copy and a1' = a1 / P_k.

The backward needs no more passes of the attention: out depends on k only through a1' k (per
key/value head), so a1' dL/da1' = sum_j <dL/dk_j, k_j> over the head's rows, with the op's dk
at fixed a1'. That gives the peaks' gradients, which reach the rows holding each maximum (split
evenly among ties, zero unless the peak exceeds the floor, as ``amax`` and ``clamp_min`` do in
``normalize.py``): one row dot of dk against k, and updates of the few rows of dq and dk that
hold a peak (``add_scaled_rows_``).
"""

from __future__ import annotations

import torch

from fastmax.ops.normalize import SEQ_MAX_FLOOR


def _floored(peak: torch.Tensor) -> torch.Tensor:
    """P = max(peak, floor) from the largest squared row norm per (batch, head)."""
    return peak.clamp_min(SEQ_MAX_FLOOR)


def _scaled_q(q: torch.Tensor, p_q: torch.Tensor) -> torch.Tensor:
    """q / P_q per head, in q's dtype, computed in float32 without a float32 copy."""
    return torch.div(q, p_q[..., None, None], out=torch.empty_like(q))


def _add_peak_gradient(
    grad_x: torch.Tensor,
    x: torch.Tensor,
    sq: torch.Tensor,
    peak: torch.Tensor,
    grad_p: torch.Tensor,
) -> None:
    """grad_x += dL/dx through P = max(peak, floor), peak = max_i ||x_i||^2 (the rows' squared
    norms sq), given dL/dP per head."""
    peak = peak[..., None]
    tied = sq == peak
    grad_peak = torch.where(peak > SEQ_MAX_FLOOR, grad_p[..., None], 0.0)
    coef = tied * (2.0 * grad_peak / tied.sum(dim=-1, keepdim=True))
    torch.ops.fastmax.add_scaled_rows_(grad_x, x, coef)


class SeqMaxAttention(torch.autograd.Function):
    """Fastmax of q and k normalised by seq_max, through the CUDA op with per-head a1."""

    @staticmethod
    def forward(ctx, q, k, v, causal: bool, a0: float, a1: float, allow_tf32: bool):
        sq_q = torch.ops.fastmax.row_dot(q, q)
        sq_k = torch.ops.fastmax.row_dot(k, k)
        peak_q, peak_k = sq_q.amax(dim=-1), sq_k.amax(dim=-1)
        p_q, p_k = _floored(peak_q), _floored(peak_k)
        grouped = q.shape[1] != k.shape[1]
        q_in = _scaled_q(q, p_q) if grouped else q
        a1_heads = (a1 / p_k if grouped else a1 / (p_q * p_k)).contiguous()
        out, den, _, _ = torch.ops.fastmax.fwd(
            q_in, k, v, causal, a0, a1, allow_tf32, 0.0, a1_heads
        )
        ctx.save_for_backward(q, k, v, out, den, sq_q, sq_k, peak_q, peak_k, a1_heads)
        ctx.options = (causal, a0, a1, allow_tf32)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, den, sq_q, sq_k, peak_q, peak_k, a1_heads = ctx.saved_tensors
        p_q, p_k = _floored(peak_q), _floored(peak_k)
        grouped = q.shape[1] != k.shape[1]
        q_in = _scaled_q(q, p_q) if grouped else q
        none = den.new_empty((0,))
        dq, dk, dv = torch.ops.fastmax.bwd(
            grad_out, q_in, k, v, out, den, k.new_empty((0,)), none, *ctx.options, 0.0, a1_heads
        )
        scaled = torch.ops.fastmax.row_dot(dk, k).sum(dim=-1)  # a1' dL/da1' per kv head
        grad_pk = -scaled / p_k
        if grouped:  # dq is dL/d(q / P_q)
            grad_pq = -torch.ops.fastmax.row_dot(dq, q).sum(dim=-1) / p_q.square()
            dq.div_(p_q[..., None, None])
        else:
            grad_pq = -scaled / p_q
        _add_peak_gradient(dq, q, sq_q, peak_q, grad_pq)
        _add_peak_gradient(dk, k, sq_k, peak_k, grad_pk)
        return dq, dk, dv, None, None, None, None
