"""RoPE of queries and keys: LitGPT's values, its gradient, one kernel each way on CUDA."""

from __future__ import annotations

import pytest
import torch
from litgpt.model import apply_rope as litgpt_rope

import fastmax
from fastmax.ops import _cuda
from fastmax.ops.rope import apply_rope, rope_reference

HAS_CUDA = fastmax.cuda_available()
gpu = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU and the compiled extension")


def tables(n: int, r: int, dtype=torch.float64, device="cpu"):
    """LitGPT-shaped cosines and sines: (1, n, r), halves repeated, of real angles."""
    inv = 1.0 / (10000 ** (torch.arange(0, r, 2, dtype=torch.float64) / r))
    angles = torch.outer(torch.arange(n, dtype=torch.float64), inv).repeat(1, 2)
    return (t.unsqueeze(0).to(device, dtype) for t in (angles.cos(), angles.sin()))


def litgpt_rows(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """What LitGPT's attention does to q and k: rotate the first R dims, keep the rest."""
    r = cos.shape[-1]
    return torch.cat((litgpt_rope(x[..., :r], cos, sin), x[..., r:]), dim=-1)


@pytest.mark.parametrize("r", [8, 16, 32])
def test_reference_equals_litgpt_in_float64(r):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 11, 32, generator=gen, dtype=torch.float64)
    cos, sin = tables(11, r)
    out = apply_rope(x, cos, sin)
    assert torch.allclose(out, litgpt_rows(x, cos, sin), rtol=0, atol=1e-14)
    assert torch.equal(out[..., r:], x[..., r:])
    assert not torch.allclose(out[..., :r], x[..., :r])


def test_rotation_keeps_norms_and_its_gradient_is_the_transpose():
    """RoPE is orthogonal per token: norms kept, and the gradient of <y, g> is the inverse
    rotation of g, so rotating it forward gives g back."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 9, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    cos, sin = tables(9, 16)
    y = apply_rope(x, cos, sin)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-13)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    (y * g).sum().backward()
    assert torch.allclose(apply_rope(x.grad, cos, sin), g, atol=1e-13)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((torch.zeros(2, 9, 16),), ValueError, "4 dimensions"),
        ((torch.zeros(1, 2, 9, 16), torch.zeros(9, 8), torch.zeros(9, 6)), ValueError, "one shape"),
        ((torch.zeros(1, 2, 9, 16), torch.zeros(8, 8), torch.zeros(8, 8)), ValueError, "per token"),
        ((torch.zeros(1, 2, 9, 16), torch.zeros(9, 7), torch.zeros(9, 7)), ValueError, "even"),
        ((torch.zeros(1, 2, 9, 16), torch.zeros(9, 18), torch.zeros(9, 18)), ValueError, "even"),
        ((torch.zeros(1, 2, 9, 16), "cos", torch.zeros(9, 8)), TypeError, "torch.Tensors"),
        (
            (torch.zeros(1, 2, 9, 16, dtype=torch.int32), torch.zeros(9, 8), torch.zeros(9, 8)),
            TypeError,
            "floating point",
        ),
    ],
)
def test_bad_input_raises_clear_error(args, error, match):
    x, cos, sin = (*args, *((torch.zeros(9, 8),) * (3 - len(args))))
    with pytest.raises(error, match=match):
        apply_rope(x, cos, sin)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize(("head_dim", "r"), [(64, 16), (128, 32), (128, 128), (256, 64)])
def test_kernel_matches_float64_and_gradient(dtype, head_dim, r):
    """The kernel rounds once from float32: within one rounding of the float64 values, forward
    and gradient, with LitGPT's strided q view as input and the pass-through dims copied."""
    gen = torch.Generator().manual_seed(2)
    qkv = torch.randn(2, 300, 3 * 4 * head_dim, generator=gen).to("cuda", dtype)
    x = qkv[..., : 4 * head_dim].view(2, 300, 4, head_dim).transpose(1, 2).requires_grad_()
    before = x.detach().clone()
    cos, sin = tables(300, r, torch.float32, "cuda")
    y = apply_rope(x, cos, sin)
    assert y.transpose(1, 2).is_contiguous(), "token-major result"
    assert torch.equal(x.detach(), before)
    x64 = x.detach().double().requires_grad_()
    y64 = rope_reference(x64, cos[0].double(), sin[0].double())
    # One rounding to dtype, plus float32 arithmetic on terms up to 5 that may cancel.
    rtol, atol = torch.finfo(dtype).eps, 20 * torch.finfo(torch.float32).eps
    assert torch.equal(y[..., r:], x.detach()[..., r:])
    assert torch.allclose(y.double(), y64, rtol=rtol, atol=atol)
    g = torch.randn(y.shape, generator=gen).to("cuda", dtype)
    (dx,) = torch.autograd.grad(y, x, g)
    (dx64,) = torch.autograd.grad(y64, x64, g.double())
    assert torch.allclose(dx.double(), dx64, rtol=rtol, atol=atol)
    # The gradient comes back token-major, so LitGPT's view of the projection needs no copy.
    assert dx.transpose(1, 2).is_contiguous()


@gpu
@pytest.mark.gpu
def test_kernel_declines_what_its_vectors_cannot_cover():
    """bfloat16 with R/2 = 4 (half a 16-byte vector) goes to the PyTorch path, same values."""
    x = torch.randn(1, 2, 40, 64, device="cuda", dtype=torch.bfloat16)
    cos, sin = tables(40, 8, torch.float32, "cuda")
    y = apply_rope(x, cos, sin)
    assert y.is_contiguous()
    assert torch.equal(y, rope_reference(x, cos[0], sin[0]))


@gpu
@pytest.mark.gpu
def test_opcheck_rope():
    x = torch.randn(2, 3, 70, 64, device="cuda")
    cos, sin = (t[0].float().contiguous() for t in tables(70, 32, torch.float32, "cuda"))
    for inverse in (False, True):
        torch.library.opcheck(torch.ops.fastmax.rope, (x, cos, sin, inverse))


@pytest.mark.skipif(not _cuda.extension_loaded(), reason="needs the compiled extension")
def test_rope_shape_function_is_token_major():
    x = torch.empty(2, 3, 50, 64, device="meta")
    cos = torch.empty(50, 16, device="meta")
    y = torch.ops.fastmax.rope(x, cos, cos, False)
    assert y.shape == x.shape and y.transpose(1, 2).is_contiguous()
