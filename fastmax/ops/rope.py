"""Rotary position embedding (RoPE) of queries or keys, as LitGPT applies it, in one pass.

``apply_rope(x, cos, sin)`` rotates the first ``R = cos.shape[-1]`` elements of every row of
``x`` (batch, heads, tokens, head_dim) by LitGPT's rotate-half rule (element d pairs with
d + R/2) and keeps the rest: the same values as LitGPT's ``apply_rope`` on ``x[..., :R]``
followed by the ``torch.cat`` with ``x[..., R:]``, computed in float32 (float64 for float64
inputs) and rounded once.

On CUDA tensors the compiled ``fastmax::rope`` kernel does the forward and its gradient each in
one pass, with the result token-major (memory order batch, token, head, dim). LitGPT builds q
and k as transposed views of its (batch, token, heads x dim) projection, and rotates them in
several element-wise kernels whose gradient adds zero-filled copies; with this op the gradient
of such a view is reshaped back without a copy. Elsewhere (CPU, float64, or R/2 not a multiple
of the elements in 16 bytes) :func:`rope_reference` computes it with PyTorch operations.
"""

from __future__ import annotations

import torch

from fastmax.ops import _cuda


def rope_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE by PyTorch operations: x (B, H, N, D), cos and sin (N, R); returns x's dtype."""
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    r = cos.shape[-1]
    xf = x[..., :r].to(compute)
    x1, x2 = xf[..., : r // 2], xf[..., r // 2 :]
    rotated = torch.cat((-x2, x1), dim=-1)
    roped = xf * cos.to(compute) + rotated * sin.to(compute)
    return torch.cat((roped.to(x.dtype), x[..., r:]), dim=-1)


def _checked_tables(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin as (tokens, R) after checking every argument."""
    if not all(isinstance(t, torch.Tensor) for t in (x, cos, sin)):
        raise TypeError("x, cos and sin must be torch.Tensors")
    cos, sin = (t[0] if t.dim() == 3 and t.shape[0] == 1 else t for t in (cos, sin))
    if x.dim() != 4:
        raise ValueError(
            f"x must have 4 dimensions (batch, heads, tokens, head_dim), got {tuple(x.shape)}"
        )
    if cos.dim() != 2 or cos.shape != sin.shape:
        raise ValueError(
            "cos and sin must share one shape (tokens, rotated dims), got "
            f"{tuple(cos.shape)} and {tuple(sin.shape)}"
        )
    n, r = cos.shape
    if n != x.shape[2]:
        raise ValueError(f"cos and sin must have one row per token ({x.shape[2]}), got {n}")
    if r % 2 or not 0 < r <= x.shape[3]:
        raise ValueError(f"the rotated dims (cos.shape[1] = {r}) must be even and 1..head_dim")
    if not (x.is_floating_point() and cos.is_floating_point() and sin.is_floating_point()):
        raise TypeError(f"x, cos and sin must be floating point, got {x.dtype} and {cos.dtype}")
    if cos.device != x.device or sin.device != x.device:
        raise ValueError(f"cos and sin must be on x's device {x.device}, got {cos.device}")
    return cos, sin


def _kernel_fits(x: torch.Tensor, r: int) -> bool:
    """Whether the CUDA kernel takes x: a CUDA dtype it has, 16-byte vectors covering a head
    row and R/2, batch and heads within its grid, the extension built."""
    if not (x.is_cuda and _cuda.extension_loaded() and x.dtype in _cuda.SUPPORTED_DTYPES):
        return False
    if max(x.shape[0], x.shape[1]) > 65535 or x.shape[2] * x.shape[3] >= 2**31:
        return False
    per16 = 16 // x.element_size()
    return x.shape[3] % per16 == 0 and (r // 2) % per16 == 0


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``cos.shape[-1]`` dims of x's rows (LitGPT's rotate-half RoPE).

    Args:
        x: (batch, heads, tokens, head_dim) queries or keys; never modified.
        cos, sin: (tokens, R) or (1, tokens, R), as LitGPT's GPT passes them to its attention;
            R even, at most head_dim.

    Returns:
        A new tensor of x's shape and dtype (token-major on the CUDA path), differentiable in x.
    """
    cos, sin = _checked_tables(x, cos, sin)
    if not _kernel_fits(x, cos.shape[1]):
        return rope_reference(x, cos, sin)
    return torch.ops.fastmax.rope(x, cos.float().contiguous(), sin.float().contiguous(), False)


def _fake_rope(x, cos, sin, inverse):
    b, h, n, d = x.shape
    return x.new_empty((b, n, h, d)).transpose(1, 2)


def _setup_context(ctx, inputs, output):
    _, cos, sin, inverse = inputs
    ctx.save_for_backward(cos, sin)
    ctx.inverse = inverse


def _backward(ctx, grad):
    cos, sin = ctx.saved_tensors
    return torch.ops.fastmax.rope(grad, cos, sin, not ctx.inverse), None, None, None


if _cuda.extension_loaded():
    torch.library.register_fake("fastmax::rope")(_fake_rope)
    torch.library.register_autograd("fastmax::rope", _backward, setup_context=_setup_context)
