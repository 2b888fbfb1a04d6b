// Per-token L2 normalisation of q and k in one pass, and its gradient in one pass.
//
//   y = x * r,  r = 1 / max(||x||, eps)
//   dx = r * (dy - y <y, dy>)        where ||x|| > eps
//   dx = r * dy                      where the norm is clamped (y is then linear in x)
//
// One warp per token row; sums in float32 with a fixed shuffle order (bitwise reproducible).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "fastmax.h"

namespace fastmax {
namespace {

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
template <typename T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <>
__device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

constexpr int kMaxPerLane = 8;  // head_dim <= 256

template <typename T>
__global__ void normalize_kernel(const RowNorm r) {
  const int64_t row = int64_t(blockIdx.x) * 4 + threadIdx.x / 32;
  if (row >= int64_t(r.batch) * r.heads * r.n) return;
  const int lane = threadIdx.x & 31;
  const int64_t b = row / (int64_t(r.heads) * r.n), h = (row / r.n) % r.heads, i = row % r.n;
  const T* x = static_cast<const T*>(r.x) + b * r.x_sb + h * r.x_sh + i * r.x_sn;
  float v[kMaxPerLane];
  float ss = 0.f;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    v[j] = d < r.dim ? to_f(x[d]) : 0.f;
    ss += v[j] * v[j];
  }
  const float rn = 1.f / fmaxf(sqrtf(warp_sum(ss)), r.eps);
  T* y = static_cast<T*>(r.y) + row * r.dim;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    if (d < r.dim) y[d] = from_f<T>(v[j] * rn);
  }
  if (lane == 0) r.rnorm[row] = rn;
}

template <typename T>
__global__ void normalize_bwd_kernel(const RowNorm r) {
  const int64_t row = int64_t(blockIdx.x) * 4 + threadIdx.x / 32;
  if (row >= int64_t(r.batch) * r.heads * r.n) return;
  const int lane = threadIdx.x & 31;
  const int64_t b = row / (int64_t(r.heads) * r.n), h = (row / r.n) % r.heads, i = row % r.n;
  const T* x = static_cast<const T*>(r.x) + b * r.x_sb + h * r.x_sh + i * r.x_sn;
  const T* dy = static_cast<const T*>(r.dy) + b * r.dy_sb + h * r.dy_sh + i * r.dy_sn;
  const float rn = r.rnorm[row];
  float yv[kMaxPerLane], gv[kMaxPerLane];
  float dot = 0.f;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    yv[j] = d < r.dim ? to_f(x[d]) * rn : 0.f;
    gv[j] = d < r.dim ? to_f(dy[d]) : 0.f;
    dot += yv[j] * gv[j];
  }
  // A clamped norm (rn == 1 / eps) makes y linear in x: no projection term.
  dot = rn * r.eps < 0.9999f ? warp_sum(dot) : 0.f;
  T* dx = static_cast<T*>(r.dx) + row * r.dim;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    if (d < r.dim) dx[d] = from_f<T>(rn * (gv[j] - yv[j] * dot));
  }
}

template <typename T>
cudaError_t launch(const RowNorm& r, bool backward, cudaStream_t stream) {
  const int64_t rows = int64_t(r.batch) * r.heads * r.n;
  const int64_t blocks = (rows + 3) / 4;
  if (blocks > 0x7fffffff || r.dim > 32 * kMaxPerLane) return cudaErrorInvalidConfiguration;
  if (backward) {
    normalize_bwd_kernel<T><<<static_cast<unsigned>(blocks), 128, 0, stream>>>(r);
  } else {
    normalize_kernel<T><<<static_cast<unsigned>(blocks), 128, 0, stream>>>(r);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_row_norm(int dtype, const RowNorm& r, bool backward, cudaStream_t stream) {
  switch (dtype) {
    case 0:
      return launch<__nv_bfloat16>(r, backward, stream);
    case 1:
      return launch<float>(r, backward, stream);
    case 2:
      return launch<__half>(r, backward, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace fastmax
