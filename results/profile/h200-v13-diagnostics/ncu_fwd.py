"""One causal forward of the op for ncu (B=4, H=16, N=16384, D=128, bfloat16), after a warm-up."""

import torch

from fastmax.ops import fastmax_attention

q, k, v = (torch.randn(4, 16, 16384, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
for _ in range(3):
    fastmax_attention(q, k, v, causal=True, backend="cuda")
torch.cuda.synchronize()
