"""``fastmax train``: LitGPT's own pretraining loop on a softmax or Fastmax model.

    fastmax train --config workflow/config/train/smoke-linear.yaml [--out DIR] [--set key=value ...]

The configuration (YAML, checked by :class:`TrainConfig`; unknown keys fail) names a model
registered by :mod:`fastmax.model`, the LitData shards written by ``fastmax prepare``
(``data.path`` holds ``train/`` and ``val/``), LitGPT's ``TrainArgs``/``EvalArgs`` and the
optimizer. ``--set`` overrides any key (``--set data.path=DIR tokenizer_dir=DIR``).

What runs is ``litgpt.pretrain.main`` (and its ``fit``), with two hooks scoped to the run:
``litgpt.pretrain.GPT`` builds :class:`fastmax.model.GPT` (the attention follows the config) and
``litgpt.pretrain.save_checkpoint`` writes checkpoints atomically (a temporary folder renamed into
place, so a killed run never leaves a half-written ``step-*``), with the model config (which
attention), the tokenizer files and this run's configuration beside the weights. With
``compile: false`` dynamo is disabled for the run, so LitGPT's ``torch.compile`` is a no-op.

Outputs under ``out_dir``: ``step-XXXXXXXX/`` and ``final/`` checkpoints (``lit_model.pth``,
``model_config.yaml``, ``train_config.yaml``, tokenizer files), ``logs/csv/version_N/metrics.csv``
(one version per launch; TensorBoard under ``logs/tensorboard`` when listed in ``loggers``),
``metrics.csv`` (all launches merged: rows that a resumed launch recomputed are taken from it),
``train_config.yaml`` and ``environment.json``. ``keep_checkpoints: K`` keeps only the newest K
``step-*`` checkpoints (resuming needs the newest alone).

Resuming: ``resume: auto`` continues from the newest ``step-*`` checkpoint when there is one
(model, optimizer, data-loader position, iteration and step counters), so a killed run loses only
the steps after its last checkpoint and repeats none that the checkpoint holds. ``true`` requires
a checkpoint, ``false`` refuses an ``out_dir`` that already holds one.

Several GPUs (Lightning Fabric, ``strategy: ddp`` or ``fsdp``; ``auto`` is LitGPT's choice:
FSDP when more than one device). ``global_batch_size`` stays the batch of one optimizer step;
gradient accumulation is derived from it and the number of processes.

* One node, G GPUs: ``--set devices=G``. Fabric starts the other G-1 processes itself by
  re-running the same command line.
* SLURM, N nodes with G GPUs each: one task per GPU, Fabric reads the SLURM environment::

      #SBATCH --nodes=N --ntasks-per-node=G --gpus-per-node=G
      srun fastmax train --config paper-linear.yaml --set devices=G num_nodes=N
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import importlib
import inspect
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from litgpt.args import EvalArgs, TrainArgs

from fastmax.config_file import add_set_argument, load_config, to_plain

CHECKPOINT_GLOB = "step-*/lit_model.pth"
PARTIAL_PREFIX = ".partial-"
UNSUPPORTED_TRAIN_KEYS = ("epochs", "max_steps", "max_time")


@dataclass(frozen=True)
class ModelSection:
    """Which model: a registered name and overrides of its ``ModelConfig`` fields."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataSection:
    """LitData shards: ``path`` holds ``train/`` and ``val/`` (written by ``fastmax prepare``)."""

    path: str
    num_workers: int = 2
    seed: int = 42


@dataclass(frozen=True)
class OptimizerSection:
    """A ``torch.optim`` class and its arguments (learning rate, weight decay, betas)."""

    class_path: str = "torch.optim.AdamW"
    init_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """One pretraining run (see the module docstring)."""

    model: ModelSection
    data: DataSection
    out_dir: str
    train: TrainArgs
    eval: EvalArgs = field(default_factory=EvalArgs)
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    tokenizer_dir: str | None = None
    precision: Literal["bf16-true", "bf16-mixed", "16-mixed", "32-true"] = "bf16-true"
    seed: int = 42
    resume: bool | Literal["auto"] = "auto"
    compile: bool = True
    accelerator: Literal["auto", "cpu", "cuda"] = "auto"
    devices: int | Literal["auto"] = 1
    num_nodes: int = 1
    strategy: Literal["auto", "ddp", "fsdp"] = "auto"
    loggers: list[Literal["csv", "tensorboard"]] = field(default_factory=lambda: ["csv"])
    keep_checkpoints: int | None = None


def load_train_config(
    path: str | Path, overrides: list[str] | None = None, out_dir: str | Path | None = None
) -> TrainConfig:
    """Read and check a training configuration; ``out_dir`` replaces the file's ``out_dir``."""
    extra = list(overrides or [])
    if out_dir is not None:
        extra.append(f"out_dir={yaml.safe_dump(str(out_dir)).strip()}")
    config = load_config(path, TrainConfig, extra)
    check_train_config(config, where=str(path))
    return config


