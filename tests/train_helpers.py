"""Shared pieces of the training tests: LitData token shards and the ``fastmax train`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
TRAIN_CONFIGS = REPO / "workflow" / "config" / "train"
BENCH_CONFIGS = REPO / "workflow" / "config" / "bench-train"
VOCAB = 512
SUCCESSORS = 4


def markov_document(seed_and_length: tuple[int, int]):
    """One document of a fixed random Markov chain: each token has 4 possible successors.

    A model can learn it quickly (the floor is ln 4 nats per token), so a few steps of training
    lower the loss far below the ln(vocab) of an untrained model.
    """
    seed, length = seed_and_length
    successors = np.random.default_rng(1234).integers(0, VOCAB, size=(VOCAB, SUCCESSORS))
    rng = np.random.default_rng(seed)
    tokens = np.empty(length, dtype=np.int64)
    tokens[0] = rng.integers(VOCAB)
    choices = rng.integers(SUCCESSORS, size=length)
    for i in range(1, length):
        tokens[i] = successors[tokens[i - 1], choices[i]]
    yield torch.tensor(tokens, dtype=torch.int)


def write_token_shards(root: Path, *, train_docs: int = 16, val_docs: int = 2) -> Path:
    """LitData token shards in ``root/train`` and ``root/val`` (what ``fastmax prepare`` writes)."""
    from litdata import TokensLoader, optimize

    for split, first, count in (("train", 0, train_docs), ("val", 10_000, val_docs)):
        optimize(
            fn=markov_document,
            inputs=[(first + i, 2048) for i in range(count)],
            output_dir=str(root / split),
            chunk_size=129 * 64,
            item_loader=TokensLoader(),
            num_workers=1,
            verbose=False,
        )
    return root


def train_command(*args: str) -> list[str]:
    """``fastmax train ARGS`` run by this interpreter."""
    return [sys.executable, "-m", "fastmax.cli", "train", *args]


def subprocess_env() -> dict[str, str]:
    """The environment for child processes: this checkout first on the import path, one thread.

    One intra-op thread per run keeps the timing steady when other work shares the two cores.
    """
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_train(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``fastmax train`` to completion and return the finished process."""
    return subprocess.run(
        train_command(*args),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
