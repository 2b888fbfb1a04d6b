"""Causal, token normalisation, B=1, H=4 (unsplit with FASTMAX_SEQUENCE_SPLIT=0): relative
errors of out, dq, dk and dv against the same formula in float64 on the same rounded inputs
(the chunked torch path for N > 4096, the quadratic formula up to it), one line per
configuration and N. Configurations: f32 and f32-128 (float32 at the default precision, head_dim
64 and 128; f32-128 added in session 43), tf32-64 and tf32-128 (float32 with TF32 allowed),
bf16-128 (bfloat16, head_dim 128)."""

import sys

import torch

import fastmax
from fastmax.correctness import relative_error

CONFIGS = {
    "f32": (torch.float32, "highest", 64),
    "f32-128": (torch.float32, "highest", 128),
    "tf32-64": (torch.float32, "high", 64),
    "tf32-128": (torch.float32, "high", 128),
    "bf16-128": (torch.bfloat16, "highest", 128),
}
label = sys.argv[1]
for name in sys.argv[2:]:
    dtype, precision, d = CONFIGS[name]
    torch.set_float32_matmul_precision(precision)
    for n in (1024, 4096, 16384, 65536):
        g = torch.Generator(device="cuda").manual_seed(n)
        q, k, v, dy = (
            torch.randn(1, 4, n, d, device="cuda", generator=g).to(dtype) for _ in range(4)
        )
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
        print(label, name, n, " ".join(f"{k}={e:.2e}" for k, e in zip(names, errs, strict=True)))
