// Launch interface between the PyTorch op (fastmax_ops.cpp) and the CUDA kernels (*.cu).
//
// Every pass of Fastmax (p = 1) is one "chunked linear attention" over roles a, b, c:
//
//   out_r = fs_r * ( sum_{c in range(r)} (s <a_r, b_c> + alpha_r beta_c) cv_c )
//
// where range(r) is c <= r (forward scan), c >= r (reverse scan) or every c (full), and
// cv_c is c_c, prescaled by 1/den_c in the dk and dv passes. The kernels walk the sequence in
// chunks of 64 tokens: inside a chunk the masked weights come from matrix-unit products, across
// chunks the state S = sum_c b_c cv_c^T (and sigma = sum_c beta_c cv_c) is carried. Roles:
//
//   kind  a          b          c          s    alpha        beta        fs          scan
//   FWD   q          k          v (+ones)  a1   a0           1           1/den       fwd
//   DQ    dO         v          k          1    -go          1           a1/den      fwd
//   DQN   dO         v          k (+ones)  1    -go          1           a1/den      fwd
//   DK    v          dO         q / den    1    1            -go         a1          rev
//   DV    k          q          dO / den   a1   1            beta        1           rev
//
// with den the forward denominator, go = <dO_i, o_i> and beta a0 per query row. DK and DV sum
// over the query heads of each key/value head (GQA) inside the kernel. With token
// normalisation the backward gives DK and DV the raw q and folds q's norms
// m_i = max(||q_i||, eps) (from the forward's row scales 1 / m) into the row scalars: den m in
// place of den, and beta = a0 m. The pass is the normalised q's, since
// (a1 <k, q / m> + a0) dO / den = (a1 <k, q> + a0 m) dO / (den m), and no normalised copy of q
// is needed. DQN is DQ with the normalisation's backward in its epilogue: with y = q / m and
// dy DQ's output, <y, dy> = -(a0 / den) sum_c (<dO, v_c> - go), which a ones column of C gives
// (as the forward's gives den), so each block of a row's column tiles finishes
// dq = (dy - y <y, dy>) / m from q's tile alone (bfloat16 at head_dim 128; elsewhere DQ and a
// row pass).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace fastmax {

enum Kind : int { kFwd = 0, kDq = 1, kDk = 2, kDv = 3, kDqn = 4 };

constexpr int kChunk = 64;  // tokens per chunk

// Output columns per block for head dim p.
constexpr int column_tile(int p) { return (p == 64 || p == 128) ? 64 : 32; }

struct Params {
  const void* a;
  const void* b;
  const void* c;
  int64_t a_sb, a_sh, a_sn;  // element strides of a over batch, head, token
  int64_t b_sb, b_sh, b_sn;
  int64_t c_sb, c_sh, c_sn;
  void* out;                 // (batch, heads_a, n, dim), unit stride over dim
  int64_t o_sb, o_sh, o_sn;  // element strides of out over batch, head, token
  float* den_out;            // FWD: contiguous (batch, heads_a, n)
  float* rnorm_out;          // FWD with a_eps > 0: a's row scales, contiguous (batch, heads_a, n)
  const float* den;          // DQ/DK/DV: contiguous (batch, query heads, n)
  const float* go;           // DQ/DK: contiguous (batch, query heads, n)
  const float* beta;         // DV: contiguous (batch, query heads, n)
  // DQN (above): q as given, in the kernels' layout with these element strides, its row scales
  // 1 / max(||q||, eps) (contiguous (batch, heads_a, n)) and eps.
  const void* nq;
  int64_t nq_sb, nq_sh, nq_sn;
  const float* nq_rnorm;
  float nq_eps;
  int batch;
  int heads_a;               // heads of a and out
  int heads_bc;              // heads of b and c
  int group;                 // query heads per key/value head
  int n;
  int dim;                   // head dim (q, k and v share it)
  float a0, a1;
  // Null: a1 for every head. Else contiguous (batch, key/value heads) float32: each key/value
  // head's a1, for its query heads too (seq_max normalisation folded into the weights).
  const float* a1_heads;
  // float32 only: 1 lets the causal forward at head dims 64, 128 run one TF32 product per step
  // (launch_tf32_fwd); every other float32 pass runs three (float32 accuracy), on wgmma for the
  // causal forward at head dim 64 (launch_tf32_fwd), else on mma.sync.
  int allow_tf32;
  // bfloat16 FWD and the TF32 float32 FWD (launch_tf32_fwd): > 0: a's rows are normalised in
  // the pass, x / max(||x||, a_eps) (each warp takes its rows' norms from the tile, and scales
  // the rows of A S and of W in registers (chunk_kernel.cuh) or folds the norms into the
  // weights (pass_tf32_fwd.cu)); 0: a as given. The mma.sync float32 passes refuse it.
  float a_eps;
  // The TF32 float32 FWD only, with a_eps > 0: > 0: b's rows are normalised in the pass too,
  // x / max(||x||, b_eps), their scales taken from the tile (the op's forward without autograd,
  // which keeps no normalised copy of b); 0: b as given.
  float b_eps;
  // Sequence split (see plan_split): chunks per segment (0: one segment) and the float32 buffer
  // of segment states; phase is set by the launcher.
  int seg_chunks;
  float* states;
  int phase;
};

