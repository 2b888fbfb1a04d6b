// Standalone prototype for issue 9's float32 target (csrc/PERF.md Next, float32): the causal
// Fastmax forward on wgmma with one TF32 product. Head_dim 128, 64-token chunks, one warpgroup
// per (head, 64-column output tile), the ones column beside the tile's columns (N = 72), N a
// multiple of 64, no sequence split, q and k given normalised. Weights a0 + a1 <q, k>.
//
// Per chunk: W = Q K^T and Q S (A and B K-major in shared memory, as the bfloat16 kernels), the
// causal mask, W V with W from registers, and the state update S += K^T V with K^T from
// registers (loaded from K's tile). v is copied transposed (V^T, tokens along K), with each
// 8-token group in the order 0, 2, 4, 6, 1, 3, 5, 7: the accumulator of W then is the TF32 A
// fragment of W V without shuffles, and K^T's fragments are loaded in the same order.
//
// Build: nvcc -std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -I ../../../../csrc tf32_fwd.cu
// Run: ./a.out (checks a small shape against float64, then times B=4 H=16 N=65536).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "wgmma.cuh"
using namespace fastmax;

#include "wrappers.inc"

namespace {

constexpr int D = 128, C = 64, QT = 64, NV = 72, THREADS = 128;
constexpr int TILE = C * D;              // Q or K: 64 tokens x 128 columns (floats)
constexpr int TILE_V = NV * C;           // V^T: 72 rows (64 columns, ones, zeros) x 64 tokens
constexpr int STAGE = 2 * TILE + TILE_V; // floats; 83968 bytes, a multiple of 1024
constexpr int STATE = NV * D;            // S^T: 72 rows x 128 columns
constexpr size_t SMEM = (2 * STAGE + STATE + NV) * sizeof(float);
constexpr float kA0 = 1.f, kA1 = 1.f;

// Float (r, c) of a K-major tile of `rows` rows in the 128-byte swizzle: column blocks of 32
// floats (rows x 128 bytes each), the eight 16-byte pieces of row r permuted by r % 8.
__device__ __forceinline__ int sw(int rows, int r, int c) {
  return (c >> 5) * (rows * 32) + r * 32 + ((((c >> 2) & 7) ^ (r & 7)) << 2) + (c & 3);
}
// Descriptor of the k8 slice from column k0 of such a tile (8-row groups 1024 bytes apart).
__device__ __forceinline__ uint64_t desc(const float* tile, int rows, int k0) {
  const uint32_t off = uint32_t((k0 >> 5) * rows * 32 * 4 + ((k0 & 31) >> 2) * 16);
  return desc_advance(wgmma_desc(tile, 16, 1024, 1), off);
}
__device__ __forceinline__ uint32_t tf32_rna(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ void cp16(float* dst, const float* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src));
}
__device__ __forceinline__ void cp4(float* dst, const float* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr(dst)), "l"(src));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
template <int NT>
__device__ __forceinline__ void fence_acc(float (&d)[NT][4]) {
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j][e])::"memory");
}

