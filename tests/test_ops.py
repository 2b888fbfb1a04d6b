"""The Fastmax op against the float64 formula, on every backend this machine has.

CPU runs the torch backend; with a CUDA GPU and the compiled extension the same tests run the
cuda backend too (they are skipped, and reported as skipped, without them).
"""

from __future__ import annotations

import math

import pytest
import torch

import fastmax
from fastmax.correctness import DTYPES, Case, relative_error, run_case, tolerance
from fastmax.ops import _cuda
from fastmax.ops.normalize import normalize_qk

HAS_CUDA = fastmax.cuda_available()
gpu = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU and the compiled extension")
BACKENDS = ["torch", pytest.param("cuda", marks=[gpu, pytest.mark.gpu])]
DEVICE = {"torch": "cpu", "cuda": "cuda"}


def _assert_case(case: Case) -> None:
    result = run_case(case, DEVICE[case.backend])
    errors = {name: result[name] for name in ("out", "dq", "dk", "dv")}
    assert result["passed"], f"{case}: {errors} over {result['tolerance']}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("n", [1, 7, 64, 130])
@pytest.mark.parametrize("heads", [(4, 4), (6, 2), (4, 1)])
def test_matches_reference_float32(backend, causal, n, heads):
    _assert_case(Case(backend, "float32", causal, 32, n, *heads))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("head_dim", [32, 64, 128, 256])
def test_matches_reference_half(backend, dtype, causal, head_dim):
    _assert_case(Case(backend, dtype, causal, head_dim, 100, 6, 2))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize", ["token", "seq_max"])
def test_normalisations_and_coefficients(backend, normalize):
    _assert_case(Case(backend, "float32", True, 64, 77, 2, 2, normalize=normalize, a0=1.0, a1=0.5))


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("n", [1, 5, 70])
def test_second_order_torch(causal, n):
    _assert_case(Case("torch", "float32", causal, 8, n, 4, 2, p=2))


def test_unnormalised_inputs_torch():
    """normalize=None passes inputs through: small inputs keep the weights positive."""
    gen = torch.Generator().manual_seed(3)
    q, k, v = (0.1 * torch.randn(1, 2, 50, 16, generator=gen, dtype=torch.float64) for _ in "qkv")
    out = fastmax.fastmax_attention(q, k, v, normalize=None, backend="torch")
    ref = fastmax.reference_attention(q, k, v, normalize=None)
    assert relative_error(out, ref) < 1e-12


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("p", [1, 2])
def test_gradcheck_float64(causal, p):
    gen = torch.Generator().manual_seed(1)
    shapes = ((1, 2, 9, 4), (1, 1, 9, 4), (1, 1, 9, 4))  # grouped: two query heads per kv head
    inputs = tuple(
        torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
        for shape in shapes
    )

    def fn(q, k, v):
        return fastmax.fastmax_attention(q, k, v, causal=causal, p=p, backend="torch")

    assert torch.autograd.gradcheck(fn, inputs)


def test_reference_is_softmax_free_quadratic_form():
    """reference_attention follows the formula written out by hand for a tiny case."""
    q = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]], dtype=torch.float64)
    k = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]], dtype=torch.float64)
    v = torch.tensor([[[[2.0], [4.0]]]], dtype=torch.float64)
    out = fastmax.reference_attention(q, k, v, causal=True, normalize=None, a0=1.0, a1=1.0)
    # Query 0 sees key 0 only; query 1 sees w = (1 + 1, 1 + 0) on values (2, 4).
    assert out.flatten().tolist() == pytest.approx([2.0, (2 * 2.0 + 1 * 4.0) / 3])


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_not_modified_and_strided_inputs(backend):
    device = DEVICE[backend]
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(2, 40, 3, 2, 64, generator=gen).to(device)  # (B, N, qkv, H, D)
    q, k, v = (base[:, :, i].transpose(1, 2) for i in range(3))  # non-contiguous views
    before = base.clone()
    out = fastmax.fastmax_attention(q, k, v, backend=backend)
    assert torch.equal(base, before)
    dense = fastmax.fastmax_attention(
        q.contiguous(), k.contiguous(), v.contiguous(), backend=backend
    )
    assert torch.equal(out, dense)
    ref = fastmax.reference_attention(q, k, v)
    assert relative_error(out, ref) < tolerance("float32")


