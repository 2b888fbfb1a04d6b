// Shared memory the kernels need per block, so callers can tell beforehand whether a GPU fits.
#include "chunk_kernel.cuh"

namespace fastmax {

size_t shared_memory_needed(int dtype, int dim) {
  // The smallest footprint each pass can launch with (one stage where a fallback exists).
  auto least = [](auto tag, auto pc, auto kc) -> size_t {
    using S = Shape<typename decltype(tag)::type, decltype(pc)::value, decltype(kc)::value>;
    return S::bytes(S::SINGLE_FALLBACK ? 1 : S::STAGES);
  };
  size_t most = 0;
  for (int kind : {kFwd, kDq, kDqn, kDk, kDv}) {
    const size_t b = visit_shape(dtype, kind, dim, least);
    most = b > most ? b : most;
  }
  return most;
}

}  // namespace fastmax
