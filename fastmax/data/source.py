"""Where Wiki40B parquet files come from, and reading their documents a row group at a time.

A source is a local folder in Wiki40B's layout (``SRC/en/train*.parquet``,
``SRC/en/validation*.parquet``, ``SRC/en/test*.parquet``, or ``SRC`` being the ``en`` folder
itself), or ``hf:google/wiki40b``, downloaded from the Hugging Face Hub into its cache. Files are
checked before any work starts (readable parquet, a ``text`` column of strings); a problem found
later, while reading, is raised as ``ValueError`` naming the file. Only the ``text`` column is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

LANGUAGE = "en"
HF_PREFIX = "hf:"
HF_DATASET = "google/wiki40b"
SPLIT_FILES = {"train": "train", "val": "validation", "test": "test"}
"""Our split name to the Wiki40B file prefix."""
TEXT_COLUMN = "text"
READ_BATCH_ROWS = 1024


@dataclass(frozen=True)
class Source:
    """A folder of Wiki40B parquet files and where it came from."""

    folder: Path
    origin: str
    revision: str | None = None


@dataclass(frozen=True)
class RowGroup:
    """The first ``rows`` documents of one row group of one parquet file."""

    path: Path
    index: int
    rows: int


def download_hf(dataset: str, splits: Sequence[str]) -> Source:
    """Download the ``en`` parquet files of ``splits`` of a Hub dataset (needs network)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    patterns = [f"{LANGUAGE}/{SPLIT_FILES[split]}-*.parquet" for split in splits]
    try:
        snapshot = snapshot_download(repo_id=dataset, repo_type="dataset", allow_patterns=patterns)
    except (HfHubHTTPError, OSError) as error:
        include = " ".join(f"'{pattern}'" for pattern in patterns)
        raise ConnectionError(
            f"--source {HF_PREFIX}{dataset}: could not download from the Hugging Face Hub "
            f"({type(error).__name__}: {error}). Without network access, fetch the files on a "
            f"machine that has it: `hf download {dataset} --repo-type dataset --include {include} "
            "--local-dir DIR`, copy DIR here and pass --source DIR"
        ) from error
    snapshot_path = Path(snapshot)
    return Source(
        folder=snapshot_path / LANGUAGE,
        origin=f"{HF_PREFIX}{dataset}",
        revision=snapshot_path.name,
    )


def resolve(source: str | Path, splits: Sequence[str]) -> Source:
    """The folder holding the ``en`` parquet files named by ``--source``."""
    for split in splits:
        if split not in SPLIT_FILES:
            raise ValueError(
                f"--splits: unknown split {split!r}; expected one of {list(SPLIT_FILES)}"
            )
    text = str(source)
    if text.startswith(HF_PREFIX):
        dataset = text[len(HF_PREFIX) :]
        if dataset != HF_DATASET:
            raise ValueError(f"--source {text}: the only Hub dataset supported is {HF_DATASET}")
        return download_hf(dataset, splits)
    folder = Path(text)
    if not folder.is_dir():
        raise FileNotFoundError(f"--source {folder}: folder not found")
    if (folder / LANGUAGE).is_dir():
        folder = folder / LANGUAGE
    return Source(folder=folder, origin=str(Path(text).resolve()))


def split_files(folder: Path, split: str) -> list[Path]:
    """The parquet files of one split, sorted by name; at least one or FileNotFoundError."""
    prefix = SPLIT_FILES[split]
    files = sorted(path for path in folder.glob(f"{prefix}*.parquet") if path.is_file())
    if not files:
        raise FileNotFoundError(
            f"{folder}: no {prefix}*.parquet files for split {split!r} (expected Wiki40B's layout: "
            f"{LANGUAGE}/train*.parquet, {LANGUAGE}/validation*.parquet, {LANGUAGE}/test*.parquet)"
        )
    return files


def open_checked(path: Path) -> pq.ParquetFile:
    """Open a parquet file whose ``text`` column holds strings, or raise naming the file."""
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{path}: not a readable parquet file ({error})") from error
    schema = parquet.schema_arrow
    if TEXT_COLUMN not in schema.names:
        raise ValueError(
            f"{path}: no {TEXT_COLUMN!r} column (found {schema.names}); expected Wiki40B's schema "
            "wikidata_id, text, version_id"
        )
    kind = schema.field(TEXT_COLUMN).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or _is_binary(kind)):
        raise ValueError(f"{path}: column {TEXT_COLUMN!r} holds {kind}, expected strings")
    return parquet


def row_groups(files: Sequence[Path], max_docs: int | None = None) -> list[RowGroup]:
    """Every row group of ``files`` in order, cut after ``max_docs`` documents if given."""
    groups = []
    remaining = max_docs
    for path in files:
        metadata = open_checked(path).metadata
        for index in range(metadata.num_row_groups):
            rows = metadata.row_group(index).num_rows
            if remaining is not None:
                rows = min(rows, remaining)
                remaining -= rows
            if rows > 0:
                groups.append(RowGroup(path=path, index=index, rows=rows))
            if remaining == 0:
                return groups
    return groups


def read_texts(group: RowGroup) -> Iterator[str]:
    """The ``text`` values of a row group as strict UTF-8, null as ``""``; errors name the file."""
    seen = 0
    try:
        parquet = open_checked(group.path)
        first_row = sum(parquet.metadata.row_group(i).num_rows for i in range(group.index))
        batches = parquet.iter_batches(
            batch_size=READ_BATCH_ROWS, row_groups=[group.index], columns=[TEXT_COLUMN]
        )
        for batch in batches:
            column = batch.column(0)
            raw = column if _is_binary(column.type) else column.view(_binary_of(column.type))
            for value in raw.to_pylist():
                if seen == group.rows:
                    return
                yield _decode(value, group.path, first_row + seen)
                seen += 1
    except (pa.ArrowException, OSError) as error:
        raise ValueError(
            f"{group.path}: unreadable parquet data in row group {group.index} ({error})"
        ) from error


def _decode(value: bytes | None, path: Path, row: int) -> str:
    if value is None:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: row {row}: {TEXT_COLUMN!r} is not valid UTF-8 "
            f"({error.reason} at byte {error.start})"
        ) from None


def _is_binary(kind: pa.DataType) -> bool:
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def _binary_of(kind: pa.DataType) -> pa.DataType:
    return pa.large_binary() if pa.types.is_large_string(kind) else pa.binary()
