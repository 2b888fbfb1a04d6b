// The chunked linear-attention kernel behind every Fastmax pass (see fastmax.h for the roles).
//
// One block (4 warps for bfloat16, 8 for float32: Shape::WARPS) owns one (batch, head of a)
// pair and one tile of QT output columns, and walks the sequence in chunks of 64 tokens,
// double-buffering the next chunk's tiles with cp.async. Warp w < 4 computes the chunk's rows
// 16 w .. + 15; with 8 warps, w and 7 - w share those rows and split the output columns: each
// takes half of the data n-tiles (and, in the forward, both take the ones tile of the
// denominator). Per chunk (scan modes):
//   out  = A S_prev + sigma_prev                    (state of earlier chunks)
//   W    = s A B^T + alpha beta^T, masked           (16 rows per row slice, in each of its warps)
//   out += W C                                      (W converted to fragments in registers)
//   S   += B^T C, sigma += beta^T C                 (float32 sums; S in 16-row m-tiles and
//                                                    n-tile ranges per warp; sigma: see
//                                                    Shape::MMA_SIGMA)
// The full (non-causal) mode first accumulates S over the whole sequence, then writes A S.
// With a sequence split (fastmax.h, Phase) blockIdx.y is the segment: the full-mode kernel's
// first pass alone yields the segment states (kStates), and either mode then walks only its
// segment, starting from the combined state of the others (kApply).
// State S is handed to the A S product through shared memory in the tile's element type (s
// folded in); every sum is accumulated in float32. No atomics: each output element is written
// by exactly one thread, so results are bitwise reproducible.
#pragma once

#include <cstdint>
#include <type_traits>

#include "fastmax.h"
#include "fragments.cuh"
#include "ieee_fast.cuh"
#include "rows.cuh"
#include "wgmma.cuh"

namespace fastmax {

constexpr int kRowSlices = 4;  // 16-row slices of a chunk

// Shared memory of the GPUs the kernel shapes are sized for at compile time: Hopper (sm_90)
// gives a block up to 227 KB of an SM's 228 KB and reserves 1 KB per resident block; the
// smallest per-block limit of the other targeted GPUs (sm_86, sm_89) is 99 KB. Launches check
// the running device's limits (stages_for).
constexpr size_t kHopperBlockSmem = 227 * 1024;
constexpr size_t kHopperSmSmem = 228 * 1024;
constexpr size_t kReservedPerBlock = 1024;
constexpr size_t kSmallestBlockSmem = 99 * 1024;

enum Mode : int { kScanFwd = 0, kScanRev = 1, kFull = 2 };

__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// A step's chunk (counted from the block's first) and query head within the group: the steps run
// heads 0 .. group - 1 of each chunk in turn, advanced without dividing by the runtime group size.
struct StepPos {
  int c = 0, g = 0;
  __device__ StepPos next(int group) const {
    return g + 1 == group ? StepPos{c + 1, 0} : StepPos{c, g + 1};
  }
};

// Compile-time shape of one kernel instance.
template <typename T, int P, int KIND>
struct Shape {
  static constexpr int QT = column_tile(P);  // output columns per block
  // A ones column of C: the forward's denominator; in DQN the sum over c of its weights
  // (<dO_i, v_c> - go_i), for the normalisation's backward in the epilogue.
  static constexpr bool ONES = KIND == kFwd || KIND == kDqn;
  static constexpr int QTE = QT + (ONES ? 8 : 0);             // + the ones column's n-tile
  static constexpr int NT = QTE / 8;                          // output n-tiles
  static constexpr int LDP = Frag<T>::ld(P);
  static constexpr int LDC = Frag<T>::ld(QTE);
  static constexpr int LDS = Frag<T>::ld_state(QTE);
  // Warps per block. float32: 8, warps w and 7 - w share a row slice and split its output
  // n-tiles. bfloat16: 4, one per row slice; its backward passes run three at a time and fill
  // the SMs already (csrc/PERF.md v4: 8 warps were 0.92x there, float32 1.4-1.8x).
  static constexpr int WARPS = sizeof(T) == 4 ? 8 : 4;
  static constexpr int THREADS = 32 * WARPS;
  static constexpr int PAIRS = WARPS / kRowSlices;  // warps per row slice
  // Output n-tiles per warp: its share of the QT / 8 data tiles, plus the ones tile (ONES).
  static constexpr int ND = QT / 8;
  static constexpr int NDW = ND / PAIRS;
  static constexpr int NO = NDW + (ONES ? 1 : 0);
  // State S (P x QTE): its P / 16 m-tiles go to the warps, MT each; where there are fewer
  // m-tiles than warps, the warps of one m-tile split its NT n-tiles in ranges of NS.
  static constexpr int M = P / 16;
  static constexpr int MT = M >= WARPS ? M / WARPS : 1;
  static constexpr int PARTS = M >= WARPS ? 1 : WARPS / M;
  static constexpr int NS = (NT + PARTS - 1) / PARTS;
  static constexpr int TILE_A = kChunk * LDP;
  static constexpr int TILE_C = kChunk * LDC;
  static constexpr int STAGE = 2 * TILE_A + TILE_C;  // A, B, C tiles (elements)
  static constexpr int STATE = P * LDS;
  static constexpr int SEG_STATE = (P + 1) * QTE;  // floats of one segment state: S, then sigma
  // sigma = beta^T C. bfloat16: a matrix product per chunk, C^T (the tile read transposed)
  // times a fragment whose columns 0 and 1 hold beta's high and low bfloat16 parts; warp w owns
  // columns 16 w .. + 15 over all the chunk's rows, so sigma needs no sum across warps and no
  // barrier of its own (the ones column's is the count of key rows). float32: each warp
  // sums kChunk / WARPS rows in scalar code into its own partials, reduced after a barrier.
  static constexpr bool MMA_SIGMA = sizeof(T) == 2;
  static_assert(!MMA_SIGMA || QT / 16 <= WARPS, "one sigma m-tile per warp");
  static constexpr int SIGMA_FLOATS = (MMA_SIGMA ? 1 : WARPS + 1) * QTE;
  static constexpr int SCALARS = 2 * kChunk;  // per stage: rows' den, then go or beta (DV)
  static constexpr size_t bytes(int stages) {
    return sizeof(T) * (size_t(stages) * STAGE + STATE) +
           sizeof(float) * (size_t(stages) * SCALARS + SIGMA_FLOATS);
  }
  // Two stages (prefetch the next chunk) where Hopper's per-block limit allows them.
  static constexpr int STAGES = bytes(2) <= kHopperBlockSmem ? 2 : 1;
  // The single-stage variant is also built where two stages exceed the smallest per-block
  // limit of the targeted GPUs, so those GPUs fall back to it at run time.
  static constexpr bool SINGLE_FALLBACK = STAGES == 2 && bytes(2) > kSmallestBlockSmem;
  // The register budget, as __launch_bounds__'s blocks per SM: for bfloat16's two-stage
  // kernels the blocks that shared memory allows on a Hopper SM, at most three, so that
  // registers do not cost a resident block; one for float32 (eight warps, one block by shared
  // memory from head_dim 64) and for the single-stage fallbacks of GPUs with 100 KB per SM.
  static constexpr int min_blocks(int stages) {
    const int by_smem = int(kHopperSmSmem / (bytes(2) + kReservedPerBlock));
    return sizeof(T) == 2 && stages == 2 ? (by_smem < 3 ? (by_smem < 1 ? 1 : by_smem) : 3) : 1;
  }
};

// Tile layouts in shared memory: padded rows (mma.sync), and wgmma.cuh's core matrices and
// swizzled column blocks.
enum TileLayout : int { kPadded = 0, kCores = 1, kSwizzled = 2 };

// How a block of THREADS threads copies a 64-row tile of COLS columns: each thread takes one
// fixed 16-byte column segment (SEG per row) of the rows r0, r0 + ROWS, ... (ITERS of them). Into
// a core-matrix tile (CORES) eight consecutive threads take the eight rows of one core matrix,
// so that each eight write 128 contiguous bytes.
template <typename T, int COLS, int THREADS, bool CORES = false>
struct RowCopy {
  static constexpr int PER = 16 / sizeof(T);  // elements per segment
  static constexpr int SEG = COLS / PER;      // segments per row
  static constexpr int ROWS = THREADS / SEG;  // rows per pass
  static constexpr int ITERS = kChunk / ROWS;
  static_assert(THREADS % SEG == 0 && kChunk % ROWS == 0, "tile shape");
  static_assert(!CORES || THREADS % (8 * SEG) == 0, "core-matrix tile shape");
  __device__ static int first_row(int tid) {
    return CORES ? tid / (8 * SEG) * 8 + (tid & 7) : tid / SEG;
  }
  __device__ static int column(int tid) { return (CORES ? (tid >> 3) % SEG : tid % SEG) * PER; }
};

// Element (r, c) of a tile: padded rows of ld elements, a core-matrix tile of ld columns, or a
// swizzled 64-row tile.
template <int LAYOUT, typename T>
__device__ __forceinline__ T* tile_at(T* tile, int ld, int r, int c) {
  if constexpr (LAYOUT == kCores) {
    return core_at(tile, ld, r, c);
  } else if constexpr (LAYOUT == kSwizzled) {
    return swizzled_at(tile, r, c);
  } else {
    return tile + r * ld + c;
  }
}

// Offset (elements) between rows r and r + rows of a tile, for rows a multiple of 8 in the
// core-matrix and swizzled layouts (whose pattern repeats every 8 rows).
template <int LAYOUT>
__device__ __forceinline__ int row_step(int ld, int rows) {
  if constexpr (LAYOUT == kCores) {
    return rows / 8 * (ld / 8) * 64;
  } else if constexpr (LAYOUT == kSwizzled) {
    return rows * 64;
  } else {
    return rows * ld;
  }
}

// Copy rows [row0, row0 + 64) x COLS of a strided (token, column) matrix into a tile (see
// tile_at); rows at or past n are zero-filled. A thread's rows are ROWS apart in both, so its
// addresses advance by constant steps; a chunk within n (every chunk but a sequence's last)
// copies without the per-row bound.
template <typename T, int COLS, int THREADS, int LAYOUT>
__device__ __forceinline__ void copy_rows(T* dst, int ld, const T* src, int64_t sn, int row0,
                                          int n, int tid) {
  using RC = RowCopy<T, COLS, THREADS, LAYOUT == kCores>;
  static_assert(LAYOUT == kPadded || RC::ROWS % 8 == 0, "rows a multiple of the layout's period");
  const int r0 = RC::first_row(tid), col = RC::column(tid);
  T* d = tile_at<LAYOUT>(dst, ld, r0, col);
  const T* s = src + col + int64_t(row0 + r0) * sn;
  const int64_t s_step = int64_t(RC::ROWS) * sn;
  const int d_step = row_step<LAYOUT>(ld, RC::ROWS);
  if (row0 + kChunk <= n) {
#pragma unroll
    for (int it = 0; it < RC::ITERS; ++it) cp_async16(d + it * d_step, s + it * s_step, true);
  } else {
    const int rows_left = n - row0 - r0;  // this thread's rows it * ROWS < rows_left exist
#pragma unroll
    for (int it = 0; it < RC::ITERS; ++it) {
      const bool ok = it * RC::ROWS < rows_left;
      cp_async16(d + it * d_step, ok ? s + it * s_step : src, ok);
    }
  }
}

// x *= f for the 16 bytes at p, rounded once to the element type.
template <typename T>
__device__ __forceinline__ void scale16(T* p, float f) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);  // one 16-byte load
  float x[kVec<T>];
  unpack<T>(raw, x);
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i) x[i] *= f;
  *reinterpret_cast<uint4*>(p) = pack<T>(x);
}

