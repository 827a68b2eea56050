/* mmb_bconv_epilogue_nhwc.h -- the one-pass NHWC epilogue of the vector paths, written once over
 * a vector type: MmbVec16 (16 lanes: the AVX-512 and AMX paths), MmbVec8 (8 lanes: AVX2),
 * MmbVec4 (4 lanes: NEON). Included by their files, each compiled with its own flags (static
 * templates: one copy per file). Not an ABI.
 */
#ifndef MMB_BCONV_EPILOGUE_NHWC_H
#define MMB_BCONV_EPILOGUE_NHWC_H

#include <string.h>

#include <type_traits>

#include "mmb_bconv_internal.h"

#if defined(MMB_X86)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* A vector type V: W float / int32 lanes and a lane mask M (V::first(n): lanes 0 .. n - 1).
   Loads and stores take kFull (every lane: plain loads and stores) or the mask (masked-off lanes
   load 0 and are not stored); ge_bits: bit l set where lane l is valid and f >= t. */
#if defined(MMB_X86) && defined(__AVX512F__)
struct MmbVec16 {
  static const int W = 16;
  typedef __m512 F;
  typedef __m512i I;
  typedef __mmask16 M;
  static M first(int n) { return (M)(n >= 16 ? 0xffff : n > 0 ? (1u << n) - 1 : 0); }
  template <bool kFull>
  static I loadi(const int32_t *a, M m) {
    if constexpr (kFull) return _mm512_loadu_si512(a);
    return _mm512_maskz_loadu_epi32(m, a);
  }
  template <bool kFull>
  static F loadf(const float *a, M m) {
    if constexpr (kFull) return _mm512_loadu_ps(a);
    return _mm512_maskz_loadu_ps(m, a);
  }
  template <bool kFull>
  static void store(float *a, M m, F v) {
    if constexpr (kFull)
      _mm512_storeu_ps(a, v);
    else
      _mm512_mask_storeu_ps(a, m, v);
  }
  template <bool kFull>
  static unsigned ge_bits(F f, F t, M m) {
    if constexpr (kFull) return _mm512_cmp_ps_mask(f, t, _CMP_GE_OQ);
    return _mm512_mask_cmp_ps_mask(m, f, t, _CMP_GE_OQ);
  }
  static I seti(int v) { return _mm512_set1_epi32(v); }
  static F setf(float v) { return _mm512_set1_ps(v); }
  static I addi(I a, I b) { return _mm512_add_epi32(a, b); }
  static I subi(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I twice(I a) { return _mm512_slli_epi32(a, 1); }
  static F cvt(I a) { return _mm512_cvtepi32_ps(a); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F ge0_select(F f, F lo, F hi) {  // hi where f >= 0, else lo (NaN: lo)
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(f, _mm512_setzero_ps(), _CMP_GE_OQ), lo, hi);
  }
};
#endif

#if defined(MMB_X86) && defined(__AVX2__)
struct MmbVec8 {
  static const int W = 8;
  typedef __m256 F;
  typedef __m256i I;
  typedef __m256i M;  // -1 in the valid lanes
  static M first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  template <bool kFull>
  static I loadi(const int32_t *a, M m) {
    if constexpr (kFull) return _mm256_loadu_si256((const __m256i *)a);
    return _mm256_maskload_epi32(a, m);
  }
  template <bool kFull>
  static F loadf(const float *a, M m) {
    if constexpr (kFull) return _mm256_loadu_ps(a);
    return _mm256_maskload_ps(a, m);
  }
  template <bool kFull>
  static void store(float *a, M m, F v) {
    if constexpr (kFull)
      _mm256_storeu_ps(a, v);
    else
      _mm256_maskstore_ps(a, m, v);
  }
  template <bool kFull>
  static unsigned ge_bits(F f, F t, M m) {
    const unsigned b = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(f, t, _CMP_GE_OQ));
    if constexpr (kFull) return b;
    return b & (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m));
  }
  static I seti(int v) { return _mm256_set1_epi32(v); }
  static F setf(float v) { return _mm256_set1_ps(v); }
  static I addi(I a, I b) { return _mm256_add_epi32(a, b); }
  static I subi(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I twice(I a) { return _mm256_slli_epi32(a, 1); }
  static F cvt(I a) { return _mm256_cvtepi32_ps(a); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F ge0_select(F f, F lo, F hi) {  // hi where f >= 0, else lo (NaN: lo)
    return _mm256_blendv_ps(lo, hi, _mm256_cmp_ps(f, _mm256_setzero_ps(), _CMP_GE_OQ));
  }
};
#endif

#if defined(__aarch64__)
struct MmbVec4 {
  static const int W = 4;
  typedef float32x4_t F;
  typedef int32x4_t I;
  typedef int M;  // the number of valid lanes: no masked loads in NEON, a partial vector is copied
  static M first(int n) { return n >= 4 ? 4 : n > 0 ? n : 0; }
  template <bool kFull>
  static I loadi(const int32_t *a, M m) {
    if constexpr (kFull) return vld1q_s32(a);
    int32_t t[4] = {0, 0, 0, 0};
    memcpy(t, a, sizeof(int32_t) * (size_t)m);
    return vld1q_s32(t);
  }
  template <bool kFull>
  static F loadf(const float *a, M m) {
    if constexpr (kFull) return vld1q_f32(a);
    float t[4] = {0.f, 0.f, 0.f, 0.f};
    memcpy(t, a, sizeof(float) * (size_t)m);
    return vld1q_f32(t);
  }
  template <bool kFull>
  static void store(float *a, M m, F v) {
    if constexpr (kFull) {
      vst1q_f32(a, v);
    } else {
      float t[4];
      vst1q_f32(t, v);
      memcpy(a, t, sizeof(float) * (size_t)m);
    }
  }
  template <bool kFull>
  static unsigned ge_bits(F f, F t, M m) {
    const uint32x4_t lane_bit = {1, 2, 4, 8};
    const unsigned b = vaddvq_u32(vandq_u32(vcgeq_f32(f, t), lane_bit));
    if constexpr (kFull) return b;
    return b & ((1u << m) - 1);
  }
  static I seti(int v) { return vdupq_n_s32(v); }
  static F setf(float v) { return vdupq_n_f32(v); }
  static I addi(I a, I b) { return vaddq_s32(a, b); }
  static I subi(I a, I b) { return vsubq_s32(a, b); }
  static I twice(I a) { return vshlq_n_s32(a, 1); }
  static F cvt(I a) { return vcvtq_f32_s32(a); }
  static F add(F a, F b) { return vaddq_f32(a, b); }
  static F sub(F a, F b) { return vsubq_f32(a, b); }
  static F mul(F a, F b) { return vmulq_f32(a, b); }
  static F ge0_select(F f, F lo, F hi) {  // hi where f >= 0, else lo (NaN: lo)
    return vbslq_f32(vcgeq_f32(f, vdupq_n_f32(0.f)), hi, lo);
  }
};
#endif

/* The epilogue of NHWC rows where it is the common one (scale, bias, residual, RPReLU / PReLU /
   Maxout: mmb_epilogue_nhwc_fits): one pass, V::W channels a vector, the per-pixel branches of
   mmb_epilogue_t hoisted. The same operations in the same order as mmb_epilogue_t (no
   contraction: -ffp-contract=off), so the same floats. kDot: cnt holds dot products d of +/-1
   vectors (the AMX path), whose popcount is (T - d) / 2 with T = taps x cpg, so
   base - 2 popcount = base - T + d. */
static inline int mmb_epilogue_nhwc_fits(const mmb_ctx *c) {
  const mmb_bconv_params *p = c->p;
  return c->nhwc && !p->sign_threshold && !p->window_scale && !p->mask_scale &&
         !p->mask_window_scale;
}

/* Output pixels (oy, ox) for ox0 <= ox < ox1 of image n, group g (all its opg channels); cr:
   their counts, pixels ldp int32 apart. The per-call and per-row setup is done once per run, so a
   64-channel layer (4 or 8 vectors a pixel) does not pay it per pixel.
   With p->y_bits (groups 1) also each pixel's bits, y >= y_bits_threshold: the compares of each
   64 channels make one word, written here at once.
   The residual (and with kPrefetchCounts the counts) kMmbAhead values ahead are prefetched, once
   per 64-byte line: the hardware prefetcher runs too short a distance for these streams
   (measured: the 64-channel layer's epilogue 53 -> 38-45 us). A prefetch past the end of a
   buffer cannot fault. */
static const int kMmbAhead = 1024;

/* The optional steps of the epilogue, as bits: a run specialised for its set (kF >= 0) has no
   per-vector branches on them; kF = -1 tests them at run time (any other set). */
enum { kMmbRes = 1, kMmbPre = 2, kMmbNeg = 4, kMmbPos = 8, kMmbPost = 16, kMmbBits = 32 };
static inline int mmb_epilogue_steps(const mmb_bconv_params *p) {
  return (p->residual ? kMmbRes : 0) | (p->pre_shift ? kMmbPre : 0) | (p->prelu ? kMmbNeg : 0) |
         (p->pos_slope ? kMmbPos : 0) | (p->post_shift ? kMmbPost : 0) | (p->y_bits ? kMmbBits : 0);
}

template <class V, bool kDot, bool kPrefetchCounts, int kF>
static inline void mmb_epilogue_nhwc_run_t(const mmb_ctx *c, int n, int g, int oy, int ox0,
                                           int ox1, const int32_t *cr, int ldp, float *y) {
  typedef typename V::F F;
  typedef typename V::I I;
  typedef typename V::M M;
  const int W = V::W;
  const mmb_bconv_params *p = c->p;
  const int steps = kF >= 0 ? kF : mmb_epilogue_steps(p);
  const int O = p->out_c, nch = c->opg, oc = g * nch;
  const size_t Y = (size_t)oy * c->ysh + c->yr, ysw = (size_t)c->ysw;
  const size_t row = ((size_t)n * c->yh + Y) * c->yw;  // pixel index of column 0 of row Y
  const int32_t *bs = c->base + ((size_t)c->rowpat[oy] * p->out_w + ox0) * O + oc;
  const float *sc = p->scale + oc, *bi = p->bias + oc;
  const float *pre = p->pre_shift + oc, *post = p->post_shift + oc;  // used where set (steps)
  const float *neg = p->prelu + oc, *pos = p->pos_slope + oc;
  const bool up = p->residual_upsample > 1;
  const I tv = V::seti(c->taps * c->cpg);
  const F bt = V::setf(p->y_bits_threshold);
  const int bw = (O + 63) / 64;
  const M all = V::first(W);  // unused by the kFull loads and stores
  for (int ox = ox0; ox < ox1; ++ox, bs += O, cr += ldp) {
    const size_t X = (size_t)ox * ysw + c->yq, pixel = row + X;
    float *yr = y + pixel * O + oc;
    const float *rr = !(steps & kMmbRes) ? 0 : !up ? p->residual + pixel * O + oc
                                                : mmb_residual_nhwc(c, n, Y, X, pixel, oc);
    // channels i .. i + W (lanes m; every lane: kFull): y stored, its bits (the packing's
    // comparison) returned
    auto lane = [&](auto full, int i, M m) -> unsigned {
      constexpr bool kFull = decltype(full)::value;
      if (W >= 16 || (i & 15) == 0) {
        if (kPrefetchCounts) __builtin_prefetch(cr + kMmbAhead + i);
        if (steps & kMmbRes) __builtin_prefetch(rr + kMmbAhead + i);
      }
      const I b = V::template loadi<kFull>(bs + i, m), q = V::template loadi<kFull>(cr + i, m);
      const I v = kDot ? V::addi(V::subi(b, tv), q) : V::subi(b, V::twice(q));
      F f = V::add(V::mul(V::cvt(v), V::template loadf<kFull>(sc + i, m)),
                   V::template loadf<kFull>(bi + i, m));
      if (steps & kMmbRes) f = V::add(f, V::template loadf<kFull>(rr + i, m));
      if (steps & kMmbPre) f = V::sub(f, V::template loadf<kFull>(pre + i, m));
      if (steps & (kMmbPos | kMmbNeg)) {
        const F hi = steps & kMmbPos ? V::mul(V::template loadf<kFull>(pos + i, m), f) : f;
        const F lo = steps & kMmbNeg ? V::mul(V::template loadf<kFull>(neg + i, m), f) : f;
        f = V::ge0_select(f, lo, hi);
      }
      if (steps & kMmbPost) f = V::add(f, V::template loadf<kFull>(post + i, m));
      V::template store<kFull>(yr + i, m, f);
      return V::template ge_bits<kFull>(f, bt, m);  // unused (dropped) without y_bits
    };
    const std::true_type every;
    const std::false_type masked;
    if (!(steps & kMmbBits)) {
      int i = 0;
      for (; i + W <= nch; i += W) lane(every, i, all);
      if (i < nch) lane(masked, i, V::first(nch - i));
      continue;
    }
    uint64_t *bits = p->y_bits + pixel * bw + (oc >> 6);
    int i = 0;
    for (; i + 64 <= nch; i += 64) {
      uint64_t w = 0;
#pragma GCC unroll 8
      for (int k = 0; k < 64 / W; ++k) w |= (uint64_t)lane(every, i + W * k, all) << (W * k);
      *bits++ = w;
    }
    if (i < nch) {  // the last word: lanes past nch compare false, so its high bits are 0
      uint64_t w = 0;
      for (int k = 0; i + W * k < nch; ++k)
        w |= (uint64_t)lane(masked, i + W * k, V::first(nch - i - W * k)) << (W * k);
      *bits = w;
    }
  }
}

/* Output pixels ox0 <= ox < ox1 of row oy (above), specialised for the step sets of the
   networks here: none, the residual, + PReLU (Bi-Real), + RPReLU, + Maxout (AdaBin), each with
   and without the bit output; any other set tests its steps per vector. Not inlined: inlined
   into the AMX path's count loop, its many bodies cost that loop's own code (measured: the
   512-channel layer's tile products 75 -> 101 us). */
template <class V, bool kDot, bool kPrefetchCounts>
__attribute__((noinline)) static void mmb_epilogue_nhwc_run(const mmb_ctx *c, int n, int g,
                                                            int oy, int ox0, int ox1,
                                                            const int32_t *cr, int ldp, float *y) {
  switch (mmb_epilogue_steps(c->p)) {
#define MMB_RUN_CASE(S)                                                                       \
  case S:                                                                                     \
    mmb_epilogue_nhwc_run_t<V, kDot, kPrefetchCounts, S>(c, n, g, oy, ox0, ox1, cr, ldp, y);   \
    return;                                                                                   \
  case S | kMmbBits:                                                                          \
    mmb_epilogue_nhwc_run_t<V, kDot, kPrefetchCounts, S | kMmbBits>(c, n, g, oy, ox0, ox1, cr, \
                                                                    ldp, y);                  \
    return;
    MMB_RUN_CASE(0)
    MMB_RUN_CASE(kMmbRes)
    MMB_RUN_CASE(kMmbRes | kMmbNeg)
    MMB_RUN_CASE(kMmbRes | kMmbPre | kMmbNeg | kMmbPost)
    MMB_RUN_CASE(kMmbRes | kMmbNeg | kMmbPos)
#undef MMB_RUN_CASE
    default:
      mmb_epilogue_nhwc_run_t<V, kDot, kPrefetchCounts, -1>(c, n, g, oy, ox0, ox1, cr, ldp, y);
  }
}

/* Rows oy0 <= oy < oy1; cnt: their counts, [row][out_w][opg]. */
template <class V, bool kDot>
static inline void mmb_epilogue_nhwc(const mmb_ctx *c, int n, int g, int oy0, int oy1,
                                     const int32_t *cnt, float *y) {
  const int wo = c->p->out_w;
  for (int oy = oy0; oy < oy1; ++oy)
    mmb_epilogue_nhwc_run<V, kDot, true>(c, n, g, oy, 0, wo,
                                         cnt + (size_t)(oy - oy0) * wo * c->opg, c->opg, y);
}

#endif /* MMB_BCONV_EPILOGUE_NHWC_H */
