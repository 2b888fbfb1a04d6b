"""The causal float32 forward on TF32 wgmma products (csrc/pass_tf32_fwd.cu), on an sm_90a
build, unsplit: with TF32 allowed (``torch.set_float32_matmul_precision("high")``) one product
per step at head_dim 64 and 128, against the float64 formula at TF32's tolerance; at the
default precision three products per step at head_dim 64, at float32's tolerance. Gradients
included: the causal backward passes at head_dim 64 run on the same kernel with three products
(DK and DV with one query head per key/value head, else on mma.sync)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import fastmax
from fastmax.correctness import TF32_TOLERANCE, Case, relative_error, run_case, tolerance

HAS_CUDA = fastmax.cuda_available()
gpu = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU and the compiled extension")
hopper = pytest.mark.skipif(
    not HAS_CUDA or torch.cuda.get_device_capability() != (9, 0),
    reason="the TF32 wgmma forward runs on sm_90 (Hopper) GPUs only",
)
pytestmark = [gpu, pytest.mark.gpu]
KERNEL = "tf32_fwd_kernel"


def _matmul_precision(name: str):
    """float32 products at ``name`` (torch.set_float32_matmul_precision) until resumed."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(name)
    yield name
    torch.set_float32_matmul_precision(before)


@pytest.fixture
def tf32():
    """TF32 allowed for float32 products during the test."""
    yield from _matmul_precision("high")


@pytest.fixture
def precision(request):
    """The float32 matmul precision named by the test's parameter during the test."""
    yield from _matmul_precision(request.param)


def _profiled(fn, *names: str) -> tuple[Any, list[int]]:
    """``fn()``, and how many kernels it launched whose names contain each of ``names``."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        result = fn()
        torch.cuda.synchronize()
    events = prof.key_averages()
    return result, [sum(e.count for e in events if name in e.key) for name in names]


def _launches(fn) -> int:
    """How many times ``fn`` launched the TF32 forward kernel."""
    return _profiled(fn, KERNEL)[1][0]


def _forward(batch: int, heads: int, n: int, head_dim: int = 128, causal: bool = True):
    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(batch, heads, n, head_dim, generator=gen).to("cuda") for _ in "qkv")
    return lambda: fastmax.fastmax_attention(q, k, v, causal=causal, backend="cuda")


@pytest.mark.parametrize("n", [1, 63, 64, 65, 700])
@pytest.mark.parametrize("heads", [(3, 3), (6, 2), (4, 1)])
@pytest.mark.parametrize("normalize", ["token", "seq_max"])
@pytest.mark.parametrize("head_dim", [64, 128])
def test_matches_reference(tf32, n, heads, normalize, head_dim):
    case = Case("cuda", "float32", True, head_dim, n, *heads, normalize=normalize, a0=1.0, a1=0.7)
    result = run_case(case, "cuda")
    errors = {name: result[name] for name in ("out", "dq", "dk", "dv")}
    assert result["passed"], f"{case}: {errors} over {result['tolerance']}"


@pytest.mark.parametrize("head_dim", [64, 128])
def test_long_unsplit_sequence_matches_reference(tf32, monkeypatch, head_dim):
    """33 chunks (the last partial) in one block each, the split turned off."""
    monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", "0")
    result = run_case(Case("cuda", "float32", True, head_dim, 2085, 2, 1, batch=1), "cuda")
    assert result["passed"], result


@hopper
def test_token_major_inputs_match_contiguous(tf32):
    """LitGPT's layout (transposed views of (batch, token, head, dim)): the same values."""
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(2, 300, 3, 4, 128, generator=gen).to("cuda")
    q, k, v = (x[:, :, i].transpose(1, 2) for i in range(3))
    out = fastmax.fastmax_attention(q, k, v, causal=True, backend="cuda")
    dense = fastmax.fastmax_attention(
        *(t.contiguous() for t in (q, k, v)), causal=True, backend="cuda"
    )
    assert out.transpose(1, 2).is_contiguous()
    assert torch.equal(out, dense)


@hopper
def test_taken_only_where_it_applies(tf32, monkeypatch):
    """Causal, head_dim 64 or 128, TF32 allowed, and no split wanted by its own grid."""
    assert _launches(_forward(2, 3, 200)) == 1
    assert _launches(_forward(2, 3, 200, head_dim=64)) == 1
    assert _launches(_forward(2, 3, 200, causal=False)) == 0
    assert _launches(_forward(2, 3, 200, head_dim=32)) == 0
    # 128 blocks of 32 columns at head_dim 64, where the mma.sync forward's 64 would split
    assert _launches(_forward(2, 32, 1100, head_dim=64)) == 1
    torch.set_float32_matmul_precision("highest")
    assert _launches(_forward(2, 3, 200)) == 0
    assert _launches(_forward(2, 3, 200, head_dim=64)) == 1  # three products
    assert _launches(_forward(2, 3, 200, head_dim=64, causal=False)) == 0
    torch.set_float32_matmul_precision("high")
    split = _forward(1, 2, 4096)  # 4 blocks for the GPU: the sequence is split
    assert _launches(split) == 0
    monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", "0")
    assert _launches(split) == 1