// For the n-tiles j < count (at most CNT) of a [k][n] tile, load B = tile[k0 .. k0 + 15][8 (n0 + j)
// .. + 7] once and call mma(j, B): the caller multiplies it into one or more accumulators. The
// permuted form matches an A fragment built from accumulators (Frag::a_from_acc).
template <typename F, int CNT, bool PERM, typename T, typename Mma>
__device__ __forceinline__ void mma_tiles(const T* tile, int ld, int k0, int lane, int n0,
                                          int count, Mma&& mma) {
  auto one = [&](int j) {
    typename F::B b;
    if constexpr (PERM) {
      F::load_bt1_perm(b, tile, ld, 8 * (n0 + j), k0, lane);
    } else {
      F::load_bt1(b, tile, ld, 8 * (n0 + j), k0, lane);
    }
    mma(j, b);
  };
#pragma unroll
  for (int jp = 0; jp < CNT / 2; ++jp) {
    if (2 * jp + 1 < count) {
      typename F::B b0, b1;
      if constexpr (PERM) {
        F::load_bt2_perm(b0, b1, tile, ld, 8 * (n0 + 2 * jp), k0, lane);
      } else {
        F::load_bt2(b0, b1, tile, ld, 8 * (n0 + 2 * jp), k0, lane);
      }
      mma(2 * jp, b0);
      mma(2 * jp + 1, b1);
    } else if (2 * jp < count) {
      one(2 * jp);
    }
  }
  if constexpr (CNT % 2 == 1) {
    if (CNT - 1 < count) one(CNT - 1);
  }
}

