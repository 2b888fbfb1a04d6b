"""One token forward+backward (bf16, B=4, H=16, N=16384, D=128, causal) inside
cudaProfilerStart/Stop, after three warm-up steps, for ncu --profile-from-start off."""

import torch

from fastmax import fastmax_attention

B, H, N, D = 4, 16, 16384, 128
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, grad = (
    torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(4)
)
q, k, v = (t.requires_grad_() for t in (q, k, v))


def step():
    torch.autograd.grad(fastmax_attention(q, k, v, causal=True, normalize="token"), (q, k, v), grad)


for _ in range(3):
    step()
torch.cuda.synchronize()
torch.cuda.cudart().cudaProfilerStart()
step()
torch.cuda.synchronize()
torch.cuda.cudart().cudaProfilerStop()
