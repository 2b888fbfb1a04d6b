"""Documents to litdata token shards, the format LitGPT's ``LitData`` data module streams.

Format (the contract with training): one litdata item per kept document, in source order (files by
name, row groups and rows in file order); an item is ``Tokenizer.encode(clean(text), bos=False,
eos=True)``, the document's tokens followed by one EOS, stored as a 1-D tensor of ``token_dtype``
(``uint16`` when every id fits, else ``int32``) in ``litdata.streaming.TokensLoader`` layout, so
``StreamingDataset(dir, item_loader=TokensLoader(block_size))`` reads the concatenated stream in
blocks. Documents that clean to nothing are dropped and counted.

Row groups are tokenized by ``workers`` processes, at most two per worker in flight, and their
results are written in order by one litdata ``BinaryWriter`` (the writer ``litdata.optimize`` runs
in each of its workers). The shards are therefore byte-identical for the same inputs whatever the
number of workers; ``optimize`` itself lays chunks out per worker and, by default, hands items to
whichever worker is free.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fastmax.data.source import RowGroup, read_texts
from fastmax.data.wiki40b import clean
from fastmax.environ import environment_set

if TYPE_CHECKING:
    from litgpt.tokenizer import Tokenizer

IN_FLIGHT_PER_WORKER = 2
# litdata's writer reads its rank from these: rank 0 of 1, whatever WORLD_SIZE the environment
# carries.
_SINGLE_WRITER_ENV = {
    "DATA_OPTIMIZER_GLOBAL_RANK": "0",
    "DATA_OPTIMIZER_NUM_WORKERS": "1",
    "DATA_OPTIMIZER_NUM_NODES": "1",
}
_worker_tokenizer: Tokenizer | None = None


@dataclass(frozen=True)
class GroupTokens:
    """Tokens of the kept documents of one row group, concatenated, and the counts."""

    tokens: np.ndarray
    lengths: np.ndarray
    documents_read: int
    documents_dropped: int


@dataclass
class SplitCounts:
    """What one split's shards hold."""

    documents_read: int = 0
    documents_kept: int = 0
    documents_dropped_empty: int = 0
    tokens: int = 0
    chunks: int = 0


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """LitGPT's tokenizer from ``folder``; it must define an EOS token."""
    from litgpt.tokenizer import Tokenizer

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--tokenizer {folder}: folder not found")
    try:
        tokenizer = Tokenizer(folder)
    except NotImplementedError:
        raise FileNotFoundError(
            f"--tokenizer {folder}: no tokenizer.json or tokenizer.model in the folder"
        ) from None
    if tokenizer.eos_id is None:
        raise ValueError(f"--tokenizer {folder}: the tokenizer defines no EOS token")
    return tokenizer


def token_dtype(tokenizer: Tokenizer) -> np.dtype:
    """``uint16`` when every token id (added tokens included) fits, else ``int32``."""
    if tokenizer.backend == "huggingface":
        size = tokenizer.processor.get_vocab_size(with_added_tokens=True)
    else:
        size = tokenizer.vocab_size
    size = max(size, tokenizer.eos_id + 1)
    return np.dtype(np.uint16) if size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


def tokenize_group(group: RowGroup, tokenizer: Tokenizer, dtype: np.dtype) -> GroupTokens:
    """Clean and tokenize the documents of one row group (each followed by EOS)."""
    pieces = []
    read = dropped = 0
    for text in read_texts(group):
        read += 1
        cleaned = clean(text)
        if not cleaned:
            dropped += 1
            continue
        pieces.append(tokenizer.encode(cleaned, bos=False, eos=True).numpy())
    tokens = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    if tokens.size and (tokens.min() < 0 or tokens.max() > np.iinfo(dtype).max):
        raise ValueError(f"{group.path}: token ids outside the range of {dtype}")
    lengths = np.array([len(piece) for piece in pieces], dtype=np.int64)
    return GroupTokens(tokens.astype(dtype), lengths, read, dropped)


def _start_worker(tokenizer_dir: str) -> None:
    """Load the tokenizer once; Ctrl-C is the main process's to handle (it ends the pool)."""
    global _worker_tokenizer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_tokenizer = load_tokenizer(tokenizer_dir)


def _tokenize_in_worker(group: RowGroup, dtype: str) -> GroupTokens:
    assert _worker_tokenizer is not None, "worker started without a tokenizer"
    return tokenize_group(group, _worker_tokenizer, np.dtype(dtype))


class TokenizerPool:
    """Tokenizes row groups in order: in this process, or in ``workers`` spawned processes.

    Use as a context manager; the worker processes, each loading the tokenizer once, live until
    the block ends. At most ``IN_FLIGHT_PER_WORKER`` row groups per worker are queued at a time.
    """

    def __init__(self, tokenizer_dir: Path, workers: int) -> None:
        self.tokenizer = load_tokenizer(tokenizer_dir)
        self.dtype = token_dtype(self.tokenizer)
        self._tokenizer_dir = tokenizer_dir
        self._workers = workers
        self._pool: Pool | None = None

    def __enter__(self) -> TokenizerPool:
        if self._workers > 1:
            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(
                self._workers, initializer=_start_worker, initargs=(str(self._tokenizer_dir),)
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def map(self, groups: Sequence[RowGroup]) -> Iterator[GroupTokens]:
        """``tokenize_group`` of every group, in the order given."""
        if self._pool is None:
            for group in groups:
                yield tokenize_group(group, self.tokenizer, self.dtype)
            return
        window = self._workers * IN_FLIGHT_PER_WORKER
        pending: deque[AsyncResult] = deque()
        for group in groups:
            if len(pending) == window:
                yield pending.popleft().get()
            pending.append(self._pool.apply_async(_tokenize_in_worker, (group, self.dtype.str)))
        while pending:
            yield pending.popleft().get()


def write_split(
    groups: Sequence[RowGroup],
    tokenizers: TokenizerPool,
    out_dir: Path,
    *,
    chunk_bytes: int,
    name: str,
) -> SplitCounts:
    """Write the shards of one split into ``out_dir`` (see the module docstring)."""
    import torch
    from litdata.streaming import TokensLoader
    from litdata.streaming.writer import BinaryWriter
    from tqdm import tqdm

    counts = SplitCounts()
    total = sum(group.rows for group in groups)
    with (
        environment_set(_SINGLE_WRITER_ENV),
        tqdm(total=total, desc=f"tokenizing {name}", unit="doc", dynamic_ncols=True) as bar,
    ):
        writer = BinaryWriter(
            str(out_dir),
            chunk_bytes=chunk_bytes,
            item_loader=TokensLoader(),
            msg_queue=queue.SimpleQueue(),
        )
        for result in tokenizers.map(groups):
            ends = np.cumsum(result.lengths)
            for start, end in zip(ends - result.lengths, ends, strict=True):
                writer.add_item(counts.documents_kept, torch.from_numpy(result.tokens[start:end]))
                counts.documents_kept += 1
            counts.documents_read += result.documents_read
            counts.documents_dropped_empty += result.documents_dropped
            counts.tokens += int(result.tokens.size)
            bar.update(result.documents_read)
            bar.set_postfix(tokens=counts.tokens, refresh=False)
        if counts.documents_kept == 0:
            raise ValueError(
                f"split {name!r}: no document has any text left after cleaning "
                f"({counts.documents_read} read from {sorted({str(g.path) for g in groups})})"
            )
        writer.done()
        writer.merge(num_workers=1)
    counts.chunks = len(list(out_dir.glob("chunk-*.bin")))
    return counts
