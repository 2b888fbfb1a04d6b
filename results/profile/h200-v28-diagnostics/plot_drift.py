"""Figure drift.png: relative errors of out and dq against the float64 formula against N
(float32 at the default precision, causal, head_dim 64, B=1, H=4), from call2/errn.txt
(98c2835 unsplit and split, the DQ diff before the fix) and call4/errn.txt (the fix, and the
fix with DQ on the wgmma kernel). Run from this folder."""

import re
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SERIES = {
    ("call2", "base-split"): "98c2835 split (mma.sync)",
    ("call2", "base-unsplit"): "98c2835 unsplit (wgmma forward)",
    ("call2", "dq-unsplit"): "DQ on wgmma, before the fix",
    ("call4", "fix2"): "fix (95aa50a)",
    ("call4", "fix2dq"): "fix + DQ on wgmma (b44bc17)",
}
STYLES = ("o-", "s--", "^-", "v:", "x-.")  # overlapping series stay visible
here = Path(__file__).parent
errors: dict = defaultdict(dict)
for call in ("call2", "call4"):
    for line in (here / call / "errn.txt").read_text().splitlines():
        fields = line.split()
        if len(fields) < 3 or (call, fields[0]) not in SERIES or "tf32" in line:
            continue
        n = int(fields[-5])
        for name, value in re.findall(r"(\w+)=([0-9.e+-]+)", line):
            errors[(call, fields[0], name)][n] = float(value)
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, name in zip(axes, ("out", "dq"), strict=True):
    for (key, label), style in zip(SERIES.items(), STYLES, strict=True):
        points = errors.get((*key, name))
        if points:
            ns = sorted(points)
            ax.plot(ns, [points[n] for n in ns], style, label=label, markersize=7, alpha=0.8)
    ax.axhline(1e-5, color="red", linestyle=":", label="float32 tolerance")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length N")
    ax.set_title(f"{name}: relative error against float64")
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=7)
fig.suptitle("NVIDIA H200, float32 default precision, causal, head_dim 64")
fig.tight_layout()
fig.savefig(here / "drift.png", dpi=120)
