// mmb_bconv_avx512.cpp -- AVX-512 VPOPCNTDQ path of the 1-bit conv. Compile with
// -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx512vpopcntdq -mavx2 -mpopcnt; called only after
// mmb_cpu_supports(MMB_ISA_AVX512). Vectorised over output channels: one 64-bit lane per output
// channel (8 per register), a block of up to 8 output columns x 16 channels per inner loop, so a
// short reduction (64 channels x 9 taps = 9 words) still fills every lane.
#include "mmb_bconv_internal.h"
#include "mmb_bconv_avx512_shared.h"

#if defined(MMB_X86)
#include <immintrin.h>

namespace {

const int kLanes = 8;
#ifndef MMB_AVX512_OB
#define MMB_AVX512_OB 2  // 8-channel groups per block (tuning knob: -DMMB_AVX512_OB=1..3)
#endif

inline void store_transposed(const __m512i *acc, int32_t *cnt, int ldc, int ox0, int o0,
                             int opg) {
  // acc[p]: 8 channels of column ox0 + p -> rows cnt[o][ox0 .. ox0 + 7]
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_castsi256_ps(_mm512_maskz_cvtepi64_epi32(0xff, acc[i]));
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int l = 0; l < 8; ++l) {
    if (o0 + l >= opg) break;
    const __m256 row = l < 4 ? _mm256_permute2f128_ps(u[l & 3], u[4 + (l & 3)], 0x20)
                             : _mm256_permute2f128_ps(u[l & 3], u[4 + (l & 3)], 0x31);
    _mm256_storeu_ps((float *)(cnt + (size_t)(o0 + l) * ldc + ox0), row);
  }
}

template <int P, int OB>
inline void block(const mmb_ctx *c, const uint64_t *xb, size_t step, const uint64_t *wb,
                  size_t wstride, int32_t *cnt, int ldc, int ox0, int o0) {
  __m512i acc[OB][P];
  for (int b = 0; b < OB; ++b)
    for (int p = 0; p < P; ++p) acc[b][p] = _mm512_setzero_si512();
  const int K = c->K;
  const int32_t *koff = c->koff;
  for (int k = 0; k < K; ++k) {
    const int off = koff[k];
    __m512i w[OB];
    for (int b = 0; b < OB; ++b) w[b] = _mm512_loadu_si512(wb + b * wstride + (size_t)k * kLanes);
    for (int p = 0; p < P; ++p) {
      const __m512i xv = _mm512_set1_epi64((long long)xb[p * step + off]);
      for (int b = 0; b < OB; ++b)
        acc[b][p] = _mm512_add_epi64(acc[b][p], _mm512_popcnt_epi64(_mm512_xor_si512(xv, w[b])));
    }
  }
  const int opg = c->opg;
  for (int b = 0; b < OB; ++b) {
    const int ob = o0 + b * kLanes;
    if (c->nhwc) {  // [ox][o]: each accumulator is 8 channels of one column, stored as is
      if (ob >= opg) break;
      const __mmask8 m = (__mmask8)(opg - ob >= 8 ? 0xff : (1u << (opg - ob)) - 1);
      for (int p = 0; p < P; ++p)
        _mm256_mask_storeu_epi32(cnt + (size_t)(ox0 + p) * c->cstride + ob, m,
                                 _mm512_cvtepi64_epi32(acc[b][p]));
    } else if (P == 8) {
      store_transposed(acc[b], cnt, ldc, ox0, ob, opg);
    } else {
      alignas(64) long long tmp[kLanes];
      for (int p = 0; p < P; ++p) {
        _mm512_store_si512(tmp, acc[b][p]);
        for (int l = 0; l < kLanes && ob + l < opg; ++l)
          cnt[mmb_cnt_at(c, ldc, ob + l, ox0 + p)] = (int32_t)tmp[l];
      }
    }
  }
}

void count_row(const mmb_ctx *c, int n, int g, int oy, int32_t *cnt, int ldc) {
  const size_t wstride = (size_t)c->K * kLanes;
  mmb_count_row_t<MMB_AVX512_OB, 8>(
      c, n, g, oy, wstride,
      [&](auto P, auto OB, const uint64_t *xb, size_t step, const uint64_t *wb, int ox0, int o0) {
        block<decltype(P)::value, decltype(OB)::value>(c, xb, step, wb, wstride, cnt, ldc, ox0,
                                                       o0);
      });
}

void repack(const mmb_ctx *c, const uint64_t *w, uint64_t *out) {
  mmb_repack_generic(c, w, out, kLanes);
}
int popcount(const uint64_t *w, int n) { return mmb_popcount_words(w, n); }
void pack(const mmb_ctx *c, const float *x, int n, int g, int iy0, int iy1, uint64_t *tmp) {
  mmb_pack_avx512(c, x, n, g, iy0, iy1,
                  [c](uint64_t *dst, int wd, uint64_t v) { mmb_store_word(c, dst, wd, v); });
  (void)tmp;
}
void epilogue(const mmb_ctx *c, int n, int g, int oy0, int oy1, const int32_t *cnt, int ldc,
              const int32_t *pcx, float *y) {
  if (mmb_epilogue_nhwc_fits(c))
    mmb_epilogue_nhwc<MmbVec16, false>(c, n, g, oy0, oy1, cnt, y);
  else
    mmb_epilogue_generic(c, n, g, oy0, oy1, cnt, ldc, pcx, y);
}

}  // namespace

// chunks of 4096 outputs (one row of the ResNet-18 layers at 256 x 192): the epilogue reads its
// counts soon after they are written, and two threads get more, finer chunks (the 64- and
// 128-channel layers at 2 threads 4-8 % faster than with 16384, A/B in one process)
const mmb_isa_fns mmb_fns_avx512 = {kLanes,   0,    1,       1, 0, repack, popcount, pack, count_row,
                                    epilogue, NULL, NULL, 4096};

#endif  // MMB_X86
