"""Method adapters on the CPU: outputs against the definitions, gradients, unsupported peers."""

from __future__ import annotations

import importlib
import inspect
import os
import sys

import pytest
import torch

import fastmax
from fastmax.bench.methods import (
    FLA_CALLS,
    METHOD_NAMES,
    Unsupported,
    build_methods,
    naive_linear_attention,
)

CPU = torch.device("cpu")


def _qkv(n=37, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, 3, n, 8, generator=generator, dtype=dtype) for _ in range(3))


def _rel(out, ref):
    out, ref = out.double(), ref.double()
    return ((out - ref).norm() / ref.norm()).item()


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("normalize", ["token", "seq_max"])
def test_naive_linear_matches_the_float64_reference(causal, normalize):
    q, k, v = _qkv(dtype=torch.float64)
    out = naive_linear_attention(q, k, v, causal=causal, normalize=normalize)
    ref = fastmax.reference_attention(q, k, v, causal=causal, normalize=normalize)
    assert out.shape == ref.shape
    assert _rel(out, ref) < 1e-12


@pytest.mark.parametrize("name", ["fastmax_torch", "naive_linear"])
def test_fastmax_peers_forward_matches_reference(name):
    (method,) = build_methods((name,), normalize="token")
    q, k, v = _qkv()
    out = method.make(q, k, v, causal=True, backward=False)()
    ref = fastmax.reference_attention(q, k, v, causal=True, normalize="token")
    assert out.dtype == torch.float32
    assert _rel(out, ref) < 1e-5


@pytest.mark.parametrize("name", ["sdpa_math", "sdpa_flash"])
def test_sdpa_forward_is_softmax_attention(name):
    (method,) = build_methods((name,))
    q, k, v = _qkv()
    out = method.make(q, k, v, causal=True, backward=False)()
    n = q.shape[2]
    scores = (q.double() @ k.double().transpose(-1, -2)) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
    ref = scores.softmax(dim=-1) @ v.double()
    assert _rel(out, ref) < 1e-5


def test_forward_backward_returns_every_input_gradient_from_a_fixed_seed():
    (method,) = build_methods(("fastmax_torch",))
    q, k, v = _qkv(dtype=torch.bfloat16)
    first = method.make(q, k, v, causal=True, backward=True, seed=3)()
    again = method.make(q, k, v, causal=True, backward=True, seed=3)()
    other = method.make(q, k, v, causal=True, backward=True, seed=4)()
    assert [g.shape for g in first] == [q.shape, k.shape, v.shape]
    assert all(g.dtype == torch.bfloat16 and torch.isfinite(g).all() for g in first)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[2], other[2])
    assert q.grad is None and not q.requires_grad  # the caller's tensors are left alone


def test_fastmax_cuda_is_unsupported_without_its_extension_or_gpu():
    (method,) = build_methods(("fastmax_cuda",))
    reason = method.supported(CPU, torch.float32, True, 128)
    assert reason is not None
    assert "extension" in reason or "CUDA device" in reason
    q, k, v = _qkv()
    with pytest.raises(Unsupported, match="Fastmax"):
        method.make(q, k, v, causal=True, backward=False)


def test_tf32_variant_takes_float32_only_and_restores_the_precision(monkeypatch):
    import fastmax.bench.methods as methods

    (cuda_tf32,) = build_methods(("fastmax_cuda_tf32",))
    assert "float32 inputs only" in cuda_tf32.supported(CPU, torch.bfloat16, True, 64)
    seen = []

    def recording(*args, **kwargs):
        seen.append(torch.get_float32_matmul_precision())
        return fastmax.fastmax_attention(*args, **kwargs)

    monkeypatch.setattr(methods, "fastmax_attention", recording)
    method = methods.FastmaxMethod("torch_tf32", "torch", "token", float32_precision="high")
    q, k, v = _qkv()
    before = torch.get_float32_matmul_precision()
    out = method.make(q, k, v, causal=True, backward=False)()
    grads = method.make(q, k, v, causal=True, backward=True)()
    assert seen == ["high", "high"] and torch.get_float32_matmul_precision() == before
    assert _rel(out, fastmax.reference_attention(q, k, v)) < 1e-5 and len(grads) == 3


