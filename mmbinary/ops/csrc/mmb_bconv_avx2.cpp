// mmb_bconv_avx2.cpp -- AVX2 path of the 1-bit conv. Compile with -mavx2 -mpopcnt; called only
// after mmb_cpu_supports(MMB_ISA_AVX2). Vectorised over output channels (one 64-bit lane per
// channel, 4 per register); popcount by the nibble table (vpshufb), byte counts summed over up
// to 31 words before one vpsadbw.
#include "mmb_bconv_internal.h"

#if defined(MMB_X86)
#include <immintrin.h>

namespace {

const int kLanes = 4;

template <int P, int OB>
inline void block(const mmb_ctx *c, const uint64_t *xb, size_t step, const uint64_t *wb,
                  size_t wstride, int32_t *cnt, int wo, int ox0, int o0) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i m4 = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
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
      __m256i w[OB];
      for (int b = 0; b < OB; ++b)
        w[b] = _mm256_loadu_si256((const __m256i *)(wb + b * wstride + (size_t)k * kLanes));
      for (int p = 0; p < P; ++p) {
        const __m256i xv = _mm256_set1_epi64x((long long)xb[p * step + off]);
        for (int b = 0; b < OB; ++b) {
          const __m256i v = _mm256_xor_si256(xv, w[b]);
          const __m256i lo = _mm256_and_si256(v, m4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
          a8[b][p] = _mm256_add_epi8(
              a8[b][p], _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi)));
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
        cnt[(size_t)(ob + l) * wo + ox0 + p] = (int32_t)tmp[l];
    }
  }
}

template <int OB>
inline void block_p(int P, const mmb_ctx *c, const uint64_t *xb, size_t step, const uint64_t *wb,
                    size_t wstride, int32_t *cnt, int wo, int ox0, int o0) {
  switch (P) {
    case 4: block<4, OB>(c, xb, step, wb, wstride, cnt, wo, ox0, o0); break;
    case 3: block<3, OB>(c, xb, step, wb, wstride, cnt, wo, ox0, o0); break;
    case 2: block<2, OB>(c, xb, step, wb, wstride, cnt, wo, ox0, o0); break;
    default: block<1, OB>(c, xb, step, wb, wstride, cnt, wo, ox0, o0); break;
  }
}

void count_row(const mmb_ctx *c, int n, int g, int oy, int32_t *cnt) {
  const mmb_bconv_params *p = c->p;
  const int wo = p->out_w, K = c->K, nob = c->nob;
  const uint64_t *xrow =
      c->xbuf + ((((size_t)n * p->groups + g) * c->hp + (size_t)oy * p->stride_h) * c->wp) * c->words;
  const size_t step = (size_t)p->stride_w * c->words, wstride = (size_t)K * kLanes;
  const uint64_t *wg = c->wrep + (size_t)g * nob * wstride;
  for (int b0 = 0; b0 < nob; b0 += 2) {
    const int ob = nob - b0 >= 2 ? 2 : 1;
    for (int ox0 = 0; ox0 < wo; ox0 += 4) {
      const int P = wo - ox0 >= 4 ? 4 : wo - ox0;
      const uint64_t *xb = xrow + ox0 * step;
      const uint64_t *wb = wg + (size_t)b0 * wstride;
      if (ob == 2)
        block_p<2>(P, c, xb, step, wb, wstride, cnt, wo, ox0, b0 * kLanes);
      else
        block_p<1>(P, c, xb, step, wb, wstride, cnt, wo, ox0, b0 * kLanes);
    }
  }
}

void repack(const mmb_ctx *c, const uint64_t *w, uint64_t *out) {
  mmb_repack_generic(c, w, out, kLanes);
}
int popcount(const uint64_t *w, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += (int)_mm_popcnt_u64(w[i]);
  return s;
}
void pack(const mmb_ctx *c, const float *x, int n, int g, int iy0, int iy1, uint64_t *tmp) {
  mmb_pack_generic(c, x, n, g, iy0, iy1, tmp);
}
void epilogue(const mmb_ctx *c, int n, int g, int oy, const int32_t *cnt, const int32_t *pcx,
              float *y) {
  mmb_epilogue_generic(c, n, g, oy, cnt, pcx, y);
}

}  // namespace

const mmb_isa_fns mmb_fns_avx2 = {kLanes, repack, popcount, pack, count_row, epilogue};

#endif  // MMB_X86
