// mmb_bconv_avx2.cpp -- AVX2 path of the 1-bit conv. Compile with -mavx2 -mpopcnt; called only
// after mmb_cpu_supports(MMB_ISA_AVX2). Vectorised over output channels (one 64-bit lane per
// channel, 4 per register); popcount by the nibble table (vpshufb). The nibble split is paid
// once per input pixel and weight, not per product: (x ^ w) & 0x0f.. = (x & 0x0f..) ^ (w & 0x0f..),
// so the buffer and the weights hold both halves and a product costs 2 xor + 2 vpshufb + 2 add;
// byte counts are summed over up to 31 words before one vpsadbw.
#include "mmb_bconv_epilogue_nhwc.h"
#include "mmb_bconv_internal.h"

#if defined(MMB_X86)
#include <immintrin.h>

namespace {

const int kLanes = 4;
#ifndef MMB_AVX2_P
#define MMB_AVX2_P 3  // output columns per block (tuning knob: -DMMB_AVX2_P=...)
#endif
#ifndef MMB_AVX2_OB
#define MMB_AVX2_OB 2  // 4-channel groups per block (-DMMB_AVX2_OB=1..3)
#endif

template <int P, int OB>
inline void block(const mmb_ctx *c, const uint64_t *xb, size_t step, const uint64_t *wb,
                  size_t wstride, int32_t *cnt, int ldc, int ox0, int o0) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i zero = _mm256_setzero_si256();
  const int words = c->words;
  __m256i acc[OB][P];
  for (int b = 0; b < OB; ++b)
    for (int p = 0; p < P; ++p) acc[b][p] = zero;
  const int K = c->K;
  const int32_t *koff = c->koff;
  for (int k0 = 0; k0 < K; k0 += 31) {
    const int k1 = K - k0 > 31 ? k0 + 31 : K;
    __m256i a8[OB][P];
    for (int b = 0; b < OB; ++b)
      for (int p = 0; p < P; ++p) a8[b][p] = zero;
    for (int k = k0; k < k1; ++k) {
      const int off = koff[k];
      __m256i wl[OB], wh[OB];
      for (int b = 0; b < OB; ++b) {
        const uint64_t *wk = wb + b * wstride + (size_t)k * 2 * kLanes;
        wl[b] = _mm256_loadu_si256((const __m256i *)wk);
        wh[b] = _mm256_loadu_si256((const __m256i *)(wk + kLanes));
      }
      for (int p = 0; p < P; ++p) {
        const __m256i xl = _mm256_set1_epi64x((long long)xb[p * step + off]);
        const __m256i xh = _mm256_set1_epi64x((long long)xb[p * step + off + words]);
        for (int b = 0; b < OB; ++b) {
          a8[b][p] = _mm256_add_epi8(a8[b][p], _mm256_shuffle_epi8(lut, _mm256_xor_si256(xl, wl[b])));
          a8[b][p] = _mm256_add_epi8(a8[b][p], _mm256_shuffle_epi8(lut, _mm256_xor_si256(xh, wh[b])));
        }
      }
    }
    for (int b = 0; b < OB; ++b)
      for (int p = 0; p < P; ++p) acc[b][p] = _mm256_add_epi64(acc[b][p], _mm256_sad_epu8(a8[b][p], zero));
  }
  const int opg = c->opg;
  for (int b = 0; b < OB; ++b) {
    const int ob = o0 + b * kLanes;
    alignas(32) long long tmp[kLanes];
    for (int p = 0; p < P; ++p) {
      _mm256_store_si256((__m256i *)tmp, acc[b][p]);
      for (int l = 0; l < kLanes && ob + l < opg; ++l)
        cnt[mmb_cnt_at(c, ldc, ob + l, ox0 + p)] = (int32_t)tmp[l];
    }
  }
}

void count_row(const mmb_ctx *c, int n, int g, int oy, int32_t *cnt, int ldc) {
  const size_t wstride = (size_t)c->K * 2 * kLanes;  // low and high nibbles of each word
  mmb_count_row_t<MMB_AVX2_OB, MMB_AVX2_P>(
      c, n, g, oy, wstride,
      [&](auto P, auto OB, const uint64_t *xb, size_t step, const uint64_t *wb, int ox0, int o0) {
        block<decltype(P)::value, decltype(OB)::value>(c, xb, step, wb, wstride, cnt, ldc, ox0,
                                                       o0);
      });
}

