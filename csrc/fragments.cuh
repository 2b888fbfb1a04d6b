// Matrix-unit fragments for sm_80+ (mma.sync), one traits struct per shared-memory element type.
//
// A k16 step multiplies a 16x16 A fragment by a 16x8 B fragment into a 16x8 float accumulator
// (thread lane holds rows g = lane/4 and g + 8, columns 2t and 2t + 1 with t = lane % 4).
// bfloat16 uses m16n8k16 directly; float32 runs two m16n8k8 TF32 products per step, each as
// three products of high and low TF32 parts (float32 accuracy).
#pragma once

#include <cstdint>

#include <cuda_bf16.h>

namespace fastmax {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldsm_x4(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldsm_x4_t(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldsm_x2_t(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_addr(p)));
}

__device__ __forceinline__ void mma_bf16(float* d, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_tf32(float* d, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
// x truncated to TF32: what the unit reads of a raw float32 operand (its low 13 bits ignored).
__device__ __forceinline__ uint32_t tf32_trunc(float x) {
  return __float_as_uint(x) & 0xffffe000u;
}
// x rounded to TF32 half away from zero, as cvt.rna, without cvt.rna's test for infinities and
// NaNs (its SASS adds the same 0x1000, then tests and selects: four instructions against two).
__device__ __forceinline__ uint32_t tf32_round(float x) {
  return tf32_trunc(__uint_as_float(__float_as_uint(x) + 0x1000u));
}

template <typename T>
struct Frag;

// bfloat16 tiles: rows padded so that ldmatrix's eight 16-byte rows fall in distinct banks.
template <>
struct Frag<__nv_bfloat16> {
  using T = __nv_bfloat16;
  struct A {
    uint32_t x[4];
  };
  struct B {
    uint32_t x[2];
  };

  // Row stride (elements) for a tile of `cols` columns: 16-byte rows, an odd number of them.
  static constexpr int ld(int cols) { return (cols / 8) % 2 == 1 ? cols : cols + 8; }
  static constexpr int ld_state(int cols) { return ld(cols); }

  // A[m][k] from a row-major tile[m][k].
  __device__ static void load_a(A& f, const T* tile, int ld, int m0, int k0, int lane) {
    load_a_at(f, [&](int r, int c) { return tile + r * ld + c; }, m0, k0, lane);
  }
  // The same from a tile of any layout (at: see load_a_t_at).
  template <typename At>
  __device__ static void load_a_at(A& f, At&& at, int m0, int k0, int lane) {
    ldsm_x4(f.x, at(m0 + (lane & 15), k0 + (lane >> 4) * 8));
  }
  // A[m][k] = tile[k][m].
  __device__ static void load_a_t(A& f, const T* tile, int ld, int m0, int k0, int lane) {
    load_a_t_at(f, [&](int r, int c) { return tile + r * ld + c; }, m0, k0, lane);
  }
  // The same from a tile of any layout: at(r, c) is the address of element (r, c), and of the
  // 16 bytes from it.
  template <typename At>
  __device__ static void load_a_t_at(A& f, At&& at, int m0, int k0, int lane) {
    const int mi = lane >> 3, r = lane & 7;
    ldsm_x4_t(f.x, at(k0 + r + (mi >> 1) * 8, m0 + (mi & 1) * 8));
  }
  // Two n-tiles (n0, n0 + 8) of B[k][n] = tile[n][k].
  __device__ static void load_b2(B& f0, B& f1, const T* tile, int ld, int n0, int k0, int lane) {
    const int mi = lane >> 3, r = lane & 7;
    uint32_t x[4];
    ldsm_x4(x, tile + (n0 + r + (mi >> 1) * 8) * ld + k0 + (mi & 1) * 8);
    f0.x[0] = x[0], f0.x[1] = x[1], f1.x[0] = x[2], f1.x[1] = x[3];
  }
  // Two n-tiles of B[k][n] = tile[k][n].
  __device__ static void load_bt2(B& f0, B& f1, const T* tile, int ld, int n0, int k0, int lane) {
    const int mi = lane >> 3, r = lane & 7;
    uint32_t x[4];
    ldsm_x4_t(x, tile + (k0 + r + (mi & 1) * 8) * ld + n0 + (mi >> 1) * 8);
    f0.x[0] = x[0], f0.x[1] = x[1], f1.x[0] = x[2], f1.x[1] = x[3];
  }
  // One n-tile of B[k][n] = tile[k][n].
  __device__ static void load_bt1(B& f, const T* tile, int ld, int n0, int k0, int lane) {
    ldsm_x2_t(f.x, tile + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + n0);
  }
  // After a_from_acc the k order is the natural one: the permuted loads are the plain ones.
  __device__ static void load_bt2_perm(B& f0, B& f1, const T* tile, int ld, int n0, int k0,
                                       int lane) {
    load_bt2(f0, f1, tile, ld, n0, k0, lane);
  }
  __device__ static void load_bt1_perm(B& f, const T* tile, int ld, int n0, int k0, int lane) {
    load_bt1(f, tile, ld, n0, k0, lane);
  }
  // A fragment (16 x 16) from two float accumulators covering columns k0..k0+7 and k0+8..k0+15.
  __device__ static void a_from_acc(A& f, const float* c0, const float* c1) {
    f.x[0] = pack(c0[0], c0[1]);
    f.x[1] = pack(c0[2], c0[3]);
    f.x[2] = pack(c1[0], c1[1]);
    f.x[3] = pack(c1[2], c1[3]);
  }
  __device__ static void mma(float* d, const A& a, const B& b) { mma_bf16(d, a.x, b.x); }

  __device__ static uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  __device__ static void store2(T* p, float x, float y) {
    *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(x, y);
  }
  __device__ static float2 load2(const T* p) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
  }
  // Two elements as loaded, unpacked later (loads issued ahead of their use).
  using Pair = __nv_bfloat162;
  __device__ static Pair load_pair(const T* p) { return *reinterpret_cast<const Pair*>(p); }
  __device__ static float2 unpack(Pair v) { return __bfloat1622float2(v); }
  __device__ static void set(T* p, float x) { *p = __float2bfloat16_rn(x); }
};

// float32 tiles: a row stride of 4 (mod 8) words keeps the row-major and permuted fragment loads
// conflict-free; the state, read only column-wise, uses 8 (mod 16).
template <>
struct Frag<float> {
  using T = float;
  // Fragments hold each value's high and low TF32 parts, split once where the fragment is made:
  // an A fragment serves a whole row of n-tiles, so splitting in mma() repeated its 24
  // conversions and subtractions for every product.
  struct A {
    uint32_t hi[8], lo[8];  // two k8 halves of {(g, t), (g + 8, t), (g, t + 4), (g + 8, t + 4)}
  };
  struct B {
    uint32_t hi[4], lo[4];  // two k8 halves of {(k = t, n = g), (k = t + 4, n = g)}
  };
  // The high part is x rounded to TF32; the low part goes raw, and the unit multiplies it
  // truncated to TF32 (relative error below 2^-21 of x, against rounding's 2^-22).
  __device__ static void put(uint32_t* hi, uint32_t* lo, int i, float x) {
    hi[i] = tf32_round(x);
    lo[i] = __float_as_uint(x - __uint_as_float(hi[i]));
  }

  static constexpr int ld(int cols) { return cols + 4; }
  static constexpr int ld_state(int cols) { return cols + ((8 - cols) % 16 + 16) % 16; }

  // ldmatrix reads an 8 x 8 matrix of 16-bit values as 8 rows of 4 floats, thread (g, t)
  // receiving row g, float t: four of them make one k8 half of an A fragment or two n-tiles'
  // halves of B. Row strides of 4 (mod 8) words keep the eight rows' 16 bytes in distinct
  // banks. (The transposed loads stay scalar: ldmatrix transposes 16-bit values.)
  __device__ static void load_a(A& f, const T* tile, int ld, int m0, int k0, int lane) {
    const int j = lane >> 3, r = lane & 7;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t x[4];
      ldsm_x4(x, tile + (m0 + r + (j & 1) * 8) * ld + k0 + 8 * h + (j >> 1) * 4);
#pragma unroll
      for (int i = 0; i < 4; ++i) put(f.hi, f.lo, 4 * h + i, __uint_as_float(x[i]));
    }
  }
  __device__ static void load_a_t(A& f, const T* tile, int ld, int m0, int k0, int lane) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const T* p = tile + (k0 + 8 * h + t) * ld + m0 + g;
      put(f.hi, f.lo, 4 * h + 0, p[0]);
      put(f.hi, f.lo, 4 * h + 1, p[8]);
      put(f.hi, f.lo, 4 * h + 2, p[4 * ld]);
      put(f.hi, f.lo, 4 * h + 3, p[4 * ld + 8]);
    }
  }
  __device__ static void load_b2(B& f0, B& f1, const T* tile, int ld, int n0, int k0, int lane) {
    const int j = lane >> 3, r = lane & 7;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t x[4];
      ldsm_x4(x, tile + (n0 + r + (j >> 1) * 8) * ld + k0 + 8 * h + (j & 1) * 4);
      put(f0.hi, f0.lo, 2 * h + 0, __uint_as_float(x[0]));
      put(f0.hi, f0.lo, 2 * h + 1, __uint_as_float(x[1]));
      put(f1.hi, f1.lo, 2 * h + 0, __uint_as_float(x[2]));
      put(f1.hi, f1.lo, 2 * h + 1, __uint_as_float(x[3]));
    }
  }
  __device__ static void load_bt1(B& f, const T* tile, int ld, int n0, int k0, int lane) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const T* p = tile + (k0 + 8 * h + t) * ld + n0 + g;
      put(f.hi, f.lo, 2 * h + 0, p[0]);
      put(f.hi, f.lo, 2 * h + 1, p[4 * ld]);
    }
  }
  __device__ static void load_bt2(B& f0, B& f1, const T* tile, int ld, int n0, int k0, int lane) {
    load_bt1(f0, tile, ld, n0, k0, lane);
    load_bt1(f1, tile, ld, n0 + 8, k0, lane);
  }
  // Rows of B in the order a_from_acc gives the k index: position t holds column 2t, t + 4 holds
  // column 2t + 1 (a permutation of k within each k8 half; the product is unchanged).
  __device__ static void load_bt1_perm(B& f, const T* tile, int ld, int n0, int k0, int lane) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const T* p = tile + (k0 + 8 * h + 2 * t) * ld + n0 + g;
      put(f.hi, f.lo, 2 * h + 0, p[0]);
      put(f.hi, f.lo, 2 * h + 1, p[ld]);
    }
  }
  __device__ static void load_bt2_perm(B& f0, B& f1, const T* tile, int ld, int n0, int k0,
                                       int lane) {
    load_bt1_perm(f0, tile, ld, n0, k0, lane);
    load_bt1_perm(f1, tile, ld, n0 + 8, k0, lane);
  }
  __device__ static void a_from_acc(A& f, const float* c0, const float* c1) {
    const float x[8] = {c0[0], c0[2], c0[1], c0[3], c1[0], c1[2], c1[1], c1[3]};
#pragma unroll
    for (int i = 0; i < 8; ++i) put(f.hi, f.lo, i, x[i]);
  }
  __device__ static void mma(float* d, const A& a, const B& b) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mma_tf32(d, a.lo + 4 * h, b.hi + 2 * h);
      mma_tf32(d, a.hi + 4 * h, b.lo + 2 * h);
      mma_tf32(d, a.hi + 4 * h, b.hi + 2 * h);
    }
  }

  __device__ static void store2(T* p, float x, float y) { *reinterpret_cast<float2*>(p) = make_float2(x, y); }
  __device__ static float2 load2(const T* p) { return *reinterpret_cast<const float2*>(p); }
  using Pair = float2;
  __device__ static Pair load_pair(const T* p) { return load2(p); }
  __device__ static float2 unpack(Pair v) { return v; }
  __device__ static void set(T* p, float x) { *p = x; }
};

}  // namespace fastmax
