"""Merging the CSV logs of a resumed run, and the loss-curve figure of several runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fastmax.cli import main as cli_main
from fastmax.train_curves import merge_run_logs, plot_runs


def write_launch(out_dir, version: int, rows: list[dict]) -> None:
    folder = out_dir / "logs" / "csv" / f"version_{version}"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)


def train_row(step: int, loss: float) -> dict:
    return {"step": step, "iter": step + 1, "loss": loss, "total_tokens": (step + 1) * 512}


def test_a_resumed_launch_supersedes_the_rows_it_recomputed(tmp_path):
    # Launch 0 logged steps 1..7 (2 iterations per optimizer step) and was killed; its last
    # checkpoint held iteration 4, so launch 1 recomputed from iteration 5 (logged at step 5).
    write_launch(tmp_path, 0, [train_row(s, 10.0 - s) for s in (1, 3, 5, 7)])
    write_launch(tmp_path, 1, [train_row(s, 100.0 + s) for s in (5, 7, 9)] + [{"step": 9}])
    write_launch(tmp_path, 2, [])
    (tmp_path / "logs" / "csv" / "version_2" / "metrics.csv").write_text("")
    path = merge_run_logs(tmp_path, iters_per_step=2, tokens_per_iter=512)
    merged = pd.read_csv(path)
    train = merged.dropna(subset=["loss"])
    assert list(train["iteration"]) == [2, 4, 6, 8, 10]
    assert list(train["loss"]) == [9.0, 7.0, 105.0, 107.0, 109.0]
    assert list(train["optimizer_step"]) == [1, 2, 3, 4, 5]
    assert list(train["tokens_seen"]) == list(train["total_tokens"])


def test_final_validation_is_placed_at_the_last_iteration(tmp_path):
    rows = [train_row(1, 9.0), train_row(3, 8.0), {"step": 3, "val_loss": 8.5}]
    rows.append({"step": 4, "val_loss": 8.4})  # LitGPT logs the final validation at iter_num
    write_launch(tmp_path, 0, rows)
    merged = pd.read_csv(merge_run_logs(tmp_path, iters_per_step=2, tokens_per_iter=100))
    val = merged.dropna(subset=["val_loss"])
    assert list(val["optimizer_step"]) == [2, 2]
    assert list(val["tokens_seen"]) == [400, 400]


def test_merge_needs_logs_and_positive_sizes(tmp_path):
    with pytest.raises(FileNotFoundError, match="version_"):
        merge_run_logs(tmp_path, iters_per_step=1, tokens_per_iter=1)
    with pytest.raises(ValueError, match="iters_per_step"):
        merge_run_logs(tmp_path, iters_per_step=0, tokens_per_iter=1)


def merged_run(tmp_path, name: str, offset: float):
    out = tmp_path / name
    rows = [train_row(s, 10.0 - s / 4 + offset) for s in range(1, 40, 2)]
    rows += [{"step": s, "val_loss": 10.2 - s / 4 + offset} for s in (9, 19, 29, 39)]
    write_launch(out, 0, rows)
    return merge_run_logs(out, iters_per_step=2, tokens_per_iter=512)


def test_plot_writes_the_figure_and_its_provenance(tmp_path):
    runs = {"softmax": merged_run(tmp_path, "a", 0.0), "fastmax": merged_run(tmp_path, "b", 0.3)}
    paths = plot_runs(runs, tmp_path / "fig" / "loss")
    assert sorted(p.name for p in paths) == ["loss.json", "loss.pdf", "loss.png"]
    assert all(p.stat().st_size > 1000 for p in paths if p.suffix != ".json")
    sidecar = json.loads((tmp_path / "fig" / "loss.json").read_text())
    assert set(sidecar["runs"]) == {"softmax", "fastmax"}
    assert len(sidecar["runs"]["softmax"]["sha256"]) == 64
    assert "git" in sidecar["environment"]


def test_plot_refuses_files_that_are_not_merged_metrics(tmp_path, capsys):
    raw = tmp_path / "raw.csv"
    pd.DataFrame([train_row(1, 3.0)]).to_csv(raw, index=False)
    with pytest.raises(ValueError, match="optimizer_step"):
        plot_runs({"x": raw}, tmp_path / "fig")
    with pytest.raises(FileNotFoundError, match="absent"):
        plot_runs({"x": tmp_path / "absent.csv"}, tmp_path / "fig")
    assert cli_main(["plot-train", "--runs", "nameless", "--out", str(tmp_path / "f")]) == 2
    assert "NAME=METRICS_CSV" in capsys.readouterr().err
    good = merged_run(tmp_path, "c", 0.0)
    args = ["plot-train", "--runs", f"a={good}", f"a={good}", "--out", str(tmp_path / "f")]
    assert cli_main(args) == 2
    assert "twice" in capsys.readouterr().err
