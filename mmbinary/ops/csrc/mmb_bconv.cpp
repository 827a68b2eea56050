// mmb_bconv.cpp -- dispatch, validation, per-position tables, threads and the portable path of
// mmbinary's 1-bit convolution (C ABI in mmb_bconv.h). Compiled without ISA flags.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "mmb_bconv.h"
#include "mmb_bconv_internal.h"

#if defined(MMB_X86)
#include <cpuid.h>
#endif

#define MMB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MMB_MAX(a, b) ((a) > (b) ? (a) : (b))

namespace {

int fail(char *err, int errlen, const char *fmt, ...) {
  if (err && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, (size_t)errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

const char *kNames[] = {"portable", "avx2", "avx512", "neon", "amx"};
const int kNumIsa = 5;

#if defined(MMB_X86)
unsigned long long xgetbv0() {
  unsigned int lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

int hw_query(int isa) {
  unsigned int a, b, c, d;
  if (isa == MMB_ISA_PORTABLE) return 1;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const bool osxsave = c & (1u << 27), popcnt = c & (1u << 23), avx = c & (1u << 28);
  if (!osxsave || !popcnt || !avx) return 0;
  const unsigned long long xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return 0;  // XMM + YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  const bool avx2 = b & (1u << 5);
  if (isa == MMB_ISA_AVX2) return avx2;
  if (isa == MMB_ISA_AVX512) {
    const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    const bool vpopcntdq = c & (1u << 14);
    return avx2 && f && dq && bw && vl && vpopcntdq && (xcr0 & 0xe6) == 0xe6;  // opmask + ZMM
  }
  if (isa == MMB_ISA_AMX) {  // its packing and epilogue are the AVX-512 path's
    const bool tile = d & (1u << 24), int8 = d & (1u << 25);
    if (!tile || !int8 || (xcr0 & 0x60000) != 0x60000 || !hw_query(MMB_ISA_AVX512)) return 0;
#if defined(__linux__) && defined(SYS_arch_prctl)
    // Linux >= 5.16 hands out the tile state only on request (ARCH_REQ_XCOMP_PERM,
    // XFEATURE_XTILEDATA), once per process; without it a tile instruction faults
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return 0;
#endif
  }
  return 0;
}
// CPUID traps to the hypervisor in a VM (microseconds): asked once per path.
int hw_supports(int isa) {
  static const int cached[5] = {hw_query(0), hw_query(1), hw_query(2), 0, hw_query(4)};
  return isa >= 0 && isa < 5 ? cached[isa] : 0;
}
#elif defined(MMB_NEON)
// Advanced SIMD is part of every AArch64 CPU (and of its OS ABI): nothing to ask
int hw_supports(int isa) { return isa == MMB_ISA_PORTABLE || isa == MMB_ISA_NEON; }
#else
int hw_supports(int isa) { return isa == MMB_ISA_PORTABLE; }
#endif

bool hidden(int isa) {
  const char *env = getenv("MMBINARY_BCONV_HIDE_ISA");
  if (!env || isa == MMB_ISA_PORTABLE) return false;
  const char *name = kNames[isa];
  const size_t len = strlen(name);
  for (const char *s = env; *s;) {
    const char *e = strchr(s, ',');
    const size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == len && strncmp(s, name, len) == 0) return true;
    if (!e) break;
    s = e + 1;
  }
  return false;
}

const char *requirement(int isa) {
  if (isa == MMB_ISA_AVX512) return "AVX-512 F/DQ/BW/VL + VPOPCNTDQ with OS ZMM state";
  if (isa == MMB_ISA_AVX2) return "AVX2 + POPCNT with OS YMM state";
  if (isa == MMB_ISA_NEON) return "an AArch64 CPU (Advanced SIMD)";
  if (isa == MMB_ISA_AMX)
    return "AMX-TILE + AMX-INT8 with OS tile state (Linux >= 5.16) and the avx512 path";
  return "nothing";
}

void has_list(char *buf, size_t n) {
  buf[0] = 0;
  for (int i = kNumIsa - 1; i >= 0; --i)
    if (mmb_cpu_supports(i)) {
      if (buf[0]) strncat(buf, ", ", n - strlen(buf) - 1);
      strncat(buf, kNames[i], n - strlen(buf) - 1);
    }
}

const mmb_isa_fns *fns_of(int isa) {
#if defined(MMB_X86)
  if (isa == MMB_ISA_AVX512) return &mmb_fns_avx512;
  if (isa == MMB_ISA_AVX2) return &mmb_fns_avx2;
  if (isa == MMB_ISA_AMX) return &mmb_fns_amx;
#endif
#if defined(MMB_NEON)
  if (isa == MMB_ISA_NEON) return &mmb_fns_neon;
#endif
  return isa == MMB_ISA_PORTABLE ? &mmb_fns_portable : nullptr;
}

// ---- the portable path ----
inline int popcount64(uint64_t v) { return __builtin_popcountll(v); }

void repack_portable(const mmb_ctx *c, const uint64_t *w, uint64_t *out) {
  mmb_repack_generic(c, w, out, 1);
}
int popcount_portable(const uint64_t *w, int n) { return mmb_popcount_words(w, n); }
void pack_portable(const mmb_ctx *c, const float *x, int n, int g, int iy0, int iy1,
                   uint64_t *tmp) {
  if (c->nhwc)
    mmb_pack_nhwc_t(c, x, n, g, iy0, iy1, mmb_bits_generic);
  else
    mmb_pack_generic(c, x, n, g, iy0, iy1, tmp);
}
void count_row_portable(const mmb_ctx *c, int n, int g, int oy, int32_t *cnt, int ldc) {
  const mmb_bconv_params *p = c->p;
  const int wo = p->out_w, K = c->K;
  const uint64_t *xrow = c->xbuf + ((((size_t)n * p->groups + g) * c->hp + (size_t)oy * p->stride_h) *
                                    c->wp) * c->pix;
  const size_t step = (size_t)p->stride_w * c->pix;
  for (int o = 0; o < c->opg; ++o) {
    const uint64_t *w = c->wrep + ((size_t)g * c->nob + o) * K;
    for (int ox = 0; ox < wo; ++ox) {
      const uint64_t *xp = xrow + ox * step;
      int s = 0;
      for (int k = 0; k < K; ++k) s += popcount64(xp[c->koff[k]] ^ w[k]);
      cnt[mmb_cnt_at(c, ldc, o, ox)] = s;
    }
  }
}
void epilogue_portable(const mmb_ctx *c, int n, int g, int oy0, int oy1, const int32_t *cnt,
                       int ldc, const int32_t *pcx, float *y) {
  mmb_epilogue_generic(c, n, g, oy0, oy1, cnt, ldc, pcx, y);
}

int check(const mmb_bconv_params *p, int isa, char *err, int errlen) {
  if (!p) return fail(err, errlen, "mmb_bconv: params is NULL");
  if (isa < 0 || isa >= kNumIsa)
    return fail(err, errlen,
                "mmb_bconv: isa must be 0 (portable), 1 (avx2), 2 (avx512), 3 (neon) or 4 (amx), "
                "got %d",
                isa);
  if (!mmb_cpu_supports(isa)) {
    char has[64];
    has_list(has, sizeof has);
    return fail(err, errlen,
                "mmb_bconv: ISA path '%s' needs %s, which this CPU lacks; it has: %s",
                kNames[isa], requirement(isa), has);
  }
#define MMB_POS(f) \
  if (p->f <= 0) return fail(err, errlen, "mmb_bconv: " #f " must be > 0, got %d", p->f)
  MMB_POS(n); MMB_POS(in_c); MMB_POS(in_h); MMB_POS(in_w); MMB_POS(out_c); MMB_POS(kh);
  MMB_POS(kw); MMB_POS(stride_h); MMB_POS(stride_w); MMB_POS(dil_h); MMB_POS(dil_w);
  MMB_POS(in_dil_h); MMB_POS(in_dil_w); MMB_POS(groups);
#undef MMB_POS
  if (p->in_c % p->groups || p->out_c % p->groups)
    return fail(err, errlen, "mmb_bconv: in_c %d and out_c %d must be multiples of groups %d",
                p->in_c, p->out_c, p->groups);
  const long long hp = (long long)(p->in_h - 1) * p->in_dil_h + 1 + p->pad_top + p->pad_bottom;
  const long long wp = (long long)(p->in_w - 1) * p->in_dil_w + 1 + p->pad_left + p->pad_right;
  const long long eh = (long long)p->dil_h * (p->kh - 1) + 1, ew = (long long)p->dil_w * (p->kw - 1) + 1;
  if (hp < eh || wp < ew)
    return fail(err, errlen,
                "mmb_bconv: padded input %lldx%lld is smaller than the dilated kernel %lldx%lld", hp,
                wp, eh, ew);
  const long long ho = (hp - eh) / p->stride_h + 1, wo = (wp - ew) / p->stride_w + 1;
  if (ho != p->out_h || wo != p->out_w)
    return fail(err, errlen, "mmb_bconv: out_h x out_w must be %lldx%lld for this shape, got %dx%d",
                ho, wo, p->out_h, p->out_w);
  if (!p->weight || !p->scale || !p->bias)
    return fail(err, errlen, "mmb_bconv: weight, scale and bias must not be NULL");
  const int up = p->residual_upsample;
  if (up > 1) {
    if (up & (up - 1))
      return fail(err, errlen, "mmb_bconv: residual_upsample must be 0, 1 or a power of two, got %d",
                  up);
    if (!p->nhwc || !p->residual || p->out_h % up || p->out_w % up)
      return fail(err, errlen,
                  "mmb_bconv: residual_upsample %d needs nhwc=1, a residual, and out_h, out_w "
                  "multiples of it; got nhwc=%d, residual %s, out %dx%d",
                  up, p->nhwc, p->residual ? "set" : "NULL", p->out_h, p->out_w);
  } else if (up < 0) {
    return fail(err, errlen, "mmb_bconv: residual_upsample must be 0, 1 or a power of two, got %d",
                up);
  }
  if ((p->x_bits || p->y_bits) && (!p->nhwc || p->groups != 1))
    return fail(err, errlen,
                "mmb_bconv: %s (packed bits) needs nhwc=1 and groups=1, got nhwc=%d groups=%d",
                p->x_bits ? "x_bits" : "y_bits", p->nhwc, p->groups);
  if (p->sign_threshold) {
    const char *other = p->window_scale        ? "window_scale"
                        : p->mask_scale        ? "mask_scale"
                        : p->mask_window_scale ? "mask_window_scale"
                        : p->residual          ? "residual"
                        : p->prelu             ? "prelu"
                        : p->pre_shift         ? "pre_shift"
                        : p->post_shift        ? "post_shift"
                        : p->pos_slope         ? "pos_slope"
                                               : nullptr;
    if (other)
      return fail(err, errlen,
                  "mmb_bconv: sign_threshold (sign output) takes only scale and bias, got %s "
                  "set too; allowed: sign_threshold with the other epilogue fields NULL",
                  other);
  }
  return 0;
}

// Everything of a call that does not depend on the input values.
struct Plan {
  mmb_ctx c;
  std::vector<int32_t> koff, wpop, rowpat, base, bmask, nvalid;
  int R = 0;  // row patterns
  std::unique_ptr<uint64_t[]> xbuf;  // not value-initialised: pack_input fills the padding
  std::vector<uint64_t> wrep;
};

// phase: {r, q, step_h, step_w} of a sub-pixel phase (output (oy, ox) -> (oy * step_h + r,
// ox * step_w + q) of a [yh, yw] output), or NULL for a dense output.
// grid_hp / grid_wp > 0: the input grid is another call's (a sub-pixel phase reads the grid
// packed once for all phases), else this layer's own padded, dilated grid.
void plan(const mmb_bconv_params *p, const mmb_isa_fns *f, Plan &pl, const int *phase = nullptr,
          int yh = 0, int yw = 0, int grid_hp = 0, int grid_wp = 0) {
  mmb_ctx &c = pl.c;
  memset(&c, 0, sizeof c);
  static std::atomic<uint64_t> serial{0};
  c.call = ++serial;
  c.p = p;
  c.expanded = mmb_expanded(p, phase != nullptr);
  c.nhwc = p->nhwc != 0;
  c.yh = phase ? yh : p->out_h;
  c.yw = phase ? yw : p->out_w;
  c.yr = phase ? phase[0] : 0;
  c.yq = phase ? phase[1] : 0;
  c.ysh = phase ? phase[2] : 1;
  c.ysw = phase ? phase[3] : 1;
  c.cpg = p->in_c / p->groups;
  c.opg = p->out_c / p->groups;
  c.words = (c.cpg + 63) / 64;
  c.taps = p->kh * p->kw;
  c.K = c.taps * c.words;
  c.hp = grid_hp > 0 ? grid_hp : (p->in_h - 1) * p->in_dil_h + 1 + p->pad_top + p->pad_bottom;
  c.wp = grid_wp > 0 ? grid_wp : (p->in_w - 1) * p->in_dil_w + 1 + p->pad_left + p->pad_right;
  c.lanes = f->lanes;
  c.pix = c.words * f->xmul;
  c.nob = (c.opg + c.lanes - 1) / c.lanes;
  c.cstride = c.opg;
  pl.koff.resize(c.K);
  for (int u = 0; u < p->kh; ++u)
    for (int v = 0; v < p->kw; ++v)
      for (int w = 0; w < c.words; ++w)
        pl.koff[(u * p->kw + v) * c.words + w] =
            ((u * p->dil_h) * c.wp + v * p->dil_w) * c.pix + w * (f->split ? 1 : f->xmul);
  c.koff = pl.koff.data();
}

// Per-position tables (need c.wpop).
void tables(const mmb_bconv_params *p, Plan &pl) {
  mmb_ctx &c = pl.c;
  const int ho = p->out_h, wo = p->out_w, O = p->out_c;
  // valid taps: grid row oy*sh + u*dh is a real input row (not padding, not an inserted zero)
  auto real = [](int r, int pad, int dil, int n) {
    const int d = r - pad;
    return d >= 0 && d % dil == 0 && d / dil < n;
  };
  std::vector<char> cvalid((size_t)wo * p->kw);
  for (int ox = 0; ox < wo; ++ox)
    for (int v = 0; v < p->kw; ++v)
      cvalid[(size_t)ox * p->kw + v] =
          real(ox * p->stride_w + v * p->dil_w, p->pad_left, p->in_dil_w, p->in_w);
  std::map<std::vector<char>, int> ids;
  std::vector<std::vector<char>> pats;
  pl.rowpat.resize(ho);
  for (int oy = 0; oy < ho; ++oy) {
    std::vector<char> key(p->kh);
    for (int u = 0; u < p->kh; ++u)
      key[u] = real(oy * p->stride_h + u * p->dil_h, p->pad_top, p->in_dil_h, p->in_h);
    auto it = ids.find(key);
    if (it == ids.end()) {
      it = ids.emplace(key, (int)pats.size()).first;
      pats.push_back(key);
    }
    pl.rowpat[oy] = it->second;
  }
  const int R = (int)pats.size();
  pl.R = R;
  std::vector<int32_t> base((size_t)R * O * wo), nvalid((size_t)R * wo), bmask;
  if (p->mask_scale) bmask.assign((size_t)R * O * wo, 0);
  const int32_t *wpop = c.wpop;
  for (int r = 0; r < R; ++r)
    for (int ox = 0; ox < wo; ++ox) {
      int nvt = 0;
      for (int u = 0; u < p->kh; ++u)
        for (int v = 0; v < p->kw; ++v) nvt += pats[r][u] && cvalid[(size_t)ox * p->kw + v];
      nvalid[(size_t)r * wo + ox] = nvt * c.cpg;
      for (int o = 0; o < O; ++o) {
        int inv = 0, bm = 0;
        for (int u = 0; u < p->kh; ++u)
          for (int v = 0; v < p->kw; ++v) {
            const int t = u * p->kw + v, pc = wpop[(size_t)o * c.taps + t];
            if (pats[r][u] && cvalid[(size_t)ox * p->kw + v])
              bm += 2 * pc - c.cpg;
            else
              inv += pc;
          }
        const size_t at = c.nhwc ? ((size_t)r * wo + ox) * O + o : ((size_t)r * O + o) * wo + ox;
        base[at] = nvt * c.cpg + 2 * inv;
        if (p->mask_scale) bmask[at] = bm;
      }
    }
  c.rowpat = pl.rowpat.data();
  if (!c.expanded) {
    pl.base.swap(base);
    pl.nvalid.swap(nvalid);
    pl.bmask.swap(bmask);
    c.base = pl.base.data();
    c.nvalid = pl.nvalid.data();
    c.bmask = p->mask_scale ? pl.bmask.data() : nullptr;
    return;
  }
  // short rows: expanded over the output rows, the epilogue runs over whole channel planes
  const size_t hw = (size_t)ho * wo;
  pl.base.resize((size_t)O * hw);
  pl.nvalid.resize(hw);
  if (p->mask_scale) pl.bmask.resize((size_t)O * hw);
  for (int oy = 0; oy < ho; ++oy) {
    const int r = pl.rowpat[oy];
    memcpy(&pl.nvalid[(size_t)oy * wo], &nvalid[(size_t)r * wo], sizeof(int32_t) * wo);
    for (int o = 0; o < O; ++o) {
      memcpy(&pl.base[o * hw + (size_t)oy * wo], &base[((size_t)r * O + o) * wo],
             sizeof(int32_t) * wo);
      if (p->mask_scale)
        memcpy(&pl.bmask[o * hw + (size_t)oy * wo], &bmask[((size_t)r * O + o) * wo],
               sizeof(int32_t) * wo);
    }
  }
  c.rowpat = pl.rowpat.data();
  c.base = pl.base.data();
  c.nvalid = pl.nvalid.data();
  c.bmask = p->mask_scale ? pl.bmask.data() : nullptr;
}

// ---- the prepared blob: weights in the ISA's layout + every table, once per layer ----
const int kMagic = 0x314d4d42;  // "BMM1"
const int kHeader = 32;         // int32 header fields (16 words)

void key_of(const mmb_bconv_params *p, int isa, int R, int32_t *h) {
  memset(h, 0, sizeof(int32_t) * kHeader);
  const int v[] = {kMagic, isa, p->in_c, p->in_h, p->in_w, p->out_c, p->out_h, p->out_w,
                   p->kh, p->kw, p->stride_h, p->stride_w, p->dil_h, p->dil_w, p->pad_top,
                   p->pad_left, p->pad_bottom, p->pad_right, p->in_dil_h, p->in_dil_w,
                   p->groups, p->mask_scale != nullptr, R, p->nhwc != 0};
  memcpy(h, v, sizeof v);
}

size_t words_of(size_t int32s) { return (int32s + 15) / 16 * 8; }  // 64-byte sections

// Fill pl.wrep / wpop (weights) and the tables for p.
void prepare(const mmb_bconv_params *p, const mmb_isa_fns *f, Plan &pl) {
  mmb_ctx &c = pl.c;
  const size_t nw = (size_t)p->groups * c.nob * c.K * c.lanes * f->wmul;
  pl.wrep.assign(nw, 0);
  f->repack(&c, p->weight, pl.wrep.data());
  pl.wpop.resize((size_t)p->out_c * c.taps);
  for (int o = 0; o < p->out_c; ++o)
    for (int t = 0; t < c.taps; ++t)
      pl.wpop[(size_t)o * c.taps + t] =
          f->popcount(p->weight + ((size_t)o * c.taps + t) * c.words, c.words);
  c.wrep = pl.wrep.data();
  c.wpop = pl.wpop.data();
  tables(p, pl);
}

size_t blob_words(const Plan &pl) {
  return kHeader / 2 + (pl.wrep.size() + 7) / 8 * 8 + words_of(pl.wpop.size()) +
         words_of(pl.rowpat.size()) + words_of(pl.base.size()) + words_of(pl.bmask.size()) +
         words_of(pl.nvalid.size());
}

void write_blob(const Plan &pl, int isa, uint64_t *out) {
  memset(out, 0, sizeof(uint64_t) * blob_words(pl));
  key_of(pl.c.p, isa, pl.R, (int32_t *)out);
  uint64_t *q = out + kHeader / 2;
  memcpy(q, pl.wrep.data(), sizeof(uint64_t) * pl.wrep.size());
  q += (pl.wrep.size() + 7) / 8 * 8;
  const std::vector<int32_t> *parts[] = {&pl.wpop, &pl.rowpat, &pl.base, &pl.bmask, &pl.nvalid};
  for (const auto *v : parts) {
    if (!v->empty()) memcpy(q, v->data(), sizeof(int32_t) * v->size());
    q += words_of(v->size());
  }
}

int attach_blob(const mmb_bconv_params *p, int isa, const uint64_t *blob, Plan &pl, char *err,
                int errlen) {
  const int32_t *h = (const int32_t *)blob;
  int32_t want[kHeader];
  key_of(p, isa, h[22], want);
  if (memcmp(h, want, sizeof want) != 0)
    return fail(err, errlen,
                "mmb_bconv: prepacked was made for another layer shape, ISA path or set of "
                "terms (mask_scale); call mmb_bconv_prepack again for this one (isa %s)",
                kNames[isa]);
  mmb_ctx &c = pl.c;
  const size_t O = p->out_c, R = (size_t)h[22];
  const size_t hw = c.expanded ? (size_t)p->out_h * p->out_w : R * p->out_w;
  const size_t nw = (size_t)p->groups * c.nob * c.K * c.lanes * fns_of(isa)->wmul;
  const uint64_t *q = blob + kHeader / 2;
  c.wrep = q;
  q += (nw + 7) / 8 * 8;
  c.wpop = (const int32_t *)q;
  q += words_of((size_t)O * c.taps);
  c.rowpat = (const int32_t *)q;
  q += words_of((size_t)p->out_h);
  c.base = (const int32_t *)q;
  q += words_of(O * hw);
  c.bmask = p->mask_scale ? (const int32_t *)q : nullptr;
  q += words_of(p->mask_scale ? O * hw : 0);
  c.nvalid = (const int32_t *)q;
  return 0;
}

// A persistent pool of workers (spawning threads per call costs tens of microseconds, as much
// as a small layer). Created on first use, grown on demand, never destroyed (its detached
// workers die with the process); a forked child makes its own. Calls are serialised.
class Pool {
 public:
  static Pool &get() {
    static std::mutex m;
    static Pool *pool = nullptr;
    std::lock_guard<std::mutex> lock(m);
    if (!pool || pool->pid_ != getpid()) pool = new Pool();  // the parent's pool is not ours
    return *pool;
  }

  // job(t) for t = 0 .. n-1; t = 0 on the calling thread.
  void run(int n, const std::function<void(int)> &job) {
    std::lock_guard<std::mutex> call(call_);
    {
      std::unique_lock<std::mutex> lock(m_);
      while ((int)workers_ < n - 1) {
        std::thread(&Pool::loop, this, (int)workers_ + 1).detach();
        ++workers_;
      }
      job_ = &job;
      n_ = n;
      pending_.store(n - 1);
      ++gen_;
    }
    cv_.notify_all();
    job(0);
    for (int spin = 0; pending_.load(std::memory_order_acquire) > 0; ++spin) {
      if (spin < 20000) {
#if defined(MMB_X86)
        __builtin_ia32_pause();
#endif
      } else {
        std::unique_lock<std::mutex> lock(m_);
        done_.wait(lock, [&] { return pending_.load() == 0; });
      }
    }
  }

 private:
  Pool() : pid_(getpid()) {}

  void loop(int index) {
    long seen = 0;
    for (;;) {
      const std::function<void(int)> *job;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return gen_ != seen; });
        seen = gen_;
        if (index >= n_) continue;
        job = job_;
      }
      (*job)(index);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(m_);
        done_.notify_all();
      }
    }
  }

