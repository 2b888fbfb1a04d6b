"""float32 at the default precision, causal, token, B=4, H=16, N=65536, head_dim 64: one forward
without autograd and one forward+backward, median of 15 (CUDA events, after 3), appended to a
CSV as label,pass,round,median_ms."""

import sys

import torch

import fastmax

label, rnd, csv_path = sys.argv[1], sys.argv[2], sys.argv[3]
assert torch.get_float32_matmul_precision() == "highest"
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, dy = (torch.randn(4, 16, 65536, 64, device="cuda", generator=g) for _ in range(4))
leaves = [t.clone().requires_grad_() for t in (q, k, v)]


def fwd():
    with torch.no_grad():
        fastmax.fastmax_attention(q, k, v, causal=True, backend="cuda")


def fwd_bwd():
    out = fastmax.fastmax_attention(*leaves, causal=True, backend="cuda")
    torch.autograd.grad(out, leaves, dy)


rows = []
for name, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(15):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    rows.append(f"{label},{name},{rnd},{sorted(times)[7]:.4f}")
with open(csv_path, "a") as f:
    f.write("\n".join(rows) + "\n")
print(" ".join(rows))
