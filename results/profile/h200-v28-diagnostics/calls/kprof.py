"""Per-kernel CUDA time of one float32 forward+backward at the default precision (causal,
token normalisation, B=4, H=16, N=65536, head_dim 64), from torch.profiler over 5 runs after
3 warm-ups: label,kernel,calls_per_run,ms_per_run appended to a CSV, the table printed.
With CUDA_LAUNCH_BLOCKING=1 the side streams run one kernel at a time, so each kernel's time
is its time alone."""

import sys
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

import fastmax

label, csv_path = sys.argv[1], sys.argv[2]
runs = 5
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, dy = (torch.randn(4, 16, 65536, 64, device="cuda", generator=g) for _ in range(4))
leaves = [t.clone().requires_grad_() for t in (q, k, v)]


def fwd_bwd():
    out = fastmax.fastmax_attention(*leaves, causal=True, backend="cuda")
    torch.autograd.grad(out, leaves, dy)


for _ in range(3):
    fwd_bwd()
torch.cuda.synchronize()
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    for _ in range(runs):
        fwd_bwd()
    torch.cuda.synchronize()
total, count = defaultdict(float), defaultdict(int)
for e in prof.events():
    if e.device_type == torch.autograd.DeviceType.CUDA:
        name = e.name.split("(")[0][:90].replace(",", ";")
        total[name] += e.device_time / 1000.0
        count[name] += 1
rows = sorted(total, key=total.get, reverse=True)
with open(csv_path, "a") as f:
    for name in rows:
        f.write(f"{label},{name},{count[name] / runs:g},{total[name] / runs:.4f}\n")
print(label, f"sum {sum(total.values()) / runs:.3f} ms per run")
for name in rows[:14]:
    print(f"  {total[name] / runs:8.3f} ms  x{count[name] / runs:g}  {name}")
