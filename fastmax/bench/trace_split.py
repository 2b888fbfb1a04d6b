"""Split a ``torch.profiler`` trace into compute and data movement (the paper's Figure 5).

The paper counts "allocation, copy and write operations" as data movement. From a trace in the
Chrome format that ``torch.profiler`` exports:

* on a GPU (CUPTI activities): device events of category ``gpu_memcpy`` and kernels whose name
  says ``copy`` are *copy*; ``gpu_memset`` events and fill kernels are *memset*; every other
  kernel is *compute*; the CUDA runtime and driver calls that allocate or free device memory
  (``cudaMalloc``, ``cudaFree``, ``cuMemCreate`` ...) are *allocation* (host-side time);
* on the CPU (no device events): the self time of each ATen operator, copies (``copy_``,
  ``cat``, ``clone`` ...) as *copy*, fills (``fill_``, ``zero_``) as *memset*, allocations
  (``empty*``, ``resize_``) as *allocation* and every other operator as *compute*.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

CATEGORIES = ("compute", "copy", "memset", "allocation")
DEVICE_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
API_CATEGORIES = ("cuda_runtime", "cuda_driver")
ALLOCATION_CALLS = (
    "cudaMalloc",
    "cudaFree",
    "cudaMallocAsync",
    "cudaFreeAsync",
    "cudaHostAlloc",
    "cudaFreeHost",
    "cuMemAlloc",
    "cuMemFree",
    "cuMemCreate",
    "cuMemRelease",
    "cuMemMap",
    "cuMemUnmap",
    "cuMemAddressReserve",
    "cuMemAddressFree",
    "cuMemSetAccess",
)
CPU_COPY_OPS = ("aten::cat", "aten::clone", "aten::contiguous", "aten::stack")
CPU_ALLOCATION_OPS = ("aten::resize_", "aten::new_empty", "aten::new_empty_strided")


def complete_events(trace: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The complete ("X") events of a Chrome trace, given as the exported JSON object."""
    events = trace.get("traceEvents", []) if isinstance(trace, dict) else trace
    return [e for e in events if e.get("ph") == "X" and "dur" in e]


def split_events(events: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Microseconds per category (``CATEGORIES``) in the events of one profile."""
    events = list(events)
    if any(e.get("cat") in DEVICE_CATEGORIES for e in events):
        return _split_device(events)
    return _split_cpu(events)


def classify_kernel(name: str) -> str:
    """compute, copy or memset for a GPU kernel, by its name."""
    lowered = name.lower()
    if "copy" in lowered:
        return "copy"
    if "fill" in lowered:
        return "memset"
    return "compute"


def classify_cpu_op(name: str) -> str:
    """compute, copy, memset or allocation for an ATen operator, by its name."""
    if "copy" in name or name in CPU_COPY_OPS:
        return "copy"
    if name in ("aten::fill_", "aten::zero_"):
        return "memset"
    if name.startswith("aten::empty") or name in CPU_ALLOCATION_OPS:
        return "allocation"
    return "compute"


def _split_device(events: list[dict[str, Any]]) -> dict[str, float]:
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for event in events:
        category, name, duration = event.get("cat"), str(event.get("name", "")), float(event["dur"])
        if category == "kernel":
            totals[classify_kernel(name)] += duration
        elif category == "gpu_memcpy":
            totals["copy"] += duration
        elif category == "gpu_memset":
            totals["memset"] += duration
        elif category in API_CATEGORIES and name.startswith(ALLOCATION_CALLS):
            totals["allocation"] += duration
    return totals


def _split_cpu(events: list[dict[str, Any]]) -> dict[str, float]:
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for name, self_time in self_times(e for e in events if e.get("cat") == "cpu_op"):
        totals[classify_cpu_op(name)] += self_time
    return totals


def self_times(events: Iterable[dict[str, Any]]) -> list[tuple[str, float]]:
    """(name, self time) of nested host events: duration minus that of direct children.

    Events nest by time within a thread; each thread is walked with a stack of open events.
    """
    by_thread: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_thread[(event.get("pid"), event.get("tid"))].append(event)
    result: list[tuple[str, float]] = []
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack: list[list[Any]] = []  # [end, name, self time]
        for event in thread_events:
            start, duration = float(event["ts"]), float(event["dur"])
            while stack and stack[-1][0] <= start:
                _, name, own = stack.pop()
                result.append((name, own))
            if stack:
                stack[-1][2] -= duration
            stack.append([start + duration, str(event.get("name", "")), duration])
        result.extend((name, own) for _, name, own in reversed(stack))
    return [(name, max(own, 0.0)) for name, own in result]
