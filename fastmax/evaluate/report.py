"""``fastmax report``: evaluation results of several runs side by side.

    fastmax report --run softmax=results/eval/regular.json --run fastmax=results/eval/linear.json \
        --out results/eval

Reads the results JSON that ``fastmax evaluate`` wrote for each labelled run and writes, in
``--out``:

* ``eval_table.md``: one row per task and metric, one column per run, ``value ± stderr``; the
  arrow after the metric says whether higher (↑) or lower (↓) is better;
* ``eval_table.csv``: the same rows with ``<label>``, ``<label>_stderr`` and ``<label>_n``
  (documents evaluated) columns per run, full precision, empty where a run lacks the metric;
* ``eval_table.json``: provenance sidecar (environment, each input's path and sha256, the
  checkpoint each run evaluated).

Rows follow the order of the first run, then metrics only later runs have. Each file is written
to a temporary name and renamed into place.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from pathlib import Path
from typing import Any

from fastmax.evaluate.results import MetricRow, metric_rows, read_results
from fastmax.provenance import environment, file_sha256, write_json

STEM = "eval_table"
ARROWS = {True: " ↑", False: " ↓", None: ""}


def parse_runs(items: list[str]) -> dict[str, Path]:
    """``["softmax=a.json", ...]`` -> ``{"softmax": Path("a.json"), ...}``, labels unique."""
    runs: dict[str, Path] = {}
    for item in items:
        label, sep, path = item.partition("=")
        label = label.strip()
        if not sep or not label or not path.strip():
            raise ValueError(f"--run {item!r} must look like LABEL=RESULTS.json")
        if label in runs:
            raise ValueError(f"--run label {label!r} is given twice")
        runs[label] = Path(path.strip())
    if not runs:
        raise ValueError("give at least one --run LABEL=RESULTS.json")
    return runs


def side_by_side(
    tables: dict[str, list[MetricRow]],
) -> list[tuple[str, str, bool | None, dict[str, MetricRow]]]:
    """Rows ``(task, metric, higher_is_better, {label: row})`` over all runs, first run's order."""
    merged: dict[tuple[str, str], dict[str, MetricRow]] = {}
    for label, rows in tables.items():
        for row in rows:
            merged.setdefault((row.task, row.metric), {})[label] = row
    result = []
    for (task, metric), cells in merged.items():
        known = [row.higher_is_better for row in cells.values() if row.higher_is_better is not None]
        result.append((task, metric, known[0] if known else None, cells))
    return result


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def markdown_table(labels: list[str], rows: list[tuple[str, str, Any, dict]]) -> str:
    """The Markdown table of :func:`side_by_side` rows."""
    lines = [
        "| task | metric | " + " | ".join(labels) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in labels) + " |",
    ]
    for task, metric, higher, cells in rows:
        shown = []
        for label in labels:
            row = cells.get(label)
            if row is None:
                shown.append("–")
            elif row.stderr is None:
                shown.append(_fmt(row.value))
            else:
                shown.append(f"{_fmt(row.value)} ± {_fmt(row.stderr)}")
        lines.append(f"| {task} | {metric}{ARROWS[higher]} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"


def csv_table(labels: list[str], rows: list[tuple[str, str, Any, dict]]) -> str:
    """The CSV text of :func:`side_by_side` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["task", "metric", "higher_is_better"]
    for label in labels:
        header += [label, f"{label}_stderr", f"{label}_n"]
    writer.writerow(header)
    for task, metric, higher, cells in rows:
        line: list[Any] = [task, metric, "" if higher is None else str(higher).lower()]
        for label in labels:
            row = cells.get(label)
            line += [
                "" if row is None else repr(row.value),
                "" if row is None or row.stderr is None else repr(row.stderr),
                "" if row is None or row.n_samples is None else row.n_samples,
            ]
        writer.writerow(line)
    return buffer.getvalue()


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(runs: dict[str, Path], out: str | Path) -> list[Path]:
    """Write the table files for ``runs`` (label -> results JSON) into ``out``; returns them."""
    out = Path(out)
    results = {label: read_results(path) for label, path in runs.items()}
    tables = {label: metric_rows(data) for label, data in results.items()}
    empty = [label for label, rows in tables.items() if not rows]
    if empty:
        raise ValueError(f"runs {empty} hold no metrics: {[str(runs[label]) for label in empty]}")
    labels = list(runs)
    rows = side_by_side(tables)
    out.mkdir(parents=True, exist_ok=True)
    md_path, csv_path, sidecar = (out / f"{STEM}{ext}" for ext in (".md", ".csv", ".json"))
    _write_text(md_path, markdown_table(labels, rows))
    _write_text(csv_path, csv_table(labels, rows))
    write_json(
        sidecar,
        {
            "environment": environment(),
            "runs": {
                label: {
                    "path": str(path),
                    "sha256": file_sha256(path),
                    "checkpoint": results[label].get("provenance", {}).get("checkpoint"),
                }
                for label, path in runs.items()
            },
            "files": [md_path.name, csv_path.name],
        },
    )
    return [md_path, csv_path, sidecar]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fastmax report``."""
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="LABEL=RESULTS.json",
        help="a labelled results JSON of `fastmax evaluate` (repeat, in column order)",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for eval_table.*")


def run(args: argparse.Namespace) -> int:
    """Write the side-by-side table of the runs on the command line."""
    for path in write_report(parse_runs(args.run), args.out):
        print(f"wrote {path}")
    return 0
