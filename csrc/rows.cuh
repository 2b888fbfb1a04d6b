// Row kernels over (batch, head, token) rows of head_dim elements: element conversions and the
// 16-byte vector layout the normalisation and row-dot kernels share.
//
// A row of head_dim elements is head_dim / kVec<T> vectors of 16 bytes. LPR lanes share a row
// (NV vectors each); a warp takes 32 / LPR rows per step and kVecSteps steps, all loaded before
// the first sum. The grid is (token blocks, heads, batch), so no thread divides an index.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

namespace fastmax {

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

// Whether a row's norm was clamped to eps (rnorm == 1 / eps up to rounding): y = x rnorm is
// then linear in x, and the normalisation's backward has no projection term.
__device__ __forceinline__ bool norm_clamped(float rnorm, float eps) {
  return rnorm * eps >= 0.9999f;
}

// Elements of T in one 16-byte vector.
template <typename T>
constexpr int kVec = 16 / int(sizeof(T));
constexpr int kVecWarps = 8;  // warps per block of the vector kernels
constexpr int kVecThreads = 32 * kVecWarps;
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

// This thread's place: a group of LPR lanes per row; row i of step s is i0 + s * (32 / LPR).
template <int LPR>
struct VecPlace {
  int part;   // lane in the row group: vectors part, part + LPR, ...
  int64_t i0;  // this thread's token at step 0
  int64_t bh;  // batch * heads + head
  __device__ VecPlace() {
    const int lane = threadIdx.x & 31;
    part = lane % LPR;
    i0 = (int64_t(blockIdx.x) * kVecWarps + threadIdx.x / 32) * (32 / LPR) * kVecSteps + lane / LPR;
    bh = int64_t(blockIdx.z) * gridDim.y + blockIdx.y;
  }
};

// This thread's vectors of its rows at every step, from a strided tensor (strides in
// elements, multiples of kVec); zeros past the last token. All loads are issued here, before
// any use.
template <typename T, int LPR, int NV>
__device__ __forceinline__ void load_rows(const VecPlace<LPR>& at, const void* base, int64_t sb,
                                          int64_t sh, int64_t sn, int64_t n,
                                          uint4 (&raw)[kVecSteps][NV]) {
  const T* head = static_cast<const T*>(base) + int64_t(blockIdx.z) * sb + blockIdx.y * sh;
#pragma unroll
  for (int s = 0; s < kVecSteps; ++s) {
    const int64_t i = at.i0 + s * (32 / LPR);
    const uint4* row = reinterpret_cast<const uint4*>(head + i * sn);
#pragma unroll
    for (int v = 0; v < NV; ++v)
      raw[s][v] = i < n ? __ldg(row + at.part + LPR * v) : make_uint4(0, 0, 0, 0);
  }
}

// fn(T{}) for the row kernels' dtype code (0 = bfloat16, 1 = float32, 2 = float16);
// cudaErrorInvalidValue for any other code.
template <typename Fn>
cudaError_t visit_row_dtype(int dtype, Fn&& fn) {
  switch (dtype) {
    case 0:
      return fn(__nv_bfloat16{});
    case 1:
      return fn(float{});
    case 2:
      return fn(__half{});
  }
  return cudaErrorInvalidValue;
}

// Whether a tensor's rows (base, strides in elements) start on 16-byte boundaries.
template <typename T>
bool vector_aligned(const void* base, int64_t sb, int64_t sh, int64_t sn) {
  return reinterpret_cast<std::uintptr_t>(base) % 16 == 0 && sb % kVec<T> == 0 &&
         sh % kVec<T> == 0 && sn % kVec<T> == 0;
}

// The grid of a vector kernel with LPR lanes per row, or dim3(0) where heads or batch exceed it.
template <int LPR>
dim3 vector_grid(int n, int heads, int batch) {
  constexpr int kRowsPerBlock = kVecWarps * (32 / LPR) * kVecSteps;
  if (heads > 65535 || batch > 65535) return dim3(0);
  return dim3((n + kRowsPerBlock - 1) / kRowsPerBlock, heads, batch);
}

// Calls fn(LPR, NV) (integral constants) for a head_dim that is a power-of-two count of 16-byte
// vectors, up to 64; returns false, calling nothing, for any other head_dim.
template <typename T, typename Fn>
bool visit_vector_layout(int dim, Fn&& fn) {
  using std::integral_constant;
  if (dim % kVec<T> != 0) return false;
  switch (dim / kVec<T>) {
    case 1:
      fn(integral_constant<int, 1>{}, integral_constant<int, 1>{});
      return true;
    case 2:
      fn(integral_constant<int, 2>{}, integral_constant<int, 1>{});
      return true;
    case 4:
      fn(integral_constant<int, 4>{}, integral_constant<int, 1>{});
      return true;
    case 8:
      fn(integral_constant<int, 8>{}, integral_constant<int, 1>{});
      return true;
    case 16:
      fn(integral_constant<int, 16>{}, integral_constant<int, 1>{});
      return true;
    case 32:
      fn(integral_constant<int, 32>{}, integral_constant<int, 1>{});
      return true;
    case 64:
      fn(integral_constant<int, 32>{}, integral_constant<int, 2>{});
      return true;
  }
  return false;
}

}  // namespace fastmax