  const pid_t pid_;
  std::mutex call_, m_;
  std::condition_variable cv_, done_;
  unsigned workers_ = 0;
  const std::function<void(int)> *job_ = nullptr;
  int n_ = 0;
  long gen_ = 0;
  std::atomic<int> pending_{0};
};

template <class F>
void parallel(const mmb_bconv_params *p, int threads, long long items, F fn) {
  if (threads <= 1 || items <= 1) {
    fn(0, 0, items);
    return;
  }
  if (threads > items) threads = (int)items;
  const std::function<void(int)> job = [&](int t) {
    fn(t, items * t / threads, items * (t + 1) / threads);
  };
  if (p->run) {  // the host's threads
    p->run(p->run_ctx, threads, [](void *ctx, int t) {
      (*static_cast<const std::function<void(int)> *>(ctx))(t);
    }, const_cast<std::function<void(int)> *>(&job));
    return;
  }
  Pool::get().run(threads, job);
}

// MMBINARY_BCONV_PROFILE=1: the last call's phase times (benchmark breakdown; not thread-safe).
double g_profile[3];
bool profiling() {
  const char *e = getenv("MMBINARY_BCONV_PROFILE");
  return e && *e && strcmp(e, "0") != 0;
}

// (a loop, not std::fill: see mmb_bconv_internal.h on inline library templates)
void fill_words(uint64_t *a, uint64_t *b, uint64_t v) {
  for (; a < b; ++a) *a = v;
}