template <typename T, int P, int KIND, int MODE, int STAGES>
__global__ void __launch_bounds__(Shape<T, P, KIND>::THREADS, Shape<T, P, KIND>::min_blocks(STAGES))
    chunk_kernel(const Params p) {
  using F = Frag<T>;
  using S = Shape<T, P, KIND>;
  // bfloat16 at head_dim 128 in the sm_90a build: the products are warpgroup instructions
  // (wgmma.cuh), a and b in swizzled tiles, c too where it has 64 columns (the ones column of
  // the forward and DQN makes 72), the state in core matrices; elsewhere mma.sync on padded rows.
  // Each layout fits in the padded tile's space.
  constexpr bool kWg = FASTMAX_WGMMA && sizeof(T) == 2 && P == 128;
  constexpr int kLayAB = kWg ? kSwizzled : kPadded, kLayS = kWg ? kCores : kPadded;
  constexpr int QT = S::QT, QTE = S::QTE, NT = S::NT;
  // kWg's ones column (forward, DQN) in the full mode: a constant core-matrix tile beside a
  // swizzled C (kOnesTile; the non-causal forward 0.91x, PERF.md v20). The scans keep it in C's
  // 72 columns: with the tile's separate products their wgmma were serialized for registers
  // (ptxas C7511) and the causal forward ran 1.33x slower.
  constexpr bool kOnesTile = kWg && S::ONES && MODE == kFull;
  constexpr int kLayC = !kWg ? kPadded : (QTE == 64 || kOnesTile ? kSwizzled : kCores);
  // Tile geometry for tile_at: padded row strides, or the columns of a core-matrix tile.
  constexpr int LDP = S::LDP, LDC = !kWg ? S::LDC : (kLayC == kCores ? QTE : QT);
  constexpr int LDS = kWg ? QTE : S::LDS;
  static_assert(!kWg || (S::TILE_A * sizeof(T) % 1024 == 0 && S::STAGE * sizeof(T) % 1024 == 0 &&
                         kChunk * P <= S::TILE_A && kChunk * QTE <= S::TILE_C),
                "swizzled tiles fit their space and start at 1024-byte boundaries");
  constexpr int ND = S::ND, NDW = S::NDW, NO = S::NO, MT = S::MT, NS = S::NS;
  constexpr int WARPS = S::WARPS, THREADS = S::THREADS;
  constexpr bool kBwdCols = (KIND == kDk || KIND == kDv);  // b, c per query head of a kv head
  constexpr bool kIsDq = KIND == kDq || KIND == kDqn;
  constexpr bool kMasterInSmem = sizeof(T) == 4;           // see publish_state
  constexpr bool kMmaSigma = S::MMA_SIGMA;
  // Row scales of a (Params::a_eps): the bfloat16 forward only. The float32 passes are limited by
  // instruction issue and fetch, and even these few instructions cost them 5-8% (PERF.md v9).
  constexpr bool kRowScales = KIND == kFwd && sizeof(T) == 2;
  // The float32 scans from head_dim 128 unroll the k loops of A S, W and the state update only
  // twice: fully unrolled they stalled on instruction fetch (ncu: 1.1-1.8 of ~5 cycles per
  // issue) and ran 17-20% slower (PERF.md v10). bfloat16's passes do not stall there, and the
  // float32 full mode and head_dim 64 were 3-4% slower rolled.
  constexpr int kUnrollK = sizeof(T) == 4 && MODE != kFull && P >= 128 ? 2 : 64;  // 64: all
  // W's products skip the tiles outside the scan's triangle (see W below).
  constexpr bool kSkipTriangle = sizeof(T) == 4 || P > 128;

  extern __shared__ __align__(1024) unsigned char smem_raw[];  // swizzled tiles: 1024 bytes
  T* smem = reinterpret_cast<T*>(smem_raw);
  T* s_state = smem + STAGES * S::STAGE;
  float* s_scalar = reinterpret_cast<float*>(s_state + S::STATE);  // [stage][2][kChunk]
  float* s_sigma = s_scalar + STAGES * S::SCALARS;  // sigma of the earlier chunks
  float* s_sigma_part = s_sigma + QTE;  // float32: [warp][QTE] running partial sums

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g8 = lane >> 2, t4 = lane & 3;
  // Output rows 16 rs .. + 15 of each chunk and data n-tiles [o_n0, o_n0 + NDW). The scans'
  // triangle gives slice 3 the most work (slice 0 the least for kScanRev), and a warp issues on
  // the SM sub-partition of its index mod 4. So with 8 warps the second warp of slice s is
  // warp 7 - s: each sub-partition gets one heavy and one light slice.
  const int o_n0 = (warp / kRowSlices) * NDW;
  const int rs = warp < kRowSlices ? warp : 2 * kRowSlices - 1 - warp;
  // This warp's part of S: m-tiles m_base .. + MT - 1, n-tiles [s_n0, s_n0 + s_cnt).
  const int m_base = S::PARTS == 1 ? warp * MT : warp % S::M;
  const int s_n0 = S::PARTS == 1 ? 0 : (warp / S::M) * NS;
  const int s_cnt = max(0, min(NS, NT - s_n0));
  const int n_tiles = p.dim / QT;
  const int tile = blockIdx.x % n_tiles, bh = blockIdx.x / n_tiles;
  const int q0 = tile * QT;
  const int bidx = bh / p.heads_a, ha = bh % p.heads_a;
  // a1 of this block's key/value head (a's head for DK and DV, its query heads' otherwise).
  const float a1 = p.a1_heads == nullptr
                       ? p.a1
                       : p.a1_heads[kBwdCols ? bh : bidx * p.heads_bc + ha / p.group];
  const int n = p.n;
  // This block's chunks [c_begin, c_begin + n_chunks) and its entry of the state buffer.
  const int c_begin = blockIdx.y * p.seg_chunks;
  const int n_chunks = min((n + kChunk - 1) / kChunk - c_begin, p.seg_chunks);
  float* seg_state = p.states + (int64_t(blockIdx.x) * gridDim.y + blockIdx.y) * S::SEG_STATE;
  const int group = kBwdCols ? p.group : 1;

  // DK, DV: the den of the C rows this thread copied last (see scale_own_rows).
  using CCopy = RowCopy<T, QT, THREADS, kLayC == kCores>;
  float row_den[CCopy::ITERS];
  const T* a_base = static_cast<const T*>(p.a) + bidx * p.a_sb + ha * p.a_sh;
  auto bc_head = [&](int g) { return kBwdCols ? ha * p.group + g : ha / p.group; };
  auto stage_ptr = [&](int st) { return smem + st * S::STAGE; };
  // kOnesTile: the ones tile of stage st, in the C tile's space after its 64 x QT elements.
  auto ones_tile = [&](int st) { return stage_ptr(st) + 2 * S::TILE_A + kChunk * QT; };

  // Issue the copies of one step (chunk ck, query head g of the group) into a stage.
  auto load = [&](int st, int ck, int g, bool with_a, bool with_bc) {
    T* base = stage_ptr(st);
    const int row0 = ck * kChunk;
    if (with_a) copy_rows<T, P, THREADS, kLayAB>(base, LDP, a_base, p.a_sn, row0, n, tid);
    const int hb = bc_head(g);
    if (with_bc) {
      copy_rows<T, P, THREADS, kLayAB>(base + S::TILE_A, LDP,
                      static_cast<const T*>(p.b) + bidx * p.b_sb + hb * p.b_sh, p.b_sn, row0, n,
                      tid);
      copy_rows<T, QT, THREADS, kLayC>(base + 2 * S::TILE_A, LDC,
                       static_cast<const T*>(p.c) + bidx * p.c_sb + hb * p.c_sh + q0, p.c_sn,
                       row0, n, tid);
    }
    // Row scalars: den (DQ), then go (DQ, DK) or beta (DV) of the query head whose rows are a
    // (DQ) or b, c (DK, DV).
    if ((kIsDq && with_a) || (kBwdCols && with_bc)) {
      const int qh = kIsDq ? ha : hb;
      const int64_t off = (int64_t(bidx) * (kIsDq ? p.heads_a : p.heads_bc) + qh) * n;
      float* dst = s_scalar + st * S::SCALARS;
      if constexpr (kBwdCols) {
        // The den of the C rows this thread copies, for scale_own_rows once they have landed.
#pragma unroll
        for (int it = 0; it < CCopy::ITERS; ++it) {
          const int r = row0 + CCopy::first_row(tid) + it * CCopy::ROWS;
          row_den[it] = r < n ? p.den[off + r] : 1.f;
        }
      }
      // One scalar per thread at most: an if, where a loop compiled to a trip count and an
      // unrolled body that ptxas could not know runs once.
      constexpr int kFirst = kBwdCols ? kChunk : 0;
      static_assert(THREADS >= 2 * kChunk - kFirst, "one row scalar per thread");
      if (const int i = tid + kFirst; i < 2 * kChunk) {
        const int r = i % kChunk;
        const bool ok = row0 + r < n;
        const float* rows = KIND == kDv ? p.beta : p.go;
        const float* src = (i < kChunk ? p.den : rows) + (ok ? off + row0 + r : 0);
        cp_async4(dst + i, src, ok);
      }
    }
  };

  // Shared state: S (element type, s folded in), sigma (float32); the ones column of C: a
  // constant 64 x 8 core-matrix tile after each stage's swizzled C (kOnesTile), else C's
  // columns QT .. QT + 7.
  for (int i = tid; i < S::STATE; i += THREADS) F::set(s_state + i, 0.f);
  for (int i = tid; i < S::SIGMA_FLOATS; i += THREADS) s_sigma[i] = 0.f;
  if (S::ONES) {
    for (int st = 0; st < STAGES; ++st)
      for (int i = tid; i < kChunk * 8; i += THREADS) {
        if constexpr (kOnesTile) {
          F::set(core_at(ones_tile(st), 8, i / 8, i % 8), i % 8 == 0 ? 1.f : 0.f);
        } else {
          F::set(tile_at<kLayC>(stage_ptr(st) + 2 * S::TILE_A, LDC, i / 8, QT + i % 8),
                 i % 8 == 0 ? 1.f : 0.f);
        }
      }
  }

  // The state pass stores S itself; the other phases keep s S in shared memory.
  const float s_scale = (KIND == kFwd || KIND == kDv) && p.phase != kStates ? a1 : 1.f;
  float sacc[MT][NS][4];
#pragma unroll
  for (int mi = 0; mi < MT; ++mi)
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) sacc[mi][j][e] = 0.f;
  // float32: sigma partial of this warp's kChunk / WARPS key rows; lane owns columns
  // lane + 32 i.
  constexpr int NCOL = (QTE + 31) / 32;
  float sigma_part[NCOL];
