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
     short rows (mmb_expanded), expanded over the rows so the epilogue loops run over whole
     channel planes: [R] below is then [out_h] */
  const int32_t *rowpat;              /* [out_h] -> r */
  const int32_t *base;                /* [R][out_c][out_w] or [out_c][out_h][out_w]: n_valid + 2 sum_invalid wpop */
  const int32_t *bmask;               /* like base: B*M, or NULL */
  const int32_t *nvalid;              /* [R][out_w] or [out_h][out_w]: 1*M */
} mmb_ctx;

/* The functions each ISA file provides. */
typedef struct {
  int lanes;
  int split;                          /* 1: the buffer holds (x & 0x0f..), (x >> 4 & 0x0f..) */
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
} mmb_isa_fns;

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define MMB_X86 1
extern const mmb_isa_fns mmb_fns_avx2;
extern const mmb_isa_fns mmb_fns_avx512;
#endif
extern const mmb_isa_fns mmb_fns_portable;

/* Short output rows: tables expanded over the rows (long epilogue loops); else by row pattern
   (small tables, no memory traffic for them). */
static inline int mmb_expanded(const mmb_bconv_params *p) { return p->out_w < 16; }

/* ---- helpers compiled per ISA ---- */

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

static inline void mmb_pack_generic(const mmb_ctx *c, const float *x, int n, int g, int iy0,
                                    int iy1, uint64_t *tmp) {
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
    const uint64_t m4 = 0x0f0f0f0f0f0f0f0full;
    for (int ix = 0; ix < W; ++ix) {
      const int q = p->pad_left + ix * p->in_dil_w;
      if (q < 0 || q >= c->wp) continue;
      uint64_t *dst = row + (size_t)q * pix;
      for (int wd = 0; wd < words; ++wd) {
        const uint64_t v = tmp[(size_t)wd * W + ix];
        if (pix == words) {
          dst[wd] = v;
        } else {
          dst[wd] = v & m4;
          dst[words + wd] = (v >> 4) & m4;
        }
      }
    }
  }
}

/* y[i] for one output channel over len positions; base / nv / bm / pcx / cnt aligned with y */
static inline void mmb_epilogue_span(const mmb_bconv_params *p, int oc, int len, const int32_t *cr,
                                     const int32_t *base, const int32_t *nv, const int32_t *bm,
                                     const int32_t *pcx, const float *rr, float *yr) {
  const float s = p->scale[oc], b = p->bias[oc];
  if (p->sign_threshold) {  // exact: an integer comparison of B*S, no float rounding
    const int32_t t = p->sign_threshold[oc];
    if (s > 0.f) {
      for (int i = 0; i < len; ++i) yr[i] = base[i] - 2 * cr[i] >= t ? 1.f : -1.f;
    } else if (s < 0.f) {
      for (int i = 0; i < len; ++i) yr[i] = base[i] - 2 * cr[i] <= t ? 1.f : -1.f;
    } else {
      const float v = b >= 0.f ? 1.f : -1.f;
      for (int i = 0; i < len; ++i) yr[i] = v;
    }
    return;
  }
  if (!p->window_scale && !p->mask_scale && !p->mask_window_scale) {
    for (int i = 0; i < len; ++i) yr[i] = (float)(base[i] - 2 * cr[i]) * s + b;
  } else {
    for (int i = 0; i < len; ++i) {
      float v = (float)(base[i] - 2 * cr[i]) * s;
      if (p->window_scale) v += (float)(2 * pcx[i] - nv[i]) * p->window_scale[oc];
      if (p->mask_scale) v += (float)bm[i] * p->mask_scale[oc];
      if (p->mask_window_scale) v += (float)nv[i] * p->mask_window_scale[oc];
      yr[i] = v + b;
    }
  }
  if (rr)
    for (int i = 0; i < len; ++i) yr[i] += rr[i];
  if (p->pre_shift) {
    const float g = p->pre_shift[oc];
    for (int i = 0; i < len; ++i) yr[i] -= g;
  }
  if (p->pos_slope) {
    const float a = p->prelu ? p->prelu[oc] : 1.f, c = p->pos_slope[oc];
    for (int i = 0; i < len; ++i) yr[i] = yr[i] >= 0.f ? c * yr[i] : a * yr[i];
  } else if (p->prelu) {
    const float a = p->prelu[oc];
    for (int i = 0; i < len; ++i) yr[i] = yr[i] >= 0.f ? yr[i] : a * yr[i];
  }
  if (p->post_shift) {
    const float z = p->post_shift[oc];
    for (int i = 0; i < len; ++i) yr[i] += z;
  }
}

static inline void mmb_epilogue_generic(const mmb_ctx *c, int n, int g, int oy0, int oy1,
                                        const int32_t *cnt, int ldc, const int32_t *pcx,
                                        float *y) {
  const mmb_bconv_params *p = c->p;
  const int wo = p->out_w, ho = p->out_h, O = p->out_c;
  const size_t hw = (size_t)ho * wo, first = (size_t)oy0 * wo;
  for (int o = 0; o < c->opg; ++o) {
    const int oc = g * c->opg + o;
    const int32_t *cr = cnt + (size_t)o * ldc;
    const size_t off = ((size_t)n * O + oc) * hw + first;
    const float *rr = p->residual ? p->residual + off : 0;
    if (mmb_expanded(p)) {  // the chunk's rows in one span
      mmb_epilogue_span(p, oc, (oy1 - oy0) * wo, cr, c->base + oc * hw + first,
                        c->nvalid + first, c->bmask ? c->bmask + oc * hw + first : 0, pcx, rr,
                        y + off);
      continue;
    }
    for (int oy = oy0; oy < oy1; ++oy) {
      const size_t r = (size_t)c->rowpat[oy], k = (size_t)(oy - oy0) * wo;
      mmb_epilogue_span(p, oc, wo, cr + k, c->base + (r * O + oc) * wo, c->nvalid + r * wo,
                        c->bmask ? c->bmask + (r * O + oc) * wo : 0, pcx + k,
                        rr ? rr + k : 0, y + off + k);
    }
  }
}

#endif /* MMB_BCONV_INTERNAL_H */