// Input row iy of image n from p->x_bits (NHWC words, groups 1) into the grid, in the ISA's
// buffer layout (f->store; bits past in_c cleared, as the packing leaves them).
void pack_bits_row(const mmb_isa_fns *f, const mmb_ctx &c, int n, int iy) {
  const mmb_bconv_params *p = c.p;
  const int r = p->pad_top + iy * p->in_dil_h, W = p->in_w, words = c.words, pix = c.pix;
  if (r < 0 || r >= c.hp) return;
  const int tail = p->in_c % 64;
  const uint64_t last = tail ? (1ull << tail) - 1 : ~0ull;
  const uint64_t *src = p->x_bits + ((size_t)n * p->in_h + iy) * W * words;
  uint64_t *row = c.xbuf + ((size_t)n * c.hp + r) * c.wp * pix;
  for (int ix = 0; ix < W; ++ix, src += words) {
    const int q = p->pad_left + ix * p->in_dil_w;
    if (q < 0 || q >= c.wp) continue;
    uint64_t *dst = row + (size_t)q * pix;
    for (int wd = 0; wd < words; ++wd) {
      const uint64_t v = wd == words - 1 ? src[wd] & last : src[wd];
      if (f->store)
        f->store(dst, wd, v);
      else
        mmb_store_word(&c, dst, wd, v);
    }
  }
}

