/* mmb_bconv_internal.h -- shared by the translation units of the 1-bit conv core (not an ABI).
 *
 * Every ISA file compiles the static inline helpers below with its own -m flags, so they are
 * vectorised for that ISA. Nothing here may use an inline C++ library template (std::min, ...):
 * the linker merges those across translation units and could pick an AVX-512 copy for a
 * portable caller.
 */
#ifndef MMB_BCONV_INTERNAL_H
#define MMB_BCONV_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "mmb_bconv.h"

/* The work of one call, set up by mmb_bconv.cpp. The input is packed into a zero-padded,
   dilated grid of per-pixel words, xbuf [n][groups][hp][wp][words]: a padded or inserted tap
   reads 0 bits (an ISA may store each word as two, its low and high nibbles: pix = 2 words),
   whose xor with the weight counts popcount(w) -- subtracted again through the
   per-position tables, so the count kernels run the same loop at every position. */
typedef struct {
  const mmb_bconv_params *p;
  int cpg, opg, words, taps, K;       /* K = taps * words, the reduction length in words */
  int hp, wp;                         /* padded, dilated input grid */
  int pix;                            /* buffer words per pixel: words, or 2 words (split) */
  int lanes, nob;                     /* weight layout of the ISA: groups x nob x K x lanes */
  const int32_t *koff;                /* [K]: word offset of reduction step k from a position */
  uint64_t *xbuf;                     /* [n][groups][hp][wp][words] */
  const uint64_t *wrep;               /* the ISA's weight layout */
  const int32_t *wpop;                /* [out_c][taps]: popcount of each tap's weight words */
  /* per-position tables by row pattern r (rows with the same valid taps share one), or, for
     short dense rows (mmb_expanded), expanded over the rows so the epilogue loops run over whole
     channel planes: [R] below is then [out_h] */
  const int32_t *rowpat;              /* [out_h] -> r */
  const int32_t *base;                /* [R][out_c][out_w] or [out_c][out_h][out_w]: n_valid + 2 sum_invalid wpop */
  const int32_t *bmask;               /* like base: B*M, or NULL */
  const int32_t *nvalid;              /* [R][out_w] or [out_h][out_w]: 1*M */
  int expanded;                       /* tables expanded over the rows (mmb_expanded) */
  /* Where output (oy, ox) of this call goes in y and residual ([n][out_c][yh][yw]): row
     oy * ysh + yr, column ox * ysw + yq. The identity, except for a sub-pixel phase of a
     transposed conv (its stride as the steps, the phase as the offsets). */
  int yh, yw, ysh, ysw, yr, yq;
  /* p->nhwc: x, residual and y are NHWC; the counts of a row are [out_w][opg] (else
     [opg][ldc]) and base / bmask are [R][out_w][out_c] (else [R][out_c][out_w]) */
  int nhwc;
  /* the epilogue call of sub-pixel phases: its rows interleave the counts of several count
     calls (each a phase with its own ctx) */
  int interleaved;
  /* the output of a dense call (not a sub-pixel phase), for a count kernel that runs the
     epilogue itself (the AMX path); NULL else */
  float *y;
  uint64_t call;                      /* this call's serial number: keys per-thread caches */
  /* NHWC: counts between two columns of a row, opg; or nq * opg for a sub-pixel phase whose
     count_row writes its columns straight into the interleaved rows of nq column phases */
  int cstride;
} mmb_ctx;

/* Where count kernels store the popcount of channel o (< opg), column ox of a row (rows start
   ldc apart in the [opg][ldc] layout; in the NHWC one columns are cstride apart). */
static inline size_t mmb_cnt_at(const mmb_ctx *c, int ldc, int o, int ox) {
  return c->nhwc ? (size_t)ox * c->cstride + o : (size_t)o * ldc + ox;
}

