// Standalone checks for a float32 wgmma design (issue 9): (1) the TF32 product m64n64k8 with both
// operands K-major in 128-byte-swizzled float32 tiles (the layout the chunk kernels' copies would
// write), against a float64 reference of TF32-rounded and of exact inputs, and the three-product
// split (hi hi + hi lo + lo hi) against the exact one; (2) throughput of m64nNk8 TF32 against
// m64nNk16 bfloat16 in the same run (one warpgroup per block, several blocks per SM).
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <vector>
#include <cuda_bf16.h>
#include "wgmma.cuh"
using namespace fastmax;

#include "wrappers.inc"

// Element (r, c) of a 64-row float32 tile in 128-byte swizzle: column blocks of 32 (8 KB each),
// the eight 16-byte pieces of row r permuted by r % 8.
__device__ __forceinline__ float* sw32(float* tile, int r, int c) {
  return tile + (c >> 5) * (64 * 32) + r * 32 + ((((c >> 2) & 7) ^ (r & 7)) << 2) + (c & 3);
}
__device__ __forceinline__ uint64_t desc32(const float* tile, int k0) {
  const uint32_t off = uint32_t((k0 >> 5) * 64 * 32 * 4 + ((k0 & 31) >> 2) * 16);
  return desc_advance(wgmma_desc(tile, 16, 1024, 1), off);
}
__device__ __forceinline__ float tf32_hi(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
}

// out[0]: one product per step (raw float32 bits given to the TF32 unit); out[1]: inputs
// rounded to TF32 first (cvt.rna); out[2]: three products hi hi + hi lo + lo hi.
__global__ void check(const float* q, const float* k, float* out) {
  extern __shared__ __align__(1024) unsigned char raw[];
  float* sq = reinterpret_cast<float*>(raw);
  float* sk = sq + 64 * 128;
  float* sqh = sk + 64 * 128;
  float* sql = sqh + 64 * 128;
  float* skh = sql + 64 * 128;
  float* skl = skh + 64 * 128;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  for (int i = tid; i < 64 * 128; i += 128) {
    const int r = i / 128, c = i % 128;
    const float a = q[i], b = k[i], ah = tf32_hi(a), bh = tf32_hi(b);
    *sw32(sq, r, c) = a, *sw32(sk, r, c) = b;
    *sw32(sqh, r, c) = ah, *sw32(sql, r, c) = tf32_hi(a - ah);
    *sw32(skh, r, c) = bh, *sw32(skl, r, c) = tf32_hi(b - bh);
  }
  fence_proxy_async();
  __syncthreads();
  float w[3][8][4] = {};
  wgmma_fence();
  for (int kk = 0; kk < 128; kk += 8) {
    mma_tf32_n64(w[0], desc32(sq, kk), desc32(sk, kk));
    mma_tf32_n64(w[1], desc32(sqh, kk), desc32(skh, kk));
    mma_tf32_n64(w[2], desc32(sql, kk), desc32(skh, kk));
    mma_tf32_n64(w[2], desc32(sqh, kk), desc32(skl, kk));
  }
  wgmma_commit();
  wgmma_wait<0>();
  for (int kk = 0; kk < 128; kk += 8) {  // the hi hi part last, smallest terms first
    wgmma_fence();
    mma_tf32_n64(w[2], desc32(sqh, kk), desc32(skh, kk));
    wgmma_commit();
    wgmma_wait<0>();
  }
  for (int v = 0; v < 3; ++v)
    for (int j = 0; j < 8; ++j)
      for (int e = 0; e < 4; ++e) {
        const int row = 16 * warp + g + (e >> 1) * 8, col = 8 * j + 2 * t + (e & 1);
        out[v * 4096 + row * 64 + col] = w[v][j][e];
      }
}

template <int N, bool TF32>
__global__ void __launch_bounds__(128) rate(float* sink, int iters) {
  extern __shared__ __align__(1024) unsigned char raw[];
  float* a = reinterpret_cast<float*>(raw);  // 64 x 32 float32 or 64 x 64 bfloat16: 8 KB
  float* b = a + 64 * 32;                     // N rows: N x 128 bytes
  for (int i = threadIdx.x; i < (64 + N) * 32; i += 128) a[i] = 1e-3f * (i % 7);
  fence_proxy_async();
  __syncthreads();
  float d[N / 8][4] = {};
  const uint64_t da = wgmma_desc(a, 16, 1024, 1), db = wgmma_desc(b, 16, 1024, 1);
  for (int it = 0; it < iters; ++it) {
    wgmma_fence();
#pragma unroll
    for (int rep = 0; rep < 4; ++rep)
#pragma unroll
      for (int s = 0; s < 4; ++s) {  // the four 32-byte k slices of a 128-byte row
        if constexpr (TF32) {
          if constexpr (N == 64) mma_tf32_n64(d, desc_advance(da, 32 * s), desc_advance(db, 32 * s));
          if constexpr (N == 128) mma_tf32_n128(d, desc_advance(da, 32 * s), desc_advance(db, 32 * s));
          if constexpr (N == 256) mma_tf32_n256(d, desc_advance(da, 32 * s), desc_advance(db, 32 * s));
        } else {
          if constexpr (N == 64) mma_bf16_n64(d, desc_advance(da, 32 * s), desc_advance(db, 32 * s));
          if constexpr (N == 128) mma_bf16_n128(d, desc_advance(da, 32 * s), desc_advance(db, 32 * s));
          if constexpr (N == 256) mma_bf16_n256(d, desc_advance(da, 32 * s), desc_advance(db, 32 * s));
        }
      }
    wgmma_commit();
    wgmma_wait<0>();
  }
  float acc = 0.f;
  for (int j = 0; j < N / 8; ++j) acc += d[j][0] + d[j][1] + d[j][2] + d[j][3];
  if (acc == 12345.f) sink[threadIdx.x] = acc;
}

