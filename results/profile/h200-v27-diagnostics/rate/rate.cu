// The rate of Hopper's TF32 products m64nNk8 against N (issue 9, v27): cycles per wgmma and
// TFLOP/s, B from shared memory and A from shared memory (ss) or registers (rs), one or two
// independent accumulator chains per warpgroup, one or two warpgroups (blocks) per SM. Each
// iteration issues 16 products per chain (four 32-byte k slices, four times), then commits and
// waits for them, as the chunk kernels do per group. Prints CSV.
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include "wgmma.cuh"
using namespace fastmax;

#include "wrappers.inc"

template <int N>
__device__ __forceinline__ void mma_ss(float (&d)[N / 8][4], uint64_t a, uint64_t b) {
  if constexpr (N == 8) mma_ss_n8(d, a, b);
  if constexpr (N == 24) mma_ss_n24(d, a, b);
  if constexpr (N == 40) mma_ss_n40(d, a, b);
  if constexpr (N == 64) mma_ss_n64(d, a, b);
  if constexpr (N == 72) mma_ss_n72(d, a, b);
  if constexpr (N == 128) mma_ss_n128(d, a, b);
}
template <int N>
__device__ __forceinline__ void mma_rs(float (&d)[N / 8][4], const uint32_t (&a)[4], uint64_t b) {
  if constexpr (N == 8) mma_rs_n8(d, a, b);
  if constexpr (N == 24) mma_rs_n24(d, a, b);
  if constexpr (N == 40) mma_rs_n40(d, a, b);
  if constexpr (N == 64) mma_rs_n64(d, a, b);
  if constexpr (N == 72) mma_rs_n72(d, a, b);
  if constexpr (N == 128) mma_rs_n128(d, a, b);
}

template <int N, bool RS, int CHAINS>
__global__ void __launch_bounds__(128) rate(float* sink, long long* cycles, int iters) {
  extern __shared__ __align__(1024) unsigned char raw[];
  float* a = reinterpret_cast<float*>(raw);  // 64 rows x 32 floats (8 KB)
  float* b = a + 64 * 32;                     // N rows x 32 floats
  for (int i = threadIdx.x; i < (64 + N) * 32; i += 128) a[i] = 1e-3f * (i % 7);
  fence_proxy_async();
  __syncthreads();
  float d[CHAINS][N / 8][4] = {};
  const uint32_t af[4] = {__float_as_uint(1e-3f * (threadIdx.x % 5)),
                          __float_as_uint(2e-3f * (threadIdx.x % 3)),
                          __float_as_uint(1e-3f * (threadIdx.x % 7)),
                          __float_as_uint(3e-3f * (threadIdx.x % 2))};
  const uint64_t da = wgmma_desc(a, 16, 1024, 1), db = wgmma_desc(b, 16, 1024, 1);
  const long long t0 = clock64();
  for (int it = 0; it < iters; ++it) {
    wgmma_fence();
#pragma unroll
    for (int rep = 0; rep < 4; ++rep)
#pragma unroll
      for (int s = 0; s < 4; ++s)
#pragma unroll
        for (int c = 0; c < CHAINS; ++c) {
          if constexpr (RS) {
            mma_rs<N>(d[c], af, desc_advance(db, 32 * s));
          } else {
            mma_ss<N>(d[c], desc_advance(da, 32 * s), desc_advance(db, 32 * s));
          }
        }
    wgmma_commit();
    wgmma_wait<0>();
  }
  const long long t1 = clock64();
  if (threadIdx.x == 0) cycles[blockIdx.x] = t1 - t0;
  float acc = 0.f;
  for (int c = 0; c < CHAINS; ++c)
    for (int j = 0; j < N / 8; ++j) acc += d[c][j][0] + d[c][j][1] + d[c][j][2] + d[c][j][3];
  if (acc == 12345.f) sink[threadIdx.x] = acc;
}

template <int N, bool RS, int CHAINS>
void run(float* sink, long long* cycles, int sms, int per_sm) {
  const int smem = (64 + N) * 128, iters = 2000, blocks = sms * per_sm;
  auto kern = rate<N, RS, CHAINS>;
  cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  kern<<<blocks, 128, smem>>>(sink, cycles, 10);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  float best = 1e30f;
  std::vector<long long> c(blocks);
  double best_cycles = 0;
  for (int rep = 0; rep < 5; ++rep) {
    cudaEventRecord(e0);
    kern<<<blocks, 128, smem>>>(sink, cycles, iters);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    if (ms < best) {
      best = ms;
      cudaMemcpy(c.data(), cycles, blocks * sizeof(long long), cudaMemcpyDeviceToHost);
      std::sort(c.begin(), c.end());
      best_cycles = double(c[blocks / 2]);
    }
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) { printf("error %s\n", cudaGetErrorString(err)); exit(1); }
  const double products = 16.0 * CHAINS * iters;
  const double flop = 2.0 * 64 * N * 8 * products * blocks;
  printf("%d,%s,%d,%d,%.1f,%.0f\n", N, RS ? "rs" : "ss", CHAINS, per_sm, best_cycles / products,
         flop / (best * 1e-3) / 1e12);
}

template <int N>
void run_n(float* sink, long long* cycles, int sms) {
  for (int per_sm : {1, 2}) {
    run<N, false, 1>(sink, cycles, sms, per_sm);
    run<N, false, 2>(sink, cycles, sms, per_sm);
    run<N, true, 1>(sink, cycles, sms, per_sm);
    run<N, true, 2>(sink, cycles, sms, per_sm);
  }
}

int main() {
  int dev, sms;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  float* sink;
  long long* cycles;
  cudaMalloc(&sink, 4096), cudaMalloc(&cycles, 2 * sms * sizeof(long long));
  printf("n,mode,chains,blocks_per_sm,cycles_per_product,tflops\n");
  run_n<8>(sink, cycles, sms);
  run_n<24>(sink, cycles, sms);
  run_n<40>(sink, cycles, sms);
  run_n<64>(sink, cycles, sms);
  run_n<72>(sink, cycles, sms);
  run_n<128>(sink, cycles, sms);
  return 0;
}