/* The functions each ISA file provides. */
typedef struct {
  int lanes;
  int split;                          /* 1: the buffer holds (x & 0x0f..), (x >> 4 & 0x0f..) */
  int xmul;                           /* buffer words per input word: 1, 2 (split), 8 (int8 +/-1) */
  int wmul;                           /* weight words per lane and reduction step: 1, 2 (split) */
  uint64_t fill;                      /* the grid's padded / inserted taps: 0 bits, or int8 -1s */
  /* weights [out_c][K] -> wrep [g][nob][K][lanes] (padded lanes 0) */
  void (*repack)(const mmb_ctx *c, const uint64_t *w, uint64_t *out);
  int (*popcount)(const uint64_t *w, int nwords);
  /* pack input rows iy0 <= iy < iy1 of (n, g) into xbuf; tmp holds words * in_w words */
  void (*pack)(const mmb_ctx *c, const float *x, int n, int g, int iy0, int iy1, uint64_t *tmp);
  /* cnt[o * ldc + ox] (o < opg) = popcount(xor) over all K words, every column of row oy */
  void (*count_row)(const mmb_ctx *c, int n, int g, int oy, int32_t *cnt, int ldc);
  /* y rows oy0 <= oy < oy1 of (n, g's channels) from cnt [opg][ldc] (row oy at
     (oy - oy0) * out_w) and pcx ([rows][out_w] window popcounts or NULL) */
  void (*epilogue_rows)(const mmb_ctx *c, int n, int g, int oy0, int oy1, const int32_t *cnt,
                        int ldc, const int32_t *pcx, float *y);
  /* optional (NULL: count_row per row, popcount): the counts of rows oy0 <= oy < oy1 at once,
     row oy at (oy - oy0) * out_w columns (out_w * opg in NHWC); the number of +1 inputs in
     nwords buffer words (window sums, where the buffer is not bits) */
  void (*count_rows)(const mmb_ctx *c, int n, int g, int oy0, int oy1, int32_t *cnt, int ldc);
  int (*popcount_x)(const uint64_t *x, int nwords);
  int chunk;                          /* outputs per row chunk (0: 16384) */
  /* optional (NULL: mmb_store_word): word wd (bits of channels 64 wd ..) of the pixel whose
     buffer words start at dst, in the buffer's layout (x_bits input) */
  void (*store)(uint64_t *dst, int wd, uint64_t v);
} mmb_isa_fns;

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define MMB_X86 1
extern const mmb_isa_fns mmb_fns_avx2;
extern const mmb_isa_fns mmb_fns_avx512;
extern const mmb_isa_fns mmb_fns_amx;
#endif
#if defined(__aarch64__)
#define MMB_NEON 1
extern const mmb_isa_fns mmb_fns_neon;
#endif
extern const mmb_isa_fns mmb_fns_portable;

/* Short output rows written densely: tables expanded over the rows (long epilogue loops); else
   by row pattern (small tables, no memory traffic for them). */
static inline int mmb_expanded(const mmb_bconv_params *p, int phase) {
  return p->out_w < 16 && !phase && !p->nhwc;
}

/* ---- helpers compiled per ISA ---- */

/* The row driver of every count kernel: the group's output channels in groups of c->lanes,
   blocks of up to MaxOB groups x MaxP output columns; blk(P, OB, xb, step, wb, ox0, o0) counts
   one block with P and OB as compile-time constants (mmb_int), so each ISA's block template is
   unrolled for every block size. wstride: words between two channel groups' weights. */
template <int V>
struct mmb_int {
  static constexpr int value = V;
};

template <int N, class F>
static inline void mmb_dispatch(int v, F &&f) {  // f(mmb_int<v>()) for 1 <= v <= N
  if constexpr (N > 1) {
    if (v < N) {
      mmb_dispatch<N - 1>(v, f);
      return;
    }
  }
  f(mmb_int<N>());
}

