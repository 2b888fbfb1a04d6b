"""float32 causal, token normalisation, B=4, H=16, N=65536, head_dim 64: one forward+backward at
the default precision and with TF32 allowed, median of 15 (CUDA events, after 3), appended to a
CSV as label,precision,round,median_ms."""

import sys

import torch

import fastmax

label, rnd, csv_path = sys.argv[1], sys.argv[2], sys.argv[3]
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, dy = (torch.randn(4, 16, 65536, 64, device="cuda", generator=g) for _ in range(4))
leaves = [t.clone().requires_grad_() for t in (q, k, v)]


def fwd_bwd():
    out = fastmax.fastmax_attention(*leaves, causal=True, backend="cuda")
    torch.autograd.grad(out, leaves, dy)


rows = []
for precision in ("highest", "high"):
    torch.set_float32_matmul_precision(precision)
    for _ in range(3):
        fwd_bwd()
    torch.cuda.synchronize()
    times = []
    for _ in range(15):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fwd_bwd()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    rows.append(f"{label},{precision},{rnd},{sorted(times)[7]:.4f}")
with open(csv_path, "a") as f:
    f.write("\n".join(rows) + "\n")
print(" ".join(rows))
