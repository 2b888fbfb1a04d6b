"""The algebra of keys-on-dkdv.diff checked in float64 on the CPU, with the kernel's causal sum
of ../../h200-v27-diagnostics/dq/emulate.py: DV reversed with a = kn, b = raw q, c = dO (raw),
per-key scales rq / den and terms a0 / den; DK reversed with a = v, b = dO, c = raw q, per-key
scales rq / den and terms -a1 go rq / den (rq = 1 / max(||q||, eps)); against autograd of the
float64 formula on the normalised q and k. Prints the largest relative differences."""

import importlib.util
from pathlib import Path

import torch

from fastmax import reference_attention

spec = importlib.util.spec_from_file_location(
    "emulate", Path(__file__).parents[2] / "h200-v27-diagnostics" / "dq" / "emulate.py"
)
emulate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(emulate)

gen = torch.Generator().manual_seed(0)
b, h, n, d, a0, a1, eps = 2, 3, 150, 64, 1.0, 0.7, 1e-6
q, k, v, grad = (torch.randn(b, h, n, d, generator=gen, dtype=torch.float64) for _ in range(4))
q = q * torch.rand(b, h, n, 1, generator=gen, dtype=torch.float64) * 5
rq = 1 / q.norm(dim=-1).clamp_min(eps)
qn, kn = q * rq[..., None], k / k.norm(dim=-1, keepdim=True).clamp_min(eps)
leaves = [t.clone().requires_grad_() for t in (qn, kn, v)]
out = reference_attention(*leaves, causal=True, normalize=None, a0=a0, a1=a1)
out.backward(grad)
den = (a0 + a1 * qn @ kn.transpose(-1, -2)).tril().sum(-1)
go = (grad * out.detach()).sum(-1)
zeros = torch.zeros(b, h, n, dtype=torch.float64)


def flip(t: torch.Tensor) -> torch.Tensor:
    return t.flip(2)  # the token dimension


def reversed_sum(a, b_, c, scales, terms):
    """The kernel's sum reversed in time, with per-key scales and terms and no row a0."""
    flipped = (flip(x) for x in (a, b_, c))
    return flip(emulate.kernel_sum(*flipped, zeros, flip(scales), a1, flip(terms)))


dv = reversed_sum(kn, q, grad, rq / den, a0 / den)
dk = reversed_sum(v, grad, q, rq / den, -a1 * go * rq / den)


def rel(x, y):
    return ((x - y).abs().max() / y.abs().max()).item()


print(f"dk (w.r.t. the normalised k) {rel(dk, leaves[1].grad):.2e}")
print(f"dv {rel(dv, leaves[2].grad):.2e}")
