// dq with the normalisation's backward in its epilogue (kDqn, fastmax.h): bf16 tiles at
// head_dim 128, the one shape it is built for.
#include "chunk_kernel.cuh"

namespace fastmax {

cudaError_t launch_pass_bf16_dqn(bool causal, const Params& p, cudaStream_t stream) {
  if (p.dim != 128) return cudaErrorInvalidValue;
  return causal ? launch_one<__nv_bfloat16, 128, kDqn, kScanFwd>(p, stream)
                : launch_one<__nv_bfloat16, 128, kDqn, kFull>(p, stream);
}

}  // namespace fastmax
