"""``fastmax targets --csv FILE [FILE ...] --out DIR``: issue 9's kernel targets, case by case.

Reads the rows of ``fastmax bench`` CSVs (``workflow/config/bench/kernel-targets.yaml``, one CSV
per head_dim) and checks each Fastmax CUDA case against the targets:

* ``2x fla``: at least ``TARGET_SPEEDUP`` times faster than fla ``chunk_linear_attn`` in the same
  run, for every dtype, causal or not, pass and N (fla has no non-causal mode: those cases have
  no peer and are counted apart);
* ``2x fla, TF32``: the same for the float32 cases of ``fastmax_cuda_tf32`` where the sweep ran
  it: TF32 allowed, the precision fla's Triton kernels give float32 inputs (``2x fla`` keeps
  Fastmax at float32 accuracy, PyTorch's default);
* ``3x floor``: at N = 65536, bfloat16, head_dim 128, causal, at most ``FLOOR_FACTOR`` times the
  time of the bytes that must move at the copy rate: q, k, v and o once in the forward, three
  times that in the forward+backward;
* ``faster than SDPA``: forward+backward faster than SDPA's flash backend, bfloat16, head_dim
  128, causal, from N = 2048;
* ``peak memory``: q, k, v and dO (the inputs, which a bench case allocates before it runs)
  plus the peak above them, within ``MEMORY_FACTOR`` of the eight tensors that must exist
  (q, k, v, o, dO and the three gradients). Strict: the O(N) extras the issue allows (the
  denominator, row scales, segment states) are not subtracted.

Writes ``targets.csv`` (every check), ``targets.json`` (the checks, each target's summary and
the CSVs' provenance) and ``targets.md`` (the summary, then every unmet case).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastmax.bench.figures import (
    LINEAR_BASELINE,
    TARGET_SPEEDUP,
    add_sweep_arguments,
    read_sweeps,
)

FASTMAX = "fastmax_cuda"
FASTMAX_TF32 = "fastmax_cuda_tf32"
SDPA = "sdpa_flash"
COPY_TBPS = 4.3  # device-to-device copy rate measured on the H200 (DESIGN.md section 4)
FLOOR_FACTOR = 3.0
FLOOR_CASE = {"N": 65536, "dtype": "bfloat16", "D": 128, "causal": True}
SDPA_FROM_N = 2048
MEMORY_FACTOR = 1.25
ELEMENT_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
TARGETS = ("2x fla", "2x fla, TF32", "3x floor", "faster than SDPA", "peak memory")


@dataclass(frozen=True)
class Check:
    """One case against one target: ``met`` is None when the case has nothing to compare."""

    target: str
    D: int
    dtype: str
    causal: bool
    pass_: str
    N: int
    value: float | None
    limit: float
    unit: str
    met: bool | None
    note: str = ""

    def case(self) -> str:
        mode = "causal" if self.causal else "non-causal"
        return f"D={self.D} {self.dtype} {mode} {self.pass_} N={self.N}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``fastmax targets``."""
    add_sweep_arguments(parser, "folder for targets.{csv,json,md}")
    parser.add_argument(
        "--copy-tbps",
        type=float,
        default=COPY_TBPS,
        help=f"copy rate that sets the floor, TB/s (default {COPY_TBPS}, the H200's)",
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``fastmax targets``."""
    if not args.copy_tbps > 0:
        raise ValueError(f"--copy-tbps must be > 0, got {args.copy_tbps}")
    table, sources = read_sweeps([Path(path) for path in args.csv])
    checks = check_targets(table, copy_tbps=args.copy_tbps)
    for path in write_report(checks, sources, Path(args.out)):
        print(path)
    return 0


def _median(table: Any, method: str, key: dict[str, Any]) -> tuple[float | None, str]:
    """The method's median time for the case ``key``, or None and why there is none."""
    rows = table[table["method"] == method]
    for column, value in key.items():
        rows = rows[rows[column] == value]
    if rows.empty:
        return None, f"no {method} row"
    row = rows.iloc[0]
    if row["status"] != "ok":
        return None, f"{method}: {row['status']} {row['reason']}".strip()
    return float(row["median_ms"]), ""


def _case(row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A CSV row's key among the rows of its run, and its case as ``Check`` fields."""
    key = {c: row[c] for c in ("N", "B", "H", "D", "dtype", "causal", "pass")}
    case = dict(
        D=int(row["D"]),
        dtype=str(row["dtype"]),
        causal=bool(row["causal"]),
        pass_=str(row["pass"]),
        N=int(row["N"]),
    )
    return key, case


def _peer_check(
    table: Any,
    target: str,
    peer: str,
    key: dict[str, Any],
    case: dict[str, Any],
    ms: float,
    limit: float,
    met: Callable[[float], bool],
) -> Check:
    """Fastmax's case against ``peer``'s in the same run: the peer's time over Fastmax's."""
    peer_ms, why = _median(table, peer, key)
    ratio = peer_ms / ms if peer_ms is not None else None
    return Check(
        target,
        **case,
        value=ratio,
        limit=limit,
        unit=f"x faster than {peer}",
        met=None if ratio is None else met(ratio),
        note=why,
    )


def _fla_check(
    table: Any, target: str, key: dict[str, Any], case: dict[str, Any], ms: float
) -> Check:
    """At least ``TARGET_SPEEDUP`` times faster than fla in the same run."""
    return _peer_check(
        table,
        target,
        LINEAR_BASELINE,
        key,
        case,
        ms,
        TARGET_SPEEDUP,
        lambda ratio: ratio >= TARGET_SPEEDUP,
    )


def check_targets(table: Any, copy_tbps: float = COPY_TBPS) -> list[Check]:
    """Every check of every Fastmax CUDA case of ``table`` (the rows of ``read_sweeps``)."""
    ours = table[(table["method"] == FASTMAX) & (table["status"] == "ok")]
    if ours.empty:
        raise ValueError(f"the CSVs hold no {FASTMAX} result: nothing to check")
    checks = []
    for _, row in ours.sort_values(["D", "dtype", "causal", "pass", "N"]).iterrows():
        key, case = _case(row)
        ms = float(row["median_ms"])
        # bytes of one (B, H, N, D) tensor: q, k, v, o, dO and each gradient
        tensor = int(row["B"]) * int(row["H"]) * case["N"] * case["D"]
        tensor *= ELEMENT_BYTES[case["dtype"]]
        checks.append(_fla_check(table, "2x fla", key, case, ms))
        if all(case[k] == v for k, v in FLOOR_CASE.items()):
            moved = 4 * tensor
            if case["pass_"] == "fwd_bwd":
                moved *= 3
            limit = FLOOR_FACTOR * moved / (copy_tbps * 1e12) * 1e3
            checks.append(
                Check("3x floor", **case, value=ms, limit=limit, unit="ms", met=ms <= limit)
            )
        if (
            case["pass_"] == "fwd_bwd"
            and case["dtype"] == "bfloat16"
            and case["D"] == 128
            and case["causal"]
            and case["N"] >= SDPA_FROM_N
        ):
            checks.append(
                _peer_check(
                    table, "faster than SDPA", SDPA, key, case, ms, 1.0, lambda ratio: ratio > 1.0
                )
            )
        peak = row["peak_mem_bytes"]
        if case["pass_"] == "fwd_bwd" and not (isinstance(peak, float) and math.isnan(peak)):
            ratio = (4 * tensor + float(peak)) / (8 * tensor)
            checks.append(
                Check(
                    "peak memory",
                    **case,
                    value=ratio,
                    limit=MEMORY_FACTOR,
                    unit="x the tensors that must exist",
                    met=ratio <= MEMORY_FACTOR,
                )
            )
    tf32 = table[
        (table["method"] == FASTMAX_TF32)
        & (table["status"] == "ok")
        & (table["dtype"] == "float32")
    ]
    for _, row in tf32.sort_values(["D", "causal", "pass", "N"]).iterrows():
        key, case = _case(row)
        checks.append(_fla_check(table, "2x fla, TF32", key, case, float(row["median_ms"])))
    return checks


def summarize(checks: list[Check]) -> list[dict[str, Any]]:
    """Per target: cases, met, unmet, without a peer, and the worst case checked."""
    summary = []
    for target in TARGETS:
        mine = [c for c in checks if c.target == target]
        if not mine:
            continue
        measured = [c for c in mine if c.value is not None]
        higher_is_better = target in ("2x fla", "2x fla, TF32", "faster than SDPA")
        worst = (min if higher_is_better else max)(measured, key=lambda c: c.value, default=None)
        summary.append(
            {
                "target": target,
                "cases": len(mine),
                "met": sum(c.met is True for c in mine),
                "unmet": sum(c.met is False for c in mine),
                "no_peer": sum(c.met is None for c in mine),
                "worst": None if worst is None else f"{worst.value:.3g} ({worst.case()})",
                "limit": mine[0].limit if target != "3x floor" else None,
                "unit": mine[0].unit,
            }
        )
    return summary


def write_report(checks: list[Check], sources: list[dict[str, Any]], out: Path) -> list[Path]:
    """targets.csv, targets.json and targets.md in ``out``; returns their paths."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(c), "case": c.case()} for c in checks]
    csv_path = out / "targets.csv"
    pd.DataFrame(rows).rename(columns={"pass_": "pass"}).to_csv(csv_path, index=False)
    summary = summarize(checks)
    json_path = out / "targets.json"
    json_path.write_text(
        json.dumps({"summary": summary, "checks": rows, "sources": sources}, indent=2) + "\n"
    )
    lines = [
        "# Kernel targets (issue 9)",
        "",
        "| target | cases | met | unmet | no peer | worst case | limit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary:
        limit = "per case" if s["limit"] is None else f"{s['limit']:g}"
        lines.append(
            f"| {s['target']} | {s['cases']} | {s['met']} | {s['unmet']} | {s['no_peer']} "
            f"| {s['worst'] or '-'} | {limit} ({s['unit']}) |"
        )
    unmet = [c for c in checks if c.met is False]
    lines += ["", f"## Unmet ({len(unmet)})", ""]
    lines += [
        f"* {c.target}: {c.case()}: {c.value:.3g} against {c.limit:.3g} {c.unit}" for c in unmet
    ]
    md_path = out / "targets.md"
    md_path.write_text("\n".join(lines) + "\n")
    return [csv_path, json_path, md_path]
