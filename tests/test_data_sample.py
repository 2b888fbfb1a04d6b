"""The public-domain sample corpus in Wiki40B's schema and markup."""

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fastmax.data import sample
from fastmax.data.wiki40b import clean

FILES = {
    "train": "train-00000-of-00001.parquet",
    "validation": "validation-00000-of-00001.parquet",
    "test": "test-00000-of-00001.parquet",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return sample.write_sample(tmp_path_factory.mktemp("sample") / "wiki40b")


def test_layout_and_schema_are_wiki40b(corpus):
    assert sorted(path.name for path in corpus.iterdir()) == ["en"]
    assert sorted(path.name for path in (corpus / "en").iterdir()) == sorted(FILES.values())
    for split, name in FILES.items():
        table = pq.read_table(corpus / "en" / name)
        assert table.schema.names == ["wikidata_id", "text", "version_id"]
        assert all(field.type == pa.string() for field in table.schema)
        titles = sample.SPLIT_BOOKS[split]
        assert table.column("wikidata_id").to_pylist() == [f"kjv:{title}" for title in titles]
        assert pq.ParquetFile(corpus / "en" / name).metadata.row_group(0).num_rows == min(
            sample.ROW_GROUP_ROWS, len(titles)
        )


def test_documents_carry_the_text_in_wiki40b_markup(corpus):
    books = sample.read_verses()
    table = pq.read_table(corpus / "en" / FILES["validation"])
    jonah = table.column("text").to_pylist()[0]
    assert jonah.startswith(
        "\n_START_ARTICLE_\nJonah\n_START_SECTION_\nChapter 1\n_START_PARAGRAPH_\n"
    )
    first_five = "_NEWLINE_".join(books["Jonah"][1][:5])
    assert f"_START_PARAGRAPH_\n{first_five}\n_START_PARAGRAPH_\n" in jonah
    assert jonah.count("_START_SECTION_") == len(books["Jonah"])
    lines = clean(jonah).split("\n")
    assert lines[:3] == ["Jonah", "Chapter 1", books["Jonah"][1][0]]
    verses = sum(len(verses) for verses in books["Jonah"].values())
    assert len(lines) == 1 + len(books["Jonah"]) + verses


def test_every_verse_lands_in_exactly_one_split(corpus):
    books = sample.read_verses()
    placed = [title for titles in sample.SPLIT_BOOKS.values() for title in titles]
    assert sorted(placed) == sorted(books)
    cleaned = {
        split: "\n".join(clean(t) for t in pq.read_table(corpus / "en" / name)["text"].to_pylist())
        for split, name in FILES.items()
    }
    assert sum(len(text) for text in cleaned.values()) > 400_000
    verse = books["James"][2][14]
    assert [split for split, text in cleaned.items() if verse in text] == ["validation"]


def test_sample_is_byte_identical(corpus, tmp_path):
    again = sample.write_sample(tmp_path / "again")
    for name in FILES.values():
        assert (again / "en" / name).read_bytes() == (corpus / "en" / name).read_bytes()


def test_changed_source_text_is_refused(tmp_path):
    copy = tmp_path / "kjv.tsv"
    shutil.copy(sample.SAMPLE_TEXT, copy)
    assert sum(len(verses) for verses in sample.read_verses(copy)["Jude"].values()) == 25
    with open(copy, "a", encoding="utf-8") as handle:
        handle.write("Jude\t1\t26\tAn added verse.\n")
    with pytest.raises(ValueError, match=r"kjv\.tsv: sha256 .* expected"):
        sample.read_verses(copy)


def test_existing_out_is_refused(corpus):
    with pytest.raises(FileExistsError, match="already exists"):
        sample.write_sample(corpus)
