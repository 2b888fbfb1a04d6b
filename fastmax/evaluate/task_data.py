"""Data of the local lm-eval tasks in ``tasks/``, made from the package's sample corpus.

Source: the verses of the King James Version (1611, public domain) shipped as
``fastmax/data/corpus/kjv.tsv`` (see :mod:`fastmax.data.sample`), restricted to the books of the
sample corpus's *test* split (1 Peter, 2 Peter, 1 John, 2 John, 3 John, Jude), which the smoke
models never train on. Every file is a deterministic function of that text (no randomness):

* ``smoke_lambada.jsonl`` (last-word prediction, LAMBADA's layout ``{"text": ...}``): each verse
  with the verse before it in the same chapter, final punctuation removed, kept when it ends in a
  word of at least three letters; the task scores that last word given the rest.
* ``smoke_piqa.jsonl`` (two-way multiple choice, PIQA's layout ``{"goal", "sol1", "sol2",
  "label"}``): each verse of at least ``MIN_CHOICE_WORDS`` words split in the middle; the right
  ending is the verse's second half, the wrong one the second half of the verse half the list
  further on; the right one is ``sol1`` for even and ``sol2`` for odd positions.
* ``smoke_wikitext.jsonl`` (rolling perplexity, ``{"page": ...}``): each chapter as one page,
  its verses joined by spaces; most pages are longer than the tiny models' 128-token context.

``python -m fastmax.evaluate.task_data`` rewrites the shipped files; the test suite checks that
they equal what this module makes.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from fastmax.data.sample import SPLIT_BOOKS, read_verses

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
SOURCE_SPLIT = "test"
MIN_LAST_WORD = 3
MIN_CHOICE_WORDS = 8
TRAILING = string.punctuation + string.whitespace


def _chapters() -> list[list[str]]:
    """The verses of every chapter of the held-out books, in corpus order."""
    books = read_verses()
    return [verses for title in SPLIT_BOOKS[SOURCE_SPLIT] for verses in books[title].values()]


def lambada_docs() -> list[dict[str, Any]]:
    """Last-word documents: a verse after its predecessor, ending in a word (see module doc)."""
    docs = []
    for verses in _chapters():
        for index in range(len(verses)):
            passage = " ".join(verses[max(index - 1, 0) : index + 1]).rstrip(TRAILING)
            last = passage.rsplit(" ", 1)[-1]
            if len(last) >= MIN_LAST_WORD and last.isalpha():
                docs.append({"text": passage})
    return docs


def piqa_docs() -> list[dict[str, Any]]:
    """Two-way choice documents: a verse's first half and two candidate endings."""
    halves = []
    for verses in _chapters():
        for verse in verses:
            words = verse.split(" ")
            if len(words) >= MIN_CHOICE_WORDS:
                middle = len(words) // 2
                halves.append((" ".join(words[:middle]), " ".join(words[middle:])))
    docs = []
    for index, (goal, right) in enumerate(halves):
        wrong = halves[(index + len(halves) // 2) % len(halves)][1]
        label = index % 2
        sol1, sol2 = (right, wrong) if label == 0 else (wrong, right)
        docs.append({"goal": goal, "sol1": sol1, "sol2": sol2, "label": label})
    return docs


def wikitext_docs() -> list[dict[str, Any]]:
    """Rolling-perplexity documents: one page per chapter."""
    return [{"page": " ".join(verses)} for verses in _chapters()]


TASK_DOCS = {
    "smoke_lambada": lambada_docs,
    "smoke_piqa": piqa_docs,
    "smoke_wikitext": wikitext_docs,
}


def jsonl_text(docs: list[dict[str, Any]]) -> str:
    """Documents as JSON Lines (keys in the given order, UTF-8 kept as is)."""
    return "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs)


def write_task_data(folder: str | Path = TASKS_DIR) -> list[Path]:
    """Write ``<task>.jsonl`` for every local task into ``folder``; returns the paths."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {str(folder)!r} does not exist")
    written = []
    for name, make in TASK_DOCS.items():
        path = folder / f"{name}.jsonl"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(jsonl_text(make()), encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def load_local_json(data_files: dict[str, str], **task_metadata: Any) -> Any:
    """lm-eval ``custom_dataset`` hook: the JSON Lines files of a local task as a DatasetDict.

    ``data_files`` maps split names to file names; relative names are read from the package's
    ``tasks/`` folder, so the tasks work from any working directory. lm-eval also passes the
    task's metadata (its version, the model arguments) as keywords; they do not affect the data.
    """
    import datasets

    if not isinstance(data_files, dict) or not data_files:
        raise ValueError(f"data_files must map split names to JSONL files, got {data_files!r}")
    paths = {}
    for split, name in data_files.items():
        path = Path(name) if Path(name).is_absolute() else TASKS_DIR / name
        if not path.is_file():
            raise FileNotFoundError(f"data file {str(path)!r} of split {split!r} does not exist")
        paths[split] = str(path)
    return datasets.load_dataset("json", data_files=paths)


if __name__ == "__main__":
    for written_path in write_task_data():
        print(f"wrote {written_path}")
