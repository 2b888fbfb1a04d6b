"""csrc/ieee_fast.cuh against nvcc's IEEE ``1.f / x``, ``a / b`` and ``sqrtf`` on every float32.

The kernels take reciprocals, quotients and norms without the IEEE slow-path calls; these tests
compile the header into a small extension and count, on the GPU, the inputs where it differs
from nvcc.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CSRC = Path(__file__).resolve().parents[1] / "csrc"
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and nvcc")

SOURCE = r"""
#include <cstdint>
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include "ieee_fast.cuh"

using fastmax::clamped_norm;
using fastmax::div_fast;
using fastmax::rcp_fast;

__device__ bool same(float a, float b) {
  return __float_as_uint(a) == __float_as_uint(b) || (isnan(a) && isnan(b));
}

__device__ bool moderate(float x) { return fabsf(x) >= 0x1p-63f && fabsf(x) < 0x1p63f; }

__device__ uint32_t mix(uint32_t x) {  // a bijective hash: a pseudo-random partner for x
  x ^= x >> 16, x *= 0x7feb352du, x ^= x >> 15, x *= 0x846ca68bu;
  return x ^ (x >> 16);
}

// Over every float x: counts[0]: rcp_fast(x) != 1.f / x for |x| in [2^-126, 2^126); counts[1]:
// outside that range, a result other than the documented one; counts[2]: clamped_norm(x, eps)
// != fmaxf(sqrtf(x), eps); counts[3]: div_fast(a, x) != a / x; counts[4]: div_fast(y, x) != y / x
// for a pseudo-random float y (the quotients with both operands in [2^-63, 2^63) only).
__global__ void count_kernel(unsigned long long* counts, float eps, float a) {
  unsigned long long bad[5] = {0, 0, 0, 0, 0};
  const uint64_t step = uint64_t(gridDim.x) * blockDim.x;
  for (uint64_t i = blockIdx.x * uint64_t(blockDim.x) + threadIdx.x; i < (1ull << 32); i += step) {
    const float x = __uint_as_float(uint32_t(i));
    const float got = rcp_fast(x), want = 1.f / x, ax = fabsf(x);
    if (ax >= 0x1p-126f && ax < 0x1p126f) {
      bad[0] += !same(got, want);
    } else {
      const bool sign_ok = signbit(got) == signbit(x);
      bool ok;
      if (isnan(x)) ok = isnan(got);
      else if (ax < 0x1p-126f) ok = isinf(got) && sign_ok;            // zero, denormal: inf
      else ok = fabsf(got - want) <= 0x1p-126f && sign_ok;            // huge, inf: at most 2^-126
      bad[1] += !ok;
    }
    bad[2] += !same(clamped_norm(x, eps), fmaxf(sqrtf(x), eps));
    const float y = __uint_as_float(mix(uint32_t(i)));
    bad[3] += moderate(a) && moderate(x) && !same(div_fast(a, x), a / x);
    bad[4] += moderate(y) && moderate(x) && !same(div_fast(y, x), y / x);
  }
  for (int c = 0; c < 5; ++c)
    if (bad[c]) atomicAdd(counts + c, bad[c]);
}

torch::Tensor count(double eps, double a) {
  auto counts = torch::zeros({5}, torch::dtype(torch::kInt64).device(torch::kCUDA));
  count_kernel<<<1024, 256, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>()), static_cast<float>(eps),
      static_cast<float>(a));
  return counts.cpu();
}
"""


@pytest.fixture(scope="module")
def checker():
    from torch.utils.cpp_extension import load_inline

    return load_inline(
        name="fastmax_ieee_fast_check",
        cpp_sources="torch::Tensor count(double eps, double a);",
        cuda_sources=SOURCE,
        functions=["count"],
        extra_include_paths=[str(CSRC)],
        extra_cuda_cflags=["-O3"],
    )


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("eps, a", [(2.0**-50, 1.0), (1e-6, 0.37), (1.0, -3.5), (3e38, 1e-12)])
def test_equal_to_ieee_on_every_float(checker, eps, a):
    """rcp_fast is 1.f / x bit for bit on [2^-126, 2^126) and as documented outside it;
    clamped_norm is fmaxf(sqrtf(ss), eps) bit for bit for every ss when eps >= 2^-50; div_fast
    is a / b bit for bit with both in [2^-63, 2^63) (a given, and a pseudo-random one per x)."""
    assert checker.count(eps, a).tolist() == [0, 0, 0, 0, 0]


@gpu
@pytest.mark.gpu
def test_clamped_norm_needs_its_eps_bound(checker):
    """Below eps = 2^-50 the stand-in for tiny ss shows: the bound the op dispatches on is real."""
    assert checker.count(2.0**-60, 1.0)[2] > 0
