// The PyTorch operators fastmax::fwd and fastmax::bwd (CUDA), registered with torch.library.
//
// Inputs are never written. fwd and bwd normalise q and k per token themselves when given
// eps > 0 (the default normalisation), else take them as given. float16 runs on the bfloat16
// kernels (converted copies: bfloat16 keeps float32's exponent range, which the carried state
// needs); bfloat16 and float32 are read in place when their token rows are 16-byte aligned,
// otherwise from contiguous copies. Outputs are new tensors (empty_like_layout).
#include <Python.h>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <tuple>

#include "fastmax.h"

namespace fastmax {
namespace {

// The head dims the kernels are built for; who names the caller in the error.
void check_head_dim(int64_t d, const char* who) {
  TORCH_CHECK_VALUE(d == 32 || d == 64 || d == 128 || d == 256, "fastmax ", who,
                    ": head_dim must be 32, 64, 128 or 256, got ", d);
}

void check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const std::pair<const char*, const at::Tensor*> named[] = {{"q", &q}, {"k", &k}, {"v", &v}};
  for (const auto& [name, t] : named) {
    TORCH_CHECK_VALUE(t->is_cuda(), "fastmax CUDA op: ", name, " must be a CUDA tensor, got ",
                      t->device());
    TORCH_CHECK_VALUE(t->dim() == 4, "fastmax CUDA op: ", name,
                      " must have 4 dimensions (batch, heads, tokens, head_dim), got ",
                      t->sizes());
    TORCH_CHECK_TYPE(t->scalar_type() == q.scalar_type(),
                     "fastmax CUDA op: q, k and v must share one dtype, got ", q.scalar_type(),
                     " and ", t->scalar_type());
    TORCH_CHECK_VALUE(t->device() == q.device(),
                      "fastmax CUDA op: q, k and v must be on one device");
  }
  const auto st = q.scalar_type();
  TORCH_CHECK_TYPE(st == at::kHalf || st == at::kBFloat16 || st == at::kFloat,
                   "fastmax CUDA op: dtype must be float16, bfloat16 or float32, got ", st);
  const int64_t d = q.size(3);
  check_head_dim(d, "CUDA op");
  TORCH_CHECK_VALUE(k.size(3) == d && v.size(3) == d,
                    "fastmax CUDA op: q, k and v must share head_dim ", d, ", got k ",
                    k.size(3), " and v ", v.size(3));
  TORCH_CHECK_VALUE(k.size(0) == q.size(0) && v.size(0) == q.size(0),
                    "fastmax CUDA op: batch sizes of q, k and v must match");
  TORCH_CHECK_VALUE(k.size(2) == q.size(2) && v.size(2) == q.size(2),
                    "fastmax CUDA op: token counts of q, k and v must match");
  TORCH_CHECK_VALUE(q.size(2) >= 1, "fastmax CUDA op: at least one token is needed");
  TORCH_CHECK_VALUE(v.size(1) == k.size(1) && k.size(1) >= 1 && q.size(1) % k.size(1) == 0,
                    "fastmax CUDA op: heads of q (", q.size(1),
                    ") must be a multiple of the heads of k and v (", k.size(1), ", ", v.size(1),
                    ")");
  TORCH_CHECK_VALUE(q.numel() < (int64_t(1) << 31) && k.numel() < (int64_t(1) << 31),
                    "fastmax CUDA op: tensors of 2^31 elements or more are not supported");
}

// t itself when its rows are 16-byte aligned with unit stride, else a contiguous copy.
at::Tensor aligned_rows(const at::Tensor& t) {
  const int64_t per16 = 16 / static_cast<int64_t>(t.element_size());
  const bool aligned = t.stride(3) == 1 && t.stride(0) % per16 == 0 && t.stride(1) % per16 == 0 &&
                       t.stride(2) % per16 == 0 &&
                       reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0;
  return aligned ? t : t.contiguous();
}

// The tensor the kernels read: float16 becomes bfloat16; rows must be 16-byte aligned.
at::Tensor kernel_view(const at::Tensor& t) {
  if (t.scalar_type() == at::kHalf) return t.to(at::kBFloat16).contiguous();
  return aligned_rows(t);
}

void set_roles(Params& p, const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) {
  p.a = a.data_ptr();
  p.b = b.data_ptr();
  p.c = c.data_ptr();
  p.a_sb = a.stride(0), p.a_sh = a.stride(1), p.a_sn = a.stride(2);
  p.b_sb = b.stride(0), p.b_sh = b.stride(1), p.b_sn = b.stride(2);
  p.c_sb = c.stride(0), p.c_sh = c.stride(1), p.c_sn = c.stride(2);
}

// An uninitialised (batch, heads, n, dim) tensor laid out like `like`: token-major (memory order
// batch, token, head, dim) when like's heads lie closer in memory than its tokens (a transposed
// view of a (batch, token, head, dim) tensor, as LitGPT passes v), else contiguous. A model
// that reshapes the attention's output, or the gradient of such a view, back to (batch, token,
// heads x dim) then needs no copy.
at::Tensor empty_like_layout(const at::Tensor& like, int64_t b, int64_t h, int64_t n, int64_t d,
                             const at::TensorOptions& options) {
  if (like.stride(1) < like.stride(2)) return at::empty({b, n, h, d}, options).transpose(1, 2);
  return at::empty({b, h, n, d}, options);
}

void set_out(Params& p, const at::Tensor& out) {
  p.out = out.data_ptr();
  p.o_sb = out.stride(0), p.o_sh = out.stride(1), p.o_sn = out.stride(2);
}

// Whether passes may split their sequence across blocks (FASTMAX_SEQUENCE_SPLIT=0: never, to
// compare against the unsplit kernels).
bool split_allowed() {
  const char* value = std::getenv("FASTMAX_SEQUENCE_SPLIT");
  return value == nullptr || std::string(value) != "0";
}

// Whether the forward pass can normalise rows with eps itself: it takes the rows' scales
// 1 / max(||x||, eps) without the slow paths of IEEE sqrtf and division (ieee_fast.cuh), exact
// for eps in [2^-50, 2^126).
constexpr bool eps_in_pass_range(double eps) { return eps >= 0x1p-50 && eps < 0x1p126; }

// Whether a float32 pass of this kind with these Params (batch, heads_a, n, dim, allow_tf32)
// runs the wgmma kernel on TF32 products (pass_tf32_fwd.cu): the forward or DQ, causal,
// available (launch_tf32_fwd_available: head dim 64, or 128 with TF32 allowed;
// launch_tf32_dq_available: head dim 64; built for this device) and not wanting a split. DK
// and DV: launch_tf32_reversed.
bool tf32_taken(Kind kind, bool causal, const Params& p) {
  const bool available = kind == kFwd ? launch_tf32_fwd_available(p)
                                      : kind == kDq && launch_tf32_dq_available(p);
  return causal && available && tf32_fwd_unsplit(p, split_allowed());
}

// DK or DV on the same kernel (launch_tf32_dk, launch_tf32_dv) with Params as the forward's with
// the pass's roles, reversed in time here (each float32 row pointer moved to token n - 1, its
// token stride negated); false where they do not run (float32, causal, head dim 64, one query
// head per key/value head, unsplit, n > 0, and eps in the pass's range when q's row scales are
// folded: DV takes them from q's tiles).
bool launch_tf32_reversed(Kind kind, Params p, at::ScalarType st, bool causal, bool folded,
                          double eps, cudaStream_t stream) {
  if (st != at::kFloat || !causal || p.n == 0 || (folded && !eps_in_pass_range(eps)) ||
      !launch_tf32_dv_available(p) || !tf32_fwd_unsplit(p, split_allowed()))
    return false;
  const int64_t last = p.n - 1;
  p.a = static_cast<const float*>(p.a) + last * p.a_sn, p.a_sn = -p.a_sn;
  p.b = static_cast<const float*>(p.b) + last * p.b_sn, p.b_sn = -p.b_sn;
  p.c = static_cast<const float*>(p.c) + last * p.c_sn, p.c_sn = -p.c_sn;
  p.out = static_cast<float*>(p.out) + last * p.o_sn, p.o_sn = -p.o_sn;
  const cudaError_t err = kind == kDk ? launch_tf32_dk(p, stream) : launch_tf32_dv(p, stream);
  TORCH_CHECK(err == cudaSuccess, "fastmax CUDA kernel launch failed: ", cudaGetErrorString(err));
  return true;
}

// Launches one pass on `stream`. Returns the buffer of segment states (undefined when the pass
// is not split), allocated on the current stream: the caller keeps it until `stream`'s work is
// ordered before the current stream's.
at::Tensor run_pass(Kind kind, bool causal, Params p, const at::Tensor& like, at::ScalarType st,
                    cudaStream_t stream) {
  at::Tensor states;
  cudaError_t err;
  if (st == at::kFloat && tf32_taken(kind, causal, p)) {
    err = kind == kFwd ? launch_tf32_fwd(p, stream) : launch_tf32_dq(p, stream);
  } else {
    TORCH_CHECK(p.b_eps == 0.f, "fastmax CUDA op: k's rows are normalised in the pass by the "
                "TF32 forward only");
    const SplitPlan plan = plan_split(st == at::kFloat ? 1 : 0, kind, causal, p, split_allowed());
    if (plan.segments > 1) {
      states = at::empty({plan.state_floats}, like.options().dtype(at::kFloat));
      p.states = states.data_ptr<float>();
      p.seg_chunks = plan.seg_chunks;
    }
    err = st == at::kFloat ? launch_pass_f32(kind, causal, p, stream)
                           : launch_pass_bf16(kind, causal, p, stream);
  }
  TORCH_CHECK_VALUE(err != kErrSharedMemory, "fastmax CUDA op: ", st, " with head_dim ", p.dim,
                    " needs more shared memory per block than this GPU offers; use "
                    "backend='torch' (or bfloat16) for this configuration");
  TORCH_CHECK(err == cudaSuccess, "fastmax CUDA kernel launch failed: ", cudaGetErrorString(err));
  return states;
}

Params base_params(const at::Tensor& q, const at::Tensor& k, double a0, double a1,
                   bool allow_tf32, const float* a1_heads) {
  Params p{};
  p.batch = static_cast<int>(q.size(0));
  p.n = static_cast<int>(q.size(2));
  p.dim = static_cast<int>(q.size(3));
  p.group = static_cast<int>(q.size(1) / k.size(1));
  p.a0 = static_cast<float>(a0);
  p.a1 = static_cast<float>(a1);
  p.a1_heads = a1_heads;
  p.allow_tf32 = allow_tf32 ? 1 : 0;
  return p;
}

// The a1 of each key/value head (Params::a1_heads; nullptr when not given), checked against q
// and k: per-head weights take q and k as given (eps == 0).
const float* heads_a1(const std::optional<at::Tensor>& a1_heads, const at::Tensor& q,
                      const at::Tensor& k, double eps) {
  if (!a1_heads.has_value()) return nullptr;
  const at::Tensor& t = *a1_heads;
  TORCH_CHECK_VALUE(eps == 0, "fastmax CUDA op: a1_heads needs eps == 0 (q and k as given), got ",
                    eps);
  TORCH_CHECK_VALUE(t.scalar_type() == at::kFloat && t.is_contiguous() &&
                        t.device() == q.device() &&
                        t.sizes() == at::IntArrayRef({k.size(0), k.size(1)}),
                    "fastmax CUDA op: a1_heads must be a contiguous float32 tensor of shape "
                    "(batch, key/value heads) = ",
                    at::IntArrayRef({k.size(0), k.size(1)}), " on q's device, got ",
                    t.scalar_type(), " ", t.sizes(), " on ", t.device());
  return t.data_ptr<float>();
}

// Out and den of the attention of q and k; q_eps > 0 (bfloat16 and float16, and the TF32
// forward): the pass normalises q's rows, x / max(||x||, q_eps), and writes their scales
// 1 / max(||x||, q_eps) into rq, else q and k are taken as given; k_eps > 0 (the TF32 forward
// only, with q_eps): the pass normalises k's rows as well. a1_heads: see Params.
std::tuple<at::Tensor, at::Tensor> attend(const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v, bool causal, double a0, double a1,
                                          bool allow_tf32, double q_eps,
                                          const float* a1_heads = nullptr,
                                          const at::Tensor& rq = at::Tensor(),
                                          double k_eps = 0.0) {
  const at::Tensor qk = kernel_view(q), kk = kernel_view(k), vk = kernel_view(v);
  const int64_t b = q.size(0), h = q.size(1), n = q.size(2), d = q.size(3);
  at::Tensor out = empty_like_layout(v, b, h, n, d, qk.options());
  at::Tensor den = at::empty({b, h, n}, q.options().dtype(at::kFloat));
  Params p = base_params(q, k, a0, a1, allow_tf32, a1_heads);
  set_roles(p, qk, kk, vk);
  set_out(p, out);
  p.den_out = den.data_ptr<float>();
  p.heads_a = static_cast<int>(h);
  p.heads_bc = static_cast<int>(k.size(1));
  p.a_eps = static_cast<float>(q_eps);
  if (q_eps > 0) p.rnorm_out = rq.data_ptr<float>();
  p.b_eps = static_cast<float>(k_eps);
  run_pass(kFwd, causal, p, q, qk.scalar_type(), c10::cuda::getCurrentCUDAStream());
  if (q.scalar_type() == at::kHalf) out = out.to(at::kHalf);
  return {out, den};
}

// The row kernels' dtype code (rows.cuh, visit_row_dtype); op names the caller in the error.
int row_dtype(const at::Tensor& t, const char* op) {
  const auto st = t.scalar_type();
  TORCH_CHECK_TYPE(st == at::kHalf || st == at::kBFloat16 || st == at::kFloat, "fastmax ", op,
                   ": dtype must be float16, bfloat16 or float32, got ", st);
  return st == at::kBFloat16 ? 0 : (st == at::kFloat ? 1 : 2);
}

// op names the caller in the errors.
void check_rows(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK_VALUE(t.is_cuda() && t.dim() == 4, "fastmax ", op, ": ", name,
                    " must be a 4-dimensional CUDA tensor, got ", t.sizes(), " on ", t.device());
  TORCH_CHECK_VALUE(t.size(3) >= 1 && t.size(3) <= 256, "fastmax ", op,
                    ": head_dim must be 1 to 256, got ", t.size(3));
}

// Rows with a unit stride along the head dimension (the kernels' layout).
at::Tensor unit_rows(const at::Tensor& t) { return t.stride(3) == 1 ? t : t.contiguous(); }

// batch, heads, n and dim of a row kernel's arguments, from x (batch, heads, n, dim).
template <typename Rows>
void set_row_dims(Rows& r, const at::Tensor& x) {
  r.batch = static_cast<int>(x.size(0)), r.heads = static_cast<int>(x.size(1));
  r.n = static_cast<int>(x.size(2)), r.dim = static_cast<int>(x.size(3));
}

// The rows of x (unit stride over dim) described for the row-norm kernels.
RowNorm row_norm_of(const at::Tensor& x, double eps) {
  RowNorm r{};
  r.x = x.data_ptr();
  r.x_sb = x.stride(0), r.x_sh = x.stride(1), r.x_sn = x.stride(2);
  set_row_dims(r, x);
  r.eps = static_cast<float>(eps);
  return r;
}

void launch_rows(const RowNorm& r, const at::Tensor& x, bool backward) {
  const cudaError_t err = launch_row_norm(row_dtype(x, "token_normalize"), r, backward,
                                          c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "fastmax CUDA kernel launch failed: ", cudaGetErrorString(err));
}

// y = x / max(||x||, eps) per row and 1 / max(||x||, eps).
std::tuple<at::Tensor, at::Tensor> token_normalize(const at::Tensor& x_in, double eps) {
  check_rows(x_in, "token_normalize", "x");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = unit_rows(x_in);
  at::Tensor y = at::empty(x.sizes(), x.options());
  at::Tensor rnorm = at::empty({x.size(0), x.size(1), x.size(2)}, x.options().dtype(at::kFloat));
  RowNorm r = row_norm_of(x, eps);
  r.y = y.data_ptr();
  r.rnorm = rnorm.data_ptr<float>();
  launch_rows(r, x, false);
  return {y, rnorm};
}

// dx of y = x * rnorm (token normalisation) from dy, written into dx (which may be dy itself
// when dy is contiguous: each row is read whole before it is written).
void token_normalize_bwd_into(const at::Tensor& grad_y_in, const at::Tensor& x_in,
                              const at::Tensor& rnorm_in, double eps, const at::Tensor& dx) {
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = unit_rows(x_in), dy = unit_rows(grad_y_in);
  TORCH_CHECK(dx.is_contiguous() && dx.sizes() == x.sizes() &&
                  (dx.data_ptr() != dy.data_ptr() || dy.is_contiguous()),
              "fastmax token_normalize_bwd: dx must be contiguous, and dy too when it is dy");
  const at::Tensor rnorm = rnorm_in.contiguous();
  RowNorm r = row_norm_of(x, eps);
  r.dy = dy.data_ptr();
  r.dy_sb = dy.stride(0), r.dy_sh = dy.stride(1), r.dy_sn = dy.stride(2);
  r.dx = dx.data_ptr();
  r.rnorm = rnorm.data_ptr<float>();
  launch_rows(r, x, true);
}

at::Tensor token_normalize_bwd(const at::Tensor& grad_y, const at::Tensor& x,
                               const at::Tensor& rnorm, double eps) {
  check_rows(x, "token_normalize", "x");
  check_rows(grad_y, "token_normalize", "grad_y");
  TORCH_CHECK_VALUE(grad_y.sizes() == x.sizes() && grad_y.scalar_type() == x.scalar_type(),
                    "fastmax token_normalize: grad_y must match x in shape and dtype");
  at::Tensor dx = at::empty(x.sizes(), x.options());
  token_normalize_bwd_into(grad_y, x, rnorm, eps, dx);
  return dx;
}

// Whether the float32 forward of q and k runs the wgmma kernel (as run_pass decides), which
// can normalise q's rows itself.
bool tf32_forward_taken_for(const at::Tensor& q, const at::Tensor& k, bool causal,
                            bool allow_tf32) {
  if (q.scalar_type() != at::kFloat) return false;  // no split plan
  Params p = base_params(q, k, 1.0, 1.0, allow_tf32, nullptr);
  p.heads_a = static_cast<int>(q.size(1));
  return tf32_taken(kFwd, causal, p);
}

// eps > 0: q and k are normalised per token (x / max(||x||, eps), as token_normalize does):
// k by token_normalize, whose result (kn) and row scales (rk) are returned for the backward;
// q inside the forward pass, which takes its rows' norms from the tiles and writes their
// scales (rq): the bfloat16 pass scales the rows in registers (chunk_kernel.cuh, kRowScales),
// the TF32 float32 pass folds the norms into its weights (pass_tf32_fwd.cu). Other float32
// passes, and eps outside eps_in_pass_range, read a temporary copy (token_normalize's
// rq). rq is returned for the backward.
// eps == 0: q and k as given, kn, rk and rq empty; a1_heads (eps == 0 only): see Params.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> fwd(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal, double a0,
    double a1, bool allow_tf32, double eps, const std::optional<at::Tensor>& a1_heads) {
  check_inputs(q, k, v);
  TORCH_CHECK_VALUE(eps >= 0, "fastmax CUDA op: eps must be >= 0 (0: no normalisation), got ",
                    eps);
  const float* a1h = heads_a1(a1_heads, q, k, eps);
  const c10::cuda::CUDAGuard guard(q.device());
  if (eps == 0) {
    auto [out, den] = attend(q, k, v, causal, a0, a1, allow_tf32, 0.0, a1h);
    const auto none = [&] { return at::empty({0}, den.options()); };  // distinct, not aliased
    return {out, den, at::empty({0}, k.options()), none(), none()};
  }
  auto [kn, rk] = token_normalize(k, eps);
  const bool in_pass =
      q.scalar_type() != at::kFloat || tf32_forward_taken_for(q, k, causal, allow_tf32);
  if (!in_pass || !eps_in_pass_range(eps)) {
    auto [qn, rq] = token_normalize(q, eps);
    auto [out, den] = attend(qn, kn, v, causal, a0, a1, allow_tf32, 0.0);
    return {out, den, kn, rk, rq};
  }
  const at::Tensor rq = at::empty({q.size(0), q.size(1), q.size(2)}, rk.options());
  auto [out, den] = attend(q, kn, v, causal, a0, a1, allow_tf32, eps, nullptr, rq);
  return {out, den, kn, rk, rq};
}

