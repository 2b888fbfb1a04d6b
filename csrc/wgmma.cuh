// Hopper's warpgroup matrix products (wgmma, sm_90a) for the bfloat16 chunk kernels.
//
// A block of four warps is one warpgroup: one wgmma multiplies a 64-row A by a k16 x N B for
// all four warps, each holding the accumulator rows 16 w .. + 15 in the m16n8 layout of
// mma.sync (fragments.cuh), n-tile j in d[j]. Operands in shared memory are read through
// descriptors, from tiles in one of two layouts; each serves with its rows as M or N (K-major)
// and with its rows as K (transposed, MN-major):
// * swizzled (the chunk's 64-row tiles of a and b, copied from global memory): column blocks of
//   64 (128-byte rows, 8 KB per block at 64 rows), the eight 16-byte pieces of row r permuted by
//   r % 8 (the 128-byte swizzle). Eight threads copy one row's 128 bytes, contiguous in global
//   memory and conflict-free in shared memory.
// * core matrices (c and the state, whose 72 columns are no multiple of 64): 8 x 8 blocks of 8
//   rows of 16 bytes, 128 contiguous bytes each, row-block-major; no swizzle.
//
// FASTMAX_WGMMA is 1 only in the device pass for sm_90a (FASTMAX_CUDA_ARCHS with "9.0a"); the
// other passes compile the mma.sync kernels, and these wrappers to nothing.
#pragma once

#include <cstdint>

#include "fastmax.h"
#include "fragments.cuh"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FASTMAX_WGMMA 1
#else
#define FASTMAX_WGMMA 0
#endif

namespace fastmax {

// Element (r, c) of a swizzled 64-row tile (16-bit elements).
template <typename T>
__device__ __forceinline__ T* swizzled_at(T* tile, int r, int c) {
  static_assert(sizeof(T) == 2, "swizzled tiles hold 16-bit elements");
  return tile + (c >> 6) * (kChunk * 64) + r * 64 + ((((c >> 3) & 7) ^ (r & 7)) << 3) + (c & 7);
}

// Element (r, c) of a core-matrix tile of `cols` columns (16-bit elements).
template <typename T>
__device__ __forceinline__ T* core_at(T* tile, int cols, int r, int c) {
  static_assert(sizeof(T) == 2, "core-matrix tiles hold 16-bit elements");
  return tile + ((r >> 3) * (cols >> 3) + (c >> 3)) * 64 + (r & 7) * 8 + (c & 7);
}

// Descriptor of the k16 slice that starts at p (lbo, sbo: the byte strides of the layout's
// leading and stride dimensions; swizzle: 0 none, 1 128 bytes).
__device__ __forceinline__ uint64_t wgmma_desc(const void* p, uint32_t lbo, uint32_t sbo,
                                               uint32_t swizzle = 0) {
  return uint64_t((smem_addr(p) & 0x3FFFF) >> 4) | (uint64_t(lbo >> 4) << 16) |
         (uint64_t(sbo >> 4) << 32) | (uint64_t(swizzle) << 62);
}
// Swizzled tile, K-major: its 64 rows are M or N, columns k0 .. k0 + 15 K (8-row groups 1024
// bytes apart; the hardware applies the swizzle to the addresses, so k0 moves the start).
template <typename T>
__device__ __forceinline__ uint64_t desc_k_major_sw(const T* tile, int k0) {
  return wgmma_desc(swizzled_at(const_cast<T*>(tile), 0, k0), 16, 1024, 1);
}
// Swizzled tile, MN-major: rows k0 .. k0 + 15 are K, columns m0 .. m0 + 63 (m0 a multiple of
// 64) M or N.
template <typename T>
__device__ __forceinline__ uint64_t desc_mn_major_sw(const T* tile, int k0, int m0) {
  return wgmma_desc(swizzled_at(const_cast<T*>(tile), k0, m0), 128 * kChunk, 1024, 1);
}
// Core-matrix tile of `cols` columns, MN-major: rows k0 .. k0 + 15 are K, columns from col0 M
// or N.
template <typename T>
__device__ __forceinline__ uint64_t desc_mn_major(const T* tile, int cols, int k0, int col0) {
  return wgmma_desc(core_at(const_cast<T*>(tile), cols, k0, col0), 16 * cols, 128);
}

template <int = 0>
__device__ __forceinline__ void wgmma_fence() {
#if FASTMAX_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
template <int = 0>
__device__ __forceinline__ void wgmma_commit() {
#if FASTMAX_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N = 0>
__device__ __forceinline__ void wgmma_wait() {
#if FASTMAX_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Makes this thread's ordinary shared-memory writes (st.shared, cp.async) visible to the
// products' operand reads (the async proxy); a barrier follows.
template <int = 0>
__device__ __forceinline__ void fence_proxy_async() {
#if FASTMAX_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// d[64 x 64] = A B + (accumulate ? d : 0) with A and B in shared memory (descriptors a, b;
// TA, TB: transposed).
template <int TA, int TB>
__device__ __forceinline__ void wgmma_ss(float (&d)[8][4], uint64_t a, uint64_t b,
                                         int accumulate = 1) {
#if FASTMAX_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11,"
      "%12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23,"
      "%24, %25, %26, %27, %28, %29, %30, %31}, "
      "%32, %33, p, 1, 1, %35, %36;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "l"(a), "l"(b), "r"(accumulate), "n"(TA), "n"(TB));
#endif
}

// d[64 x 64] += A B with A in registers (each warp's m16n8k16 A fragment of its 16 rows).
template <int TB>
__device__ __forceinline__ void wgmma_rs(float (&d)[8][4], const uint32_t (&a)[4], uint64_t b) {
#if FASTMAX_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11,"
      "%12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23,"
      "%24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1), "n"(TB));
#endif
}

// Orders the compiler's accesses to d after the products that write it asynchronously.
__device__ __forceinline__ void wgmma_fence_operand(float (&d)[8][4]) {
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
}

// d[64 x 72] = A B + (accumulate ? d : 0) with A and B in shared memory (descriptors a, b;
// TA, TB: transposed).
template <int TA, int TB>
__device__ __forceinline__ void wgmma_ss(float (&d)[9][4], uint64_t a, uint64_t b,
                                         int accumulate = 1) {
#if FASTMAX_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %38, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n72k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11,"
      "%12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23,"
      "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35}, "
      "%36, %37, p, 1, 1, %39, %40;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]),
        "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3])
      : "l"(a), "l"(b), "r"(accumulate), "n"(TA), "n"(TB));
#endif
}

// d[64 x 72] += A B with A in registers (each warp's m16n8k16 A fragment of its 16 rows).
template <int TB>
__device__ __forceinline__ void wgmma_rs(float (&d)[9][4], const uint32_t (&a)[4], uint64_t b) {
#if FASTMAX_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %41, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n72k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11,"
      "%12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23,"
      "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35}, "
      "{%36, %37, %38, %39}, %40, p, 1, 1, %42;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]),
        "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1), "n"(TB));
#endif
}

// Orders the compiler's accesses to d after the products that write it asynchronously.
__device__ __forceinline__ void wgmma_fence_operand(float (&d)[9][4]) {
#pragma unroll
  for (int j = 0; j < 9; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
}


}  // namespace fastmax
