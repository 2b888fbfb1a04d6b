"""The compiled CUDA op: loading, fake (meta) kernels and autograd.

``csrc/`` declares these operators in the ``fastmax`` namespace::

    fastmax::fwd(q, k, v, causal, a0, a1, allow_tf32, eps=0, a1_heads=None)
        -> (out, den, kn, rk, rq)
    fastmax::fwd_inference(q, k, v, causal, a0, a1, allow_tf32, eps) -> out
        (eps > 0, no autograd: where the float32 wgmma forward runs, see ``allow_tf32``
        below, k is normalised in the pass too)
    fastmax::bwd(grad_out, q, k, v, out, den, kn, rk, rq, causal, a0, a1, allow_tf32, eps,
                 a1_heads=None) -> (dq, dk, dv)

    fastmax::token_normalize(x, eps) -> (y, rnorm)
    fastmax::token_normalize_bwd(grad_y, x, rnorm, eps) -> grad_x
    fastmax::row_dot(a, b) -> <a_i, b_i> per row, float32 (batch, heads, n)
    fastmax::seq_max_a1(sq_q, sq_k, a1, floor) -> (peak_q, peak_k, a1_heads)
    fastmax::add_peak_gradient_(dx, x, sq, s, peak, floor, power) -> None
        (both for ``seq_max``, one block per head: see ``seq_max_cuda.py``)
    fastmax::fits_device(dtype, head_dim, device) -> bool  (see head_dims_that_fit)
    fastmax::split_segments(dtype, kind, causal, batch, heads, n, head_dim, sms, smem_per_sm,
                            smem_per_block) -> int  (sequence split plan)

``a1_heads`` (float32 (batch, key/value heads), with ``eps == 0``) gives each key/value head and
its query heads their own a1 (the ``seq_max`` normalisation folded into the weights,
``seq_max_cuda.py``); the op's autograd treats it as a constant.
``den`` is the float32 denominator of every query, kept for the backward pass. With ``eps > 0``
the op normalises q and k per token itself (``x / max(||x||, eps)``, as ``token_normalize``
does): the bfloat16 and float16 forward pass scales q's rows in registers, and the float32
causal forward on wgmma (see ``allow_tf32`` below) folds their norms into its weights, both
taking the norms from their tiles; the other float32 forwards read a temporary normalised copy.
Only the normalised k (``kn``) and the row scales of k and q (``rk``, ``rq``; the passes that
normalise q write its) are kept for the backward, which folds q's
norms into its passes (no normalised copy of q): one forward+backward then needs the
gradients, ``out`` and one normalised copy.
``bwd`` returns the gradients of the raw q and k.
``out`` takes ``v``'s layout and each gradient its input's (dq and dk are contiguous with
``eps > 0``): token-major (memory order batch, token, head, dim) for a transposed view of a
(batch, token, head, dim) tensor, as LitGPT's attention passes them, so reshaping back to
(batch, token, heads x dim) is a view; contiguous otherwise.
``allow_tf32`` (float32 inputs only) follows ``torch.get_float32_matmul_precision()``:
anything but "highest" (PyTorch's default) lets the causal forward at head_dim 64 and 128 run
one TF32 product per step on Hopper's warpgroup units (the precision fla's kernels and PyTorch's
own matmuls give float32 then), where the extension was built for sm_90a and its grid fills more
than half the SMs (it has no sequence split); every other float32 pass keeps float32 accuracy
with three TF32 products per step, on the same warpgroup kernel for the causal forward and the
causal dq pass at head_dim 64 (under the same conditions, whatever the precision), on mma.sync
otherwise.
This module adds the shape functions that ``torch.compile`` traces with and the autograd
formula, so the op is one node in a compiled graph. When the extension was not built,
:func:`extension_loaded` is False and :func:`extension_error` says why.

Each pass cuts its sequence into segments run by separate blocks when batch x heads x column
tiles alone would leave SMs idle (``split_segments``); ``FASTMAX_SEQUENCE_SPLIT=0`` in the
environment keeps one block per sequence.
"""

from __future__ import annotations

import functools

import torch

from fastmax.ops.seq_max_cuda import SeqMaxAttention

try:
    from fastmax import _C  # noqa: F401  (importing registers torch.ops.fastmax)
except ImportError as error:  # CPU-only install or a failed build
    _IMPORT_ERROR: str | None = f"{type(error).__name__}: {error}"
else:
    _IMPORT_ERROR = None

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
SUPPORTED_HEAD_DIMS = (32, 64, 128, 256)
# Environment variables under which the kernels never split a sequence (for comparisons).
UNSPLIT_ENVIRONMENT = {"FASTMAX_SEQUENCE_SPLIT": "0"}


