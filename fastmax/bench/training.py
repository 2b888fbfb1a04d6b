"""``fastmax bench-train``: training throughput of softmax vs Fastmax vs attention removed.

    fastmax bench-train --config workflow/config/bench-train/h200.yaml --out results/train/h200

For every model (a softmax name such as ``pythia-1.4b``), context and attention kind, one case
builds the model with random weights (``softmax``: the LitGPT model; ``fastmax``: its
``-linear`` twin; ``fastmax_unsplit``: the same with ``FASTMAX_SEQUENCE_SPLIT=0``, the kernels
without the sequence split; ``none``: the same model with the attention op replaced by its values,
an upper bound on any attention's speed), and times full training steps on synthetic tokens:
forward, LitGPT's chunked cross-entropy, backward and an AdamW step, as ``litgpt.pretrain``
does. Warm-up steps first, then timed steps (CUDA events on a GPU, wall clock on the CPU);
bfloat16 weights on a GPU by default. Out-of-memory is caught and recorded as ``status = oom``.

Writes ``bench_train.csv`` (kept as ``bench_train.csv.partial``, rewritten after each case, until
the run ends; one row per case: median and 10/90 % step time, tokens/s, peak memory,
``fraction_of_none`` = tokens/s over those of attention removed at the same model and context,
``speedup_vs_softmax``), the figure ``bench_train.{png,pdf,json}`` and ``environment.json``.

With ``profile_kernels: true`` one more step of every case runs under ``torch.profiler`` and
``bench_train_kernels.csv`` gets, per case, the time of every kernel name summed over the step
(device time on a GPU; each operator's own CPU time on the CPU): where the time between two
kinds of attention goes. It is not part of the timed steps.
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm import tqdm

from fastmax.config_file import add_set_argument, load_config, to_plain
from fastmax.environ import environment_set
from fastmax.ops import _cuda

CSV_NAME = "bench_train.csv"
KERNELS_CSV_NAME = "bench_train_kernels.csv"
KERNEL_COLUMNS = ("model", "attention", "context", "kernel", "calls", "time_us", "clock")
FIGURE_STEM = "bench_train"
COLUMNS = (
    "model",
    "attention",
    "model_name",
    "context",
    "micro_batch_size",
    "tokens_per_step",
    "device",
    "dtype",
    "compile",
    "status",
    "timed_steps",
    "step_ms_median",
    "step_ms_q10",
    "step_ms_q90",
    "tokens_per_s",
    "peak_memory_gib",
    "fraction_of_none",
    "speedup_vs_softmax",
)
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}
STYLES = {
    "none": ("attention removed", "0.35"),
    "softmax": ("softmax (LitGPT)", "C0"),
    "fastmax": ("Fastmax", "C1"),
    "fastmax_unsplit": ("Fastmax, sequence not split", "C2"),
}
# Environment variables set while a kind's steps run.
ENVIRONMENTS = {"fastmax_unsplit": _cuda.UNSPLIT_ENVIRONMENT}


@dataclass(frozen=True)
class BenchTrainConfig:
    """What ``fastmax bench-train`` measures (YAML; unknown keys fail)."""

    models: list[str]
    contexts: list[int] = field(default_factory=lambda: [2048, 8192, 32768])
    attentions: list[Literal["softmax", "fastmax", "fastmax_unsplit", "none"]] = field(
        default_factory=lambda: ["none", "softmax", "fastmax"]
    )
    micro_batch_size: int = 1
    warmup_steps: int = 2
    timed_steps: int = 5
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"
    compile: bool = False
    model_overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    profile_kernels: bool = False


def load_bench_config(path: str | Path, overrides: list[str] | None = None) -> BenchTrainConfig:
    """Read and check a bench-train configuration."""
    config = load_config(path, BenchTrainConfig, overrides)
    where = str(path)
    if not config.models or not config.contexts or not config.attentions:
        raise ValueError(f"{where}: models, contexts and attentions must each list something")
    for key in ("micro_batch_size", "timed_steps"):
        if getattr(config, key) < 1:
            raise ValueError(f"{where}: {key} must be at least 1")
    if config.warmup_steps < 0:
        raise ValueError(f"{where}: warmup_steps must be at least 0")
    if any(context < 2 for context in config.contexts):
        raise ValueError(f"{where}: contexts must be at least 2 tokens, got {config.contexts}")
    if len(set(config.attentions)) != len(config.attentions):
        raise ValueError(f"{where}: attentions lists a kind twice: {config.attentions}")
    for name in config.models:
        if name.endswith("-linear"):
            raise ValueError(
                f"{where}: models lists {name!r}; name the softmax model (its '-linear' twin is "
                "used for fastmax)"
            )
        for attention in config.attentions:
            case_config(name, attention, config.contexts[0], config.model_overrides)
    return config


def case_config(name: str, attention: str, context: int, overrides: dict[str, Any]) -> Any:
    """The ``ModelConfig`` of one case: ``name`` (or its ``-linear`` twin) at ``context`` tokens."""
    from fastmax.model import model_config

    fields = {**overrides, "block_size": context}
    if attention in ("fastmax", "fastmax_unsplit"):
        return model_config(f"{name}-linear", **fields)
    return model_config(name, attention=attention, **fields)


def _device(config: BenchTrainConfig) -> torch.device:
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but PyTorch sees no CUDA GPU")
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def _dtype(config: BenchTrainConfig, device: torch.device) -> torch.dtype:
    if config.dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[config.dtype]


def _timer(device: torch.device) -> Callable[[Callable[[], None]], float]:
    """A function that runs a step and returns its time in milliseconds."""
    if device.type == "cuda":

        def timed(step: Callable[[], None]) -> float:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        return timed

    def timed_cpu(step: Callable[[], None]) -> float:
        start = time.perf_counter()
        step()
        return (time.perf_counter() - start) * 1e3

    return timed_cpu


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def profile_step(step: Callable[[], None], device: torch.device) -> list[dict[str, Any]]:
    """Run ``step`` once under ``torch.profiler``; per kernel name, its calls and summed time:
    device time of the GPU kernels on CUDA, each operator's own CPU time on the CPU."""
    from torch.profiler import ProfilerActivity, profile

    on_gpu = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with profile(activities=activities) as prof:
        step()
        if on_gpu:
            torch.cuda.synchronize(device)
    totals: dict[str, list[float]] = {}
    if on_gpu:
        for event in prof.events():
            if event.device_type == torch.autograd.DeviceType.CUDA:
                total = totals.setdefault(event.name, [0, 0.0])
                total[0] += 1
                total[1] += event.device_time
    else:
        for average in prof.key_averages():
            totals[average.key] = [average.count, average.self_cpu_time_total]
    clock = "device" if on_gpu else "cpu_self"
    return [
        {"kernel": name, "calls": calls, "time_us": round(us, 3), "clock": clock}
        for name, (calls, us) in sorted(totals.items(), key=lambda item: -item[1][1])
    ]