def _backward(
    batch: int, heads: int, n: int, head_dim: int = 64, causal: bool = True, kv_heads: int = 0
):
    gen = torch.Generator().manual_seed(7)
    shape, kv_shape = (batch, heads, n, head_dim), (batch, kv_heads or heads, n, head_dim)
    q, grad = (torch.randn(shape, generator=gen).to("cuda") for _ in "qg")
    k, v = (torch.randn(kv_shape, generator=gen).to("cuda") for _ in "kv")
    leaves = [t.requires_grad_() for t in (q, k, v)]
    out = fastmax.fastmax_attention(*leaves, causal=causal, backend="cuda")
    return lambda: torch.autograd.grad(out, leaves, grad, retain_graph=True)


@hopper
def test_backward_taken_only_where_it_applies(tf32, monkeypatch):
    """The float32 DQ, DK and DV passes run on the wgmma kernel, with three products at either
    precision, where head_dim is 64 and the passes causal and unsplit; DK and DV with one query
    head per key/value head only."""
    for precision in ("high", "highest"):
        torch.set_float32_matmul_precision(precision)
        assert _launches(_backward(2, 3, 200)) == 3
        assert _launches(_backward(2, 6, 200, kv_heads=2)) == 1  # DQ alone
        assert _launches(_backward(2, 3, 200, head_dim=128)) == 0
        assert _launches(_backward(2, 3, 200, causal=False)) == 0
    split = _backward(1, 2, 4096)  # 4 blocks for the GPU: the sequence is split
    assert _launches(split) == 0
    monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", "0")
    assert _launches(split) == 3


@hopper
def test_close_to_three_products(tf32, monkeypatch):
    """Against the float32-accurate path on the same inputs, over 128 chunks."""
    monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", "0")
    run = _forward(1, 8, 8192)
    assert _launches(run) == 1
    fast = run()
    torch.set_float32_matmul_precision("highest")
    exact = run()
    assert relative_error(fast, exact) < 5e-4


@hopper
def test_row_norms_taken_inside_the_pass(tf32):
    """The TF32 forward normalises q's rows itself (one row pass, k's, instead of two), with
    norms from under the clamp (eps) to large: the float64 formula, gradients included."""
    gen = torch.Generator().manual_seed(9)
    scales = torch.tensor([1e-9, 1e-3, 1.0, 3e4]).repeat(50)[torch.randperm(200, generator=gen)]
    q = torch.randn(2, 4, 200, 128, generator=gen, dtype=torch.float64) * scales[:, None]
    k, v = (torch.randn(2, 2, 200, 128, generator=gen, dtype=torch.float64) for _ in "kv")
    grad = torch.randn(q.shape, generator=gen, dtype=torch.float64)
    leaves = [t.to("cuda", torch.float32).requires_grad_() for t in (q, k, v)]
    out, launches = _profiled(
        lambda: fastmax.fastmax_attention(*leaves, causal=True, backend="cuda"), KERNEL, "normalize"
    )
    assert launches == [1, 1]
    out.backward(grad.to("cuda", torch.float32))
    ref_leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ref = fastmax.reference_attention(*ref_leaves, causal=True, normalize="token")
    ref.backward(grad)
    assert relative_error(out.cpu(), ref) < TF32_TOLERANCE
    for mine, theirs in zip(leaves, ref_leaves, strict=True):
        assert relative_error(mine.grad.cpu(), theirs.grad, scale=grad) < TF32_TOLERANCE


@hopper
@pytest.mark.parametrize("head_dim", [64, 128])
def test_v_is_rounded_not_truncated(tf32, head_dim):
    """out is a weighted mean of v's rows: v truncated to TF32 (how the unit reads a raw
    float32) would bias it by ~4e-4 of its norm (an emulation on the CPU: 4.1-4.3e-4); rounded,
    ~2e-4 is left."""
    result = run_case(Case("cuda", "float32", True, head_dim, 200, 4, 2, a1=0.7), "cuda")
    assert result["out"] < 3e-4, result