const size_t kSerialCopyBytes = (size_t)1 << 14;

// Pack x (or copy p->x_bits) into the padded grid of pl (planned for p): pl.xbuf, pl.c.xbuf.
void pack_input(const mmb_bconv_params *p, const mmb_isa_fns *f, Plan &pl, const float *x,
                int threads) {
  mmb_ctx &c = pl.c;
  const size_t pix = c.pix, row = (size_t)c.wp * pix, planes = (size_t)p->n * p->groups;
  const size_t total = planes * c.hp * row;
  pl.xbuf.reset(new uint64_t[total]);
  uint64_t *b = pl.xbuf.get();
  const int pt = p->pad_top, pb = p->pad_bottom, pleft = p->pad_left, pright = p->pad_right;
  if (p->in_dil_h != 1 || p->in_dil_w != 1 || pt < 0 || pb < 0 || pleft < 0 || pright < 0) {
    fill_words(b, b + total, f->fill);  // inserted taps, or a crop: fill it all
  } else {  // the packing writes every input pixel: fill only the padding around them
#ifdef MMB_POISON_GRID  // tests: an input word the packing missed shows as wrong counts
    fill_words(b, b + total, 0xa5a5a5a5a5a5a5a5ull);
#endif
    for (size_t i = 0; i < planes; ++i, b += (size_t)c.hp * row) {
      fill_words(b, b + (size_t)pt * row, f->fill);
      fill_words(b + (size_t)(c.hp - pb) * row, b + (size_t)c.hp * row, f->fill);
      for (int y = pt; y < c.hp - pb; ++y) {
        uint64_t *r = b + (size_t)y * row;
        fill_words(r, r + (size_t)pleft * pix, f->fill);
        fill_words(r + row - (size_t)pright * pix, r + row, f->fill);
      }
    }
  }
  c.xbuf = pl.xbuf.get();
  const long long prow = (long long)p->n * p->groups * p->in_h;
  if (p->x_bits) {  // already bits (check: nhwc, groups 1): copied into the grid
    // a copy of a few L1s is cheaper than handing it to other threads
    const size_t bytes = (size_t)prow * p->in_w * pix * sizeof(uint64_t);
    parallel(p, bytes < kSerialCopyBytes ? 1 : threads, prow, [&](int, long long a, long long b) {
      for (long long i = a; i < b; ++i) pack_bits_row(f, c, (int)(i / p->in_h), (int)(i % p->in_h));
    });
    return;
  }
  parallel(p, threads, prow, [&](int, long long a, long long b) {
    std::vector<uint64_t> tmp((size_t)c.words * p->in_w);
    for (long long i = a; i < b; ++i) {
      const int iy = (int)(i % p->in_h), ng = (int)(i / p->in_h);
      f->pack(&c, x, ng / p->groups, ng % p->groups, iy, iy + 1, tmp.data());
    }
  });
}