def extension_loaded() -> bool:
    """True when the compiled extension imported and registered ``torch.ops.fastmax``."""
    return _IMPORT_ERROR is None


def extension_error() -> str | None:
    """Why the extension is absent, or None when it loaded."""
    return _IMPORT_ERROR


@torch.compiler.assume_constant_result
def _allow_tf32() -> bool:
    """Whether float32 inputs may use one TF32 product where the op has such a pass (torch's
    matmul precision setting)."""
    return torch.get_float32_matmul_precision() != "highest"


@functools.cache
def _head_dims_that_fit(dtype: torch.dtype, device: int) -> tuple[int, ...]:
    return tuple(d for d in SUPPORTED_HEAD_DIMS if torch.ops.fastmax.fits_device(dtype, d, device))


@torch.compiler.assume_constant_result
def head_dims_that_fit(dtype: torch.dtype, device: int) -> tuple[int, ...]:
    """The head dims whose kernels for ``dtype`` fit the shared memory of CUDA ``device``.

    A constant to ``torch.compile``, asked once per dtype and device. The cache sits inside the
    marked function because Dynamo traces through a ``functools.cache`` wrapper (and would then
    put the op's result into the graph); the head dim is not an argument because a traced one
    is symbolic, which a constant function cannot take.
    """
    return _head_dims_that_fit(dtype, device)


def split_segments(
    dtype: torch.dtype,
    kind: int,
    causal: bool,
    batch: int,
    heads: int,
    n: int,
    head_dim: int,
    gpu: tuple[int, int, int],
) -> int:
    """Segments (1: unsplit) a pass cuts its sequence into on a GPU described by ``gpu``.

    ``kind`` is the pass (0 forward, 1 dq, 2 dk, 3 dv) and ``causal`` its masking; ``heads`` the
    heads it walks; ``gpu`` the SMs and the shared memory per SM and per block in bytes. The
    arguments are checked here: on the lent H200's torch 2.11 build any ``c10::Error`` thrown
    inside this extension (``TORCH_CHECK``, from CPU, CUDA or catch-all kernels) ended the
    process, while torch's own errors and a ``std::invalid_argument`` raised; the pinned torch
    2.14 raises ValueError.
    """
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be one of {SUPPORTED_DTYPES}, got {dtype}")
    if kind not in range(4):
        raise ValueError(f"kind must be 0 to 3 (forward, dq, dk, dv), got {kind}")
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if head_dim not in SUPPORTED_HEAD_DIMS:
        raise ValueError(f"head_dim must be one of {SUPPORTED_HEAD_DIMS}, got {head_dim}")
    if batch < 0 or heads < 0 or n < 1:
        raise ValueError(f"need batch, heads >= 0 and n >= 1, got {batch}, {heads}, {n}")
    if len(gpu) != 3 or min(gpu) < 1:
        raise ValueError(f"gpu must be (SMs, shared memory per SM, per block) >= 1, got {gpu}")
    return torch.ops.fastmax.split_segments(dtype, kind, causal, batch, heads, n, head_dim, *gpu)


def cuda_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool,
    a0: float,
    a1: float,
    eps: float = 0.0,
) -> torch.Tensor:
    """Fastmax (p = 1) of CUDA tensors through the compiled kernels; ``eps > 0`` normalises q
    and k per token inside the op (else they are used as given). Where no gradient is wanted
    (autograd off, or no input requiring one) it runs ``fwd_inference``, which keeps nothing
    for a backward."""
    if eps > 0 and not (
        torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
    ):
        return torch.ops.fastmax.fwd_inference(
            q, k, v, causal, float(a0), float(a1), _allow_tf32(), float(eps)
        )
    out, *_ = torch.ops.fastmax.fwd(
        q, k, v, causal, float(a0), float(a1), _allow_tf32(), float(eps)
    )
    return out


def cuda_seq_max_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, a0: float, a1: float
) -> torch.Tensor:
    """Fastmax (p = 1) of q and k normalised by ``seq_max`` through the compiled kernels, with
    the normalisation folded into per-head weights (``seq_max_cuda.py``)."""
    return SeqMaxAttention.apply(q, k, v, causal, float(a0), float(a1), _allow_tf32())


