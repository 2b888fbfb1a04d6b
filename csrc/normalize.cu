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
#include "fastmax.h"
#include "rows.cuh"

namespace fastmax {
namespace {

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
  const float rn = 1.f / fmaxf(sqrtf(group_sum<32>(ss)), r.eps);
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
  dot = norm_clamped(rn, r.eps) ? 0.f : group_sum<32>(dot);
  T* dx = static_cast<T*>(r.dx) + row * r.dim;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    if (d < r.dim) dx[d] = from_f<T>(rn * (gv[j] - yv[j] * dot));
  }
}

template <typename T, int LPR, int NV>
__global__ void __launch_bounds__(kVecThreads) normalize_vec_kernel(const RowNorm r) {
  constexpr int V = kVec<T>, RPW = 32 / LPR;
  const VecPlace<LPR> at;
  uint4 raw[kVecSteps][NV];
  load_rows<T>(at, r.x, r.x_sb, r.x_sh, r.x_sn, r.n, raw);
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
__global__ void __launch_bounds__(kVecThreads) normalize_vec_bwd_kernel(const RowNorm r) {
  constexpr int V = kVec<T>, RPW = 32 / LPR;
  const VecPlace<LPR> at;
  uint4 xr[kVecSteps][NV], gr[kVecSteps][NV];
  load_rows<T>(at, r.x, r.x_sb, r.x_sh, r.x_sn, r.n, xr);
  load_rows<T>(at, r.dy, r.dy_sb, r.dy_sh, r.dy_sn, r.n, gr);
  float rn[kVecSteps];
#pragma unroll
  for (int s = 0; s < kVecSteps; ++s) {
    const int64_t i = at.i0 + s * RPW;
    rn[s] = i < r.n ? __ldg(r.rnorm + at.bh * r.n + i) : 0.f;
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
    if (norm_clamped(rn[s], r.eps)) dot = 0.f;
    uint4* dx = reinterpret_cast<uint4*>(static_cast<T*>(r.dx) + (at.bh * r.n + i) * r.dim);
#pragma unroll
    for (int v = 0; v < NV; ++v) {
#pragma unroll
      for (int e = 0; e < V; ++e) gv[v][e] = rn[s] * (gv[v][e] - yv[v][e] * dot);
      dx[at.part + LPR * v] = pack<T>(gv[v]);
    }
  }
}

template <typename T>
cudaError_t launch(const RowNorm& r, bool backward, cudaStream_t stream) {
  const int64_t rows = int64_t(r.batch) * r.heads * r.n;
  if (rows == 0) return cudaSuccess;
  const bool aligned = vector_aligned<T>(r.x, r.x_sb, r.x_sh, r.x_sn) &&
                       (!backward || vector_aligned<T>(r.dy, r.dy_sb, r.dy_sh, r.dy_sn));
  cudaError_t err = cudaSuccess;
  const bool vector = aligned && visit_vector_layout<T>(r.dim, [&](auto lpr, auto nv) {
    constexpr int LPR = decltype(lpr)::value, NV = decltype(nv)::value;
    const dim3 grid = vector_grid<LPR>(r.n, r.heads, r.batch);
    if (backward) {
      normalize_vec_bwd_kernel<T, LPR, NV><<<grid, kVecThreads, 0, stream>>>(r);
    } else {
      normalize_vec_kernel<T, LPR, NV><<<grid, kVecThreads, 0, stream>>>(r);
    }
    err = cudaGetLastError();
  });
  if (vector) return err;
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
  return visit_row_dtype(dtype, [&](auto tag) {
    return launch<decltype(tag)>(r, backward, stream);
  });
}

}  // namespace fastmax
