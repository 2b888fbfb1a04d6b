"""One float32 forward+backward at the default precision (B=4, H=16, N=16384, head_dim 64,
causal, token normalisation) inside cudaProfilerStart/Stop, after three warm-up steps, for
ncu --profile-from-start off: the forward, DQ, DK and DV on the wgmma kernel with
dkdv-on-b22562d.diff (and keys-on-dkdv.diff) applied. FASTMAX_NCU_HEAD_DIM=128 (added in
session 43) takes head_dim 128, the mma.sync passes."""

import os

import torch

from fastmax import fastmax_attention

B, H, N, D = 4, 16, 16384, int(os.environ.get("FASTMAX_NCU_HEAD_DIM", "64"))
assert torch.get_float32_matmul_precision() == "highest"
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, grad = (torch.randn(B, H, N, D, device="cuda", generator=g) for _ in range(4))
q, k, v = (t.requires_grad_() for t in (q, k, v))


def step():
    torch.autograd.grad(fastmax_attention(q, k, v, causal=True), (q, k, v), grad)


for _ in range(3):
    step()
torch.cuda.synchronize()
torch.cuda.cudart().cudaProfilerStart()
step()
torch.cuda.synchronize()
torch.cuda.cudart().cudaProfilerStop()