#pragma unroll
  for (int i = 0; i < NCOL; ++i) sigma_part[i] = 0.f;
  // bfloat16 (Shape::MMA_SIGMA): the accumulator of sigma's m-tile of this warp (columns
  // 16 warp + g8 and + 8; lanes t4 == 0 hold beta's high part in element 0 and 2, its low part
  // in 1 and 3) and, in the forward, the ones column's sigma.
  constexpr int kSigmaTiles = QT / 16;
  const bool sigma_warp = warp < kSigmaTiles;
  float sig[4] = {0.f, 0.f, 0.f, 0.f};
  float ones_sigma = 0.f;

  // DK, DV: C rows are scaled by 1/den of their query (zero past n). Each thread scales the
  // segments it copied itself (den: of those rows), once its own copies have landed, so no
  // barrier is needed before the one that publishes the stage.
  auto scale_own_rows = [&](int st, int ck, const float* den) {
    if constexpr (kBwdCols) {
      T* tc = stage_ptr(st) + 2 * S::TILE_A;
#pragma unroll
      for (int it = 0; it < CCopy::ITERS; ++it) {
        const int r = CCopy::first_row(tid) + it * CCopy::ROWS;
        scale16(tile_at<kLayC>(tc, LDC, r, CCopy::column(tid)),
                ck * kChunk + r < n ? rcp_fast(den[it]) : 0.f);
      }
    }
  };

  // Wait for the copies of step `step`, then make them visible; prefetch step + 1 first. With
  // scale_ck >= 0 (the step's chunk) the step's C rows are scaled on the way.
  auto arrive = [&](int step, int total, int scale_ck, auto&& issue) {
    if (STAGES == 2) {
      float den[CCopy::ITERS];  // the step's row_den, before the prefetch replaces it
      if constexpr (kBwdCols) {
#pragma unroll
        for (int it = 0; it < CCopy::ITERS; ++it) den[it] = row_den[it];
      }
      if (step + 1 < total) issue(step + 1);
      cp_async_commit();
      cp_async_wait<1>();
      if (scale_ck >= 0) scale_own_rows(step & 1, scale_ck, den);
    } else {
      issue(step);
      cp_async_commit();
      cp_async_wait<0>();
      if (scale_ck >= 0) scale_own_rows(0, scale_ck, row_den);
    }
    // This thread's writes to the stage and the shared state, before the barrier, for the
    // warpgroup products that read them.
    if constexpr (kWg) fence_proxy_async();
    __syncthreads();
  };

  // beta of key row c of the current step (zero at or past n).
  auto beta = [&](int st, int ck, int c) -> float {
    const float row = s_scalar[st * S::SCALARS + kChunk + c];
    const float b = KIND == kDk ? -row : (KIND == kDv ? row : 1.f);
    return ck * kChunk + c < n ? b : 0.f;
  };

  // bfloat16: the B fragment of key rows k0 .. k0 + 15 whose column 0 holds beta's high
  // bfloat16 part and column 1 the rest (beta - high, rounded), other columns zero.
  auto beta_fragment = [&](int st, int ck, int k0) {
    using BF = Frag<__nv_bfloat16>;
    BF::B f;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float x[2];
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float b = beta(st, ck, k0 + 2 * t4 + 8 * i + e);
        const float hi = __bfloat162float(__float2bfloat16_rn(b));
        x[e] = g8 == 0 ? hi : (g8 == 1 ? b - hi : 0.f);
      }
      f.x[i] = BF::pack(x[0], x[1]);
    }
    return f;
  };

  // kWg: descriptor of C's rows k0 .. k0 + 15 as the MN-major B of a product (the mma.sync
  // kernels read C by ldmatrix).
  auto c_desc = [&](const T* tc, int k0) -> uint64_t {
    if constexpr (kLayC == kSwizzled) {
      return desc_mn_major_sw(tc, k0, 0);
    } else if constexpr (kLayC == kCores) {
      return desc_mn_major(tc, LDC, k0, 0);
    } else {
      return 0;
    }
  };

  // S += B^T C for the tiles of stage st. kWg: issues the warpgroup products (m64 block mi of
  // S is B's columns 64 mi .. + 63, read transposed), for the caller to commit and wait for.
  auto state_products = [&](int st) {
    const T* tb = stage_ptr(st) + S::TILE_A;
    const T* tc = stage_ptr(st) + 2 * S::TILE_A;
    if constexpr (kWg) {
#pragma unroll
      for (int kk = 0; kk < kChunk / 16; ++kk) {
        const uint64_t c = c_desc(tc, 16 * kk);
#pragma unroll
        for (int mi = 0; mi < MT; ++mi) {
          const uint64_t a = desc_mn_major_sw(tb, 16 * kk, 64 * mi);
          if constexpr (kOnesTile) {
            // C's QT columns into the first QT / 8 n-tiles, the ones tile's into the last.
            const uint64_t ones = desc_mn_major(ones_tile(st), 8, 16 * kk, 0);
            wgmma_ss<1, 1>(*reinterpret_cast<float(*)[QT / 8][4]>(sacc[mi]), a, c);
            wgmma_ss<1, 1>(*reinterpret_cast<float(*)[1][4]>(sacc[mi] + QT / 8), a, ones);
          } else {
            wgmma_ss<1, 1>(sacc[mi], a, c);
          }
        }
      }
    } else if (s_cnt > 0) {
#pragma unroll kUnrollK
      for (int kk = 0; kk < kChunk / 16; ++kk) {
        typename F::A af[MT];
#pragma unroll
        for (int mi = 0; mi < MT; ++mi)
          F::load_a_t(af[mi], tb, LDP, 16 * (m_base + mi), 16 * kk, lane);
        auto into_state = [&](int j, const typename F::B& b) {
#pragma unroll
          for (int mi = 0; mi < MT; ++mi) F::mma(sacc[mi][j], af[mi], b);
        };
        mma_tiles<F, NS, false>(tc, LDC, 16 * kk, lane, s_n0, s_cnt, into_state);
      }
    }
  };
  // sigma += beta^T C for the tiles of stage st.
  auto sigma_products = [&](int st, int ck) {
    const T* tc = stage_ptr(st) + 2 * S::TILE_A;
    if constexpr (kMmaSigma) {
      if (sigma_warp) {
#pragma unroll
        for (int kk = 0; kk < kChunk / 16; ++kk) {
          typename F::A cf;
          F::load_a_t_at(cf, [&](int r, int c) { return tile_at<kLayC>(tc, LDC, r, c); },
                         16 * warp, 16 * kk, lane);
          F::mma(sig, cf, beta_fragment(st, ck, 16 * kk));
        }
      }
      if (S::ONES) ones_sigma += float(min(kChunk, n - ck * kChunk));
    } else {
      constexpr int kSigmaRows = kChunk / WARPS;
#pragma unroll 4
      for (int r = 0; r < kSigmaRows; ++r) {
        const int c = kSigmaRows * warp + r;
        const float b = beta(st, ck, c);
#pragma unroll
        for (int i = 0; i < NCOL; ++i) {
          const int col = lane + 32 * i;
          if (col < QTE) sigma_part[i] += b * *reinterpret_cast<const float*>(tc + c * LDC + col);
        }
      }
    }
  };
  auto accumulate_state = [&](int st, int ck) {
    if constexpr (kWg) {
      wgmma_fence();
      state_products(st);
      wgmma_commit();
      sigma_products(st, ck);
      wgmma_wait();
#pragma unroll
      for (int mi = 0; mi < MT; ++mi) wgmma_fence_operand(sacc[mi]);
    } else {
      state_products(st);
      sigma_products(st, ck);
    }
  };

  // Visit this thread's entries of S: fn(row, col, accumulator pair) for col, col + 1. kWg:
  // accumulator mi holds m-tile 4 mi + warp (the warp's rows of m64 block mi).
  auto for_state_pairs = [&](auto&& fn) {
#pragma unroll
    for (int mi = 0; mi < MT; ++mi)
#pragma unroll
      for (int j = 0; j < NS; ++j) {
        if (j >= s_cnt) continue;
        const int m_tile = kWg ? 4 * mi + warp : m_base + mi;
#pragma unroll
        for (int half = 0; half < 2; ++half)
          fn(16 * m_tile + g8 + 8 * half, 8 * (s_n0 + j) + 2 * t4, &sacc[mi][j][2 * half]);
      }
  };

  // Publish S (times s) for the next chunk; the caller synchronises around it.
  // float32 keeps the master state in shared memory and adds each chunk's products to it with
  // ordinary rounding: the matrix units' accumulator, fed a whole sequence, drifts by about
  // 2^-24 per step. bfloat16 keeps the master in registers and publishes a rounded copy.
  // With s = 1 (the default Taylor coefficient) the products by s, exact, are left out.
  auto publish_state = [&]() {
    auto publish = [&](float scale) {
      for_state_pairs([&](int row, int col, float* acc) {
        T* at = tile_at<kLayS>(s_state, LDS, row, col);
        if constexpr (kMasterInSmem) {
          const float2 old = F::load2(at);
          F::store2(at, old.x + scale * acc[0], old.y + scale * acc[1]);
          acc[0] = acc[1] = 0.f;
        } else {
          F::store2(at, scale * acc[0], scale * acc[1]);
        }
      });
    };
    if (s_scale == 1.f) {
      publish(1.f);
    } else {
      publish(s_scale);
    }
  };
  // sigma for the next chunk. bfloat16: each warp stores its columns of s_sigma. float32:
  // each warp stores its running partial, and reduce_sigma sums them after a barrier.
  auto publish_sigma = [&]() {
    if constexpr (kMmaSigma) {
      if (sigma_warp && t4 == 0) {
        s_sigma[16 * warp + g8] = sig[0] + sig[1];
        s_sigma[16 * warp + g8 + 8] = sig[2] + sig[3];
      }
      if (S::ONES && tid == 0) s_sigma[QT] = ones_sigma;
    } else {
#pragma unroll
      for (int i = 0; i < NCOL; ++i)
        if (lane + 32 * i < QTE) s_sigma_part[warp * QTE + lane + 32 * i] = sigma_part[i];
    }
  };
  auto reduce_sigma = [&]() {
    if constexpr (!kMmaSigma) {
      static_assert(QTE <= THREADS, "one sigma column per thread");
      if (const int col = tid; col < QTE) {
        float total = 0.f;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) total += s_sigma_part[w * QTE + col];
        s_sigma[col] = total;
      }
    }
  };

  // kApply: start from the combined state of the other segments (S into the accumulators,
  // sigma into warp 0's partial), published like the state of an earlier chunk.
  auto start_from_segment_state = [&]() {
    __syncthreads();  // the zero fill of the shared state is done
    for_state_pairs([&](int row, int col, float* acc) {
      const float2 x = *reinterpret_cast<const float2*>(seg_state + row * QTE + col);
      acc[0] = x.x;
      acc[1] = x.y;
    });
    const float* seg_sigma = seg_state + P * QTE;
    if constexpr (kMmaSigma) {
      if (sigma_warp && t4 == 0) {
        sig[0] = seg_sigma[16 * warp + g8];
        sig[2] = seg_sigma[16 * warp + g8 + 8];
      }
      if (S::ONES) ones_sigma = seg_sigma[QT];
    } else {
#pragma unroll
      for (int i = 0; i < NCOL; ++i)
        if (warp == 0 && lane + 32 * i < QTE) sigma_part[i] = seg_sigma[lane + 32 * i];
    }
    publish_state();
    publish_sigma();
    __syncthreads();
    reduce_sigma();
  };

  // kStates: store this segment's S (float32 master: accumulators or shared memory) and sigma.
  auto store_segment_state = [&]() {
    for_state_pairs([&](int row, int col, const float* acc) {
      float2 x = make_float2(acc[0], acc[1]);
      if constexpr (kMasterInSmem) x = F::load2(tile_at<kLayS>(s_state, LDS, row, col));
      *reinterpret_cast<float2*>(seg_state + row * QTE + col) = x;
    });
    publish_sigma();
    __syncthreads();
    reduce_sigma();
    for (int col = tid; col < QTE; col += THREADS) seg_state[P * QTE + col] = s_sigma[col];
  };

  // out[j] += a x tile[k0 .. k0 + 15][this warp's output n-tiles]: the data tiles, then the
  // ones tile (n-tile ND, ONES).
  auto mma_out = [&](auto perm, float (*out)[4], const typename F::A& a, const T* tile, int ld,
                     int k0) {
    constexpr bool PERM = decltype(perm)::value;
    mma_tiles<F, NDW, PERM>(tile, ld, k0, lane, o_n0, NDW, [&](int j, const typename F::B& b) {
      F::mma(out[j], a, b);
    });
    if constexpr (S::ONES) {
      mma_tiles<F, 1, PERM>(tile, ld, k0, lane, ND, 1, [&](int, const typename F::B& b) {
        F::mma(out[NDW], a, b);
      });
    }
  };

  // FWD (bfloat16) with p.a_eps > 0: the clamped norms max(||a_r||, a_eps) of this warp's rows
  // g8 and g8 + 8 and their scales 1 / norm; 1 otherwise.
  const bool norm_rows = kRowScales && p.a_eps > 0.f;
  float norm_a[2] = {1.f, 1.f}, r_a[2] = {1.f, 1.f};

  // With norm_rows: this warp's row norms and scales of stage st, from the squared norms of its
  // 16 rows, the diagonal of A A^T: per k step one A fragment (rows 16 rs .. + 15) times itself
  // read as the B fragments of rows 0 .. 7 and 8 .. 15. Lane (g8, g8 / 2) holds both diagonal
  // entries of its rows (columns 2 t4 and 2 t4 + 1) and the quad reads them from it.
  auto take_row_scales = [&](int st) {
    if constexpr (kRowScales) {
      if (norm_rows) {
        using BF = Frag<__nv_bfloat16>;
        T* ta = stage_ptr(st);
        float d0[4] = {0.f, 0.f, 0.f, 0.f}, d1[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int kk = 0; kk < P / 16; ++kk) {
          BF::A af;
          BF::load_a_at(af, [&](int r, int c) { return tile_at<kLayAB>(ta, LDP, r, c); }, 16 * rs,
                        16 * kk, lane);
          const uint32_t b0[2] = {af.x[0], af.x[2]}, b1[2] = {af.x[1], af.x[3]};
          mma_bf16(d0, af.x, b0);
          mma_bf16(d1, af.x, b1);
        }
        const int src = 4 * g8 + (g8 >> 1);
        const float ss0 = __shfl_sync(0xffffffffu, (g8 & 1) ? d0[1] : d0[0], src);
        const float ss1 = __shfl_sync(0xffffffffu, (g8 & 1) ? d1[3] : d1[2], src);
        norm_a[0] = clamped_norm(ss0, p.a_eps);
        norm_a[1] = clamped_norm(ss1, p.a_eps);
        r_a[0] = rcp_fast(norm_a[0]);
        r_a[1] = rcp_fast(norm_a[1]);
      }
    }
  };
  auto scale_rows = [&](float (*out)[4]) {
    if (norm_rows) {
#pragma unroll
      for (int j = 0; j < NO; ++j) {
        out[j][0] *= r_a[0], out[j][1] *= r_a[0];
        out[j][2] *= r_a[1], out[j][3] *= r_a[1];
      }
    }
  };

  // kWg: issue out = A S for stage st (the first k step overwrites out). out is a pointer, cast
  // back to the array that wgmma_ss takes: nvcc 13.0's front end crashes on lambda parameters
  // of array-reference type.
  auto a_s_wgmma = [&](int st, float (*out)[4]) {
    if constexpr (kWg) {
      auto& acc = *reinterpret_cast<float(*)[NO][4]>(out);
#pragma unroll
      for (int kk = 0; kk < P / 16; ++kk)
        wgmma_ss<0, 1>(acc, desc_k_major_sw(stage_ptr(st), 16 * kk),
                       desc_mn_major(s_state, LDS, 16 * kk, 0), kk > 0);
    }
  };

  const auto no_more = [](const typename F::A&, int) {};
  // out = A S (state in shared memory) for this warp's rows and n-tiles of stage st; with
  // norm_rows, times the rows' scales (a's rows are then raw). more(af, kk) runs after each k
  // step's product with that step's A fragment (the mma.sync scans compute W with it).
  auto apply_state = [&](int st, float (*out)[4], auto&& more) {
    if constexpr (kWg) {
      wgmma_fence();
      a_s_wgmma(st, out);
      wgmma_commit();
      wgmma_wait();
      wgmma_fence_operand(*reinterpret_cast<float(*)[NO][4]>(out));
    } else {
      const T* ta = stage_ptr(st);
#pragma unroll
      for (int j = 0; j < NO; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) out[j][e] = 0.f;
#pragma unroll kUnrollK
      for (int kk = 0; kk < P / 16; ++kk) {
        typename F::A af;
        F::load_a(af, ta, LDP, 16 * rs, 16 * kk, lane);
        mma_out(std::false_type{}, out, af, s_state, LDS, 16 * kk);
        more(af, kk);
      }
    }
    take_row_scales(st);
    scale_rows(out);
  };

  // DQN: this thread's q pairs (two rows, NDW pairs each) and row scales of chunk ck, loaded at
  // the top of its step so that the epilogue does not wait on memory (loaded there, the causal
  // dq pass took 3.2x its time: csrc/PERF.md v19).
  typename F::Pair q_pairs[2][NDW];
  float q_rn[2] = {1.f, 1.f};
  auto load_q = [&](int ck) {
    if constexpr (KIND == kDqn) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int row = ck * kChunk + 16 * rs + g8 + 8 * half;
        if (row >= n) continue;
        q_rn[half] = p.nq_rnorm[(int64_t(bidx) * p.heads_a + ha) * n + row];
        const T* q_row = static_cast<const T*>(p.nq) + bidx * p.nq_sb + ha * p.nq_sh +
                         row * p.nq_sn + q0;
#pragma unroll
        for (int j = 0; j < NDW; ++j)
          q_pairs[half][j] = F::load_pair(q_row + 8 * (o_n0 + j) + 2 * t4);
      }
    }
  };

  // The ones column (ONES) of row half of this warp's rows, out + alpha sigma, for every lane of
  // the row: the warp's last n-tile, column 0, which lane t4 == 0 holds. The forward's den,
  // DQN's t.
  auto ones_column = [&](float (*out)[4], int half, float alpha) {
    return __shfl_sync(0xffffffffu, out[NO - 1][2 * half] + alpha * s_sigma[QT], lane & ~3);
  };

  // Finish rows of this warp: fs_r * (out + alpha_r sigma), stored in the element type.
  auto epilogue = [&](int st, int ck, float (*out)[4]) {
    const float* sc = s_scalar + st * S::SCALARS;
    T* o_base = static_cast<T*>(p.out) + bidx * p.o_sb + ha * p.o_sh + q0;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = 16 * rs + g8 + 8 * half;
      const int row = ck * kChunk + r;
      float alpha = 1.f, fs = 1.f;
      if (KIND == kFwd) alpha = p.a0;
      if (kIsDq) {
        alpha = -sc[kChunk + r];
        fs = div_fast(a1, sc[r]);
      }
      if (KIND == kDk) fs = a1;
      if (KIND == kFwd) {
        const float den = ones_column(out, half, alpha);
        fs = rcp_fast(den);
        if (tile == 0 && o_n0 == 0 && t4 == 0 && row < n) {
          const int64_t at = (int64_t(bidx) * p.heads_a + ha) * n + row;
          p.den_out[at] = den;
          if (norm_rows) p.rnorm_out[at] = r_a[half];
        }
      }
      // DQN (fastmax.h): dq = rn (dy - y <y, dy>) with y = q rn, where <y, dy> = -(a0 / den) t
      // and t, the ones column, is sum_c (<dO, v_c> - go): so dq = rn dy + coef y (coef = 0 for
      // a clamped norm, norm_clamped). y first: rn^2 alone overflows float32 for rn > 2^64.
      const float rn = q_rn[half];
      float coef = 0.f;
      if constexpr (KIND == kDqn) {
        const float t = ones_column(out, half, alpha);
        coef = norm_clamped(rn, p.nq_eps) ? 0.f : rn * (div_fast(p.a0, sc[r]) * t);
      }
      if (row >= n) continue;
#pragma unroll
      for (int j = 0; j < NDW; ++j) {
        const int col = 8 * (o_n0 + j) + 2 * t4;
        float y0 = fs * (out[j][2 * half] + alpha * s_sigma[col]);
        float y1 = fs * (out[j][2 * half + 1] + alpha * s_sigma[col + 1]);
        if constexpr (KIND == kDqn) {
          const float2 x = F::unpack(q_pairs[half][j]);
          y0 = rn * y0 + coef * (rn * x.x);
          y1 = rn * y1 + coef * (rn * x.y);
        }
        F::store2(o_base + row * p.o_sn + col, y0, y1);
      }
    }
  };

  if constexpr (MODE == kFull) {
    if (p.phase == kApply) {
      start_from_segment_state();
    } else {
      // Pass 1: the state of this block's chunks.
      const int total = n_chunks * group;
      if (STAGES == 2) {
        load(0, c_begin, 0, false, true);
        cp_async_commit();
      }
      StepPos pos;
      for (int step = 0; step < total; ++step, pos = pos.next(group)) {
        const int st = STAGES == 2 ? step & 1 : 0;
        const StepPos ahead = STAGES == 2 ? pos.next(group) : pos;  // the step arrive issues
        arrive(step, total, kBwdCols ? c_begin + pos.c : -1, [&](int s2) {
          load(STAGES == 2 ? s2 & 1 : 0, c_begin + ahead.c, ahead.g, false, true);
        });
        accumulate_state(st, c_begin + pos.c);
        if constexpr (kMasterInSmem) publish_state();  // each thread adds to its own entries
        __syncthreads();
      }
      if (p.phase == kStates) {
        store_segment_state();
        return;
      }
      if constexpr (!kMasterInSmem) publish_state();
      publish_sigma();
      __syncthreads();
      reduce_sigma();
    }
    __syncthreads();
    // Pass 2: outputs A S.
    if (STAGES == 2) {
      load(0, c_begin, 0, true, false);
      cp_async_commit();
    }
    for (int ck = c_begin; ck < c_begin + n_chunks; ++ck) {
      const int st = STAGES == 2 ? (ck - c_begin) & 1 : 0;
      arrive(ck - c_begin, n_chunks, -1,
             [&](int c2) { load(STAGES == 2 ? c2 & 1 : 0, c_begin + c2, 0, true, false); });
      load_q(ck);
      float out[NO][4];
      apply_state(st, out, no_more);
      epilogue(st, ck, out);
      __syncthreads();
    }
  } else {
    if (p.phase == kApply) start_from_segment_state();
    const int total = n_chunks * group;
    auto chunk_at = [&](int c) { return c_begin + (MODE == kScanFwd ? c : n_chunks - 1 - c); };
    if (STAGES == 2) {
      load(0, chunk_at(0), 0, true, true);
      cp_async_commit();
    }
    float out[NO][4];
    StepPos pos;
    for (int step = 0; step < total; ++step, pos = pos.next(group)) {
      const int st = STAGES == 2 ? step & 1 : 0;
      const int ck = chunk_at(pos.c), g = pos.g;
      const StepPos ahead = STAGES == 2 ? pos.next(group) : pos;  // the step arrive issues
      arrive(step, total, kBwdCols ? ck : -1, [&](int s2) {
        load(STAGES == 2 ? s2 & 1 : 0, chunk_at(ahead.c), ahead.g, true, true);
      });
      if (g == group - 1) load_q(ck);
      const T* ta = stage_ptr(st);
      const T* tb = ta + S::TILE_A;
      const T* tc = ta + 2 * S::TILE_A;
      // W = s A B^T + alpha beta^T over this warp's 16 rows, masked to the scan's triangle
      // (each warp of a row slice computes it). bfloat16 warps compute all four column tiles:
      // the tiles the mask zeroes cost only the lighter slices products, and the loop has no
      // branches to split its schedule (1.5-3% faster, PERF.md v10). float32, bound by
      // instruction issue, skips them, and so does head_dim 256, whose dk scan would spill.
      // bfloat16: at the first query head of a step W shares A S's loop and A fragments (2-3%
      // faster causal forward+backward, PERF.md v12). float32's forward was 4-5% slower so.
      constexpr bool kFuseW = sizeof(T) == 2;
      float w[kChunk / 8][4];
      if constexpr (!kWg) {
#pragma unroll
        for (int j = 0; j < kChunk / 8; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) w[j][e] = 0.f;
      }
      auto w_products = [&](const typename F::A& af, int kk) {
#pragma unroll
        for (int jp = 0; jp < kChunk / 16; ++jp) {
          if (kSkipTriangle && (MODE == kScanFwd ? jp > rs : jp < rs)) continue;
          typename F::B b0, b1;
          F::load_b2(b0, b1, tb, LDP, 16 * jp, 16 * kk, lane);
          F::mma(w[2 * jp], af, b0);
          F::mma(w[2 * jp + 1], af, b1);
        }
      };
      if constexpr (kWg) {
        // The row scales first: their mma.sync products would otherwise queue behind the
        // groups below on the tensor cores, and W's mask waits for them.
        if (g == 0) take_row_scales(st);
        // Three groups in flight: W, A S (at a step's first query head) and the state's
        // products, which need neither; W's mask below overlaps the last two.
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < P / 16; ++kk)
          wgmma_ss<0, 0>(w, desc_k_major_sw(ta, 16 * kk), desc_k_major_sw(tb, 16 * kk), kk > 0);
        wgmma_commit();
        if (g == 0) a_s_wgmma(st, out);
        wgmma_commit();
        state_products(st);
        wgmma_commit();
        wgmma_wait<2>();
        wgmma_fence_operand(w);
      } else if (kFuseW && g == 0) {
        apply_state(st, out, w_products);
      } else {
        if (g == 0) apply_state(st, out, no_more);
#pragma unroll kUnrollK
        for (int kk = 0; kk < P / 16; ++kk) {
          typename F::A af;
          F::load_a(af, ta, LDP, 16 * rs, 16 * kk, lane);
          w_products(af, kk);
        }
      }
      const float* sc = s_scalar + st * S::SCALARS;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = 16 * rs + g8 + 8 * half;
        const float alpha = KIND == kFwd ? p.a0 : (kIsDq ? -sc[kChunk + r] : 1.f);
        // Columns lo <= c <= hi are kept: the scan's triangle and the columns that exist.
        const int valid = n - ck * kChunk;
        const int lo = MODE == kScanFwd ? 0 : r;
        const int hi = MODE == kScanFwd ? min(r, valid - 1) : valid - 1;
        // kWg scales out's rows once at the end (scale_rows), so W's alpha beta is multiplied by
        // the row's norm.
        const float w_scale = kWg ? s_scale : s_scale * r_a[half];
        const float term_scale = kWg ? norm_a[half] : 1.f;
#pragma unroll
        for (int j = 0; j < kChunk / 8; ++j)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int c = 8 * j + 2 * t4 + e;
            const bool keep = c >= lo && c <= hi;
            const float term = KIND == kDk   ? -alpha * sc[kChunk + c]
                               : KIND == kDv ? sc[kChunk + c]
                                             : alpha;
            float& x = w[j][2 * half + e];
            x = keep ? w_scale * x + term * term_scale : 0.f;
          }
      }
      // out += W C (kWg: over the whole chunk, so a non-finite v of a later token reaches the
      // earlier outputs of its chunk, 0 * inf, where mma.sync's reach only the 16-token diagonal
      // tile), and the state's products.
      if constexpr (kWg) {
        typename F::A wf[kChunk / 16];
#pragma unroll
        for (int kk = 0; kk < kChunk / 16; ++kk) F::a_from_acc(wf[kk], w[2 * kk], w[2 * kk + 1]);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kChunk / 16; ++kk)
          wgmma_rs<1>(out, wf[kk].x, c_desc(tc, 16 * kk));
        wgmma_commit();
        sigma_products(st, ck);
        wgmma_wait();
        wgmma_fence_operand(out);
