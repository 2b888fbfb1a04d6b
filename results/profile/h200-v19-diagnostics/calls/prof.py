"""Kernel times and a Chrome trace of one forward+backward (bf16, D=128, causal).

Arguments: output folder, B, N, normalize."""

import csv
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from fastmax import fastmax_attention

out, B, N, NORM = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
H, D = 16, 128
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, grad = (
    torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(4)
)
q, k, v = (t.requires_grad_() for t in (q, k, v))


def step():
    torch.autograd.grad(fastmax_attention(q, k, v, causal=True, normalize=NORM), (q, k, v), grad)


for _ in range(5):
    step()
torch.cuda.synchronize()
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
times = []
for _ in range(20):
    start.record()
    step()
    end.record()
    torch.cuda.synchronize()
    times.append(start.elapsed_time(end))
print(f"{NORM} B={B} N={N} median {sorted(times)[10]:.4f} ms")
with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
    step()
    torch.cuda.synchronize()
prof.export_chrome_trace(f"{out}/trace-{NORM}-B{B}-N{N}.json")
rows = {}
for e in prof.events():
    if e.device_type == torch.autograd.DeviceType.CUDA:
        r = rows.setdefault(e.name[:90], [0, 0.0])
        r[0] += 1
        r[1] += e.device_time / 1000
with open(f"{out}/kernels-{NORM}-B{B}-N{N}.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["kernel", "calls", "ms"])
    for name, (n, ms) in sorted(rows.items(), key=lambda x: -x[1][1]):
        w.writerow([name, n, f"{ms:.4f}"])
        print(f"{ms:8.4f} {n:3d} {name[:80]}")