template <int MaxOB, int MaxP, class Block>
static inline void mmb_count_row_t(const mmb_ctx *c, int n, int g, int oy, size_t wstride,
                                   Block &&blk) {
  const mmb_bconv_params *p = c->p;
  const int wo = p->out_w, nob = c->nob;
  const uint64_t *xrow =
      c->xbuf + ((((size_t)n * p->groups + g) * c->hp + (size_t)oy * p->stride_h) * c->wp) * c->pix;
  const size_t step = (size_t)p->stride_w * c->pix;
  const uint64_t *wg = c->wrep + (size_t)g * nob * wstride;
  for (int b0 = 0; b0 < nob; b0 += MaxOB) {
    const int ob = nob - b0 >= MaxOB ? MaxOB : nob - b0;
    for (int ox0 = 0; ox0 < wo; ox0 += MaxP) {
      const int P = wo - ox0 >= MaxP ? MaxP : wo - ox0;
      const uint64_t *xb = xrow + ox0 * step, *wb = wg + (size_t)b0 * wstride;
      mmb_dispatch<MaxOB>(ob, [&](auto OB) {
        mmb_dispatch<MaxP>(P, [&](auto PC) { blk(PC, OB, xb, step, wb, ox0, b0 * c->lanes); });
      });
    }
  }
}

/* popcount of n words (POPCNT where the file's flags allow it) */
static inline int mmb_popcount_words(const uint64_t *w, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += __builtin_popcountll(w[i]);
  return s;
}

static inline void mmb_repack_generic(const mmb_ctx *c, const uint64_t *w, uint64_t *out,
                                      int lanes) {
  const int K = c->K, opg = c->opg, nob = c->nob, G = c->p->groups;
  for (int g = 0; g < G; ++g)
    for (int b = 0; b < nob; ++b) {
      uint64_t *dst = out + ((size_t)g * nob + b) * K * lanes;
      for (int k = 0; k < K; ++k)
        for (int l = 0; l < lanes; ++l) {
          int o = b * lanes + l;
          dst[(size_t)k * lanes + l] = o < opg ? w[((size_t)g * opg + o) * K + k] : 0;
        }
    }
}

/* Word wd (channels 64 wd ..) of a pixel whose buffer words start at dst, as bits (split into
   nibble halves where the ISA splits); the int8 path passes its own store. */
static inline void mmb_store_word(const mmb_ctx *c, uint64_t *dst, int wd, uint64_t v) {
  const uint64_t m4 = 0x0f0f0f0f0f0f0f0full;
  if (c->pix == c->words) {
    dst[wd] = v;
  } else {
    dst[wd] = v & m4;
    dst[c->words + wd] = (v >> 4) & m4;
  }
}

template <class Store>
static inline void mmb_pack_generic_t(const mmb_ctx *c, const float *x, int n, int g, int iy0,
                                      int iy1, uint64_t *tmp, Store store) {
  const mmb_bconv_params *p = c->p;
  const int W = p->in_w, H = p->in_h, words = c->words, cpg = c->cpg;
  const float t = p->threshold;
  for (int iy = iy0; iy < iy1; ++iy) {
    memset(tmp, 0, sizeof(uint64_t) * (size_t)words * W);
    for (int ch = 0; ch < cpg; ++ch) {
      const float *xr = x + (((size_t)n * p->in_c + (size_t)g * cpg + ch) * H + iy) * W;
      uint64_t *tw = tmp + (size_t)(ch >> 6) * W;
      const int j = ch & 63;
      for (int ix = 0; ix < W; ++ix) tw[ix] |= (uint64_t)(xr[ix] >= t) << j;
    }
    const int r = p->pad_top + iy * p->in_dil_h, pix = c->pix;
    if (r < 0 || r >= c->hp) continue;
    uint64_t *row = c->xbuf + ((((size_t)n * p->groups + g) * c->hp + r) * c->wp) * pix;
    for (int ix = 0; ix < W; ++ix) {
      const int q = p->pad_left + ix * p->in_dil_w;
      if (q < 0 || q >= c->wp) continue;
      for (int wd = 0; wd < words; ++wd)
        store(row + (size_t)q * pix, wd, tmp[(size_t)wd * W + ix]);
    }
  }
}

static inline void mmb_pack_generic(const mmb_ctx *c, const float *x, int n, int g, int iy0,
                                    int iy1, uint64_t *tmp) {
  mmb_pack_generic_t(c, x, n, g, iy0, iy1, tmp,
                     [c](uint64_t *dst, int wd, uint64_t v) { mmb_store_word(c, dst, wd, v); });
}