__global__ void __launch_bounds__(THREADS, 1)
    fwd_kernel(const float* __restrict__ q, const float* __restrict__ k,
               const float* __restrict__ v, float* __restrict__ out, float* __restrict__ den_out,
               int n) {
  extern __shared__ __align__(1024) unsigned char raw[];
  float* smem = reinterpret_cast<float*>(raw);
  float* s_state = smem + 2 * STAGE;  // a1 S^T of the chunks before the current one
  float* s_sigma = s_state + STATE;   // the sum of v's rows (and the token count) before it
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int head = blockIdx.x / (D / QT), q0 = (blockIdx.x % (D / QT)) * QT;
  const int64_t head_off = int64_t(head) * n * D;
  const int n_chunks = n / C;

  for (int i = tid; i < STATE + NV; i += THREADS) s_state[i] = 0.f;
  for (int st = 0; st < 2; ++st) {  // V^T's rows 64 .. 71: ones, then zeros
    float* vt = smem + st * STAGE + 2 * TILE;
    for (int i = tid; i < 8 * C; i += THREADS) vt[sw(NV, 64 + i / C, i % C)] = i < C ? 1.f : 0.f;
  }

  // Copies of chunk ck into stage st, with the shared-memory offsets of a thread computed once
  // (kept few: hoisted per copy, they took the registers of the accumulators).
  // Q and K: 16 bytes at column 4 (tid % 32) of rows r = tid / 32 + 8 a + 4 b, whose swizzle
  // depends on b only. V: column tid % 64 of tokens tid / 64 + 8 a + 2 b, at position
  // 8 a + b (+ 4 for odd tokens) of V^T's row for that column.
  const int qk_col = 4 * (tid % 32), qk_row = tid / 32, v_col = tid % 64, v_tok = tid / 64;
  int qk_dst[2];
  for (int b = 0; b < 2; ++b) qk_dst[b] = sw(C, qk_row + 4 * b, qk_col);
  auto load = [&](int st, int ck) {
    float* sq = smem + st * STAGE;
    float* sk = sq + TILE;
    float* vt = sk + TILE;
    const int64_t row0 = head_off + int64_t(ck) * C * D;
    const float* qs = q + row0 + qk_row * D + qk_col;
    const float* ks = k + row0 + qk_row * D + qk_col;
#pragma unroll 2
    for (int a = 0; a < C / 8; ++a)
#pragma unroll
      for (int b = 0; b < 2; ++b) {
        const int off = (8 * a + 4 * b) * D;
        cp16(sq + qk_dst[b] + 256 * a, qs + off);
        cp16(sk + qk_dst[b] + 256 * a, ks + off);
      }
    const float* vs = v + row0 + v_tok * D + q0 + v_col;
#pragma unroll 1
    for (int a = 0; a < C / 8; ++a) {
      float* dst = vt + sw(NV, v_col, 8 * a + 4 * v_tok);
#pragma unroll
      for (int b = 0; b < 4; ++b) cp4(dst + b, vs + (8 * a + 2 * b) * D);
    }
  };

  // Per-thread parts of two patterns of swizzled offsets, for h, u in {0, 1}: K's float at token
  // 8 j + 2 t + u and dim 64 mt + 16 warp + g + 8 h is sk[kt_off[h][u] + 4096 mt + 256 j], and
  // S^T's at column 8 j + 2 t + u and that dim is s_state[st_off[h][u] + 4608 mt + 256 j] (sw()
  // with the terms that depend on j and mt separated out).
  int kt_off[2][2], st_off[2][2];
  for (int h = 0; h < 2; ++h)
    for (int u = 0; u < 2; ++u) {
      const int x = ((((4 * warp + (g >> 2) + 2 * h) & 7) ^ (2 * t + u)) << 2) + (g & 3);
      kt_off[h][u] = (warp >> 1) * (C * 32) + 64 * t + 32 * u + x;
      st_off[h][u] = (warp >> 1) * (NV * 32) + 64 * t + 32 * u + x;
    }
  float s[2][9][4] = {};  // S = K^T V of the chunks so far, dims 64 mt + ..., 72 columns
  load(0, 0);
  cp_commit();
  for (int ck = 0; ck < n_chunks; ++ck) {
    const int st = ck & 1;
    if (ck + 1 < n_chunks) load(st ^ 1, ck + 1);
    cp_commit();
    cp_wait<1>();
    fence_proxy_async();
    __syncthreads();
    const float* sq = smem + st * STAGE;
    const float* sk = sq + TILE;
    const float* vt = sk + TILE;

    // The state update's A fragments: K^T's rows 64 mt + ... (dims) at this chunk's tokens, in
    // V^T's order (position t of group j: token 8 j + 2 t; t + 4: 8 j + 2 t + 1).
    auto state_update = [&](float (&acc)[9][4], int mt) {
#pragma unroll
      for (int j = 0; j < C / 8; ++j) {
        const float* kt = sk + 4096 * mt + 256 * j;
        const uint32_t a[4] = {__float_as_uint(kt[kt_off[0][0]]), __float_as_uint(kt[kt_off[1][0]]),
                               __float_as_uint(kt[kt_off[0][1]]), __float_as_uint(kt[kt_off[1][1]])};
        wg_rs_n72(acc, a, desc(vt, NV, 8 * j));
      }
    };
    // Groups: W, Q S, the state's first 64 dims; then W V; then its last 64 dims. Each wait
    // frees registers (W's accumulators become W V's A fragments; a state half's fragments).
    float w[8][4], o[9][4];  // written by their first products (accumulate = 0)
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D; kk += 8) wg_ss_n64(w, desc(sq, C, kk), desc(sk, C, kk), kk > 0);
    wgmma_commit();
#pragma unroll
    for (int kk = 0; kk < D; kk += 8)
      wg_ss_n72(o, desc(sq, C, kk), desc(s_state, NV, kk), kk > 0);
    wgmma_commit();
    state_update(s[0], 0);
    wgmma_commit();
    wgmma_wait<2>();
    fence_acc(w);
    // W's weights a0 + a1 <q, k> within the causal triangle (key column <= query row).
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = 16 * warp + g + 8 * (e >> 1), c = 8 * j + 2 * t + (e & 1);
        w[j][e] = c <= r ? kA0 + kA1 * w[j][e] : 0.f;
      }
    wgmma_fence();
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const uint32_t a[4] = {tf32_rna(w[j][0]), tf32_rna(w[j][2]), tf32_rna(w[j][1]),
                             tf32_rna(w[j][3])};
      wg_rs_n72(o, a, desc(vt, NV, 8 * j));
    }
    wgmma_commit();
    wgmma_wait<1>();
    state_update(s[1], 1);
    wgmma_commit();
    wgmma_wait<1>();
    fence_acc(o);

    // out = (o + a0 sigma) / den, den the ones column's (lane t == 0 holds column 64).
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = 16 * warp + g + 8 * half;
      const int64_t row = int64_t(head) * n + int64_t(ck) * C + r;
      const float den =
          __shfl_sync(0xffffffffu, o[8][2 * half] + kA0 * s_sigma[QT], lane & ~3);
      const float inv = 1.f / den;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int c = 8 * j + 2 * t;
        float2 y;
        y.x = (o[j][2 * half] + kA0 * s_sigma[c]) * inv;
        y.y = (o[j][2 * half + 1] + kA0 * s_sigma[c + 1]) * inv;
        *reinterpret_cast<float2*>(out + row * D + q0 + c) = y;
      }
      if (q0 == 0 && t == 0) den_out[row] = den;
    }
    wgmma_wait<0>();
    fence_acc(s[0]);
    fence_acc(s[1]);
    __syncthreads();  // sigma read and the products' reads of S^T done, block-wide
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int j = 0; j < 9; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s_state[st_off[e >> 1][e & 1] + 4608 * mt + 256 * j] = kA1 * s[mt][j][e];
    {  // sigma += this chunk's column sums: V^T's row tid / 2, half tid % 2 of its tokens
      const int row = tid / 2, p0 = 32 * (tid % 2);
      float sum = 0.f;
#pragma unroll
      for (int p = 0; p < 32; p += 4) {
        const float4 x = *reinterpret_cast<const float4*>(vt + sw(NV, row, p0 + p));
        sum += (x.x + x.y) + (x.z + x.w);
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      if (tid % 2 == 0) s_sigma[row] += sum;
      if (tid == 0) s_sigma[QT] += float(C);  // the ones row: the token count
    }
    fence_proxy_async();
    __syncthreads();  // before the next step's copies overwrite this stage
  }
}

