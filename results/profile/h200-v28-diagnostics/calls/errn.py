"""float32 at the default precision, causal, token normalisation, head_dim 64, B=1, H=4
(unsplit with FASTMAX_SEQUENCE_SPLIT=0, so on wgmma where a pass is built for it; split
otherwise): relative errors of out, dq, dk and dv against the same formula in float64 (the
chunked torch path for N > 4096, the quadratic formula up to it), one line per N."""

import sys

import torch

import fastmax
from fastmax.correctness import relative_error

label = sys.argv[1]
assert torch.get_float32_matmul_precision() == "highest"
for n in (1024, 4096, 16384, 65536):
    g = torch.Generator(device="cuda").manual_seed(n)
    q, k, v, dy = (torch.randn(1, 4, n, 64, device="cuda", generator=g) for _ in range(4))
    got = [t.clone().requires_grad_() for t in (q, k, v)]
    out = fastmax.fastmax_attention(*got, causal=True, backend="cuda")
    grads = torch.autograd.grad(out, got, dy)
    ref = [t.double().requires_grad_() for t in (q, k, v)]
    if n > 4096:
        out64 = fastmax.fastmax_attention(*ref, causal=True, backend="torch")
    else:
        out64 = fastmax.reference_attention(*ref, causal=True)
    grads64 = torch.autograd.grad(out64, ref, dy.double())
    errs = [relative_error(x, r) for x, r in zip((out, *grads), (out64, *grads64), strict=True)]
    names = ("out", "dq", "dk", "dv")
    print(label, n, " ".join(f"{k}={e:.2e}" for k, e in zip(names, errs, strict=True)))