/* NHWC input: the words of one pixel's channels come from one contiguous run of floats;
   bits(xp, n, t) returns the word of xp[0 .. n) (n <= 64), bit j = xp[j] >= t, each ISA its own. */
template <class Bits, class Store>
static inline void mmb_pack_nhwc_t(const mmb_ctx *c, const float *x, int n, int g, int iy0,
                                   int iy1, Bits bits, Store store) {
  const mmb_bconv_params *p = c->p;
  const int W = p->in_w, H = p->in_h, words = c->words, cpg = c->cpg, pix = c->pix;
  const float t = p->threshold;
  for (int iy = iy0; iy < iy1; ++iy) {
    const int r = p->pad_top + iy * p->in_dil_h;
    if (r < 0 || r >= c->hp) continue;
    uint64_t *row = c->xbuf + ((((size_t)n * p->groups + g) * c->hp + r) * c->wp) * pix;
    for (int ix = 0; ix < W; ++ix) {
      const int q = p->pad_left + ix * p->in_dil_w;
      if (q < 0 || q >= c->wp) continue;
      const float *xp = x + (((size_t)n * H + iy) * W + ix) * p->in_c + (size_t)g * cpg;
      uint64_t *dst = row + (size_t)q * pix;
      for (int wd = 0; wd < words; ++wd) {
        const int c1 = cpg - 64 * wd >= 64 ? 64 : cpg - 64 * wd;
        store(dst, wd, bits(xp + 64 * wd, c1, t));
      }
    }
  }
}

template <class Bits>
static inline void mmb_pack_nhwc_t(const mmb_ctx *c, const float *x, int n, int g, int iy0,
                                   int iy1, Bits bits) {
  mmb_pack_nhwc_t(c, x, n, g, iy0, iy1, bits,
                  [c](uint64_t *dst, int wd, uint64_t v) { mmb_store_word(c, dst, wd, v); });
}

static inline uint64_t mmb_bits_generic(const float *xp, int n, float t) {
  uint64_t v = 0;
  for (int j = 0; j < n; ++j) v |= (uint64_t)(xp[j] >= t) << j;
  return v;
}

/* The epilogue over len outputs, in one of two shapes:
   - a span (kPixel false): one channel oc at len positions of a row; base / bm / cr / nv / pcx
     per position (index i), the channel's factors scalars; y and the residual rr strided by step
     (1: dense; a sub-pixel phase: the transposed conv's stride);
   - a pixel (kPixel true, NHWC): channels oc .. oc + len at one position; base / bm / cr and the
     factors per channel (index i), nv[0] / pcx[0] the position's; y and rr dense.
   Static templates have internal linkage: each ISA file keeps its own copy. */
