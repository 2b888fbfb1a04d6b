"""Timing of one case: statistics, repeat bounds and every failure status on the CPU, peak memory
on a GPU."""

from __future__ import annotations

import gc
import time

import pytest
import torch

from fastmax.bench.methods import Unsupported
from fastmax.bench.sweep_config import Timing
from fastmax.bench.timing import MAX_REASON, is_out_of_memory, measure, one_line

CPU = torch.device("cpu")
FAST = Timing(warmup=2, repeats=20, min_repeats=3, max_case_seconds=0.05, flush_mib=1)
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _counting(fn):
    calls = []

    def run():
        calls.append(1)
        return fn()

    return run, calls


def test_cpu_statistics_are_ordered_and_memory_is_left_empty():
    x = torch.randn(64, 64)
    result = measure(lambda: lambda: x @ x, CPU, FAST)
    assert result.status == "ok"
    assert 0 < result.p20_ms <= result.median_ms <= result.p80_ms
    assert FAST.min_repeats <= result.repeats <= FAST.repeats
    assert result.peak_mem_bytes is None
    assert result.reason == ""


def test_slow_calls_get_the_minimum_repeats_and_a_short_warmup():
    run, calls = _counting(lambda: time.sleep(0.02))
    timing = Timing(warmup=5, repeats=50, min_repeats=3, max_case_seconds=0.01, flush_mib=0)
    result = measure(lambda: run, CPU, timing)
    assert result.status == "ok"
    assert result.repeats == 3
    assert len(calls) == 2 + 3  # two warm-up calls already spent the case's time
    assert result.median_ms >= 20


def test_a_slow_first_call_does_not_set_the_repeat_count():
    """Compilation or autotuning in the first call must not cut the timed repeats."""

    def first_slow():
        time.sleep(0.2 if len(calls) == 1 else 0.0)

    run, calls = _counting(first_slow)
    timing = Timing(warmup=3, repeats=40, min_repeats=2, max_case_seconds=0.1, flush_mib=0)
    result = measure(lambda: run, CPU, timing)
    assert result.repeats == 40
    assert len(calls) == 2 + 40


def test_fast_calls_stop_at_the_repeat_cap():
    run, calls = _counting(lambda: None)
    timing = Timing(warmup=2, repeats=7, min_repeats=1, max_case_seconds=1.0, flush_mib=0)
    result = measure(lambda: run, CPU, timing)
    assert result.repeats == 7
    assert len(calls) == 2 + 7


def _raising(error):
    def run():
        raise error

    return run


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 512.00 GiB"),
        RuntimeError("CUDA error: out of memory"),
    ],
)
def test_out_of_memory_is_recorded_as_oom(error):
    result = measure(lambda: _raising(error), CPU, FAST)
    assert result.status == "oom"
    assert "out of memory" in result.reason
    assert result.median_ms is None and result.repeats is None


def test_out_of_memory_while_building_the_case_is_oom_too():
    def make():
        raise torch.OutOfMemoryError("CUDA out of memory while preparing")

    assert measure(make, CPU, FAST).status == "oom"


def test_unsupported_is_recorded_with_its_reason():
    def make():
        raise Unsupported("needs a GPU")

    result = measure(make, CPU, FAST)
    assert (result.status, result.reason) == ("unsupported", "needs a GPU")


def test_other_exceptions_become_one_line_errors():
    result = measure(lambda: _raising(ValueError("bad\nshape, really")), CPU, FAST)
    assert result.status == "error: ValueError: bad shape, really"
    assert result.median_ms is None


def test_keyboard_interrupt_is_not_swallowed():
    with pytest.raises(KeyboardInterrupt):
        measure(lambda: _raising(KeyboardInterrupt()), CPU, FAST)


def test_one_line_flattens_and_truncates():
    assert one_line("a\n  b\tc") == "a b c"
    long = one_line("x" * (MAX_REASON + 50))
    assert len(long) == MAX_REASON and long.endswith("...")


def test_is_out_of_memory_only_for_memory_errors():
    assert is_out_of_memory(torch.OutOfMemoryError("x"))
    assert not is_out_of_memory(RuntimeError("CUDA error: an illegal memory access"))
    assert not is_out_of_memory(ValueError("out of memory"))


@pytest.fixture
def collector_off():
    """No automatic collections: the test decides when garbage is collected."""
    gc.disable()
    yield
    gc.enable()


@gpu
def test_cuda_peak_counts_a_calls_own_garbage_whatever_earlier_calls_left(collector_off):
    """Each call leaves a reference cycle holding 2 x size bytes and returns size bytes, and
    collects at its start what the call before it left, as the collector may in any call. The
    peak is one call's 3 x size: the garbage of the warm-up calls must not sit in the baseline,
    where its collection during the measured call would hide two thirds of the call."""
    device = torch.device("cuda")
    size = 64 << 20

    def run():
        gc.collect()
        junk = [torch.empty(2 * size, dtype=torch.uint8, device=device)]
        junk.append(junk)
        return torch.empty(size, dtype=torch.uint8, device=device)

    timing = Timing(warmup=2, repeats=3, min_repeats=3, max_case_seconds=1.0, flush_mib=1)
    result = measure(lambda: run, device, timing)
    assert result.status == "ok"
    assert result.peak_mem_bytes == 3 * size
