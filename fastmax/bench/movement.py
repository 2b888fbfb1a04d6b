"""``fastmax profile-movement --config FILE --out DIR``: where the time of Fastmax goes.

For each N of the config's ``movement`` section, the method's forward+backward pass is timed
as in the sweep (median over repeats, CUDA events on a GPU) and then profiled with
``torch.profiler`` over a few iterations (CUDA activities through CUPTI on a GPU, host operators
on the CPU). ``trace_split`` divides the profile into compute, copy, memset and allocation; the
rest of the measured time (launch gaps, idle device, host overhead) is *other*. Writes
``DIR/movement.csv`` (one row per N and category, milliseconds per iteration and share of the
iteration) and the stacked bar chart ``DIR/movement.{png,pdf,json}``. A CPU run is labelled as
a smoke result: it exercises the code path, it is not the GPU measurement.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from fastmax.bench.methods import build_methods
from fastmax.bench.sweep import bench_environment, device_name, make_inputs, resolve_device
from fastmax.bench.sweep_config import DTYPES, NORMALIZE, BenchConfig, load_config
from fastmax.bench.timing import measure, release, synchronize
from fastmax.bench.trace_split import CATEGORIES, complete_events, split_events
from fastmax.plots import pyplot, save_figure
from fastmax.provenance import file_sha256

COLUMNS = (
    "method",
    "N",
    "B",
    "H",
    "D",
    "dtype",
    "causal",
    "device",
    "category",
    "ms_per_iteration",
    "share",
    "status",
)
ALL_CATEGORIES = (*CATEGORIES, "other")
COLORS = {
    "compute": "#4C72B0",
    "copy": "#DD8452",
    "memset": "#C44E52",
    "allocation": "#8172B3",
    "other": "#BBBBBB",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``fastmax profile-movement``."""
    parser.add_argument("--config", required=True, help="bench YAML with a movement section")
    parser.add_argument("--out", required=True, help="folder for movement.csv and the figure")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``fastmax profile-movement``."""
    config_path = Path(args.config)
    config = load_config(config_path)
    out = Path(args.out)
    rows = profile_movement(config)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_rows(rows, out / "movement.csv")
    sidecar = {
        "csv": str(csv_path),
        "csv_sha256": file_sha256(csv_path),
        "movement": dataclasses.asdict(config.movement),
        "environment": bench_environment(config_path),
    }
    fig = plot_movement(rows)
    for path in [csv_path, *save_figure(fig, out / "movement", sidecar)]:
        print(path)
    pyplot().close(fig)
    return 0


def profile_movement(config: BenchConfig) -> list[dict[str, Any]]:
    """Rows of movement.csv for every N of ``config.movement``."""
    from tqdm import tqdm

    settings = config.movement
    device = resolve_device(config.device)
    method = build_methods((settings.method,), NORMALIZE[config.normalize])[0]
    reason = method.supported(device, DTYPES[settings.dtype], settings.causal, config.D)
    if reason is not None:
        raise ValueError(f"movement.method {settings.method} cannot run here: {reason}")
    fixed = {
        "method": settings.method,
        "B": config.B,
        "H": config.H,
        "D": config.D,
        "dtype": settings.dtype,
        "causal": settings.causal,
        "device": device_name(device),
    }
    rows: list[dict[str, Any]] = []
    for n in tqdm(settings.N, unit="N"):
        q, k, v = make_inputs(config, n, settings.dtype, device)

        def make(q=q, k=k, v=v):
            return method.make(q, k, v, causal=settings.causal, backward=True, seed=config.seed)

        timing = measure(make, device, config.timing)
        if timing.status != "ok":
            rows.append({**fixed, "N": n, "status": timing.status})
            continue
        split = _profile(make(), device, settings.warmup, settings.iterations)
        del q, k, v
        release(device)
        total = timing.median_ms
        split["other"] = max(total - sum(split.values()), 0.0)
        scale = max(total, sum(split.values()))
        for category in ALL_CATEGORIES:
            rows.append(
                {
                    **fixed,
                    "N": n,
                    "category": category,
                    "ms_per_iteration": split[category],
                    "share": split[category] / scale,
                    "status": "ok",
                }
            )
    return rows


def _profile(run, device: torch.device, warmup: int, iterations: int) -> dict[str, float]:
    """Milliseconds per iteration in each category, from a profile of ``iterations`` calls
    that follow ``warmup`` unprofiled ones."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    for _ in range(warmup):
        run()
    synchronize(device)
    with profile(activities=activities) as prof:
        for _ in range(iterations):
            run()
        synchronize(device)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as handle:
            events = complete_events(json.load(handle))
    return {name: us / 1e3 / iterations for name, us in split_events(events).items()}


def write_rows(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write movement rows to ``path`` through a temporary file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in COLUMNS})
    os.replace(tmp, path)
    return path


def plot_movement(rows: list[dict[str, Any]]):
    """Stacked bars per N: milliseconds per forward+backward iteration in each category."""
    plt = pyplot()
    lengths = list(dict.fromkeys(row["N"] for row in rows))
    fig, (ax_ms, ax_share) = plt.subplots(1, 2, figsize=(11, 4.2))
    positions = range(len(lengths))
    bottoms_ms = [0.0] * len(lengths)
    bottoms_share = [0.0] * len(lengths)
    for category in ALL_CATEGORIES:
        ms = [_value(rows, n, category, "ms_per_iteration") for n in lengths]
        share = [100 * _value(rows, n, category, "share") for n in lengths]
        color = COLORS[category]
        ax_ms.bar(positions, ms, bottom=bottoms_ms, color=color, label=category)
        ax_share.bar(positions, share, bottom=bottoms_share, color=color, label=category)
        bottoms_ms = [b + m for b, m in zip(bottoms_ms, ms, strict=True)]
        bottoms_share = [b + s for b, s in zip(bottoms_share, share, strict=True)]
    for index, n in enumerate(lengths):
        status = next(row["status"] for row in rows if row["N"] == n)
        if status != "ok":
            for ax in (ax_ms, ax_share):
                ax.text(index, 0, status.split(":")[0], ha="center", va="bottom", rotation=90)
    for ax in (ax_ms, ax_share):
        ax.set_xticks(list(positions), [f"{n:,}" for n in lengths])
        ax.set_xlabel("sequence length N")
    for index, total in enumerate(bottoms_ms):
        if total > 0:
            ax_ms.text(index, total, f"{total:.3g} ms", ha="center", va="bottom", fontsize=9)
    ax_ms.set_ylabel("time per forward+backward (ms)")
    ax_ms.margins(y=0.1)
    ax_share.set_ylabel("share of the iteration (%)")
    ax_share.set_ylim(0, 100)
    first = rows[0]
    title = (
        f"{first['method']} forward+backward, {first['dtype']}, B={first['B']}, H={first['H']}, "
        f"D={first['D']} on {first['device']}"
    )
    if first["device"] == "cpu":
        title += "\nCPU smoke result: host operators, not the GPU measurement"
    fig.suptitle(title)
    fig.tight_layout()
    handles, labels = ax_ms.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5, frameon=False
    )
    return fig


def _value(rows: list[dict[str, Any]], n: int, category: str, column: str) -> float:
    for row in rows:
        if row["N"] == n and row.get("category") == category:
            return float(row[column])
    return 0.0