template <bool kPixel, bool kDense>
static inline void mmb_epilogue_t(const mmb_bconv_params *p, int oc, int len, const int32_t *cr,
                                  const int32_t *base, const int32_t *nv, const int32_t *bm,
                                  const int32_t *pcx, const float *rr, float *__restrict yr,
                                  int step) {
  const size_t st = kDense ? 1 : (size_t)step;
  /* a factor of output i: per channel (pixel) or the channel's scalar v0 (span) */
#define MMB_AT(a, v0) (kPixel ? (a)[oc + i] : (v0))
  const float s0 = p->scale[oc], b0 = p->bias[oc];
  if (p->sign_threshold) {  // exact: an integer comparison of B*S, no float rounding
    const int32_t *th = p->sign_threshold;
    const int32_t t0 = th[oc];
    for (int i = 0; i < len; ++i) {
      const float s = MMB_AT(p->scale, s0), b = MMB_AT(p->bias, b0);
      const int32_t t = MMB_AT(th, t0), v = base[i] - 2 * cr[i];
      yr[i * st] = (s > 0.f ? v >= t : s < 0.f ? v <= t : b >= 0.f) ? 1.f : -1.f;
    }
    return;
  }
  if (!p->window_scale && !p->mask_scale && !p->mask_window_scale) {
    for (int i = 0; i < len; ++i)
      yr[i * st] = (float)(base[i] - 2 * cr[i]) * MMB_AT(p->scale, s0) + MMB_AT(p->bias, b0);
  } else {  // AdaBin's terms, one pass each in the reference's order (same float rounding)
    const float *ws = p->window_scale, *ms = p->mask_scale, *mws = p->mask_window_scale;
    for (int i = 0; i < len; ++i) yr[i * st] = (float)(base[i] - 2 * cr[i]) * MMB_AT(p->scale, s0);
    if (ws) {
      const float w0 = ws[oc];
      for (int i = 0; i < len; ++i)
        yr[i * st] += (float)(2 * (kPixel ? pcx[0] : pcx[i]) - (kPixel ? nv[0] : nv[i])) *
                      MMB_AT(ws, w0);
    }
    if (ms) {
      const float m0 = ms[oc];
      for (int i = 0; i < len; ++i) yr[i * st] += (float)bm[i] * MMB_AT(ms, m0);
    }
    if (mws) {
      const float m0 = mws[oc];
      for (int i = 0; i < len; ++i) yr[i * st] += (float)(kPixel ? nv[0] : nv[i]) * MMB_AT(mws, m0);
    }
    for (int i = 0; i < len; ++i) yr[i * st] += MMB_AT(p->bias, b0);
  }
  if (rr)
    for (int i = 0; i < len; ++i) yr[i * st] += rr[i * st];
  if (p->pre_shift) {
    const float *a = p->pre_shift, a0 = a[oc];
    for (int i = 0; i < len; ++i) yr[i * st] -= MMB_AT(a, a0);
  }
  // one loop per case, the slopes loaded before the select (unconditional loads vectorise)
  const float *neg = p->prelu, *pos = p->pos_slope;
  if (pos && neg) {
    const float n0 = neg[oc], q0 = pos[oc];
    for (int i = 0; i < len; ++i) {
      const float v = yr[i * st], sp = MMB_AT(pos, q0), sn = MMB_AT(neg, n0);
      yr[i * st] = v >= 0.f ? sp * v : sn * v;
    }
  } else if (pos) {
    const float q0 = pos[oc];
    for (int i = 0; i < len; ++i) {
      const float v = yr[i * st], sp = MMB_AT(pos, q0);
      yr[i * st] = v >= 0.f ? sp * v : v;
    }
  } else if (neg) {
    const float n0 = neg[oc];
    for (int i = 0; i < len; ++i) {
      const float v = yr[i * st], sn = MMB_AT(neg, n0);
      yr[i * st] = v >= 0.f ? v : sn * v;
    }
  }
  if (p->post_shift) {
    const float *z = p->post_shift, z0 = z[oc];
    for (int i = 0; i < len; ++i) yr[i * st] += MMB_AT(z, z0);
  }
#undef MMB_AT
}

static inline void mmb_epilogue_span(const mmb_bconv_params *p, int oc, int len, const int32_t *cr,
                                     const int32_t *base, const int32_t *nv, const int32_t *bm,
                                     const int32_t *pcx, const float *rr, float *yr, int step) {
  if (step == 1)
    mmb_epilogue_t<false, true>(p, oc, len, cr, base, nv, bm, pcx, rr, yr, 1);
  else
    mmb_epilogue_t<false, false>(p, oc, len, cr, base, nv, bm, pcx, rr, yr, step);
}

/* The residual of channel oc at output pixel pix (its index in y, in pixels: image n, row Y,
   column X of the whole output), NHWC: the same pixel, or with residual_upsample s the pixel
   (Y / s, X / s) of the smaller residual (s a power of two: shifts). */
