/* mmb_bconv_avx512_shared.h -- input packing and NHWC epilogue of the AVX-512 and AMX paths
 * (included by both, each compiled with AVX-512 flags; not an ABI). In the packing, store(dst,
 * wd, v) writes word wd (bits of channels 64 wd ..) of the pixel whose buffer words start at
 * dst: as bits (AVX-512) or expanded to int8 +/-1 (AMX).
 */
#ifndef MMB_BCONV_AVX512_SHARED_H
#define MMB_BCONV_AVX512_SHARED_H

#include "mmb_bconv_internal.h"

#if defined(MMB_X86)
#include <immintrin.h>

/* Up to 64 pixels of a row at a time (8 registers of 8 pixel words): per channel, one compare
   per 8 pixels -> 8-bit mask -> masked OR of the channel's bit into those pixel words (no
   bit-matrix transpose); the channel loop reads each input row contiguously. */
template <int NB>
static inline void mmb_pack_chunk_avx512(const float *xc, size_t plane, int c1, int nv, __m256 t,
                                         __m512i *acc) {
  for (int b = 0; b < NB; ++b) acc[b] = _mm512_setzero_si512();
  __mmask8 valid[NB];
  for (int b = 0; b < NB; ++b) {
    const int n = nv - 8 * b;
    valid[b] = (__mmask8)(n >= 8 ? 0xff : n > 0 ? (1u << n) - 1 : 0);
  }
  for (int j = 0; j < c1; ++j) {
    const __m512i bit = _mm512_set1_epi64((long long)(1ull << j));
    const float *xr = xc + (size_t)j * plane;
    for (int b = 0; b < NB; ++b) {
      const __m256 v = _mm256_maskz_loadu_ps(valid[b], xr + 8 * b);
      const __mmask8 ge = _mm256_mask_cmp_ps_mask(valid[b], v, t, _CMP_GE_OQ);
      acc[b] = _mm512_mask_or_epi64(acc[b], ge, acc[b], bit);
    }
  }
}