// The forward's out alone, for callers that need no gradient (nothing kept for a backward):
// q and k normalised per token with eps > 0, as fwd does. Where the TF32 forward runs
// (tf32_forward_taken_for) it normalises k's rows in the pass as well as q's, so no normalised
// copy of k is written; elsewhere this is fwd's out.
at::Tensor fwd_inference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         bool causal, double a0, double a1, bool allow_tf32, double eps) {
  check_inputs(q, k, v);
  TORCH_CHECK_VALUE(eps > 0, "fastmax CUDA op: fwd_inference normalises q and k: eps must be "
                    "> 0, got ", eps);
  const c10::cuda::CUDAGuard guard(q.device());
  if (eps_in_pass_range(eps) && tf32_forward_taken_for(q, k, causal, allow_tf32)) {
    const at::Tensor rq = at::empty({q.size(0), q.size(1), q.size(2)},
                                    q.options().dtype(at::kFloat));
    return std::get<0>(attend(q, k, v, causal, a0, a1, allow_tf32, eps, nullptr, rq, eps));
  }
  return std::get<0>(fwd(q, k, v, causal, a0, a1, allow_tf32, eps, std::nullopt));
}

// go[b, h, i] = <a[b, h, i], b[b, h, i]> in float32, on stream; a and b in the kernels' layout
// (kernel_view) with one shape and dtype.
void row_dot_into(const at::Tensor& a, const at::Tensor& b, const at::Tensor& go,
                  cudaStream_t stream) {
  RowDot r{};
  r.grad_out = a.data_ptr(), r.g_sb = a.stride(0), r.g_sh = a.stride(1), r.g_sn = a.stride(2);
  r.out = b.data_ptr(), r.o_sb = b.stride(0), r.o_sh = b.stride(1), r.o_sn = b.stride(2);
  r.go = go.data_ptr<float>();
  set_row_dims(r, a);
  const cudaError_t err = a.scalar_type() == at::kFloat ? launch_row_dot_f32(r, stream)
                                                        : launch_row_dot_bf16(r, stream);
  TORCH_CHECK(err == cudaSuccess, "fastmax CUDA kernel launch failed: ", cudaGetErrorString(err));
}

