"""Timing one benchmark case: warm-up, repeats, median with p20/p80, peak memory, failures.

On CUDA every repeat is bracketed by CUDA events and preceded by a write to a flush buffer larger
than the L2 cache, so the inputs come from device memory as they would inside a model rather than
from cache; the stream is synchronised once before the events are read. Peak memory is
``torch.cuda.max_memory_allocated`` of one untimed call minus what was allocated before it
(inputs, the output gradient and the flush buffer), i.e. the bytes the method needs on top of its
inputs. That call follows a garbage collection and a synchronize: tensors that earlier calls left
to the collector would otherwise sit in the baseline and lower the reading once collected, as
would calls overlapping on the host.
On the CPU the same statistics come from ``time.perf_counter`` around each synchronous call;
PyTorch keeps no allocator statistics there, so peak memory is left empty.

A case that runs out of memory is recorded as ``oom`` and its memory is released, an
``Unsupported`` method as ``unsupported``, and any other exception as ``error: <text>``; the
sweep goes on either way.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from fastmax.bench.methods import Unsupported
from fastmax.bench.sweep_config import Timing

MAX_REASON = 400


@dataclass(frozen=True)
class Measurement:
    """The outcome of one case; times in milliseconds, memory in bytes (None when absent)."""

    status: str
    median_ms: float | None = None
    p20_ms: float | None = None
    p80_ms: float | None = None
    peak_mem_bytes: int | None = None
    repeats: int | None = None
    reason: str = ""


def one_line(text: object) -> str:
    """``text`` on one line, at most ``MAX_REASON`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_REASON else flat[: MAX_REASON - 3] + "..."


def is_out_of_memory(error: BaseException) -> bool:
    """True for PyTorch's OOM error and for out-of-memory errors raised by CUDA libraries."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def measure(
    make: Callable[[], Callable[[], object]], device: torch.device, timing: Timing
) -> Measurement:
    """Build the case with ``make`` and time the callable it returns; never raises on failure.

    ``KeyboardInterrupt`` and other ``BaseException`` that are not ``Exception`` propagate.
    """
    try:
        result = _measure(make, device, timing)
    except Unsupported as error:
        result = Measurement("unsupported", reason=one_line(error))
    except Exception as error:
        if is_out_of_memory(error):
            result = Measurement("oom", reason=one_line(error))
        else:
            result = Measurement(f"error: {one_line(f'{type(error).__name__}: {error}')}")
    release(device, collect=result.status not in ("ok", "unsupported"))
    return result


def release(device: torch.device, collect: bool = False) -> None:
    """Return cached device memory, so the next case starts from the same state.

    ``collect`` also runs the garbage collector (slow with a large heap): needed after a failure,
    whose traceback may have tied tensors into reference cycles.
    """
    if collect:
        gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def device_healthy(device: torch.device) -> bool:
    """False when the device no longer runs work (a CUDA error that poisons the context)."""
    if device.type != "cuda":
        return True
    try:
        torch.cuda.synchronize(device)
        return torch.ones(1, device=device).add_(1).item() == 2.0
    except Exception:
        return False


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(
    make: Callable[[], Callable[[], object]], device: torch.device, timing: Timing
) -> Measurement:
    run = make()
    repeats = _repeats(run, device, timing)
    flush = None
    if timing.flush_mib:
        flush = torch.empty(timing.flush_mib << 20, dtype=torch.uint8, device=device)
    if device.type == "cuda":
        times, peak = _time_cuda(run, repeats, flush, device)
    else:
        times, peak = _time_cpu(run, repeats, flush), None
    median, p20, p80 = np.percentile(times, [50, 20, 80])
    return Measurement(
        "ok", float(median), float(p20), float(p80), peak, repeats=len(times), reason=""
    )


def _repeats(run: Callable[[], object], device: torch.device, timing: Timing) -> int:
    """Warm up and choose how many timed repeats fit ``max_case_seconds`` (within bounds).

    Warm-up makes ``timing.warmup`` calls, or stops once they took ``max_case_seconds`` (after
    two calls at least, when two are configured). The first call may compile or autotune
    kernels, so the estimate of one call is the fastest warm-up call after the first.
    """
    seconds: list[float] = []
    for _ in range(timing.warmup):
        start = time.perf_counter()
        run()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
        if len(seconds) >= 2 and sum(seconds) >= timing.max_case_seconds:
            break
    estimate = min(seconds[1:] or seconds)
    fitting = int(timing.max_case_seconds / max(estimate, 1e-9))
    return max(timing.min_repeats, min(timing.repeats, fitting))


def _time_cuda(
    run: Callable[[], object], repeats: int, flush: torch.Tensor | None, device: torch.device
) -> tuple[list[float], int]:
    peak = _peak_cuda(run, device)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    for start, end in zip(starts, ends, strict=True):
        if flush is not None:
            flush.zero_()
        start.record()
        run()
        end.record()
    torch.cuda.synchronize(device)
    return [start.elapsed_time(end) for start, end in zip(starts, ends, strict=True)], peak


def _peak_cuda(run: Callable[[], object], device: torch.device) -> int:
    """Bytes one call of ``run`` allocates at its peak above what is live before it, read
    after a garbage collection and a synchronize (see the module's docstring)."""
    gc.collect()
    torch.cuda.synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - baseline


def _time_cpu(run: Callable[[], object], repeats: int, flush: torch.Tensor | None) -> list[float]:
    times = []
    for _ in range(repeats):
        if flush is not None:
            flush.zero_()
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times
