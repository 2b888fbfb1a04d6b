"""normalize="seq_max" on the CUDA op: per-head weights instead of scaled copies
(fastmax/ops/seq_max_cuda.py), against the float64 formula, gradients included.

The torch backend runs the same cases on the CPU; the cuda cases skip without a GPU.
"""

from __future__ import annotations

import pytest
import torch

import fastmax
from fastmax.correctness import DTYPES, Case, relative_error, run_case, tolerance
from fastmax.ops.normalize import SEQ_MAX_FLOOR

HAS_CUDA = fastmax.cuda_available()
gpu = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU and the compiled extension")
BACKENDS = ["torch", pytest.param("cuda", marks=[gpu, pytest.mark.gpu])]
DEVICE = {"torch": "cpu", "cuda": "cuda"}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("heads", [(4, 4), (6, 2)])
@pytest.mark.parametrize("head_dim", [64, 128])
def test_seq_max_matches_reference(backend, dtype, causal, heads, head_dim):
    case = Case(backend, dtype, causal, head_dim, 300, *heads, normalize="seq_max", a1=0.8)
    result = run_case(case, DEVICE[backend])
    errors = {name: result[name] for name in ("out", "dq", "dk", "dv")}
    assert result["passed"], f"{case}: {errors} over {result['tolerance']}"


def _inputs(kind: str, heads: tuple[int, int], device: str) -> list[torch.Tensor]:
    """q, k, v and the output gradient (float32, 2 x heads x 150 x 64) whose peaks are tied
    (the largest row repeated) or under the floor (every squared norm below 0.1)."""
    gen = torch.Generator().manual_seed(11)
    h, hkv = heads
    q, grad = (torch.randn(2, h, 150, 64, generator=gen) for _ in "qg")
    k, v = (torch.randn(2, hkv, 150, 64, generator=gen) for _ in "kv")
    if kind == "tied":
        for x in (q, k):
            x[:, :, 10] *= 3.0
            x[:, :, 90] = x[:, :, 10]
            x[:, :, 149] = x[:, :, 10]
    else:
        q, k = 0.02 * q, 0.02 * k
    return [t.to(device) for t in (q, k, v, grad)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["tied", "floor"])
@pytest.mark.parametrize("heads", [(4, 4), (6, 2)])
@pytest.mark.parametrize("causal", [True, False])
def test_seq_max_gradient_through_tied_and_floored_peaks(backend, kind, heads, causal):
    """The peaks' gradient is split evenly among tied rows and vanishes under the floor, as
    amax and clamp_min's are in the reference; inputs are not modified."""
    q, k, v, grad = _inputs(kind, heads, DEVICE[backend])
    before = [t.clone() for t in (q, k, v)]
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    out = fastmax.fastmax_attention(*leaves, causal=causal, normalize="seq_max", backend=backend)
    out.backward(grad)
    refs = [t.to(torch.float64).requires_grad_() for t in (q, k, v)]
    ref = fastmax.reference_attention(*refs, causal=causal, normalize="seq_max")
    ref.backward(grad.to(torch.float64))
    assert relative_error(out, ref) < tolerance("float32")
    for name, mine, theirs in zip("qkv", leaves, refs, strict=True):
        error = relative_error(mine.grad, theirs.grad, scale=grad)
        assert error < tolerance("float32"), f"d{name}: {error}"
    for x, x0 in zip((q, k, v), before, strict=True):
        assert torch.equal(x, x0)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("causal", [True, False])
def test_per_head_a1_equals_one_call_per_head(monkeypatch, dtype, causal):
    """a1_heads gives each key/value head and its query heads their own a1: out, den and the
    gradients equal those of separate calls, one per (batch, key/value head), bit for bit."""
    monkeypatch.setenv("FASTMAX_SEQUENCE_SPLIT", "0")  # the same kernels whatever the grid
    gen = torch.Generator().manual_seed(5)
    q, grad = (torch.randn(2, 6, 200, 64, generator=gen) for _ in "qg")
    k, v = (torch.randn(2, 2, 200, 64, generator=gen) for _ in "kv")
    q, k, v, grad = (0.2 * t.to("cuda", DTYPES[dtype]) for t in (q, k, v, grad))
    a1_heads = torch.tensor([[0.5, 1.25], [2.0, 0.75]], device="cuda")
    options = (causal, 1.0, 1.0, False)
    out, den, *kept = torch.ops.fastmax.fwd(q, k, v, *options, 0.0, a1_heads)
    grads = torch.ops.fastmax.bwd(grad, q, k, v, out, den, *kept, *options, 0.0, a1_heads)
    for b in range(2):
        for j in range(2):
            rows = (slice(b, b + 1), slice(3 * j, 3 * j + 3))
            kv = (slice(b, b + 1), slice(j, j + 1))
            one = (causal, 1.0, a1_heads[b, j].item(), False)
            o, d, *kept = torch.ops.fastmax.fwd(q[rows], k[kv], v[kv], *one)
            g = torch.ops.fastmax.bwd(grad[rows], q[rows], k[kv], v[kv], o, d, *kept, *one, 0.0)
            assert torch.equal(out[rows], o) and torch.equal(den[rows], d)
            for got, want, index in zip(grads, g, (rows, kv, kv), strict=True):
                assert torch.equal(got[index], want)