// <a_i, b_i> per row, float32 (batch, heads, n), of a and b (batch, heads, n, head_dim) of one
// shape and dtype (float16, bfloat16 or float32) on one CUDA device.
at::Tensor row_dot(const at::Tensor& a_in, const at::Tensor& b_in) {
  check_rows(a_in, "row_dot", "a");
  check_rows(b_in, "row_dot", "b");
  TORCH_CHECK_VALUE(a_in.sizes() == b_in.sizes() && a_in.device() == b_in.device(),
                    "fastmax row_dot: a and b must share shape and device, got ", a_in.sizes(),
                    " on ", a_in.device(), " and ", b_in.sizes(), " on ", b_in.device());
  TORCH_CHECK_TYPE(a_in.scalar_type() == b_in.scalar_type(),
                   "fastmax row_dot: a and b must share one dtype, got ", a_in.scalar_type(),
                   " and ", b_in.scalar_type());
  row_dtype(a_in, "row_dot");
  check_head_dim(a_in.size(3), "row_dot");
  const c10::cuda::CUDAGuard guard(a_in.device());
  // float16 is read from float32 copies (the kernels' bfloat16 would round it).
  const auto view = [](const at::Tensor& t) {
    return t.scalar_type() == at::kHalf ? t.to(at::kFloat) : aligned_rows(t);
  };
  const at::Tensor a = view(a_in), b = view(b_in);
  at::Tensor go = at::empty({a.size(0), a.size(1), a.size(2)}, a.options().dtype(at::kFloat));
  row_dot_into(a, b, go, c10::cuda::getCurrentCUDAStream());
  return go;
}