#pragma unroll
        for (int mi = 0; mi < MT; ++mi) wgmma_fence_operand(sacc[mi]);
        scale_rows(out);
      } else {
#pragma unroll
        for (int kk = 0; kk < kChunk / 16; ++kk) {
          if (MODE == kScanFwd ? kk > rs : kk < rs) continue;
          typename F::A wf;
          F::a_from_acc(wf, w[2 * kk], w[2 * kk + 1]);
          mma_out(std::true_type{}, out, wf, tc, LDC, 16 * kk);
        }
        accumulate_state(st, ck);
      }
      if (g == group - 1) epilogue(st, ck, out);
      __syncthreads();
      if (g == group - 1) {
        publish_state();
        publish_sigma();
        if constexpr (!kMmaSigma) {
          __syncthreads();
          reduce_sigma();  // read next after the next step's arrival barrier
        }
      }
    }
  }
}

}  // namespace fastmax

namespace fastmax {

// In place, per (block, element) across segments: what each segment starts from (mode: the scan
// or full mode of the pass, fastmax::Mode). Defined in split.cu.
cudaError_t launch_combine_states(float* states, int64_t blocks, int segments, int floats,
                                  int mode, cudaStream_t stream);

// Pipeline stages a pass launches with under a per-block shared memory limit (0: does not fit).
template <typename T, int P, int KIND>
int stages_for(size_t limit) {
  using S = Shape<T, P, KIND>;
  if (S::bytes(S::STAGES) <= limit) return S::STAGES;
  if (S::SINGLE_FALLBACK && S::bytes(1) <= limit) return 1;
  return 0;
}

template <typename T, int P, int KIND, int MODE, int STAGES>
cudaError_t launch_staged(const Params& p_in, cudaStream_t stream) {
  using S = Shape<T, P, KIND>;
  auto kernel = chunk_kernel<T, P, KIND, MODE, STAGES>;
  auto state_kernel = chunk_kernel<T, P, KIND, kFull, STAGES>;
  const size_t smem = S::bytes(STAGES);
  for (auto k : {kernel, state_kernel}) {
    const cudaError_t err =
        cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (err != cudaSuccess) return err;
  }
  const int64_t blocks = int64_t(p_in.batch) * p_in.heads_a * (p_in.dim / S::QT);
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  const unsigned bx = static_cast<unsigned>(blocks);
  const int chunks = (p_in.n + kChunk - 1) / kChunk;
  const int segments = p_in.seg_chunks > 0 ? (chunks + p_in.seg_chunks - 1) / p_in.seg_chunks : 1;
  Params p = p_in;
  if (segments <= 1 || p.states == nullptr) {
    p.phase = kWhole;
    p.seg_chunks = chunks;
    kernel<<<dim3(bx, 1), S::THREADS, smem, stream>>>(p);
    return cudaGetLastError();
  }
  p.phase = kStates;
  state_kernel<<<dim3(bx, segments), S::THREADS, smem, stream>>>(p);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess)
    err = launch_combine_states(p.states, blocks, segments, S::SEG_STATE, MODE, stream);
  if (err != cudaSuccess) return err;
  p.phase = kApply;
  kernel<<<dim3(bx, segments), S::THREADS, smem, stream>>>(p);
  return cudaGetLastError();
}