// Window popcounts of the rows oy0 <= oy < oy1 of (n, g): pcx[(oy - oy0) * out_w + ox].
void window_counts(const mmb_isa_fns *f, const mmb_ctx &c, int n, int g, int oy0, int oy1,
                   int32_t *pcx) {
  const mmb_bconv_params *p = c.p;
  const int wo = p->out_w;
  int (*popx)(const uint64_t *, int) = f->popcount_x ? f->popcount_x : f->popcount;
  for (int oy = oy0; oy < oy1; ++oy) {
    const uint64_t *row =
        c.xbuf + ((((size_t)n * p->groups + g) * c.hp + (size_t)oy * p->stride_h) * c.wp) * c.pix;
    for (int ox = 0; ox < wo; ++ox) {
      const uint64_t *xp = row + (size_t)ox * p->stride_w * c.pix;
      int s = 0;  // a split pixel's two halves partition its bits: same popcount
      for (int tp = 0; tp < c.taps; ++tp) s += popx(xp + c.koff[tp * c.words], c.pix);
      pcx[(size_t)(oy - oy0) * wo + ox] = s;
    }
  }
}

// Count and epilogue of every output row (input packed). cc[0 .. nq): the count calls, whose
// columns interleave into the epilogue's rows (column ox of cc[q] is column ox * nq + q; nq = 1:
// the call itself); ec: the epilogue's call (its tables, output mapping and row count).
// Returns the calling thread's count seconds when profiling.
double run_rows(const mmb_isa_fns *f, const mmb_ctx *const *cc, int nq, const mmb_ctx *ec,
                int threads, float *y, bool prof) {
  const mmb_bconv_params *p = ec->p;
  const int opg = ec->opg, wo = p->out_w;
  std::atomic<long long> count_ns{0};
  // rows in chunks of one (n, g): count every row of a chunk, then one epilogue over the
  // chunk's channel planes (long contiguous loops even for 6-pixel rows)
  const int chunk = f->chunk > 0 ? f->chunk : 16384;
  int chunk_rows = (int)MMB_MAX(1, MMB_MIN(p->out_h, chunk / MMB_MAX(1, opg * wo)));
  if (threads > 1) {  // at least two chunks per thread, and as many for each thread
    chunk_rows = MMB_MAX(1, MMB_MIN(chunk_rows, (p->out_h + 2 * threads - 1) / (2 * threads)));
    const long long images = (long long)p->n * p->groups;
    for (int r = chunk_rows; r > MMB_MAX(1, chunk_rows / 2); --r)
      if (images * ((p->out_h + r - 1) / r) % threads == 0) {
        chunk_rows = r;  // e.g. 64 rows by 5 -> 13 chunks (7 + 6); by 4 -> 16 (8 + 8)
        break;
      }
  }
  const int chunks_per_image = (p->out_h + chunk_rows - 1) / chunk_rows;
  const long long chunks = (long long)p->n * p->groups * chunks_per_image;
  parallel(p, threads, chunks, [&](int t, long long a, long long b) {
    const int ldc = chunk_rows * wo;
    // every count is written before the epilogue reads it: no value-initialisation
    std::unique_ptr<int32_t[]> cnt(new int32_t[(size_t)opg * ldc]);
    std::vector<int32_t> pcx((size_t)ldc);
    std::vector<int32_t> qcnt, qpcx;  // one count call's columns, before interleaving
    if (nq > 1) {
      qcnt.resize((size_t)opg * ldc);
      qpcx.resize((size_t)ldc);
    }
    long long ns = 0;
    for (long long i = a; i < b; ++i) {
      const int ng = (int)(i / chunks_per_image), k = (int)(i % chunks_per_image);
      const int n = ng / p->groups, g = ng % p->groups;
      const int oy0 = k * chunk_rows, oy1 = MMB_MIN(p->out_h, oy0 + chunk_rows);
      for (int q = 0; q < nq; ++q) {
        const mmb_ctx &c = *cc[q];
        const int qw = c.p->out_w, qld = nq > 1 ? chunk_rows * qw : ldc;
        // a phase whose columns go straight to ox * nq + q (cstride nq * opg): no copy below
        const bool direct = nq > 1 && c.nhwc && c.cstride == nq * opg;
        int32_t *dst = direct ? cnt.get() + (size_t)q * opg : nq > 1 ? qcnt.data() : cnt.get();
        const auto r0 = std::chrono::steady_clock::now();
        // a row's counts
        const size_t row = direct ? (size_t)wo * opg : c.nhwc ? (size_t)qw * opg : (size_t)qw;
        if (f->count_rows)
          f->count_rows(&c, n, g, oy0, oy1, dst, qld);
        else
          for (int oy = oy0; oy < oy1; ++oy)
            f->count_row(&c, n, g, oy, dst + (size_t)(oy - oy0) * row, qld);
        if (prof && t == 0)  // the calling thread's share, timed
          ns += std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - r0).count();
        if (p->window_scale) window_counts(f, c, n, g, oy0, oy1, nq > 1 ? qpcx.data() : pcx.data());
        if (nq == 1) continue;
        if (c.nhwc && !direct) {  // columns ox of this call -> ox * nq + q, opg counts each
          for (int oy = 0; oy < oy1 - oy0; ++oy)
            for (int ox = 0; ox < qw; ++ox)
              memcpy(cnt.get() + ((size_t)oy * wo + (size_t)ox * nq + q) * opg,
                     qcnt.data() + ((size_t)oy * qw + ox) * opg, sizeof(int32_t) * opg);
        } else if (!c.nhwc) {
          for (int o = 0; o < opg; ++o)
            for (int oy = 0; oy < oy1 - oy0; ++oy) {
              const int32_t *src = qcnt.data() + (size_t)o * qld + (size_t)oy * qw;
              int32_t *out = cnt.get() + (size_t)o * ldc + (size_t)oy * wo + q;
              for (int ox = 0; ox < qw; ++ox) out[(size_t)ox * nq] = src[ox];
            }
        }
        if (p->window_scale)
          for (int oy = 0; oy < oy1 - oy0; ++oy)
            for (int ox = 0; ox < qw; ++ox)
              pcx[(size_t)oy * wo + (size_t)ox * nq + q] = qpcx[(size_t)oy * qw + ox];
      }
      f->epilogue_rows(ec, n, g, oy0, oy1, cnt.get(), ldc, pcx.data(), y);
    }
    if (t == 0) count_ns.store(ns);
  });
  return (double)count_ns.load() * 1e-9;
}