// Pseudo-random values in [-1, 1) (hash of the index), scaled: the timed run's inputs.
__global__ void fill(float* x, size_t count, uint32_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
    x[i] = scale * (float(h >> 8) / float(1 << 23) - 1.f);
  }
}

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    printf("%s: %s\n", what, cudaGetErrorString(err));
    exit(1);
  }
}

struct Run {
  int heads, n;
  float *q, *k, *v, *out, *den;
};

// Inputs of `heads` heads of n tokens: from the host (q and k rows normalised) when `host` is
// given, else filled on the device (q and k at about unit norm).
Run make(int heads, int n, std::vector<float>* host) {
  const size_t e = size_t(heads) * n * D;
  Run r{heads, n, nullptr, nullptr, nullptr, nullptr, nullptr};
  check(cudaMalloc(&r.q, 3 * e * 4), "malloc");
  r.k = r.q + e, r.v = r.k + e;
  check(cudaMalloc(&r.out, e * 4), "malloc");
  check(cudaMalloc(&r.den, size_t(heads) * n * 4), "malloc");
  if (host == nullptr) {
    const float unit = std::sqrt(3.f / D);  // uniform in [-u, u): E[x^2] = 1 / D
    fill<<<1024, 256>>>(r.q, 2 * e, 1u, unit);
    fill<<<1024, 256>>>(r.v, e, 2u, 1.f);
    check(cudaDeviceSynchronize(), "fill");
    return r;
  }
  std::vector<float> h(3 * e);
  srand(1);
  for (size_t row = 0; row < 3 * size_t(heads) * n; ++row) {
    double ss = 0;
    for (int c = 0; c < D; ++c) {
      const float x = rand() / float(RAND_MAX) * 2.f - 1.f;
      h[row * D + c] = x;
      ss += double(x) * x;
    }
    if (row < 2 * size_t(heads) * n)  // q and k rows normalised
      for (int c = 0; c < D; ++c) h[row * D + c] = float(h[row * D + c] / std::sqrt(ss));
  }
  check(cudaMemcpy(r.q, h.data(), 3 * e * 4, cudaMemcpyHostToDevice), "copy");
  *host = std::move(h);
  return r;
}

