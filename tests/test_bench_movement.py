"""``fastmax profile-movement`` on the CPU, and the trace classification it rests on."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from fastmax.bench.movement import ALL_CATEGORIES
from fastmax.bench.trace_split import (
    CATEGORIES,
    classify_cpu_op,
    classify_kernel,
    self_times,
    split_events,
)
from fastmax.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tmp_path, **movement):
    path = tmp_path / "movement.yaml"
    section = {
        "method": "fastmax_torch",
        "N": [32, 96],
        "dtype": "float32",
        "iterations": 2,
        "warmup": 1,
        **movement,
    }
    path.write_text(
        yaml.safe_dump(
            {
                "device": "cpu",
                "B": 1,
                "H": 2,
                "D": 8,
                "timing": {
                    "warmup": 1,
                    "repeats": 3,
                    "min_repeats": 2,
                    "max_case_seconds": 0.01,
                    "flush_mib": 0,
                },
                "movement": section,
            }
        )
    )
    return path


def test_cpu_profile_writes_the_split_and_the_figure(tmp_path):
    out = tmp_path / "out"
    assert main(["profile-movement", "--config", str(_config(tmp_path)), "--out", str(out)]) == 0
    with open(out / "movement.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["N"], r["category"]) for r in rows] == [
        (n, c) for n in ("32", "96") for c in ALL_CATEGORIES
    ]
    assert {r["status"] for r in rows} == {"ok"} and {r["device"] for r in rows} == {"cpu"}
    for n in ("32", "96"):
        split = {r["category"]: float(r["ms_per_iteration"]) for r in rows if r["N"] == n}
        shares = [float(r["share"]) for r in rows if r["N"] == n]
        assert all(value >= 0 for value in split.values())
        assert split["compute"] > 0 and split["copy"] > 0  # matmuls; pads and concatenations
        assert sum(shares) == pytest.approx(1.0)
    for suffix in ("png", "pdf"):
        assert (out / f"fig5_movement.{suffix}").stat().st_size > 5_000
    sidecar = json.loads((out / "fig5_movement.json").read_text())
    assert sidecar["movement"]["method"] == "fastmax_torch"
    assert sidecar["environment"]["cuda_available"] is False


def test_a_method_that_cannot_run_is_refused_before_profiling(tmp_path, capsys):
    config = _config(tmp_path, method="fastmax_cuda")
    assert main(["profile-movement", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "movement.method fastmax_cuda cannot run here" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _event(cat, name, ts, dur, tid=1):
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid}


def test_gpu_trace_is_split_by_device_activity():
    """The categories of the Chrome trace that torch.profiler exports with CUDA activities."""
    events = [
        _event("kernel", "fastmax_fwd_kernel<128>", 0, 50.0),
        _event("kernel", "void at::native::direct_copy_kernel_cuda(...)", 60, 5.0),
        _event(
            "kernel", "void at::native::vectorized_elementwise_kernel<FillFunctor<float>>", 70, 2.0
        ),
        _event("gpu_memcpy", "Memcpy DtoD (Device -> Device)", 80, 3.0),
        _event("gpu_memset", "Memset (Device)", 90, 1.0),
        _event("cuda_runtime", "cudaMalloc", 0, 7.0),
        _event("cuda_driver", "cuMemCreate", 10, 4.0),
        _event("cuda_runtime", "cudaLaunchKernel", 20, 3.0),
        _event("cpu_op", "aten::copy_", 0, 100.0),
    ]
    assert split_events(events) == {
        "compute": 50.0,
        "copy": 8.0,
        "memset": 3.0,
        "allocation": 11.0,
    }


def test_cpu_trace_counts_each_operator_by_its_self_time():
    events = [
        _event("cpu_op", "aten::zeros", 0, 10.0),
        _event("cpu_op", "aten::empty", 0, 2.0),
        _event("cpu_op", "aten::zero_", 2, 7.0),
        _event("cpu_op", "aten::fill_", 3, 5.0),
        _event("cpu_op", "aten::bmm", 20, 30.0),
        _event("cpu_op", "aten::to", 60, 9.0, tid=2),
        _event("cpu_op", "aten::_to_copy", 60, 8.0, tid=2),
        _event("cpu_op", "aten::copy_", 61, 6.0, tid=2),
    ]
    assert sorted(self_times(events)) == sorted(
        [
            ("aten::zeros", 1.0),
            ("aten::empty", 2.0),
            ("aten::zero_", 2.0),
            ("aten::fill_", 5.0),
            ("aten::bmm", 30.0),
            ("aten::to", 1.0),
            ("aten::_to_copy", 2.0),
            ("aten::copy_", 6.0),
        ]
    )
    split = split_events(events)
    assert set(split) == set(CATEGORIES)
    assert split == {"compute": 32.0, "copy": 8.0, "memset": 7.0, "allocation": 2.0}


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("sm90_xmma_gemm_bf16bf16_bf16f32", "compute"),
        ("at::native::(anonymous namespace)::CatArrayBatchedCopy<...>", "copy"),
        ("void at::native::unrolled_elementwise_kernel<FillFunctor<c10::BFloat16>>", "memset"),
    ],
)
def test_kernel_names(name, category):
    assert classify_kernel(name) == category


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("aten::copy_", "copy"),
        ("aten::cat", "copy"),
        ("aten::fill_", "memset"),
        ("aten::empty_strided", "allocation"),
        ("aten::matmul", "compute"),
    ],
)
def test_cpu_operator_names(name, category):
    assert classify_cpu_op(name) == category
