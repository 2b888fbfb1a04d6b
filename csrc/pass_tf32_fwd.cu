// The causal float32 forward on Hopper's TF32 products (wgmma), one product per step: the
// precision fla and PyTorch give float32 matrix products when TF32 is allowed
// (Params::allow_tf32). Head dim 128, sm_90a builds; launch_pass_f32 takes it for an unsplit
// causal forward where launch_tf32_fwd_available says the kernel was built.
//
// One warpgroup per (batch, head, 64-column output tile), 64-token chunks, two stages of
// cp.async. Per chunk:
//   W   = a0 + a1 Q K^T (causal mask)  Q and K K-major in shared memory, 128-byte swizzle
//   out = Q S + a0 sigma + W V         S^T published K-major, a1 folded in
//   S  += K^T V                        K^T from registers, loaded from K's tile
// with the ones column (den) as V^T's row 64 (N = 72) and sigma, the sum of the earlier rows
// of v (and their count, den's a0 term), in shared memory. wgmma reads 32-bit operands K-major
// only, so v is copied transposed (V^T, tokens along K), each 8-token group in the order 0, 2,
// 4, 6, 1, 3, 5, 7: W's accumulator, which holds columns (2 t, 2 t + 1) of each 8, then is the
// TF32 A fragment of W V (columns t, t + 4) without shuffles, and K^T's fragments are loaded in
// the same order. Tokens past n are zero-filled and their rows not written.
// With Params::a_eps > 0 the rows of q are normalised in the pass, x / max(||x||, a_eps), as
// the bfloat16 forward does: each warp takes its rows' norms m from the Q tile, and the pass
// runs on the raw q with a0 m in place of a0. Out is a ratio, and with q / m every weight,
// a0 + a1 <q / m, k>, is (a0 m + a1 <q, k>) / m, so m cancels from out; den (divided by m) and
// the scales 1 / m (rnorm_out) are stored for the backward.
#include <atomic>

#include "chunk_kernel.cuh"

namespace fastmax {
namespace {

constexpr int kDim = 128, kQt = 64, kNv = 72;
constexpr int kTileQk = kChunk * kDim;         // Q or K: 64 tokens x 128 columns (floats)
constexpr int kTileV = kNv * kChunk;           // V^T: 72 rows (64 columns, ones, zeros) x 64
constexpr int kStage = 2 * kTileQk + kTileV;   // floats; 83968 bytes, a multiple of 1024
constexpr int kState = kNv * kDim;             // S^T: 72 rows x 128 columns
constexpr size_t kSmem = (2 * kStage + kState + kNv) * sizeof(float);  // 205088 bytes
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

template <bool kNorm>
__global__ void __launch_bounds__(kThreads, 1) tf32_fwd_kernel(const Params p) {
#if FASTMAX_WGMMA
  extern __shared__ __align__(1024) unsigned char raw[];
  float* smem = reinterpret_cast<float*>(raw);
  float* s_state = smem + 2 * kStage;  // a1 S^T of the chunks before the current one
  float* s_sigma = s_state + kState;   // the sum of v's rows (and the token count) before it
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.x / (kDim / kQt), q0 = (blockIdx.x % (kDim / kQt)) * kQt;
  const int b = bh / p.heads_a, h = bh % p.heads_a, hkv = h / p.group, n = p.n;
  const float a0 = p.a0, a1 = p.a1_heads ? p.a1_heads[b * p.heads_bc + hkv] : p.a1;
  const float* q = static_cast<const float*>(p.a) + b * p.a_sb + h * p.a_sh;
  const float* k = static_cast<const float*>(p.b) + b * p.b_sb + hkv * p.b_sh;
  const float* v = static_cast<const float*>(p.c) + b * p.c_sb + hkv * p.c_sh;
  float* out = static_cast<float*>(p.out) + b * p.o_sb + h * p.o_sh;
  float* den_out = p.den_out + int64_t(bh) * n;
  const int n_chunks = (n + kChunk - 1) / kChunk;

  for (int i = tid; i < kState + kNv; i += kThreads) s_state[i] = 0.f;
  for (int st = 0; st < 2; ++st) {  // V^T's rows 64 .. 71: ones, then zeros
    float* vt = smem + st * kStage + 2 * kTileQk;
    for (int i = tid; i < 8 * kChunk; i += kThreads)
      vt[sw32(kNv, 64 + i / kChunk, i % kChunk)] = i < kChunk ? 1.f : 0.f;
  }

  // Copies of chunk ck into stage st. Q and K: 16 bytes at column 4 (tid % 32) of rows
  // tid / 32 + 8 a + 4 c, whose swizzle depends on c only. V: column tid % 64 of tokens
  // tid / 64 + 8 a + 2 c, at position 8 a + c (+ 4 for odd tokens) of V^T's row for it.
  const int qk_col = 4 * (tid % 32), qk_row = tid / 32, v_col = tid % 64, v_tok = tid / 64;
  int qk_dst[2];
  for (int c = 0; c < 2; ++c) qk_dst[c] = sw32(kChunk, qk_row + 4 * c, qk_col);
  auto load = [&](int st, int ck) {
    float* sq = smem + st * kStage;
    float* sk = sq + kTileQk;
    float* vt = sk + kTileQk;
    const int row0 = ck * kChunk + qk_row;
#pragma unroll 2
    for (int a = 0; a < kChunk / 8; ++a)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int row = row0 + 8 * a + 4 * c;
        const bool valid = row < n;
        const int64_t at = valid ? row : 0;
        cp_async16(sq + qk_dst[c] + 256 * a, q + at * p.a_sn + qk_col, valid);
        cp_async16(sk + qk_dst[c] + 256 * a, k + at * p.b_sn + qk_col, valid);
      }
    const int tok0 = ck * kChunk + v_tok;
#pragma unroll 1
    for (int a = 0; a < kChunk / 8; ++a) {
      float* dst = vt + sw32(kNv, v_col, 8 * a + 4 * v_tok);
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int tok = tok0 + 8 * a + 2 * c;
        const bool valid = tok < n;
        cp_async4(dst + c, v + (valid ? tok : 0) * p.c_sn + q0 + v_col, valid);
      }
    }
  };