// ---- a strided transposed conv as stride_h x stride_w sub-pixel direct convs ----
// Its direct form (packed format v1) runs on the input dilated by the stride, where most taps
// read an inserted zero. Output row y = s i + r reads only the taps u = u0 + s t with
// u0 = (P - r) mod s (P its top padding), at input rows i + t - pad0: a direct conv with the
// sub-kernel, stride 1 and its own (possibly negative) padding. s^2 times less work; padded
// taps are skipped exactly as before.
struct Phase {
  mmb_bconv_params p;             // the phase's direct conv (weight: the sub-kernel below)
  std::vector<uint64_t> weight;   // [out_c][taps_h][taps_w][words]
  int map[4];                     // r, q, step_h, step_w: where its outputs go in y
  int dy, dx;                     // its padding's offset in the shared input grid
};
struct Phased {
  std::vector<Phase> phases;
  mmb_bconv_params grid;          // the input grid packed once for every phase
};
const uint64_t kPhasedMagic = 0x3250484d4d42ull;  // "BMMHP2"

struct AxisPhase {
  int r, u0, taps, pad0, pad1, count;
};

// One axis of the direct form (input n, input dilation s, kernel k, pads P / Pb); false if a
// phase has no tap or no output (the direct kernel runs then).
bool axis_phases(int n, int s, int k, int P, int Pb, std::vector<AxisPhase> &out) {
  const int size = (n - 1) * s + 1 + P + Pb - k + 1;
  for (int r = 0; r < s; ++r) {
    const int u0 = ((P - r) % s + s) % s;
    const int taps = u0 < k ? (k - 1 - u0) / s + 1 : 0;
    const int count = r < size ? (size - 1 - r) / s + 1 : 0;
    if (taps == 0 || count == 0) return false;
    const int pad0 = -((r + u0 - P) / s);  // r + u0 - P is a multiple of s
    out.push_back({r, u0, taps, pad0, count + taps - 1 - n - pad0, count});
  }
  return true;
}

// The sub-pixel form of p, if p is a strided transposed conv (input dilation > 1, stride 1,
// kernel dilation 1) that it applies to.
bool phases_of(const mmb_bconv_params *p, Phased &out) {
  if ((p->in_dil_h == 1 && p->in_dil_w == 1) || p->stride_h != 1 || p->stride_w != 1 ||
      p->dil_h != 1 || p->dil_w != 1 || p->in_dil_w > 64)
    return false;
  std::vector<AxisPhase> rows, cols;
  if (!axis_phases(p->in_h, p->in_dil_h, p->kh, p->pad_top, p->pad_bottom, rows) ||
      !axis_phases(p->in_w, p->in_dil_w, p->kw, p->pad_left, p->pad_right, cols))
    return false;
  int gt = 0, gb = 0, gl = 0, gr = 0;
  for (const AxisPhase &a : rows) gt = MMB_MAX(gt, a.pad0), gb = MMB_MAX(gb, a.pad1);
  for (const AxisPhase &a : cols) gl = MMB_MAX(gl, a.pad0), gr = MMB_MAX(gr, a.pad1);
  out.grid = *p;
  out.grid.in_dil_h = out.grid.in_dil_w = 1;
  out.grid.pad_top = gt, out.grid.pad_bottom = gb, out.grid.pad_left = gl, out.grid.pad_right = gr;
  const int words = (p->in_c / p->groups + 63) / 64;
  for (const AxisPhase &a : rows)
    for (const AxisPhase &b : cols) {
      Phase q;
      q.p = *p;
      q.p.kh = a.taps, q.p.kw = b.taps, q.p.in_dil_h = q.p.in_dil_w = 1;
      q.p.pad_top = a.pad0, q.p.pad_bottom = a.pad1, q.p.pad_left = b.pad0, q.p.pad_right = b.pad1;
      q.p.out_h = a.count, q.p.out_w = b.count;
      q.p.prepacked = nullptr;
      q.weight.resize((size_t)p->out_c * a.taps * b.taps * words);
      for (int o = 0; o < p->out_c; ++o)
        for (int t = 0; t < a.taps; ++t)
          for (int v = 0; v < b.taps; ++v)
            memcpy(&q.weight[(((size_t)o * a.taps + t) * b.taps + v) * words],
                   p->weight + (((size_t)o * p->kh + a.u0 + t * p->in_dil_h) * p->kw + b.u0 +
                                v * p->in_dil_w) * words,
                   sizeof(uint64_t) * words);
      q.map[0] = a.r, q.map[1] = b.r, q.map[2] = p->in_dil_h, q.map[3] = p->in_dil_w;
      q.dy = gt - a.pad0, q.dx = gl - b.pad0;
      out.phases.push_back(std::move(q));
    }
  for (Phase &q : out.phases) q.p.weight = q.weight.data();  // after the vector stopped moving
  return true;
}

