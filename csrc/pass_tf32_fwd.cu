// The causal float32 forward on Hopper's TF32 products (wgmma). With TF32 allowed
// (Params::allow_tf32), one product per step, the precision fla and PyTorch give float32 matrix
// products then: head dims 64 and 128. Else (head dim 64 only; 128's tiles would not fit in
// shared memory twice) three products per step, hi hi + lo hi + hi lo with lo = x - hi, which
// keep float32 accuracy as the mma.sync passes' three do. sm_90a builds; run_pass takes it for
// an unsplit causal forward where launch_tf32_fwd_available says the kernel was built and for
// DQ at head dim 64, launch_tf32_reversed (fastmax_ops.cpp) for DK and DV (KIND below).
//
// One warpgroup per (batch, head, output tile of QT columns: 64 at head dim 128, 32 at 64, so
// two tiles per head either way), 64-token chunks, two stages of cp.async (DK and DV one, with
// two blocks per SM: kStagesOf). Per chunk:
//   W   = a0 + a1 Q K^T (causal mask)  Q and K K-major in shared memory, 128-byte swizzle
//   out = Q S + a0 sigma + W V         S^T published K-major, a1 folded in
//   S  += K^T V                        K^T from registers, loaded from K's tile; the product
//                                      from zero each chunk, added to S^T in float32
// with the ones column (den) as V^T's row QT (N = QT + 8) and sigma, the sum of the earlier rows
// of v (and their count, den's a0 term), in shared memory. wgmma reads 32-bit operands K-major
// only, so v is copied transposed (V^T, tokens along K), each 8-token group in the order 0, 2,
// 4, 6, 1, 3, 5, 7: W's accumulator, which holds columns (2 t, 2 t + 1) of each 8, then is the
// TF32 A fragment of W V (columns t, t + 4) without shuffles, and K^T's fragments are loaded in
// the same order. v comes through registers, rounded to TF32 on the way (out is a mean of v's
// rows: the unit's truncation would bias it), while q and k are copied by cp.async. Tokens past
// n are zero-filled and their rows not written.
// S^T's high part in shared memory is the running state itself: each chunk's K^T V starts from
// a zeroed accumulator, and each thread adds the elements it publishes to S^T's with float32
// additions. Accumulated in the unit across the chunks, the state drifted: out's error against
// the float64 formula grew with N, to 1.2e-5 at N = 65536 (PERF.md v28).
// With Params::a_eps > 0 the rows of q are normalised in the pass, x / max(||x||, a_eps), as
// the bfloat16 forward does: each warp takes its rows' norms m from the Q tile, and the pass
// runs on the raw q with a0 m in place of a0. Out is a ratio, and with q / m every weight,
// a0 + a1 <q / m, k>, is (a0 m + a1 <q, k>) / m, so m cancels from out; den (divided by m) and
// the scales 1 / m (rnorm_out) are stored for the backward.
// Three products: every operand's raw float32 serves as its high part (the unit reads it
// truncated to TF32) and its low part is x - trunc(x), exact, itself truncated by the unit (the
// pair loses at most float32's last two bits). q's and k's low parts go to a second set of
// tiles one step ahead, while W V runs: each thread splits the pieces its own copies brought,
// so that no barrier waits for them; v's, S^T's, W's and K^T's are made where those are.
// With Params::b_eps > 0 as well (the op's forward without autograd, which keeps no normalised
// copy of k) the rows of k are normalised in the pass: their scales r = 1 / max(||k||, b_eps)
// come from the K tile each chunk, and scale W's columns and K^T's fragments in the state
// update (S = sum of r k v^T).
// KIND kDq: the causal DQ pass at head dim 64 with three products, by the same steps. With DQ's
// roles (a = dO, b = v, c = k), dq_i = a1 / den_i (sum_{j <= i} (<dO_i, v_j> - go_i) k_j): the
// forward's sum with -a1 go_i as row i's a0 (so W's weights are a1 (<dO_i, v_j> - go_i) and
// a0 sigma is -a1 go_i times the sum of the earlier k_j), divided by the forward's den
// (Params::den) instead of its own. Its truncated splits leave dq ~2e-6 from the float64
// formula where mma.sync's rounded ones leave ~1e-6 (PERF.md v28).
// KIND kDv: the causal DV pass likewise, reversed in time (the host gives every row pointer at
// token n - 1 and negated token strides): dv_j = sum_{i >= j} (a0 + a1 <k_j, q_i>) dO_i / den_i
// is the forward's sum with a = k, b = q and c = dO, with a term a0 / den_i per key in place of
// a0 and the key scales 1 / den_i (as DK's below; token t of the pass is n - 1 - t of den), and
// no division of out. With token normalisation the raw q's row scales, taken from its tiles,
// multiply the key scales. One query head per key/value head.
// KIND kDk: the causal DK pass likewise reversed: dk_j = a1 sum_{i >= j} (<dO_i, v_j> - go_i)
// q_i / den_i is the forward's sum with a = v, b = dO, c = q, the key scales (kNormK's) 1 / den_i
// and a term per key, t_i = -a1 go_i / den_i, added to W's column i where a0 would be added to
// its rows; sigma then sums the earlier c rows weighted by t (and out adds it, a0 as 1), with no
// division. With token normalisation q is raw and Params::nq_rnorm its row scales, which
// multiply the key terms and scales. One query head per key/value head.
#include <atomic>

