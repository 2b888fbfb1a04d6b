// Hopper's warpgroup matrix products (wgmma, sm_90a) for the bfloat16 chunk kernels and the
// float32 forward on TF32 products (pass_tf32_fwd.cu).
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
#define FASTMAX_WGMMA_ASM(...) asm volatile(__VA_ARGS__)
#else
#define FASTMAX_WGMMA 0
#define FASTMAX_WGMMA_ASM(...)
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
// The descriptor of a tile's base moved by `bytes` (a multiple of 16) into the tile: the start
// address is the low field, in 16-byte units, and shared memory ends below 256 KB, so the sum
// stays within it. The slices of one tile then share one descriptor computation, and each
// costs one add of a constant (the unrolled loops' k0 and m0 are constants).
__device__ __forceinline__ uint64_t desc_advance(uint64_t base, uint32_t bytes) {
  return (base & ~uint64_t(0xFFFFFFFF)) | uint32_t(uint32_t(base) + (bytes >> 4));
}
// Bytes from a tile's start to an element of it.
template <typename T>
__device__ __forceinline__ uint32_t byte_offset(const T* tile, const T* at) {
  return uint32_t(at - tile) * uint32_t(sizeof(T));
}
// Swizzled tile, K-major: its 64 rows are M or N, columns k0 .. k0 + 15 K (8-row groups 1024
// bytes apart; the hardware applies the swizzle to the addresses, so k0 moves the start).
template <typename T>
__device__ __forceinline__ uint64_t desc_k_major_sw(const T* tile, int k0) {
  return desc_advance(wgmma_desc(tile, 16, 1024, 1),
                      byte_offset(tile, swizzled_at(const_cast<T*>(tile), 0, k0)));
}
// Swizzled tile, MN-major: rows k0 .. k0 + 15 are K, columns m0 .. m0 + 63 (m0 a multiple of
// 64) M or N.
template <typename T>
__device__ __forceinline__ uint64_t desc_mn_major_sw(const T* tile, int k0, int m0) {
  return desc_advance(wgmma_desc(tile, 128 * kChunk, 1024, 1),
                      byte_offset(tile, swizzled_at(const_cast<T*>(tile), k0, m0)));
}
// Core-matrix tile of `cols` columns, MN-major: rows k0 .. k0 + 15 are K, columns from col0 M
// or N.
template <typename T>
__device__ __forceinline__ uint64_t desc_mn_major(const T* tile, int cols, int k0, int col0) {
  return desc_advance(wgmma_desc(tile, 16 * cols, 128),
                      byte_offset(tile, core_at(const_cast<T*>(tile), cols, k0, col0)));
}

