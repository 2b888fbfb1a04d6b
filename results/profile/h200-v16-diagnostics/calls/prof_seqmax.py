"""Chrome traces of two forward+backward steps per normalisation at the paper's shape."""

import sys

import torch
from torch.profiler import ProfilerActivity, profile

from fastmax import fastmax_attention

out_dir, B, H, N, D = sys.argv[1], 4, 16, 65536, 128
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, grad = (
    torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(4)
)
q, k, v = (t.requires_grad_() for t in (q, k, v))
for normalize in ("token", "seq_max", None):

    def step(normalize=normalize):
        o = fastmax_attention(q, k, v, causal=True, normalize=normalize)
        torch.autograd.grad(o, (q, k, v), grad)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            step()
        torch.cuda.synchronize()
    prof.export_chrome_trace(f"{out_dir}/trace-{normalize}.json")
    e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e[0].record()
    for _ in range(5):
        step()
    e[1].record()
    torch.cuda.synchronize()
    print(normalize, "fwd+bwd ms", e[0].elapsed_time(e[1]) / 5, flush=True)