@hopper
@pytest.mark.parametrize(
    ("precision", "head_dim"),
    [("high", 64), ("high", 128), ("highest", 64)],
    indirect=["precision"],
)
@pytest.mark.parametrize("n", [1, 65, 700])
def test_inference_normalises_k_in_the_pass(precision, head_dim, n):
    """Without autograd the op keeps nothing for a backward, so the wgmma forward (one TF32
    product with TF32 allowed, three at the default precision) normalises k's rows itself as
    well as q's (no row pass): the float64 formula at the precision's tolerance, with k's norms
    from under the clamp (eps) to large, and grouped heads."""
    limit = tolerance("float32")
    gen = torch.Generator().manual_seed(11)
    scales = torch.tensor([1e-9, 1e-3, 1.0, 3e4]).repeat(n)[torch.randperm(n, generator=gen)]
    q = torch.randn(2, 6, n, head_dim, generator=gen, dtype=torch.float64)
    k = torch.randn(2, 2, n, head_dim, generator=gen, dtype=torch.float64) * scales[:, None]
    v = torch.randn(2, 2, n, head_dim, generator=gen, dtype=torch.float64)
    inputs = [t.to("cuda", torch.float32) for t in (q, k, v)]
    with torch.no_grad():
        out, launches = _profiled(
            lambda: fastmax.fastmax_attention(*inputs, causal=True, backend="cuda"),
            KERNEL,
            "normalize",
        )
    assert launches == [1, 0]
    ref = fastmax.reference_attention(q, k, v, causal=True, normalize="token")
    assert relative_error(out.cpu(), ref) < limit
    with_grad = fastmax.fastmax_attention(
        *(t.clone().requires_grad_() for t in inputs), causal=True, backend="cuda"
    )
    assert relative_error(out, with_grad.detach()) < limit


@gpu
def test_inference_elsewhere_is_the_forward():
    """Where the TF32 forward does not run (float32 at the default precision at head_dim 128,
    bfloat16), the forward without autograd gives the op's forward bitwise."""
    gen = torch.Generator().manual_seed(12)
    for dtype in (torch.float32, torch.bfloat16):
        q, k, v = (torch.randn(2, 4, 300, 128, generator=gen).to("cuda", dtype) for _ in "qkv")
        with torch.no_grad():
            plain = fastmax.fastmax_attention(q, k, v, causal=True, backend="cuda")
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        with_grad = fastmax.fastmax_attention(*leaves, causal=True, backend="cuda")
        assert torch.equal(plain, with_grad.detach()), dtype


@hopper
@pytest.mark.parametrize("n", [1, 63, 65, 700])
@pytest.mark.parametrize("heads", [(3, 3), (6, 2)])
@pytest.mark.parametrize("normalize", ["token", "seq_max"])
def test_three_products_match_reference(n, heads, normalize):
    """At the default precision, head_dim 64: the wgmma forward and backward passes (DK and DV
    with one query head per key/value head) with three products per step keep float32's
    tolerance of the float64 formula, gradients included."""
    assert torch.get_float32_matmul_precision() == "highest"
    case = Case("cuda", "float32", True, 64, n, *heads, normalize=normalize, a0=1.0, a1=0.7)
    result, launches = _profiled(lambda: run_case(case, "cuda"), KERNEL)
    passes = 4 if heads[0] == heads[1] else 2  # forward and the backward's three, or and DQ
    assert launches == [passes]
    errors = {name: result[name] for name in ("out", "dq", "dk", "dv")}
    assert result["tolerance"] < TF32_TOLERANCE / 10
    assert result["passed"], f"{case}: {errors} over {result['tolerance']}"


@hopper
def test_three_products_long_sequence(monkeypatch):
    """Three products over 33 chunks in one block each (the split off): float32's tolerance,
    gradients included. (Without autograd: test_inference_normalises_k_in_the_pass.)"""
    monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", "0")
    result = run_case(Case("cuda", "float32", True, 64, 2085, 2, 1, batch=1), "cuda")
    assert result["passed"], result


@hopper
def test_three_products_do_not_drift_over_many_chunks(monkeypatch):
    """256 chunks in one block each (the split off): out stays within 1e-6 of the float64
    formula and the gradients within 5e-6 (measured: dq and dk 2.0-2.2e-6, dv 4.3e-7 at every
    N to 65536). With the state accumulated in the unit across chunks out drifted, to 3e-6 at
    this length and 1.2e-5 at N = 65536, and dq to 1e-4 (PERF.md v28, v29)."""
    monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", "0")
    case = Case("cuda", "float32", True, 64, 16384, 1, 1, batch=1)
    result, launches = _profiled(lambda: run_case(case, "cuda"), KERNEL)
    assert launches == [4]  # forward, DQ, DK and DV
    assert result["passed"], result
    assert result["out"] < 1e-6, result
    assert max(result[name] for name in ("dq", "dk", "dv")) < 5e-6, result
