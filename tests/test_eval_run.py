"""``fastmax evaluate`` and ``fastmax report`` end to end on tiny checkpoints, offline."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from eval_helpers import REPO, gpt2_tokenizer, twin_checkpoints

from fastmax.cli import main
from fastmax.evaluate.run import LOCAL_TASKS
from fastmax.provenance import file_sha256

TASKS = ("smoke_lambada", "smoke_piqa", "smoke_wikitext")
LIMIT = 4


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-run")
    return twin_checkpoints(root, gpt2_tokenizer(root / "tokenizer"), seed=2)


@pytest.fixture(scope="module")
def evaluated(checkpoints, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval-results")
    for label, checkpoint in checkpoints.items():
        argv = ["evaluate", str(checkpoint), "--tasks", ",".join(TASKS)]
        argv += ["--out", str(out / f"{label}.json"), "--limit", str(LIMIT), "--batch-size", "3"]
        assert main([*argv, "--device", "cpu"]) == 0
    return out


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("label", ["softmax", "fastmax"])
def test_evaluate_writes_results_csv_and_provenance(evaluated, checkpoints, label):
    data = json.loads((evaluated / f"{label}.json").read_text())
    assert set(data["results"]) == set(TASKS)
    assert {task: data["n-samples"][task]["effective"] for task in TASKS} == {
        task: LIMIT for task in TASKS
    }
    assert data["config"]["model"] == "fastmax-litgpt"
    assert data["config"]["attention"] == label
    checkpoint = data["provenance"]["checkpoint"]
    assert checkpoint["sha256"]["lit_model.pth"] == file_sha256(
        checkpoints[label] / "lit_model.pth"
    )
    assert checkpoint["model_config"]["attention"] == label
    assert data["provenance"]["environment"]["packages"]["lm-eval"] == "0.4.13"

    rows = read_csv(evaluated / f"{label}.csv")
    assert [(row["task"], row["metric"]) for row in rows] == [
        ("smoke_lambada", "acc"),
        ("smoke_piqa", "acc"),
        ("smoke_wikitext", "word_perplexity"),
    ]
    for row in rows:
        metrics = data["results"][row["task"]]
        assert float(row["value"]) == metrics[f"{row['metric']},none"]
        assert int(row["n_samples"]) == LIMIT
    assert float(rows[1]["stderr"]) == data["results"]["smoke_piqa"]["acc_stderr,none"]
    assert rows[2]["stderr"] == ""  # lm-eval gives no stderr for word perplexity
    assert sorted(path.suffix for path in evaluated.iterdir() if path.stem == label) == [
        ".csv",
        ".json",
    ]


def test_the_two_attentions_give_different_results(evaluated):
    softmax, fastmax = (
        json.loads((evaluated / f"{label}.json").read_text())["results"]
        for label in ("softmax", "fastmax")
    )
    key = "word_perplexity,none"
    assert softmax["smoke_wikitext"][key] != pytest.approx(fastmax["smoke_wikitext"][key])


def test_report_puts_the_runs_side_by_side(evaluated, tmp_path, capsys):
    runs = [f"--run={label}={evaluated / f'{label}.json'}" for label in ("softmax", "fastmax")]
    assert main(["report", *runs, "--out", str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "eval_table.csv",
        "eval_table.json",
        "eval_table.md",
    ]
    results = {
        label: json.loads((evaluated / f"{label}.json").read_text())["results"]
        for label in ("softmax", "fastmax")
    }
    rows = read_csv(tmp_path / "eval_table.csv")
    expected = {
        (task, key.split(",")[0])
        for task in TASKS
        for key, value in results["softmax"][task].items()
        if "," in key and "_stderr" not in key and isinstance(value, float)
    }
    assert {(row["task"], row["metric"]) for row in rows} == expected
    for row in rows:
        for label in ("softmax", "fastmax"):
            assert float(row[label]) == results[label][row["task"]][f"{row['metric']},none"]
            assert row[f"{label}_n"] == str(LIMIT)
    markdown = (tmp_path / "eval_table.md").read_text().splitlines()
    assert markdown[0] == "| task | metric | softmax | fastmax |"
    assert len(markdown) == 2 + len(rows)
    assert any(line.startswith("| smoke_piqa | acc ↑ | ") and " ± " in line for line in markdown)
    sidecar = json.loads((tmp_path / "eval_table.json").read_text())
    assert sidecar["runs"]["fastmax"]["sha256"] == file_sha256(evaluated / "fastmax.json")
    assert sidecar["runs"]["fastmax"]["checkpoint"]["model_config"]["attention"] == "fastmax"
    assert "eval_table.md" in capsys.readouterr().out


def test_missing_checkpoint_is_named(tmp_path, capsys):
    out = tmp_path / "r.json"
    missing = tmp_path / "no-such-checkpoint"
    assert main(["evaluate", str(missing), "--tasks", "smoke_piqa", "--out", str(out)]) == 2
    assert f"{missing}' does not exist" in capsys.readouterr().err
    missing.mkdir()
    (missing / "model_config.yaml").write_text("name: fastmax-tiny\n")
    assert main(["evaluate", str(missing), "--tasks", "smoke_piqa", "--out", str(out)]) == 2
    assert "has no lit_model.pth" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [missing]


def test_unknown_task_is_named(checkpoints, tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["evaluate", str(checkpoints["softmax"]), "--tasks", "smoke_piqa,smoke_piqaa"]
    assert main([*argv, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "unknown lm-eval task 'smoke_piqaa'" in error and "smoke_piqa" in error
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "r.csv"], "--out must name a .json file"),
        (["--out", "r.json", "--include-path", "no-such-folder"], "include path"),
        (["--out", "r.json", "--limit", "0"], "limit must be at least 1"),
    ],
)
def test_bad_arguments_are_named(checkpoints, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", str(checkpoints["softmax"]), "--tasks", "smoke_piqa", *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        (["softmax"], "LABEL=RESULTS.json"),
        (["a=x.json", "a=y.json"], "given twice"),
        (["a=missing.json"], "does not exist"),
        (["a=bad.json"], "not an lm-eval results JSON"),
        ([], "at least one --run"),
    ],
)
def test_report_rejects_bad_runs(tmp_path, monkeypatch, capsys, runs, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps({"accuracy": 1.0}))
    argv = ["report", *[f"--run={run}" for run in runs], "--out", "table"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "table").exists()


def test_lm_eval_command_line_runs_the_model(checkpoints, tmp_path):
    command = [sys.executable, "-m", "fastmax.evaluate", "run", "--model", "fastmax-litgpt"]
    command += ["--model_args", f"checkpoint_dir={checkpoints['fastmax']}"]
    command += ["--tasks", "smoke_piqa", "--include_path", str(LOCAL_TASKS), "--limit", "2"]
    command += ["--device", "cpu", "--output_path", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (written,) = tmp_path.rglob("results_*.json")
    data = json.loads(written.read_text())
    assert data["config"]["attention"] == "fastmax"
    assert data["n-samples"]["smoke_piqa"]["effective"] == 2


def test_report_marks_metrics_a_run_lacks(evaluated, tmp_path):
    partial = json.loads((evaluated / "fastmax.json").read_text())
    del partial["results"]["smoke_piqa"]
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    runs = [
        f"--run=softmax={evaluated / 'softmax.json'}",
        f"--run=fastmax={tmp_path / 'partial.json'}",
    ]
    assert main(["report", *runs, "--out", str(tmp_path / "table")]) == 0
    rows = {
        (row["task"], row["metric"]): row for row in read_csv(tmp_path / "table" / "eval_table.csv")
    }
    assert rows[("smoke_piqa", "acc")]["fastmax"] == ""
    assert rows[("smoke_piqa", "acc")]["softmax"] != ""
    assert rows[("smoke_lambada", "acc")]["fastmax"] != ""
    markdown = (tmp_path / "table" / "eval_table.md").read_text()
    assert any(
        line.startswith("| smoke_piqa | acc ↑ |") and line.endswith("| – |")
        for line in markdown.splitlines()
    )


def _evaluate(checkpoint, out, *extra):
    argv = ["evaluate", str(checkpoint), "--tasks", ",".join(TASKS), "--out", str(out)]
    return main([*argv, "--limit", str(LIMIT), "--batch-size", "3", "--device", "cpu", *extra])


def _values(path):
    return [float(row["value"]) for row in read_csv(path)]


def test_a_stopped_run_resumes_from_the_request_cache(
    checkpoints, evaluated, tmp_path, monkeypatch
):
    """Answers computed before a failure are kept; the rerun computes only the others."""
    from fastmax.evaluate.model import FastmaxLitGPT

    forward = FastmaxLitGPT._logits
    calls = []

    def failing_third(self, rows):
        calls.append(len(rows))
        if len(calls) == 3:
            raise RuntimeError("stopped part-way")
        return forward(self, rows)

    cache = tmp_path / "cache"
    monkeypatch.setattr(FastmaxLitGPT, "_logits", failing_third)
    with pytest.raises(RuntimeError, match="stopped part-way"):
        _evaluate(checkpoints["fastmax"], tmp_path / "stopped.json", "--cache", str(cache))
    (db,) = cache.iterdir()
    assert db.name.startswith("fastmax-tiny-linear-") and db.name.endswith("_rank0.db")

    def counting(self, rows):
        calls.append(len(rows))
        return forward(self, rows)

    monkeypatch.setattr(FastmaxLitGPT, "_logits", counting)
    calls.clear()
    assert _evaluate(checkpoints["fastmax"], tmp_path / "full.json") == 0
    rows_without_cache = sum(calls)
    calls.clear()
    assert _evaluate(checkpoints["fastmax"], tmp_path / "resumed.json", "--cache", str(cache)) == 0
    assert 0 < sum(calls) < rows_without_cache
    assert _values(tmp_path / "resumed.csv") == pytest.approx(_values(evaluated / "fastmax.csv"))
    data = json.loads((tmp_path / "resumed.json").read_text())
    assert data["provenance"]["request_cache"] == [str(db.resolve())]


def test_a_finished_run_is_answered_from_the_cache_alone(checkpoints, tmp_path, monkeypatch):
    from fastmax.evaluate.model import FastmaxLitGPT

    cache = tmp_path / "cache"
    assert _evaluate(checkpoints["softmax"], tmp_path / "first.json", "--cache", str(cache)) == 0

    def no_model(self, rows):
        raise AssertionError("the model ran although every answer was cached")

    monkeypatch.setattr(FastmaxLitGPT, "_logits", no_model)
    assert _evaluate(checkpoints["softmax"], tmp_path / "again.json", "--cache", str(cache)) == 0
    assert _values(tmp_path / "again.csv") == _values(tmp_path / "first.csv")
    with pytest.raises(AssertionError, match="every answer was cached"):
        _evaluate(checkpoints["fastmax"], tmp_path / "other.json", "--cache", str(cache))
    assert len(list(cache.iterdir())) == 2  # another checkpoint gets a cache of its own


def test_cache_must_be_a_folder(checkpoints, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    argv = ["--cache", str(tmp_path / "file")]
    assert _evaluate(checkpoints["softmax"], tmp_path / "r.json", *argv) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