#include "chunk_kernel.cuh"

namespace fastmax {
namespace {

// The tiles of head dim D (64 or 128), in floats; PARTS 1 (one product) or 2 (three products:
// each stage's tiles and S^T again for the low parts, LO floats after the high ones); STAGES 2
// (the next chunk's tiles copied while this one's products run) or 1 (DK and DV: two blocks per
// SM).
template <int D, int PARTS, int STAGES>
struct Tf32Shape {
  static constexpr int QT = D / kTf32TilesPerHead;  // output columns per block
  static constexpr int NV = QT + 8;              // V^T's rows: QT columns, ones, 7 zeros
  static constexpr int TILE_QK = kChunk * D;     // Q or K: 64 tokens x D columns
  static constexpr int TILE_V = NV * kChunk;     // V^T: NV rows x 64 tokens
  static constexpr int LO = 2 * TILE_QK + TILE_V;
  static constexpr int STAGE = PARTS * LO;
  static constexpr int STATE = NV * D;           // S^T: NV rows x D columns
  static constexpr size_t SMEM = (STAGES * STAGE + PARTS * STATE + NV + 2 * kChunk) * sizeof(float);
  static_assert(LO * sizeof(float) % 1024 == 0, "tiles keep the swizzle's 1024-byte atoms");
  static_assert(SMEM <= 227 * 1024, "the tiles fit in an SM's shared memory");
};
// The kernel's body exists in the sm_90a pass only; elsewhere a stub declared for one warp, so
// that its attributes tell the host it cannot run (launch_tf32_fwd_available).
#if !defined(__CUDA_ARCH__) || FASTMAX_WGMMA
constexpr int kThreads = 128;
#else
constexpr int kThreads = 32;
#endif

#if FASTMAX_WGMMA
// Float (r, c) of a K-major float32 tile of `rows` rows in the 128-byte swizzle: column blocks
// of 32 floats (rows x 128 bytes each), the eight 16-byte pieces of row r permuted by r % 8.
__device__ __forceinline__ int sw32(int rows, int r, int c) {
  return (c >> 5) * (rows * 32) + r * 32 + ((((c >> 2) & 7) ^ (r & 7)) << 2) + (c & 3);
}
// Descriptor of the k8 slice from column k0 of such a tile (8-row groups 1024 bytes apart).
__device__ __forceinline__ uint64_t desc32(const float* tile, int rows, int k0) {
  const uint32_t off = uint32_t((k0 >> 5) * rows * 32 * 4 + ((k0 & 31) >> 2) * 16);
  return desc_advance(wgmma_desc(tile, 16, 1024, 1), off);
}
#endif

#if FASTMAX_WGMMA
// x's low part for three products, x - trunc(x) (exact).
__device__ __forceinline__ float tf32_low(float x) { return x - __uint_as_float(tf32_trunc(x)); }
// A fragments of three products from registers: fresh high parts (A registers must stay put
// while the products run), and the low parts.
__device__ __forceinline__ void split_tf32(const float (&x)[4], uint32_t (&hi)[4],
                                           uint32_t (&lo)[4]) {
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    hi[e] = tf32_trunc(x[e]);
    lo[e] = __float_as_uint(tf32_low(x[e]));
  }
}

// The sum of squares of row r of a 64-token Q or K tile of D floats, by r's two lanes (h = 0,
// 1, neighbours in the warp) taking alternate 16-byte pieces, so that the pair hits distinct
// banks; both lanes get it.
template <int D>
__device__ __forceinline__ float row_squares(const float* tile, int r, int h) {
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < D / 8; ++i) {
    const float4 x = *reinterpret_cast<const float4*>(tile + sw32(kChunk, r, 8 * i + 4 * h));
    ss = fmaf(x.x, x.x, fmaf(x.y, x.y, fmaf(x.z, x.z, fmaf(x.w, x.w, ss))));
  }
  return ss + __shfl_xor_sync(0xffffffffu, ss, 1);
}
#endif

