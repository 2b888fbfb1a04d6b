// The sequence split of a pass: how many segments (plan_split) and the combination of the
// segment states between the state pass and the segment passes (launch_combine_states).
//
// One block walks one (batch, head, column tile) through the whole sequence; at micro-batch 1
// with 16 heads that is 32 blocks for an H200's 132 SMs. Cutting the sequence into segments
// multiplies the blocks, at the price of one extra read of b and c (the state pass) and one
// float32 state per segment.
#include "chunk_kernel.cuh"

namespace fastmax {
namespace {

constexpr int kMinSegmentChunks = 8;  // a segment's initial state costs about one chunk's loads
constexpr int kWaves = 2;             // blocks wanted: this many times what the SMs hold at once

__global__ void combine_states_kernel(float* states, int64_t blocks, int segments, int floats,
                                      int mode) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= blocks * floats) return;
  float* x = states + (i / floats) * segments * int64_t(floats) + i % floats;
  float run = 0.f;
  if (mode == kFull) {
    for (int s = 0; s < segments; ++s) run += x[int64_t(s) * floats];
    for (int s = 0; s < segments; ++s) x[int64_t(s) * floats] = run;
    return;
  }
  for (int k = 0; k < segments; ++k) {
    const int s = mode == kScanFwd ? k : segments - 1 - k;
    const float own = x[int64_t(s) * floats];
    x[int64_t(s) * floats] = run;
    run += own;
  }
}

}  // namespace

cudaError_t launch_combine_states(float* states, int64_t blocks, int segments, int floats,
                                  int mode, cudaStream_t stream) {
  const int64_t threads = blocks * floats;
  const int64_t grid = (threads + 255) / 256;
  if (grid > 0x7fffffff) return cudaErrorInvalidConfiguration;
  combine_states_kernel<<<static_cast<unsigned>(grid), 256, 0, stream>>>(states, blocks, segments,
                                                                          floats, mode);
  return cudaGetLastError();
}

SplitPlan plan_split(int dtype, Kind kind, const Params& p, bool allow) {
  const int chunks = (p.n + kChunk - 1) / kChunk;
  const SplitPlan whole{chunks, 1, 0};
  if (!allow || chunks < 2 * kMinSegmentChunks) return whole;
  int device = 0, sms = 0, per_sm = 0;
  size_t limit = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device);
  if (err == cudaSuccess) err = block_smem_limit(limit);
  if (err != cudaSuccess) return whole;  // the launch reports the device error

  auto plan = [&](auto tag, auto pc, auto kc) -> SplitPlan {
    using T = typename decltype(tag)::type;
    constexpr int P = decltype(pc)::value, KIND = decltype(kc)::value;
    using S = Shape<T, P, KIND>;
    const int stages = stages_for<T, P, KIND>(limit);
    if (stages == 0) return whole;
    const size_t bytes = S::bytes(stages) + 1024;  // the runtime reserves 1 KB per block
    const int64_t resident = int64_t(sms) * (bytes < size_t(per_sm) ? per_sm / bytes : 1);
    const int64_t base = int64_t(p.batch) * p.heads_a * (p.dim / S::QT);
    if (base <= 0) return whole;  // nothing to run; the launch reports an empty grid
    const int64_t wanted = (kWaves * resident + base - 1) / base;
    const int64_t segments = wanted < chunks / kMinSegmentChunks ? wanted : chunks / kMinSegmentChunks;
    if (segments < 2) return whole;
    const int seg_chunks = static_cast<int>((chunks + segments - 1) / segments);
    const int used = (chunks + seg_chunks - 1) / seg_chunks;
    return {seg_chunks, used, base * used * S::SEG_STATE};
  };
  const SplitPlan out = visit_shape(dtype, kind, p.dim, plan);
  return out.segments > 0 ? out : whole;
}

}  // namespace fastmax
