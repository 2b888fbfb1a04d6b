"""``fastmax ab-time``: the op's time and peak memory at a few shapes, for comparing two builds.

Two builds of the kernels compare on one GPU by alternating them for a few rounds, each run
appending its rows under its own label to one CSV::

    fastmax ab-time run --label v8 --csv ab.csv      # under the first build
    fastmax ab-time run --label v9 --csv ab.csv      # under the second; repeat both
    fastmax ab-time table ab.csv --base v8

A row holds the label, dtype, shape, normalisation (``--normalize``) and float32 matmul
precision (``--float32-precision``, float32 only; default: the process's setting), the median
forward and forward+backward times (CUDA events, 20 timed calls after 3, no cache flush) and the
peak memory of one forward+backward above its inputs and output gradient (``peak_extra_mib``).
``table`` prints, per shape, precision and label, the median over the rounds and its ratio to the
base label's. The ``ab-*.csv`` files of ``results/profile/h200-v*-diagnostics/`` have these
columns but ``float32_precision``, read as "highest" (v32's ``ab-tf32.csv`` too, though a wrapper
around ``run`` allowed TF32 there), and before v16 ``normalize``, read as "token".

Where the CUDA op runs, ``run`` also records which compiled build each label timed (a digest of
the loaded extension) in ``<csv>.builds.json`` and refuses a label whose build is another
label's: ``python -m`` puts the working directory ahead of ``PYTHONPATH``, so a base build run
from the candidate's directory silently times the candidate again.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from fastmax.bench.op_args import add_device_arguments, require_device
from fastmax.bench.sweep_config import Timing
from fastmax.bench.timing import measure
from fastmax.correctness import DTYPES
from fastmax.environ import float32_matmul_precision
from fastmax.ops import _cuda, fastmax_attention

FIELDS = (
    "label",
    "dtype",
    "B",
    "H",
    "N",
    "D",
    "causal",
    "normalize",
    "float32_precision",
    "fwd_ms",
    "fwd_bwd_ms",
    "peak_extra_mib",
    "qkv_mib",
)
# (B, H, N, D, causal): the paper's shape causal and not, shorter sequences at B=4 and at
# micro-batch 1 (training), and D=64.
SHAPE_SETS: dict[str, tuple[tuple[int, int, int, int, bool], ...]] = {
    "h200": (
        (4, 16, 65536, 128, True),
        (4, 16, 65536, 128, False),
        (4, 16, 16384, 128, True),
        (1, 16, 32768, 128, True),
        (1, 16, 8192, 128, True),
        (4, 16, 65536, 64, True),
    ),
    "small": ((1, 2, 100, 32, True), (2, 4, 70, 64, False)),  # seconds on a CPU
}
# What a table row is grouped by, and what CSVs written before a column read its value as.
SHAPE_KEYS = ("dtype", "B", "H", "N", "D", "causal", "normalize", "float32_precision")
LATER_COLUMNS = {"normalize": "token", "float32_precision": "highest"}
PRECISIONS = ("highest", "high", "medium")
TIMING = Timing(warmup=3, repeats=20, min_repeats=20, max_case_seconds=1e9, flush_mib=0)


def time_shape(
    shape: tuple[int, int, int, int, bool],
    dtype: str,
    device: str,
    backend: str,
    normalize: str = "token",
    float32_precision: str | None = None,
) -> dict[str, Any]:
    """One row: median forward and forward+backward times under ``float32_precision`` (None: the
    current setting; restored afterwards), and peak memory in MiB (None where the device keeps
    no allocator statistics)."""
    b, h, n, d, causal = shape
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    q, k, v, grad = (
        torch.randn(b, h, n, d, generator=gen, device=dev, dtype=DTYPES[dtype]) for _ in range(4)
    )
    q, k, v = (t.requires_grad_() for t in (q, k, v))

    def forward() -> None:
        with torch.no_grad():
            fastmax_attention(q, k, v, causal=causal, normalize=normalize, backend=backend)

    def forward_backward() -> None:
        out = fastmax_attention(q, k, v, causal=causal, normalize=normalize, backend=backend)
        torch.autograd.grad(out, (q, k, v), grad)

    times = {}
    with float32_matmul_precision(float32_precision):
        precision = torch.get_float32_matmul_precision()
        for name, fn in (("fwd", forward), ("fwd_bwd", forward_backward)):
            result = measure(lambda fn=fn: fn, dev, TIMING)
            if result.status != "ok":
                raise ValueError(f"shape {shape} {dtype} {name}: {result.status} {result.reason}")
            times[name] = result
    peak = times["fwd_bwd"].peak_mem_bytes
    return {
        "dtype": dtype,
        "B": b,
        "H": h,
        "N": n,
        "D": d,
        "causal": causal,
        "normalize": normalize,
        "float32_precision": precision,
        "fwd_ms": times["fwd"].median_ms,
        "fwd_bwd_ms": times["fwd_bwd"].median_ms,
        "peak_extra_mib": None if peak is None else peak / 2**20,
        "qkv_mib": 3 * q.nbytes / 2**20,
    }


def check_precision(dtype: str, float32_precision: str | None) -> None:
    """Refuse a float32 matmul precision for another dtype, whose products it does not set."""
    if float32_precision is not None and dtype != "float32":
        raise ValueError(
            f"--float32-precision {float32_precision}: sets float32 matmuls only; it needs "
            f"--dtype float32, not --dtype {dtype}"
        )


def build_digest(device: str, backend: str) -> str | None:
    """The compiled build the op runs: the first 16 hex digits of the loaded extension's sha256;
    None where the op runs without it (a CPU device, the torch backend, no extension)."""
    if torch.device(device).type != "cuda" or backend == "torch" or not _cuda.extension_loaded():
        return None
    from fastmax import _C

    return hashlib.sha256(Path(_C.__file__).read_bytes()).hexdigest()[:16]


def check_build(path: Path, label: str, digest: str | None, allow_same: bool = False) -> None:
    """Record the build ``label`` times beside ``path`` (``<csv>.builds.json``); refuse a label
    that timed another build before, and a build another label timed unless ``allow_same``."""
    if digest is None:
        return
    sidecar = path.with_name(path.name + ".builds.json")
    builds: dict[str, str] = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    if builds.get(label, digest) != digest:
        raise ValueError(
            f"--label {label!r}: {path} has that label for build {builds[label]}, "
            f"but this run loads build {digest}"
        )
    same = sorted(other for other, seen in builds.items() if seen == digest and other != label)
    if same and not allow_same:
        raise ValueError(
            f"--label {label!r}: this run loads build {digest}, which {path} has as "
            f"{same[0]!r}; run each build from its own directory (python -m puts the working "
            "directory ahead of PYTHONPATH), or pass --allow-same-build"
        )
    builds[label] = digest
    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps(builds, indent=2, sort_keys=True) + "\n")


def append_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append rows to ``path`` (written with a header when new); a file with other columns is
    refused rather than mixed."""
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with path.open(newline="") as f:
            header = next(csv.reader(f), [])
        if tuple(header) != FIELDS:
            raise ValueError(f"{path}: columns {header} are not fastmax ab-time's {list(FIELDS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def shape_of(row: dict[str, str]) -> tuple[str, ...]:
    """A CSV row's SHAPE_KEYS values; a column the CSV lacks, or left empty, as LATER_COLUMNS."""
    return tuple(
        (row.get(key) or LATER_COLUMNS[key]) if key in LATER_COLUMNS else row[key]
        for key in SHAPE_KEYS
    )


def table(path: Path, base: str) -> list[dict[str, Any]]:
    """Per dtype, shape, normalisation, float32 precision and label: medians over the rounds,
    rounds, and the ratios of the medians to the base label's."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    groups: dict[tuple, dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[shape_of(row)][row["label"]].append(row)
    if not any(base in labels for labels in groups.values()):
        found = sorted({row["label"] for row in rows})
        raise ValueError(f"--base {base!r}: no rows of that label in {path} (labels: {found})")
    result = []
    for shape, labels in groups.items():
        medians = {
            label: {
                key: statistics.median(float(r[key]) for r in runs)
                for key in ("fwd_ms", "fwd_bwd_ms")
            }
            for label, runs in labels.items()
        }
        for label, runs in labels.items():
            row = dict(zip(SHAPE_KEYS, shape, strict=True))
            row.update(label=label, rounds=len(runs), **medians[label])
            for key in ("fwd_ms", "fwd_bwd_ms"):
                ref = medians.get(base, {}).get(key)
                row[f"{key}_ratio"] = medians[label][key] / ref if ref else None
            result.append(row)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``run`` and ``table`` sub-commands."""
    sub = parser.add_subparsers(dest="action", required=True)
    run_p = sub.add_parser("run", help="time the op at fixed shapes, append rows to a CSV")
    run_p.add_argument("--label", required=True, help="name of this build in the CSV")
    run_p.add_argument("--csv", type=Path, required=True, help="CSV to append to")
    run_p.add_argument("--dtype", choices=("bfloat16", "float32", "float16"), default="bfloat16")
    run_p.add_argument("--shapes", choices=sorted(SHAPE_SETS), default="h200", help="shape set")
    run_p.add_argument(
        "--normalize", choices=("token", "seq_max"), default="token", help="q and k's normalisation"
    )
    run_p.add_argument(
        "--float32-precision",
        choices=PRECISIONS,
        default=None,
        help="torch.set_float32_matmul_precision for the run ('high': TF32 allowed), with --dtype "
        "float32 only; default: the current setting",
    )
    run_p.add_argument(
        "--allow-same-build",
        action="store_true",
        help="time under this label a build that another label of the CSV timed (noise runs)",
    )
    add_device_arguments(run_p)
    table_p = sub.add_parser("table", help="medians per shape and label, ratios to a base label")
    table_p.add_argument("csv", type=Path)
    table_p.add_argument("--base", required=True, help="label the ratios are taken against")


def run(args: argparse.Namespace) -> int:
    """Append one round of rows, or print the table of a CSV."""
    if args.action == "run":
        check_precision(args.dtype, args.float32_precision)
        require_device(args.device)
        digest = build_digest(args.device, args.backend)
        check_build(args.csv, args.label, digest, args.allow_same_build)
        if digest is not None:
            print(f"fastmax ab-time: {args.label}: build {digest}", flush=True)
        for shape in SHAPE_SETS[args.shapes]:  # each row is kept as soon as it is measured
            timed = time_shape(
                shape, args.dtype, args.device, args.backend, args.normalize, args.float32_precision
            )
            row = {"label": args.label, **timed}
            append_rows(args.csv, [row])
            print(row, flush=True)
        return 0
    if not args.csv.is_file():
        raise ValueError(f"{args.csv}: no such file (write one with `fastmax ab-time run`)")
    for row in table(args.csv, args.base):
        ratios = " ".join(
            f"{key}={row[f'{key}_ratio']:.3f}" if row[f"{key}_ratio"] is not None else f"{key}=-"
            for key in ("fwd_ms", "fwd_bwd_ms")
        )
        print(
            f"{row['dtype']} float32_precision={row['float32_precision']} "
            f"B={row['B']} H={row['H']} N={row['N']} D={row['D']} "
            f"causal={row['causal']} {row['normalize']} {row['label']}: "
            f"fwd {row['fwd_ms']:.4g} ms, "
            f"fwd+bwd {row['fwd_bwd_ms']:.4g} ms ({row['rounds']} rounds; / {args.base}: "
            f"{ratios})"
        )
    return 0
