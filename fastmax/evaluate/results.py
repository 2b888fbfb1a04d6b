"""Reading lm-eval's results JSON: one row per task and metric, and each task's headline metric."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADLINE_METRICS = ("acc", "exact_match")
NO_FILTER = "none"


@dataclass(frozen=True)
class MetricRow:
    """One metric of one task: value, standard error (None where lm-eval gave none), size."""

    task: str
    metric: str
    value: float
    stderr: float | None
    higher_is_better: bool | None
    n_samples: int | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def read_results(path: str | Path) -> dict[str, Any]:
    """The results JSON at ``path``, checked to be lm-eval's (a mapping with ``results``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"results file {str(path)!r} is not valid JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError(
            f"results file {str(path)!r} is not an lm-eval results JSON (no 'results' mapping); "
            "expected the output of `fastmax evaluate`"
        )
    return data


def metric_rows(results: dict[str, Any]) -> list[MetricRow]:
    """Every metric of every task in lm-eval's ``results`` (in its order), with its stderr.

    Metric keys are ``name,filter``; a filter other than "none" is kept in the name as
    ``name (filter)``. Entries that are not numbers (aliases, "N/A" stderrs) are skipped.
    """
    rows = []
    for task, values in results["results"].items():
        higher = results.get("higher_is_better", {}).get(task, {})
        n_samples = results.get("n-samples", {}).get(task, {}).get("effective")
        for key, raw in values.items():
            name, _, filter_name = key.partition(",")
            value = _number(raw)
            if value is None or not filter_name or name.endswith("_stderr"):
                continue
            stderr = _number(values.get(f"{name}_stderr,{filter_name}"))
            label = name if filter_name == NO_FILTER else f"{name} ({filter_name})"
            rows.append(MetricRow(task, label, value, stderr, higher.get(name), n_samples))
    return rows


def _listed_metrics(results: dict[str, Any], task: str) -> list[str]:
    """The metric names of a task's configuration, in the order its YAML lists them."""
    config = results.get("configs", {}).get(task, {})
    return [entry["metric"] for entry in config.get("metric_list") or [] if "metric" in entry]


def headline_rows(results: dict[str, Any]) -> list[MetricRow]:
    """One row per task: accuracy (or exact match) when reported, else the task's first metric.

    "First" is the order of the task's ``metric_list``, so the choice does not depend on the
    order of keys in the JSON.
    """
    by_task: dict[str, list[MetricRow]] = {}
    for row in metric_rows(results):
        by_task.setdefault(row.task, []).append(row)
    chosen = []
    for task, rows in by_task.items():
        order = [*HEADLINE_METRICS, *_listed_metrics(results, task)]
        ranked = sorted(
            rows, key=lambda row: order.index(row.metric) if row.metric in order else len(order)
        )
        chosen.append(ranked[0])
    return chosen
