"""``normalize="seq_max"`` on the CUDA op, folded into the weights instead of scaled copies.

seq_max divides q by P_q = max(max_i ||q_i||^2, 0.1) over each (batch, head) sequence and k by
P_k likewise, so the weights a0 + a1 <q_i / P_q, k_j / P_k> are those of the raw rows with
a1' = a1 / (P_q P_k): one number per head, which the kernels take per key/value head
(``a1_heads``). With grouped heads the query heads of one key/value head may have different
P_q, so q is divided by P_q in a copy and a1' = a1 / P_k.

The backward needs no more passes of the attention: out depends on k only through a1' k (per
key/value head), so a1' dL/da1' = sum_j <dL/dk_j, k_j> over the head's rows, with the op's dk
at fixed a1'. That gives the peaks' gradients, dL/dP_k = -a1' dL/da1' / P_k (and likewise for
P_q), which reach the rows holding each maximum (split evenly among ties, zero unless the peak
exceeds the floor, as ``amax`` and ``clamp_min`` do in ``normalize.py``).

Around the attention's kernels each direction takes one kernel per head for the peaks
(``seq_max_a1`` forward, ``add_peak_gradient_`` backward, after row dots), so that short
sequences are not bound by the launches of many small PyTorch ops.
"""

from __future__ import annotations

import torch

from fastmax.ops.normalize import SEQ_MAX_FLOOR


def _floored(peak: torch.Tensor) -> torch.Tensor:
    """P = max(peak, floor) per head (the kernels' a1' applies the same floor)."""
    return peak.clamp_min(SEQ_MAX_FLOOR)


def _scaled_q(q: torch.Tensor, p_q: torch.Tensor) -> torch.Tensor:
    """q / P_q per head, in q's dtype, computed in float32 without a float32 copy."""
    return torch.div(q, p_q[..., None, None], out=torch.empty_like(q))


class SeqMaxAttention(torch.autograd.Function):
    """Fastmax of q and k normalised by seq_max, through the CUDA op with per-head a1."""

    @staticmethod
    def forward(ctx, q, k, v, causal: bool, a0: float, a1: float, allow_tf32: bool):
        sq_q = torch.ops.fastmax.row_dot(q, q)
        sq_k = torch.ops.fastmax.row_dot(k, k)
        peak_q, peak_k, a1_heads = torch.ops.fastmax.seq_max_a1(sq_q, sq_k, a1, SEQ_MAX_FLOOR)
        q_in = _scaled_q(q, _floored(peak_q)) if q.shape[1] != k.shape[1] else q
        out, den, *_ = torch.ops.fastmax.fwd(q_in, k, v, causal, a0, a1, allow_tf32, 0.0, a1_heads)
        ctx.save_for_backward(q, k, v, out, den, sq_q, sq_k, peak_q, peak_k, a1_heads)
        ctx.options = (causal, a0, a1, allow_tf32)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, den, sq_q, sq_k, peak_q, peak_k, a1_heads = ctx.saved_tensors
        grouped = q.shape[1] != k.shape[1]
        q_in = q
        if grouped:
            p_q = _floored(peak_q)
            q_in = _scaled_q(q, p_q)
        none = den.new_empty((0,))
        kept = k.new_empty((0,)), none, none  # fwd's kn, rk and rq: empty without eps
        dq, dk, dv = torch.ops.fastmax.bwd(
            grad_out, q_in, k, v, out, den, *kept, *ctx.options, 0.0, a1_heads
        )
        s_k = torch.ops.fastmax.row_dot(dk, k)  # summed per head: a1' dL/da1'
        if grouped:  # dq is dL/d(q / P_q): dL/dP_q = -sum_i <dq_i, q_i> / P_q^2
            s_q = torch.ops.fastmax.row_dot(dq, q)
            dq.div_(p_q[..., None, None])
            torch.ops.fastmax.add_peak_gradient_(dq, q, sq_q, s_q, peak_q, SEQ_MAX_FLOOR, 2)
        else:
            torch.ops.fastmax.add_peak_gradient_(dq, q, sq_q, s_k, peak_q, SEQ_MAX_FLOOR, 1)
        torch.ops.fastmax.add_peak_gradient_(dk, k, sq_k, s_k, peak_k, SEQ_MAX_FLOOR, 1)
        return dq, dk, dv, None, None, None, None
