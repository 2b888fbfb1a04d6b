"""Kernel time of one Pythia-1.4B training step, by kernel name, per attention kind.

python3 prof_train.py OUT_DIR KINDS CONTEXT...: for each context and each attention kind in
KINDS (comma-separated: none,fastmax,softmax) builds the bench-train case, runs three warm-up
steps, profiles one step (CUDA activities) and writes OUT_DIR/prof-<kind>-<context>.csv
(kernel name, calls, total device microseconds) and OUT_DIR/prof-summary.csv (step time by
CUDA events under the profiler, and the kernels' total).
"""

import csv
import sys
from collections import defaultdict
from pathlib import Path

import torch
from litgpt.utils import chunked_cross_entropy
from torch.profiler import ProfilerActivity, profile

from fastmax.bench.training import case_config
from fastmax.model import GPT


def profile_case(attention: str, context: int, out: Path) -> tuple[float, float]:
    """Profile one training step; write its kernel table; return (step ms, kernel ms)."""
    cfg = case_config("pythia-1.4b", attention, context, {})
    tokens = torch.randint(0, cfg.vocab_size, (1, context + 1), device="cuda")
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = GPT(cfg)
    model = model.to(dtype=torch.bfloat16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def step() -> None:
        loss = chunked_cross_entropy(model(inputs), targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
    kernels = defaultdict(lambda: [0, 0.0])
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            k = kernels[e.name[:150]]
            k[0] += 1
            k[1] += e.device_time
    with open(out / f"prof-{attention}-{context}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kernel", "calls", "device_us"])
        for name, (calls, us) in sorted(kernels.items(), key=lambda kv: -kv[1][1]):
            w.writerow([name, calls, round(us, 1)])
    return start.elapsed_time(end), sum(v[1] for v in kernels.values()) / 1e3


def main() -> None:
    out = Path(sys.argv[1])
    summary = []
    for context in [int(c) for c in sys.argv[3:]]:
        for attention in sys.argv[2].split(","):
            step_ms, kernel_ms = profile_case(attention, context, out)
            summary.append((attention, context, round(step_ms, 2), round(kernel_ms, 2)))
            print(*summary[-1], flush=True)
            torch.cuda.empty_cache()
    with open(out / "prof-summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["attention", "context", "step_ms", "kernel_ms"])
        w.writerows(summary)


if __name__ == "__main__":
    main()
