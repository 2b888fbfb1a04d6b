"""Real LitGPT pretraining runs of the smoke configs on the CPU: learning, checkpoints, resume."""

from __future__ import annotations

import math
import subprocess
import time

import pandas as pd
import pytest
import torch
import yaml
from train_helpers import (
    TRAIN_CONFIGS,
    run_train,
    subprocess_env,
    train_command,
    write_token_shards,
)

from fastmax.model import FastmaxSelfAttention, load_model

ITERATIONS = 24  # micro-batches of 4 x 128 tokens; 12 optimizer steps of 8 sequences


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_token_shards(tmp_path_factory.mktemp("shards"))


def smoke_args(variant: str, shards, out, *extra: str) -> list[str]:
    return [
        "--config",
        str(TRAIN_CONFIGS / f"smoke-{variant}.yaml"),
        "--out",
        str(out),
        "--set",
        f"data.path={shards}",
        "tokenizer_dir=null",
        f"train.max_tokens={ITERATIONS * 4 * 128}",
        *extra,
    ]


def check_ok(process: subprocess.CompletedProcess) -> None:
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]


def train_rows(metrics_csv) -> pd.DataFrame:
    frame = pd.read_csv(metrics_csv)
    return frame.dropna(subset=["loss"]).reset_index(drop=True)


@pytest.mark.parametrize("variant", ["regular", "linear"])
def test_smoke_training_lowers_the_loss(shards, tmp_path, variant):
    out = tmp_path / variant
    check_ok(run_train(*smoke_args(variant, shards, out, "train.save_interval=5")))
    metrics = pd.read_csv(out / "metrics.csv")
    train = metrics.dropna(subset=["loss"])
    val = metrics.dropna(subset=["val_loss"])
    assert list(train["iter"]) == list(range(2, ITERATIONS + 1, 2))  # a row per optimizer step
    assert list(train["optimizer_step"]) == list(range(1, ITERATIONS // 2 + 1))
    assert train["loss"].iloc[0] > math.log(50257) - 0.5  # untrained: about uniform
    assert train["loss"].iloc[-3:].mean() < train["loss"].iloc[:3].mean() - 1.5
    assert val["val_loss"].iloc[-1] < math.log(50257) - 1.5
    final = out / "final"
    saved = yaml.safe_load((final / "model_config.yaml").read_text())
    assert saved["attention"] == ("fastmax" if variant == "linear" else "softmax")
    assert yaml.safe_load((final / "train_config.yaml").read_text())["data"]["path"] == str(shards)
    model = load_model(final)
    assert isinstance(model.transformer.h[0].attn, FastmaxSelfAttention) == (variant == "linear")
    assert sorted(p.name for p in out.glob("step-*")) == ["step-00000010"]  # keep_checkpoints: 1


def wait_for(path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "the run ended before writing " + str(path)
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def test_killed_run_resumes_without_lost_or_repeated_steps(shards, tmp_path):
    extra = ("train.save_interval=4", "keep_checkpoints=null", "model.overrides.vocab_size=512")
    reference = tmp_path / "reference"
    check_ok(run_train(*smoke_args("linear", shards, reference, *extra)))

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        train_command(*smoke_args("linear", shards, killed, *extra)),
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(killed / "step-00000004" / "lit_model.pth", process)
    finally:
        process.kill()
        process.wait()
    assert not (killed / "final").exists(), "the run finished before it was killed"
    last = max(int(p.name.split("-")[1]) for p in killed.glob("step-*"))

    resumed = run_train(*smoke_args("linear", shards, killed, *extra))
    check_ok(resumed)
    assert f"Resuming training from {killed}/step-{last:08d}" in resumed.stdout

    # The resumed launch starts right after its checkpoint: nothing lost, nothing repeated.
    launches = sorted((killed / "logs" / "csv").glob("version_*/metrics.csv"))
    assert len(launches) == 2
    assert train_rows(launches[1])["iter"].iloc[0] == 2 * (last + 1)  # 2 iterations per step
    merged, straight = train_rows(killed / "metrics.csv"), train_rows(reference / "metrics.csv")
    steps = list(range(1, ITERATIONS // 2 + 1))
    assert list(merged["optimizer_step"]) == list(straight["optimizer_step"]) == steps
    assert merged["loss"].tolist() == straight["loss"].tolist()

    ref = torch.load(reference / "final" / "lit_model.pth", weights_only=True)
    got = torch.load(killed / "final" / "lit_model.pth", weights_only=True)
    assert (got["iter_num"], got["step_count"]) == (ref["iter_num"], ref["step_count"])
    assert ref["model"].keys() == got["model"].keys()
    for key, value in ref["model"].items():
        assert torch.equal(got["model"][key], value), key
    for index, state in ref["optimizer"]["state"].items():
        assert torch.equal(got["optimizer"]["state"][index]["exp_avg"], state["exp_avg"])


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_with_the_same_global_batch(shards, tmp_path):
    extra = ("model.overrides.vocab_size=512", "train.save_interval=100")
    check_ok(run_train(*smoke_args("linear", shards, tmp_path / "one", *extra)))
    ddp = (*extra, "devices=2", "strategy=ddp")
    check_ok(run_train(*smoke_args("linear", shards, tmp_path / "two", *ddp)))
    one = pd.read_csv(tmp_path / "one" / "metrics.csv")
    two = pd.read_csv(tmp_path / "two" / "metrics.csv")
    steps = list(range(1, ITERATIONS // 2 + 1))
    assert list(train_rows(tmp_path / "two" / "metrics.csv")["optimizer_step"]) == steps
    assert list(train_rows(tmp_path / "one" / "metrics.csv")["optimizer_step"]) == steps
    # Each process sees other samples, so the curves agree within noise, not bit for bit.
    final_one, final_two = one["val_loss"].dropna().iloc[-1], two["val_loss"].dropna().iloc[-1]
    assert abs(final_one - final_two) < 0.1
    assert final_two < train_rows(tmp_path / "two" / "metrics.csv")["loss"].iloc[0] - 1.0
    state = torch.load(tmp_path / "two" / "final" / "lit_model.pth", weights_only=True)
    assert state["step_count"] == ITERATIONS // 2