// The phases of a pass whose sequence is split into segments run by separate blocks:
//   kStates  each segment's own state S_g = sum of b cv^T over its chunks (and sigma_g);
//            then the states are combined in place into what each segment starts from (the sum
//            over earlier segments for a forward scan, later ones for a reverse scan, all of
//            them for the full pass);
//   kApply   each segment's pass, starting from its combined state.
// kWhole is the unsplit pass (one block walks the whole sequence).
enum Phase : int { kWhole = 0, kStates = 1, kApply = 2 };

// How a pass splits its sequence: segments of seg_chunks chunks each, and the float32 elements
// of the state buffer the caller allocates (0 when not split).
struct SplitPlan {
  int seg_chunks;
  int segments;
  int64_t state_floats;
};

// What the split plan needs to know of a GPU.
struct GpuLimits {
  int sms;
  int smem_per_sm;     // shared memory per SM (bytes)
  int smem_per_block;  // opt-in limit per block (bytes)
};

// Segments per sequence (1: unsplit) for a pass over batch x heads x n tokens of head dim dim:
// where the blocks (batch x heads x column tiles) fill at most half the SMs, as many as fit in
// two waves of the blocks an SM holds at once, each segment at least 8 chunks long; where they
// fill more, a non-causal forward or dq pass of 4-warp blocks is cut for two blocks per SM (see
// split.cu).
int split_segments(int dtype, Kind kind, bool causal, int64_t batch, int heads, int n, int dim,
                   const GpuLimits& gpu);

// The split of one pass on the current device (allow = false: never split). p needs batch,
// heads_a, n and dim.
SplitPlan plan_split(int dtype, Kind kind, bool causal, const Params& p, bool allow);

// Shared memory per block the forward and backward passes need at least (dtype: 0 = bfloat16,
// 1 = float32; 0 for an unsupported head dim).
size_t shared_memory_needed(int dtype, int dim);

// Returned when a pass needs more shared memory per block than the device offers.
constexpr cudaError_t kErrSharedMemory = cudaErrorNotSupported;

// One pass over bfloat16 or float32 tiles; causal selects the scan, otherwise the full pass.
cudaError_t launch_pass_bf16(Kind kind, bool causal, const Params& p, cudaStream_t stream);
cudaError_t launch_pass_f32(Kind kind, bool causal, const Params& p, cudaStream_t stream);

// The causal float32 forward on wgmma's TF32 products (pass_tf32_fwd.cu), built for sm_90a
// only: available where the running device has the kernel's sm_90a code, for head dims 64 and
// 128 with TF32 allowed (one product per step) and for head dim 64 otherwise (three, float32
// accuracy). It does not split its sequence: the op takes it where
// tf32_fwd_unsplit says a split is not wanted (split.cu). Blocks: batch x heads x tiles.
constexpr int kTf32TilesPerHead = 2;
bool launch_tf32_fwd_available(const Params& p);
cudaError_t launch_tf32_fwd(const Params& p, cudaStream_t stream);
// The causal DQ pass on the same kernel (pass_tf32_fwd.cu), head dim 64, three products (float32
// accuracy whatever allow_tf32 says), a_eps and b_eps 0: DQ's roles (a = dO, b = v, c = k) in
// the forward's, with -a1 go in place of each row's a0 and the forward's den (Params::den) in
// place of its own. Taken, like the forward, where tf32_fwd_unsplit says so.
bool launch_tf32_dq_available(const Params& p);
cudaError_t launch_tf32_dq(const Params& p, cudaStream_t stream);
// The causal DV pass on it too, head dim 64, three products, one query head per key/value head:
// reversed in time (every row pointer at token n - 1, token strides negated), with a = k, b = q,
// c = dO, Params::den the forward's den (each c row divided by it), and b_eps > 0 when q is
// raw with its row scales to be taken from its tile (token normalisation).
bool launch_tf32_dv_available(const Params& p);
cudaError_t launch_tf32_dv(const Params& p, cudaStream_t stream);
// And DK, reversed in the same way, where DV's is available: a = v, b = dO, c = q, Params::den
// and go the forward's, nq_rnorm q's row scales when q is raw (token normalisation) or null.
cudaError_t launch_tf32_dk(const Params& p, cudaStream_t stream);
// Whether the TF32 forward (or DQ) runs unsplit by the rule of the causal passes: its blocks fill
// more than half the SMs, or the sequence is too short to split, or allow is false.
bool tf32_fwd_unsplit(const Params& p, bool allow);

