"""Attention methods the sweep compares, one small adapter each.

An adapter says whether it can run a case (``supported`` returns the reason when it cannot) and
turns q, k, v of shape (B, H, N, D) into a callable that runs its forward pass, or its forward and
backward pass with a fixed random output gradient. Everything outside the measured work (layout
changes, gates, gradients) happens in ``make``, before timing starts. Every method receives the
same q, k and v; an optional package that is missing makes its methods unsupported, with the
reason.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fastmax.environ import environment_set, float32_matmul_precision
from fastmax.ops import _cuda, fastmax_attention
from fastmax.ops.normalize import normalize_qk

METHOD_NAMES = (
    "fastmax_cuda",
    "fastmax_cuda_tf32",
    "fastmax_cuda_unsplit",
    "fastmax_torch",
    "naive_linear",
    "sdpa_flash",
    "sdpa_efficient",
    "sdpa_cudnn",
    "sdpa_math",
    "chunk_linear_attn",
    "fused_chunk_linear_attn",
    "parallel_based",
    "chunk_gla",
)


_TRIGGERED = re.compile(r"\(Triggered internally at [^)]*\)")


class Unsupported(Exception):
    """A method cannot run a case; the message says why."""


@dataclass(frozen=True)
class Prepared:
    """A method's function, its inputs in its own layout, and the shape of its output."""

    fn: Callable[..., torch.Tensor]
    inputs: tuple[torch.Tensor, ...]
    out_shape: torch.Size


class Method(ABC):
    """One attention implementation under test."""

    name: str

    def supported(
        self, device: torch.device, dtype: torch.dtype, causal: bool, head_dim: int
    ) -> str | None:
        """Why this method cannot run such a case, or None when it can."""
        return None

    @abstractmethod
    def prepare(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> Prepared:
        """The function and its inputs for q, k, v (B, H, N, D); may raise ``Unsupported``."""

    def make(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        causal: bool,
        backward: bool,
        seed: int = 0,
    ) -> Callable[[], object]:
        """A callable running the forward pass (no autograd) or forward + backward.

        The backward pass differentiates with respect to every input using an output gradient
        drawn once from ``seed``. Raises ``Unsupported`` with the reason when the method
        cannot run these inputs.
        """
        reason = self.supported(q.device, q.dtype, causal, q.shape[-1])
        if reason is not None:
            raise Unsupported(reason)
        prepared = self.prepare(q, k, v, causal)
        fn = prepared.fn
        if not backward:

            def forward() -> torch.Tensor:
                with torch.no_grad():
                    return fn(*prepared.inputs)

            return forward
        inputs = tuple(t.detach().requires_grad_(True) for t in prepared.inputs)
        generator = torch.Generator(device=q.device).manual_seed(seed)
        grad = torch.randn(prepared.out_shape, generator=generator, device=q.device, dtype=q.dtype)

        def forward_backward() -> tuple[torch.Tensor, ...]:
            return torch.autograd.grad(fn(*inputs), inputs, grad)

        return forward_backward


def naive_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    normalize: str | None = "token",
    a0: float = 1.0,
    a1: float = 1.0,
) -> torch.Tensor:
    """Fastmax (p = 1) the way the original code's naive PyTorch version computes it.

    The prefix sums ``S_i = sum_{j<=i} k_j v_j^T`` are materialised for every token, so memory
    grows as N * D * Dv: it is the heavy linear-attention peer of the paper, not a fast path.
    q, k: (B, H, N, D); v: (B, H, N, Dv) with the heads of q. Computed in the input dtype.
    """
    q, k = normalize_qk(q, k, normalize)
    n = q.shape[2]
    outer = k.unsqueeze(-1) * v.unsqueeze(-2)  # (B, H, N, D, Dv)
    if causal:
        state, k_sum, v_sum = outer.cumsum(dim=2), k.cumsum(dim=2), v.cumsum(dim=2)
        count = torch.arange(1, n + 1, device=q.device, dtype=q.dtype).unsqueeze(-1)
    else:
        state = outer.sum(dim=2, keepdim=True)
        k_sum, v_sum = k.sum(dim=2, keepdim=True), v.sum(dim=2, keepdim=True)
        count = torch.full((1, 1), n, device=q.device, dtype=q.dtype)
    numerator = a0 * v_sum + a1 * (q.unsqueeze(-2) @ state).squeeze(-2)
    denominator = a0 * count + a1 * (q * k_sum).sum(dim=-1, keepdim=True)
    return numerator / denominator


