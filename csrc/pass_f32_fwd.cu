// Forward and dq passes over f32 tiles; the causal forward with one TF32 product per step on
// wgmma where it was built (pass_tf32_fwd.cu).
#include "chunk_kernel.cuh"

namespace fastmax {

cudaError_t launch_pass_f32_fwd_dq(Kind kind, bool causal, const Params& p, cudaStream_t stream) {
  if (kind == kFwd && causal && launch_tf32_fwd_available(p)) return launch_tf32_fwd(p, stream);
  if (p.a_eps > 0.f) return cudaErrorInvalidValue;  // only the TF32 forward normalises q
  return kind == kFwd ? launch_kind<float, kFwd>(causal, p, stream)
                      : launch_kind<float, kDq>(causal, p, stream);
}

}  // namespace fastmax
