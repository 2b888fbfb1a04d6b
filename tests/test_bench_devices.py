"""``fastmax bench --devices``: one sweep split over processes, merged as one device writes it.

The parts run on ``cpu,cpu`` (cpu is the one device that may be named twice), each a real
``fastmax bench`` process.
"""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from fastmax.bench.sweep import STATE_NAME
from fastmax.cli import main

TINY = {
    "device": "cpu",
    "methods": ["fastmax_torch", "naive_linear", "chunk_gla"],
    "B": 1,
    "H": 2,
    "D": 8,
    "N": [16, 40],
    "dtypes": ["float32", "bfloat16"],
    "causal": [True],
    "passes": ["fwd", "fwd_bwd"],
    "timing": {"warmup": 1, "repeats": 3, "min_repeats": 2, "max_case_seconds": 0.01},
}
CASES = 3 * 2 * 2 * 2  # methods x N x dtypes x passes
PARTS = ["float32-causal", "bfloat16-causal"]


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """One intra-op thread in the parts too: tiny CPU ops on two shared cores run faster so."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _keys_and_statuses(path):
    with open(path, newline="") as handle:
        return [
            (r["method"], r["N"], r["dtype"], r["causal"], r["pass"], r["status"], r["device"])
            for r in csv.DictReader(handle)
        ]


def test_two_parts_give_the_rows_of_one_device_in_its_order(tmp_path, config, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["bench", "--config", str(config), "--out", str(one)]) == 0
    assert main(["bench", "--config", str(config), "--out", str(two), "--devices", "cpu,cpu"]) == 0
    err = capsys.readouterr().err
    assert "part float32-causal (12 cases) started on cpu" in err
    assert "part bfloat16-causal (12 cases) started on cpu" in err
    rows = _keys_and_statuses(two / "bench.csv")
    assert len(rows) == CASES and rows == _keys_and_statuses(one / "bench.csv")
    assert {r[5] for r in rows} == {"ok", "unsupported"}
    assert not (two / STATE_NAME).exists() and not (two / "bench.csv.partial").exists()
    env = json.loads((two / "environment.json").read_text())
    assert env["devices"] == ["cpu", "cpu"] and env["bench"]["config"]["dtypes"] == TINY["dtypes"]
    assert [p["name"] for p in env["parts"]] == PARTS
    assert [p["environment"]["bench"]["config"]["dtypes"] for p in env["parts"]] == [
        ["float32"],
        ["bfloat16"],
    ]
    for part in PARTS:
        assert {r[2] for r in _keys_and_statuses(two / "parts" / part / "bench.csv")} == {
            part.split("-")[0]
        }


def test_parts_stopped_on_the_budget_resume_to_the_end(tmp_path, config, capsys):
    out = tmp_path / "out"
    args = ["bench", "--config", str(config), "--out", str(out)]
    assert main([*args, "--devices", "cpu,cpu", "--max-minutes", "0"]) == 3
    assert "--resume" in capsys.readouterr().err
    assert not (out / "bench.csv").exists()
    for part in PARTS:
        assert _keys_and_statuses(out / "parts" / part / "bench.csv.partial") == []

    assert main([*args, "--devices", "cpu,cpu"]) == 2  # without --resume
    assert "pass --resume" in capsys.readouterr().err
    assert main([*args, "--devices", "cpu,cpu,cpu", "--resume"]) == 2
    assert "started with --devices cpu,cpu, not cpu,cpu,cpu" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 2  # one device cannot take over the parts
    assert "same --devices" in capsys.readouterr().err

    assert main([*args, "--devices", "cpu,cpu", "--resume"]) == 0
    assert "resumed on cpu" in capsys.readouterr().err
    rows = _keys_and_statuses(out / "bench.csv")
    assert len(rows) == CASES and [r[1] for r in rows] == sorted(r[1] for r in rows)
    env = json.loads((out / "environment.json").read_text())
    assert len(env["resumed_from"]) == 1 and len(env["parts"]) == 2
    assert main([*args, "--devices", "cpu,cpu", "--resume"]) == 2
    assert "is complete" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ("cuda:0,cuda:0", "more than once"),
        ("cuda:0,cuda", "more than once"),
        ("gpu0,cpu", "must be 'cpu', 'cuda' or 'cuda:<index>', got 'gpu0'"),
        ("cpu,", "got ''"),
        ("cuda:7,cpu", "not found"),
    ],
)
def test_bad_devices_are_refused_before_anything_is_written(
    tmp_path, config, capsys, devices, message
):
    out = tmp_path / "out"
    assert main(["bench", "--config", str(config), "--out", str(out), "--devices", devices]) == 2
    err = capsys.readouterr().err
    assert "--devices" in err and message in err
    assert not out.exists()
