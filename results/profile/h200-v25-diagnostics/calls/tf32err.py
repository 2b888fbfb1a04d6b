"""The TF32 forward's errors against the float64 formula (fastmax.correctness.run_case) at
head_dim 64 and 128, a few shapes, one line each."""

import torch

from fastmax.correctness import Case, run_case

torch.set_float32_matmul_precision("high")
for d in (64, 128):
    for n, h in ((200, (4, 2)), (700, (3, 3)), (2085, (2, 1))):
        r = run_case(Case("cuda", "float32", True, d, n, *h, a1=0.7), "cuda")
        print(d, n, h, " ".join(f"{k}={r[k]:.2e}" for k in ("out", "dq", "dk", "dv")), r["passed"])
