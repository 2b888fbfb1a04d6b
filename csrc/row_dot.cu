// go = <grad_out, out> per row, the backward pass's only reduction over the head dimension.
// The rows are 16-byte aligned (kernel_view) and head_dim is 32 to 256, so every row takes the
// vector layout of rows.cuh.
#include "fastmax.h"
#include "rows.cuh"

namespace fastmax {
namespace {

template <typename T, int LPR, int NV>
__global__ void __launch_bounds__(kVecThreads) row_dot_kernel(const RowDot r) {
  constexpr int V = kVec<T>, RPW = 32 / LPR;
  const VecPlace<LPR> at;
  uint4 graw[kVecSteps][NV], oraw[kVecSteps][NV];
  load_rows<T>(at, r.grad_out, r.g_sb, r.g_sh, r.g_sn, r.n, graw);
  load_rows<T>(at, r.out, r.o_sb, r.o_sh, r.o_sn, r.n, oraw);
#pragma unroll
  for (int s = 0; s < kVecSteps; ++s) {
    const int64_t i = at.i0 + s * RPW;
    float acc = 0.f;
#pragma unroll
    for (int v = 0; v < NV; ++v) {
      float g[V], x[V];
      unpack<T>(graw[s][v], g);
      unpack<T>(oraw[s][v], x);
#pragma unroll
      for (int e = 0; e < V; ++e) acc += g[e] * x[e];
    }
    acc = group_sum<LPR>(acc);
    if (i < r.n && at.part == 0) r.go[at.bh * r.n + i] = acc;
  }
}

template <typename T>
cudaError_t launch(const RowDot& r, cudaStream_t stream) {
  if (int64_t(r.batch) * r.heads * r.n == 0) return cudaSuccess;
  if (!vector_aligned<T>(r.grad_out, r.g_sb, r.g_sh, r.g_sn) ||
      !vector_aligned<T>(r.out, r.o_sb, r.o_sh, r.o_sn))
    return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  visit_vector_layout<T>(r.dim, [&](auto lpr, auto nv) {
    constexpr int LPR = decltype(lpr)::value, NV = decltype(nv)::value;
    const dim3 grid = vector_grid<LPR>(r.n, r.heads, r.batch);
    row_dot_kernel<T, LPR, NV><<<grid, kVecThreads, 0, stream>>>(r);
    err = cudaGetLastError();
  });
  return err;
}

}  // namespace

cudaError_t launch_row_dot_bf16(const RowDot& r, cudaStream_t stream) {
  return launch<__nv_bfloat16>(r, stream);
}
cudaError_t launch_row_dot_f32(const RowDot& r, cudaStream_t stream) {
  return launch<float>(r, stream);
}

}  // namespace fastmax