template <int N, bool TF32>
double run_rate(float* sink, int sms, int per_sm) {
  const int smem = (64 + N) * 128;
  auto kern = rate<N, TF32>;
  cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  const int iters = 4000, blocks = sms * per_sm;
  kern<<<blocks, 128, smem>>>(sink, 10);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  float best = 1e30f;
  for (int rep = 0; rep < 5; ++rep) {
    cudaEventRecord(e0);
    kern<<<blocks, 128, smem>>>(sink, iters);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    best = ms < best ? ms : best;
  }
  const double k = TF32 ? 8 : 16;
  const double flop = 2.0 * 64 * N * k * 16 * double(iters) * blocks;
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) { printf("error %s\n", cudaGetErrorString(err)); exit(1); }
  return flop / (best * 1e-3) / 1e12;
}

int main() {
  const int n = 64 * 128;
  std::vector<float> q(n), k(n), out(3 * 4096);
  srand(1);
  for (int i = 0; i < n; ++i) {
    q[i] = (rand() / float(RAND_MAX) - 0.5f) * (i % 5 == 0 ? 1e3f : 1.f);
    k[i] = (rand() / float(RAND_MAX) - 0.5f);
  }
  float *dq, *dk, *dout, *sink;
  cudaMalloc(&dq, n * 4), cudaMalloc(&dk, n * 4), cudaMalloc(&dout, 3 * 4096 * 4), cudaMalloc(&sink, 4096);
  cudaMemcpy(dq, q.data(), n * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dk, k.data(), n * 4, cudaMemcpyHostToDevice);
  const int smem = 6 * n * 4;
  cudaFuncSetAttribute(check, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  check<<<1, 128, smem>>>(dq, dk, dout);
  cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) { printf("check failed: %s\n", cudaGetErrorString(err)); return 1; }
  cudaMemcpy(out.data(), dout, 3 * 4096 * 4, cudaMemcpyDeviceToHost);
  auto trunc = [](float x) { unsigned u; memcpy(&u, &x, 4); u &= 0xFFFFE000u; float y; memcpy(&y, &u, 4); return y; };
  auto rna = [](float x) { unsigned u; memcpy(&u, &x, 4); u += 0x1000u; u &= 0xFFFFE000u; float y; memcpy(&y, &u, 4); return y; };
  double worst[3][3] = {}, scale = 0;  // [variant][reference: exact, truncated, rna]
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 64; ++c) {
      double ex = 0, tr = 0, rn = 0, mag = 0;
      for (int e = 0; e < 128; ++e) {
        const float a = q[r * 128 + e], b = k[c * 128 + e];
        ex += double(a) * b, tr += double(trunc(a)) * trunc(b), rn += double(rna(a)) * rna(b);
        mag += fabs(double(a) * b);
      }
      scale = fmax(scale, mag);
      for (int v = 0; v < 3; ++v) {
        const double got = out[v * 4096 + r * 64 + c];
        worst[v][0] = fmax(worst[v][0], fabs(got - ex));
        worst[v][1] = fmax(worst[v][1], fabs(got - tr));
        worst[v][2] = fmax(worst[v][2], fabs(got - rn));
      }
    }
  const char* names[3] = {"one product, raw float32 bits", "one product, inputs cvt.rna.tf32", "three products (hi hi + hi lo + lo hi)"};
  printf("layout check, W = Q K^T (64 x 128 by 128 x 64), max |error| / max row sum |q k|=%.3g:\n", scale);
  for (int v = 0; v < 3; ++v)
    printf("  %-40s vs exact %.3e  vs truncated-TF32 %.3e  vs rna-TF32 %.3e\n", names[v],
           worst[v][0] / scale, worst[v][1] / scale, worst[v][2] / scale);
  int dev; cudaGetDevice(&dev); int sms; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  printf("throughput (TFLOP/s, dense; one warpgroup per block):\n");
  for (int per_sm : {2, 4}) {
    printf("  blocks/SM %d: n64 tf32 %.0f bf16 %.0f | n128 tf32 %.0f bf16 %.0f | n256 tf32 %.0f bf16 %.0f\n", per_sm,
           run_rate<64, true>(sink, sms, per_sm), run_rate<64, false>(sink, sms, per_sm),
           run_rate<128, true>(sink, sms, per_sm), run_rate<128, false>(sink, sms, per_sm),
           run_rate<256, true>(sink, sms, per_sm), run_rate<256, false>(sink, sms, per_sm));
  }
  return 0;
}
