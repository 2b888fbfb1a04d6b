"""csrc/ieee_fast.cuh against nvcc's IEEE ``1.f / x`` and ``sqrtf`` over every float32 bit pattern.

The kernels take reciprocals and norms without the IEEE slow-path calls; these tests compile the
header into a small extension and count, on the GPU, the inputs where it differs from nvcc.
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
using fastmax::rcp_fast;

__device__ bool same(float a, float b) {
  return __float_as_uint(a) == __float_as_uint(b) || (isnan(a) && isnan(b));
}

// counts[0]: rcp_fast != 1.f / x for |x| in [2^-126, 2^126); counts[1]: outside that range, a
// result other than the documented one; counts[2]: clamped_norm(ss, eps) != fmaxf(sqrtf(ss), eps).
__global__ void count_kernel(unsigned long long* counts, float eps) {
  unsigned long long bad[3] = {0, 0, 0};
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
  }
  for (int c = 0; c < 3; ++c)
    if (bad[c]) atomicAdd(counts + c, bad[c]);
}

torch::Tensor count(double eps) {
  auto counts = torch::zeros({3}, torch::dtype(torch::kInt64).device(torch::kCUDA));
  count_kernel<<<1024, 256, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>()), static_cast<float>(eps));
  return counts.cpu();
}
"""


@pytest.fixture(scope="module")
def checker():
    from torch.utils.cpp_extension import load_inline

    return load_inline(
        name="fastmax_ieee_fast_check",
        cpp_sources="torch::Tensor count(double eps);",
        cuda_sources=SOURCE,
        functions=["count"],
        extra_include_paths=[str(CSRC)],
        extra_cuda_cflags=["-O3"],
    )


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("eps", [2.0**-50, 1e-6, 1.0, 3e38])
def test_equal_to_ieee_on_every_float(checker, eps):
    """rcp_fast is 1.f / x bit for bit on [2^-126, 2^126) and as documented outside it;
    clamped_norm is fmaxf(sqrtf(ss), eps) bit for bit for every ss when eps >= 2^-50."""
    assert checker.count(eps).tolist() == [0, 0, 0]


@gpu
@pytest.mark.gpu
def test_clamped_norm_needs_its_eps_bound(checker):
    """Below eps = 2^-50 the stand-in for tiny ss shows: the bound the op dispatches on is real."""
    assert checker.count(2.0**-60)[2] > 0
