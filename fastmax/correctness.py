"""Correctness of every backend against the float64 formula, outputs and all three gradients.

``fastmax check --out DIR`` runs the matrix backends x dtype x causal x head_dim x N x GQA (and
a smaller one with ``normalize="seq_max"``) and writes ``DIR/correctness.json`` (every relative
error, the tolerances and the environment) and ``DIR/correctness.csv`` (one row per case). The
same :func:`run_case` serves the test suite.

Relative error is ``||x - ref|| / ||ref||`` against :func:`fastmax.reference_attention` on the
same (already rounded) inputs upcast to float64; gradients come from autograd through the
reference. A gradient that vanishes analytically (N = 1: the output is v_0 whatever q and k are)
is measured against ||dO|| instead of its own zero norm. NaN or Inf never passes. On CUDA the
outputs land in memory just filled with NaN, so an element the kernels forgot to write shows up.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch

from fastmax.environ import float32_matmul_precision
from fastmax.ops import _cuda, fastmax_attention, reference_attention

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# DESIGN.md section 7: float32 <= 1e-5 (5e-4 when TF32 is allowed), half precision <= 1e-2.
TOLERANCE = {"float64": 1e-10, "float32": 1e-5, "bfloat16": 1e-2, "float16": 1e-2}
TF32_TOLERANCE = 5e-4
FULL_N = (1, 7, 64, 1000, 4096)
QUICK_N = (1, 7, 64, 200)
SEQ_MAX_N = (7, 200)  # normalize="seq_max" cases, at head_dim 64
HEADS = ((4, 4), (6, 2))  # (query heads, key/value heads): plain and grouped (3 per group)


@dataclasses.dataclass(frozen=True)
class Case:
    """One configuration of the correctness matrix."""

    backend: str
    dtype: str
    causal: bool
    head_dim: int
    n: int
    heads: int
    kv_heads: int
    batch: int = 2
    normalize: str | None = "token"
    p: int = 1
    a0: float = 1.0
    a1: float = 1.0


def relative_error(x: torch.Tensor, ref: torch.Tensor, scale: torch.Tensor | None = None) -> float:
    """``||x - ref|| / ||ref||`` in float64; NaN when x holds a NaN or Inf.

    When ``ref`` is zero up to float64 rounding of ``scale`` (a tensor of the natural size, such
    as the incoming gradient), the error is relative to ``||scale||``.
    """
    x64 = x.detach().to(torch.float64)
    if not torch.isfinite(x64).all():
        return math.nan
    ref64 = ref.detach().to(torch.float64)
    norm = ref64.norm()
    if scale is not None:
        natural = scale.detach().to(torch.float64).norm()
        if norm < 1e-9 * natural:
            norm = natural
    return ((x64 - ref64).norm() / norm.clamp_min(1e-300)).item()


def tolerance(dtype: str) -> float:
    """Relative error allowed for a dtype (float32 honours the TF32 setting)."""
    if dtype == "float32" and torch.get_float32_matmul_precision() != "highest":
        return TF32_TOLERANCE
    return TOLERANCE[dtype]


def _poison(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
    """Leave NaN in the allocator's free blocks of this size so unwritten outputs show up."""
    if device.type == "cuda":
        torch.full(shape, math.nan, dtype=dtype, device=device)


