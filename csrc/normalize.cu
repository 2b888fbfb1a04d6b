// Per-token L2 normalisation of q and k in one pass, and its gradient in one pass.
//
//   y = x * r,  r = 1 / max(||x||, eps)
//   dx = r * (dy - y <y, dy>)        where ||x|| > eps
//   dx = r * dy                      where the norm is clamped (y is then linear in x)
//
// Rows whose head_dim is a power-of-two count of 16-byte vectors, 16-byte aligned (the usual
// case), take the vector kernels: a group of lanes per row, 16-byte loads, two row groups per
// warp with every load issued first. Others take one warp per row with element loads. Sums are
// in float32 with a fixed shuffle order (bitwise reproducible).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

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

// Elements of T in one 16-byte vector.
template <typename T>
constexpr int kVec = 16 / int(sizeof(T));
constexpr int kVecWarps = 8;  // warps per block of the vector kernels
constexpr int kVecSteps = 2;  // row groups per warp, all loaded before the first sum

// The sum over the LPR lanes of a row group (lanes lane - lane % LPR onwards).
template <int LPR>
__device__ __forceinline__ float group_sum(float x) {
#pragma unroll
  for (int off = LPR / 2; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

template <typename T>
__device__ __forceinline__ void unpack(const uint4& u, float (&f)[kVec<T>]) {
  const T* e = reinterpret_cast<const T*>(&u);
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i) f[i] = to_f(e[i]);
}

template <typename T>
__device__ __forceinline__ uint4 pack(const float (&f)[kVec<T>]) {
  uint4 u;
  T* e = reinterpret_cast<T*>(&u);
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i) e[i] = from_f<T>(f[i]);
  return u;
}

// This thread's place in the vector kernels: grid (token blocks, heads, batch), a group of LPR
// lanes per row, NV vectors per lane; row i of step s is i0 + s * rows-per-warp.
template <int LPR>
struct VecPlace {
  int lane, part;  // lane in the warp, lane in the row group
  int64_t i0;      // this thread's token at step 0
  int64_t bh;      // batch * heads + head
  __device__ VecPlace() {
    lane = threadIdx.x & 31;
    part = lane % LPR;
    i0 = (int64_t(blockIdx.x) * kVecWarps + threadIdx.x / 32) * (32 / LPR) * kVecSteps + lane / LPR;
    bh = int64_t(blockIdx.z) * gridDim.y + blockIdx.y;
  }
};

template <typename T, int LPR, int NV>
__global__ void __launch_bounds__(32 * kVecWarps) normalize_vec_kernel(const RowNorm r) {
  constexpr int V = kVec<T>, RPW = 32 / LPR;
  const VecPlace<LPR> at;
  const uint4* x = reinterpret_cast<const uint4*>(static_cast<const T*>(r.x) +
                                                  int64_t(blockIdx.z) * r.x_sb + blockIdx.y * r.x_sh);
  uint4 raw[kVecSteps][NV];
#pragma unroll
  for (int s = 0; s < kVecSteps; ++s) {
    const int64_t i = at.i0 + s * RPW;
#pragma unroll
    for (int v = 0; v < NV; ++v)
      raw[s][v] = i < r.n ? __ldg(x + (i * r.x_sn) / V + at.part + LPR * v) : make_uint4(0, 0, 0, 0);
  }
#pragma unroll
  for (int s = 0; s < kVecSteps; ++s) {
    const int64_t i = at.i0 + s * RPW;
    float f[NV][V];
    float ss = 0.f;
#pragma unroll
    for (int v = 0; v < NV; ++v) {
      unpack<T>(raw[s][v], f[v]);
#pragma unroll
      for (int e = 0; e < V; ++e) ss += f[v][e] * f[v][e];
    }
    const float rn = 1.f / fmaxf(sqrtf(group_sum<LPR>(ss)), r.eps);
    if (i >= r.n) continue;
    const int64_t row = at.bh * r.n + i;
    uint4* y = reinterpret_cast<uint4*>(static_cast<T*>(r.y) + row * r.dim);
#pragma unroll
    for (int v = 0; v < NV; ++v) {
#pragma unroll
      for (int e = 0; e < V; ++e) f[v][e] *= rn;
      y[at.part + LPR * v] = pack<T>(f[v]);
    }
    if (at.part == 0) r.rnorm[row] = rn;
  }
}

