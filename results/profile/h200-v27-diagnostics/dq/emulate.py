"""The algebra of dq/'s diffs checked in float64 on the CPU: the wgmma forward kernel's causal
sum F (per-row a0, per-key scales r and terms t, value rows c, no division), run with DQ's
roles (a = dO, b = v, c = kn, a0 = -a1 go, divided by den), with DV's reversed in time (a = kn,
b = raw q with r = 1 / max(||q||, eps), c = dO / den) and with DK's reversed (a = v, b = dO
with r = 1 / den, t = -a1 go / den, c = q / max(||q||, eps)), against autograd of the float64
formula on the normalised q and k. Prints the largest relative differences."""

import torch

from fastmax import reference_attention


def kernel_sum(a, b, c, a0_rows, r_keys, a1, t_keys=None):
    """sum_{j <= i} (a0_i + t_j + a1 r_j <a_i, b_j>) c_j, as the kernel's chunks and state add
    up (t_j 0 unless given)."""
    w = a0_rows[..., :, None] + a1 * (a @ b.transpose(-1, -2)) * r_keys[..., None, :]
    if t_keys is not None:
        w = w + t_keys[..., None, :]
    keep = torch.ones(a.shape[-2], a.shape[-2], dtype=torch.bool).tril()
    return w.masked_fill(~keep, 0.0) @ c


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    b, h, n, d, a0, a1, eps = 2, 3, 150, 64, 1.0, 0.7, 1e-6
    q, k, v, grad = (torch.randn(b, h, n, d, generator=gen, dtype=torch.float64) for _ in range(4))
    q = q * torch.rand(b, h, n, 1, generator=gen, dtype=torch.float64) * 5
    rq = 1 / q.norm(dim=-1).clamp_min(eps)
    qn, kn = q * rq[..., None], k / k.norm(dim=-1, keepdim=True).clamp_min(eps)
    leaves = [t.clone().requires_grad_() for t in (qn, kn, v)]
    out = reference_attention(*leaves, causal=True, normalize=None, a0=a0, a1=a1)
    out.backward(grad)
    w = (a0 + a1 * qn @ kn.transpose(-1, -2)).masked_fill(
        ~torch.ones(n, n, dtype=torch.bool).tril(), 0.0
    )
    den = w.sum(-1)
    go = (grad * out.detach()).sum(-1)
    ones = torch.ones(b, h, n, dtype=torch.float64)

    dq = kernel_sum(grad, v, kn, -a1 * go, ones, a1) / den[..., None]
    flip = lambda t: t.flip(2)  # noqa: E731  (the token dimension)
    dv = flip(kernel_sum(flip(kn), flip(q), flip(grad / den[..., None]), a0 * ones, flip(rq), a1))

    def rel(x, y):
        return ((x - y).abs().max() / y.abs().max()).item()

    dk = flip(
        kernel_sum(
            flip(v), flip(grad), flip(qn), 0 * ones, flip(1 / den), a1, t_keys=flip(-a1 * go / den)
        )
    )
    print(f"dq (w.r.t. the normalised q) {rel(dq, leaves[0].grad):.2e}")
    print(f"dk (w.r.t. the normalised k) {rel(dk, leaves[1].grad):.2e}")
    print(f"dv {rel(dv, leaves[2].grad):.2e}")


if __name__ == "__main__":
    main()
