"""CPU emulation of the TF32 forward's error against the float64 formula, by the operands it
reads: q and k normalised, then every operand truncated to TF32 (how the unit reads a raw
float32), or v rounded (cvt.rna) and q, k truncated, or all rounded. Causal, a1 = 0.7."""

import torch

import fastmax
from fastmax.correctness import relative_error


def truncated(x: torch.Tensor) -> torch.Tensor:
    bits = x.to(torch.float32).contiguous().view(torch.int32) & ~0x1FFF
    return bits.view(torch.float32).double()


def rounded(x: torch.Tensor) -> torch.Tensor:  # to nearest, ties away from zero, as cvt.rna
    bits = (x.to(torch.float32).contiguous().view(torch.int32) + 0x1000) & ~0x1FFF
    return bits.view(torch.float32).double()


for n, h in ((64, 3), (200, 4), (700, 4)):
    gen = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(2, h, n, 128, generator=gen, dtype=torch.float64) for _ in "qkv")
    qn, kn = (torch.nn.functional.normalize(x, dim=-1, eps=1e-6) for x in (q, k))
    ref = fastmax.reference_attention(qn, kn, v, causal=True, normalize=None, a1=0.7)
    errors = [
        relative_error(fastmax.reference_attention(*xs, causal=True, normalize=None, a1=0.7), ref)
        for xs in (
            (truncated(qn), truncated(kn), truncated(v)),
            (truncated(qn), truncated(kn), rounded(v)),
            (rounded(qn), rounded(kn), rounded(v)),
        )
    ]
    print(f"N={n}: all truncated %.2e, v rounded %.2e, all rounded %.2e" % tuple(errors))
