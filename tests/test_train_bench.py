"""``fastmax bench-train`` on the smoke config: the CSV schema, the ratios and the figure."""

from __future__ import annotations

import dataclasses
import json
import os

import pandas as pd
import pytest
import yaml
from train_helpers import BENCH_CONFIGS

from fastmax.bench.training import COLUMNS, KERNEL_COLUMNS, bench_train, load_bench_config
from fastmax.cli import main as cli_main

SMOKE = BENCH_CONFIGS / "smoke.yaml"


def test_smoke_bench_writes_one_row_per_case_with_ratios(tmp_path):
    config = load_bench_config(SMOKE)
    csv_path = bench_train(config, tmp_path)
    frame = pd.read_csv(csv_path)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == len(config.models) * len(config.contexts) * len(config.attentions)
    assert set(frame["status"]) == {"ok"}
    assert (frame["step_ms_median"] > 0).all()
    assert (frame["step_ms_q10"] <= frame["step_ms_median"]).all()
    assert (frame["step_ms_median"] <= frame["step_ms_q90"]).all()
    expected = frame["tokens_per_step"] / (frame["step_ms_median"] / 1e3)
    assert (abs(frame["tokens_per_s"] - expected) <= 1e-9 * expected).all()
    assert frame["peak_memory_gib"].isna().all()  # no CUDA memory on the CPU
    names = dict(zip(frame["attention"], frame["model_name"], strict=False))
    assert names == {
        "none": "fastmax-tiny",
        "softmax": "fastmax-tiny",
        "fastmax": "fastmax-tiny-linear",
    }
    for context, group in frame.groupby("context"):
        by = group.set_index("attention")
        bound = by.loc["none", "tokens_per_s"]
        assert by.loc["none", "fraction_of_none"] == 1.0
        for kind in ("softmax", "fastmax"):
            assert by.loc[kind, "fraction_of_none"] == pytest.approx(
                by.loc[kind, "tokens_per_s"] / bound
            )
        assert by.loc["fastmax", "speedup_vs_softmax"] == pytest.approx(
            by.loc["fastmax", "tokens_per_s"] / by.loc["softmax", "tokens_per_s"]
        ), context
    for name in ("bench_train.png", "bench_train.pdf", "bench_train.json", "environment.json"):
        assert (tmp_path / name).stat().st_size > 0
    sidecar = json.loads((tmp_path / "bench_train.json").read_text())
    assert sidecar["config"]["models"] == ["fastmax-tiny"]
    assert not (tmp_path / "bench_train_kernels.csv").exists(), "kernel profile is opt-in"


def test_kernel_profile_lists_where_each_case_spends_its_step(tmp_path):
    config = dataclasses.replace(
        load_bench_config(SMOKE),
        attentions=["none", "fastmax"],
        contexts=[16, 32],
        profile_kernels=True,
    )
    bench_train(config, tmp_path)
    kernels = pd.read_csv(tmp_path / "bench_train_kernels.csv")
    assert tuple(kernels.columns) == KERNEL_COLUMNS
    assert not (tmp_path / "bench_train_kernels.csv.partial").exists()
    cases = kernels.groupby(["attention", "context"])
    assert set(cases.groups) == {(a, c) for a in ("none", "fastmax") for c in (16, 32)}
    assert set(kernels["clock"]) == {"cpu_self"}
    assert (kernels["calls"] >= 1).all() and (kernels["time_us"] >= 0).all()
    assert (cases["time_us"].sum() > 0).all()
    names = {a: set(kernels.loc[kernels["attention"] == a, "kernel"]) for a in ("none", "fastmax")}
    assert names["fastmax"] - names["none"], "the Fastmax step runs operators that none lacks"
    assert "aten::mm" in names["none"] & names["fastmax"]


def test_a_killed_bench_keeps_the_cases_it_measured(tmp_path, monkeypatch):
    import fastmax.bench.training as training

    measured = []
    real = training.measure_case

    def measure_then_die(*args, **kwargs):
        if len(measured) == 2:
            raise KeyboardInterrupt
        row, kernels = real(*args, **kwargs)
        measured.append(row)
        return row, kernels

    monkeypatch.setattr(training, "measure_case", measure_then_die)
    with pytest.raises(KeyboardInterrupt):
        bench_train(load_bench_config(SMOKE), tmp_path)
    partial = pd.read_csv(tmp_path / "bench_train.csv.partial")
    assert list(partial["attention"]) == [row["attention"] for row in measured]
    assert list(partial["step_ms_median"]) == [row["step_ms_median"] for row in measured]
    assert not (tmp_path / "bench_train.csv").exists()


def test_unsplit_kind_is_the_linear_model_with_the_split_off(tmp_path, monkeypatch):
    import fastmax.bench.training as training

    monkeypatch.delenv("FASTMAX_SEQUENCE_SPLIT", raising=False)
    seen = []
    real = training._time_steps

    def recording(model_cfg, *args):
        seen.append(os.environ.get("FASTMAX_SEQUENCE_SPLIT"))
        return real(model_cfg, *args)

    monkeypatch.setattr(training, "_time_steps", recording)
    config = dataclasses.replace(
        load_bench_config(SMOKE), attentions=["fastmax", "fastmax_unsplit"], contexts=[16]
    )
    frame = pd.read_csv(bench_train(config, tmp_path))
    assert list(frame["model_name"]) == ["fastmax-tiny-linear"] * 2
    assert set(frame["status"]) == {"ok"}
    assert seen == [None, "0"]
    assert "FASTMAX_SEQUENCE_SPLIT" not in os.environ


def test_h200_config_covers_the_issue_cases():
    config = load_bench_config(BENCH_CONFIGS / "h200.yaml")
    assert config.models == ["pythia-410m", "pythia-1.4b"]
    assert config.contexts == [2048, 8192, 32768]
    assert set(config.attentions) == {"none", "softmax", "fastmax", "fastmax_unsplit"}
    assert (config.device, config.dtype) == ("cuda", "bfloat16")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"repeats": 3}, r"unknown keys \['repeats'\]"),
        ({"models": ["pythia-410m-linear"]}, "name the softmax model"),
        ({"models": ["pythia-9b"]}, "unknown model name"),
        ({"contexts": []}, "must each list something"),
        ({"attentions": ["softmax", "softmax"]}, "twice"),
        ({"attentions": ["flash"]}, "one of"),
        ({"timed_steps": 0}, "timed_steps"),
        ({"model_overrides": {"fastmax_p": 5}}, "fastmax_p"),
    ],
)
def test_bad_bench_configs_are_refused(tmp_path, edit, message):
    data = {**yaml.safe_load(SMOKE.read_text()), **edit}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=message):
        load_bench_config(path)


def test_cli_refuses_cuda_without_a_gpu(tmp_path, capsys):
    args = ["bench-train", "--config", str(SMOKE), "--out", str(tmp_path), "--set", "device=cuda"]
    assert cli_main(args) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "bench_train.csv").exists()
