"""The local lm-eval tasks: shipped data equal to what the generator makes, loadable offline."""

from __future__ import annotations

import pytest
from lm_eval.tasks import TaskManager

from fastmax.data.sample import SPLIT_BOOKS, read_verses
from fastmax.evaluate.task_data import (
    TASK_DOCS,
    TASKS_DIR,
    jsonl_text,
    load_local_json,
    write_task_data,
)

CONTEXT = 128  # tokens of the tiny models; GPT-2 spends more than one token per word


@pytest.fixture(scope="module")
def tasks():
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    return manager.load(sorted(TASK_DOCS))["tasks"]


@pytest.fixture(scope="module")
def held_out_verses():
    books = read_verses()
    return [
        verse
        for title in SPLIT_BOOKS["test"]
        for verses in books[title].values()
        for verse in verses
    ]


@pytest.mark.parametrize("name", sorted(TASK_DOCS))
def test_shipped_data_is_what_the_generator_makes(name):
    shipped = (TASKS_DIR / f"{name}.jsonl").read_text(encoding="utf-8")
    assert shipped == jsonl_text(TASK_DOCS[name]())
    assert len(shipped.splitlines()) >= 16


def test_generator_writes_every_task_file(tmp_path):
    written = write_task_data(tmp_path)
    assert sorted(path.name for path in written) == [f"{name}.jsonl" for name in sorted(TASK_DOCS)]
    for path in written:
        assert path.read_bytes() == (TASKS_DIR / path.name).read_bytes()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_task_data(tmp_path / "missing")


def test_tasks_load_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (task,) = (
        TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
        .load(["smoke_piqa"])["tasks"]
        .values()
    )
    assert len(list(task.test_docs())) == len(TASK_DOCS["smoke_piqa"]())


def test_lambada_task_scores_the_last_word(tasks, held_out_verses):
    task = tasks["smoke_lambada"]
    assert task.OUTPUT_TYPE == "loglikelihood"
    docs = list(task.test_docs())
    corpus = " ".join(held_out_verses)
    for doc in docs:
        context, target = task.doc_to_text(doc), task.doc_to_target(doc)
        assert context + target == doc["text"]
        assert target.startswith(" ") and target[1:].isalpha() and len(target) > 3
        assert doc["text"] in corpus


def test_piqa_task_offers_the_true_ending_at_the_label(tasks, held_out_verses):
    task = tasks["smoke_piqa"]
    assert task.OUTPUT_TYPE == "multiple_choice"
    docs = list(task.test_docs())
    verses = set(held_out_verses)
    labels = []
    for doc in docs:
        choices = task.doc_to_choice(doc)
        label = task.doc_to_target(doc)
        assert f"{task.doc_to_text(doc)} {choices[label]}" in verses
        assert f"{task.doc_to_text(doc)} {choices[1 - label]}" not in verses
        labels.append(label)
    assert abs(sum(labels) - len(labels) / 2) <= 1


def test_wikitext_task_pages_outgrow_the_context(tasks):
    task = tasks["smoke_wikitext"]
    assert task.OUTPUT_TYPE == "loglikelihood_rolling"
    pages = [task.doc_to_target(doc) for doc in task.test_docs()]
    assert len(pages) == 16
    assert all(len(page.split()) > CONTEXT for page in pages)


def test_local_loader_names_bad_data_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no-such\.jsonl"):
        load_local_json({"test": "no-such.jsonl"})
    with pytest.raises(ValueError, match="data_files"):
        load_local_json("smoke_piqa.jsonl")
    absolute = tmp_path / "one.jsonl"
    absolute.write_text('{"page": "In the beginning"}\n')
    loaded = load_local_json({"test": str(absolute)}, version=1.0)
    assert loaded["test"]["page"] == ["In the beginning"]
