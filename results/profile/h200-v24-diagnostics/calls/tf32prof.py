"""Kernel table of one float32 causal forward (B=4, H=16, N=65536, D=128, token) with TF32
allowed, and the forward's median time (CUDA events, 10 after 3)."""

import sys

import torch

import fastmax

torch.set_float32_matmul_precision("high")
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v = (torch.randn(4, 16, 65536, 128, device="cuda", generator=g) for _ in range(3))
run = lambda: fastmax.fastmax_attention(q, k, v, causal=True, backend="cuda")  # noqa: E731
with torch.no_grad():
    for _ in range(3):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        run()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
print("forward median ms", sorted(times)[5])
print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=12, max_name_column_width=70))
sys.stdout.flush()
