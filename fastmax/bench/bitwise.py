"""``fastmax bitwise``: the op's outputs and gradients saved under one build, compared bit for bit.

A kernel change meant to keep every rounding (another register budget, loop order or launch
bound) is checked by running ``fastmax bitwise save --out A.pt`` under the old build and
``--out B.pt`` under the new one, then ``fastmax bitwise compare A.pt B.pt``: one line per case
and tensor (out, dq, dk, dv), bitwise equal or not and the largest difference; the exit status
is 1 when any tensor differs. Inputs are seeded per case, so both runs see the same q, k, v and
output gradient.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

TENSORS = ("out", "dq", "dk", "dv")
_BITS = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


@dataclass(frozen=True)
class BitwiseCase:
    """One call of the op: shapes (``kv_heads`` < ``heads`` is grouped-query), dtype, causal."""

    batch: int
    heads: int
    kv_heads: int
    n: int
    head_dim: int
    dtype: str
    causal: bool

    def label(self) -> str:
        """A stable name, the key of the case in a saved file."""
        mask = "causal" if self.causal else "noncausal"
        return (
            f"B{self.batch}-H{self.heads}-Hkv{self.kv_heads}-N{self.n}-D{self.head_dim}"
            f"-{self.dtype}-{mask}"
        )


# Split and unsplit passes, grouped-query heads, a partial last chunk, head_dim 64 to 256.
GPU_CASES = (
    BitwiseCase(1, 16, 16, 8192 + 37, 128, "bfloat16", True),
    BitwiseCase(1, 16, 16, 8192 + 37, 128, "bfloat16", False),
    BitwiseCase(4, 16, 16, 4096, 128, "bfloat16", True),
    BitwiseCase(2, 4, 4, 1000, 64, "bfloat16", True),
    BitwiseCase(2, 8, 2, 3000, 128, "bfloat16", True),
    BitwiseCase(1, 4, 4, 3000, 128, "float32", True),
    BitwiseCase(1, 4, 4, 3000, 64, "float32", False),
    BitwiseCase(1, 2, 2, 700, 256, "bfloat16", True),
    BitwiseCase(1, 16, 16, 8192 + 37, 128, "float32", True),
    BitwiseCase(1, 2, 2, 700, 256, "float32", True),
)
# Seconds on a CPU (the PyTorch path): for checking the tool itself.
SMALL_CASES = (
    BitwiseCase(1, 2, 2, 100, 32, "float32", True),
    BitwiseCase(2, 4, 2, 70, 64, "bfloat16", False),
)
CASE_SETS = {"gpu": GPU_CASES, "small": SMALL_CASES}


def _inputs(case: BitwiseCase, seed: int, device: str) -> list[torch.Tensor]:
    """q, k, v (requiring gradients) and the output gradient of a case, from its own seed."""
    gen = torch.Generator(device=device).manual_seed(seed)
    dtype = getattr(torch, case.dtype)
    heads = (case.heads, case.kv_heads, case.kv_heads, case.heads)
    return [
        torch.randn(
            (case.batch, h, case.n, case.head_dim), device=device, dtype=dtype, generator=gen
        ).requires_grad_(i < 3)
        for i, h in enumerate(heads)
    ]


def snapshot(
    cases: tuple[BitwiseCase, ...], device: str, backend: str = "auto"
) -> dict[str, dict[str, torch.Tensor]]:
    """Outputs and gradients of the op (token normalisation) per case, copied to the CPU."""
    import fastmax

    result: dict[str, dict[str, torch.Tensor]] = {}
    for seed, case in enumerate(cases):
        q, k, v, grad_out = _inputs(case, seed, device)
        out = fastmax.fastmax_attention(q, k, v, causal=case.causal, backend=backend)
        grads = torch.autograd.grad(out, (q, k, v), grad_out)
        result[case.label()] = {
            name: t.detach().cpu() for name, t in zip(TENSORS, (out, *grads), strict=True)
        }
    return result


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's raw bits as integers of its element size (NaN payloads compare too)."""
    return t.contiguous().view(_BITS[t.element_size()])


def compare(
    first: dict[str, dict[str, torch.Tensor]], second: dict[str, dict[str, torch.Tensor]]
) -> list[dict[str, Any]]:
    """One row per case and tensor: shape, dtype, bitwise equality, largest absolute difference."""
    if first.keys() != second.keys():
        only = sorted(first.keys() ^ second.keys())
        raise ValueError(f"the two snapshots hold different cases: {', '.join(only)}")
    rows = []
    for case, tensors in first.items():
        for name in TENSORS:
            a, b = tensors[name], second[case][name]
            if a.shape != b.shape or a.dtype != b.dtype:
                raise ValueError(
                    f"{case} {name}: shape/dtype {tuple(a.shape)} {a.dtype} against "
                    f"{tuple(b.shape)} {b.dtype}"
                )
            diff = (a.double() - b.double()).abs()
            rows.append(
                {
                    "case": case,
                    "tensor": name,
                    "shape": "x".join(map(str, a.shape)),
                    "dtype": str(a.dtype).removeprefix("torch."),
                    "bitwise": bool(torch.equal(_bits(a), _bits(b))),
                    "max_abs_diff": float(diff.nan_to_num(nan=float("inf")).max()),
                }
            )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``save`` and ``compare`` sub-commands."""
    sub = parser.add_subparsers(dest="action", required=True)
    save = sub.add_parser("save", help="run the op on fixed cases and save out, dq, dk, dv")
    save.add_argument("--out", type=Path, required=True, help="file to write (.pt)")
    save.add_argument("--cases", choices=sorted(CASE_SETS), default="gpu", help="case set")
    save.add_argument("--device", default="cuda", help="torch device (default: cuda)")
    save.add_argument(
        "--backend", default="auto", help="fastmax_attention backend (auto, cuda, torch)"
    )
    comp = sub.add_parser("compare", help="compare two saved files bit for bit")
    comp.add_argument("first", type=Path)
    comp.add_argument("second", type=Path)
    comp.add_argument("--csv", type=Path, help="also write the rows to this CSV")


def run(args: argparse.Namespace) -> int:
    """Save a snapshot, or compare two and return 1 when any tensor differs."""
    if args.action == "save":
        if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {args.device}: no CUDA device here (try --device cpu)")
        cases = CASE_SETS[args.cases]
        data = {
            "cases": [asdict(c) for c in cases],
            "tensors": snapshot(cases, args.device, args.backend),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(data, args.out)
        print(f"fastmax bitwise: {len(cases)} cases saved to {args.out}")
        return 0
    for path in (args.first, args.second):
        if not path.is_file():
            raise ValueError(f"{path}: no such snapshot (write one with `fastmax bitwise save`)")
    rows = compare(torch.load(args.first)["tensors"], torch.load(args.second)["tensors"])
    for row in rows:
        print(
            f"{row['case']} {row['tensor']:3s} {row['shape']} {row['dtype']} "
            f"bitwise={row['bitwise']} max_abs_diff={row['max_abs_diff']:.3g}"
        )
    if args.csv is not None:
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    equal = sum(row["bitwise"] for row in rows)
    print(f"fastmax bitwise: {equal} of {len(rows)} tensors bitwise equal")
    return 0 if equal == len(rows) else 1