class FastmaxMethod(Method):
    """``fastmax.fastmax_attention`` with one backend pinned.

    ``float32_precision`` (``torch.set_float32_matmul_precision`` during the call, float32 inputs
    only): "high" lets the CUDA op's causal forward (head_dim 64, 128) take one TF32 product per
    step instead of three, as fla's Triton kernels do by default, for a like-for-like float32
    comparison. ``environment``:
    variables set during the call (``FASTMAX_SEQUENCE_SPLIT=0`` times the unsplit kernels).
    """

    def __init__(
        self,
        name: str,
        backend: str,
        normalize: str | None,
        float32_precision: str | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.name, self.backend, self.normalize = name, backend, normalize
        self.float32_precision = float32_precision
        self.environment = environment or {}

    def supported(self, device, dtype, causal, head_dim):
        if self.float32_precision is not None and dtype != torch.float32:
            return f"{self.name} sets the float32 matmul precision: float32 inputs only"
        if self.backend != "cuda":
            return None
        if not _cuda.extension_loaded():
            return f"the compiled Fastmax extension is absent ({_cuda.extension_error()})"
        if device.type != "cuda":
            return f"the Fastmax CUDA kernels need a CUDA device, got {device}"
        if dtype not in _cuda.SUPPORTED_DTYPES:
            return f"the Fastmax CUDA kernels do not take {dtype}"
        if head_dim not in _cuda.SUPPORTED_HEAD_DIMS:
            return f"the Fastmax CUDA kernels take head_dim in {_cuda.SUPPORTED_HEAD_DIMS}"
        return None

    def prepare(self, q, k, v, causal):
        def fn(q, k, v):
            return fastmax_attention(
                q, k, v, causal=causal, normalize=self.normalize, backend=self.backend
            )

        return Prepared(fn, (q, k, v), v.shape)

    def make(self, q, k, v, *, causal, backward, seed=0):
        """As ``Method.make``, with the precision and environment set around the whole call
        (the backward kernels read ``FASTMAX_SEQUENCE_SPLIT`` when they run)."""
        run = super().make(q, k, v, causal=causal, backward=backward, seed=seed)
        if self.float32_precision is None and not self.environment:
            return run

        def pinned() -> object:
            with pinned_settings(self.float32_precision, self.environment):
                return run()

        return pinned


@contextlib.contextmanager
def pinned_settings(float32_precision: str | None, environment: dict[str, str]) -> Iterator[None]:
    """The float32 matmul precision and environment variables given, restored afterwards."""
    with float32_matmul_precision(float32_precision), environment_set(environment):
        yield


class NaiveLinearMethod(Method):
    """The original code's naive linear attention (``naive_linear_attention``)."""

    name = "naive_linear"

    def __init__(self, normalize: str | None) -> None:
        self.normalize = normalize

    def prepare(self, q, k, v, causal):
        def fn(q, k, v):
            return naive_linear_attention(q, k, v, causal=causal, normalize=self.normalize)

        return Prepared(fn, (q, k, v), v.shape)


class SdpaMethod(Method):
    """``scaled_dot_product_attention`` with one backend pinned by ``sdpa_kernel``.

    Whether the backend can run a case is decided by PyTorch itself: ``prepare`` makes one call,
    and PyTorch's refusal (with its warnings, which say why) becomes ``Unsupported``.
    """

    def __init__(self, name: str, backend: str) -> None:
        self.name, self.backend = name, backend

    def prepare(self, q, k, v, causal):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = getattr(SDPBackend, self.backend)

        def fn(q, k, v):
            with sdpa_kernel([backend]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with torch.no_grad():
                    fn(q, k, v)
            except RuntimeError as error:
                message = str(error)
                if "No available kernel" not in message and "No viable backend" not in message:
                    raise
                reasons = [str(w.message) for w in caught] + [message]
                text = _TRIGGERED.sub("", " | ".join(reasons))
                raise Unsupported(" ".join(text.split())) from None
        return Prepared(fn, (q, k, v), v.shape)


class FlaMethod(Method):
    """A flash-linear-attention (``fla-core``, Triton) kernel in its (B, N, H, D) layout.

    Gated methods (GLA) get a log-sigmoid forget gate drawn once from ``GATE_SEED``.
    """

    GATE_SEED = 1

    def __init__(self, name: str, module: str, gated: bool = False, max_head_dim: int = 0):
        self.name, self.module, self.gated, self.max_head_dim = name, module, gated, max_head_dim

    def supported(self, device, dtype, causal, head_dim):
        if importlib.util.find_spec("fla") is None:
            return "fla-core (flash-linear-attention) is not installed"
        if device.type != "cuda":
            return f"fla's Triton kernels need a CUDA device, got {device}"
        if not causal:
            return f"fla's {self.name} is causal only"
        if self.max_head_dim and head_dim > self.max_head_dim:
            return f"fla's {self.name} takes head_dim <= {self.max_head_dim}, got {head_dim}"
        return None

    def prepare(self, q, k, v, causal):
        try:
            function = getattr(importlib.import_module(self.module), self.name)
        except ImportError as error:
            raise Unsupported(f"importing {self.module} failed: {error}") from None
        inputs = tuple(t.transpose(1, 2).contiguous() for t in (q, k, v))
        if self.gated:
            generator = torch.Generator(device=q.device).manual_seed(self.GATE_SEED)
            gate = torch.randn(inputs[0].shape, generator=generator, device=q.device)
            inputs = (*inputs, F.logsigmoid(gate).to(q.dtype))
        call = FLA_CALLS[self.name]
        return Prepared(lambda *xs: call(function, *xs), inputs, inputs[2].shape)


# How each fla function is called: inputs in (B, N, H, D), linear attention with scale 1 and
# its own normalisation (the anchors of DESIGN.md section 4), the output tensor alone.
FLA_CALLS: dict[str, Callable[..., torch.Tensor]] = {
    "chunk_linear_attn": lambda f, q, k, v: f(q, k, v, scale=1.0, normalize=True)[0],
    "fused_chunk_linear_attn": lambda f, q, k, v: f(q, k, v, scale=1.0, normalize=True)[0],
    "parallel_based": lambda f, q, k, v: f(q, k, v, use_norm=True),
    "chunk_gla": lambda f, q, k, v, g: f(q, k, v, g)[0],
}


def build_methods(names: tuple[str, ...], normalize: str | None = "token") -> list[Method]:
    """The adapters for ``names`` (from ``METHOD_NAMES``), Fastmax normalising by ``normalize``."""
    factories: dict[str, Callable[[], Method]] = {
        "fastmax_cuda": lambda: FastmaxMethod("fastmax_cuda", "cuda", normalize),
        "fastmax_cuda_tf32": lambda: FastmaxMethod("fastmax_cuda_tf32", "cuda", normalize, "high"),
        "fastmax_cuda_unsplit": lambda: FastmaxMethod(
            "fastmax_cuda_unsplit", "cuda", normalize, environment=_cuda.UNSPLIT_ENVIRONMENT
        ),
        "fastmax_torch": lambda: FastmaxMethod("fastmax_torch", "torch", normalize),
        "naive_linear": lambda: NaiveLinearMethod(normalize),
        "sdpa_flash": lambda: SdpaMethod("sdpa_flash", "FLASH_ATTENTION"),
        "sdpa_efficient": lambda: SdpaMethod("sdpa_efficient", "EFFICIENT_ATTENTION"),
        "sdpa_cudnn": lambda: SdpaMethod("sdpa_cudnn", "CUDNN_ATTENTION"),
        "sdpa_math": lambda: SdpaMethod("sdpa_math", "MATH"),
        "chunk_linear_attn": lambda: FlaMethod("chunk_linear_attn", "fla.ops.linear_attn"),
        "fused_chunk_linear_attn": lambda: FlaMethod(
            "fused_chunk_linear_attn", "fla.ops.linear_attn"
        ),
        "parallel_based": lambda: FlaMethod("parallel_based", "fla.ops.based", max_head_dim=128),
        "chunk_gla": lambda: FlaMethod("chunk_gla", "fla.ops.gla", gated=True),
    }
    unknown = [name for name in names if name not in factories]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected names from {list(METHOD_NAMES)}")
    return [factories[name]() for name in names]
