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
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from fastmax.bench.op_args import add_device_arguments, require_device
from fastmax.correctness import Case, case_options, draw_inputs
from fastmax.ops import fastmax_attention

TENSORS = ("out", "dq", "dk", "dv")
_BITS = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def label(case: Case) -> str:
    """A stable name of a case (its backend aside, so saves under two backends compare)."""
    mask = "causal" if case.causal else "noncausal"
    return (
        f"B{case.batch}-H{case.heads}-Hkv{case.kv_heads}-N{case.n}-D{case.head_dim}"
        f"-{case.dtype}-{mask}"
    )


# Correctness-matrix cases (token normalisation) with the backend "auto": split and unsplit
# passes, grouped-query heads, a partial last chunk, head_dim 64 to 256, float32's causal forward
# at head_dim 64 on wgmma (three products at the default precision; 128 blocks, so unsplit).
GPU_CASES = tuple(
    Case("auto", dtype, causal, d, n, h, hkv, batch)
    for batch, h, hkv, n, d, dtype, causal in (
        (1, 16, 16, 8192 + 37, 128, "bfloat16", True),
        (1, 16, 16, 8192 + 37, 128, "bfloat16", False),
        (4, 16, 16, 4096, 128, "bfloat16", True),
        (2, 4, 4, 1000, 64, "bfloat16", True),
        (2, 8, 2, 3000, 128, "bfloat16", True),
        (1, 4, 4, 3000, 128, "float32", True),
        (1, 4, 4, 3000, 64, "float32", False),
        (4, 16, 4, 3000, 64, "float32", True),
        (1, 2, 2, 700, 256, "bfloat16", True),
        (1, 16, 16, 8192 + 37, 128, "float32", True),
        (1, 2, 2, 700, 256, "float32", True),
    )
)
# Seconds on a CPU (the PyTorch path): for checking the tool itself.
SMALL_CASES = (
    Case("auto", "float32", True, 32, 100, 2, 2, batch=1),
    Case("auto", "bfloat16", False, 64, 70, 4, 2, batch=2),
)
CASE_SETS = {"gpu": GPU_CASES, "small": SMALL_CASES}


def snapshot(cases: tuple[Case, ...], device: str) -> dict[str, dict[str, torch.Tensor]]:
    """Outputs and gradients of the op per case (inputs as ``fastmax check`` draws them, the
    case's index as the seed), copied to the CPU."""
    result: dict[str, dict[str, torch.Tensor]] = {}
    for seed, case in enumerate(cases):
        q, k, v, grad_out = draw_inputs(case, device, seed)
        q, k, v = (t.requires_grad_() for t in (q, k, v))
        out = fastmax_attention(q, k, v, backend=case.backend, **case_options(case))
        grads = torch.autograd.grad(out, (q, k, v), grad_out)
        result[label(case)] = {
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
    add_device_arguments(save)
    comp = sub.add_parser("compare", help="compare two saved files bit for bit")
    comp.add_argument("first", type=Path)
    comp.add_argument("second", type=Path)
    comp.add_argument("--csv", type=Path, help="also write the rows to this CSV")


def run(args: argparse.Namespace) -> int:
    """Save a snapshot, or compare two and return 1 when any tensor differs."""
    if args.action == "save":
        require_device(args.device)
        cases = tuple(replace(case, backend=args.backend) for case in CASE_SETS[args.cases])
        data = {"cases": [asdict(c) for c in cases], "tensors": snapshot(cases, args.device)}
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
