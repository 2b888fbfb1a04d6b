// dx += coef * x on the rows where coef is not zero: the gradient of a per-head maximum of row
// norms (seq_max normalisation), which reaches only the rows holding the maximum. One thread
// per row reads its coef; the few rows that carry one are updated element by element.
#include "fastmax.h"
#include "rows.cuh"

namespace fastmax {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads) add_scaled_rows_kernel(const ScaledRows r) {
  const int64_t row = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (row >= int64_t(r.batch) * r.heads * r.n) return;
  const float c = r.coef[row];
  if (c == 0.f) return;
  const int i = static_cast<int>(row % r.n);
  const int64_t bh = row / r.n;
  const int b = static_cast<int>(bh / r.heads), h = static_cast<int>(bh % r.heads);
  T* dx = static_cast<T*>(r.dx) + b * r.d_sb + h * r.d_sh + i * r.d_sn;
  const T* x = static_cast<const T*>(r.x) + b * r.x_sb + h * r.x_sh + i * r.x_sn;
  // Product and sum rounded apart (no fused multiply-add), as PyTorch's float32 ops compute it.
  for (int e = 0; e < r.dim; ++e) {
    dx[e] = from_f<T>(__fadd_rn(to_f(dx[e]), __fmul_rn(c, to_f(x[e]))));
  }
}

}  // namespace

cudaError_t launch_add_scaled_rows(int dtype, const ScaledRows& r, cudaStream_t stream) {
  const int64_t rows = int64_t(r.batch) * r.heads * r.n;
  if (rows == 0) return cudaSuccess;
  return visit_row_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const unsigned blocks = static_cast<unsigned>((rows + kThreads - 1) / kThreads);
    add_scaled_rows_kernel<T><<<blocks, kThreads, 0, stream>>>(r);
    return cudaGetLastError();
  });
}

}  // namespace fastmax