void launch(const Run& r) {
  fwd_kernel<<<r.heads * (D / QT), THREADS, SMEM>>>(r.q, r.k, r.v, r.out, r.den, r.n);
}

}  // namespace

int main() {
  check(cudaFuncSetAttribute(fwd_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(SMEM)),
        "smem attribute");
  // Check: 3 heads of 256 tokens against the float64 formula.
  {
    const int heads = 3, n = 256;
    std::vector<float> h;
    Run r = make(heads, n, &h);
    launch(r);
    check(cudaDeviceSynchronize(), "check kernel");
    const size_t e = size_t(heads) * n * D;
    std::vector<float> out(e), den(size_t(heads) * n);
    check(cudaMemcpy(out.data(), r.out, e * 4, cudaMemcpyDeviceToHost), "copy back");
    check(cudaMemcpy(den.data(), r.den, den.size() * 4, cudaMemcpyDeviceToHost), "copy back");
    const float *q = h.data(), *k = q + e, *v = k + e;
    double worst_out = 0, worst_den = 0;
    for (int hd = 0; hd < heads; ++hd)
      for (int i = 0; i < n; ++i) {
        std::vector<double> num(D, 0.0);
        double dn = 0;
        const float* qi = q + (size_t(hd) * n + i) * D;
        for (int j = 0; j <= i; ++j) {
          const float* kj = k + (size_t(hd) * n + j) * D;
          const float* vj = v + (size_t(hd) * n + j) * D;
          double s = 0;
          for (int c = 0; c < D; ++c) s += double(qi[c]) * kj[c];
          const double wgt = kA0 + kA1 * s;
          dn += wgt;
          for (int c = 0; c < D; ++c) num[c] += wgt * vj[c];
        }
        const size_t row = size_t(hd) * n + i;
        worst_den = std::max(worst_den, std::fabs(den[row] - dn) / dn);
        for (int c = 0; c < D; ++c)
          worst_out = std::max(worst_out, std::fabs(out[row * D + c] - num[c] / dn));
      }
    printf("check (3 heads, N=256, v in [-1, 1)): out max abs error %.3e, den max rel error %.3e\n",
           worst_out, worst_den);
  }
  // Time: B=4 x H=16 heads, N=65536 (the paper's shape), CUDA events, median of 10 after 3.
  {
    const int heads = 64, n = 65536;
    Run r = make(heads, n, nullptr);
    for (int i = 0; i < 3; ++i) launch(r);
    check(cudaDeviceSynchronize(), "warm-up");
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    std::vector<float> ms;
    for (int i = 0; i < 10; ++i) {
      cudaEventRecord(e0);
      launch(r);
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float x;
      cudaEventElapsedTime(&x, e0, e1);
      ms.push_back(x);
    }
    check(cudaGetLastError(), "timing");
    std::sort(ms.begin(), ms.end());
    printf("time (B=4 H=16 N=65536 D=128, float32, one TF32 product): median %.3f ms (min %.3f)\n",
           ms[5], ms[0]);
  }
  return 0;
}