// The epilogue call of one row phase: the column phases' tables (each [R][out_c][its out_w]
// by row pattern; the row patterns are the row phase's, the same in every column phase)
// interleaved by column into [R][out_c][out_w of y].
struct Interleaved {
  mmb_ctx c;
  std::vector<int32_t> base, bmask, nvalid;
};

void interleave_tables(const mmb_ctx *const *cc, int nq, const mmb_bconv_params *er,
                       Interleaved &il) {
  const mmb_ctx &c0 = *cc[0];
  const int O = er->out_c, wo = er->out_w;
  int R = 0;
  for (int oy = 0; oy < er->out_h; ++oy) R = MMB_MAX(R, c0.rowpat[oy] + 1);
  il.c = c0;
  il.c.p = er;
  il.c.ysw = 1, il.c.yq = 0;
  il.c.interleaved = 1;
  il.c.cstride = il.c.opg;
  il.base.resize((size_t)R * O * wo);
  il.nvalid.resize((size_t)R * wo);
  if (c0.bmask) il.bmask.resize((size_t)R * O * wo);
  for (int q = 0; q < nq; ++q) {
    const mmb_ctx &c = *cc[q];
    const int qw = c.p->out_w;
    for (int r = 0; r < R; ++r) {
      for (int ox = 0; ox < qw; ++ox)
        il.nvalid[(size_t)r * wo + (size_t)ox * nq + q] = c.nvalid[(size_t)r * qw + ox];
      if (c.nhwc) {  // a column's O values are contiguous on both sides
        for (int ox = 0; ox < qw; ++ox) {
          const size_t src = ((size_t)r * qw + ox) * O, dst = ((size_t)r * wo + ox * nq + q) * O;
          memcpy(&il.base[dst], c.base + src, sizeof(int32_t) * O);
          if (c0.bmask) memcpy(&il.bmask[dst], c.bmask + src, sizeof(int32_t) * O);
        }
        continue;
      }
      for (int o = 0; o < O; ++o)
        for (int ox = 0; ox < qw; ++ox) {
          const size_t x = (size_t)ox * nq + q;
          const size_t src = ((size_t)r * O + o) * qw + ox, dst = ((size_t)r * O + o) * wo + x;
          il.base[dst] = c.base[src];
          if (c0.bmask) il.bmask[dst] = c.bmask[src];
        }
    }
  }
  il.c.base = il.base.data();
  il.c.nvalid = il.nvalid.data();
  il.c.bmask = c0.bmask ? il.bmask.data() : nullptr;
}

// Phased blob: 8 words {kPhasedMagic}, then per phase 8 words {its blob's words} + its blob.
size_t phased_blob_words(Phased &ph, const mmb_isa_fns *f) {
  size_t total = 8;
  for (Phase &q : ph.phases) {
    Plan pl;
    plan(&q.p, f, pl, q.map, ph.grid.out_h, ph.grid.out_w);
    prepare(&q.p, f, pl);
    total += 8 + blob_words(pl);
  }
  return total;
}

void write_phased_blob(Phased &ph, const mmb_isa_fns *f, int isa, uint64_t *out) {
  memset(out, 0, sizeof(uint64_t) * 8);
  out[0] = kPhasedMagic;
  uint64_t *q = out + 8;
  for (Phase &s : ph.phases) {
    Plan pl;
    plan(&s.p, f, pl, s.map, ph.grid.out_h, ph.grid.out_w);
    prepare(&s.p, f, pl);
    const size_t n = blob_words(pl);
    memset(q, 0, sizeof(uint64_t) * 8);
    q[0] = n;
    write_blob(pl, isa, q + 8);
    q += 8 + n;
  }
}

}  // namespace

const mmb_isa_fns mmb_fns_portable = {1,           0,
                                      1,           1,
                                      0,           repack_portable,
                                      popcount_portable, pack_portable,
                                      count_row_portable, epilogue_portable};

