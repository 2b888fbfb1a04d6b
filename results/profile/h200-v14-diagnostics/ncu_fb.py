"""One causal forward+backward of the op for ncu (B=4, H=16, N=16384, D=128, bfloat16), after a
warm-up; the profiler range covers the timed call only (ncu --profile-from-start off)."""

import torch

from fastmax.ops import fastmax_attention

q, k, v = (
    torch.randn(4, 16, 16384, 128, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    for _ in range(3)
)
dout = torch.randn_like(q)
for _ in range(3):
    fastmax_attention(q, k, v, causal=True, backend="cuda").backward(dout)
torch.cuda.synchronize()
torch.cuda.profiler.start()
fastmax_attention(q, k, v, causal=True, backend="cuda").backward(dout)
torch.cuda.synchronize()
torch.cuda.profiler.stop()
