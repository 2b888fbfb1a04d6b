"""Where one fastmax_cuda forward+backward peaks: the live blocks at the peak, with their frames.

python memsnap.py OUTDIR dtype D N causal  (B=4, H=16, token normalisation)
"""

import gc
import json
import sys

import torch

from fastmax.bench.methods import build_methods

out, dtype, D, N, causal = (
    sys.argv[1],
    getattr(torch, sys.argv[2]),
    int(sys.argv[3]),
    int(sys.argv[4]),
    sys.argv[5] == "1",
)
dev = torch.device("cuda")
g = torch.Generator(device=dev).manual_seed(0)
q, k, v = (torch.randn(4, 16, N, D, device=dev, dtype=dtype, generator=g) for _ in range(3))
method = build_methods(("fastmax_cuda",))[0]
run = method.make(q, k, v, causal=causal, backward=True)
for _ in range(2):
    run()
gc.collect()
torch.cuda.synchronize()
base = torch.cuda.memory_allocated()
torch.cuda.reset_peak_memory_stats()
torch.cuda.memory._record_memory_history(max_entries=100000, stacks="python")
r = run()
torch.cuda.synchronize()
peak = torch.cuda.max_memory_allocated() - base
snap = torch.cuda.memory._snapshot()
torch.cuda.memory._record_memory_history(enabled=None)
del r
tensor = q.numel() * q.element_size()
live, cur, best, at_peak = {}, 0, -1, None
events = [e for trace in snap["device_traces"] for e in trace]
for e in events:
    if e["action"] == "alloc":
        live[e["addr"]] = e
        cur += e["size"]
    elif e["action"] in ("free_requested", "free_completed"):
        f = live.pop(e["addr"], None)
        if f is not None:
            cur -= f["size"]
    if cur > best:
        best, at_peak = cur, dict(live)
rows = []
for e in sorted(at_peak.values(), key=lambda e: -e["size"]):
    frames = [
        f"{f['filename'].split('/')[-1]}:{f['line']}:{f['name']}" for f in e.get("frames", [])[:6]
    ]
    rows.append({"size": e["size"], "q_sized": round(e["size"] / tensor, 4), "frames": frames})
summary = {
    "dtype": sys.argv[2],
    "D": D,
    "N": N,
    "causal": causal,
    "tensor_bytes": tensor,
    "peak_above_inputs": peak,
    "peak_q_sized": peak / tensor,
    "ratio": (4 * tensor + peak) / (8 * tensor),
    "traced_peak": best,
    "live_at_peak": rows,
}
name = f"{out}/mem-{sys.argv[2]}-d{D}-n{N}-{'causal' if causal else 'full'}.json"
with open(name, "w") as fh:
    json.dump(summary, fh, indent=1)
print(name, f"peak {peak / tensor:.4f} q-sized, ratio {summary['ratio']:.4f}")
for row in rows[:12]:
    print(f"  {row['q_sized']:.4f}  {' < '.join(row['frames'][:4])}")