def check_train_config(config: TrainConfig, where: str) -> None:
    """Checks that need more than types: settings ``litgpt.pretrain`` ignores or rejects."""
    for key in UNSUPPORTED_TRAIN_KEYS:
        if getattr(config.train, key) is not None:
            raise ValueError(
                f"{where}: train.{key} is not honoured by litgpt.pretrain; "
                "set the run length with train.max_tokens"
            )
    if config.train.max_tokens is None or config.train.max_tokens < 1:
        raise ValueError(f"{where}: train.max_tokens must be a positive number of tokens")
    if config.train.max_norm is None:
        raise ValueError(f"{where}: train.max_norm (gradient clipping) is required")
    if config.eval.max_new_tokens is not None:
        raise ValueError(f"{where}: eval.max_new_tokens is not used in pretraining; remove it")
    for key in ("global_batch_size", "micro_batch_size", "log_interval"):
        if getattr(config.train, key) < 1:
            raise ValueError(f"{where}: train.{key} must be at least 1")
    if "csv" not in config.loggers:
        raise ValueError(f"{where}: loggers must include 'csv' (metrics.csv is merged from it)")
    if isinstance(config.devices, int) and config.devices < 1:
        raise ValueError(f"{where}: devices must be 'auto' or a positive integer")
    if config.num_nodes < 1:
        raise ValueError(f"{where}: num_nodes must be at least 1")
    if config.keep_checkpoints is not None and config.keep_checkpoints < 1:
        raise ValueError(f"{where}: keep_checkpoints must be null (keep all) or at least 1")
    _optimizer_class(config.optimizer, where)
    from fastmax.model import model_config

    model_config(config.model.name, **config.model.overrides)


def _optimizer_class(section: OptimizerSection, where: str) -> type:
    module_name, _, class_name = section.class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(
            f"{where}: optimizer.class_path {section.class_path!r} is not importable ({error})"
        ) from error
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(section.init_args) - accepted)
    if unknown:
        raise ValueError(
            f"{where}: optimizer.init_args {unknown} are not arguments of {section.class_path}"
        )
    return cls


def checkpoints(out_dir: Path) -> list[Path]:
    """The complete ``step-*`` checkpoints in ``out_dir``, oldest first."""
    found = [path.parent for path in out_dir.glob(CHECKPOINT_GLOB)]
    return sorted(found, key=lambda path: int(path.name.split("-")[1]))


def _check_data(config: TrainConfig) -> Path:
    data_path = Path(config.data.path)
    for split in ("train", "val"):
        index = data_path / split / "index.json"
        if not index.is_file():
            raise FileNotFoundError(
                f"data.path {str(data_path)!r} has no {split}/index.json; expected the LitData "
                "shards written by `fastmax prepare` (folders train/ and val/)"
            )
    return data_path


def _check_resume(config: TrainConfig, model_config: Any) -> None:
    existing = checkpoints(Path(config.out_dir))
    if config.resume is False and existing:
        raise ValueError(
            f"out_dir {config.out_dir!r} already holds checkpoints ({existing[-1].name}); "
            "set resume: auto to continue, or choose another out_dir"
        )
    if config.resume is True and not existing:
        raise FileNotFoundError(f"resume: true but out_dir {config.out_dir!r} has no checkpoint")
    if existing and config.resume is not False:
        saved = yaml.safe_load((existing[-1] / "model_config.yaml").read_text())
        if saved != asdict(model_config):
            changed = sorted(
                key
                for key in set(saved) | set(asdict(model_config))
                if saved.get(key) != asdict(model_config).get(key)
            )
            raise ValueError(
                f"out_dir {config.out_dir!r} holds a checkpoint of another model "
                f"(fields {changed} differ); resume with the same model or choose another out_dir"
            )


def save_checkpoint(
    fabric: Any,
    state: dict,
    tokenizer_dir: Path | None,
    checkpoint_file: Path,
    *,
    run_config: dict,
    keep: int | None = None,
) -> None:
    """LitGPT's checkpoint, written to a temporary folder and renamed into place when complete.

    With ``keep``, only the newest ``keep`` ``step-*`` checkpoints remain afterwards.
    """
    from litgpt.utils import copy_config_files, save_config

    target = checkpoint_file.parent
    partial = target.with_name(PARTIAL_PREFIX + target.name)
    if fabric.global_rank == 0:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    fabric.barrier()
    fabric.print(f"Saving checkpoint to {str(checkpoint_file)!r}")
    fabric.save(partial / checkpoint_file.name, state)
    if fabric.global_rank == 0:
        if tokenizer_dir is not None:
            copy_config_files(tokenizer_dir, partial)
        save_config(state["model"].config, partial)
        (partial / "train_config.yaml").write_text(yaml.safe_dump(run_config, sort_keys=False))
        stale = target.with_name(PARTIAL_PREFIX + "old-" + target.name)
        if target.exists():
            target.rename(stale)
        partial.rename(target)
        shutil.rmtree(stale, ignore_errors=True)
        if keep is not None:
            for old in checkpoints(target.parent)[:-keep]:
                shutil.rmtree(old)
    fabric.barrier()