// fn(tag, P, KIND) for a runtime dtype (0 = bfloat16, 1 = float32), kind and head dim, with
// the element type as decltype(tag)::type and P, KIND as integral constants; a value-initialised
// result for an unsupported head dim.
template <typename T>
struct TypeTag {
  using type = T;
};
template <int V>
using IntC = std::integral_constant<int, V>;

template <typename T, int KIND, typename Fn>
auto visit_dim(int dim, Fn&& fn) -> decltype(fn(TypeTag<T>{}, IntC<32>{}, IntC<KIND>{})) {
  switch (dim) {
    case 32:
      return fn(TypeTag<T>{}, IntC<32>{}, IntC<KIND>{});
    case 64:
      return fn(TypeTag<T>{}, IntC<64>{}, IntC<KIND>{});
    case 128:
      return fn(TypeTag<T>{}, IntC<128>{}, IntC<KIND>{});
    case 256:
      return fn(TypeTag<T>{}, IntC<256>{}, IntC<KIND>{});
  }
  return {};
}

template <typename T, typename Fn>
auto visit_kind(int kind, int dim, Fn&& fn) {
  switch (kind) {
    case kFwd:
      return visit_dim<T, kFwd>(dim, fn);
    case kDq:
      return visit_dim<T, kDq>(dim, fn);
    case kDqn:
      return visit_dim<T, kDqn>(dim, fn);
    case kDk:
      return visit_dim<T, kDk>(dim, fn);
    default:
      return visit_dim<T, kDv>(dim, fn);
  }
}

