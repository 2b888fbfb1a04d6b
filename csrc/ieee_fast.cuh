// The IEEE reciprocal, division and square root without their slow-path calls.
//
// nvcc compiles 1.f / x, a / b and sqrtf(x) to a hardware approximation and one Newton step, and
// branches to a called subroutine for arguments outside the range where that step is exact. A
// call inside a loop keeps ptxas from holding the loop's wgmma descriptors in uniform registers.
// These functions take the same fast path, operation for operation, so inside its range they are
// bitwise equal to nvcc's; outside it they take the approximation instead of the call.
#pragma once

#include <cstdint>

namespace fastmax {

// 1 / x, bitwise equal to 1.f / x for |x| in [2^-126, 2^126). Outside that range the
// approximation flushed to zero: 0 -> inf, inf -> 0 and NaN -> NaN as IEEE; a denormal x gives inf
// and |x| >= 2^126 gives 0 where IEEE gives a large number or a denormal.
__device__ __forceinline__ float rcp_fast(float x) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  const bool exact = ((__float_as_uint(x) + 0x01800000u) & 0x7f800000u) > 0x01ffffffu;
  return exact ? fmaf(r, fmaf(-x, r, 1.f), r) : r;
}

// a / b, bitwise equal to a / b where |a| and |b| lie in [2^-63, 2^63): nvcc's fast path, whose
// steps are exact there (no intermediate leaves the normal range). Elsewhere a * rcp_fast(b).
__device__ __forceinline__ float div_fast(float a, float b) {
  const auto moderate = [](float x) { return (__float_as_uint(x) >> 23 & 0xffu) - 64u < 126u; };
  const float r = rcp_fast(b);
  if (!(moderate(a) && moderate(b))) return a * r;
  const float q = fmaf(r, a, 0.f);
  return fmaf(r, fmaf(-b, q, a), q);
}

// max(sqrt(ss), eps), bitwise equal to fmaxf(sqrtf(ss), eps) for every ss when eps >= 2^-50.
// sqrtf's Newton step is exact for ss in [2^-101, FLT_MAX]; below it sqrt(ss) < 2^-50.5 <= eps
// and infinity is its own root, so ss itself stands in there (a NaN or negative ss gives eps, as
// fmaxf of sqrtf's NaN does).
__device__ __forceinline__ float clamped_norm(float ss, float eps) {
  float r;
  asm("rsqrt.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(ss));
  const bool exact = __float_as_uint(ss) - 0x0d000000u <= 0x727fffffu;
  const float s = __fmul_rn(ss, r);
  const float root = fmaf(fmaf(-s, s, ss), __fmul_rn(r, 0.5f), s);
  return fmaxf(exact ? root : ss, eps);
}

}  // namespace fastmax
