"""``fastmax prepare wiki40b`` on generated parquet in Wiki40B's schema."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tokenizers
import torch
from litgpt.data import LitData
from litgpt.tokenizer import Tokenizer

from fastmax.cli import main
from fastmax.data import prepare, source
from fastmax.data.sample import write_wiki40b_parquet
from fastmax.data.tokenizer import build_gpt2
from fastmax.data.wiki40b import clean

REPO = Path(__file__).resolve().parent.parent
WORDS = ["the", "a", "of", "station", "river", "history", "built", "in", "by", "north"]
WORDS += ["café", "1905", "école", "Zürich", "東京", "naïve", "—", "(", ")", ","]
EMPTY = ["", "\n_START_ARTICLE_\n\n_START_PARAGRAPH_\n\n", "   "]


def article(rng: random.Random, number: int) -> str:
    """A random Wiki40B document: title, a lead paragraph, sections with paragraphs."""
    words = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731
    parts = [f"\n_START_ARTICLE_\nArticle {number} {words(2)}\n_START_PARAGRAPH_\n{words(30)}\n"]
    for section in range(rng.randint(0, 3)):
        parts.append(f"_START_SECTION_\nSection {section}\n")
        lines = [words(rng.randint(3, 40)) for _ in range(rng.randint(1, 3))]
        parts.append("_START_PARAGRAPH_\n" + "_NEWLINE_".join(lines) + "\n")
    return "".join(parts)


def corpus_texts(seed: int, count: int, empty_every: int = 9) -> list[str]:
    rng = random.Random(seed)
    return [
        EMPTY[i % len(EMPTY)] if i % empty_every == 4 else article(rng, i) for i in range(count)
    ]


def write_corpus(root: Path) -> dict[str, list[str]]:
    """Wiki40B layout: train in two files with several row groups, validation and test in one."""
    en = root / "en"
    en.mkdir(parents=True)
    texts = {"train": corpus_texts(1, 60), "val": corpus_texts(2, 17), "test": corpus_texts(3, 8)}
    write_wiki40b_parquet(
        en / "train-00000-of-00002.parquet", texts["train"][:35], row_group_rows=8
    )
    write_wiki40b_parquet(
        en / "train-00001-of-00002.parquet", texts["train"][35:], row_group_rows=8
    )
    write_wiki40b_parquet(en / "validation-00000-of-00001.parquet", texts["val"], row_group_rows=5)
    write_wiki40b_parquet(en / "test-00000-of-00001.parquet", texts["test"])
    return texts


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return build_gpt2(tmp_path_factory.mktemp("tok") / "gpt2")


@pytest.fixture(scope="module")
def hf_tokenizer(tokenizer_dir):
    return tokenizers.Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))


@pytest.fixture(scope="module")
def wiki(tmp_path_factory):
    root = tmp_path_factory.mktemp("wiki40b")
    return root, write_corpus(root)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, wiki, tokenizer_dir):
    out = tmp_path_factory.mktemp("prepared") / "out"
    prepare.prepare_wiki40b(wiki[0], tokenizer_dir, out, workers=1, chunk_bytes=4096)
    return out


def expected_stream(texts, hf_tokenizer):
    """Token stream computed directly: cleaned text through the tokenizer, EOS after each."""
    ids = []
    for text in texts:
        cleaned = clean(text)
        if cleaned:
            ids.extend(hf_tokenizer.encode(cleaned).ids)
            ids.append(50256)
    return ids


def read_manifest(out):
    return json.loads((out / "manifest.json").read_text())


def leftovers(parent: Path) -> list[str]:
    return sorted(path.name for path in parent.iterdir() if ".partial-" in path.name)


def test_manifest_counts_match_an_independent_count(prepared, wiki, hf_tokenizer):
    manifest = read_manifest(prepared)
    assert sorted(path.name for path in prepared.iterdir()) == ["manifest.json", "train", "val"]
    for split, texts in wiki[1].items():
        if split == "test":
            assert "test" not in manifest["splits"]
            continue
        record = manifest["splits"][split]
        empty = sum(1 for text in texts if not clean(text))
        assert empty > 0
        assert record["documents_read"] == len(texts)
        assert record["documents_dropped_empty"] == empty
        assert record["documents_kept"] == len(texts) - empty
        assert record["tokens"] == len(expected_stream(texts, hf_tokenizer))
        index = json.loads((prepared / split / "index.json").read_text())
        assert sum(chunk["dim"] for chunk in index["chunks"]) == record["tokens"]
        assert sum(chunk["chunk_size"] for chunk in index["chunks"]) == record["documents_kept"]
        assert record["chunks"] == len(index["chunks"])
    assert manifest["splits"]["train"]["chunks"] > 1


def test_manifest_records_files_tokenizer_format_and_code(prepared, wiki, tokenizer_dir):
    from fastmax.provenance import file_sha256, git_state

    manifest = read_manifest(prepared)
    files = manifest["splits"]["train"]["files"]
    assert [f["name"] for f in files] == [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]
    for record in files:
        path = wiki[0] / "en" / record["name"]
        assert record["sha256"] == file_sha256(path)
        assert record["bytes"] == path.stat().st_size
    assert sum(f["rows"] for f in files) == len(wiki[1]["train"])
    assert manifest["splits"]["val"]["source_split"] == "validation"
    assert manifest["tokenizer"]["files"] == {
        name: file_sha256(tokenizer_dir / name)
        for name in ("provenance.json", "tokenizer.json", "tokenizer_config.json")
    }
    assert manifest["format"]["token_dtype"] == "uint16"
    assert manifest["format"]["eos_id"] == 50256
    assert manifest["format"]["eos_after_each_document"] is True
    assert manifest["options"] == {
        "splits": ["train", "val"],
        "workers": 1,
        "max_docs": None,
        "chunk_bytes": 4096,
    }
    assert manifest["code"]["commit"] == git_state()["commit"]


def test_litgpt_litdata_module_reads_the_shards(prepared, wiki, tokenizer_dir, hf_tokenizer):
    data = LitData(data_path=prepared, split_names=("train", "val"), num_workers=0)
    data.connect(Tokenizer(tokenizer_dir), batch_size=4, max_seq_length=32)
    data.setup()
    batches = list(data.train_dataloader())
    assert len(batches) > 3
    for batch in batches:
        assert batch.shape == (4, 33)
        assert batch.dtype == torch.uint16
    stream = expected_stream(wiki[1]["val"], hf_tokenizer)
    index = json.loads((prepared / "val" / "index.json").read_text())
    rows, start = [], 0
    for chunk in index["chunks"]:
        rows += [stream[start + i : start + i + 33] for i in range(0, chunk["dim"] - 32, 33)]
        start += chunk["dim"]
    assert start == len(stream)
    val = [row for batch in data.val_dataloader() for row in batch.long().tolist()]
    assert len(val) == len(rows) // 4 * 4 > 0
    assert val == rows[: len(val)]


def shard_bytes(out: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(out.rglob("*")):
        if path.suffix == ".bin":
            files[str(path.relative_to(out))] = path.read_bytes()
        elif path.name == "index.json":
            index = json.loads(path.read_text())
            index.pop("updated_at")
            files[str(path.relative_to(out))] = json.dumps(index, sort_keys=True).encode()
    return files


def test_same_inputs_give_byte_identical_shards(prepared, wiki, tokenizer_dir, tmp_path):
    again = tmp_path / "again"
    prepare.prepare_wiki40b(wiki[0], tokenizer_dir, again, workers=1, chunk_bytes=4096)
    first, second = shard_bytes(prepared), shard_bytes(again)
    assert len(first) > 4
    assert first == second


def test_worker_count_does_not_change_the_shards(prepared, wiki, tokenizer_dir, tmp_path):
    parallel = tmp_path / "parallel"
    manifest = prepare.prepare_wiki40b(
        wiki[0], tokenizer_dir, parallel, workers=2, chunk_bytes=4096
    )
    assert manifest["options"]["workers"] == 2
    assert shard_bytes(parallel) == shard_bytes(prepared)


def test_max_docs_and_splits(wiki, tokenizer_dir, hf_tokenizer, tmp_path):
    out = tmp_path / "out"
    manifest = prepare.prepare_wiki40b(
        wiki[0] / "en", tokenizer_dir, out, splits=["test", "train"], max_docs=11
    )
    assert sorted(path.name for path in out.iterdir()) == ["manifest.json", "test", "train"]
    assert manifest["splits"]["test"]["documents_read"] == 8
    train = manifest["splits"]["train"]
    assert train["documents_read"] == 11
    assert train["tokens"] == len(expected_stream(wiki[1]["train"][:11], hf_tokenizer))
    assert [f["name"] for f in train["files"]] == ["train-00000-of-00002.parquet"]


def corrupt_page_header(path: Path, row_group: int) -> None:
    column = pq.ParquetFile(path).metadata.row_group(row_group).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))


def break_source(kind: str, root: Path) -> tuple[Path, str]:
    """Make one kind of bad input inside ``root``; returns --source and the expected message."""
    en = root / "en"
    if kind == "missing folder":
        return root / "nowhere", r"--source .*nowhere: folder not found"
    en.mkdir(parents=True)
    write_wiki40b_parquet(en / "validation-00000-of-00001.parquet", corpus_texts(5, 6))
    train = en / "train-00000-of-00001.parquet"
    if kind == "no parquet files":
        (en / "train.json").write_text("{}")
        return root, r"en: no train\*\.parquet files for split 'train'"
    if kind == "no text column":
        pq.write_table(pa.table({"wikidata_id": ["Q1"], "body": ["x"]}), train)
        return (
            root,
            r"train-00000-of-00001\.parquet: no 'text' column \(found \['wikidata_id', 'body'\]\)",
        )
    if kind == "text column not strings":
        pq.write_table(pa.table({"text": [1, 2]}), train)
        return root, r"train-00000-of-00001\.parquet: column 'text' holds int64, expected strings"
    if kind == "not parquet":
        train.write_bytes(b"this is not a parquet file at all" * 10)
        return root, r"train-00000-of-00001\.parquet: not a readable parquet file"
    if kind == "truncated parquet":
        write_wiki40b_parquet(train, corpus_texts(6, 10))
        train.write_bytes(train.read_bytes()[:-100])
        return root, r"train-00000-of-00001\.parquet: not a readable parquet file"
    if kind == "corrupt page":
        write_wiki40b_parquet(train, corpus_texts(6, 20), row_group_rows=4)
        corrupt_page_header(train, 3)
        return root, r"train-00000-of-00001\.parquet: unreadable parquet data in row group 3"
    if kind == "non-UTF-8 text":
        good = [article(random.Random(7), 0).encode()] * 5
        raw = pa.array([*good, b"caf\xe9 in Latin-1", *good], pa.binary()).view(pa.string())
        pq.write_table(pa.table({"text": raw}), train, row_group_size=4)
        return root, r"train-00000-of-00001\.parquet: row 5: 'text' is not valid UTF-8"
    if kind == "only empty documents":
        write_wiki40b_parquet(train, EMPTY)
        return root, r"split 'train': no document has any text left after cleaning \(3 read"
    raise AssertionError(kind)


BAD_SOURCES = [
    ("missing folder", FileNotFoundError),
    ("no parquet files", FileNotFoundError),
    ("no text column", ValueError),
    ("text column not strings", ValueError),
    ("not parquet", ValueError),
    ("truncated parquet", ValueError),
    ("corrupt page", ValueError),
    ("non-UTF-8 text", ValueError),
    ("only empty documents", ValueError),
]


@pytest.mark.parametrize(("kind", "error"), BAD_SOURCES, ids=[kind for kind, _ in BAD_SOURCES])
def test_bad_source_is_a_clear_error_and_leaves_nothing(kind, error, tokenizer_dir, tmp_path):
    src, message = break_source(kind, tmp_path / "src")
    out = tmp_path / "out"
    with pytest.raises(error, match=message):
        prepare.prepare_wiki40b(src, tokenizer_dir, out, splits=["val", "train"], workers=1)
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_failure_in_the_second_split_leaves_nothing(tokenizer_dir, tmp_path):
    src, _ = break_source("corrupt page", tmp_path / "src")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="row group 3"):
        prepare.prepare_wiki40b(src, tokenizer_dir, out, splits=["val", "train"], workers=2)
    assert not out.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"workers": 0}, ValueError, "--workers: expected a positive integer, got 0"),
        ({"max_docs": 0}, ValueError, "--max-docs: expected a positive integer, got 0"),
        ({"chunk_bytes": -1}, ValueError, "--chunk-bytes: expected a positive integer"),
        ({"splits": []}, ValueError, "--splits: expected distinct split names"),
        ({"splits": ["train", "dev"]}, ValueError, "--splits: unknown split 'dev'"),
    ],
)
def test_bad_options(options, error, message, wiki, tokenizer_dir, tmp_path):
    with pytest.raises(error, match=message):
        prepare.prepare_wiki40b(wiki[0], tokenizer_dir, tmp_path / "out", **options)
    assert sorted(tmp_path.iterdir()) == []


def test_bad_tokenizer_folder(wiki, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--tokenizer .*missing: folder not found"):
        prepare.prepare_wiki40b(wiki[0], tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"--tokenizer .*empty: no tokenizer\.json"):
        prepare.prepare_wiki40b(wiki[0], tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_out_is_refused_and_kept(wiki, tokenizer_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("mine")
    with pytest.raises(FileExistsError, match=r"--out .*out: already exists"):
        prepare.prepare_wiki40b(wiki[0], tokenizer_dir, out)
    assert [path.name for path in out.iterdir()] == ["keep"]


def test_hub_source_offline_says_how_to_provide_the_files(tokenizer_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with pytest.raises(ConnectionError) as caught:
        prepare.prepare_wiki40b("hf:google/wiki40b", tokenizer_dir, tmp_path / "out")
    message = str(caught.value)
    assert "--source hf:google/wiki40b: could not download from the Hugging Face Hub" in message
    assert "hf download google/wiki40b --repo-type dataset" in message
    assert "'en/train-*.parquet' 'en/validation-*.parquet'" in message
    assert "pass --source DIR" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="the only Hub dataset supported is google/wiki40b"):
        source.resolve("hf:someone/else", ["train"])


def test_command_line_end_to_end(tokenizer_dir, tmp_path, capsys):
    corpus = tmp_path / "sample"
    out = tmp_path / "out"
    assert main(["prepare", "sample", "--out", str(corpus)]) == 0
    args = ["prepare", "wiki40b", "--source", str(corpus), "--tokenizer", str(tokenizer_dir)]
    assert main([*args, "--out", str(out), "--workers", "1", "--max-docs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "train: 2 documents (0 empty dropped)" in printed
    manifest = read_manifest(out)
    assert manifest["splits"]["val"]["documents_kept"] == 2
    assert manifest["source"]["folder"] == str((corpus / "en").resolve())
    assert main([*args, "--out", str(out)]) == 2
    assert "fastmax prepare: error: --out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main([*args, "--out", str(tmp_path / "x"), "--workers", "0"])
    assert caught.value.code == 2
    assert "--workers: expected a positive integer" in capsys.readouterr().err


@pytest.fixture(scope="module")
def long_wiki(tmp_path_factory) -> Path:
    """A train split that takes seconds to tokenize, so a signal lands long before the end."""
    root = tmp_path_factory.mktemp("long_wiki40b")
    (root / "en").mkdir()
    texts = corpus_texts(4, 20_000)
    write_wiki40b_parquet(root / "en" / "train-00000-of-00001.parquet", texts, row_group_rows=500)
    return root


def test_sigterm_mid_run_leaves_no_output(long_wiki, tokenizer_dir, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    command = [sys.executable, "-m", "fastmax.cli", "prepare", "wiki40b", "--splits", "train"]
    command += ["--source", str(long_wiki), "--tokenizer", str(tokenizer_dir), "--out", str(out)]
    command += ["--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path), "the run never started writing"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == prepare.INTERRUPTED, stderr.decode(errors="replace")[-4000:]
    assert f"interrupted; {out} was not written".encode() in stderr
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_token_dtype_follows_vocabulary_size(tokenizer_dir):
    from fastmax.data.shards import token_dtype

    tokenizer = Tokenizer(tokenizer_dir)
    assert token_dtype(tokenizer) == np.uint16
    tokenizer.eos_id = 70_000
    assert token_dtype(tokenizer) == np.int32