template <int D, bool kNorm, bool kNormK, int PARTS, Kind KIND, int STAGES>
__global__ void __launch_bounds__(kThreads, 3 - STAGES) tf32_fwd_kernel(const Params p) {
#if FASTMAX_WGMMA
  static_assert(STAGES == 2 || D == 64, "one stage at head dim 64 only (one batch of v)");
  using S = Tf32Shape<D, PARTS, STAGES>;
  constexpr bool kThree = PARTS == 2;
  constexpr int QT = S::QT, NV = S::NV, LO = S::LO;
  constexpr int NT = NV / 8, MT = D / 64;  // n-tiles of out and S; m-tiles of S (its dims)
  // DK and DV: per key, a term in place of a0 (kKeyTerms) and a scale of W's a1 term and of
  // K^T's fragments (kKeyScales, as kNormK's), taken each chunk.
  constexpr bool kKeyTerms = KIND == kDk || KIND == kDv;
  constexpr bool kKeyScales = kNormK || kKeyTerms;
  constexpr int kTileQk = S::TILE_QK, kStage = S::STAGE, kState = S::STATE;
  extern __shared__ __align__(1024) unsigned char raw[];
  float* smem = reinterpret_cast<float*>(raw);
  // a1 S^T of the chunks before the current one (and its low part, kState floats after, with
  // three products); sigma, the sum of v's rows (and the token count) before it; with
  // kKeyScales the scales of the current chunk's rows of k (kNormK) or keys (DK, DV).
  float* s_state = smem + STAGES * kStage;
  float* s_sigma = s_state + PARTS * kState;
  float* s_rk = s_sigma + NV;
  float* s_tk = s_rk + kChunk;  // DK and DV: their terms per key
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.x / (D / QT), q0 = (blockIdx.x % (D / QT)) * QT;
  const int b = bh / p.heads_a, h = bh % p.heads_a, hkv = h / p.group, n = p.n;
  const float a0 = p.a0, a1 = p.a1_heads ? p.a1_heads[b * p.heads_bc + hkv] : p.a1;
  const float* q = static_cast<const float*>(p.a) + b * p.a_sb + h * p.a_sh;
  const float* k = static_cast<const float*>(p.b) + b * p.b_sb + hkv * p.b_sh;
  const float* v = static_cast<const float*>(p.c) + b * p.c_sb + hkv * p.c_sh;
  float* out = static_cast<float*>(p.out) + b * p.o_sb + h * p.o_sh;
  float* den_out = KIND == kFwd ? p.den_out + int64_t(bh) * n : nullptr;
  const int n_chunks = (n + kChunk - 1) / kChunk;

  for (int i = tid; i < PARTS * kState + NV; i += kThreads) s_state[i] = 0.f;
  for (int st = 0; st < STAGES; ++st) {  // V^T's rows QT .. QT + 7: ones, then zeros (low part: 0)
    float* vt = smem + st * kStage + 2 * kTileQk;
    for (int i = tid; i < 8 * kChunk; i += kThreads) {
      vt[sw32(NV, QT + i / kChunk, i % kChunk)] = i < kChunk ? 1.f : 0.f;
      if constexpr (kThree) vt[LO + sw32(NV, QT + i / kChunk, i % kChunk)] = 0.f;
    }
  }

  // Copies of chunk ck's Q and K into stage st: 16 bytes at column 4 (tid % (D / 4)) of rows
  // tid / (D / 4) + 8 a + RS c (RS rows per pass of the block), whose swizzle depends on c
  // only. V goes through registers (load_v, store_v): column tid % QT, positions
  // PP (tid / QT) + c (c < PP) of each 8-token group of V^T's row for it; position x holds
  // token 2 x of the group, and x + 4 token 2 x + 1.
  constexpr int RS = kThreads / (D / 4), PP = 8 * QT / kThreads;
  const int qk_col = 4 * (tid % (D / 4)), qk_row = tid / (D / 4);
  const int v_col = tid % QT, v_pos = PP * (tid / QT);
  int qk_dst[8 / RS];
  for (int c = 0; c < 8 / RS; ++c) qk_dst[c] = sw32(kChunk, qk_row + RS * c, qk_col);
  auto load = [&](int st, int ck) {
    float* sq = smem + st * kStage;
    float* sk = sq + kTileQk;
    const int row0 = ck * kChunk + qk_row;
#pragma unroll 2
    for (int a = 0; a < kChunk / 8; ++a)
#pragma unroll
      for (int c = 0; c < 8 / RS; ++c) {
        const int row = row0 + 8 * a + RS * c;
        const bool valid = row < n;
        const int64_t at = valid ? row : 0;
        cp_async16(sq + qk_dst[c] + 256 * a, q + at * p.a_sn + qk_col, valid);
        cp_async16(sk + qk_dst[c] + 256 * a, k + at * p.b_sn + qk_col, valid);
      }
  };
  // With three products, once this thread's copies into stage st have landed: the low parts of
  // the pieces they brought (a thread sees its own cp.async writes after the wait, so no
  // barrier; the step's closing one publishes them).
  auto split_own = [&](int st) {
    float* sq = smem + st * kStage;
#pragma unroll
    for (int m = 0; m < 2; ++m)
#pragma unroll
      for (int a = 0; a < kChunk / 8; ++a)
#pragma unroll
        for (int c = 0; c < 8 / RS; ++c) {
          float* x = sq + m * kTileQk + qk_dst[c] + 256 * a;
          const float4 y = *reinterpret_cast<const float4*>(x);
          *reinterpret_cast<float4*>(x + LO) =
              make_float4(tf32_low(y.x), tf32_low(y.y), tf32_low(y.z), tf32_low(y.w));
        }
  };
  // This thread's v elements of batch `half` of chunk ck's 8-token groups (zero past n) into
  // vr, then stored in stage st rounded to TF32 (cvt.rna; the unit would truncate them, and out,
  // a weighted mean of v's rows, would keep truncation's bias toward zero), one 16- or 8-byte
  // piece per group (and one of the low parts with three products). Head dim 64 takes the
  // chunk in one batch, loaded at the step's start; 128 in two, the first loaded once W V has
  // freed W's registers, the second after the output's stores (its registers allow no more at
  // once).
  constexpr int kVBatches = D == 64 ? 1 : 2, G = kChunk / 8 / kVBatches;
  using Piece = std::conditional_t<PP == 4, float4, float2>;
  static_assert(PP * sizeof(float) == sizeof(Piece), "one piece per 8-token group");
  float vr[G][PP];
  auto load_v = [&](int ck, int half) {
#pragma unroll
    for (int a = 0; a < G; ++a)
#pragma unroll
      for (int c = 0; c < PP; ++c) {
        const int x = v_pos + c, tok = ck * kChunk + 8 * (G * half + a) + 2 * (x & 3) + (x >> 2);
        vr[a][c] = tok < n ? __ldg(v + tok * p.c_sn + q0 + v_col) : 0.f;
      }
  };
  auto store_v = [&](int st, int half) {
    float* vt = smem + st * kStage + 2 * kTileQk;
#pragma unroll
    for (int a = 0; a < G; ++a) {
      Piece piece, low;
      float* f = reinterpret_cast<float*>(&piece);
      float* l = reinterpret_cast<float*>(&low);
#pragma unroll
      for (int c = 0; c < PP; ++c) {
        f[c] = kThree ? vr[a][c] : __uint_as_float(to_tf32(vr[a][c]));
        l[c] = tf32_low(vr[a][c]);
      }
      const int at = sw32(NV, v_col, 8 * (G * half + a) + v_pos);
      *reinterpret_cast<Piece*>(vt + at) = piece;
      if constexpr (kThree) *reinterpret_cast<Piece*>(vt + LO + at) = low;
    }
  };

  // Per-thread parts of two patterns of swizzled offsets, for e, u in {0, 1}: K's float at
  // token 8 j + 2 t + u and dim 64 mt + 16 warp + g + 8 e is sk[kt_off[e][u] + 4096 mt + 256 j],
  // and S^T's at column 8 j + 2 t + u and that dim is
  // s_state[st_off[e][u] + 64 NV mt + 256 j] (sw32 with the terms that depend on j and mt
  // separated out).
  int kt_off[2][2], st_off[2][2];
  for (int e = 0; e < 2; ++e)
    for (int u = 0; u < 2; ++u) {
      const int x = ((((4 * warp + (g >> 2) + 2 * e) & 7) ^ (2 * t + u)) << 2) + (g & 3);
      kt_off[e][u] = (warp >> 1) * (kChunk * 32) + 64 * t + 32 * u + x;
      st_off[e][u] = (warp >> 1) * (NV * 32) + 64 * t + 32 * u + x;
    }
  // DQ, DK and DV: chunk ck's factors from global memory, loaded a step ahead so that their
  // latency hides under the previous step. DQ: go and den of rows 16 warp + g and + 8 (0 and
  // 1 past n); DK and DV: den, go and q's row scale (Params::nq_rnorm, else 1) of key tid / 2,
  // token n - 1 - (ck kChunk + tid / 2) of the forward (1, 0 and 1 past n).
  float fac[4] = {}, fac_next[4] = {};
  const auto load_factors = [&](float (&f)[4], int ck) {
    if constexpr (KIND == kDq) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int row = ck * kChunk + 16 * warp + g + 8 * e;
        const int64_t at = int64_t(bh) * n + row;
        f[e] = row < n ? p.go[at] : 0.f;
        f[2 + e] = row < n ? p.den[at] : 1.f;
      }
    } else if constexpr (kKeyTerms) {
      const int row = ck * kChunk + (tid >> 1);
      const int64_t at = int64_t(bh) * n + (n - 1 - row);
      f[0] = row < n ? p.den[at] : 1.f;
      f[1] = KIND == kDk && row < n ? p.go[at] : 0.f;
      f[2] = KIND == kDk && p.nq_rnorm && row < n ? p.nq_rnorm[at] : 1.f;
    }
  };
  if constexpr (KIND != kFwd) load_factors(fac, 0);
  float s[MT][NT][4];  // this chunk's K^T V, dims 64 mt + ..., NV columns
  load(0, 0);
  cp_async_commit();
  for (int half = 0; half < kVBatches; ++half) {
    load_v(0, half);
    store_v(0, half);
  }
  if constexpr (kThree) {
    cp_async_wait<0>();
    split_own(0);
  }
  for (int ck = 0; ck < n_chunks; ++ck) {
    const int st = STAGES == 1 ? 0 : ck & 1;
    if (STAGES == 2 && ck + 1 < n_chunks) load(st ^ 1, ck + 1);
    cp_async_commit();
    const bool next = ck + 1 < n_chunks;  // v of the next chunk goes to stage st ^ 1 (or 0)
    if (kVBatches == 1 && next) load_v(ck + 1, 0);
    if (KIND != kFwd && next) load_factors(fac_next, ck + 1);
    cp_async_wait<1>();
    fence_proxy_async();
    __syncthreads();
    const float* sq = smem + st * kStage;
    const float* sk = sq + kTileQk;
    const float* vt = sk + kTileQk;
    const auto a0_rows = [&](float (&a0r)[2], float (&rq)[2]) {
      a0r[0] = a0r[1] = a0;
      rq[0] = rq[1] = 1.f;
      if constexpr (kKeyTerms) a0r[0] = a0r[1] = 1.f;  // sigma is weighted by t already
      if constexpr (KIND == kDq) {  // -a1 go of rows 16 warp + g and + 8
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          a0r[e] = -a1 * fac[e];
        }
      }
      if constexpr (kNorm) {  // rows 16 warp + g and + 8: lanes 2 g and 2 g + 16 hold them
        const float ss = row_squares<D>(sq, 16 * warp + (lane >> 1), lane & 1);
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float m = clamped_norm(__shfl_sync(0xffffffffu, ss, 2 * g + 16 * e), p.a_eps);
          a0r[e] = a0 * m;
          rq[e] = rcp_fast(m);
        }
      }
    };

    // The state update's A fragments: K^T's rows 64 mt + ... (dims) at this chunk's tokens, in
    // V^T's order (position t of group j: token 8 j + 2 t; t + 4: 8 j + 2 t + 1).
    auto state_update = [&](float (&acc)[NT][4], int mt) {
#pragma unroll
      for (int j = 0; j < kChunk / 8; ++j) {
        const float* kt = sk + 4096 * mt + 256 * j;
        const float2 r = kKeyScales ? *reinterpret_cast<const float2*>(s_rk + 8 * j + 2 * t)
                                : make_float2(1.f, 1.f);  // tokens 8 j + 2 t and + 1
        const float x[4] = {kt[kt_off[0][0]] * r.x, kt[kt_off[1][0]] * r.x,
                            kt[kt_off[0][1]] * r.y, kt[kt_off[1][1]] * r.y};
        if constexpr (kThree) {
          uint32_t hi[4], lo[4];
          split_tf32(x, hi, lo);
          wgmma_rs_tf32(acc, hi, desc32(vt, NV, 8 * j), j > 0);
          wgmma_rs_tf32(acc, lo, desc32(vt, NV, 8 * j), 1);
          wgmma_rs_tf32(acc, hi, desc32(vt + LO, NV, 8 * j), 1);
        } else {
          const uint32_t a[4] = {__float_as_uint(x[0]), __float_as_uint(x[1]),
                                 __float_as_uint(x[2]), __float_as_uint(x[3])};
          wgmma_rs_tf32(acc, a, desc32(vt, NV, 8 * j), j > 0);
        }
      }
    };
    // Groups: W, Q S, the state's first 64 dims; then W V; then its last 64 dims (head dim 128).
    // Each wait frees registers (W's accumulators become W V's A fragments; a state half's
    // fragments).
    float w[8][4], o[NT][4];  // written by their first products (accumulate = 0)
    const float* sq_lo = sq + LO;
    const float* sk_lo = sk + LO;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D; kk += 8)
      wgmma_ss_tf32(w, desc32(sq, kChunk, kk), desc32(sk, kChunk, kk), kk > 0);
    if constexpr (kThree) {
#pragma unroll
      for (int kk = 0; kk < D; kk += 8) {
        wgmma_ss_tf32(w, desc32(sq_lo, kChunk, kk), desc32(sk, kChunk, kk), 1);
        wgmma_ss_tf32(w, desc32(sq, kChunk, kk), desc32(sk_lo, kChunk, kk), 1);
      }
    }
    wgmma_commit();
