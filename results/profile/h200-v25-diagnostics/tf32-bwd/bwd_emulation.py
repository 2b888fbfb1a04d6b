"""CPU emulation of a TF32 backward's error against the float64 gradients, by the operands its
products read. The forward is v25's (q and k normalised then truncated, v rounded, W rounded);
the backward's products (token normalisation, causal, a1 = 0.7, the quadratic form, no chunk
states) read each operand truncated (how the unit reads a raw float32) or rounded (cvt.rna):
  dv  = W^T G             W rounded, G = dO / den
  dW  = (dO V^T - go) / den   go = <dO, out> from the forward's out (float32)
  dqn = a1 dW K,  dkn = a1 dW^T Q   dW rounded
then the normalisation's backward in float64. Variants: which of v, dO, G, q, k are rounded,
and "P exact": dO V^T at float32 accuracy (three products) with the rest at one; "float32
backward": every product at float32 accuracy (what the op runs), to compare with the GPU."""

import torch

import fastmax
from fastmax.correctness import relative_error

A0, A1, EPS = 1.0, 0.7, 1e-6


def truncated(x: torch.Tensor) -> torch.Tensor:
    bits = x.to(torch.float32).contiguous().view(torch.int32) & ~0x1FFF
    return bits.view(torch.float32).double()


def rounded(x: torch.Tensor) -> torch.Tensor:  # to nearest, ties away from zero, as cvt.rna
    bits = (x.to(torch.float32).contiguous().view(torch.int32) + 0x1000) & ~0x1FFF
    return bits.view(torch.float32).double()


def f32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).double()


def norm_backward(x: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """The gradient through y = x / max(||x||, EPS), exact."""
    n = x.norm(dim=-1, keepdim=True).clamp_min(EPS)
    y = x / n
    return (dy - y * (y * dy).sum(-1, keepdim=True)) / n


def emulate(q, k, v, d_out, rounded_ops: set[str]):
    accurate = "F" in rounded_ops  # the backward at float32 accuracy (three products)
    quant = {name: rounded if name in rounded_ops else truncated for name in "qkvdg"}
    if accurate:
        quant = dict.fromkeys("qkvdg", f32)
    exact_p = "P" in rounded_ops or accurate
    qn, kn = (torch.nn.functional.normalize(x, dim=-1, eps=EPS) for x in (q, k))
    n = q.shape[-2]
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    # forward as v25 runs it: q, k truncated, v rounded, W rounded
    w = (A0 + A1 * truncated(qn) @ truncated(kn).transpose(-1, -2)).masked_fill(~mask, 0)
    w = rounded(w)
    den = f32(w.sum(-1, keepdim=True))
    out = f32((w @ rounded(v)) / den)
    go = f32((d_out * out).sum(-1, keepdim=True))
    # backward: W again from the backward's own operands
    wb = A0 + A1 * quant["q"](qn) @ quant["k"](kn).transpose(-1, -2)
    wb = (f32 if accurate else rounded)(wb.masked_fill(~mask, 0))
    g = quant["g"](d_out / den)
    dv = wb.transpose(-1, -2) @ g
    p = d_out @ v.transpose(-1, -2) if exact_p else quant["d"](d_out) @ quant["v"](v).mT
    dw = ((f32(p) - go) / den).masked_fill(~mask, 0)
    dw = (f32 if accurate else rounded)(dw)
    dqn = A1 * dw @ quant["k"](kn)
    dkn = A1 * dw.transpose(-1, -2) @ quant["q"](qn)
    return norm_backward(q, dqn), norm_backward(k, dkn), dv


VARIANTS = {
    "float32 backward": {"F"},
    "all truncated": set(),
    "v rounded": {"v"},
    "v, dO rounded": {"v", "d"},
    "v, dO, G rounded": {"v", "d", "g"},
    "all rounded": set("qkvdg"),
    "P exact": {"P"},
    "P exact, rounded": set("qkvdgP"),
}

for n, h in ((64, 3), (200, 4), (700, 4)):
    gen = torch.Generator().manual_seed(n)
    q, k, v, d_out = (
        torch.randn(2, h, n, 128, generator=gen, dtype=torch.float64) for _ in range(4)
    )
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    ref = fastmax.reference_attention(*leaves, causal=True, normalize="token", a1=A1)
    ref.backward(d_out)
    refs = [x.grad for x in leaves]
    for name, ops in VARIANTS.items():
        grads = emulate(q, k, v, d_out, ops)
        errs = [relative_error(x, r, scale=d_out) for x, r in zip(grads, refs, strict=True)]
        print(f"N={n:4d} {name:18s} dq %.2e  dk %.2e  dv %.2e" % tuple(errs))
