// Shared memory the kernels need per block, so callers can tell beforehand whether a GPU fits.
#include "chunk_kernel.cuh"

namespace fastmax {
namespace {

// The smallest footprint a pass can launch with (one stage where a fallback exists).
template <typename T, int P, int KIND>
size_t least_bytes() {
  using S = Shape<T, P, KIND>;
  return S::bytes(S::SINGLE_FALLBACK ? 1 : S::STAGES);
}

template <typename T, int P>
size_t pass_bytes() {
  size_t most = least_bytes<T, P, kFwd>();
  for (size_t b : {least_bytes<T, P, kDq>(), least_bytes<T, P, kDk>(), least_bytes<T, P, kDv>()})
    most = b > most ? b : most;
  return most;
}

template <typename T>
size_t dtype_bytes(int dim) {
  switch (dim) {
    case 32:
      return pass_bytes<T, 32>();
    case 64:
      return pass_bytes<T, 64>();
    case 128:
      return pass_bytes<T, 128>();
    case 256:
      return pass_bytes<T, 256>();
  }
  return 0;
}

}  // namespace

size_t shared_memory_needed(int dtype, int dim) {
  return dtype == 1 ? dtype_bytes<float>(dim) : dtype_bytes<__nv_bfloat16>(dim);
}

}  // namespace fastmax
