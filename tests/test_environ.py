"""environment_set and float32_matmul_precision: set inside the block, as they were after it."""

import os

import pytest
import torch

from fastmax.environ import environment_set, float32_matmul_precision


def test_variables_are_set_then_restored_or_unset(monkeypatch):
    monkeypatch.setenv("FASTMAX_TEST_KEPT", "before")
    monkeypatch.delenv("FASTMAX_TEST_NEW", raising=False)
    with environment_set({"FASTMAX_TEST_KEPT": "inside", "FASTMAX_TEST_NEW": "1"}):
        assert os.environ["FASTMAX_TEST_KEPT"] == "inside"
        assert os.environ["FASTMAX_TEST_NEW"] == "1"
    assert os.environ["FASTMAX_TEST_KEPT"] == "before"
    assert "FASTMAX_TEST_NEW" not in os.environ


def test_an_error_inside_still_restores(monkeypatch):
    monkeypatch.delenv("FASTMAX_TEST_NEW", raising=False)
    with pytest.raises(RuntimeError), environment_set({"FASTMAX_TEST_NEW": "1"}):
        raise RuntimeError("inside")
    assert "FASTMAX_TEST_NEW" not in os.environ


@pytest.mark.parametrize("inside", ["high", None])
def test_float32_matmul_precision_is_set_then_restored_after_an_error(inside):
    before = torch.get_float32_matmul_precision()
    with pytest.raises(RuntimeError), float32_matmul_precision(inside):
        assert torch.get_float32_matmul_precision() == (inside or before)
        raise RuntimeError("inside")
    assert torch.get_float32_matmul_precision() == before
