// mmb_bconv_neon.cpp -- ARM NEON (AArch64 Advanced SIMD) path of the 1-bit conv. NEON is part
// of every AArch64 CPU, so no flags are needed; on other targets this file compiles to nothing.
// Vectorised over output channels like the x86 paths: one 64-bit lane per output channel (2 per
// 128-bit register), a block of up to 4 output columns x 8 channels per inner loop. A product
// costs eor + cnt (bytes) + pairwise add-accumulate into 16-bit lanes (each 16-bit lane gains at
// most 16 per word, so 4095 words fit: K = taps x words is far below that for real layers; longer
// reductions are split).
#include "mmb_bconv_epilogue_nhwc.h"
#include "mmb_bconv_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace {

const int kLanes = 2;
const int kOB = 4;     // 2-channel groups per block (8 channels)
const int kP = 4;      // output columns per block
const int kChunk = 4095;

template <int P, int OB>
inline void block(const mmb_ctx *c, const uint64_t *xb, size_t step, const uint64_t *wb,
                  size_t wstride, int32_t *cnt, int ldc, int ox0, int o0) {
  uint64x2_t total[OB][P];
  for (int b = 0; b < OB; ++b)
    for (int p = 0; p < P; ++p) total[b][p] = vdupq_n_u64(0);
  const int K = c->K;
  const int32_t *koff = c->koff;
  for (int k0 = 0; k0 < K; k0 += kChunk) {
    const int k1 = K - k0 > kChunk ? k0 + kChunk : K;
    uint16x8_t acc[OB][P];
    for (int b = 0; b < OB; ++b)
      for (int p = 0; p < P; ++p) acc[b][p] = vdupq_n_u16(0);
    for (int k = k0; k < k1; ++k) {
      const int off = koff[k];
      uint8x16_t w[OB];
      for (int b = 0; b < OB; ++b)
        w[b] = vreinterpretq_u8_u64(vld1q_u64(wb + b * wstride + (size_t)k * kLanes));
      for (int p = 0; p < P; ++p) {
        const uint8x16_t xv = vreinterpretq_u8_u64(vdupq_n_u64(xb[p * step + off]));
        for (int b = 0; b < OB; ++b) acc[b][p] = vpadalq_u8(acc[b][p], vcntq_u8(veorq_u8(xv, w[b])));
      }
    }
    for (int b = 0; b < OB; ++b)
      for (int p = 0; p < P; ++p)
        total[b][p] = vaddq_u64(total[b][p], vpaddlq_u32(vpaddlq_u16(acc[b][p])));
  }
  const int opg = c->opg;
  for (int b = 0; b < OB; ++b) {
    const int ob = o0 + b * kLanes;
    for (int p = 0; p < P; ++p) {
      if (ob < opg) cnt[mmb_cnt_at(c, ldc, ob, ox0 + p)] = (int32_t)vgetq_lane_u64(total[b][p], 0);
      if (ob + 1 < opg)
        cnt[mmb_cnt_at(c, ldc, ob + 1, ox0 + p)] = (int32_t)vgetq_lane_u64(total[b][p], 1);
    }
  }
}

void count_row(const mmb_ctx *c, int n, int g, int oy, int32_t *cnt, int ldc) {
  const size_t wstride = (size_t)c->K * kLanes;
  mmb_count_row_t<kOB, kP>(
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
  if (c->nhwc)
    mmb_pack_nhwc_t(c, x, n, g, iy0, iy1, mmb_bits_generic);
  else
    mmb_pack_generic(c, x, n, g, iy0, iy1, tmp);
}
void epilogue(const mmb_ctx *c, int n, int g, int oy0, int oy1, const int32_t *cnt, int ldc,
              const int32_t *pcx, float *y) {
  if (mmb_epilogue_nhwc_fits(c))
    mmb_epilogue_nhwc<MmbVec4, false>(c, n, g, oy0, oy1, cnt, y);
  else
    mmb_epilogue_generic(c, n, g, oy0, oy1, cnt, ldc, pcx, y);
}

}  // namespace

const mmb_isa_fns mmb_fns_neon = {kLanes, 0, 1, 1, 0, repack, popcount, pack, count_row, epilogue};

#endif  // __aarch64__
