"""Training curves: merge the CSV logs of a run, and ``fastmax plot-train`` to compare runs.

    fastmax plot-train --runs softmax=RUN_A/metrics.csv fastmax=RUN_B/metrics.csv --out STEM

LitGPT logs one ``logs/csv/version_N/metrics.csv`` per launch of a run. :func:`merge_run_logs`
joins them into ``OUT/metrics.csv``: a resumed launch restarts from its checkpoint, so the rows of
an earlier launch from that point on are superseded and dropped. It adds ``iteration`` (LitGPT
logs a row at index ``iteration - 1``, and the final validation at index ``iteration``: a
validation row after the last training row is taken as that one), ``optimizer_step`` and
``tokens_seen`` (all devices).

The figure shows training loss (lines) and validation loss (markers) of every run against
optimizer steps (left) and tokens (right), written with ``fastmax.plots.save_figure``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

REQUIRED_COLUMNS = ("optimizer_step", "tokens_seen")
LOSS_COLUMNS = ("loss", "val_loss")


def _version_number(path: Path) -> int:
    return int(path.parent.name.split("_")[-1])


def merge_run_logs(out_dir: str | Path, iters_per_step: int, tokens_per_iter: int) -> Path:
    """Join the per-launch CSV logs of ``out_dir`` into ``out_dir/metrics.csv``; return its path."""
    import pandas as pd

    out_dir = Path(out_dir)
    if iters_per_step < 1 or tokens_per_iter < 1:
        raise ValueError(
            f"iters_per_step and tokens_per_iter must be positive, got {iters_per_step} "
            f"and {tokens_per_iter}"
        )
    logs = sorted((out_dir / "logs" / "csv").glob("version_*/metrics.csv"), key=_version_number)
    if not logs:
        raise FileNotFoundError(f"no logs/csv/version_*/metrics.csv under {str(out_dir)!r}")
    frames = [pd.read_csv(path) for path in logs if path.stat().st_size > 0]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        raise ValueError(f"the CSV logs under {str(out_dir)!r} hold no rows yet")
    kept = []
    for index, frame in enumerate(frames):
        later = frames[index + 1 :]
        if later:
            frame = frame[frame["step"] < later[0]["step"].min()]
        kept.append(frame)
    merged = pd.concat(kept, ignore_index=True, sort=False)
    merged["iteration"] = merged["step"] + 1
    if "loss" in merged.columns:
        last_train = merged.loc[merged["loss"].notna(), "step"].max()
        final = merged["loss"].isna() & (merged["step"] > last_train)
        merged.loc[final, "iteration"] = merged.loc[final, "step"]
    merged["optimizer_step"] = merged["iteration"] / iters_per_step
    merged["tokens_seen"] = merged["iteration"] * tokens_per_iter
    target = out_dir / "metrics.csv"
    tmp = target.with_name(target.name + ".tmp")
    merged.to_csv(tmp, index=False)
    os.replace(tmp, target)
    return target


def read_metrics(path: str | Path) -> Any:
    """A merged ``metrics.csv`` as a DataFrame, checked for the columns the figure needs."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file {str(path)!r} does not exist")
    frame = pd.read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing or not any(c in frame.columns for c in LOSS_COLUMNS):
        raise ValueError(
            f"{str(path)!r} lacks columns {missing or list(LOSS_COLUMNS)}; expected the "
            "metrics.csv that `fastmax train` writes in its output folder"
        )
    return frame


def plot_runs(runs: dict[str, str | Path], stem: str | Path) -> list[Path]:
    """Loss curves of several runs in one figure (PNG, PDF and a provenance sidecar)."""
    from fastmax.plots import pyplot, save_figure
    from fastmax.provenance import environment, file_sha256

    if not runs:
        raise ValueError("runs must name at least one NAME=METRICS_CSV")
    frames = {name: read_metrics(path) for name, path in runs.items()}
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, frame) in enumerate(frames.items()):
        color = colors[index % len(colors)]
        for ax, x in zip(axes, REQUIRED_COLUMNS, strict=True):
            if "loss" in frame.columns:
                rows = frame.dropna(subset=["loss"])
                ax.plot(rows[x], rows["loss"], color=color, label=f"{name} train")
            if "val_loss" in frame.columns:
                rows = frame.dropna(subset=["val_loss"])
                ax.plot(rows[x], rows["val_loss"], "o--", color=color, label=f"{name} validation")
    axes[0].set_xlabel("optimizer step")
    axes[1].set_xlabel("tokens")
    axes[0].set_ylabel("cross-entropy loss (nats/token)")
    axes[1].legend()
    fig.suptitle("Pretraining loss")
    sidecar = {
        "figure": "training and validation loss against optimizer steps and tokens",
        "runs": {name: {"path": str(p), "sha256": file_sha256(p)} for name, p in runs.items()},
        "environment": environment(),
    }
    paths = save_figure(fig, stem, sidecar)
    plt.close(fig)
    return paths


def _parse_runs(items: list[str]) -> dict[str, str]:
    runs: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--runs entry {item!r} must look like NAME=METRICS_CSV")
        if name in runs:
            raise ValueError(f"--runs names {name!r} twice")
        runs[name] = path
    return runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line arguments of ``fastmax plot-train``."""
    parser.add_argument(
        "--runs", nargs="+", required=True, metavar="NAME=METRICS_CSV", help="runs to compare"
    )
    parser.add_argument("--out", required=True, type=Path, help="figure stem (writes .png/.pdf)")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``fastmax plot-train``."""
    for path in plot_runs(_parse_runs(args.runs), args.out):
        print(path)
    return 0