@gpu
@pytest.mark.gpu
def test_seq_max_keeps_no_scaled_copies():
    """Without grouped heads seq_max scales nothing: a forward keeps out (and O(N) row values),
    and a forward+backward peaks at four tensors of q's size (out, dq, dk, dv) plus O(N) row
    values and the split's states; scaled copies of q and k would add two more."""
    q, k, v = (
        torch.randn(2, 16, 16384, 128, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        for _ in "qkv"
    )
    grad = torch.randn_like(q)
    size = q.nbytes
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    out = fastmax.fastmax_attention(q, k, v, normalize="seq_max")
    assert torch.cuda.memory_allocated() - base < size + size // 4
    del out
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    o = fastmax.fastmax_attention(q, k, v, normalize="seq_max")
    torch.autograd.grad(o, (q, k, v), grad)
    del o
    torch.cuda.synchronize()
    assert torch.cuda.max_memory_allocated() - base < 4 * size + size // 2


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_row_dot(dtype):
    gen = torch.Generator().manual_seed(8)
    a, b = (torch.randn(2, 3, 77, 128, generator=gen).to("cuda", DTYPES[dtype]) for _ in "ab")
    want = (a.double() * b.double()).sum(-1)
    got = torch.ops.fastmax.row_dot(a.transpose(1, 2).contiguous().transpose(1, 2), b)
    assert got.dtype == torch.float32 and got.shape == (2, 3, 77)
    assert relative_error(got, want) < 1e-6
    torch.library.opcheck(torch.ops.fastmax.row_dot, (a, b))


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("heads", [(4, 4), (6, 2)])
def test_seq_max_a1_matches_torch(heads):
    """Peaks and per-head a1 from one kernel, as amax, clamp_min and the division give them
    (a NaN norm gives a NaN peak, as amax does)."""
    gen = torch.Generator().manual_seed(10)
    sq_q = torch.rand(2, heads[0], 3000, generator=gen).cuda() * 3
    sq_k = torch.rand(2, heads[1], 3000, generator=gen).cuda() * 3
    sq_k[1, 0] *= 0.01  # under the floor
    sq_q[0, 1, 17] = float("nan")
    peak_q, peak_k, a1_heads = torch.ops.fastmax.seq_max_a1(sq_q, sq_k, 0.7, SEQ_MAX_FLOOR)
    torch.testing.assert_close(peak_q, sq_q.amax(-1), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(peak_k, sq_k.amax(-1), rtol=0, atol=0)
    p_q, p_k = sq_q.amax(-1).clamp_min(SEQ_MAX_FLOOR), sq_k.amax(-1).clamp_min(SEQ_MAX_FLOOR)
    want = 0.7 / (p_q * p_k) if heads[0] == heads[1] else 0.7 / p_k
    torch.testing.assert_close(a1_heads, want, rtol=1e-6, atol=0, equal_nan=True)
    assert peak_k[1, 0].item() < SEQ_MAX_FLOOR < peak_k[0, 0].item()  # both sides of the floor
    sq_q[0, 1, 17] = 1.0  # opcheck compares traced and eager outputs, where NaN != NaN
    torch.library.opcheck(torch.ops.fastmax.seq_max_a1, (sq_q, sq_k, 0.7, SEQ_MAX_FLOOR))


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("power", [1, 2])
def test_add_peak_gradient_touches_only_peak_rows(dtype, power):
    """dL/dP = -sum(s) / P^power reaches the rows holding the peak, split among ties, and none
    where the peak is under the floor; the other rows stay as they were."""
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(2, 3, 50, 64, generator=gen).to("cuda", DTYPES[dtype])
    dx = torch.randn(2, 3, 50, 64, generator=gen).to("cuda", DTYPES[dtype])
    dx = dx.transpose(1, 2).contiguous().transpose(1, 2)  # token-major, as the op returns it
    sq = torch.rand(2, 3, 50, generator=gen).cuda()
    sq[0, 1, 7] = sq[0, 1, 30] = 5.0  # two tied peaks
    sq[1, 2] *= 0.05  # a head under the floor
    s = torch.randn(2, 3, 50, generator=gen).cuda()
    peak = sq.amax(-1)
    p = peak.clamp_min(SEQ_MAX_FLOOR)
    grad_p = -s.sum(-1) / p**power
    tied = sq == peak[..., None]
    coef = torch.where(peak > SEQ_MAX_FLOOR, 2 * grad_p, 0.0)[..., None] / tied.sum(-1, True)
    want = dx.float() + (coef * tied)[..., None] * x.float()
    before = dx.clone()
    torch.ops.fastmax.add_peak_gradient_(dx, x, sq, s, peak, SEQ_MAX_FLOOR, power)
    changed = (dx != before).any(dim=-1)
    assert not changed[1, 2].any() and not changed[~tied].any()
    assert changed[0, 1, 7] and changed[0, 1, 30]
    rtol = 1e-5 if dtype == "float32" else 1e-2
    torch.testing.assert_close(dx.float(), want, rtol=rtol, atol=1e-5)
    torch.library.opcheck(
        torch.ops.fastmax.add_peak_gradient_, (dx, x, sq, s, peak, SEQ_MAX_FLOOR, power)
    )