template <typename Fn>
auto visit_shape(int dtype, int kind, int dim, Fn&& fn) {
  return dtype == 1 ? visit_kind<float>(kind, dim, fn) : visit_kind<__nv_bfloat16>(kind, dim, fn);
}

// The per-block shared memory limit of the current device.
inline cudaError_t block_smem_limit(size_t& limit) {
  int device = 0, value = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&value, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  limit = static_cast<size_t>(value);
  return err;
}

// Two stages when the device's per-block shared memory allows, else one, else kErrSharedMemory.
template <typename T, int P, int KIND, int MODE>
cudaError_t launch_one(const Params& p, cudaStream_t stream) {
  using S = Shape<T, P, KIND>;
  size_t limit = 0;
  const cudaError_t err = block_smem_limit(limit);
  if (err != cudaSuccess) return err;
  const int stages = stages_for<T, P, KIND>(limit);
  if (stages == S::STAGES) return launch_staged<T, P, KIND, MODE, S::STAGES>(p, stream);
  if constexpr (S::SINGLE_FALLBACK) {
    if (stages == 1) return launch_staged<T, P, KIND, MODE, 1>(p, stream);
  }
  return kErrSharedMemory;
}

template <typename T, int KIND>
cudaError_t launch_kind(bool causal, const Params& p, cudaStream_t stream) {
  constexpr int SCAN = (KIND == kFwd || KIND == kDq || KIND == kDqn) ? kScanFwd : kScanRev;
  switch (p.dim) {
    case 32:
      return causal ? launch_one<T, 32, KIND, SCAN>(p, stream) : launch_one<T, 32, KIND, kFull>(p, stream);
    case 64:
      return causal ? launch_one<T, 64, KIND, SCAN>(p, stream) : launch_one<T, 64, KIND, kFull>(p, stream);
    case 128:
      return causal ? launch_one<T, 128, KIND, SCAN>(p, stream) : launch_one<T, 128, KIND, kFull>(p, stream);
    case 256:
      return causal ? launch_one<T, 256, KIND, SCAN>(p, stream) : launch_one<T, 256, KIND, kFull>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace fastmax