/* NHWC: a pixel's 64 channels are 4 compares of 16 floats, each a 16-bit mask. */
static inline uint64_t mmb_bits_nhwc_avx512(const float *xp, int n, float t) {
  const __m512 tv = _mm512_set1_ps(t);
  uint64_t v = 0;
  for (int k = 0; k < n; k += 16) {
    const int m = n - k >= 16 ? 16 : n - k;
    const __mmask16 valid = (__mmask16)(m == 16 ? 0xffff : (1u << m) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(valid, xp + k);
    v |= (uint64_t)_mm512_mask_cmp_ps_mask(valid, x, tv, _CMP_GE_OQ) << k;
  }
  return v;
}

template <class Store>
static inline void mmb_pack_avx512(const mmb_ctx *c, const float *x, int n, int g, int iy0,
                                   int iy1, Store store) {
  if (c->nhwc) {
    mmb_pack_nhwc_t(c, x, n, g, iy0, iy1, mmb_bits_nhwc_avx512, store);
    return;
  }
  const mmb_bconv_params *p = c->p;
  const int W = p->in_w, H = p->in_h, words = c->words, cpg = c->cpg, pix = c->pix;
  const __m256 t = _mm256_set1_ps(p->threshold);
  const size_t plane = (size_t)H * W;
  for (int iy = iy0; iy < iy1; ++iy) {
    const int r = p->pad_top + iy * p->in_dil_h;
    if (r < 0 || r >= c->hp) continue;
    uint64_t *row = c->xbuf + ((((size_t)n * p->groups + g) * c->hp + r) * c->wp) * pix;
    const float *x0 = x + (((size_t)n * p->in_c + (size_t)g * cpg) * H + iy) * W;
    // a bit buffer of one word per pixel: 8 consecutive pixels in one store
    const bool direct = p->in_dil_w == 1 && pix == 1 && p->pad_left >= 0 &&
                        p->pad_left + W <= c->wp;
    for (int ix = 0; ix < W; ix += 64) {
      const int nv = W - ix >= 64 ? 64 : W - ix;
      const int nb = (nv + 7) / 8;
      for (int wd = 0; wd < words; ++wd) {
        __m512i acc[8];
        const int c1 = cpg - 64 * wd >= 64 ? 64 : cpg - 64 * wd;
        const float *xc = x0 + (size_t)64 * wd * plane + ix;
        if (nb > 4)
          mmb_pack_chunk_avx512<8>(xc, plane, c1, nv, t, acc);
        else if (nb > 2)
          mmb_pack_chunk_avx512<4>(xc, plane, c1, nv, t, acc);
        else if (nb > 1)
          mmb_pack_chunk_avx512<2>(xc, plane, c1, nv, t, acc);
        else
          mmb_pack_chunk_avx512<1>(xc, plane, c1, nv, t, acc);
        for (int b = 0; b < nb; ++b) {
          const int n8 = nv - 8 * b >= 8 ? 8 : nv - 8 * b;
          if (direct) {
            _mm512_mask_storeu_epi64(row + p->pad_left + ix + 8 * b, (__mmask8)((1u << n8) - 1),
                                     acc[b]);
          } else {
            alignas(64) uint64_t out[8];
            _mm512_store_si512(out, acc[b]);
            for (int l = 0; l < n8; ++l) {
              const int q = p->pad_left + (ix + 8 * b + l) * p->in_dil_w;
              if (q >= 0 && q < c->wp) store(row + (size_t)q * pix, wd, out[l]);
            }
          }
        }
      }
    }
  }
}

/* The epilogue of NHWC rows where it is the common one (scale, bias, residual, RPReLU / PReLU /
   Maxout: mmb_epilogue_nhwc_fits): one pass, 16 channels a vector, the per-pixel branches of
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
   64-channel layer (4 vectors a pixel) does not pay it per pixel.
   With p->y_bits (groups 1) also each pixel's bits, y >= y_bits_threshold: the four 16-lane
   compares of each 64 channels make one word, written here at once.
   The residual (and with kPrefetchCounts the counts) kMmbAhead values ahead are prefetched:
   the hardware prefetcher runs too short a distance for these streams (measured: the 64-channel
   layer's epilogue 53 -> 38-45 us). A prefetch past the end of a buffer cannot fault. */
static const int kMmbAhead = 1024;

/* The optional steps of the epilogue, as bits: a run specialised for its set (kF >= 0) has no
   per-vector branches on them; kF = -1 tests them at run time (any other set). */
enum { kMmbRes = 1, kMmbPre = 2, kMmbNeg = 4, kMmbPos = 8, kMmbPost = 16, kMmbBits = 32 };
static inline int mmb_epilogue_steps(const mmb_bconv_params *p) {
  return (p->residual ? kMmbRes : 0) | (p->pre_shift ? kMmbPre : 0) | (p->prelu ? kMmbNeg : 0) |
         (p->pos_slope ? kMmbPos : 0) | (p->post_shift ? kMmbPost : 0) | (p->y_bits ? kMmbBits : 0);
}

template <bool kDot, bool kPrefetchCounts, int kF>
static inline void mmb_epilogue_nhwc_run_t(const mmb_ctx *c, int n, int g, int oy, int ox0,
                                           int ox1, const int32_t *cr, int ldp, float *y) {
  const mmb_bconv_params *p = c->p;
  const int F = kF >= 0 ? kF : mmb_epilogue_steps(p);
  const int O = p->out_c, nch = c->opg, oc = g * nch;
  const size_t Y = (size_t)oy * c->ysh + c->yr, ysw = (size_t)c->ysw;
  const size_t row = ((size_t)n * c->yh + Y) * c->yw;  // pixel index of column 0 of row Y
  const int32_t *bs = c->base + ((size_t)c->rowpat[oy] * p->out_w + ox0) * O + oc;
  const float *sc = p->scale + oc, *bi = p->bias + oc;
  const float *pre = p->pre_shift + oc, *post = p->post_shift + oc;  // used where set (F)
  const float *neg = p->prelu + oc, *pos = p->pos_slope + oc;
  const bool up = p->residual_upsample > 1;
  const __m512i tv = _mm512_set1_epi32(c->taps * c->cpg);
  const __m512 bt = _mm512_set1_ps(p->y_bits_threshold);
  const int bw = (O + 63) / 64;
  auto lanes = [nch](int i) {
    return (__mmask16)(nch - i >= 16 ? 0xffff : nch - i > 0 ? (1u << (nch - i)) - 1 : 0);
  };
  for (int ox = ox0; ox < ox1; ++ox, bs += O, cr += ldp) {
    const size_t X = (size_t)ox * ysw + c->yq, pixel = row + X;
    float *yr = y + pixel * O + oc;
    const float *rr = !(F & kMmbRes) ? 0 : !up ? p->residual + pixel * O + oc
                                               : mmb_residual_nhwc(c, n, Y, X, pixel, oc);
    // channels i .. i + 16 (lanes m; m = 0xffff, a constant, compiles to unmasked loads and
    // stores): y stored, its bits (the packing's comparison) returned
    auto lane16 = [&](int i, __mmask16 m) -> __mmask16 {
      if (kPrefetchCounts) _mm_prefetch((const char *)(cr + kMmbAhead + i), _MM_HINT_T0);
      if (F & kMmbRes) _mm_prefetch((const char *)(rr + kMmbAhead + i), _MM_HINT_T0);
      const __m512i b = _mm512_maskz_loadu_epi32(m, bs + i), q = _mm512_maskz_loadu_epi32(m, cr + i);
      const __m512i v = kDot ? _mm512_add_epi32(_mm512_sub_epi32(b, tv), q)
                             : _mm512_sub_epi32(b, _mm512_slli_epi32(q, 1));
      __m512 f = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_maskz_loadu_ps(m, sc + i)),
                               _mm512_maskz_loadu_ps(m, bi + i));
      if (F & kMmbRes) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(m, rr + i));
      if (F & kMmbPre) f = _mm512_sub_ps(f, _mm512_maskz_loadu_ps(m, pre + i));
      if (F & (kMmbPos | kMmbNeg)) {
        const __mmask16 ge = _mm512_cmp_ps_mask(f, _mm512_setzero_ps(), _CMP_GE_OQ);
        const __m512 hi = F & kMmbPos ? _mm512_mul_ps(_mm512_maskz_loadu_ps(m, pos + i), f) : f;
        const __m512 lo = F & kMmbNeg ? _mm512_mul_ps(_mm512_maskz_loadu_ps(m, neg + i), f) : f;
        f = _mm512_mask_blend_ps(ge, lo, hi);
      }
      if (F & kMmbPost) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(m, post + i));
      _mm512_mask_storeu_ps(yr + i, m, f);
      return _mm512_mask_cmp_ps_mask(m, f, bt, _CMP_GE_OQ);  // unused (dropped) without y_bits
    };
    if (!(F & kMmbBits)) {
      int i = 0;
      for (; i + 16 <= nch; i += 16) lane16(i, 0xffff);
      if (i < nch) lane16(i, lanes(i));
      continue;
    }
    uint64_t *bits = p->y_bits + pixel * bw + (oc >> 6);
    int i = 0;
    for (; i + 64 <= nch; i += 64)
      *bits++ = (uint64_t)lane16(i, 0xffff) | (uint64_t)lane16(i + 16, 0xffff) << 16 |
                (uint64_t)lane16(i + 32, 0xffff) << 32 | (uint64_t)lane16(i + 48, 0xffff) << 48;
    if (i < nch) {  // the last word: lanes past nch compare false, so its high bits are 0
      uint64_t w = 0;
      for (int k = 0; i + 16 * k < nch; ++k) w |= (uint64_t)lane16(i + 16 * k, lanes(i + 16 * k)) << (16 * k);
      *bits = w;
    }
  }
}

