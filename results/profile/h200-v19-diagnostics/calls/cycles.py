"""Reference cycles holding CUDA tensors after one op forward+backward, per dtype and normalize."""

import gc

import torch

from fastmax import fastmax_attention

gc.disable()
for dtype in (torch.bfloat16, torch.float32):
    for norm in ("token", "seq_max"):
        for causal in (True, False):
            q, k, v = (
                torch.randn(2, 4, 1024, 64, device="cuda", dtype=dtype, requires_grad=True)
                for _ in range(3)
            )
            g = torch.randn(2, 4, 1024, 64, device="cuda", dtype=dtype)
            gc.collect()
            before = torch.cuda.memory_allocated()
            torch.autograd.grad(
                fastmax_attention(q, k, v, causal=causal, normalize=norm), (q, k, v), g
            )
            after = torch.cuda.memory_allocated()
            gc.set_debug(gc.DEBUG_SAVEALL)
            found = gc.collect()
            tensors = [o for o in gc.garbage if isinstance(o, torch.Tensor)]
            kinds = sorted({type(o).__name__ for o in gc.garbage})[:12]
            print(
                dtype,
                norm,
                causal,
                "left allocated",
                after - before,
                "unreachable",
                found,
                "tensors",
                [tuple(t.shape) for t in tensors][:6],
                kinds,
            )
            gc.garbage.clear()
            gc.set_debug(0)
