"""float32 with TF32 allowed, causal, token normalisation, B=4, H=16: one forward without
autograd at head_dim 64 and 128, N = 8192 and 65536, median of 15 (CUDA events, after 3),
appended to a CSV as label,D,N,round,median_ms."""

import sys

import torch

import fastmax

label, rnd, csv_path = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_float32_matmul_precision("high")
rows = []
for d in (64, 128):
    for n in (8192, 65536):
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(4, 16, n, d, device="cuda", generator=g) for _ in range(3))
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
        rows.append(f"{label},{d},{n},{rnd},{sorted(times)[7]:.4f}")
        del q, k, v
with open(csv_path, "a") as f:
    f.write("\n".join(rows) + "\n")
print(" ".join(rows))