// [g][nob][K][2][lanes]: low nibbles, then high nibbles (shifted down) of each lane's word
void repack(const mmb_ctx *c, const uint64_t *w, uint64_t *out) {
  const int K = c->K, opg = c->opg, nob = c->nob, G = c->p->groups;
  const uint64_t m4 = 0x0f0f0f0f0f0f0f0full;
  for (int g = 0; g < G; ++g)
    for (int b = 0; b < nob; ++b) {
      uint64_t *dst = out + ((size_t)g * nob + b) * K * 2 * kLanes;
      for (int k = 0; k < K; ++k)
        for (int l = 0; l < kLanes; ++l) {
          const int o = b * kLanes + l;
          const uint64_t v = o < opg ? w[((size_t)g * opg + o) * K + k] : 0;
          dst[(size_t)k * 2 * kLanes + l] = v & m4;
          dst[(size_t)k * 2 * kLanes + kLanes + l] = (v >> 4) & m4;
        }
    }
}
int popcount(const uint64_t *w, int n) { return mmb_popcount_words(w, n); }
// Up to 32 pixels of a row at a time: per channel one compare per 8 pixels, AND with the
// channel's bit, OR into the low or high 32-bit half of the pixel words (the channel loop reads
// each input row contiguously); then the halves are joined into words and split into their
// nibble halves.
template <int NB>
inline void pack_chunk(const float *xc, size_t plane, int c1, const __m256i *valid, __m256 t,
                       __m256i (*half)[2]) {
  for (int b = 0; b < NB; ++b) half[b][0] = half[b][1] = _mm256_setzero_si256();
  for (int j = 0; j < c1; ++j) {
    const __m256i bit = _mm256_set1_epi32((int)(1u << (j & 31)));
    const float *xr = xc + (size_t)j * plane;
    for (int b = 0; b < NB; ++b) {
      const __m256 v = _mm256_maskload_ps(xr + 8 * b, valid[b]);
      const __m256i ge = _mm256_castps_si256(_mm256_cmp_ps(v, t, _CMP_GE_OQ));
      half[b][j >> 5] = _mm256_or_si256(half[b][j >> 5], _mm256_and_si256(ge, bit));
    }
  }
}

// NHWC: a pixel's 64 channels are 8 compares of 8 floats, each an 8-bit movemask.
inline uint64_t bits_nhwc(const float *xp, int n, float t) {
  const __m256 tv = _mm256_set1_ps(t);
  uint64_t v = 0;
  int k = 0;
  for (; k + 8 <= n; k += 8)
    v |= (uint64_t)(unsigned)_mm256_movemask_ps(
             _mm256_cmp_ps(_mm256_loadu_ps(xp + k), tv, _CMP_GE_OQ)) << k;
  for (; k < n; ++k) v |= (uint64_t)(xp[k] >= t) << k;
  return v;
}

void pack(const mmb_ctx *c, const float *x, int n, int g, int iy0, int iy1, uint64_t *tmp) {
  if (c->nhwc) {
    mmb_pack_nhwc_t(c, x, n, g, iy0, iy1, bits_nhwc);
    return;
  }
  const mmb_bconv_params *p = c->p;
  const int W = p->in_w, H = p->in_h, words = c->words, cpg = c->cpg, pix = c->pix;
  const __m256 t = _mm256_set1_ps(p->threshold);
  const size_t plane = (size_t)H * W;
  const uint64_t m4 = 0x0f0f0f0f0f0f0f0full;
  for (int iy = iy0; iy < iy1; ++iy) {
    const int r = p->pad_top + iy * p->in_dil_h;
    if (r < 0 || r >= c->hp) continue;
    uint64_t *row = c->xbuf + ((((size_t)n * p->groups + g) * c->hp + r) * c->wp) * pix;
    const float *x0 = x + (((size_t)n * p->in_c + (size_t)g * cpg) * H + iy) * W;
    for (int ix = 0; ix < W; ix += 32) {
      const int nv = W - ix >= 32 ? 32 : W - ix;
      const int nb = (nv + 7) / 8;
      __m256i valid[4];
      for (int b = 0; b < 4; ++b) {
        alignas(32) int32_t m[8];
        for (int l = 0; l < 8; ++l) m[l] = 8 * b + l < nv ? -1 : 0;
        valid[b] = _mm256_load_si256((const __m256i *)m);
      }
      for (int wd = 0; wd < words; ++wd) {
        __m256i half[4][2];
        const int c1 = cpg - 64 * wd >= 64 ? 64 : cpg - 64 * wd;
        const float *xc = x0 + (size_t)64 * wd * plane + ix;
        if (nb > 2)
          pack_chunk<4>(xc, plane, c1, valid, t, half);
        else if (nb > 1)
          pack_chunk<2>(xc, plane, c1, valid, t, half);
        else
          pack_chunk<1>(xc, plane, c1, valid, t, half);
        for (int b = 0; b < nb; ++b) {
          alignas(32) uint32_t lo[8], hi[8];
          _mm256_store_si256((__m256i *)lo, half[b][0]);
          _mm256_store_si256((__m256i *)hi, half[b][1]);
          for (int l = 0; l < 8 && 8 * b + l < nv; ++l) {
            const int q = p->pad_left + (ix + 8 * b + l) * p->in_dil_w;
            if (q < 0 || q >= c->wp) continue;
            const uint64_t v = lo[l] | ((uint64_t)hi[l] << 32);
            row[(size_t)q * pix + wd] = v & m4;
            row[(size_t)q * pix + words + wd] = (v >> 4) & m4;
          }
        }
      }
    }
  }
  (void)tmp;
}

void epilogue(const mmb_ctx *c, int n, int g, int oy0, int oy1, const int32_t *cnt, int ldc,
              const int32_t *pcx, float *y) {
  if (mmb_epilogue_nhwc_fits(c))
    mmb_epilogue_nhwc<MmbVec8, false>(c, n, g, oy0, oy1, cnt, y);
  else
    mmb_epilogue_generic(c, n, g, oy0, oy1, cnt, ldc, pcx, y);
}

}  // namespace

const mmb_isa_fns mmb_fns_avx2 = {kLanes, 1, 2, 2, 0, repack, popcount, pack, count_row, epilogue};

#endif  // MMB_X86
