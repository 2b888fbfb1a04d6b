"""``fastmax evaluate``: lm-eval on a checkpoint of ``fastmax train``, with its own attention.

    fastmax evaluate CHECKPOINT_DIR --tasks T1,T2 --out FILE.json [--limit N] [--batch-size N]
        [--include-path DIR ...] [--device D] [--cache DIR]

Runs ``lm_eval.simple_evaluate`` with the model ``fastmax-litgpt`` (:mod:`fastmax.evaluate.model`)
and writes

* ``FILE.json``: lm-eval's results (metrics, stderrs, task configs, sample counts, lm-eval's own
  environment notes) plus ``provenance``: :func:`fastmax.provenance.environment` and the
  checkpoint (its path, ``model_config.yaml`` and the sha256 of every file in it);
* ``FILE.csv``: one line per task (``task, metric, value, stderr, n_samples``) with the task's
  headline metric (:func:`fastmax.evaluate.results.headline_rows`).

Both are written to temporary names and renamed into place at the end. Tasks are lm-eval task
names (or task YAML paths). The local tasks shipped in ``fastmax/evaluate/tasks`` are always
available; ``--include-path`` adds folders of task YAMLs. lm-eval's own task index (thousands of
YAMLs, seconds to scan) is read only when a task is not found in the local folders. A missing
checkpoint or an unknown task is reported before any model is loaded.

``--cache DIR`` keeps every answer as it is computed in lm-eval's request cache (SQLite), in a
file of ``DIR`` named by :func:`cache_name` after what decides the answers: the checkpoint's
files, the device and the code. A run that was stopped part-way (a killed job, a time limit)
and is started again with the same ``DIR`` computes only the requests it had not answered; a
retrained checkpoint or changed code starts a new file.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import importlib.metadata
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from fastmax.provenance import environment, file_sha256, write_json

LOCAL_TASKS = Path(__file__).resolve().parent / "tasks"
CSV_COLUMNS = ("task", "metric", "value", "stderr", "n_samples")
EXTRA_PACKAGES = ("transformers", "datasets", "tokenizers")


def parse_tasks(text: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; empty names and repeats are errors."""
    tasks = [name.strip() for name in text.split(",")]
    if not tasks or any(not name for name in tasks):
        raise ValueError(f"--tasks must be comma-separated task names, got {text!r}")
    repeated = sorted({name for name in tasks if tasks.count(name) > 1})
    if repeated:
        raise ValueError(f"--tasks names {repeated} more than once")
    return tasks


def task_folders(include_paths: Sequence[str | Path]) -> list[Path]:
    """The local task folder followed by the existing, distinct ``include_paths``."""
    folders = [LOCAL_TASKS]
    for path in include_paths:
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"include path {str(path)!r} is not a folder of task YAMLs")
        if path.resolve() not in [folder.resolve() for folder in folders]:
            folders.append(path)
    return folders


def _unknown(tasks: list[str], known: list[str]) -> list[str]:
    return [
        name
        for name in tasks
        if name not in known and not (name.endswith((".yaml", ".yml")) and Path(name).is_file())
    ]


def task_manager(tasks: list[str], include_paths: list[str | Path] = ()) -> Any:
    """An lm-eval ``TaskManager`` that knows every name in ``tasks``; ValueError naming the rest."""
    from lm_eval.tasks import TaskManager

    folders = [str(folder) for folder in task_folders(include_paths)]
    manager = TaskManager(include_path=folders, include_defaults=False)
    if _unknown(tasks, manager.all_tasks):
        manager = TaskManager(include_path=folders)
    unknown = _unknown(tasks, manager.all_tasks)
    if unknown:
        hints = {name: difflib.get_close_matches(name, manager.all_tasks, n=3) for name in unknown}
        described = "; ".join(
            f"{name!r}" + (f" (close: {', '.join(close)})" if close else "")
            for name, close in hints.items()
        )
        raise ValueError(
            f"unknown lm-eval task {described}; list them with `lm-eval ls tasks`, or give "
            "--include-path for a folder of task YAMLs"
        )
    return manager


def checkpoint_provenance(checkpoint_dir: Path) -> dict[str, Any]:
    """Path, model configuration and the sha256 of every file of a checkpoint."""
    return {
        "path": str(checkpoint_dir.resolve()),
        "model_config": yaml.safe_load((checkpoint_dir / "model_config.yaml").read_text()),
        "sha256": {
            path.name: file_sha256(path)
            for path in sorted(checkpoint_dir.iterdir())
            if path.is_file()
        },
    }


