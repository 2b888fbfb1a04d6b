// The sequence split of a pass: how many segments (plan_split) and the combination of the
// segment states between the state pass and the segment passes (launch_combine_states).
//
// One block walks one (batch, head, column tile) through the whole sequence; at micro-batch 1
// with 16 heads that is 32 blocks for an H200's 132 SMs. Cutting the sequence into segments
// multiplies the blocks, at the price of one extra read of b and c (the state pass), a small
// combining kernel and one float32 state per segment. Measured on the H200 (csrc/PERF.md) with
// segments for two waves of resident blocks: 1.2-1.5x at 64 blocks (half the SMs idle), but
// 0.5-0.9x at 128 blocks (cut into 1152), so a GPU at most half occupied is split that way.
// A non-causal forward of 4-warp blocks with more than half the SMs busy (the paper's shape:
// 128 blocks) is cut so that two blocks per SM run in one wave: 1.09-1.19x forward from
// N = 8192 (PERF.md v12, v13). Its backward is not: dq, dk and dv already run side by side on
// three streams (0.9x when split). The TF32 float32 forward (pass_tf32_fwd.cu) has no split:
// tf32_fwd_unsplit applies the causal passes' rule to its own grid, and the op runs the mma.sync
// forward where that wants a split. Causal passes are not cut: uncut, their forward+backward was
// 1-5% faster from N = 4096 in the target sweeps of v11 and v12 (the forward within 2%, 5%
// faster at 4096), and with v13's wgmma kernels the forward 3-12% and the forward+backward
// 0-6% faster.
#include "chunk_kernel.cuh"