def _time_steps(
    model_cfg: Any, config: BenchTrainConfig, device: torch.device, dtype: torch.dtype
) -> tuple[list[float], list[dict[str, Any]] | None]:
    """Build the model and optimizer, run the warm-up steps, return the timed steps in ms and,
    with ``profile_kernels``, the kernel times of one more step."""
    from litgpt.utils import chunked_cross_entropy

    from fastmax.model import GPT

    generator = torch.Generator().manual_seed(config.seed)
    tokens = torch.randint(
        0,
        model_cfg.vocab_size,
        (config.micro_batch_size, model_cfg.block_size + 1),
        generator=generator,
    ).to(device)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    torch.manual_seed(config.seed)
    with torch.device(device):
        model = GPT(model_cfg)
    model = model.to(dtype=dtype)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    forward = torch.compile(model) if config.compile else model

    def step() -> None:
        loss = chunked_cross_entropy(forward(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(config.warmup_steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    timer = _timer(device)
    times = [timer(step) for _ in range(config.timed_steps)]
    return times, profile_step(step, device) if config.profile_kernels else None


def measure_case(
    name: str, attention: str, context: int, config: BenchTrainConfig, device: torch.device
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Time training steps of one model/attention/context: a row of the CSV, and with
    ``profile_kernels`` the case's rows of the kernel table (empty otherwise, or out of memory)."""
    dtype = _dtype(config, device)
    model_cfg = case_config(name, attention, context, config.model_overrides)
    row: dict[str, Any] = {
        "model": name,
        "attention": attention,
        "model_name": model_cfg.name,
        "context": context,
        "micro_batch_size": config.micro_batch_size,
        "tokens_per_step": config.micro_batch_size * context,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "compile": config.compile,
        "timed_steps": config.timed_steps,
    }
    kernels = None
    try:
        with environment_set(ENVIRONMENTS.get(attention, {})):
            times, kernels = _time_steps(model_cfg, config, device, dtype)
    except torch.OutOfMemoryError:
        times = None
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if times is None:
        row["status"] = "oom"
        return row, []
    median = statistics.median(times)
    row.update(
        status="ok",
        step_ms_median=median,
        step_ms_q10=_quantile(times, 0.1),
        step_ms_q90=_quantile(times, 0.9),
        tokens_per_s=row["tokens_per_step"] / (median / 1e3),
        peak_memory_gib=(
            torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        ),
    )
    case = {"model": name, "attention": attention, "context": context}
    return row, [{**case, **k} for k in kernels or []]


def add_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill ``fraction_of_none`` and ``speedup_vs_softmax`` from rows of the same model/context."""
    speed = {
        (row["model"], row["context"], row["attention"]): row.get("tokens_per_s")
        for row in rows
        if row.get("status") == "ok"
    }
    for row in rows:
        own = speed.get((row["model"], row["context"], row["attention"]))
        for column, peer in (("fraction_of_none", "none"), ("speedup_vs_softmax", "softmax")):
            other = speed.get((row["model"], row["context"], peer))
            row[column] = own / other if own and other else None
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path, columns: tuple[str, ...] = COLUMNS) -> None:
    """Write the rows (``columns``, empty for missing values) atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in columns})
    os.replace(tmp, path)


def plot(rows: list[dict[str, Any]], stem: Path, sidecar: dict[str, Any]) -> list[Path]:
    """Tokens/s against context (top) and the fraction of the attention-removed bound (bottom)."""
    from fastmax.plots import pyplot, save_figure

    plt = pyplot()
    models = list(dict.fromkeys(row["model"] for row in rows))
    attentions = list(dict.fromkeys(row["attention"] for row in rows))
    fig, axes = plt.subplots(
        2, len(models), figsize=(5.2 * len(models), 7.4), squeeze=False, sharex="col"
    )
    for col, model in enumerate(models):
        for attention in attentions:
            ok = [
                r
                for r in rows
                if r["model"] == model and r["attention"] == attention and r["status"] == "ok"
            ]
            label, color = STYLES[attention]
            contexts = [r["context"] for r in ok]
            tokens_per_s = [r["tokens_per_s"] for r in ok]
            axes[0][col].plot(contexts, tokens_per_s, "o-", color=color, label=label)
            if attention != "none":
                fractions = [r["fraction_of_none"] for r in ok]
                axes[1][col].plot(contexts, fractions, "o-", color=color, label=label)
        axes[0][col].set_title(model)
        axes[1][col].axhline(0.9, color="grey", linestyle=":", label="90 % of bound")
        axes[1][col].set_xlabel("context (tokens)")
        axes[1][col].set_xscale("log", base=2)
        contexts = sorted({r["context"] for r in rows if r["model"] == model})
        axes[1][col].set_xticks(contexts, [str(c) for c in contexts])
        axes[0][col].legend()
        axes[1][col].legend()
    axes[0][0].set_ylabel("tokens/s (training step)")
    axes[1][0].set_ylabel("fraction of attention-removed tokens/s")
    paths = save_figure(fig, stem, sidecar)
    plt.close(fig)
    return paths


def bench_train(config: BenchTrainConfig, out_dir: str | Path) -> Path:
    """Run every case of ``config``; write the CSV, the figure and environment.json into out_dir."""
    from fastmax.provenance import environment, write_json

    out_dir = Path(out_dir)
    device = _device(config)
    cases = [
        (name, context, attention)
        for name in config.models
        for context in config.contexts
        for attention in config.attentions
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / CSV_NAME
    partial = csv_path.with_name(CSV_NAME + ".partial")
    kernels_partial = out_dir / (KERNELS_CSV_NAME + ".partial")
    rows: list[dict[str, Any]] = []
    kernels: list[dict[str, Any]] = []
    for name, context, attention in tqdm(cases, desc="bench-train", unit="case"):
        row, case_kernels = measure_case(name, attention, context, config, device)
        rows.append(row)
        write_csv(rows, partial)  # a killed run keeps the cases it measured
        if config.profile_kernels:
            kernels.extend(case_kernels)
            write_csv(kernels, kernels_partial, KERNEL_COLUMNS)
    add_ratios(rows)
    env = environment()
    write_json(out_dir / "environment.json", env)
    write_csv(rows, csv_path)
    partial.unlink()
    if config.profile_kernels:
        kernels_partial.replace(out_dir / KERNELS_CSV_NAME)
    plot(rows, out_dir / FIGURE_STEM, {"config": to_plain(config), "environment": env})
    return csv_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line arguments of ``fastmax bench-train``."""
    parser.add_argument("--config", required=True, type=Path, help="bench-train YAML")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    add_set_argument(parser, "contexts=[2048]")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``fastmax bench-train``."""
    config = load_bench_config(args.config, args.set)
    print(bench_train(config, args.out))
    return 0
