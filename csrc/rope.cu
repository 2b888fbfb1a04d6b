// Rotary position embedding of (batch, head, token) rows, and its transpose for the gradient.
//
// The first `rope` elements of a row are rotated as LitGPT's apply_rope does (rotate-half:
// element d pairs with d + rope / 2), the rest copied:
//
//   forward:  y_d = x_d c_d - x_{d+h} s_d   (d < h)      y_d = x_d c_d + x_{d-h} s_d   (h <= d)
//   inverse:  y_d = x_d c_d + x_{d+h} s_{d+h}            y_d = x_d c_d - x_{d-h} s_{d-h}
//
// with h = rope / 2 and c, s the float32 cosines and sines of the row's token. The inverse is the
// transpose of the forward map, so it turns the gradient of y into the gradient of x. One thread
// takes one 16-byte vector of a row and, inside the rotated part, its partner vector h elements
// away (the caller guarantees that h is a multiple of the vector's elements). Arithmetic is in
// float32 with one rounding to T.

#include "fastmax.h"
#include "rows.cuh"

namespace fastmax {
namespace {

constexpr int kRopeThreads = 256;

// The grid is (vectors of a head's rows / kRopeThreads, heads, batch): 32-bit index arithmetic
// only (64-bit division is a long instruction sequence, and this kernel moves bytes).
template <typename T, bool INVERSE>
__global__ void __launch_bounds__(kRopeThreads) rope_kernel(const Rope r) {
  constexpr int V = kVec<T>;
  const int per_row = r.dim / V;
  const int t = blockIdx.x * kRopeThreads + threadIdx.x;
  const int i = t / per_row;
  if (i >= r.n) return;
  const int d0 = (t - i * per_row) * V;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const T* x = static_cast<const T*>(r.x) + b * r.x_sb + h * r.x_sh + i * r.x_sn;
  T* y = static_cast<T*>(r.y) + b * r.y_sb + h * r.y_sh + i * r.y_sn;
  const uint4 own = __ldg(reinterpret_cast<const uint4*>(x + d0));
  if (d0 >= r.rope) {
    *reinterpret_cast<uint4*>(y + d0) = own;
    return;
  }
  const int half = r.rope / 2;
  const bool first = d0 < half;
  const int p0 = first ? d0 + half : d0 - half;  // the partner vector's first element
  const uint4 other = __ldg(reinterpret_cast<const uint4*>(x + p0));
  float f[V], g[V], c[V], s[V];
  unpack<T>(own, f);
  unpack<T>(other, g);
  const float* cos_row = r.cos + int64_t(i) * r.rope;
  const float* sin_row = r.sin + int64_t(i) * r.rope;
  // Inverse: the partner's sine; forward: this element's.
  const int s0 = INVERSE ? p0 : d0;
#pragma unroll
  for (int e = 0; e < V; e += 4) {
    const float4 cv = __ldg(reinterpret_cast<const float4*>(cos_row + d0 + e));
    const float4 sv = __ldg(reinterpret_cast<const float4*>(sin_row + s0 + e));
    c[e] = cv.x, c[e + 1] = cv.y, c[e + 2] = cv.z, c[e + 3] = cv.w;
    s[e] = sv.x, s[e + 1] = sv.y, s[e + 2] = sv.z, s[e + 3] = sv.w;
  }
  // The partner's sign: -1 for the first half going forward and the second half going back.
  const float sign = first != INVERSE ? -1.f : 1.f;
#pragma unroll
  for (int e = 0; e < V; ++e) f[e] = f[e] * c[e] + sign * g[e] * s[e];
  *reinterpret_cast<uint4*>(y + d0) = pack<T>(f);
}

template <typename T>
cudaError_t launch(const Rope& r, bool inverse, cudaStream_t stream) {
  const int64_t threads = int64_t(r.n) * (r.dim / kVec<T>);  // per (batch, head)
  if (threads == 0 || r.heads == 0 || r.batch == 0) return cudaSuccess;
  if (threads > 0x7fffffff - kRopeThreads || r.heads > 65535 || r.batch > 65535)
    return cudaErrorInvalidConfiguration;
  const dim3 grid(static_cast<unsigned>((threads + kRopeThreads - 1) / kRopeThreads), r.heads,
                  r.batch);
  if (inverse) {
    rope_kernel<T, true><<<grid, kRopeThreads, 0, stream>>>(r);
  } else {
    rope_kernel<T, false><<<grid, kRopeThreads, 0, stream>>>(r);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_rope(int dtype, const Rope& r, bool inverse, cudaStream_t stream) {
  return visit_row_dtype(dtype, [&](auto tag) { return launch<decltype(tag)>(r, inverse, stream); });
}

}  // namespace fastmax