namespace fastmax {
namespace {

constexpr int kMinSegmentChunks = 8;  // a segment's initial state costs about one chunk's loads
// The same for a cut for two blocks per SM (the forward and dq passes): measured slower below
// 32-chunk segments (N = 1024, 2048 at the paper's shape, launch-bound), faster from N = 4096.
constexpr int kMinCutSegmentChunks = 32;
// Blocks wanted: at most this many times what the SMs hold at once. Rounding the segments up
// instead would start a last, nearly empty wave: at micro-batch 1, context 32768, 17 segments
// make 544 blocks for 528 places, a third wave of 16 blocks.
constexpr int kWaves = 2;

// One thread per float of a block's state, walking its segments. The values are read in
// batches of kCombineBatch independent loads before the batch's stores, so the thread waits on
// memory once per batch rather than once per segment.
constexpr int kCombineBatch = 8;

// Whether `blocks` leave at least half the SMs idle: any pass may be cut then, a causal one only
// then (its rule, which the TF32 forward's tf32_fwd_unsplit applies to its own grid).
bool half_idle(int64_t blocks, const GpuLimits& gpu) { return 2 * blocks <= gpu.sms; }

__global__ void combine_states_kernel(float* __restrict__ states, int64_t blocks, int segments,
                                      int floats, int mode) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= blocks * floats) return;
  float* __restrict__ x = states + (i / floats) * segments * int64_t(floats) + i % floats;
  // Segment of the k-th step: forward order, except for the reverse scan.
  auto at = [&](int k) -> float& {
    return x[int64_t(mode == kScanRev ? segments - 1 - k : k) * floats];
  };
  float run = 0.f;
  for (int k0 = 0; k0 < segments; k0 += kCombineBatch) {
    float v[kCombineBatch];
#pragma unroll
    for (int j = 0; j < kCombineBatch; ++j) v[j] = k0 + j < segments ? at(k0 + j) : 0.f;
#pragma unroll
    for (int j = 0; j < kCombineBatch; ++j) {
      if (mode != kFull && k0 + j < segments) at(k0 + j) = run;
      run += v[j];
    }
  }
  if (mode == kFull)
    for (int k = 0; k < segments; ++k) at(k) = run;
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

int split_segments(int dtype, Kind kind, bool causal, int64_t batch, int heads, int n, int dim,
                   const GpuLimits& gpu) {
  const int64_t blocks = batch * heads * (dim / column_tile(dim));
  if (blocks <= 0 || blocks > gpu.sms) return 1;
  const bool idle = half_idle(blocks, gpu);
  const int warps = visit_shape(dtype, kind, dim, [](auto tag, auto pc, auto kc) -> int {
    return Shape<typename decltype(tag)::type, decltype(pc)::value, decltype(kc)::value>::WARPS;
  });
  // With more than half the SMs busy, only non-causal passes that run alone are cut for two
  // blocks per SM: the forward, and dq, which runs after dk and dv (they share the SMs on two
  // streams).
  if (!idle && (causal || (kind != kFwd && kind != kDq && kind != kDqn) || warps != 4)) {
    return 1;
  }
  // Blocks of this pass one SM holds at once, by shared memory (0: the pass does not fit).
  const int64_t per_sm = visit_shape(dtype, kind, dim, [&](auto tag, auto pc, auto kc) -> int64_t {
    using T = typename decltype(tag)::type;
    constexpr int P = decltype(pc)::value, KIND = decltype(kc)::value;
    const int stages = stages_for<T, P, KIND>(size_t(gpu.smem_per_block));
    if (stages == 0) return 0;
    const size_t bytes = Shape<T, P, KIND>::bytes(stages) + kReservedPerBlock;
    return bytes < size_t(gpu.smem_per_sm) ? int64_t(gpu.smem_per_sm / bytes) : 1;
  });
  if (!idle && per_sm < 2) return 1;
  const int64_t wanted = (idle ? kWaves * per_sm * gpu.sms : 2 * gpu.sms) / blocks;
  const int64_t most =
      ((n + kChunk - 1) / kChunk) / (idle ? kMinSegmentChunks : kMinCutSegmentChunks);
  const int64_t segments = wanted < most ? wanted : most;
  return segments >= 2 ? static_cast<int>(segments) : 1;
}

namespace {

// The running device's limits; false when a query fails (the launch then reports the error).
bool gpu_limits(GpuLimits& gpu) {
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&gpu.sms, cudaDevAttrMultiProcessorCount, device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&gpu.smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&gpu.smem_per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  return err == cudaSuccess;
}

// Whether a pass over p's sequence may be split: allowed, long enough for two segments, and
// the device's limits read into gpu. Too short: no device queries on this (launch-bound) path.
bool split_possible(const Params& p, bool allow, GpuLimits& gpu) {
  const int chunks = (p.n + kChunk - 1) / kChunk;
  return allow && chunks >= 2 * kMinSegmentChunks && gpu_limits(gpu);
}

}  // namespace

SplitPlan plan_split(int dtype, Kind kind, bool causal, const Params& p, bool allow) {
  const int chunks = (p.n + kChunk - 1) / kChunk;
  const SplitPlan whole{chunks, 1, 0};
  GpuLimits gpu{};
  if (!split_possible(p, allow, gpu)) return whole;
  const int segments = split_segments(dtype, kind, causal, p.batch, p.heads_a, p.n, p.dim, gpu);
  const int64_t per_segment = visit_shape(dtype, kind, p.dim, [](auto tag, auto pc, auto kc) -> int64_t {
    return Shape<typename decltype(tag)::type, decltype(pc)::value, decltype(kc)::value>::SEG_STATE;
  });
  if (segments < 2 || per_segment == 0) return whole;
  const int64_t blocks = int64_t(p.batch) * p.heads_a * (p.dim / column_tile(p.dim));
  const int seg_chunks = (chunks + segments - 1) / segments;
  const int used = (chunks + seg_chunks - 1) / seg_chunks;
  return {seg_chunks, used, blocks * used * per_segment};
}

bool tf32_fwd_unsplit(const Params& p, bool allow) {
  GpuLimits gpu{};
  return !split_possible(p, allow, gpu) ||
         !half_idle(int64_t(p.batch) * p.heads_a * kTf32TilesPerHead, gpu);
}

}  // namespace fastmax