#pragma unroll
    for (int kk = 0; kk < D; kk += 8)
      wgmma_ss_tf32(o, desc32(sq, kChunk, kk), desc32(s_state, NV, kk), kk > 0);
    if constexpr (kThree) {
#pragma unroll
      for (int kk = 0; kk < D; kk += 8) {
        wgmma_ss_tf32(o, desc32(sq_lo, kChunk, kk), desc32(s_state, NV, kk), 1);
        wgmma_ss_tf32(o, desc32(sq, kChunk, kk), desc32(s_state + kState, NV, kk), 1);
      }
    }
    wgmma_commit();
    if constexpr (kKeyTerms) {  // while those run: the scales and terms of the chunk's keys
      // DV: r / den and a0 / den, r q's row scale from its tile (kNormK) or 1; DK: r / den and
      // -a1 go r / den, r q's row scale (fac) or 1. Two threads a key.
      const float ss = kNormK && KIND == kDv ? row_squares<D>(sk, tid >> 1, tid & 1) : 0.f;
      const int key = tid >> 1;
      if ((tid & 1) == 0) {
        float r = fac[2];
        if constexpr (KIND == kDv && kNormK) r = rcp_fast(clamped_norm(ss, p.b_eps));
        const float inv = ck * kChunk + key < n ? rcp_fast(fac[0]) : 0.f;
        s_rk[key] = r * inv;
        s_tk[key] = KIND == kDv ? a0 * inv : -a1 * fac[1] * r * inv;
      }
      __syncthreads();  // published block-wide
    } else if constexpr (kNormK) {  // while those run: k's row scales, two threads a row
      const float ss = row_squares<D>(sk, tid >> 1, tid & 1);
      if ((tid & 1) == 0) s_rk[tid >> 1] = rcp_fast(clamped_norm(ss, p.b_eps));
      __syncthreads();  // published block-wide
    }
    state_update(s[0], 0);
    wgmma_commit();
    float a0r[2], rq[2];  // a0 (a0 m with kNorm) and 1 / m of rows 16 warp + g and + 8
    a0_rows(a0r, rq);
    wgmma_wait<2>();  // W's products done (Q S's and the state's may run on)
    wgmma_fence_operand(w);
    // W's weights a0 + a1 <q, k> within the causal triangle (key column <= query row); with
    // kNormK, <q, k> times the key's scale; DK adds its key's term t in place of a0.
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float2 rk = kKeyScales ? *reinterpret_cast<const float2*>(s_rk + 8 * j + 2 * t)
                                   : make_float2(1.f, 1.f);
      const float2 tk = kKeyTerms ? *reinterpret_cast<const float2*>(s_tk + 8 * j + 2 * t)
                                  : make_float2(0.f, 0.f);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = 16 * warp + g + 8 * (e >> 1), c = 8 * j + 2 * t + (e & 1);
        const float base = kKeyTerms ? ((e & 1) ? tk.y : tk.x) : a0r[e >> 1];
        w[j][e] = c <= r ? base + a1 * ((e & 1) ? rk.y : rk.x) * w[j][e] : 0.f;
      }
    }
    wgmma_fence();
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      if constexpr (kThree) {
        uint32_t hi[4], lo[4];
        split_tf32({w[j][0], w[j][2], w[j][1], w[j][3]}, hi, lo);
        wgmma_rs_tf32(o, hi, desc32(vt, NV, 8 * j), 1);
        wgmma_rs_tf32(o, lo, desc32(vt, NV, 8 * j), 1);
        wgmma_rs_tf32(o, hi, desc32(vt + LO, NV, 8 * j), 1);
      } else {
        const uint32_t a[4] = {to_tf32(w[j][0]), to_tf32(w[j][2]), to_tf32(w[j][1]),
                               to_tf32(w[j][3])};
        wgmma_rs_tf32(o, a, desc32(vt, NV, 8 * j), 1);
      }
    }
    wgmma_commit();
    if (kThree && STAGES == 2 && next) {  // while W V runs: the next stage's low parts
      cp_async_wait<0>();
      split_own(st ^ 1);
    }
    if constexpr (MT == 2) {
      wgmma_wait<1>();
      state_update(s[1], 1);
      wgmma_commit();
      wgmma_wait<1>();
    } else {
      wgmma_wait<0>();
    }
    wgmma_fence_operand(o);
    if (kVBatches == 2 && next) load_v(ck + 1, 0);

    // out = (o + a0 sigma) / den, den the ones column's (lane t == 0 holds column QT); for DQ
    // the forward's den (Params::den); for DV none.
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = ck * kChunk + 16 * warp + g + 8 * half;
      const float a0h = a0r[half];
      float den = 1.f;
      if constexpr (KIND == kFwd) {
        den = __shfl_sync(0xffffffffu, o[NT - 1][2 * half] + a0h * s_sigma[QT], lane & ~3);
      }
      if (row >= n) continue;
      if constexpr (KIND == kDq) den = fac[2 + half];
      const float inv = KIND == kDv || KIND == kDk ? 1.f : 1.f / den;
      float* y = out + int64_t(row) * p.o_sn + q0;
