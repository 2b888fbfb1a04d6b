"""The TF32 three-product split's own error, emulated on the CPU (no GPU): dot products of 4096
pairs of head_dim-128 standard normal float32 rows, each operand split into a high and a low part
as the unit sees them (an operand's low 13 bits ignored), the three products hi hi + lo hi + hi lo
summed exactly in float64, against the float64 dot product. Schemes: A, both parts rounded
(cvt.rna, before 5aa37cc); B, the high part rounded and the low part truncated (5aa37cc); C, both
truncated (the raw value as the high part, as the wgmma kernels split). Float32's own sequential
sum of the same products is printed beside them for scale. Output: split_emulation.txt."""

import numpy as np

MASK = np.uint32(0xFFFFE000)


def trunc(x: np.ndarray) -> np.ndarray:
    return (x.view(np.uint32) & MASK).view(np.float32)


def rna(x: np.ndarray) -> np.ndarray:
    return ((x.view(np.uint32) + np.uint32(0x1000)) & MASK).view(np.float32)


def split(x: np.ndarray, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    hi = trunc(x) if scheme == "C" else rna(x)
    rest = (x - hi).astype(np.float32)
    lo = rna(rest) if scheme == "A" else trunc(rest)
    return hi.astype(np.float64), lo.astype(np.float64)


rng = np.random.default_rng(0)
a, b = (rng.standard_normal((4096, 128)).astype(np.float32) for _ in range(2))
ref = (a.astype(np.float64) * b).sum(1)
for scheme in "ABC":
    (ah, al), (bh, bl) = split(a, scheme), split(b, scheme)
    got = (ah * bh + al * bh + ah * bl).sum(1)
    print(f"{scheme}: relative error {np.linalg.norm(got - ref) / np.linalg.norm(ref):.2e}")
acc = np.zeros(len(a), np.float32)
for k in range(a.shape[1]):
    acc = acc + a[:, k] * b[:, k]
error = np.linalg.norm(acc - ref) / np.linalg.norm(ref)
print(f"float32 sequential sum: relative error {error:.2e}")