// A float32 (batch, heads, n) tensor of per-row values on device, contiguous, for op's errors.
void check_row_values(const at::Tensor& t, const at::Tensor& like, const char* op,
                      const char* name) {
  TORCH_CHECK_VALUE(t.scalar_type() == at::kFloat && t.device() == like.device() &&
                        t.dim() == 3 && t.is_contiguous(),
                    "fastmax ", op, ": ", name, " must be contiguous float32 (batch, heads, n) on ",
                    like.device(), ", got ", t.scalar_type(), " ", t.sizes(), " on ", t.device());
}

// seq_max's peaks and per-head a1 from the squared row norms sq_q (batch, heads_q, n) and sq_k
// (batch, heads_k, n): see SeqMaxA1.
std::tuple<at::Tensor, at::Tensor, at::Tensor> seq_max_a1(const at::Tensor& sq_q,
                                                          const at::Tensor& sq_k, double a1,
                                                          double floor) {
  TORCH_CHECK_VALUE(sq_q.is_cuda(), "fastmax seq_max_a1: sq_q must be a CUDA tensor, got ",
                    sq_q.device());
  check_row_values(sq_q, sq_q, "seq_max_a1", "sq_q");
  check_row_values(sq_k, sq_q, "seq_max_a1", "sq_k");
  TORCH_CHECK_VALUE(sq_q.size(0) == sq_k.size(0) && sq_q.size(2) == sq_k.size(2) &&
                        sq_k.size(1) > 0 && sq_q.size(1) % sq_k.size(1) == 0,
                    "fastmax seq_max_a1: sq_q and sq_k must share batch and n, with heads of "
                    "sq_q a multiple of sq_k's, got ",
                    sq_q.sizes(), " and ", sq_k.sizes());
  const c10::cuda::CUDAGuard guard(sq_q.device());
  const int64_t batch = sq_q.size(0), heads_q = sq_q.size(1), heads_k = sq_k.size(1);
  at::Tensor peak_q = at::empty({batch, heads_q}, sq_q.options());
  at::Tensor peak_k = at::empty({batch, heads_k}, sq_q.options());
  at::Tensor a1_heads = at::empty({batch, heads_k}, sq_q.options());
  SeqMaxA1 s{};
  s.sq_q = sq_q.data_ptr<float>(), s.sq_k = sq_k.data_ptr<float>();
  s.peak_q = peak_q.data_ptr<float>(), s.peak_k = peak_k.data_ptr<float>();
  s.a1_heads = a1_heads.data_ptr<float>();
  s.a1 = static_cast<float>(a1), s.floor = static_cast<float>(floor);
  s.batch = static_cast<int>(batch), s.heads_q = static_cast<int>(heads_q);
  s.heads_k = static_cast<int>(heads_k), s.n = static_cast<int>(sq_q.size(2));
  const cudaError_t err = launch_seq_max_a1(s, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "fastmax CUDA kernel launch failed: ", cudaGetErrorString(err));
  return {peak_q, peak_k, a1_heads};
}

