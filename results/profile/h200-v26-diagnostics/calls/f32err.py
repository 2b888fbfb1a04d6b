"""float32 at the default precision against the float64 formula (fastmax.correctness.run_case),
causal, head_dim 64 (the wgmma forward with three products) and 128 (mma.sync), one line each."""

from fastmax.correctness import Case, run_case

for d in (64, 128):
    for n, h in ((200, (4, 2)), (700, (3, 3)), (2085, (2, 1))):
        for norm in ("token", "seq_max"):
            r = run_case(Case("cuda", "float32", True, d, n, *h, normalize=norm, a1=0.7), "cuda")
            errs = " ".join(f"{k}={r[k]:.2e}" for k in ("out", "dq", "dk", "dv"))
            print(d, n, h, norm, errs, r["passed"])