@contextlib.contextmanager
def litgpt_hooks(run_config: dict, compile_model: bool, keep: int | None) -> Iterator[None]:
    """Point ``litgpt.pretrain`` at our model class and checkpoint writer for one run."""
    import litgpt.pretrain
    import torch

    from fastmax.model import GPT

    saved = {"GPT": litgpt.pretrain.GPT, "save_checkpoint": litgpt.pretrain.save_checkpoint}
    litgpt.pretrain.GPT = GPT
    litgpt.pretrain.save_checkpoint = functools.partial(
        save_checkpoint, run_config=run_config, keep=keep
    )
    try:
        if compile_model:
            yield
        else:
            with torch._dynamo.config.patch(disable=True):
                yield
    finally:
        for name, value in saved.items():
            setattr(litgpt.pretrain, name, value)


def _strategy(config: TrainConfig, world_size: int) -> Any:
    from lightning.fabric.strategies import FSDPStrategy
    from litgpt.model import Block

    if config.strategy == "ddp":
        return "ddp"
    if config.strategy == "auto" and world_size == 1:
        return "auto"
    return FSDPStrategy(
        auto_wrap_policy={Block}, state_dict_type="full", sharding_strategy="HYBRID_SHARD"
    )


def _loggers(config: TrainConfig, out_dir: Path, max_iters: int) -> list:
    from litgpt.utils import choose_logger

    from fastmax.model.progress import ProgressLogger

    loggers = [
        choose_logger(name, out_dir, name="pretrain", log_interval=config.train.log_interval)
        for name in config.loggers
    ]
    return [*loggers, ProgressLogger(total=max_iters)]


def train(config: TrainConfig) -> Path:
    """Run one pretraining job (every process of a multi-GPU job calls this); return out_dir."""
    import lightning as L
    import litgpt.pretrain
    from litgpt.data import LitData
    from litgpt.utils import parse_devices

    from fastmax.model import model_config
    from fastmax.provenance import environment, write_json
    from fastmax.train_curves import merge_run_logs

    data_path = _check_data(config)
    tokenizer_dir = Path(config.tokenizer_dir) if config.tokenizer_dir else None
    if tokenizer_dir is not None and not tokenizer_dir.is_dir():
        raise FileNotFoundError(f"tokenizer_dir {str(tokenizer_dir)!r} is not a folder")
    model = model_config(config.model.name, **config.model.overrides)
    _check_resume(config, model)
    devices = parse_devices(config.devices)
    world_size = devices * config.num_nodes
    per_step = config.train.micro_batch_size * world_size
    if config.train.global_batch_size % per_step:
        raise ValueError(
            f"train.global_batch_size ({config.train.global_batch_size}) must be a multiple of "
            f"micro_batch_size x devices x num_nodes ({per_step})"
        )
    seq_length = config.train.max_seq_length or model.block_size
    tokens_per_iter = config.train.micro_batch_size * seq_length * world_size
    max_iters = config.train.max_tokens // tokens_per_iter
    out_dir = Path(config.out_dir)
    run_config = to_plain(config)

    fabric = L.Fabric(
        accelerator=config.accelerator,
        devices=devices,
        num_nodes=config.num_nodes,
        strategy=_strategy(config, world_size),
        precision=config.precision,
        loggers=_loggers(config, out_dir, max_iters),
    )
    fabric.launch()
    if fabric.global_rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "train_config.yaml").write_text(yaml.safe_dump(run_config, sort_keys=False))
        write_json(out_dir / "environment.json", environment())
    data = LitData(
        data_path=data_path,
        split_names=("train", "val"),
        seed=config.data.seed,
        num_workers=config.data.num_workers,
    )
    with litgpt_hooks(run_config, compile_model=config.compile, keep=config.keep_checkpoints):
        litgpt.pretrain.main(
            fabric=fabric,
            devices=devices,
            num_nodes=config.num_nodes,
            seed=config.seed,
            initial_checkpoint_dir=None,
            resume=config.resume,
            config=model,
            data=data,
            out_dir=out_dir,
            tokenizer_dir=tokenizer_dir,
            tokenizer=None,
            train=copy.deepcopy(config.train),
            eval=copy.deepcopy(config.eval),
            optimizer=to_plain(config.optimizer),
        )
    for logger in fabric.loggers:
        logger.finalize("success")
    if fabric.global_rank == 0:
        merge_run_logs(out_dir, config.train.global_batch_size // per_step, tokens_per_iter)
    return out_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line arguments of ``fastmax train``."""
    parser.add_argument("--config", required=True, type=Path, help="training YAML")
    parser.add_argument("--out", type=Path, help="output folder (replaces out_dir of the config)")
    add_set_argument(parser, "data.path=DIR train.max_tokens=100000")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``fastmax train``."""
    config = load_train_config(args.config, args.set, args.out)
    out_dir = train(config)
    # Launchers name the process's rank in one of these (torchrun, SLURM's srun).
    rank = os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0"))
    if int(rank) == 0:
        print(f"fastmax train: checkpoints and metrics in {out_dir}")
    return 0