// dx += the gradient through seq_max's peak, in place on the rows holding a peak (the others are
// not touched): dx and x (batch, heads, n, head_dim) of one shape and dtype with unit stride over
// head_dim; sq and s float32 (batch, heads, n), peak float32 (batch, heads). See PeakGradient.
void add_peak_gradient_(const at::Tensor& dx, const at::Tensor& x_in, const at::Tensor& sq,
                        const at::Tensor& s, const at::Tensor& peak, double floor,
                        int64_t power) {
  check_rows(dx, "add_peak_gradient_", "dx");
  check_rows(x_in, "add_peak_gradient_", "x");
  TORCH_CHECK_VALUE(dx.sizes() == x_in.sizes() && dx.scalar_type() == x_in.scalar_type() &&
                        dx.device() == x_in.device() && dx.stride(3) == 1,
                    "fastmax add_peak_gradient_: dx (unit stride over head_dim) and x must share "
                    "shape, dtype and device, got ",
                    dx.sizes(), " and ", x_in.sizes());
  check_row_values(sq, dx, "add_peak_gradient_", "sq");
  check_row_values(s, dx, "add_peak_gradient_", "s");
  const auto rows = dx.sizes().slice(0, 3);
  TORCH_CHECK_VALUE(sq.sizes() == rows && s.sizes() == rows,
                    "fastmax add_peak_gradient_: sq and s must have shape (batch, heads, n) ",
                    rows, ", got ", sq.sizes(), " and ", s.sizes());
  TORCH_CHECK_VALUE(peak.scalar_type() == at::kFloat && peak.device() == dx.device() &&
                        peak.is_contiguous() && peak.sizes() == dx.sizes().slice(0, 2),
                    "fastmax add_peak_gradient_: peak must be contiguous float32 (batch, heads) "
                    "on dx's device, got ",
                    peak.scalar_type(), " ", peak.sizes());
  TORCH_CHECK_VALUE(power == 1 || power == 2,
                    "fastmax add_peak_gradient_: power must be 1 or 2, got ", power);
  const c10::cuda::CUDAGuard guard(dx.device());
  const at::Tensor x = unit_rows(x_in);
  PeakGradient g{};
  g.dx = dx.data_ptr(), g.d_sb = dx.stride(0), g.d_sh = dx.stride(1), g.d_sn = dx.stride(2);
  g.x = x.data_ptr(), g.x_sb = x.stride(0), g.x_sh = x.stride(1), g.x_sn = x.stride(2);
  g.sq = sq.data_ptr<float>(), g.s = s.data_ptr<float>(), g.peak = peak.data_ptr<float>();
  g.floor = static_cast<float>(floor), g.power = static_cast<int>(power);
  set_row_dims(g, x);
  const cudaError_t err = launch_add_peak_gradient(row_dtype(x, "add_peak_gradient_"), g,
                                                   c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "fastmax CUDA kernel launch failed: ", cudaGetErrorString(err));
}

