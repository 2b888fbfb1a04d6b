"""seq_max against token and no normalisation at B=1, N=8192 (D=128, bf16, causal): timings,
per-kernel tables and Chrome traces of two forward+backward steps each."""

import sys

import torch
from torch.profiler import ProfilerActivity, profile

from fastmax import fastmax_attention

out_dir, B, H, N, D = sys.argv[1], 1, 16, int(sys.argv[2]) if len(sys.argv) > 2 else 8192, 128
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, grad = (
    torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(4)
)
q, k, v = (t.requires_grad_() for t in (q, k, v))
for normalize in ("token", "seq_max", None):

    def fwd(normalize=normalize):
        return fastmax_attention(q, k, v, causal=True, normalize=normalize)

    def step():
        torch.autograd.grad(fwd(), (q, k, v), grad)

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            step()
        torch.cuda.synchronize()
    prof.export_chrome_trace(f"{out_dir}/trace-b1-{normalize}.json")
    with open(f"{out_dir}/kernels-b1-{normalize}.txt", "w") as f:
        f.write(prof.key_averages().table(sort_by="cuda_time_total", row_limit=40))
    for name, fn in (("fwd", fwd), ("fwd+bwd", step)):
        e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        for _ in range(20):
            e[0].record()
            fn()
            e[1].record()
            torch.cuda.synchronize()
            times.append(e[0].elapsed_time(e[1]))
        print(normalize, name, "median ms", sorted(times)[10], flush=True)
