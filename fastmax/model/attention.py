"""The attention swap: subclasses of LitGPT's ``CausalSelfAttention``.

LitGPT computes the projections, RoPE and the KV cache in ``CausalSelfAttention.forward`` and
then calls ``self.scaled_dot_product_attention(q, k, v, mask)``; the subclasses override that
method, and the Fastmax one also ``forward`` for full sequences.

* :class:`FastmaxSelfAttention` calls ``fastmax.fastmax_attention(q, k, v, causal=True, ...)``
  (backend "auto": the CUDA op for CUDA tensors when it is built, the PyTorch backend otherwise).
  For a full sequence (training, scoring) its ``forward`` computes the same projections and
  RoPE as LitGPT's, the RoPE by :func:`fastmax.ops.rope.apply_rope`: one kernel each way on
  CUDA, where LitGPT's element-wise RoPE and its gradient moved q and k about ten times per
  layer. With a KV cache (generation: a mask is given, queries may be fewer than keys) LitGPT's
  ``forward`` runs, and the method evaluates the same Fastmax weights exactly by the small
  masked quadratic form :func:`masked_fastmax`.
* :class:`NoAttention` returns the values unchanged: projections kept, the attention op removed,
  the throughput upper bound of any attention.

Grouped key/value heads: LitGPT 0.5.13 repeats k and v to ``n_head`` heads before calling the
method; :func:`key_value_heads` takes one head per group back as strided views (no copy), so the
Fastmax op receives ``Hkv`` heads and computes grouped-query attention itself.
"""

from __future__ import annotations

import torch
from litgpt.model import CausalSelfAttention

from fastmax.ops import fastmax_attention
from fastmax.ops.normalize import normalize_qk
from fastmax.ops.rope import apply_rope


def key_value_heads(
    k: torch.Tensor, v: torch.Tensor, n_head: int, n_query_groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Undo LitGPT's ``repeat_interleave`` of grouped k and v: (B, n_head, ...) -> (B, Hkv, ...)."""
    if n_query_groups == n_head or k.size(1) == n_query_groups:
        return k, v
    group = n_head // n_query_groups
    return k[:, ::group], v[:, ::group]


def masked_fastmax(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor,
    *,
    normalize: str | None,
    p: int,
    a0: float,
    a1: float,
    a2: float,
) -> torch.Tensor:
    """Fastmax of q (B, H, Tq, D) over the keys ``mask`` allows, by the quadratic formula.

    k, v: (B, Hkv, Tk, D) with H % Hkv == 0; mask: bool, broadcastable to (B, 1, Tq, Tk), True
    where query i may attend to key j. Weights ``a0 + a1 s (+ a2 s^2 / 2)`` with ``s = <q, k>``
    after the same normalisation as ``fastmax_attention``; returns (B, H, Tq, Dv) in q's dtype.
    """
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = attend), got {mask.dtype}")
    if normalize == "seq_max":
        raise ValueError(
            "normalize='seq_max' divides by a maximum over the whole sequence, later tokens "
            "included, so it has no token-by-token (KV cache) form; use 'token' or None"
        )
    b, h, tq, d = q.shape
    h_kv, dv = k.shape[1], v.shape[3]
    q, k = normalize_qk(q, k, normalize)
    compute = torch.float64 if q.dtype == torch.float64 else torch.float32
    qf = q.to(compute).reshape(b, h_kv, h // h_kv, tq, d)
    kf = k.to(compute).unsqueeze(2)
    vf = v.to(compute).unsqueeze(2)
    s = qf @ kf.transpose(-1, -2)  # (B, Hkv, group, Tq, Tk)
    w = a0 + a1 * s
    if p == 2:
        w = w + (a2 / 2.0) * s * s
    w = torch.where(mask.unsqueeze(1), w, torch.zeros((), dtype=w.dtype, device=w.device))
    out = (w @ vf) / w.sum(dim=-1, keepdim=True)
    return out.reshape(b, h, tq, dv).to(q.dtype)


class FastmaxSelfAttention(CausalSelfAttention):
    """LitGPT's causal self-attention with the softmax replaced by Fastmax.

    Training and full-sequence forwards (no KV cache, no mask) take :meth:`forward`'s own path:
    the same projections, RoPE by :func:`fastmax.ops.rope.apply_rope` (one kernel each way on
    CUDA) and key/value heads passed ungrouped. Everything else (generation with a KV cache,
    query/key norms, sliding windows, interleaved RoPE) runs LitGPT's ``forward``, which calls
    :meth:`scaled_dot_product_attention`.
    """

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None = None,
        input_pos: torch.Tensor | None = None,
        input_pos_maxp1: int | None = None,
    ) -> torch.Tensor:
        config = self.config
        if (
            input_pos is not None
            or mask is not None
            or config.norm_qk
            or config.rope_interleave
            or self.apply_sliding_window_attention
            or cos.dim() != 3
            or cos.size(0) != 1
        ):
            return super().forward(x, cos, sin, mask, input_pos, input_pos_maxp1)
        b, t, _ = x.shape
        heads, groups, size = config.n_head, config.n_query_groups, config.head_size
        q, k, v = self.qkv(x).split((heads * size, groups * size, groups * size), dim=-1)
        q = q.view(b, t, heads, size).transpose(1, 2)
        k = k.view(b, t, groups, size).transpose(1, 2)
        v = v.view(b, t, groups, size).transpose(1, 2)
        if cos.size(-1) > 0:
            # The tables once per layer in the kernel's float32 (LitGPT keeps them in the
            # model's dtype); float64 stays float64.
            cos, sin = (t[0].to(torch.promote_types(t.dtype, torch.float32)) for t in (cos, sin))
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = fastmax_attention(q, k, v, causal=True, **config.fastmax_options)
        return self.proj(y.transpose(1, 2).reshape(b, t, heads * size))

    def scaled_dot_product_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        k, v = key_value_heads(k, v, self.config.n_head, self.config.n_query_groups)
        options = self.config.fastmax_options
        if mask is None:
            if q.size(2) != k.size(2):
                raise ValueError(
                    f"without a mask queries and keys must be the same tokens, got {q.size(2)} "
                    f"queries and {k.size(2)} keys"
                )
            y = fastmax_attention(q, k, v, causal=True, **options)
        else:
            options.pop("backend")
            y = masked_fastmax(q, k, v, mask, **options)
        return y.transpose(1, 2)


class NoAttention(CausalSelfAttention):
    """LitGPT's causal self-attention with the attention op removed (values passed through)."""

    def scaled_dot_product_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if mask is not None or v.size(2) != q.size(2) or v.size(1) != q.size(1):
            raise ValueError(
                "attention 'none' is a throughput bound for training; it has no KV-cache path"
            )
        return v.transpose(1, 2)


ATTENTION_CLASSES: dict[str, type[CausalSelfAttention]] = {
    "softmax": CausalSelfAttention,
    "fastmax": FastmaxSelfAttention,
    "none": NoAttention,
}
