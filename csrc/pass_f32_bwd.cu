// dk and dv passes over f32 tiles, and the dispatch of every f32 pass.
#include "chunk_kernel.cuh"

namespace fastmax {

cudaError_t launch_pass_f32_fwd_dq(Kind kind, bool causal, const Params& p, cudaStream_t stream);

cudaError_t launch_pass_f32(Kind kind, bool causal, const Params& p, cudaStream_t stream) {
  switch (kind) {
    case kFwd:
    case kDq:
      return launch_pass_f32_fwd_dq(kind, causal, p, stream);
    case kDk:
      return launch_kind<float, kDk>(causal, p, stream);
    case kDv:
      return launch_kind<float, kDv>(causal, p, stream);
    case kDqn:  // bfloat16 only (fastmax.h)
      break;
  }
  return cudaErrorInvalidValue;
}

}  // namespace fastmax
