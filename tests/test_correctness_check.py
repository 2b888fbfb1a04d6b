"""``fastmax check``: the correctness matrix's command, its float32 precision option and files."""

from __future__ import annotations

import json

import pytest
import torch

from fastmax.cli import main
from fastmax.correctness import TF32_TOLERANCE, TOLERANCE


def _check(tmp_path, *options: str) -> dict:
    args = ["check", "--quick", "--backends", "torch", "--dtypes", "float32", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path), *options]) == 0
    return json.loads((tmp_path / "correctness.json").read_text())


@pytest.mark.parametrize(("precision", "limit"), [("highest", None), ("high", TF32_TOLERANCE)])
def test_float32_precision_sets_the_limit_and_is_restored(tmp_path, precision, limit):
    before = torch.get_float32_matmul_precision()
    report = _check(tmp_path, "--float32-precision", precision)
    assert torch.get_float32_matmul_precision() == before
    assert report["float32_matmul_precision"] == precision
    expected = TOLERANCE["float32"] if limit is None else limit
    assert report["cases"] and {case["tolerance"] for case in report["cases"]} == {expected}
    assert report["failed"] == 0 and report["passed"] == len(report["cases"])
    assert (tmp_path / "correctness.csv").read_text().count("\n") == len(report["cases"]) + 1


def test_an_unknown_precision_is_refused_naming_the_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["check", "--quick", "--out", str(tmp_path), "--float32-precision", "tf32"])
    assert stopped.value.code == 2
    assert "--float32-precision: invalid choice: 'tf32'" in capsys.readouterr().err
    assert not (tmp_path / "correctness.json").exists()
