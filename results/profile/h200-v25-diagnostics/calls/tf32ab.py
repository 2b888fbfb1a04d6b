"""One float32 causal forward with TF32 allowed (B=4, H=16, N=65536, token) at head_dim 128 and
64: median of 15 (CUDA events, after 3), appended to a CSV as label,D,round,median_ms."""

import sys

import torch

import fastmax

label, rnd, csv_path = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_float32_matmul_precision("high")
rows = []
for d in (128, 64):
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(4, 16, 65536, d, device="cuda", generator=g) for _ in range(3))
    with torch.no_grad():
        for _ in range(3):
            fastmax.fastmax_attention(q, k, v, causal=True, backend="cuda")
        torch.cuda.synchronize()
        times = []
        for _ in range(15):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fastmax.fastmax_attention(q, k, v, causal=True, backend="cuda")
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
    rows.append(f"{label},{d},{rnd},{sorted(times)[7]:.4f}")
    del q, k, v
with open(csv_path, "a") as f:
    f.write("\n".join(rows) + "\n")
print(" ".join(rows))
