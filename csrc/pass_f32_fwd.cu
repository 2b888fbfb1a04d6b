// Forward and dq passes over f32 tiles (the op's run_pass takes the TF32 wgmma forward of
// pass_tf32_fwd.cu instead where it applies).
#include "chunk_kernel.cuh"

namespace fastmax {

cudaError_t launch_pass_f32_fwd_dq(Kind kind, bool causal, const Params& p, cudaStream_t stream) {
  if (p.a_eps > 0.f) return cudaErrorInvalidValue;  // only the TF32 forward normalises q
  return kind == kFwd ? launch_kind<float, kFwd>(causal, p, stream)
                      : launch_kind<float, kDq>(causal, p, stream);
}

}  // namespace fastmax
