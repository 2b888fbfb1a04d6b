// Standalone check of csrc/wgmma.cuh's layouts: four products against a CPU reference.
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <vector>
#include <cuda_bf16.h>
#include "wgmma.cuh"
using namespace fastmax;
using bf = __nv_bfloat16;
// Q: 64 x 128 (rows M, cols K); Kt: 64 x 128 (tokens x P); C: 64 x 72; S: 128 x 72.
__global__ void kern(const bf* q, const bf* k, const bf* c, const bf* s, float* out) {
  extern __shared__ __align__(1024) unsigned char raw[];
  bf* sq = reinterpret_cast<bf*>(raw);
  bf* sk = sq + 64 * 128;
  bf* sc = sk + 64 * 128;
  bf* ss = sc + 64 * 72;
  int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  for (int i = tid; i < 64 * 128; i += 128) { int r = i / 128, cc = i % 128; *swizzled_at(sq, r, cc) = q[i]; *swizzled_at(sk, r, cc) = k[i]; }
  for (int i = tid; i < 64 * 72; i += 128) { int r = i / 72, cc = i % 72; *core_at(sc, 72, r, cc) = c[i]; }
  for (int i = tid; i < 128 * 72; i += 128) { int r = i / 72, cc = i % 72; *core_at(ss, 72, r, cc) = s[i]; }
  fence_proxy_async();
  __syncthreads();
  float as[9][4] = {}, w[8][4] = {}, st[2][9][4] = {}, wc[9][4] = {};
  wgmma_fence();
  for (int kk = 0; kk < 8; ++kk) {
    wgmma_ss<0, 1>(as, desc_k_major_sw(sq, 16 * kk), desc_mn_major(ss, 72, 16 * kk, 0));
    wgmma_ss<0, 0>(w, desc_k_major_sw(sq, 16 * kk), desc_k_major_sw(sk, 16 * kk));
  }
  for (int kk = 0; kk < 4; ++kk)
    for (int mi = 0; mi < 2; ++mi)
      wgmma_ss<1, 1>(st[mi], desc_mn_major_sw(sk, 16 * kk, 64 * mi), desc_mn_major(sc, 72, 16 * kk, 0));
  wgmma_commit();
  wgmma_wait();
  wgmma_fence_operand(as); wgmma_fence_operand(w); wgmma_fence_operand(st[0]); wgmma_fence_operand(st[1]);
  // W C with W (64 x 64, rounded to bf16) from registers.
  uint32_t a[4][4];
  for (int kk = 0; kk < 4; ++kk) {
    auto pk = [](float x, float y) { __nv_bfloat162 v = __floats2bfloat162_rn(x, y); return *reinterpret_cast<uint32_t*>(&v); };
    a[kk][0] = pk(w[2 * kk][0], w[2 * kk][1]); a[kk][1] = pk(w[2 * kk][2], w[2 * kk][3]);
    a[kk][2] = pk(w[2 * kk + 1][0], w[2 * kk + 1][1]); a[kk][3] = pk(w[2 * kk + 1][2], w[2 * kk + 1][3]);
  }
  wgmma_fence();
  for (int kk = 0; kk < 4; ++kk) wgmma_rs<1>(wc, a[kk], desc_mn_major(sc, 72, 16 * kk, 0));
  wgmma_commit();
  wgmma_wait();
  wgmma_fence_operand(wc);
  // out: [0] A S 64x72, [1] W 64x64, [2] S-update 128x72, [3] W C 64x72
  float* o0 = out; float* o1 = out + 64 * 72; float* o2 = o1 + 64 * 64; float* o3 = o2 + 128 * 72;
  for (int j = 0; j < 9; ++j) for (int e = 0; e < 4; ++e) {
    int r = 16 * warp + g + 8 * (e >> 1), cc = 8 * j + 2 * t + (e & 1);
    o0[r * 72 + cc] = as[j][e]; o3[r * 72 + cc] = wc[j][e];
    for (int mi = 0; mi < 2; ++mi) o2[(64 * mi + r) * 72 + cc] = st[mi][j][e];
    if (j < 8) o1[r * 64 + cc] = w[j][e];
  }
}
// Cycles per wgmma of a chain of 8 (one k loop), REPS times: each block times its own loop.
template <int TA, int TB, bool WAIT_EACH>
__global__ void bench(float* sink, long long* cycles) {
  extern __shared__ __align__(1024) unsigned char raw[];
  bf* sa = reinterpret_cast<bf*>(raw);
  bf* sb = sa + 128 * 128;
  for (int i = threadIdx.x; i < 128 * 128 + 128 * 72; i += 128) sa[i] = __float2bfloat16(0.001f * (i % 7));
  fence_proxy_async();
  __syncthreads();
  float acc[9][4] = {};
  long long t0 = clock64();
  for (int rep = 0; rep < 256; ++rep) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 8; ++kk) {
      const uint64_t a = TA ? desc_mn_major_sw(sa, 16 * kk, 0) : desc_k_major_sw(sa, 16 * kk);
      const uint64_t b = desc_mn_major(sb, 72, 16 * kk, 0);
      wgmma_ss<TA, TB>(acc, a, b);
    }
    wgmma_commit();
    if (WAIT_EACH) wgmma_wait();
  }
  wgmma_wait();
  wgmma_fence_operand(acc);
  long long t1 = clock64();
  float x = 0;
  for (int j = 0; j < 9; ++j) for (int e = 0; e < 4; ++e) x += acc[j][e];
  sink[blockIdx.x * 128 + threadIdx.x] = x;
  if (threadIdx.x == 0) cycles[blockIdx.x] = t1 - t0;
}
template <int TA, int TB, bool W>
void run_bench(const char* name, int blocks) {
  float* sink; long long* cyc;
  cudaMalloc(&sink, blocks * 128 * 4); cudaMalloc(&cyc, blocks * 8);
  const int smem = (128 * 128 + 128 * 72) * 2;
  cudaFuncSetAttribute(bench<TA, TB, W>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  bench<TA, TB, W><<<blocks, 128, smem>>>(sink, cyc);
  bench<TA, TB, W><<<blocks, 128, smem>>>(sink, cyc);
  cudaDeviceSynchronize();
  std::vector<long long> c(blocks); cudaMemcpy(c.data(), cyc, blocks * 8, cudaMemcpyDeviceToHost);
  double mean = 0; for (auto v : c) mean += v; mean /= blocks;
  printf("%-34s blocks %4d: %.1f cycles per m64n72k16 wgmma (block mean)\n", name, blocks, mean / (256 * 8));
  cudaFree(sink); cudaFree(cyc);
}
int main() {
  const int NQ = 64 * 128, NC = 64 * 72, NS = 128 * 72, NO = 64 * 72 + 64 * 64 + 128 * 72 + 64 * 72;
  std::vector<bf> q(NQ), k(NQ), c(NC), s(NS);
  std::vector<float> fq(NQ), fk(NQ), fc(NC), fs(NS);
  srand(1);
  auto rnd = [](float& f, bf& b) { b = __float2bfloat16((rand() % 2001 - 1000) / 1000.f); f = __bfloat162float(b); };
  for (int i = 0; i < NQ; ++i) { rnd(fq[i], q[i]); rnd(fk[i], k[i]); }
  for (int i = 0; i < NC; ++i) rnd(fc[i], c[i]);
  for (int i = 0; i < NS; ++i) rnd(fs[i], s[i]);
  bf *dq, *dk, *dc, *ds; float* dout;
  cudaMalloc(&dq, NQ * 2); cudaMalloc(&dk, NQ * 2); cudaMalloc(&dc, NC * 2); cudaMalloc(&ds, NS * 2); cudaMalloc(&dout, NO * 4);
  cudaMemcpy(dq, q.data(), NQ * 2, cudaMemcpyHostToDevice); cudaMemcpy(dk, k.data(), NQ * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dc, c.data(), NC * 2, cudaMemcpyHostToDevice); cudaMemcpy(ds, s.data(), NS * 2, cudaMemcpyHostToDevice);
  cudaMemset(dout, 0, NO * 4);
  const int smem = (2 * NQ + NC + NS) * 2;
  cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  kern<<<1, 128, smem>>>(dq, dk, dc, ds, dout);
  cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) { printf("CUDA error %s\n", cudaGetErrorString(e)); return 1; }
  std::vector<float> o(NO); cudaMemcpy(o.data(), dout, NO * 4, cudaMemcpyDeviceToHost);
  double err[4] = {0, 0, 0, 0};
  std::vector<float> W(64 * 64);
  for (int r = 0; r < 64; ++r) for (int cc = 0; cc < 72; ++cc) {
    double x = 0; for (int kk = 0; kk < 128; ++kk) x += double(fq[r * 128 + kk]) * fs[kk * 72 + cc];
    err[0] = fmax(err[0], fabs(x - o[r * 72 + cc]));
  }
  for (int r = 0; r < 64; ++r) for (int cc = 0; cc < 64; ++cc) {
    double x = 0; for (int kk = 0; kk < 128; ++kk) x += double(fq[r * 128 + kk]) * fk[cc * 128 + kk];
    err[1] = fmax(err[1], fabs(x - o[64 * 72 + r * 64 + cc]));
    W[r * 64 + cc] = __bfloat162float(__float2bfloat16(o[64 * 72 + r * 64 + cc]));
  }
  for (int m = 0; m < 128; ++m) for (int cc = 0; cc < 72; ++cc) {
    double x = 0; for (int t = 0; t < 64; ++t) x += double(fk[t * 128 + m]) * fc[t * 72 + cc];
    err[2] = fmax(err[2], fabs(x - o[64 * 72 + 64 * 64 + m * 72 + cc]));
  }
  for (int r = 0; r < 64; ++r) for (int cc = 0; cc < 72; ++cc) {
    double x = 0; for (int t = 0; t < 64; ++t) x += double(W[r * 64 + t]) * fc[t * 72 + cc];
    err[3] = fmax(err[3], fabs(x - o[64 * 72 + 64 * 64 + 128 * 72 + r * 72 + cc]) / (1 + fabs(x)));
  }
  printf("wgmma check max abs error: A S %.3g, W %.3g, state %.3g, W C (rel) %.3g\n", err[0], err[1], err[2], err[3]);
  bool ok = err[0] < 1e-3 && err[1] < 1e-3 && err[2] < 1e-3 && err[3] < 1e-2;
  printf(ok ? "WGMMA CHECK OK\n" : "WGMMA CHECK FAILED\n");
  for (int blocks : {1, 132, 264}) {
    run_bench<0, 1, true>("A K-major, B MN-major, wait each", blocks);
    run_bench<0, 1, false>("A K-major, B MN-major, pipelined", blocks);
    run_bench<1, 1, false>("A MN-major, B MN-major, pipelined", blocks);
  }
  return ok ? 0 : 1;
}