def draw_inputs(
    case: Case, device: str | torch.device, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v and the output gradient of a case: float64 normal draws on the CPU from ``seed``,
    rounded to the case's dtype on ``device`` (the same values whatever the device)."""
    dtype = DTYPES.get(case.dtype, torch.float64)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    b, h, hkv, n, d = case.batch, case.heads, case.kv_heads, case.n, case.head_dim

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(device, dtype)

    return draw(b, h, n, d), draw(b, hkv, n, d), draw(b, hkv, n, d), draw(b, h, n, d)


def case_options(case: Case) -> dict[str, Any]:
    """The ``fastmax_attention`` options of a case (its backend aside)."""
    return dict(causal=case.causal, normalize=case.normalize, p=case.p, a0=case.a0, a1=case.a1)


def run_case(case: Case, device: str | torch.device, seed: int = 0) -> dict[str, Any]:
    """Errors of outputs and gradients for one case, with pass/fail against the tolerance."""
    device = torch.device(device)
    dtype = DTYPES.get(case.dtype, torch.float64)
    b, h, hkv, n, d = case.batch, case.heads, case.kv_heads, case.n, case.head_dim
    q, k, v, grad = draw_inputs(case, device, seed)
    options = case_options(case)

    leaves = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    _poison((b, h, n, d), dtype, device)
    out = fastmax_attention(*leaves, backend=case.backend, **options)
    _poison((b, hkv, n, d), dtype, device)
    out.backward(grad)

    ref_leaves = [t.detach().to(torch.float64).requires_grad_() for t in (q, k, v)]
    ref = reference_attention(*ref_leaves, **options)
    ref.backward(grad.to(torch.float64))

    errors = {"out": relative_error(out, ref)}
    for name, mine, theirs in zip(("dq", "dk", "dv"), leaves, ref_leaves, strict=True):
        errors[name] = relative_error(mine.grad, theirs.grad, scale=grad)
    limit = tolerance(case.dtype)
    passed = all(not math.isnan(e) and e <= limit for e in errors.values())
    return {**dataclasses.asdict(case), **errors, "tolerance": limit, "passed": passed}


def matrix(backends: list[str], quick: bool, dtypes: tuple[str, ...] = tuple(DTYPES)) -> list[Case]:
    """The cases of the correctness matrix."""
    dims = (32, 64) if quick else (32, 64, 128, 256)
    ns = QUICK_N if quick else FULL_N
    token = [
        Case(backend, dtype, causal, d, n, h, hkv)
        for backend, dtype, causal, d, n, (h, hkv) in itertools.product(
            backends, dtypes, (True, False), dims, ns, HEADS
        )
    ]
    seq_max = [
        Case(backend, dtype, causal, 64, n, h, hkv, normalize="seq_max")
        for backend, dtype, causal, n, (h, hkv) in itertools.product(
            backends, dtypes, (True, False), SEQ_MAX_N, HEADS
        )
    ]
    return token + seq_max


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fastmax check``."""
    parser.add_argument("--out", required=True, type=Path, help="folder for correctness.json/.csv")
    parser.add_argument("--quick", action="store_true", help="small head dims and N only")
    parser.add_argument(
        "--backends",
        default="auto",
        help="comma-separated backends, or 'auto': torch, plus cuda when it is available",
    )
    parser.add_argument(
        "--device", default=None, help="device (default: cuda if present, else cpu)"
    )
    parser.add_argument(
        "--dtypes", default=",".join(DTYPES), help=f"comma-separated, from {', '.join(DTYPES)}"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--float32-precision",
        choices=("highest", "high"),
        default=None,
        help="torch.set_float32_matmul_precision for the run: 'high' allows TF32 (the CUDA op's "
        "TF32 forward, float32 limit 5e-4); default: the current setting",
    )


def run(args: argparse.Namespace) -> int:
    """Run the matrix, write the results, and return 1 when any case failed."""
    from tqdm import tqdm

    from fastmax.provenance import environment, write_json

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.backends == "auto":
        backends = ["torch"] + (
            ["cuda"] if device.type == "cuda" and _cuda.extension_loaded() else []
        )
    else:
        backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(backends) - {"torch", "cuda"})
    if unknown:
        raise ValueError(f"--backends: unknown backend(s) {unknown}; choose from torch, cuda")
    dtypes = tuple(name.strip() for name in args.dtypes.split(",") if name.strip())
    if not dtypes or set(dtypes) - set(DTYPES):
        raise ValueError(f"--dtypes: choose from {', '.join(DTYPES)}, got {args.dtypes!r}")
    cases = matrix(backends, args.quick, dtypes)
    precision = args.float32_precision or torch.get_float32_matmul_precision()
    with float32_matmul_precision(precision):
        rows = [
            run_case(case, device, seed=args.seed + index)
            for index, case in enumerate(
                tqdm(cases, desc="correctness", unit="case", file=sys.stderr)
            )
        ]
    failed = [row for row in rows if not row["passed"]]

    args.out.mkdir(parents=True, exist_ok=True)
    write_json(
        args.out / "correctness.json",
        {
            "environment": environment(),
            "device": str(device),
            "float32_matmul_precision": precision,
            "extension": {"loaded": _cuda.extension_loaded(), "error": _cuda.extension_error()},
            "cases": rows,
            "failed": len(failed),
            "passed": len(rows) - len(failed),
        },
    )
    tmp = args.out / "correctness.csv.tmp"
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, args.out / "correctness.csv")

    worst, limits = {}, {}
    for row in rows:
        key = (row["backend"], row["dtype"])
        worst[key] = max(worst.get(key, 0.0), *(row[k] for k in ("out", "dq", "dk", "dv")))
        limits[key] = row["tolerance"]
    for (backend, dtype), err in sorted(worst.items()):
        limit = limits[(backend, dtype)]
        print(f"{backend:6s} {dtype:9s} worst relative error {err:.2e} (limit {limit:.0e})")
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
