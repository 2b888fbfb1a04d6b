// Forward and dq passes over bf16 tiles.
#include "chunk_kernel.cuh"

namespace fastmax {

cudaError_t launch_pass_bf16_fwd_dq(Kind kind, bool causal, const Params& p, cudaStream_t stream) {
  return kind == kFwd ? launch_kind<__nv_bfloat16, kFwd>(causal, p, stream)
                      : launch_kind<__nv_bfloat16, kDq>(causal, p, stream);
}

}  // namespace fastmax