  // Per-thread parts of two patterns of swizzled offsets, for e, u in {0, 1}: K's float at
  // token 8 j + 2 t + u and dim 64 mt + 16 warp + g + 8 e is sk[kt_off[e][u] + 4096 mt + 256 j],
  // and S^T's at column 8 j + 2 t + u and that dim is s_state[st_off[e][u] + 4608 mt + 256 j]
  // (sw32 with the terms that depend on j and mt separated out).
  int kt_off[2][2], st_off[2][2];
  for (int e = 0; e < 2; ++e)
    for (int u = 0; u < 2; ++u) {
      const int x = ((((4 * warp + (g >> 2) + 2 * e) & 7) ^ (2 * t + u)) << 2) + (g & 3);
      kt_off[e][u] = (warp >> 1) * (kChunk * 32) + 64 * t + 32 * u + x;
      st_off[e][u] = (warp >> 1) * (kNv * 32) + 64 * t + 32 * u + x;
    }
  float s[2][9][4] = {};  // S = K^T V of the chunks so far, dims 64 mt + ..., 72 columns
  load(0, 0);
  cp_async_commit();
  for (int ck = 0; ck < n_chunks; ++ck) {
    const int st = ck & 1;
    if (ck + 1 < n_chunks) load(st ^ 1, ck + 1);
    cp_async_commit();
    cp_async_wait<1>();
    fence_proxy_async();
    __syncthreads();
    const float* sq = smem + st * kStage;
    const float* sk = sq + kTileQk;
    const float* vt = sk + kTileQk;
    const auto a0_rows = [&](float (&a0r)[2], float (&rq)[2]) {
      a0r[0] = a0r[1] = a0;
      rq[0] = rq[1] = 1.f;
      if constexpr (kNorm) {  // rows 16 warp + g and + 8: lanes 2 g and 2 g + 16 hold them
        const int r = 16 * warp + (lane >> 1), h = lane & 1;
        float ss = 0.f;
#pragma unroll
        for (int i = 0; i < kDim / 8; ++i) {  // the two lanes of a row alternate 16-byte pieces
          const float4 x = *reinterpret_cast<const float4*>(sq + sw32(kChunk, r, 8 * i + 4 * h));
          ss = fmaf(x.x, x.x, fmaf(x.y, x.y, fmaf(x.z, x.z, fmaf(x.w, x.w, ss))));
        }
        ss += __shfl_xor_sync(0xffffffffu, ss, 1);
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
    auto state_update = [&](float (&acc)[9][4], int mt) {
#pragma unroll
      for (int j = 0; j < kChunk / 8; ++j) {
        const float* kt = sk + 4096 * mt + 256 * j;
        const uint32_t a[4] = {
            __float_as_uint(kt[kt_off[0][0]]), __float_as_uint(kt[kt_off[1][0]]),
            __float_as_uint(kt[kt_off[0][1]]), __float_as_uint(kt[kt_off[1][1]])};
        wgmma_rs_tf32(acc, a, desc32(vt, kNv, 8 * j));
      }
    };
    // Groups: W, Q S, the state's first 64 dims; then W V; then its last 64 dims. Each wait
    // frees registers (W's accumulators become W V's A fragments; a state half's fragments).
    float w[8][4], o[9][4];  // written by their first products (accumulate = 0)
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kDim; kk += 8)
      wgmma_ss_tf32(w, desc32(sq, kChunk, kk), desc32(sk, kChunk, kk), kk > 0);
    wgmma_commit();
#pragma unroll
    for (int kk = 0; kk < kDim; kk += 8)
      wgmma_ss_tf32(o, desc32(sq, kChunk, kk), desc32(s_state, kNv, kk), kk > 0);
    wgmma_commit();
    state_update(s[0], 0);
    wgmma_commit();
    float a0r[2], rq[2];  // a0 (a0 m with kNorm) and 1 / m of rows 16 warp + g and + 8
    a0_rows(a0r, rq);
    wgmma_wait<2>();
    wgmma_fence_operand(w);
    // W's weights a0 + a1 <q, k> within the causal triangle (key column <= query row).
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = 16 * warp + g + 8 * (e >> 1), c = 8 * j + 2 * t + (e & 1);
        w[j][e] = c <= r ? a0r[e >> 1] + a1 * w[j][e] : 0.f;
      }
    wgmma_fence();
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const uint32_t a[4] = {to_tf32(w[j][0]), to_tf32(w[j][2]), to_tf32(w[j][1]),
                             to_tf32(w[j][3])};
      wgmma_rs_tf32(o, a, desc32(vt, kNv, 8 * j));
    }
    wgmma_commit();
    wgmma_wait<1>();
    state_update(s[1], 1);
    wgmma_commit();
    wgmma_wait<1>();
    wgmma_fence_operand(o);