#pragma unroll
      for (int j = 0; j < NT - 1; ++j) {
        const int c = 8 * j + 2 * t;
        *reinterpret_cast<float2*>(y + c) =
            make_float2((o[j][2 * half] + a0h * s_sigma[c]) * inv,
                        (o[j][2 * half + 1] + a0h * s_sigma[c + 1]) * inv);
      }
      if (KIND == kFwd && q0 == 0 && t == 0) {
        den_out[row] = kNorm ? den * rq[half] : den;
        if (kNorm) p.rnorm_out[int64_t(bh) * n + row] = rq[half];
      }
    }
    if (kVBatches == 2 && next) {  // head dim 128: two stages
      store_v(st ^ 1, 0);
      load_v(ck + 1, 1);
    }
    wgmma_wait<0>();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) wgmma_fence_operand(s[mt]);
    // fn(element, its S^T offset) for each of this thread's elements of the chunk's state.
    const auto each_state = [&](auto&& fn) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            fn(s[mt][j][e], st_off[e >> 1][e & 1] + 64 * NV * mt + 256 * j);
    };
    // S^T's new elements: this thread's own, which it alone writes, read before the barrier.
    each_state([&](float& x, int at) { x = s_state[at] + a1 * x; });
    __syncthreads();  // sigma read and the products' reads of S^T done, block-wide
    each_state([&](float& x, int at) {
      s_state[at] = x;
      if constexpr (kThree) s_state[kState + at] = tf32_low(x);
    });
    {  // sigma += this chunk's column sums: V^T's row tid / TR, part tid % TR of its tokens
      constexpr int TR = kThreads / QT, PART = kChunk / TR;
      const int row = tid / TR, p0 = PART * (tid % TR);
      float sum = 0.f;
#pragma unroll
      for (int c = 0; c < PART; c += 4) {
        const float4 x = *reinterpret_cast<const float4*>(vt + sw32(NV, row, p0 + c));
        if constexpr (kKeyTerms) {  // weighted by t: positions p0 + c.. hold tokens t0 + 2 e
          const int t0 = ((p0 + c) & ~7) + (((p0 + c) >> 2) & 1);
          sum += (x.x * s_tk[t0] + x.y * s_tk[t0 + 2]) + (x.z * s_tk[t0 + 4] + x.w * s_tk[t0 + 6]);
        } else {
          sum += (x.x + x.y) + (x.z + x.w);  // with three products the high part is v itself
        }
      }
#pragma unroll
      for (int m = 1; m < TR; m *= 2) sum += __shfl_xor_sync(0xffffffffu, sum, m);
      if (tid % TR == 0) s_sigma[row] += sum;
      if (tid == 0) s_sigma[QT] += float(kChunk);  // the ones row: the token count
    }
    if (STAGES == 2 && next) store_v(st ^ 1, kVBatches - 1);