def _empty_like_layout(like: torch.Tensor, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    """An empty (batch, heads, n, dim) tensor laid out as the kernels lay out their outputs:
    token-major when ``like`` is a transposed view of a (batch, token, head, dim) tensor (its
    heads closer in memory than its tokens), else contiguous (``empty_like_layout`` in
    ``csrc/fastmax_ops.cpp``)."""
    b, h, n, d = shape
    if like.stride(1) < like.stride(2):
        return like.new_empty((b, n, h, d), dtype=dtype).transpose(1, 2)
    return like.new_empty((b, h, n, d), dtype=dtype)


def _fake_fwd(q, k, v, causal, a0, a1, allow_tf32, eps=0.0, a1_heads=None):
    b, h, n, _ = q.shape
    out = _empty_like_layout(v, (b, h, n, v.shape[3]), q.dtype)
    den = q.new_empty((b, h, n), dtype=torch.float32)
    if eps > 0:
        rk = k.new_empty(k.shape[:3], dtype=torch.float32)
        return out, den, k.new_empty(k.shape), rk, q.new_empty((b, h, n), dtype=torch.float32)
    rk, rq = (k.new_empty((0,), dtype=torch.float32) for _ in "kq")  # distinct, not aliased
    return out, den, k.new_empty((0,)), rk, rq


def _fake_fwd_inference(q, k, v, causal, a0, a1, allow_tf32, eps):
    b, h, n, _ = q.shape
    return _empty_like_layout(v, (b, h, n, v.shape[3]), q.dtype)


def _fake_bwd(
    grad_out, q, k, v, out, den, kn, rk, rq, causal, a0, a1, allow_tf32, eps, a1_heads=None
):
    # With eps > 0, dq (DQN or the normalisation's backward) and dk are contiguous rows.
    dq, dk = (
        (x.new_empty(x.shape) if eps > 0 else _empty_like_layout(x, x.shape, q.dtype))
        for x in (q, k)
    )
    return dq, dk, _empty_like_layout(v, v.shape, q.dtype)


def _fake_normalize(x, eps):
    return x.new_empty(x.shape), x.new_empty(x.shape[:3], dtype=torch.float32)


def _fake_normalize_bwd(grad_y, x, rnorm, eps):
    return x.new_empty(x.shape)


def _fake_row_dot(a, b):
    return a.new_empty(a.shape[:3], dtype=torch.float32)


def _fake_seq_max_a1(sq_q, sq_k, a1, floor):
    peak_q = sq_q.new_empty(sq_q.shape[:2])
    return peak_q, sq_k.new_empty(sq_k.shape[:2]), sq_k.new_empty(sq_k.shape[:2])


def _fake_add_peak_gradient(dx, x, sq, s, peak, floor, power):
    return None


def _setup_context(ctx, inputs, output):
    q, k, v, causal, a0, a1, allow_tf32, *rest = inputs
    eps = rest[0] if rest else 0.0  # the schema's defaults, where the call left them out
    a1_heads = rest[1] if len(rest) > 1 else None
    out, den, kn, rk, rq = output
    ctx.save_for_backward(q, k, v, out, den, kn, rk, rq, a1_heads)
    ctx.options = (causal, a0, a1, allow_tf32, eps)
    ctx.mark_non_differentiable(den, kn, rk, rq)
    # The outputs without a gradient would otherwise get zero-filled ones: kn's is as large as k.
    # The backward runs only for a gradient of out, the one differentiable output.
    ctx.set_materialize_grads(False)


def _backward(ctx, grad_out, _grad_den, _grad_kn, _grad_rk, _grad_rq):
    q, k, v, out, den, kn, rk, rq, a1_heads = ctx.saved_tensors
    dq, dk, dv = torch.ops.fastmax.bwd(
        grad_out, q, k, v, out, den, kn, rk, rq, *ctx.options, a1_heads
    )
    return dq, dk, dv, None, None, None, None, None, None


if _IMPORT_ERROR is None:
    torch.library.register_fake("fastmax::fwd")(_fake_fwd)
    torch.library.register_fake("fastmax::fwd_inference")(_fake_fwd_inference)
    torch.library.register_fake("fastmax::bwd")(_fake_bwd)
    torch.library.register_autograd("fastmax::fwd", _backward, setup_context=_setup_context)
    torch.library.register_fake("fastmax::token_normalize")(_fake_normalize)
    torch.library.register_fake("fastmax::token_normalize_bwd")(_fake_normalize_bwd)
    torch.library.register_fake("fastmax::row_dot")(_fake_row_dot)
    torch.library.register_fake("fastmax::seq_max_a1")(_fake_seq_max_a1)
    torch.library.register_fake("fastmax::add_peak_gradient_")(_fake_add_peak_gradient)