/* Output pixels ox0 <= ox < ox1 of row oy (above), specialised for the step sets of the
   networks here: none, the residual, + PReLU (Bi-Real), + RPReLU, + Maxout (AdaBin), each with
   and without the bit output; any other set tests its steps per vector. Not inlined: inlined
   into the AMX path's count loop, its many bodies cost that loop's own code (measured: the
   512-channel layer's tile products 75 -> 101 us). */
template <bool kDot, bool kPrefetchCounts>
__attribute__((noinline)) static void mmb_epilogue_nhwc_run(const mmb_ctx *c, int n, int g, int oy, int ox0, int ox1,
                                         const int32_t *cr, int ldp, float *y) {
  switch (mmb_epilogue_steps(c->p)) {
#define MMB_RUN_CASE(F)                                                                    \
  case F:                                                                                  \
    mmb_epilogue_nhwc_run_t<kDot, kPrefetchCounts, F>(c, n, g, oy, ox0, ox1, cr, ldp, y);   \
    return;                                                                                \
  case F | kMmbBits:                                                                       \
    mmb_epilogue_nhwc_run_t<kDot, kPrefetchCounts, F | kMmbBits>(c, n, g, oy, ox0, ox1, cr, \
                                                                 ldp, y);                  \
    return;
    MMB_RUN_CASE(0)
    MMB_RUN_CASE(kMmbRes)
    MMB_RUN_CASE(kMmbRes | kMmbNeg)
    MMB_RUN_CASE(kMmbRes | kMmbPre | kMmbNeg | kMmbPost)
    MMB_RUN_CASE(kMmbRes | kMmbNeg | kMmbPos)
#undef MMB_RUN_CASE
    default:
      mmb_epilogue_nhwc_run_t<kDot, kPrefetchCounts, -1>(c, n, g, oy, ox0, ox1, cr, ldp, y);
  }
}

/* Rows oy0 <= oy < oy1; cnt: their counts, [row][out_w][opg]. */
template <bool kDot>
static inline void mmb_epilogue_nhwc_avx512(const mmb_ctx *c, int n, int g, int oy0, int oy1,
                                            const int32_t *cnt, float *y) {
  const int wo = c->p->out_w;
  for (int oy = oy0; oy < oy1; ++oy)
    mmb_epilogue_nhwc_run<kDot, true>(c, n, g, oy, 0, wo, cnt + (size_t)(oy - oy0) * wo * c->opg,
                                     c->opg, y);
}

#endif /* MMB_X86 */
#endif /* MMB_BCONV_AVX512_SHARED_H */