#pragma unroll
    for (int i = 0; i < 4; ++i) fac[i] = fac_next[i];
    fence_proxy_async();
    __syncthreads();  // before the next step's copies overwrite this stage
    if (STAGES == 1 && next) {  // one stage: the next chunk's tiles once this one's are read
      load(0, ck + 1);
      cp_async_commit();
      store_v(0, 0);
      cp_async_wait<0>();
      if constexpr (kThree) split_own(0);
    }
  }
#endif
}

// Whether the running device has the kernel's sm_90a code (the other targets' stub declares one
// warp), asked once per device: the query takes microseconds, and a forward asks twice.
bool built_for_device() {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  constexpr int kCached = 64;
  static std::atomic<int> known[kCached];  // 0: not asked yet, 1: no, 2: yes
  if (device < kCached) {
    const int k = known[device].load(std::memory_order_relaxed);
    if (k != 0) return k == 2;
  }
  cudaFuncAttributes attr{};
  bool built = false;
  if (cudaFuncGetAttributes(&attr, tf32_fwd_kernel<128, false, false, 1, kFwd, 2>) ==
      cudaSuccess) {
    built = attr.maxThreadsPerBlock >= kThreads;
  } else {
    (void)cudaGetLastError();  // no image of the kernel for this device: clear the error
  }
  if (device < kCached) known[device].store(built ? 2 : 1, std::memory_order_relaxed);
  return built;
}