template <typename T, int LPR, int NV>
__global__ void __launch_bounds__(32 * kVecWarps) normalize_vec_bwd_kernel(const RowNorm r) {
  constexpr int V = kVec<T>, RPW = 32 / LPR;
  const VecPlace<LPR> at;
  const uint4* x = reinterpret_cast<const uint4*>(static_cast<const T*>(r.x) +
                                                  int64_t(blockIdx.z) * r.x_sb + blockIdx.y * r.x_sh);
  const uint4* dy = reinterpret_cast<const uint4*>(
      static_cast<const T*>(r.dy) + int64_t(blockIdx.z) * r.dy_sb + blockIdx.y * r.dy_sh);
  uint4 xr[kVecSteps][NV], gr[kVecSteps][NV];
  float rn[kVecSteps];
#pragma unroll
  for (int s = 0; s < kVecSteps; ++s) {
    const int64_t i = at.i0 + s * RPW;
    const bool ok = i < r.n;
    rn[s] = ok ? __ldg(r.rnorm + at.bh * r.n + i) : 0.f;
#pragma unroll
    for (int v = 0; v < NV; ++v) {
      const int k = at.part + LPR * v;
      xr[s][v] = ok ? __ldg(x + (i * r.x_sn) / V + k) : make_uint4(0, 0, 0, 0);
      gr[s][v] = ok ? __ldg(dy + (i * r.dy_sn) / V + k) : make_uint4(0, 0, 0, 0);
    }
  }
#pragma unroll
  for (int s = 0; s < kVecSteps; ++s) {
    const int64_t i = at.i0 + s * RPW;
    float yv[NV][V], gv[NV][V];
    float dot = 0.f;
#pragma unroll
    for (int v = 0; v < NV; ++v) {
      unpack<T>(xr[s][v], yv[v]);
      unpack<T>(gr[s][v], gv[v]);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        yv[v][e] *= rn[s];
        dot += yv[v][e] * gv[v][e];
      }
    }
    dot = group_sum<LPR>(dot);
    if (i >= r.n) continue;
    // A clamped norm (rn == 1 / eps) makes y linear in x: no projection term.
    if (rn[s] * r.eps >= 0.9999f) dot = 0.f;
    uint4* dx = reinterpret_cast<uint4*>(static_cast<T*>(r.dx) + (at.bh * r.n + i) * r.dim);
#pragma unroll
    for (int v = 0; v < NV; ++v) {
#pragma unroll
      for (int e = 0; e < V; ++e) gv[v][e] = rn[s] * (gv[v][e] - yv[v][e] * dot);
      dx[at.part + LPR * v] = pack<T>(gv[v]);
    }
  }
}

template <typename T, int LPR, int NV>
cudaError_t launch_vec(const RowNorm& r, bool backward, cudaStream_t stream) {
  constexpr int kRowsPerBlock = kVecWarps * (32 / LPR) * kVecSteps;
  const dim3 grid((r.n + kRowsPerBlock - 1) / kRowsPerBlock, r.heads, r.batch);
  if (r.heads > 65535 || r.batch > 65535) return cudaErrorInvalidConfiguration;
  if (backward) {
    normalize_vec_bwd_kernel<T, LPR, NV><<<grid, 32 * kVecWarps, 0, stream>>>(r);
  } else {
    normalize_vec_kernel<T, LPR, NV><<<grid, 32 * kVecWarps, 0, stream>>>(r);
  }
  return cudaGetLastError();
}

// Whether a tensor's rows (base, strides in elements) start on 16-byte boundaries.
template <typename T>
bool vector_aligned(const void* base, int64_t sb, int64_t sh, int64_t sn) {
  return reinterpret_cast<std::uintptr_t>(base) % 16 == 0 && sb % kVec<T> == 0 &&
         sh % kVec<T> == 0 && sn % kVec<T> == 0;
}

template <typename T>
cudaError_t launch(const RowNorm& r, bool backward, cudaStream_t stream) {
  const bool aligned = r.dim % kVec<T> == 0 && vector_aligned<T>(r.x, r.x_sb, r.x_sh, r.x_sn) &&
                       (!backward || vector_aligned<T>(r.dy, r.dy_sb, r.dy_sh, r.dy_sn));
  if (aligned && r.n > 0) {
    switch (r.dim / kVec<T>) {
      case 1:
        return launch_vec<T, 1, 1>(r, backward, stream);
      case 2:
        return launch_vec<T, 2, 1>(r, backward, stream);
      case 4:
        return launch_vec<T, 4, 1>(r, backward, stream);
      case 8:
        return launch_vec<T, 8, 1>(r, backward, stream);
      case 16:
        return launch_vec<T, 16, 1>(r, backward, stream);
      case 32:
        return launch_vec<T, 32, 1>(r, backward, stream);
      case 64:
        return launch_vec<T, 32, 2>(r, backward, stream);
    }
  }
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
