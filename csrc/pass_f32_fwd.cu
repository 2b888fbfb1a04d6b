// Forward and dq passes over f32 tiles.
#include "chunk_kernel.cuh"

namespace fastmax {

cudaError_t launch_pass_f32_fwd_dq(Kind kind, bool causal, const Params& p, cudaStream_t stream) {
  return kind == kFwd ? launch_kind<float, kFwd>(causal, p, stream)
                      : launch_kind<float, kDq>(causal, p, stream);
}

}  // namespace fastmax