// The gradients of the attention, with go = <dO, out> per row computed; dk and dv on side
// streams. rq undefined: q and k as given, each gradient in its input's layout, the three passes
// at once. rq defined (token normalisation, k given normalised): q raw with rq = 1 / max(||q||,
// eps) per row, folded into the dk and dv passes' row scalars (fastmax.h), and dq after dk and dv
// (at the paper's shape the three at once took the same median time, but some runs 5-8% longer:
// csrc/PERF.md v18); dq is then with respect to q as given (the DQN pass, or DQ and the
// normalisation's backward in place) and dk with respect to the normalised k, contiguous for
// that backward in place. a1_heads: see Params.
std::tuple<at::Tensor, at::Tensor, at::Tensor> gradients(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& out, const at::Tensor& den, bool causal, double a0, double a1,
    bool allow_tf32, const at::Tensor& rq = at::Tensor(), double eps = 0,
    const float* a1_heads = nullptr) {
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Tensor qk = kernel_view(q), kk = kernel_view(k), vk = kernel_view(v);
  const at::Tensor gk = kernel_view(grad_out);
  const at::Tensor ok = kernel_view(out);
  const at::Tensor dn = den.contiguous();
  const at::ScalarType st = qk.scalar_type();
  const int64_t b = q.size(0), h = q.size(1), n = q.size(2), d = q.size(3), hkv = k.size(1);
  const bool folded = rq.defined();
  // DK and DV's den and DV's beta (fastmax.h): den / rq and a0 / rq with folded norms.
  const at::Tensor den_rows = folded ? at::div(dn, rq) : dn;
  const at::Tensor beta =
      folded ? at::reciprocal(rq).mul_(a0) : at::full({b, h, n}, a0, dn.options());

  const at::Tensor go = at::empty({b, h, n}, q.options().dtype(at::kFloat));
  row_dot_into(gk, ok, go, stream);
  at::Tensor dq = folded ? at::empty({b, h, n, d}, qk.options())
                         : empty_like_layout(q, b, h, n, d, qk.options());
  at::Tensor dk = folded ? at::empty({b, hkv, n, d}, qk.options())
                         : empty_like_layout(k, b, hkv, n, d, qk.options());
  at::Tensor dv = empty_like_layout(v, b, hkv, n, d, qk.options());
  Params p = base_params(q, k, a0, a1, allow_tf32, a1_heads);
  p.den = dn.data_ptr<float>();
  p.go = go.data_ptr<float>();

  // dk and dv run on side streams, beside dq or before it. The side streams join the current one
  // before returning, so every tensor used there is released to the caching allocator only after
  // that work is done.
  const int device = q.get_device();
  const c10::cuda::CUDAStream side_k = c10::cuda::getStreamFromPool(false, device);
  const c10::cuda::CUDAStream side_v = c10::cuda::getStreamFromPool(false, device);
  at::cuda::CUDAEvent inputs_ready;
  inputs_ready.record(c10::cuda::getCurrentCUDAStream());
  inputs_ready.block(side_k);
  inputs_ready.block(side_v);

  Params pk = p;
  pk.heads_a = static_cast<int>(hkv), pk.heads_bc = static_cast<int>(h);
  set_roles(pk, vk, gk, qk);
  set_out(pk, dk);
  Params pv = pk;
  set_roles(pv, kk, qk, gk);
  set_out(pv, dv);
  // On the wgmma kernel where it runs them (launch_tf32_reversed) DK and DV take the forward's
  // den; q's row scales (folded) are given to DK and taken from q's tiles by DV.
  const at::Tensor rq_dk = folded ? rq.contiguous() : rq;
  Params wk = pk, wv = pv;
  wk.nq_rnorm = folded ? rq_dk.data_ptr<float>() : nullptr;
  wv.b_eps = folded ? static_cast<float>(eps) : 0.f;
  pk.den = pv.den = den_rows.data_ptr<float>();
  pk.beta = pv.beta = beta.data_ptr<float>();
  at::Tensor states_k, states_v;
  if (!launch_tf32_reversed(kDk, wk, st, causal, folded, eps, side_k.stream()))
    states_k = run_pass(kDk, causal, pk, q, st, side_k.stream());
  if (!launch_tf32_reversed(kDv, wv, st, causal, folded, eps, side_v.stream()))
    states_v = run_pass(kDv, causal, pv, q, st, side_v.stream());

  at::cuda::CUDAEvent k_done, v_done;
  k_done.record(side_k);
  v_done.record(side_v);
  const auto join = [&] {
    k_done.block(c10::cuda::getCurrentCUDAStream());
    v_done.block(c10::cuda::getCurrentCUDAStream());
  };
  if (folded) join();

  Params pq = p;
  pq.heads_a = static_cast<int>(h), pq.heads_bc = static_cast<int>(hkv);
  set_roles(pq, gk, vk, kk);
  set_out(pq, dq);
  // DQN where it is built (fastmax.h): bfloat16 tiles at head_dim 128.
  const bool dqn = folded && st == at::kBFloat16 && d == 128;
  const at::Tensor rq_rows = dqn ? rq.contiguous() : rq;
  if (dqn) {
    pq.nq = qk.data_ptr(), pq.nq_sb = qk.stride(0), pq.nq_sh = qk.stride(1);
    pq.nq_sn = qk.stride(2);
    pq.nq_rnorm = rq_rows.data_ptr<float>(), pq.nq_eps = static_cast<float>(eps);
  }
  const at::Tensor states_q = run_pass(dqn ? kDqn : kDq, causal, pq, q, st, stream);
  if (!folded) join();

  if (q.scalar_type() == at::kHalf) {
    dq = dq.to(at::kHalf), dk = dk.to(at::kHalf), dv = dv.to(at::kHalf);
  }
  if (folded && !dqn) token_normalize_bwd_into(dq, q, rq, eps, dq);
  return {dq, dk, dv};
}