// Whether DQ's Params are the kernel's: head dim 64, no rows normalised in the pass.
bool dq_shape(const Params& p) { return p.dim == 64 && p.a_eps == 0.f && p.b_eps == 0.f; }

// DK's and DV's shapes: head dim 64, one query head per key/value head, no rows of a to
// normalise.
bool dkdv_shape(const Params& p) { return p.dim == 64 && p.group == 1 && p.a_eps == 0.f; }

// The products' parts: 1 with TF32 allowed, else 2 (three products) at head dim 64; 0 where the
// kernel does not run.
int tf32_parts(const Params& p) {
  if (p.allow_tf32) return p.dim == 64 || p.dim == 128 ? 1 : 0;
  return p.dim == 64 ? 2 : 0;
}

// Stages of a pass's tiles. DK and DV take one: they run side by side on two streams, and with
// two blocks per SM each of their blocks has an SM's partner to hide its waits, where two stages
// left one block per SM and the two passes in two waves (PERF.md v30).
template <Kind KIND>
constexpr int kStagesOf = KIND == kDk || KIND == kDv ? 1 : 2;

// The kernel of a pass: the forward's with a's and b's rows normalised in it or not (a_eps,
// b_eps); DV's with q's row scales taken from its tiles or not (b_eps); DK's with its key
// scales; DQ's.
template <int D, int PARTS, Kind KIND>
auto pass_kernel(const Params& p) {
  constexpr int ST = kStagesOf<KIND>;
  if constexpr (KIND == kFwd) {
    return p.b_eps > 0.f   ? tf32_fwd_kernel<D, true, true, PARTS, kFwd, ST>
           : p.a_eps > 0.f ? tf32_fwd_kernel<D, true, false, PARTS, kFwd, ST>
                           : tf32_fwd_kernel<D, false, false, PARTS, kFwd, ST>;
  } else if constexpr (KIND == kDv) {
    return p.b_eps > 0.f ? tf32_fwd_kernel<D, false, true, PARTS, kDv, ST>
                         : tf32_fwd_kernel<D, false, false, PARTS, kDv, ST>;
  } else if constexpr (KIND == kDk) {
    return tf32_fwd_kernel<D, false, true, PARTS, kDk, ST>;
  } else {
    return tf32_fwd_kernel<D, false, false, PARTS, kDq, ST>;
  }
}