def cache_name(checkpoint: dict[str, Any], device: str, code: dict[str, Any]) -> str:
    """The request-cache file stem for one checkpoint (its ``checkpoint_provenance``) on one
    device: a digest of the checkpoint's files, the device, the code (a ``git_state``) and
    lm-eval's version."""
    record = {
        "checkpoint": checkpoint["sha256"],
        "device": device,
        "code": code["tree"] or code["commit"],
        "lm_eval": importlib.metadata.version("lm_eval"),
    }
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return f"{checkpoint['model_config']['name']}-{digest[:16]}"


def evaluate_checkpoint(
    checkpoint_dir: str | Path,
    tasks: list[str],
    *,
    limit: int | None = None,
    batch_size: int = 1,
    include_paths: Sequence[str | Path] = (),
    device: str | None = None,
    cache: str | Path | None = None,
) -> dict[str, Any]:
    """lm-eval's results for ``tasks`` on the checkpoint, plus ``provenance`` (JSON-safe);
    answers are kept in (and reused from) a request cache in the folder ``cache`` when given."""
    import lm_eval
    from lm_eval.utils import handle_non_serializable

    from fastmax.evaluate import MODEL_NAME
    from fastmax.evaluate.model import check_checkpoint, resolve_device

    checkpoint_dir = check_checkpoint(checkpoint_dir)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    manager = task_manager(tasks, include_paths)
    checkpoint = checkpoint_provenance(checkpoint_dir)
    env = environment(EXTRA_PACKAGES)
    cache_stem = None
    if cache is not None:
        cache = Path(cache)
        if cache.exists() and not cache.is_dir():
            raise NotADirectoryError(f"--cache {str(cache)!r} exists and is not a folder")
        cache_stem = cache / cache_name(checkpoint, str(resolve_device(device)), env["git"])
    results = lm_eval.simple_evaluate(
        model=MODEL_NAME,
        model_args={"checkpoint_dir": str(checkpoint_dir)},
        tasks=tasks,
        batch_size=batch_size,
        device=device,
        limit=limit,
        task_manager=manager,
        log_samples=False,
        use_cache=None if cache_stem is None else str(cache_stem),
    )
    results = json.loads(json.dumps(results, default=handle_non_serializable))
    results["provenance"] = {
        "environment": env,
        "checkpoint": checkpoint,
        "task_folders": [str(folder.resolve()) for folder in task_folders(include_paths)],
        "request_cache": None
        if cache_stem is None
        else [str(path.resolve()) for path in sorted(cache.glob(f"{cache_stem.name}_rank*.db"))],
    }
    return results


def summary_csv(results: dict[str, Any]) -> str:
    """The one-line-per-task CSV text of lm-eval ``results``."""
    from fastmax.evaluate.results import headline_rows

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in headline_rows(results):
        writer.writerow(
            [
                row.task,
                row.metric,
                repr(row.value),
                "" if row.stderr is None else repr(row.stderr),
                "" if row.n_samples is None else row.n_samples,
            ]
        )
    return buffer.getvalue()


def write_outputs(results: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (JSON) and the CSV beside it, each atomically; returns both paths."""
    out = Path(out)
    csv_path = out.with_suffix(".csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    tmp.write_text(summary_csv(results), encoding="utf-8")
    os.replace(tmp, csv_path)
    write_json(out, results)
    return out, csv_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fastmax evaluate``."""
    parser.add_argument("checkpoint_dir", type=Path, help="checkpoint folder of `fastmax train`")
    parser.add_argument(
        "--tasks", required=True, help="comma-separated lm-eval task names (or task YAML paths)"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="results JSON to write (FILE.csv goes beside it)"
    )
    parser.add_argument("--limit", type=int, help="evaluate only the first N documents per task")
    parser.add_argument("--batch-size", type=int, default=1, help="requests per forward pass")
    parser.add_argument(
        "--include-path",
        type=Path,
        action="append",
        default=[],
        help="folder of extra task YAMLs (repeatable); the package's local tasks are always known",
    )
    parser.add_argument(
        "--device", help="torch device, e.g. cpu or cuda:0 (default: the GPU when visible)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        help="folder for lm-eval's request cache: a run started again with the same folder "
        "(after a kill, say) computes only the answers it lacks",
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate the checkpoint on the command line and write the results."""
    from lm_eval.utils import make_table

    if args.out.suffix != ".json":
        raise ValueError(f"--out must name a .json file, got {str(args.out)!r}")
    results = evaluate_checkpoint(
        args.checkpoint_dir,
        parse_tasks(args.tasks),
        limit=args.limit,
        batch_size=args.batch_size,
        include_paths=args.include_path,
        device=args.device,
        cache=args.cache,
    )
    out, csv_path = write_outputs(results, args.out)
    print(make_table(results))
    print(f"wrote {out} and {csv_path}")
    return 0