    // out = (o + a0 sigma) / den, den the ones column's (lane t == 0 holds column 64).
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = ck * kChunk + 16 * warp + g + 8 * half;
      const float a0h = a0r[half];
      const float den = __shfl_sync(0xffffffffu, o[8][2 * half] + a0h * s_sigma[kQt], lane & ~3);
      if (row >= n) continue;
      const float inv = 1.f / den;
      float* y = out + int64_t(row) * p.o_sn + q0;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int c = 8 * j + 2 * t;
        *reinterpret_cast<float2*>(y + c) =
            make_float2((o[j][2 * half] + a0h * s_sigma[c]) * inv,
                        (o[j][2 * half + 1] + a0h * s_sigma[c + 1]) * inv);
      }
      if (q0 == 0 && t == 0) {
        den_out[row] = kNorm ? den * rq[half] : den;
        if (kNorm) p.rnorm_out[int64_t(bh) * n + row] = rq[half];
      }
    }
    wgmma_wait<0>();
    wgmma_fence_operand(s[0]);
    wgmma_fence_operand(s[1]);
    __syncthreads();  // sigma read and the products' reads of S^T done, block-wide
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int j = 0; j < 9; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s_state[st_off[e >> 1][e & 1] + 4608 * mt + 256 * j] = a1 * s[mt][j][e];
    {  // sigma += this chunk's column sums: V^T's row tid / 2, half tid % 2 of its tokens
      const int row = tid / 2, p0 = 32 * (tid % 2);
      float sum = 0.f;
#pragma unroll
      for (int c = 0; c < 32; c += 4) {
        const float4 x = *reinterpret_cast<const float4*>(vt + sw32(kNv, row, p0 + c));
        sum += (x.x + x.y) + (x.z + x.w);
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      if (tid % 2 == 0) s_sigma[row] += sum;
      if (tid == 0) s_sigma[kQt] += float(kChunk);  // the ones row: the token count
    }
    fence_proxy_async();
    __syncthreads();  // before the next step's copies overwrite this stage
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
  if (cudaFuncGetAttributes(&attr, tf32_fwd_kernel<false>) == cudaSuccess) {
    built = attr.maxThreadsPerBlock >= kThreads;
  } else {
    (void)cudaGetLastError();  // no image of the kernel for this device: clear the error
  }
  if (device < kCached) known[device].store(built ? 2 : 1, std::memory_order_relaxed);
  return built;
}

}  // namespace

bool launch_tf32_fwd_available(const Params& p) {
  return p.dim == kDim && p.allow_tf32 && p.seg_chunks == 0 && built_for_device();
}

cudaError_t launch_tf32_fwd(const Params& p, cudaStream_t stream) {
  const auto kernel = p.a_eps > 0.f ? tf32_fwd_kernel<true> : tf32_fwd_kernel<false>;
  const cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmem));
  if (err != cudaSuccess) return err;
  const int64_t blocks = int64_t(p.batch) * p.heads_a * (kDim / kQt);
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  kernel<<<static_cast<unsigned>(blocks), kThreads, kSmem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fastmax