template <int = 0>
__device__ __forceinline__ void wgmma_fence() {
  FASTMAX_WGMMA_ASM("wgmma.fence.sync.aligned;\n" ::: "memory");
}
template <int = 0>
__device__ __forceinline__ void wgmma_commit() {
  FASTMAX_WGMMA_ASM("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most N groups of products are pending.
template <int N = 0>
__device__ __forceinline__ void wgmma_wait() {
  FASTMAX_WGMMA_ASM("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Makes this thread's ordinary shared-memory writes (st.shared, cp.async) visible to the
// products' operand reads (the async proxy); a barrier follows.
template <int = 0>
__device__ __forceinline__ void fence_proxy_async() {
  FASTMAX_WGMMA_ASM("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Orders the compiler's accesses to an accumulator of NT n-tiles after the products that write
// it asynchronously.
template <int NT>
__device__ __forceinline__ void wgmma_fence_operand(float (&d)[NT][4]) {
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
}

// The products for an accumulator of NT n-tiles (N = 8 NT columns), d[j] holding n-tile j;
// inline PTX numbers the accumulator's registers %0 .. %(4 NT - 1) and the other operands after
// them (SS_*, RS_*: those numbers in the instructions of wgmma_ss and wgmma_rs).
#define FASTMAX_WGMMA_D(j) "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
#define FASTMAX_WGMMA_D8                                                                    \
  FASTMAX_WGMMA_D(0), FASTMAX_WGMMA_D(1), FASTMAX_WGMMA_D(2), FASTMAX_WGMMA_D(3),         \
      FASTMAX_WGMMA_D(4), FASTMAX_WGMMA_D(5), FASTMAX_WGMMA_D(6), FASTMAX_WGMMA_D(7)
#define FASTMAX_WGMMA_D9 FASTMAX_WGMMA_D8, FASTMAX_WGMMA_D(8)
#define FASTMAX_WGMMA_D5                                                                    \
  FASTMAX_WGMMA_D(0), FASTMAX_WGMMA_D(1), FASTMAX_WGMMA_D(2), FASTMAX_WGMMA_D(3),         \
      FASTMAX_WGMMA_D(4)
#define FASTMAX_WGMMA_R20                                                                 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19"
#define FASTMAX_WGMMA_R32                                                                 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define FASTMAX_WGMMA_R36 FASTMAX_WGMMA_R32 ", %32, %33, %34, %35"
#define FASTMAX_WGMMA_PRODUCTS(NT, N, REGS, D, SS_SCALE, SS_REST, RS_SCALE, RS_REST)            \
  /* d = A B + (accumulate ? d : 0), A and B in shared memory (TA, TB: transposed). */            \
  template <int TA, int TB>                                                                       \
  __device__ __forceinline__ void wgmma_ss(float (&d)[NT][4], uint64_t a, uint64_t b,             \
                                           int accumulate = 1) {                                  \
    FASTMAX_WGMMA_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, " SS_SCALE ", 0;\n"                       \
                      "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32.bf16.bf16 {" REGS "}, "     \
                      SS_REST ";\n}\n"                                                            \
                      : D                                                                         \
                      : "l"(a), "l"(b), "r"(accumulate), "n"(TA), "n"(TB));                      \
  }                                                                                               \
  /* d += A B, A in registers (each warp's m16n8k16 A fragment of its 16 rows). */                \
  template <int TB>                                                                               \
  __device__ __forceinline__ void wgmma_rs(float (&d)[NT][4], const uint32_t (&a)[4],             \
                                           uint64_t b) {                                          \
    FASTMAX_WGMMA_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, " RS_SCALE ", 0;\n"                       \
                      "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32.bf16.bf16 {" REGS "}, "     \
                      RS_REST ";\n}\n"                                                            \
                      : D                                                                         \
                      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1), "n"(TB));    \
  }

FASTMAX_WGMMA_PRODUCTS(8, 64, FASTMAX_WGMMA_R32, FASTMAX_WGMMA_D8,  //
                       "%34", "%32, %33, p, 1, 1, %35, %36",      //
                       "%37", "{%32, %33, %34, %35}, %36, p, 1, 1, %38")
FASTMAX_WGMMA_PRODUCTS(9, 72, FASTMAX_WGMMA_R36, FASTMAX_WGMMA_D9,  //
                       "%38", "%36, %37, p, 1, 1, %39, %40",      //
                       "%41", "{%36, %37, %38, %39}, %40, p, 1, 1, %42")
FASTMAX_WGMMA_PRODUCTS(1, 8, "%0, %1, %2, %3", FASTMAX_WGMMA_D(0),  //
                       "%6", "%4, %5, p, 1, 1, %7, %8",          //
                       "%9", "{%4, %5, %6, %7}, %8, p, 1, 1, %10")

// TF32 products m64nNk8 of float32 operands (the unit reads a raw float32 as TF32, ignoring its
// low mantissa bits). wgmma reads 32-bit operands K-major only: A in shared memory (ss) or in
// registers (rs: each warp's m16n8k8 TF32 A fragment of its 16 rows: a[0..3] at (g, t),
// (g + 8, t), (g, t + 4), (g + 8, t + 4) for lane 4 g + t); both d = A B + (accumulate ? d : 0).
#define FASTMAX_WGMMA_TF32_PRODUCTS(NT, N, REGS, D, SS_SCALE, SS_REST, RS_SCALE, RS_REST)       \
  __device__ __forceinline__ void wgmma_ss_tf32(float (&d)[NT][4], uint64_t a, uint64_t b,        \
                                                int accumulate) {                                 \
    FASTMAX_WGMMA_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, " SS_SCALE ", 0;\n"                       \
                      "wgmma.mma_async.sync.aligned.m64n" #N "k8.f32.tf32.tf32 {" REGS "}, "      \
                      SS_REST ";\n}\n"                                                            \
                      : D                                                                         \
                      : "l"(a), "l"(b), "r"(accumulate));                                         \
  }                                                                                               \
  __device__ __forceinline__ void wgmma_rs_tf32(float (&d)[NT][4], const uint32_t (&a)[4],        \
                                                uint64_t b, int accumulate) {                     \
    FASTMAX_WGMMA_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, " RS_SCALE ", 0;\n"                       \
                      "wgmma.mma_async.sync.aligned.m64n" #N "k8.f32.tf32.tf32 {" REGS "}, "      \
                      RS_REST ";\n}\n"                                                            \
                      : D                                                                         \
                      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate));     \
  }

FASTMAX_WGMMA_TF32_PRODUCTS(8, 64, FASTMAX_WGMMA_R32, FASTMAX_WGMMA_D8,  //
                            "%34", "%32, %33, p, 1, 1",                //
                            "%37", "{%32, %33, %34, %35}, %36, p, 1, 1")
FASTMAX_WGMMA_TF32_PRODUCTS(9, 72, FASTMAX_WGMMA_R36, FASTMAX_WGMMA_D9,  //
                            "%38", "%36, %37, p, 1, 1",                //
                            "%41", "{%36, %37, %38, %39}, %40, p, 1, 1")
FASTMAX_WGMMA_TF32_PRODUCTS(5, 40, FASTMAX_WGMMA_R20, FASTMAX_WGMMA_D5,  //
                            "%22", "%20, %21, p, 1, 1",                //
                            "%25", "{%20, %21, %22, %23}, %24, p, 1, 1")

}  // namespace fastmax