static inline const float *mmb_residual_nhwc(const mmb_ctx *c, int n, size_t Y, size_t X,
                                              size_t pix, int oc) {
  const mmb_bconv_params *p = c->p;
  if (!p->residual) return 0;
  if (p->residual_upsample <= 1) return p->residual + pix * p->out_c + oc;
  const int sh = __builtin_ctz((unsigned)p->residual_upsample);
  const size_t rpix = (((size_t)n * (c->yh >> sh) + (Y >> sh)) * (c->yw >> sh)) + (X >> sh);
  return p->residual + rpix * p->out_c + oc;
}

/* p->y_bits of output pixel pix (its index in y, in pixels) from its out_c values yp: bit j of
   word wd = yp[64 wd + j] >= y_bits_threshold, the comparison of the packing. */
static inline void mmb_store_y_bits(const mmb_bconv_params *p, size_t pix, const float *yp) {
  const int O = p->out_c, bw = (O + 63) / 64;
  uint64_t *bits = p->y_bits + pix * bw;
  for (int wd = 0; wd < bw; ++wd)
    bits[wd] = mmb_bits_generic(yp + 64 * wd, O - 64 * wd >= 64 ? 64 : O - 64 * wd,
                                p->y_bits_threshold);
}

static inline void mmb_epilogue_generic(const mmb_ctx *c, int n, int g, int oy0, int oy1,
                                        const int32_t *cnt, int ldc, const int32_t *pcx,
                                        float *y) {
  const mmb_bconv_params *p = c->p;
  const int wo = p->out_w, ho = p->out_h, O = p->out_c;
  const size_t hw = (size_t)ho * wo, first = (size_t)oy0 * wo, yhw = (size_t)c->yh * c->yw;
  if (c->nhwc) {  // per pixel, the group's channels contiguous in y, counts and tables
    const int opg = c->opg, oc = g * opg;
    for (int oy = oy0; oy < oy1; ++oy) {
      const size_t r = (size_t)c->rowpat[oy], k = (size_t)(oy - oy0) * wo;
      const size_t yrow = ((size_t)n * c->yh + (size_t)oy * c->ysh + c->yr) * c->yw + c->yq;
      const size_t Y = (size_t)oy * c->ysh + c->yr;
      for (int ox = 0; ox < wo; ++ox) {
        const size_t X = (size_t)ox * c->ysw + c->yq, pix = yrow + (size_t)ox * c->ysw;
        const size_t off = pix * O + oc, t = (r * wo + ox) * O + oc;
        mmb_epilogue_t<true, true>(p, oc, opg, cnt + (k + ox) * opg, c->base + t,
                                   c->nvalid + r * wo + ox, c->bmask ? c->bmask + t : 0,
                                   pcx + k + ox, mmb_residual_nhwc(c, n, Y, X, pix, oc), y + off,
                                   1);
        if (p->y_bits)  // groups 1 (checked): the pixel's channels are all of y's
          mmb_store_y_bits(p, pix, y + off);
      }
    }
    return;
  }
  for (int o = 0; o < c->opg; ++o) {
    const int oc = g * c->opg + o;
    const int32_t *cr = cnt + (size_t)o * ldc;
    const size_t plane = ((size_t)n * O + oc) * yhw;
    if (c->expanded) {  // dense output: the chunk's rows in one span
      const size_t off = plane + first;
      mmb_epilogue_span(p, oc, (oy1 - oy0) * wo, cr, c->base + oc * hw + first,
                        c->nvalid + first, c->bmask ? c->bmask + oc * hw + first : 0, pcx,
                        p->residual ? p->residual + off : 0, y + off, 1);
      continue;
    }
    for (int oy = oy0; oy < oy1; ++oy) {
      const size_t r = (size_t)c->rowpat[oy], k = (size_t)(oy - oy0) * wo;
      const size_t off = plane + ((size_t)oy * c->ysh + c->yr) * c->yw + c->yq;
      mmb_epilogue_span(p, oc, wo, cr + k, c->base + (r * O + oc) * wo, c->nvalid + r * wo,
                        c->bmask ? c->bmask + (r * O + oc) * wo : 0, pcx + k,
                        p->residual ? p->residual + off : 0, y + off, c->ysw);
    }
  }
}

#endif /* MMB_BCONV_INTERNAL_H */
