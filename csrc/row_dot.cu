// go = <grad_out, out> per row, the backward pass's only reduction over the head dimension.
#include <cuda_bf16.h>

#include "fastmax.h"

namespace fastmax {
namespace {

__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(float x) { return x; }

template <typename T>
__global__ void row_dot_kernel(const RowDot r) {
  const int64_t row = int64_t(blockIdx.x) * 4 + threadIdx.x / 32;
  const int64_t rows = int64_t(r.batch) * r.heads * r.n;
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const int64_t b = row / (int64_t(r.heads) * r.n), h = (row / r.n) % r.heads, i = row % r.n;
  const T* g = static_cast<const T*>(r.grad_out) + b * r.g_sb + h * r.g_sh + i * r.g_sn;
  const T* o = static_cast<const T*>(r.out) + row * r.dim;
  float acc = 0.f;
  for (int d = lane; d < r.dim; d += 32) acc += to_float(g[d]) * to_float(o[d]);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) r.go[row] = acc;
}

template <typename T>
cudaError_t launch(const RowDot& r, cudaStream_t stream) {
  const int64_t rows = int64_t(r.batch) * r.heads * r.n;
  const int64_t blocks = (rows + 3) / 4;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  row_dot_kernel<T><<<static_cast<unsigned>(blocks), 128, 0, stream>>>(r);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_row_dot_bf16(const RowDot& r, cudaStream_t stream) {
  return launch<__nv_bfloat16>(r, stream);
}
cudaError_t launch_row_dot_f32(const RowDot& r, cudaStream_t stream) {
  return launch<float>(r, stream);
}

}  // namespace fastmax