template <int D, int PARTS, Kind KIND = kFwd>
cudaError_t launch_parts(const Params& p, cudaStream_t stream) {
  const auto kernel = pass_kernel<D, PARTS, KIND>(p);
  const size_t smem = Tf32Shape<D, PARTS, kStagesOf<KIND>>::SMEM;
  cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (err != cudaSuccess) return err;
  const int64_t blocks = int64_t(p.batch) * p.heads_a * kTf32TilesPerHead;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  kernel<<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

bool launch_tf32_fwd_available(const Params& p) { return tf32_parts(p) > 0 && built_for_device(); }

cudaError_t launch_tf32_fwd(const Params& p, cudaStream_t stream) {
  const int parts = tf32_parts(p);
  // k is normalised in the pass only with q
  if (parts == 0 || (p.b_eps > 0.f && !(p.a_eps > 0.f))) return cudaErrorInvalidValue;
  if (p.dim == 64) {
    return parts == 2 ? launch_parts<64, 2>(p, stream) : launch_parts<64, 1>(p, stream);
  }
  return launch_parts<128, 1>(p, stream);  // tf32_parts: head dim 128, one product
}

bool launch_tf32_dq_available(const Params& p) { return dq_shape(p) && built_for_device(); }

cudaError_t launch_tf32_dq(const Params& p, cudaStream_t stream) {
  if (!dq_shape(p)) return cudaErrorInvalidValue;
  return launch_parts<64, 2, kDq>(p, stream);
}

bool launch_tf32_dv_available(const Params& p) { return dkdv_shape(p) && built_for_device(); }

cudaError_t launch_tf32_dv(const Params& p, cudaStream_t stream) {
  if (!dkdv_shape(p)) return cudaErrorInvalidValue;
  return launch_parts<64, 2, kDv>(p, stream);
}

cudaError_t launch_tf32_dk(const Params& p, cudaStream_t stream) {
  if (!dkdv_shape(p)) return cudaErrorInvalidValue;
  return launch_parts<64, 2, kDk>(p, stream);
}

}  // namespace fastmax
