// The per-head numbers of the seq_max normalisation (fastmax/ops/seq_max_cuda.py), one block per
// (batch, head): the peaks P = max(max_i ||x_i||^2, floor) with the weights' a1' in the forward,
// and in the backward the peaks' gradient, which reaches only the rows holding a peak. Each
// replaces a handful of small PyTorch ops, whose launches bounded short sequences.
#include "fastmax.h"
#include "rows.cuh"

namespace fastmax {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

// The larger of a and b, NaN if either is: torch.amax's and clamp_min's maximum.
__device__ __forceinline__ float nan_max(float a, float b) { return (a != a || a > b) ? a : b; }

// The sum (or maximum, nan_max) of v over the block; every thread gets the result.
template <bool kMax>
__device__ float block_reduce(float v, float* shared) {
  const auto combine = [](float a, float b) { return kMax ? nan_max(a, b) : a + b; };
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = combine(v, __shfl_xor_sync(0xffffffffu, v, off));
  if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = v;
  __syncthreads();
  v = shared[threadIdx.x % kWarps];
#pragma unroll
  for (int off = kWarps / 2; off > 0; off >>= 1) v = combine(v, __shfl_xor_sync(0xffffffffu, v, off));
  __syncthreads();  // shared is free again
  return v;
}

// The largest of n squared norms (0 when n is 0: norms are not negative).
__device__ float row_peak(const float* sq, int n, float* shared) {
  float m = 0.f;
  for (int i = threadIdx.x; i < n; i += kThreads) m = nan_max(sq[i], m);
  return block_reduce<true>(m, shared);
}

__device__ __forceinline__ float floored(float peak, float floor) { return nan_max(peak, floor); }

__global__ void __launch_bounds__(kThreads) seq_max_a1_kernel(const SeqMaxA1 s) {
  __shared__ float shared[kWarps];
  const int b = blockIdx.y, h = blockIdx.x;
  float pq = 0.f, pk = 0.f;
  if (h < s.heads_q) pq = row_peak(s.sq_q + (int64_t(b) * s.heads_q + h) * s.n, s.n, shared);
  if (h < s.heads_k) pk = row_peak(s.sq_k + (int64_t(b) * s.heads_k + h) * s.n, s.n, shared);
  if (threadIdx.x != 0) return;
  if (h < s.heads_q) s.peak_q[b * s.heads_q + h] = pq;
  if (h < s.heads_k) {
    s.peak_k[b * s.heads_k + h] = pk;
    // Grouped heads: q is divided by its own P_q in a copy, so a1' takes P_k alone.
    const float denom = s.heads_q == s.heads_k
                            ? __fmul_rn(floored(pq, s.floor), floored(pk, s.floor))
                            : floored(pk, s.floor);
    s.a1_heads[b * s.heads_k + h] = __fdiv_rn(s.a1, denom);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) add_peak_gradient_kernel(const PeakGradient g) {
  __shared__ float shared[kWarps];
  const int b = blockIdx.y, h = blockIdx.x;
  const int64_t bh = int64_t(b) * g.heads + h;
  const float* sq = g.sq + bh * g.n;
  const float* s = g.s + bh * g.n;
  const float peak = g.peak[bh];
  float total = 0.f, ties = 0.f;
  for (int i = threadIdx.x; i < g.n; i += kThreads) {
    total += s[i];
    ties += sq[i] == peak ? 1.f : 0.f;
  }
  total = block_reduce<false>(total, shared);
  ties = block_reduce<false>(ties, shared);
  // dL/dP = -total / P^power; amax splits it evenly among the tied rows and clamp_min passes
  // none of it unless the peak is above the floor. d||x||^2/dx = 2x.
  const float p = floored(peak, g.floor);
  const float grad_p = -__fdiv_rn(total, g.power == 2 ? __fmul_rn(p, p) : p);
  const float coef = peak > g.floor ? __fdiv_rn(__fmul_rn(2.f, grad_p), ties) : 0.f;
  if (coef == 0.f) return;
  for (int i = threadIdx.x; i < g.n; i += kThreads) {
    if (sq[i] != peak) continue;
    T* dx = static_cast<T*>(g.dx) + b * g.d_sb + h * g.d_sh + i * g.d_sn;
    const T* x = static_cast<const T*>(g.x) + b * g.x_sb + h * g.x_sh + i * g.x_sn;
    // Product and sum rounded apart (no fused multiply-add), as PyTorch's float32 ops compute it.
    for (int e = 0; e < g.dim; ++e) {
      dx[e] = from_f<T>(__fadd_rn(to_f(dx[e]), __fmul_rn(coef, to_f(x[e]))));
    }
  }
}

}  // namespace

cudaError_t launch_seq_max_a1(const SeqMaxA1& s, cudaStream_t stream) {
  if (s.batch == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(s.heads_q > s.heads_k ? s.heads_q : s.heads_k),
                  static_cast<unsigned>(s.batch));
  seq_max_a1_kernel<<<grid, kThreads, 0, stream>>>(s);
  return cudaGetLastError();
}

cudaError_t launch_add_peak_gradient(int dtype, const PeakGradient& g, cudaStream_t stream) {
  if (g.batch == 0 || g.heads == 0) return cudaSuccess;
  return visit_row_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const dim3 grid(static_cast<unsigned>(g.heads), static_cast<unsigned>(g.batch));
    add_peak_gradient_kernel<T><<<grid, kThreads, 0, stream>>>(g);
    return cudaGetLastError();
  });
}

}  // namespace fastmax
