// dk and dv passes over bf16 tiles, and the dispatch of every bf16 pass.
#include "chunk_kernel.cuh"

namespace fastmax {

cudaError_t launch_pass_bf16_fwd_dq(Kind kind, bool causal, const Params& p, cudaStream_t stream);
cudaError_t launch_pass_bf16_dqn(bool causal, const Params& p, cudaStream_t stream);

cudaError_t launch_pass_bf16(Kind kind, bool causal, const Params& p, cudaStream_t stream) {
  switch (kind) {
    case kFwd:
    case kDq:
      return launch_pass_bf16_fwd_dq(kind, causal, p, stream);
    case kDk:
      return launch_kind<__nv_bfloat16, kDk>(causal, p, stream);
    case kDv:
      return launch_kind<__nv_bfloat16, kDv>(causal, p, stream);
    case kDqn:
      return launch_pass_bf16_dqn(causal, p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace fastmax