// go[b, h, i] = <grad_out[b, h, i], out[b, h, i]> in float32; grad_out and out (B, H, N, dim)
// have the given element strides over batch, head and token.
struct RowDot {
  const void* grad_out;
  int64_t g_sb, g_sh, g_sn;
  const void* out;
  int64_t o_sb, o_sh, o_sn;
  float* go;
  int batch, heads, n, dim;
};
cudaError_t launch_row_dot_bf16(const RowDot& r, cudaStream_t stream);
cudaError_t launch_row_dot_f32(const RowDot& r, cudaStream_t stream);

// seq_max's peaks from the squared row norms sq_q (batch, heads_q, n) and sq_k (batch,
// heads_k, n), float32 and contiguous: peak_q (batch, heads_q) and peak_k (batch, heads_k) are
// the largest per head, and a1_heads (batch, heads_k) = a1 / (P_q P_k) with P = max(peak,
// floor), or a1 / P_k with grouped heads (heads_q != heads_k).
struct SeqMaxA1 {
  const float* sq_q;
  const float* sq_k;
  float* peak_q;
  float* peak_k;
  float* a1_heads;
  float a1, floor;
  int batch, heads_q, heads_k, n;
};
cudaError_t launch_seq_max_a1(const SeqMaxA1& s, cudaStream_t stream);

// The gradient of a per-head peak of squared row norms, added to dx: with dL/dP = -sum_i s[b,
// h, i] / P^power and P = max(peak, floor), the rows i with sq[b, h, i] == peak get dx_i +=
// 2 dL/dP / (their count) x_i (in float32, product and sum each rounded, then rounded to the
// element type), and only when peak > floor; the other rows are not touched. dx and x (B, H,
// N, dim) have the given element strides over batch, head and token and unit stride over dim;
// sq and s are float32 (B, H, N), peak float32 (B, H), contiguous. dtype: 0 = bfloat16,
// 1 = float32, 2 = float16.
struct PeakGradient {
  void* dx;
  int64_t d_sb, d_sh, d_sn;
  const void* x;
  int64_t x_sb, x_sh, x_sn;
  const float* sq;
  const float* s;
  const float* peak;
  float floor;
  int power;
  int batch, heads, n, dim;
};
cudaError_t launch_add_peak_gradient(int dtype, const PeakGradient& g, cudaStream_t stream);

// Per-token L2 normalisation (forward: x -> y, rnorm) and its gradient (dy, x, rnorm -> dx).
// x and dy have the given element strides over batch, head and token; y, dx and rnorm are
// contiguous. dtype: 0 = bfloat16, 1 = float32, 2 = float16.
struct RowNorm {
  const void* x;
  int64_t x_sb, x_sh, x_sn;
  const void* dy;
  int64_t dy_sb, dy_sh, dy_sn;
  void* y;   // forward output
  void* dx;  // backward output
  float* rnorm;
  int batch, heads, n, dim;
  float eps;
};
cudaError_t launch_row_norm(int dtype, const RowNorm& r, bool backward, cudaStream_t stream);

// Rotary position embedding of the first `rope` elements of every row (rope.cu): x and y have
// the given element strides over batch, head and token and 16-byte aligned rows; cos and sin
// are float32 (n, rope), contiguous. rope / 2 must be a multiple of the elements in 16 bytes.
// inverse: the transpose (the gradient). dtype: 0 = bfloat16, 1 = float32, 2 = float16.
struct Rope {
  const void* x;
  int64_t x_sb, x_sh, x_sn;
  void* y;
  int64_t y_sb, y_sh, y_sn;
  const float* cos;
  const float* sin;
  int batch, heads, n, dim, rope;
};
cudaError_t launch_rope(int dtype, const Rope& r, bool inverse, cudaStream_t stream);

}  // namespace fastmax