extern "C" {

int mmb_abi_version(void) { return MMB_BCONV_ABI_VERSION; }

const char *mmb_isa_name(int isa) { return isa >= 0 && isa < kNumIsa ? kNames[isa] : "?"; }

int mmb_cpu_supports(int isa) {
  if (isa < 0 || isa >= kNumIsa || !fns_of(isa)) return 0;
  // the amx path packs and finishes with AVX-512: a CPU without that has no amx either
  if (isa == MMB_ISA_AMX && !mmb_cpu_supports(MMB_ISA_AVX512)) return 0;
  return hw_supports(isa) && !hidden(isa);
}

int mmb_select_isa(const char *forced, char *err, int errlen) {
  const char *src = "argument";
  if (!forced) {
    forced = getenv("MMBINARY_BCONV_ISA");
    src = "MMBINARY_BCONV_ISA";
  }
  if (!forced || !*forced || strcmp(forced, "auto") == 0) {
    // amx is opt-in: per layer it gains only at 1 thread, end to end a few per cent
    // (docs/deploy.md section 5)
    for (int i = kNumIsa - 1; i >= 0; --i)
      if (i != MMB_ISA_AMX && mmb_cpu_supports(i)) return i;
    return MMB_ISA_PORTABLE;
  }
  for (int i = 0; i < kNumIsa; ++i)
    if (strcmp(forced, kNames[i]) == 0) {
      if (mmb_cpu_supports(i)) return i;
      char has[64];
      has_list(has, sizeof has);
      return fail(err, errlen,
                  "mmb_bconv: ISA path '%s' requested (%s) needs %s, which this CPU lacks; "
                  "it has: %s",
                  forced, src, requirement(i), has);
    }
  return fail(err, errlen,
              "mmb_bconv: unknown ISA path '%s' (%s); allowed: auto, amx, avx512, avx2, neon, "
              "portable",
              forced, src);
}

long long mmb_bconv_prepack_words(const mmb_bconv_params *p, int isa, char *err, int errlen) {
  if (check(p, isa, err, errlen)) return -1;
  try {
    Phased ph;
    if (phases_of(p, ph)) return (long long)phased_blob_words(ph, fns_of(isa));
    Plan pl;
    plan(p, fns_of(isa), pl);
    prepare(p, fns_of(isa), pl);
    return (long long)blob_words(pl);
  } catch (const std::exception &e) {
    return fail(err, errlen, "mmb_bconv: %s", e.what());
  }
}

int mmb_bconv_prepack(const mmb_bconv_params *p, int isa, uint64_t *out, char *err, int errlen) {
  if (check(p, isa, err, errlen)) return -1;
  if (!out) return fail(err, errlen, "mmb_bconv_prepack: out is NULL");
  try {
    Phased ph;
    if (phases_of(p, ph)) {
      write_phased_blob(ph, fns_of(isa), isa, out);
      return 0;
    }
    Plan pl;
    plan(p, fns_of(isa), pl);
    prepare(p, fns_of(isa), pl);
    write_blob(pl, isa, out);
  } catch (const std::exception &e) {
    return fail(err, errlen, "mmb_bconv: %s", e.what());
  }
  return 0;
}

int mmb_bconv2d_f32(const mmb_bconv_params *p, int isa, const float *x, float *y, char *err,
                    int errlen) {
  if (check(p, isa, err, errlen)) return -1;
  if ((!x && !p->x_bits) || !y)
    return fail(err, errlen, "mmb_bconv: x (or x_bits) and y must not be NULL");
  const mmb_isa_fns *f = fns_of(isa);
  const int threads = p->threads > 0 ? p->threads : 1;
  const bool prof = profiling();
  try {
    const auto t0 = std::chrono::steady_clock::now();
    Phased ph;
    if (phases_of(p, ph)) {
      // the input packed once into a grid padded for every phase; each phase reads it at its
      // own offset and writes its rows / columns of y
      Plan grid;
      plan(&ph.grid, f, grid);
      pack_input(&ph.grid, f, grid, x, threads);
      const auto t1 = std::chrono::steady_clock::now();
      const uint64_t *blob = p->prepacked;
      if (blob && blob[0] != kPhasedMagic)
        return fail(err, errlen,
                    "mmb_bconv: prepacked was made for another layer shape or ISA path (not the "
                    "sub-pixel form of this transposed conv); call mmb_bconv_prepack again");
      if (blob) blob += 8;
      // per row phase r: the column phases' count calls, and one epilogue over whole output
      // rows (oy * stride_h + r) with the phases' tables interleaved by column
      const int sw = p->in_dil_w, nr = p->in_dil_h;
      double count_s = 0;
      std::vector<Plan> pls(ph.phases.size());
      for (size_t i = 0; i < ph.phases.size(); ++i) {
        const Phase &q = ph.phases[i];
        plan(&q.p, f, pls[i], q.map, p->out_h, p->out_w, grid.c.hp, grid.c.wp);
        if (blob) {
          if (attach_blob(&q.p, isa, blob + 8, pls[i], err, errlen)) return -1;
          blob += 8 + blob[0];
        } else {
          prepare(&q.p, f, pls[i]);
        }
        pls[i].c.xbuf = grid.xbuf.get() + ((size_t)q.dy * grid.c.wp + q.dx) * grid.c.pix;
        // NHWC row by row: each column phase writes its counts at their interleaved columns
        if (p->nhwc && !f->count_rows) pls[i].c.cstride = sw * pls[i].c.opg;
      }
      for (int r = 0; r < nr; ++r) {
        const Phase &first = ph.phases[(size_t)r * sw];
        mmb_bconv_params er = first.p;  // the epilogue's rows: every column of y
        er.out_w = p->out_w;
        Interleaved il;
        const mmb_ctx *cc[64];
        for (int q = 0; q < sw; ++q) cc[q] = &pls[(size_t)r * sw + q].c;
        interleave_tables(cc, sw, &er, il);
        count_s += run_rows(f, cc, sw, &il.c, threads, y, prof);
      }
      if (prof) {
        const auto t2 = std::chrono::steady_clock::now();
        g_profile[0] = std::chrono::duration<double>(t1 - t0).count();
        g_profile[1] = count_s;
        g_profile[2] = std::chrono::duration<double>(t2 - t1).count() - count_s;
      }
      return 0;
    }
    Plan pl;
    plan(p, f, pl);
    if (p->prepacked) {
      if (attach_blob(p, isa, p->prepacked, pl, err, errlen)) return -1;
    } else {
      prepare(p, f, pl);
    }
    pack_input(p, f, pl, x, threads);
    const auto t1 = std::chrono::steady_clock::now();
    pl.c.y = y;
    const mmb_ctx *cc = &pl.c;
    const double count_s = run_rows(f, &cc, 1, &pl.c, threads, y, prof);
    if (prof) {
      const auto t2 = std::chrono::steady_clock::now();
      // the row phase's wall time, split by the calling thread's count time (its rows run in
      // parallel with the others': with balanced rows the same wall time)
      g_profile[0] = std::chrono::duration<double>(t1 - t0).count();
      g_profile[1] = count_s;
      g_profile[2] = std::chrono::duration<double>(t2 - t1).count() - count_s;
    }
  } catch (const std::exception &e) {
    return fail(err, errlen, "mmb_bconv: %s", e.what());
  }
  return 0;
}

void mmb_bconv_profile(double *pack_s, double *count_s, double *epilogue_s) {
  if (pack_s) *pack_s = g_profile[0];
  if (count_s) *count_s = g_profile[1];
  if (epilogue_s) *epilogue_s = g_profile[2];
}

double mmb_clock_probe(long long iters) {
  if (iters < 1) iters = 1;
  const auto t0 = std::chrono::steady_clock::now();
#if defined(__x86_64__)
  // register + register: Golden Cove (Sapphire Rapids) and later fold chains of add-immediate
  // at rename (measured: 14 GHz "seen" on a 3 GHz core)
  unsigned long long v = 0, n = (unsigned long long)iters, one = 1;
  __asm__ volatile(
      "1:\n\t"
      "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
      "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
      "dec %1\n\tjnz 1b\n\t"
      : "+r"(v), "+r"(n)
      : "r"(one)
      : "cc");
#else
  volatile unsigned long long v = 0;
  for (long long i = 0; i < iters * 8; ++i) v = v + 1;
#endif
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return (double)iters * 8.0 / s;
}

}  // extern "C"