// Gradients with respect to q, k and v. eps > 0: through fwd's token normalisation (kn, rk and
// rq from fwd; q and k raw). q's row scales are folded into the passes, and the normalisations'
// backward is in the dq pass (DQN) or in place on the passes' gradients, so the passes need no
// more memory than the gradients and kn.
std::tuple<at::Tensor, at::Tensor, at::Tensor> bwd(
    const at::Tensor& grad_out, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& out, const at::Tensor& den, const at::Tensor& kn, const at::Tensor& rk,
    const at::Tensor& rq, bool causal, double a0, double a1, bool allow_tf32, double eps,
    const std::optional<at::Tensor>& a1_heads) {
  check_inputs(q, k, v);
  TORCH_CHECK_VALUE(grad_out.sizes() == q.sizes() && out.sizes() == q.sizes(),
                    "fastmax CUDA op: grad_out and out must have q's shape ", q.sizes());
  TORCH_CHECK_TYPE(grad_out.scalar_type() == q.scalar_type() &&
                       out.scalar_type() == q.scalar_type(),
                   "fastmax CUDA op: grad_out and out must have q's dtype");
  TORCH_CHECK_VALUE(den.scalar_type() == at::kFloat && den.dim() == 3 && den.size(0) == q.size(0) &&
                        den.size(1) == q.size(1) && den.size(2) == q.size(2),
                    "fastmax CUDA op: den must be float32 of shape (batch, heads, tokens)");
  TORCH_CHECK_VALUE(grad_out.device() == q.device() && out.device() == q.device() &&
                        den.device() == q.device(),
                    "fastmax CUDA op: every tensor must be on q's device");
  TORCH_CHECK_VALUE(eps >= 0, "fastmax CUDA op: eps must be >= 0 (0: no normalisation), got ",
                    eps);
  const c10::cuda::CUDAGuard guard(q.device());
  const float* a1h = heads_a1(a1_heads, q, k, eps);
  if (eps == 0)
    return gradients(grad_out, q, k, v, out, den, causal, a0, a1, allow_tf32, at::Tensor(), 0,
                     a1h);
  TORCH_CHECK_VALUE(kn.sizes() == k.sizes() && kn.scalar_type() == k.scalar_type() &&
                        kn.device() == k.device() && rk.scalar_type() == at::kFloat &&
                        rk.sizes() == at::IntArrayRef({k.size(0), k.size(1), k.size(2)}) &&
                        rk.device() == k.device() && rq.scalar_type() == at::kFloat &&
                        rq.sizes() == den.sizes() && rq.device() == q.device(),
                    "fastmax CUDA op: with eps > 0, kn, rk and rq must be fwd's normalised k and "
                    "the float32 row scales of k and q");
  auto [dq, dk, dv] =
      gradients(grad_out, q, kn, v, out, den, causal, a0, a1, allow_tf32, rq, eps);
  token_normalize_bwd_into(dk, k, rk, eps, dk);
  return {dq, dk, dv};
}