def test_unsplit_variant_sets_its_environment_during_the_call_only(monkeypatch):
    import fastmax.bench.methods as methods

    (unsplit,) = build_methods(("fastmax_cuda_unsplit",))
    assert unsplit.environment == {"FASTMAX_SEQUENCE_SPLIT": "0"}
    seen = []

    class Recorded(torch.autograd.Function):
        """Identity that records the variable in the forward and in the backward pass."""

        @staticmethod
        def forward(ctx, x):
            seen.append(os.environ.get("FASTMAX_SEQUENCE_SPLIT"))
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            seen.append(os.environ.get("FASTMAX_SEQUENCE_SPLIT"))
            return grad

    def recording(*args, **kwargs):
        return Recorded.apply(fastmax.fastmax_attention(*args, **kwargs))

    monkeypatch.setattr(methods, "fastmax_attention", recording)
    method = methods.FastmaxMethod(
        "torch_unsplit", "torch", "token", environment=unsplit.environment
    )
    q, k, v = _qkv()
    monkeypatch.delenv("FASTMAX_SEQUENCE_SPLIT", raising=False)
    out = method.make(q, k, v, causal=True, backward=False)()
    assert "FASTMAX_SEQUENCE_SPLIT" not in os.environ
    monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", "1")
    method.make(q, k, v, causal=True, backward=True)()
    assert seen == ["0", "0", "0"] and os.environ["FASTMAX_SEQUENCE_SPLIT"] == "1"
    assert _rel(out, fastmax.reference_attention(q, k, v)) < 1e-5


FLA = ("chunk_linear_attn", "fused_chunk_linear_attn", "parallel_based", "chunk_gla")


@pytest.mark.parametrize("name", FLA)
def test_fla_peers_need_a_gpu(name):
    (method,) = build_methods((name,))
    assert "CUDA device" in method.supported(CPU, torch.bfloat16, True, 128)
    assert "causal only" in method.supported(torch.device("cuda"), torch.bfloat16, False, 128)


@pytest.mark.parametrize("name", FLA)
def test_missing_fla_package_is_unsupported_with_the_reason(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "fla", None)  # what an absent package looks like
    (method,) = build_methods((name,))
    reason = method.supported(torch.device("cuda"), torch.bfloat16, True, 128)
    assert reason == "fla-core (flash-linear-attention) is not installed"


@pytest.mark.parametrize(
    ("name", "module", "inputs"),
    [
        ("chunk_linear_attn", "fla.ops.linear_attn", 3),
        ("fused_chunk_linear_attn", "fla.ops.linear_attn", 3),
        ("parallel_based", "fla.ops.based", 3),
        ("chunk_gla", "fla.ops.gla", 4),
    ],
)
def test_fla_calls_fit_the_installed_functions(name, module, inputs):
    """Our call of each fla function binds to its signature in the installed fla-core."""
    real = getattr(importlib.import_module(module), name)
    calls = []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return ("output", None)

    tensors = [torch.empty(1, 4, 2, 8) for _ in range(inputs)]
    FLA_CALLS[name](spy, *tensors)
    ((args, kwargs),) = calls
    bound = inspect.signature(real).bind(*args, **kwargs)
    assert all(bound.arguments[p] is t for p, t in zip(("q", "k", "v"), tensors[:3], strict=True))
    if name != "parallel_based":
        assert "[B, T, H, K]" in real.__doc__  # the layout the adapter transposes into


def test_parallel_based_limits_head_dim():
    (method,) = build_methods(("parallel_based",))
    assert "head_dim <= 128" in method.supported(torch.device("cuda"), torch.float32, True, 256)


def test_sdpa_backend_that_torch_refuses_is_unsupported_with_torchs_reason():
    (method,) = build_methods(("sdpa_efficient",))
    q, k, v = _qkv()
    with pytest.raises(Unsupported) as caught:
        method.make(q, k, v, causal=True, backward=False)
    assert "backend" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_build_methods_keeps_order_and_rejects_unknown_names():
    methods = build_methods(METHOD_NAMES)
    assert [m.name for m in methods] == list(METHOD_NAMES)
    with pytest.raises(ValueError, match="unknown methods"):
        build_methods(("flash3",))
