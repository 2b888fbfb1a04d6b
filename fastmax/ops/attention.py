"""The public Fastmax attention: argument checks, normalisation and backend dispatch."""

from __future__ import annotations

import torch
from torch import nn

from fastmax.ops import _cuda
from fastmax.ops.checks import BACKENDS, check_inputs
from fastmax.ops.chunked import chunked_attention
from fastmax.ops.normalize import TOKEN_EPS, normalize_qk


def cuda_available() -> bool:
    """True when the compiled CUDA op is importable and PyTorch sees a CUDA GPU."""
    return _cuda.extension_loaded() and torch.cuda.is_available()


def _cuda_unsupported(q: torch.Tensor, v: torch.Tensor, p: int) -> str | None:
    """Why the CUDA kernels cannot run this call, or None when they can."""
    if p != 1:
        return f"the CUDA kernels implement p=1 only, got p={p}; use backend='torch' for p=2"
    if q.dtype not in _cuda.SUPPORTED_DTYPES:
        return f"the CUDA kernels take float16, bfloat16 or float32, got {q.dtype}"
    d, dv = q.shape[3], v.shape[3]
    if d not in _cuda.SUPPORTED_HEAD_DIMS:
        return f"the CUDA kernels take head_dim in {_cuda.SUPPORTED_HEAD_DIMS}, got {d}"
    if dv != d:
        return f"the CUDA kernels need v's head_dim equal to q's ({d}), got {dv}"
    device = q.device.index if q.device.index is not None else torch.cuda.current_device()
    if d not in _cuda.head_dims_that_fit(q.dtype, device):
        return (
            f"{q.dtype} with head_dim {d} needs more shared memory per block than "
            f"{torch.cuda.get_device_name(device)} offers"
        )
    return None


def _use_cuda(q: torch.Tensor, v: torch.Tensor, p: int, backend: str) -> bool:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return False
    usable = _cuda.extension_loaded() and q.is_cuda and _cuda_unsupported(q, v, p) is None
    if backend == "auto" or usable:
        return usable
    if not _cuda.extension_loaded():
        raise ValueError(
            "backend='cuda' needs the compiled extension, which is absent "
            f"({_cuda.extension_error()}); reinstall with FASTMAX_BUILD_CUDA=1 "
            "or use backend='torch'"
        )
    if not q.is_cuda:
        raise ValueError(f"backend='cuda' needs CUDA tensors, got tensors on {q.device}")
    raise ValueError(f"backend='cuda': {_cuda_unsupported(q, v, p)}")


def fastmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    normalize: str | None = "token",
    p: int = 1,
    a0: float = 1.0,
    a1: float = 1.0,
    a2: float = 1.0,
    backend: str = "auto",
) -> torch.Tensor:
    """Fastmax attention: the Taylor form of softmax, in time linear in the sequence length.

    Args:
        q: queries (B, H, N, D).
        k: keys (B, Hkv, N, D), with H % Hkv == 0 (grouped or multi-query attention).
        v: values (B, Hkv, N, Dv).
        causal: each query attends to keys at or before its own position.
        normalize: "token" (per-token L2, causal-safe), "seq_max" (the original code's rule,
            divides by the sequence maximum of the squared norm, floored at 0.1) or None.
        p: Taylor order, 1 or 2 (weights a0 + a1 s [+ a2 s^2 / 2] with s = <q, k>).
        a0, a1, a2: Taylor coefficients.
        backend: "auto" (the CUDA op for CUDA tensors it supports, else "torch"), "cuda" or
            "torch" (chunked PyTorch, any device, p = 1 and 2).

    Returns:
        (B, H, N, Dv) in q's dtype. Inputs are never modified.
    """
    check_inputs(q, k, v, causal=causal, normalize=normalize, p=p, a0=a0, a1=a1, a2=a2)
    use_cuda = _use_cuda(q, v, p, backend)
    if use_cuda and normalize == "token":  # normalised inside the op, which keeps one copy
        return _cuda.cuda_attention(q, k, v, causal, a0, a1, eps=TOKEN_EPS)
    if use_cuda and normalize == "seq_max":  # folded into per-head weights (seq_max_cuda.py)
        return _cuda.cuda_seq_max_attention(q, k, v, causal, a0, a1)
    q, k = normalize_qk(q, k, normalize)
    if use_cuda:
        return _cuda.cuda_attention(q, k, v, causal, a0, a1)
    return chunked_attention(q, k, v, causal=causal, p=p, a0=a0, a1=a1, a2=a2)


class FastmaxAttention(nn.Module):
    """``fastmax_attention`` as a module holding its options; forward(q, k, v) -> out."""

    def __init__(
        self,
        *,
        causal: bool = True,
        normalize: str | None = "token",
        p: int = 1,
        a0: float = 1.0,
        a1: float = 1.0,
        a2: float = 1.0,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.options = dict(
            causal=causal, normalize=normalize, p=p, a0=a0, a1=a1, a2=a2, backend=backend
        )

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return fastmax_attention(q, k, v, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.options.items())
