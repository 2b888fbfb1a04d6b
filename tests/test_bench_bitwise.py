"""``fastmax bitwise``: snapshots of the op's outputs and gradients, compared bit for bit."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest
import torch

from fastmax.bench.bitwise import SMALL_CASES, compare, label, snapshot
from fastmax.cli import main

TORCH_CASES = tuple(replace(case, backend="torch") for case in SMALL_CASES)


@pytest.fixture(scope="module")
def small_snapshot():
    return snapshot(TORCH_CASES, "cpu")


def test_snapshot_holds_out_and_the_gradients_of_q_k_v(small_snapshot):
    grouped = SMALL_CASES[1]  # 4 query heads on 2 key/value heads
    tensors = small_snapshot[label(grouped)]
    assert tensors["out"].shape == tensors["dq"].shape == (2, 4, 70, 64)
    assert tensors["dk"].shape == tensors["dv"].shape == (2, 2, 70, 64)
    assert all(t.dtype == torch.bfloat16 and t.device.type == "cpu" for t in tensors.values())
    assert all(torch.count_nonzero(t) > 0 for t in tensors.values())


def test_the_same_build_twice_is_bitwise_equal(small_snapshot):
    again = snapshot(TORCH_CASES, "cpu")
    rows = compare(small_snapshot, again)
    assert len(rows) == 4 * len(SMALL_CASES)
    assert all(row["bitwise"] and row["max_abs_diff"] == 0.0 for row in rows)


def test_one_flipped_bit_is_found(small_snapshot):
    changed = {case: dict(tensors) for case, tensors in small_snapshot.items()}
    name = label(SMALL_CASES[0])
    dk = changed[name]["dk"].clone()
    dk.view(torch.int32).view(-1)[5] ^= 1  # the last mantissa bit of one float32
    changed[name]["dk"] = dk
    rows = compare(small_snapshot, changed)
    differing = [(row["case"], row["tensor"]) for row in rows if not row["bitwise"]]
    assert differing == [(name, "dk")]
    row = next(r for r in rows if not r["bitwise"])
    expected = (dk.double() - small_snapshot[name]["dk"].double()).abs().max().item()
    assert 0.0 < row["max_abs_diff"] == pytest.approx(expected)


def test_snapshots_of_different_cases_are_refused(small_snapshot):
    fewer = {label(SMALL_CASES[0]): small_snapshot[label(SMALL_CASES[0])]}
    with pytest.raises(ValueError, match=label(SMALL_CASES[1])):
        compare(small_snapshot, fewer)


def test_command_saves_compares_and_sets_the_exit_status(tmp_path, capsys):
    first, second, table = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "cmp.csv"
    for path in (first, second):
        args = ["bitwise", "save", "--out", str(path), "--cases", "small", "--device", "cpu"]
        assert main([*args, "--backend", "torch"]) == 0
    assert main(["bitwise", "compare", str(first), str(second), "--csv", str(table)]) == 0
    assert "8 of 8 tensors bitwise equal" in capsys.readouterr().out
    with table.open() as f:
        assert [row["bitwise"] for row in csv.DictReader(f)] == ["True"] * 8

    data = torch.load(second)
    data["tensors"][label(SMALL_CASES[1])]["out"] += 1
    torch.save(data, second)
    assert main(["bitwise", "compare", str(first), str(second)]) == 1
    assert "7 of 8 tensors bitwise equal" in capsys.readouterr().out
    assert main(["bitwise", "compare", str(first), str(tmp_path / "missing.pt")]) == 2
    assert "no such snapshot" in capsys.readouterr().err


def test_save_without_a_gpu_names_the_device(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bitwise", "save", "--out", str(tmp_path / "a.pt"), "--cases", "small"]) == 2
    assert "--device cuda: no CUDA device here" in capsys.readouterr().err
    assert not (tmp_path / "a.pt").exists()