// Rotary embedding of x's rows (inverse: its transpose, for the gradient); cos and sin are float32
// (n, rope), contiguous, with rope / 2 a multiple of the elements in 16 bytes (checked by the
// caller, fastmax/ops/rope.py). The result is token-major (memory order batch, token, head,
// dim): a model reshaping it, or the gradient of a transposed (batch, token, head, dim) view,
// to (batch, token, heads x dim) needs no copy.
at::Tensor rope(const at::Tensor& x_in, const at::Tensor& cos, const at::Tensor& sin,
                bool inverse) {
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = aligned_rows(x_in);
  const int64_t b = x.size(0), h = x.size(1), n = x.size(2), d = x.size(3);
  const at::Tensor y = at::empty({b, n, h, d}, x.options()).transpose(1, 2);
  Rope r{};
  r.x = x.data_ptr();
  r.x_sb = x.stride(0), r.x_sh = x.stride(1), r.x_sn = x.stride(2);
  r.y = y.data_ptr();
  r.y_sb = y.stride(0), r.y_sh = y.stride(1), r.y_sn = y.stride(2);
  r.cos = cos.data_ptr<float>(), r.sin = sin.data_ptr<float>();
  r.batch = static_cast<int>(b), r.heads = static_cast<int>(h), r.n = static_cast<int>(n);
  r.dim = static_cast<int>(d), r.rope = static_cast<int>(cos.size(1));
  const cudaError_t err =
      launch_rope(row_dtype(x, "rope"), r, inverse, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "fastmax CUDA kernel launch failed: ", cudaGetErrorString(err));
  return y;
}

// Whether the passes for this dtype and head_dim fit the shared memory of a device.
bool fits_device(c10::ScalarType dtype, int64_t head_dim, int64_t device) {
  const size_t need = shared_memory_needed(dtype == at::kFloat ? 1 : 0, static_cast<int>(head_dim));
  int limit = 0;
  const cudaError_t err = cudaDeviceGetAttribute(
      &limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, static_cast<int>(device));
  TORCH_CHECK(err == cudaSuccess, "fastmax: cannot read the shared memory of device ", device,
              ": ", cudaGetErrorString(err));
  return need > 0 && need <= static_cast<size_t>(limit);
}

// Segments a pass (kind: 0 forward, 1 dq, 2 dk, 3 dv; causal or not) splits its sequence into
// (1: not split) for batch x heads x n tokens of head_dim on a GPU of the given SMs and shared
// memory; heads counts the heads the pass walks (query heads for forward and dq, key/value
// heads for dk, dv).
int64_t split_segments_of(c10::ScalarType dtype, int64_t kind, bool causal, int64_t batch,
                          int64_t heads, int64_t n, int64_t head_dim, int64_t sms,
                          int64_t smem_per_sm, int64_t smem_per_block) {
  check_head_dim(head_dim, "split_segments");
  TORCH_CHECK_VALUE(kind >= kFwd && kind <= kDv, "fastmax split_segments: kind must be 0 to 3, got ",
                    kind);
  TORCH_CHECK_VALUE(batch >= 0 && heads >= 0 && n >= 1 && sms >= 1 && smem_per_sm >= 1 &&
                        smem_per_block >= 1,
                    "fastmax split_segments: need batch, heads >= 0 and n, sms, shared memory >= 1");
  const GpuLimits gpu{static_cast<int>(sms), static_cast<int>(smem_per_sm),
                      static_cast<int>(smem_per_block)};
  return split_segments(dtype == at::kFloat ? 1 : 0, static_cast<Kind>(kind), causal, batch,
                        static_cast<int>(heads), static_cast<int>(n), static_cast<int>(head_dim), gpu);
}

}  // namespace
}  // namespace fastmax

TORCH_LIBRARY(fastmax, m) {
  m.def("fwd(Tensor q, Tensor k, Tensor v, bool causal, float a0, float a1, bool allow_tf32, "
        "float eps=0., Tensor? a1_heads=None) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("fwd_inference(Tensor q, Tensor k, Tensor v, bool causal, float a0, float a1, "
        "bool allow_tf32, float eps) -> Tensor");
  m.def("bwd(Tensor grad_out, Tensor q, Tensor k, Tensor v, Tensor out, Tensor den, Tensor kn, "
        "Tensor rk, Tensor rq, bool causal, float a0, float a1, bool allow_tf32, float eps, "
        "Tensor? a1_heads=None) "
        "-> (Tensor, Tensor, Tensor)");
  m.def("token_normalize(Tensor x, float eps) -> (Tensor, Tensor)");
  m.def("token_normalize_bwd(Tensor grad_y, Tensor x, Tensor rnorm, float eps) -> Tensor");
  m.def("rope(Tensor x, Tensor cos, Tensor sin, bool inverse) -> Tensor");
  m.def("row_dot(Tensor a, Tensor b) -> Tensor");
  m.def("seq_max_a1(Tensor sq_q, Tensor sq_k, float a1, float floor) -> (Tensor, Tensor, Tensor)");
  m.def("add_peak_gradient_(Tensor(a!) dx, Tensor x, Tensor sq, Tensor s, Tensor peak, "
        "float floor, int power) -> ()");
  m.def("fits_device(ScalarType dtype, int head_dim, int device) -> bool", &fastmax::fits_device);
  m.def("split_segments(ScalarType dtype, int kind, bool causal, int batch, int heads, int n, "
        "int head_dim, int sms, int smem_per_sm, int smem_per_block) -> int",
        &fastmax::split_segments_of);
}

TORCH_LIBRARY_IMPL(fastmax, CUDA, m) {
  m.impl("fwd", &fastmax::fwd);
  m.impl("fwd_inference", &fastmax::fwd_inference);
  m.impl("bwd", &fastmax::bwd);
  m.impl("token_normalize", &fastmax::token_normalize);
  m.impl("token_normalize_bwd", &fastmax::token_normalize_bwd);
  m.impl("rope", &fastmax::rope);
  m.impl("row_dot", &fastmax::row_dot);
  m.impl("seq_max_a1", &fastmax::seq_max_a1);
  m.impl("add_peak_gradient_", &fastmax::add_peak_gradient_);
}

// A Python module so that `import fastmax._C` loads the library and runs the registrations.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module);
}
