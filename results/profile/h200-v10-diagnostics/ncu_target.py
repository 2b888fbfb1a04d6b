"""One forward+backward of the op for ncu: argv n, dtype (bfloat16 | float32), B."""

import sys

import torch

from fastmax.ops import fastmax_attention

n = int(sys.argv[1]) if len(sys.argv) > 1 else 16384
dtype = getattr(torch, sys.argv[2]) if len(sys.argv) > 2 else torch.bfloat16
b = int(sys.argv[3]) if len(sys.argv) > 3 else 4
q, k, v = (
    torch.randn(b, 16, n, 128, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3)
)
o = fastmax_attention(q, k, v, causal=True, backend="cuda")
o.backward(torch.randn_like(o))
torch.cuda.synchronize()
