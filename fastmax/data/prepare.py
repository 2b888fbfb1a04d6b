"""The command ``fastmax prepare``: the sample corpus, or Wiki40B tokenized into training shards.

``fastmax prepare sample --out DIR`` writes the small public-domain corpus of the smoke run in
Wiki40B's layout (``fastmax.data.sample``).

``fastmax prepare wiki40b --source SRC --tokenizer DIR --out OUT [--splits train val]
[--workers N] [--max-docs N] [--chunk-bytes N]`` reads Wiki40B parquet files (a local folder or
``hf:google/wiki40b``, see ``fastmax.data.source``), cleans the markup (``fastmax.data.wiki40b``),
tokenizes with LitGPT's tokenizer from ``DIR`` and writes, for each split, litdata shards in
``OUT/<split>`` (``fastmax.data.shards``; ``val`` is Wiki40B's ``validation``) that
``litgpt.data.LitData(data_path=OUT, split_names=("train", "val"))`` reads, plus
``OUT/manifest.json``: documents read, kept and dropped and tokens per split, every source file
with its sha256, the tokenizer files' sha256, the token format, the options and the code version.
``--max-docs N`` keeps the first N documents of each split. Everything is checked before work
starts and written into a temporary folder beside ``OUT`` that is renamed to ``OUT`` at the end;
on an error, Ctrl-C or SIGTERM it is removed, so ``OUT`` is complete or absent.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastmax.data import sample, shards, source
from fastmax.data.staging import ensure_absent, interrupts_raise, staged_folder
from fastmax.provenance import environment, file_sha256, git_state, write_json

DEFAULT_SPLITS = ("train", "val")
DEFAULT_CHUNK_BYTES = 64 * 2**20
MANIFEST_FORMAT = 1
INTERRUPTED = 130


def _positive(name: str, value: int | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def _file_record(path: Path) -> dict[str, Any]:
    return {
        "name": path.name,
        "path": str(path.resolve()),
        "bytes": path.stat().st_size,
        "rows": source.open_checked(path).metadata.num_rows,
        "sha256": file_sha256(path),
    }


def _tokenizer_record(folder: Path, tokenizer: Any) -> dict[str, Any]:
    files = sorted(path for path in folder.iterdir() if path.is_file())
    return {
        "folder": str(folder.resolve()),
        "files": {path.name: file_sha256(path) for path in files},
        "vocab_size": tokenizer.vocab_size,
        "bos_id": tokenizer.bos_id,
        "eos_id": tokenizer.eos_id,
    }


def prepare_wiki40b(
    source_spec: str | Path,
    tokenizer_dir: str | Path,
    out: str | Path,
    *,
    splits: Sequence[str] = DEFAULT_SPLITS,
    workers: int = 1,
    max_docs: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> dict[str, Any]:
    """Tokenize Wiki40B splits into ``out`` (see the module docstring); returns the manifest."""
    splits = list(splits)
    if not splits or len(set(splits)) != len(splits):
        raise ValueError(f"--splits: expected distinct split names, got {splits}")
    _positive("--workers", workers)
    _positive("--max-docs", max_docs, optional=True)
    _positive("--chunk-bytes", chunk_bytes)
    out = Path(out)
    ensure_absent(out)
    tokenizer_dir = Path(tokenizer_dir)
    tokenizers = shards.TokenizerPool(tokenizer_dir, workers)
    tokenizer, dtype = tokenizers.tokenizer, tokenizers.dtype
    located = source.resolve(source_spec, splits)
    files = {split: source.split_files(located.folder, split) for split in splits}
    plan = {split: source.row_groups(files[split], max_docs) for split in splits}

    with staged_folder(out) as tmp, tokenizers:
        split_records = {}
        for split in splits:
            counts = shards.write_split(
                plan[split], tokenizers, tmp / split, chunk_bytes=chunk_bytes, name=split
            )
            used = sorted({group.path for group in plan[split]})
            split_records[split] = {
                "source_split": source.SPLIT_FILES[split],
                **asdict(counts),
                "files": [_file_record(path) for path in used],
            }
        manifest = {
            "manifest_format": MANIFEST_FORMAT,
            "format": {
                "reader": "litdata.streaming.StreamingDataset with TokensLoader(block_size)",
                "item": "one per kept document, in source order: "
                "Tokenizer.encode(fastmax.data.wiki40b.clean(text), bos=False, eos=True)",
                "token_dtype": dtype.name,
                "eos_id": tokenizer.eos_id,
                "bos_added": False,
                "eos_after_each_document": True,
                "chunk_bytes": chunk_bytes,
            },
            "splits": split_records,
            "source": {
                "spec": str(source_spec),
                "origin": located.origin,
                "folder": str(located.folder.resolve()),
                "revision": located.revision,
            },
            "tokenizer": _tokenizer_record(tokenizer_dir, tokenizer),
            "options": {
                "splits": splits,
                "workers": workers,
                "max_docs": max_docs,
                "chunk_bytes": chunk_bytes,
            },
            "code": git_state(),
            "environment": environment(extra_packages=("pyarrow", "tokenizers")),
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fastmax prepare`` and its two sub-commands."""
    sub = parser.add_subparsers(dest="what", required=True, metavar="{wiki40b,sample}")
    wiki = sub.add_parser("wiki40b", help="tokenize Wiki40B parquet files into litdata shards")
    wiki.add_argument(
        "--source",
        required=True,
        help=f"folder in Wiki40B's layout (holding en/ or being it), or {source.HF_PREFIX}"
        f"{source.HF_DATASET} to download from the Hugging Face Hub",
    )
    wiki.add_argument("--tokenizer", required=True, type=Path, help="tokenizer folder")
    wiki.add_argument("--out", required=True, type=Path, help="folder to create")
    wiki.add_argument(
        "--splits",
        nargs="+",
        choices=list(source.SPLIT_FILES),
        default=list(DEFAULT_SPLITS),
        help="splits to write (val is Wiki40B's validation split)",
    )
    wiki.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="tokenizing processes (default: all cores); the output does not depend on it",
    )
    wiki.add_argument(
        "--max-docs", type=_positive_int, default=None, help="first N documents of each split"
    )
    wiki.add_argument(
        "--chunk-bytes",
        type=_positive_int,
        default=DEFAULT_CHUNK_BYTES,
        help="target size of one litdata chunk file in bytes",
    )
    corpus = sub.add_parser("sample", help="write the small public-domain sample corpus")
    corpus.add_argument("--out", required=True, type=Path, help="folder to create (holds en/)")


def run(args: argparse.Namespace) -> int:
    """Run the chosen sub-command; an interrupt (Ctrl-C, SIGTERM) returns 130 with no output."""
    try:
        with interrupts_raise():
            if args.what == "sample":
                print(f"wrote {sample.write_sample(args.out)}")
                return 0
            manifest = prepare_wiki40b(
                args.source,
                args.tokenizer,
                args.out,
                splits=args.splits,
                workers=args.workers,
                max_docs=args.max_docs,
                chunk_bytes=args.chunk_bytes,
            )
    except KeyboardInterrupt:
        print(f"fastmax prepare: interrupted; {args.out} was not written", file=sys.stderr)
        return INTERRUPTED
    for split, record in manifest["splits"].items():
        print(
            f"{split}: {record['documents_kept']} documents ({record['documents_dropped_empty']} "
            f"empty dropped), {record['tokens']} tokens in {record['chunks']} chunks"
        )
    print(f"wrote {args.out}")
    return 0