@pytest.mark.parametrize("backend", BACKENDS)
def test_deterministic(backend):
    device = DEVICE[backend]
    gen = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(2, 4, 300, 64, generator=gen).to(device, torch.bfloat16) for _ in "qkv")
    results = []
    for _ in range(2):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        out = fastmax.fastmax_attention(*leaves, backend=backend)
        out.backward(torch.ones_like(out))
        results.append([out, *(t.grad for t in leaves)])
    for first, second in zip(*results, strict=True):
        assert torch.equal(first, second)


def test_module_wraps_function():
    module = fastmax.FastmaxAttention(causal=False, backend="torch")
    q = torch.randn(1, 2, 10, 8)
    assert torch.equal(module(q, q, q), fastmax.fastmax_attention(q, q, q, causal=False))
    assert "causal=False" in repr(module)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"q": torch.zeros(2, 3, 4)}, ValueError, "q must have 4 dimensions"),
        ({"k": [1.0]}, TypeError, "k must be a torch.Tensor"),
        ({"v": torch.zeros(1, 2, 5, 8, dtype=torch.int64)}, TypeError, "v must be float16"),
        ({"k": torch.zeros(1, 2, 5, 8, dtype=torch.float64)}, TypeError, "share one dtype"),
        ({"k": torch.zeros(2, 2, 5, 8)}, ValueError, "batch size must match"),
        ({"v": torch.zeros(1, 2, 6, 8)}, ValueError, "number of tokens must match"),
        ({"k": torch.zeros(1, 2, 5, 4)}, ValueError, "head_dim of k"),
        ({"k": torch.zeros(1, 3, 5, 8), "v": torch.zeros(1, 3, 5, 8)}, ValueError, "multiple"),
        ({"k": torch.zeros(1, 1, 5, 8)}, ValueError, "same number of heads"),
        ({"normalize": "l2"}, ValueError, "normalize must be one of"),
        ({"p": 3}, ValueError, "p must be 1 or 2"),
        ({"backend": "triton"}, ValueError, "backend must be one of"),
        ({"causal": 1}, TypeError, "causal must be a bool"),
        ({"a1": "1"}, TypeError, "a1 must be a real number"),
        (
            {
                "q": torch.zeros(1, 2, 0, 8),
                "k": torch.zeros(1, 2, 0, 8),
                "v": torch.zeros(1, 2, 0, 8),
            },
            ValueError,
            "at least one token",
        ),
    ],
)
def test_bad_input_raises_clear_error(kwargs, error, match):
    args = {
        "q": torch.zeros(1, 2, 5, 8),
        "k": torch.zeros(1, 2, 5, 8),
        "v": torch.zeros(1, 2, 5, 8),
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fastmax.fastmax_attention(args.pop("q"), args.pop("k"), args.pop("v"), **args)


def test_cuda_backend_on_cpu_tensors_is_refused():
    q = torch.zeros(1, 2, 5, 32)
    expected = "CUDA tensors" if _cuda.extension_loaded() else "compiled extension"
    with pytest.raises(ValueError, match=expected):
        fastmax.fastmax_attention(q, q, q, backend="cuda")


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize(
    ("shape_q", "shape_kv", "dtype", "kwargs", "match"),
    [
        ((1, 2, 8, 48), (1, 2, 8, 48), torch.float32, {}, "head_dim in"),
        ((1, 2, 8, 64), (1, 2, 8, 64), torch.float64, {}, "float16, bfloat16 or float32"),
        ((1, 2, 8, 64), (1, 2, 8, 64), torch.float32, {"p": 2}, "p=1 only"),
    ],
)
def test_cuda_backend_unsupported_configuration(shape_q, shape_kv, dtype, kwargs, match):
    q = torch.zeros(shape_q, device="cuda", dtype=dtype)
    kv = torch.zeros(shape_kv, device="cuda", dtype=dtype)
    with pytest.raises(ValueError, match=match):
        fastmax.fastmax_attention(q, kv, kv, backend="cuda", **kwargs)
    fastmax.fastmax_attention(q, kv, kv, backend="auto", **kwargs)  # auto falls back to torch


def test_head_dims_that_fit_is_a_constant_to_compile(monkeypatch):
    """The shared-memory query runs eagerly at trace time, not inside the graph.

    Dynamo would trace into an unmarked function, and the stand-in for the op below cannot be
    traced without a graph break, which fullgraph=True turns into an error. The head dim is
    compared outside, so a symbolic (dynamic) one works too.
    """
    asked = []

    @torch._dynamo.disable
    def untraceable(dtype, device):
        asked.append((dtype, device))
        return (64, 128)

    monkeypatch.setattr(_cuda, "_head_dims_that_fit", untraceable)
    torch._dynamo.reset()
    fn = torch.compile(
        lambda x: x * 2 if x.shape[-1] in _cuda.head_dims_that_fit(x.dtype, 0) else x * 3,
        fullgraph=True,
        backend="eager",
    )
    for d, factor in ((64, 2), (32, 3), (128, 2)):
        x = torch.ones(2, d)
        assert torch.equal(fn(x), x * factor), d
    assert asked[0] == (torch.float32, 0)
    torch._dynamo.reset()


def test_compile_fullgraph_torch_backend():
    fn = torch.compile(
        lambda q, k, v: fastmax.fastmax_attention(q, k, v, backend="torch"),
        fullgraph=True,
        backend="aot_eager",
    )
    q, k, v = (torch.randn(1, 4, 37, 16) for _ in "qkv")
    assert (
        relative_error(
            fn(q, k[:, :2], v[:, :2]), fastmax.reference_attention(q, k[:, :2], v[:, :2])
        )
        < 1e-5
    )


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("normalize", ["token", "seq_max"])
def test_compile_fullgraph_cuda_backend(normalize):
    fn = torch.compile(
        lambda q, k, v: fastmax.fastmax_attention(q, k, v, normalize=normalize, backend="cuda"),
        fullgraph=True,
    )
    leaves = [torch.randn(2, 4, 200, 64, device="cuda", requires_grad=True) for _ in "qkv"]
    grad = torch.randn(2, 4, 200, 64, device="cuda")
    out = fn(*leaves)
    out.backward(grad)
    eager = [t.detach().clone().requires_grad_() for t in leaves]
    ref = fastmax.fastmax_attention(*eager, normalize=normalize, backend="cuda")
    ref.backward(grad)
    # Inductor may fuse the surrounding ops differently: equal up to float32 rounding.
    assert relative_error(out, ref) < 1e-6
    for compiled, plain in zip(leaves, eager, strict=True):
        assert relative_error(compiled.grad, plain.grad) < 1e-5


@gpu
@pytest.mark.gpu
def test_opcheck_registrations():
    """torch.library's own checks of schema, fake kernel and autograd registration."""
    q, k, v = (torch.randn(1, 4, 70, 32, device="cuda") for _ in "qkv")
    torch.library.opcheck(torch.ops.fastmax.fwd, (q, k[:, :2], v[:, :2], True, 1.0, 1.0, False))
    token_major = [t.transpose(1, 2).contiguous().transpose(1, 2) for t in (q, k, v)]
    torch.library.opcheck(torch.ops.fastmax.fwd, (*token_major, False, 1.0, 1.0, False))
    torch.library.opcheck(
        torch.ops.fastmax.fwd, (q, k[:, :2], v[:, :2], True, 1.0, 1.0, False, 1e-6)
    )
    for eps in (0.0, 1e-6):
        out, den, kn, rk, rq = torch.ops.fastmax.fwd(q, k, v, False, 1.0, 1.0, False, eps)
        torch.library.opcheck(
            torch.ops.fastmax.bwd,
            (torch.randn_like(out), q, k, v, out, den, kn, rk, rq, False, 1.0, 1.0, False, eps),
            test_utils=("test_schema", "test_faketensor"),
        )
    q64, k64, v64 = (torch.randn(2, 4, 130, 64, device="cuda") for _ in "qkv")
    for tf32 in (False, True):  # True: the TF32 forward normalising k too, where built for it
        args = (q64, k64[:, :2], v64[:, :2], True, 1.0, 1.0, tf32, 1e-6)
        torch.library.opcheck(torch.ops.fastmax.fwd_inference, args)
    x = torch.randn(2, 3, 50, 64, device="cuda", dtype=torch.bfloat16)
    torch.library.opcheck(torch.ops.fastmax.token_normalize, (x, 1e-6))


@pytest.mark.skipif(not _cuda.extension_loaded(), reason="needs the compiled extension")
@pytest.mark.parametrize("token_major", [True, False])
def test_output_layouts_follow_the_inputs_in_shape_functions(token_major):
    """The op's shape functions (what torch.compile traces with) lay out out, dq, dk and dv like
    v, q, k and v (and fwd_inference's out like v): token-major for transposed views of
    (batch, token, head, dim) tensors."""

    def make(heads: int) -> torch.Tensor:
        if token_major:
            return torch.empty(2, 50, heads, 64, device="meta").transpose(1, 2)
        return torch.empty(2, heads, 50, 64, device="meta")

    q, k, v = make(4), make(2), make(2)
    out, den, kn, rk, rq = torch.ops.fastmax.fwd(q, k, v, True, 1.0, 1.0, False)
    assert kn.shape == rk.shape == rq.shape == (0,)
    grads = torch.ops.fastmax.bwd(out, q, k, v, out, den, kn, rk, rq, True, 1.0, 1.0, False, 0.0)
    for got in (out, *grads):
        assert got.transpose(1, 2).is_contiguous() == token_major
        assert got.is_contiguous() != token_major
    assert [tuple(t.shape) for t in (out, *grads)] == [(2, 4, 50, 64), (2, 4, 50, 64)] + [
        (2, 2, 50, 64)
    ] * 2
    inference = torch.ops.fastmax.fwd_inference(q, k, v, True, 1.0, 1.0, True, 1e-6)
    assert inference.shape == (2, 4, 50, 64)
    assert inference.transpose(1, 2).is_contiguous() == token_major


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_token_major_inputs_give_token_major_outputs(dtype):
    """LitGPT passes v, and takes the output and dv back, as transposed views of (batch, token,
    head, dim) tensors: the op returns out and the gradients in their inputs' layout, so
    reshaping them back costs no copy, with the values of contiguous inputs."""
    gen = torch.Generator().manual_seed(7)
    base = torch.nn.functional.normalize(torch.randn(2, 300, 3, 4, 64, generator=gen), dim=-1)
    q, k, v = (base.to("cuda", DTYPES[dtype])[:, :, i].transpose(1, 2) for i in range(3))
    grad = torch.randn(2, 300, 4, 64, generator=gen).to("cuda", DTYPES[dtype]).transpose(1, 2)
    options = (True, 1.0, 1.0, False)
    out, den, *saved = torch.ops.fastmax.fwd(q, k, v, *options)
    grads = torch.ops.fastmax.bwd(grad, q, k, v, out, den, *saved, *options, 0.0)
    dense = [t.contiguous() for t in (q, k, v)]
    dense_out, dense_den, *kept = torch.ops.fastmax.fwd(*dense, *options)
    dense_grads = torch.ops.fastmax.bwd(
        grad.contiguous(), *dense, dense_out, dense_den, *kept, *options, 0.0
    )
    assert torch.equal(den, dense_den)
    for got, want in zip((out, *grads), (dense_out, *dense_grads), strict=True):
        assert got.transpose(1, 2).is_contiguous() and want.is_contiguous()
        assert torch.equal(got, want)
    assert out.transpose(1, 2).reshape(2, 300, 4 * 64).data_ptr() == out.data_ptr()


def _strided(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` (B, H, N, D) with the same values in another layout: token-major storage, every
    other head of wider rows (gaps between rows, heads and batches), or broadcast over the batch
    from its first element (a zero stride)."""
    b, h, n, d = x.shape
    if layout == "token_major":
        return x.transpose(1, 2).contiguous().transpose(1, 2)
    if layout == "sliced":
        wide = torch.zeros(b, 2 * h, n, d + 64, device=x.device, dtype=x.dtype)
        view = wide[:, ::2, :, :d]
        view.copy_(x)
        return view
    return x[:1].expand(b, h, n, d)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("layout", ["token_major", "sliced", "broadcast"])
@pytest.mark.parametrize("shape", [(2, 4, 2, 200), (1, 1, 1, 70)])
def test_bfloat16_head_dim_128_layouts_match_contiguous_inputs(causal, layout, shape):
    """bfloat16 at head_dim 128 (on Hopper, the warpgroup kernels' swizzled tiles) reads its
    inputs in place at their strides: views whose tokens, heads and batches lie apart in any
    order (with a partial last chunk, grouped heads and extents of one), and inputs broadcast
    over the batch (zero strides), give bitwise the values of contiguous inputs."""
    b, h, hkv, n = shape
    gen = torch.Generator().manual_seed(12)
    make = [(b, h, n, 128), (b, hkv, n, 128), (b, hkv, n, 128), (b, h, n, 128)]
    rows = [torch.nn.functional.normalize(torch.randn(s, generator=gen), dim=-1) for s in make]
    dense = [x.to("cuda", torch.bfloat16) for x in rows]
    if layout == "broadcast":
        dense = [x[:1].expand_as(x).contiguous() for x in dense]
    q, k, v, grad = (_strided(x, layout) for x in dense)
    options = (causal, 1.0, 1.0, False)
    out, den, *saved = torch.ops.fastmax.fwd(q, k, v, *options)
    grads = torch.ops.fastmax.bwd(grad, q, k, v, out, den, *saved, *options, 0.0)
    want_out, want_den, *kept = torch.ops.fastmax.fwd(*dense[:3], *options)
    want = torch.ops.fastmax.bwd(dense[3], *dense[:3], want_out, want_den, *kept, *options, 0.0)
    assert torch.equal(den, want_den)
    for got, expected in zip((out, *grads), (want_out, *want), strict=True):
        assert torch.equal(got, expected)
    ref = fastmax.reference_attention(*dense[:3], causal=causal, normalize=None)
    assert relative_error(out, ref) < tolerance("bfloat16")


def _rows(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` (B, H, N, D) as the normalisation may receive it: contiguous, a head-major view of
    (B, N, H, D) storage (strided rows, 16-byte aligned), or starting one element into storage."""
    if layout == "contiguous":
        return x.clone()
    if layout == "strided":
        return x.transpose(1, 2).contiguous().transpose(1, 2)
    storage = torch.empty(x.numel() + 1, device=x.device, dtype=x.dtype)
    shifted = storage[1:].view(x.shape)
    shifted.copy_(x)
    return shifted


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("head_dim", [16, 48, 64, 128, 256])
@pytest.mark.parametrize("layout", ["contiguous", "strided", "misaligned"])
def test_fused_token_normalisation_matches_torch(dtype, head_dim, layout):
    """The one-pass CUDA normalisation and its gradient (vector kernels for aligned
    power-of-two rows, element kernels otherwise) equal the PyTorch normalisation's."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 77, head_dim, generator=gen).to("cuda", dtype)
    if dtype != torch.float16:  # its gradient, 1 / eps, is beyond float16's range
        x[0, 0, 3] = 0.0  # a zero row: the clamped norm
    grad = torch.randn(x.shape, generator=gen).to("cuda", dtype)
    fused = _rows(x, layout)
    plain = x.clone().requires_grad_()
    before = fused.clone()
    y_fused, rnorm = torch.ops.fastmax.token_normalize(fused, 1e-6)
    dx_fused = torch.ops.fastmax.token_normalize_bwd(_rows(grad, layout), fused, rnorm, 1e-6)
    y_plain = normalize_qk(plain, plain, "token")[0]
    y_plain.backward(grad)
    limit = tolerance(str(dtype).split(".")[1])
    assert torch.equal(fused, before)
    assert relative_error(y_fused, y_plain) < limit
    assert relative_error(dx_fused, plain.grad) < limit


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(
    "shape, layout",
    [
        ((2, 4, 2, 300, 64), "contiguous"),
        ((2, 4, 2, 300, 64), "strided"),
        ((1, 16, 16, 8229, 128), "contiguous"),
    ],
)
def test_normalisation_inside_the_op_matches_normalised_copies(dtype, causal, shape, layout):
    """With eps > 0 the op normalises k itself (kn and rk bitwise token_normalize's) and q
    inside the bfloat16 forward pass, whose row scales act in registers on unrounded products,
    and inside the float32 causal forward at head_dim 64 on Hopper (the wgmma pass, which folds
    the norms into its weights); other float32 passes read a normalised copy. The backward
    folds q's norms into the dk and dv passes' row scalars. out, den and the gradients agree
    with the op on normalised copies followed by the normalisation's own backward within the
    dtype's tolerance, out and den bitwise where float32 reads a copy (grouped heads, a
    partial chunk, token-major inputs and, at 8229 tokens, the split)."""
    b, h, hkv, n, d = shape
    gen = torch.Generator().manual_seed(11)
    q = _rows(torch.randn(b, h, n, d, generator=gen).to("cuda", dtype), layout)
    k, v = (_rows(torch.randn(b, hkv, n, d, generator=gen).to("cuda", dtype), layout) for _ in "kv")
    grad = torch.randn(b, h, n, d, generator=gen).to("cuda", dtype)
    before = [t.clone() for t in (q, k, v, grad)]
    options = (causal, 1.0, 1.0, False)
    out, den, kn, rk, rq = torch.ops.fastmax.fwd(q, k, v, *options, 1e-6)
    grads = torch.ops.fastmax.bwd(grad, q, k, v, out, den, kn, rk, rq, *options, 1e-6)
    (qn, rq_ref), (kn_ref, rk_ref) = (torch.ops.fastmax.token_normalize(x, 1e-6) for x in (q, k))
    ref_out, ref_den, *kept = torch.ops.fastmax.fwd(qn, kn_ref, v, *options)
    dqn, dkn, ref_dv = torch.ops.fastmax.bwd(
        grad, qn, kn_ref, v, ref_out, ref_den, *kept, *options, 0.0
    )
    ref_dq = torch.ops.fastmax.token_normalize_bwd(dqn, q, rq_ref, 1e-6)
    ref_dk = torch.ops.fastmax.token_normalize_bwd(dkn, k, rk_ref, 1e-6)
    assert torch.equal(kn, kn_ref) and torch.equal(rk, rk_ref)
    # float32 normalises a copy (token_normalize's rq) but in the wgmma pass. The passes sum the
    # squares in their own order, and bfloat16's reads float16 rounded to bfloat16 (8 bits): rq
    # within that rounding.
    wgmma_f32 = causal and d == 64 and torch.cuda.get_device_capability() == (9, 0)
    copy_f32 = dtype == torch.float32 and not wgmma_f32
    rq_limit = {torch.float32: 0.0 if copy_f32 else 1e-6, torch.bfloat16: 1e-6}.get(dtype, 2**-8)
    assert relative_error(rq, rq_ref) <= rq_limit
    limit = tolerance(str(dtype).split(".")[1])
    for got, want in zip(
        (out, den, *grads), (ref_out, ref_den, ref_dq, ref_dk, ref_dv), strict=True
    ):
        assert relative_error(got, want) < limit
    assert not copy_f32 or (torch.equal(out, ref_out) and torch.equal(den, ref_den))
    assert grads[0].is_contiguous() and grads[1].is_contiguous()
    assert all(torch.equal(t, t0) for t, t0 in zip((q, k, v, grad), before, strict=True))


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("eps", [1e-6, 1e-20])
def test_normalisation_of_tiny_and_zero_query_and_key_rows(eps):
    """Query and key rows of zero and of 1e-18, 2e-21 and 1e-30 times a random row. At eps = 1e-6
    the bfloat16 forward pass normalises q itself; below its bound of 2^-50 (where the pass's
    norms, without sqrtf's slow path, would take 1e-18's squared norm for the norm) the op
    normalises a copy. Either way out and den agree with the op on normalised copies, and so do
    the gradients (the backward folds those rows' clamped or tiny norms into its passes' row
    scalars). At eps = 1e-20 the 2e-21 rows are not clamped and their row scales pass 2^64, so
    the square of a scale alone would overflow float32 where the normalisations' backward is
    finished (the dq pass at head_dim 128, and the row pass of dk)."""
    gen = torch.Generator().manual_seed(13)
    q, k, v = (torch.randn(1, 2, 200, 128, generator=gen) for _ in "qkv")
    for x, first in ((q, 5), (k, 9)):
        x[0, 0, first] = 0.0
        x[0, 0, first + 1] *= 1e-18
        x[0, 1, first + 2] *= 1e-30
        x[0, 1, first + 3] *= 2e-21
    q, k, v = (x.to("cuda", torch.bfloat16) for x in (q, k, v))
    grad = torch.randn(1, 2, 200, 128, generator=gen).to("cuda", torch.bfloat16)
    options = (True, 1.0, 1.0, False)
    out, den, *saved = torch.ops.fastmax.fwd(q, k, v, *options, eps)
    grads = torch.ops.fastmax.bwd(grad, q, k, v, out, den, *saved, *options, eps)
    (qn, rq), (kn_ref, rk_ref) = (torch.ops.fastmax.token_normalize(x, eps) for x in (q, k))
    ref_out, ref_den, *kept = torch.ops.fastmax.fwd(qn, kn_ref, v, *options, 0.0)
    dqn, dkn, ref_dv = torch.ops.fastmax.bwd(
        grad, qn, kn_ref, v, ref_out, ref_den, *kept, *options, 0.0
    )
    ref_dq = torch.ops.fastmax.token_normalize_bwd(dqn, q, rq, eps)
    ref_dk = torch.ops.fastmax.token_normalize_bwd(dkn, k, rk_ref, eps)
    rows = [(0, 0, slice(first, first + 2)) for first in (5, 9)]
    rows += [(0, 1, slice(first + 2, first + 4)) for first in (5, 9)]
    pairs = (out, ref_out), (den, ref_den), *zip(grads, (ref_dq, ref_dk, ref_dv), strict=True)
    for got, want in pairs:
        assert torch.isfinite(got).all()
        assert relative_error(got, want) < tolerance("bfloat16")
        for row in rows:
            assert relative_error(got[row], want[row]) < tolerance("bfloat16")


def _peak_above(fn) -> int:
    """Bytes fn allocates at its peak above what was allocated when it started."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_token_normalisation_keeps_one_copy(dtype):
    """The default normalisation keeps only the normalised k for the backward (q is normalised
    inside the bfloat16 forward pass), and the backward folds q's norms into its passes (no
    normalised q): a forward keeps out and kn (and O(N) row values), and a forward+backward
    peaks at five tensors of q's size (out, kn, dq, dk, dv) plus O(N) row values and the
    split's states, where normalised copies made outside the op need six."""
    q, k, v = (
        torch.randn(2, 16, 16384, 128, device="cuda", dtype=dtype, requires_grad=True)
        for _ in "qkv"
    )
    grad = torch.randn_like(q)
    size = q.nbytes
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    out = fastmax.fastmax_attention(q, k, v)
    assert torch.cuda.memory_allocated() - base < 2 * size + size // 4
    del out

    def step():
        o = fastmax.fastmax_attention(q, k, v)
        torch.autograd.grad(o, (q, k, v), grad)

    assert _peak_above(step) < 5 * size + size // 2, (_peak_above(step), size)


@pytest.mark.skipif(not _cuda.extension_loaded(), reason="needs the compiled extension")
def test_shape_functions_of_the_normalising_op():
    """With eps > 0 the shape functions give kn (k's shape and dtype, contiguous), rk and rq
    ((batch, heads, n) float32 of k and q), and contiguous dq and dk (the normalisation's
    backward writes contiguous rows)."""
    q = torch.empty(2, 50, 4, 64, device="meta").transpose(1, 2)
    k, v = (torch.empty(2, 50, 2, 64, device="meta").transpose(1, 2) for _ in "kv")
    out, den, kn, rk, rq = torch.ops.fastmax.fwd(q, k, v, True, 1.0, 1.0, False, 1e-6)
    assert (kn.shape, kn.dtype, kn.is_contiguous()) == ((2, 2, 50, 64), torch.float32, True)
    assert (rk.shape, rk.dtype) == ((2, 2, 50), torch.float32)
    assert (rq.shape, rq.dtype) == ((2, 4, 50), torch.float32)
    options = (True, 1.0, 1.0, False, 1e-6)
    dq, dk, dv = torch.ops.fastmax.bwd(out, q, k, v, out, den, kn, rk, rq, *options)
    assert dq.is_contiguous() and dk.is_contiguous() and dv.transpose(1, 2).is_contiguous()


def test_nan_never_passes():
    ref = torch.ones(3)
    assert math.isnan(relative_error(torch.tensor([1.0, math.nan, 1.0]), ref))
    case = Case("torch", "float32", True, 8, 4, 2, 2)
    assert run_case(case, "cpu")["passed"]


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("head_dim", [32, 64, 128, 256])
def test_shapes_beyond_the_gpu_shared_memory_are_refused_clearly(dtype, head_dim):
    """A shape whose kernels fit runs; one that does not is refused by 'cuda', taken by 'auto'."""
    q = torch.randn(1, 2, 80, head_dim, device="cuda", dtype=dtype)
    if head_dim in _cuda.head_dims_that_fit(dtype, torch.cuda.current_device()):
        fastmax.fastmax_attention(q, q, q, backend="cuda")
    else:
        with pytest.raises(ValueError, match="shared memory"):
            fastmax.fastmax_attention(q, q, q, backend="cuda")
    ref = fastmax.reference_attention(q, q, q)
    assert relative_error(fastmax.fastmax_attention(q, q, q), ref) < tolerance(str(dtype)[6:])


H200 = (132, 233472, 232448)  # SMs, shared memory per SM and per block (bytes)
BF16, F32 = torch.bfloat16, torch.float32


@pytest.mark.skipif(not _cuda.extension_loaded(), reason="needs the compiled extension")
@pytest.mark.parametrize(
    ("dtype", "causal", "batch", "heads", "n", "head_dim", "forward", "dq", "dk_dv"),
    [
        # The paper's shape, 128 blocks: non-causal forward and dq cut for two per SM; causal
        # passes are not cut (faster uncut in the target sweeps).
        (BF16, False, 4, 16, 65536, 128, 2, 2, 1),
        (BF16, True, 4, 16, 65536, 128, 1, 1, 1),
        (F32, False, 4, 16, 65536, 128, 1, 1, 1),  # float32: blocks of 8 warps, one per SM
        (BF16, True, 4, 16, 65536, 64, 12, 12, 12),  # 64 blocks, 3 per SM: within two waves of 396
        (BF16, False, 4, 16, 65536, 64, 12, 12, 12),
        (F32, True, 4, 16, 65536, 64, 4, 4, 4),  # float32 tiles: 1 block per SM
        (BF16, True, 1, 16, 8192, 128, 16, 16, 16),  # Pythia-1.4B training at micro-batch 1
        (BF16, True, 1, 16, 32768, 128, 16, 16, 16),  # the same at 32768: 32 blocks, 2 per SM
        (BF16, True, 1, 16, 960, 128, 1, 1, 1),  # 15 chunks: too short to split
        (BF16, True, 1, 66, 65536, 32, 24, 24, 24),  # 66 blocks: half the SMs idle (6 per SM)
        (BF16, False, 1, 67, 65536, 32, 3, 3, 1),  # 67 blocks: more than half busy, two per SM
        (BF16, True, 1, 67, 65536, 32, 1, 1, 1),
        (BF16, False, 4, 16, 4096, 128, 2, 2, 1),  # 64 chunks: two 32-chunk segments
        (BF16, False, 4, 16, 2048, 128, 1, 1, 1),  # 32 chunks: too short for the cut
        (BF16, False, 1, 133, 65536, 32, 1, 1, 1),  # more blocks than SMs
        (BF16, True, 0, 16, 4096, 128, 1, 1, 1),  # an empty batch
    ],
)
def test_split_where_sms_would_idle(dtype, causal, batch, heads, n, head_dim, forward, dq, dk_dv):
    """The split plan on an H200 for the forward and the three backward passes."""
    for kind, want in enumerate((forward, dq, dk_dv, dk_dv)):
        got = _cuda.split_segments(dtype, kind, causal, batch, heads, n, head_dim, H200)
        assert got == want, f"pass {kind}"


@pytest.mark.skipif(not _cuda.extension_loaded(), reason="needs the compiled extension")
@pytest.mark.parametrize(
    ("kind", "head_dim", "gpu", "match"),
    [
        (0, 48, H200, r"head_dim must be one of \(32, 64, 128, 256\), got 48"),
        (4, 64, H200, "kind must be 0 to 3"),
        (0, 64, (0, *H200[1:]), "gpu must be"),
    ],
)
def test_split_plan_refuses_bad_arguments(kind, head_dim, gpu, match):
    with pytest.raises(ValueError, match=match):
        _cuda.split_segments(BF16, kind, True, 1, 16, 4096, head_dim, gpu)


@pytest.mark.skipif(not _cuda.extension_loaded(), reason="needs the compiled extension")
def test_split_plan_refuses_a_causal_flag_that_is_not_a_bool():
    with pytest.raises(TypeError, match="causal must be a bool, got str"):
        _cuda.split_segments(BF16, 0, "False", 1, 16, 4096, 64, H200)


def _combine_launches(fn) -> int:
    """How many times ``fn`` launched the kernel that combines segment states (split passes)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return sum(e.count for e in prof.key_averages() if "combine_states" in e.key)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("head_dim", [32, 64, 128, 256])
@pytest.mark.parametrize("heads", [(4, 4), (6, 2)])
def test_sequence_split_matches_reference(dtype, causal, head_dim, heads):
    """Batch 1 leaves the GPU idle, so every pass splits N = 2085 (33 chunks, the last partial)
    into segments of separate blocks; outputs and gradients still match the float64 formula."""
    if head_dim not in _cuda.head_dims_that_fit(DTYPES[dtype], torch.cuda.current_device()):
        pytest.skip(f"{dtype} head_dim {head_dim} exceeds this GPU's shared memory per block")
    _assert_case(Case("cuda", dtype, causal, head_dim, 2085, *heads, batch=1))


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("causal", [True, False])
def test_sequence_split_runs_and_can_be_turned_off(monkeypatch, causal):
    """Each of the four passes splits (one combine launch each) unless FASTMAX_SEQUENCE_SPLIT=0;
    both ways give the same attention up to float32 rounding of the sums' order, or, causal,
    within float32's tolerance: unsplit, the forward and the three backward passes run on the
    wgmma kernel with three TF32 products, whose gradients are some 2e-6 from the float64
    formula (PERF.md v28, v29)."""
    gen = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(1, 4, 3000, 64, generator=gen).to("cuda") for _ in "qkv")
    grad = torch.randn(q.shape, generator=gen).to("cuda")

    def forward_backward() -> list[torch.Tensor]:
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        out = fastmax.fastmax_attention(*leaves, causal=causal, backend="cuda")
        out.backward(grad)
        return [out, *(t.grad for t in leaves)]

    results = {}
    for setting, launches in (("1", 4), ("0", 0)):
        monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", setting)
        assert _combine_launches(forward_backward) == launches
        results[setting] = forward_backward()
    bound = tolerance("float32") if causal else 1e-6
    for split, whole in zip(results["1"], results["0"], strict=True):
        assert relative_error(split, whole) < bound
