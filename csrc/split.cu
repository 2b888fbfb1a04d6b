// The sequence split of a pass: how many segments (plan_split) and the combination of the
// segment states between the state pass and the segment passes (launch_combine_states).
//
// One block walks one (batch, head, column tile) through the whole sequence; at micro-batch 1
// with 16 heads that is 32 blocks for an H200's 132 SMs. Cutting the sequence into segments
// multiplies the blocks, at the price of one extra read of b and c (the state pass), a small
// combining kernel and one float32 state per segment. Measured on the H200 (csrc/PERF.md):
// worth it while SMs would idle (1.2-1.5x at 64 blocks), a loss once every SM has a block
// (0.6-0.9x when 128 blocks were cut into 1152), so segments only fill idle SMs.
#include "chunk_kernel.cuh"

namespace fastmax {
namespace {

constexpr int kMinSegmentChunks = 8;  // a segment's initial state costs about one chunk's loads

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

int split_segments(int64_t blocks, int chunks, int sms) {
  if (blocks <= 0 || sms <= 0) return 1;
  const int64_t fill = sms / blocks;  // segments that keep one block per SM at most
  const int64_t most = chunks / kMinSegmentChunks;
  const int64_t segments = fill < most ? fill : most;
  return segments >= 2 ? static_cast<int>(segments) : 1;
}

SplitPlan plan_split(int dtype, Kind kind, const Params& p, bool allow) {
  const int chunks = (p.n + kChunk - 1) / kChunk;
  const SplitPlan whole{chunks, 1, 0};
  if (!allow) return whole;
  int device = 0, sms = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return whole;  // the launch reports the device error
  const int64_t blocks = int64_t(p.batch) * p.heads_a * (p.dim / column_tile(p.dim));
  const int segments = split_segments(blocks, chunks, sms);
  const int64_t per_segment = visit_shape(dtype, kind, p.dim, [](auto tag, auto pc, auto kc) -> int64_t {
    return Shape<typename decltype(tag)::type, decltype(pc)::value, decltype(kc)::value>::SEG_STATE;
  });
  if (segments < 2 || per_segment == 0) return whole;
  const int seg_chunks = (chunks + segments - 1) / segments;
  const int used = (chunks + seg_chunks - 1) / seg_chunks;
  return {seg_chunks, used, blocks * used * per_segment};
}

}  // namespace fastmax
