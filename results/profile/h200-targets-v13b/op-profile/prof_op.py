"""Kernel time by kernel name for one Fastmax call at a given shape (torch.profiler)."""

import csv
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from fastmax import fastmax_attention

out, B, H, N, D = sys.argv[1], 4, 16, int(sys.argv[2]), int(sys.argv[3])
g = torch.Generator(device="cuda").manual_seed(0)
rows = []
for causal in (True, False):
    for pas in ("fwd", "fwd_bwd"):
        q, k, v = (
            torch.randn(
                B,
                H,
                N,
                D,
                device="cuda",
                dtype=torch.bfloat16,
                generator=g,
                requires_grad=pas == "fwd_bwd",
            )
            for _ in range(3)
        )
        dout = torch.randn_like(q)

        def step(q=q, k=k, v=v, causal=causal, backward=pas == "fwd_bwd", dout=dout):
            o = fastmax_attention(q, k, v, causal=causal)
            if backward:
                o.backward(dout)

        for _ in range(3):
            step()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                step()
            torch.cuda.synchronize()
        for e in prof.key_averages():
            if e.device_time_total > 0:
                rows.append(
                    {
                        "causal": causal,
                        "pass": pas,
                        "kernel": e.key[:120],
                        "calls_per_step": e.count / 5,
                        "us_per_step": e.device_time_total / 5,
                    }
                )
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
for r in rows:
    us, calls = r["us_per_step"], r["calls_per_step"]
    print(f"{r['causal']!s:5} {r['pass']:8} {us:9.1f} us {calls:4.1f}x {r['kernel'][:90]}")
