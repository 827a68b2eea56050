/* mmb_bconv_avx512_shared.h -- input packing of the AVX-512 and AMX paths (included by both,
 * each compiled with AVX-512 flags; not an ABI; their NHWC epilogue is in
 * mmb_bconv_epilogue_nhwc.h). In the packing, store(dst, wd, v) writes word wd (bits of channels
 * 64 wd ..) of the pixel whose buffer words start at dst: as bits (AVX-512) or expanded to int8
 * +/-1 (AMX).
 */
#ifndef MMB_BCONV_AVX512_SHARED_H
#define MMB_BCONV_AVX512_SHARED_H

#include "mmb_bconv_epilogue_nhwc.h"
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

#endif /* MMB_X86 */
#endif /* MMB_BCONV_AVX512_SHARED_H */
