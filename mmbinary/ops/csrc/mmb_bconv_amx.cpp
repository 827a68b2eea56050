// mmb_bconv_amx.cpp -- AMX path of the 1-bit conv. Compile with the AVX-512 path's flags plus
// -mamx-tile -mamx-int8; called only after mmb_cpu_supports(MMB_ISA_AMX).
//
// The +/-1 products run as int8 tiles (TDPBSSD: 16 x 16 x 64 multiply-adds per instruction,
// 1024 per cycle, against about 341 for XNOR-popcount on two 512-bit ports). Same results bit
// for bit as the popcount paths:
//   - the input grid holds int8 +1 / -1 per channel, 64 bytes per 64-channel word, and -1 at
//     padded or inserted taps (bit 0 there in the other paths);
//   - weights stay 1-bit in memory (the prepared layout: 16 words per 16 channels x 64 inputs,
//     bits in the order of an int8 tile row) and are expanded to +/-1 bytes per tile into a
//     cache-resident scratch, 0 at the channels past in_c / groups;
//   - a tile of dot products d becomes the popcount of the other paths, (taps x cpg - d) / 2,
//     so the tables and the epilogue are shared (the one-pass NHWC epilogue reads d itself).
// A tile is 16 output pixels x 16 output channels. Pixels run over whole chunks of output rows
// (flattened), so rows shorter than 16 still fill the tiles: a tile of 16 pixels in one row is
// loaded from the grid directly (a row stride per pixel), any other is gathered first.
// In a dense NHWC call with the common epilogue (no AdaBin terms, no sign output) whose expanded
// weights are small (kFuseBytes), the epilogue runs inside the tile loop (fused(), below): no
// counts in memory. The weights expanded for it stay in a per-thread buffer between calls.
// The tile configuration a caller had (an inference engine's own AMX kernels) is restored.
#include "mmb_bconv_internal.h"

#if defined(MMB_X86)
#include <stdlib.h>

#include <new>

#include "mmb_bconv_avx512_shared.h"

namespace {

const int kLanes = 16;     // output channels per tile (its 16 int32 columns)
const int kTileB = 1024;   // bytes of a 16 x 64-byte tile
const int kChunk = 65536;  // outputs per row chunk: long pixel runs per expanded weight tile

struct alignas(64) TileCfg {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// tiles 0, 1: pixels (A, 16 x 64 int8); 2, 3: weights (B, 16 rows of 4 inputs x 16 channels);
// 4 .. 7: int32 dot products, [pixel tile][channel tile]
TileCfg our_config() {
  TileCfg t;
  memset(&t, 0, sizeof t);
  t.palette = 1;
  for (int i = 0; i < 8; ++i) {
    t.rows[i] = 16;
    t.colsb[i] = 64;
  }
  return t;
}

// Uses the tiles with our configuration for the scope, then gives back the caller's (or
// releases them if there was none).
class TileScope {
 public:
  TileScope() {
    static const TileCfg ours = our_config();
    _tile_storeconfig(&saved_);
    if (memcmp(&saved_, &ours, sizeof ours) != 0) {
      _tile_loadconfig(&ours);
      changed_ = true;
    }
  }
  ~TileScope() {
    if (!changed_) return;
    if (saved_.palette)
      _tile_loadconfig(&saved_);
    else
      _tile_release();
  }

 private:
  TileCfg saved_;
  bool changed_ = false;
};

// A thread's scratch, grown on demand (no std:: containers: their inline templates would be
// merged with the portable file's by the linker, see mmb_bconv_internal.h).
struct Scratch {
  uint8_t *p = nullptr;
  size_t n = 0;
  ~Scratch() { free(p); }
  uint8_t *get(size_t bytes) {
    if (bytes > n) {
      free(p);
      p = nullptr;
      n = 0;
      if (posix_memalign((void **)&p, 64, bytes)) return nullptr;
      n = bytes;
    }
    return p;
  }
};
thread_local Scratch t_scratch;

// A thread's copy of one call's expanded weights (every channel tile of one group), kept across
// the call's row chunks; keyed by the call's serial number, so never another call's weights.
struct WeightCache {
  Scratch mem;
  uint64_t call = 0;
  int g = -1;
};
thread_local WeightCache t_weights;

// weights [out_c][K] (packed format v1) -> [g][nob][K][16 words]: word r, bit 4 n + j = input
// 4 r + j of channel 16 b + n, i.e. the bit image of the int8 tile (padded channels 0 bits)
void repack(const mmb_ctx *c, const uint64_t *w, uint64_t *out) {
  const int K = c->K, opg = c->opg, nob = c->nob, G = c->p->groups;
  for (int g = 0; g < G; ++g)
    for (int b = 0; b < nob; ++b)
      for (int k = 0; k < K; ++k) {
        uint64_t *dst = out + (((size_t)g * nob + b) * K + k) * kLanes;
        for (int r = 0; r < 16; ++r) {
          uint64_t v = 0;
          for (int nn = 0; nn < kLanes; ++nn) {
            const int o = b * kLanes + nn;
            if (o >= opg) continue;
            const uint64_t word = w[((size_t)g * opg + o) * K + k];
            v |= ((word >> (4 * r)) & 0xfull) << (4 * nn);
          }
          dst[r] = v;
        }
      }
}

int popcount(const uint64_t *w, int n) { return mmb_popcount_words(w, n); }

// +1 bytes (0x01) among n buffer words: bit 0 set, bit 1 clear (-1 is 0xff)
int popcount_x(const uint64_t *x, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += __builtin_popcountll(x[i] & ~(x[i] >> 1) & 0x0101010101010101ull);
  return s;
}

// word wd of a pixel as 64 bytes: +1 where its bit is set, else -1
void store_int8(uint64_t *dst, int wd, uint64_t v) {
  _mm512_storeu_si512(dst + (size_t)wd * 8, _mm512_mask_blend_epi8((__mmask64)v, _mm512_set1_epi8(-1),
                                                                   _mm512_set1_epi8(1)));
}

void pack(const mmb_ctx *c, const float *x, int n, int g, int iy0, int iy1, uint64_t *tmp) {
  mmb_pack_avx512(c, x, n, g, iy0, iy1, store_int8);
  (void)tmp;
}

// One weight tile (16 words of bits) -> 16 rows of 64 int8 +/-1; rows of the last input word
// masked to 0 past in_c / groups (vm: NULL for a full word)
inline void expand_tile(const uint64_t *wb, const __mmask64 *vm, uint8_t *dst) {
  const __m512i plus = _mm512_set1_epi8(1), minus = _mm512_set1_epi8(-1);
  for (int r = 0; r < 16; ++r) {
    const __m512i v = _mm512_mask_blend_epi8((__mmask64)wb[r], minus, plus);
    _mm512_store_si512(dst + r * 64, vm ? _mm512_maskz_mov_epi8(vm[r], v) : v);
  }
}

// NA pixel tiles x NB channel tiles over the K reduction steps; a[i] + off[i][k]: the 16 x 64
// bytes of pixel tile i at step k, rows stride[i] apart; b: expanded weights [NB][K][1 KB].
// The int32 dot products go to out: pixel p of tile i, channel o of tile j at
// out[i * next_a + j * 16 + p * ld / 4 + o].
template <int NA, int NB>
inline void tile_block(const uint8_t *const *a, const size_t *stride, const int32_t *const *off,
                       const uint8_t *b, int K, int32_t *out, size_t ld, size_t next_a) {
  _tile_zero(4);
  if (NB > 1) _tile_zero(5);
  if (NA > 1) _tile_zero(6);
  if (NA > 1 && NB > 1) _tile_zero(7);
  for (int k = 0; k < K; ++k) {
    _tile_loadd(0, a[0] + off[0][k], stride[0]);
    if (NA > 1) _tile_loadd(1, a[1] + off[1][k], stride[1]);
    _tile_loadd(2, b + (size_t)k * kTileB, 64);
    if (NB > 1) _tile_loadd(3, b + ((size_t)K + k) * kTileB, 64);
    _tile_dpbssd(4, 0, 2);
    if (NB > 1) _tile_dpbssd(5, 0, 3);
    if (NA > 1) _tile_dpbssd(6, 1, 2);
    if (NA > 1 && NB > 1) _tile_dpbssd(7, 1, 3);
  }
  // [pixel tile][16 pixels] rows of ld bytes, the channel tiles side by side
  _tile_stored(4, out, ld);
  if (NB > 1) _tile_stored(5, out + 16, ld);
  if (NA > 1) _tile_stored(6, out + next_a, ld);
  if (NA > 1 && NB > 1) _tile_stored(7, out + next_a + 16, ld);
}

// The same with the weights expanded on the way (long reductions, whose expanded tiles would
// not stay in L1): step k's tiles from the bits wb (tile j of step k at wb + (j K + k) 16),
// expanded kAhead steps before use into a ring of L1 slots.
const int kAhead = 2, kRing = 4;
const int kStreamK = 20;  // reduction steps above which the weights are expanded on the way: a pair's
                          // expanded weights (2 K KB) no longer fit in L1 (48 KB here)
template <int NA, int NB>
inline void tile_block_stream(const uint8_t *const *a, const size_t *stride,
                              const int32_t *const *off, const uint64_t *wb, int K, int words,
                              const __mmask64 *last, uint8_t *ring, int32_t *out, size_t ld,
                              size_t next_a) {
  auto expand = [&](int k) {
    uint8_t *slot = ring + (size_t)(k % kRing) * 2 * kTileB;
    const __mmask64 *vm = k % words == words - 1 ? last : nullptr;
    for (int j = 0; j < NB; ++j) expand_tile(wb + ((size_t)j * K + k) * kLanes, vm, slot + j * kTileB);
  };
  for (int k = 0; k < kAhead && k < K; ++k) expand(k);
  _tile_zero(4);
  if (NB > 1) _tile_zero(5);
  if (NA > 1) _tile_zero(6);
  if (NA > 1 && NB > 1) _tile_zero(7);
  for (int k = 0; k < K; ++k) {
    if (k + kAhead < K) expand(k + kAhead);
    const uint8_t *b = ring + (size_t)(k % kRing) * 2 * kTileB;
    _tile_loadd(0, a[0] + off[0][k], stride[0]);
    if (NA > 1) _tile_loadd(1, a[1] + off[1][k], stride[1]);
    _tile_loadd(2, b, 64);
    if (NB > 1) _tile_loadd(3, b + kTileB, 64);
    _tile_dpbssd(4, 0, 2);
    if (NB > 1) _tile_dpbssd(5, 0, 3);
    if (NA > 1) _tile_dpbssd(6, 1, 2);
    if (NA > 1 && NB > 1) _tile_dpbssd(7, 1, 3);
  }
  _tile_stored(4, out, ld);
  if (NB > 1) _tile_stored(5, out + 16, ld);
  if (NA > 1) _tile_stored(6, out + next_a, ld);
  if (NA > 1 && NB > 1) _tile_stored(7, out + next_a + 16, ld);
}

// The counts stay dot products for the one-pass epilogue (mmb_epilogue_nhwc<MmbVec16, true>)
// where that epilogue reads this call's counts alone: not a sub-pixel phase (its counts
// interleave with other phases', whose T differ, under one epilogue call). Else count =
// (T - d) / 2 here.
bool keep_dots(const mmb_ctx *c) {
  return mmb_epilogue_nhwc_fits(c) && !c->interleaved && c->ysh == 1 && c->ysw == 1 &&
         c->yr == 0 && c->yq == 0;
}

// ... and, where the call's output is known (a dense call) and every channel tile's expanded
// weights are small (nob x K KB <= kFuseBytes), the epilogue runs inside the count loop: pixel
// tile pairs outside, all channel tiles inside, each pair's dot products [32 pixels][channels]
// in an L1 scratch, then straight through the epilogue into y (no counts in memory, y written
// once in order). Larger weights are read again for every pixel tile pair there, from L2; the
// other loop (channel pairs outside) reads each pair's weights once, from L1, and its counts
// pass through memory: with this round's cheaper epilogue that is the faster one from the
// 256-channel layer up (576 KB: 1.08-1.20x, A/B in one process, alone and in a chain of
// layers), while the fused loop stays ahead on 128 channels (144 KB: 1.03-1.11x).
const size_t kFuseBytes = (size_t)256 << 10;
bool fused(const mmb_ctx *c) {
  return c->y && keep_dots(c) && (size_t)c->nob * c->K * kTileB <= kFuseBytes;
}

// The expanded weights [nob][K][1 KB] of group g for this call, expanded once per thread.
const uint8_t *expanded_weights(const mmb_ctx *c, int g, const uint64_t *wg,
                                const __mmask64 *last) {
  WeightCache &wc = t_weights;
  if (wc.call == c->call && wc.g == g) return wc.mem.p;
  wc.call = 0;  // invalid until filled
  const int K = c->K, words = c->words;
  uint8_t *d = wc.mem.get((size_t)c->nob * K * kTileB);
  if (!d) throw std::bad_alloc();
  for (int b = 0; b < c->nob; ++b)
    for (int k = 0; k < K; ++k)
      expand_tile(wg + ((size_t)b * K + k) * kLanes, k % words == words - 1 ? last : nullptr,
                  d + ((size_t)b * K + k) * kTileB);
  wc.call = c->call;
  wc.g = g;
  return d;
}

void count_rows(const mmb_ctx *c, int n, int g, int oy0, int oy1, int32_t *cnt, int ldc) {
  const mmb_bconv_params *p = c->p;
  const int wo = p->out_w, K = c->K, opg = c->opg, nob = c->nob, words = c->words;
  const int M = (oy1 - oy0) * wo, nmt = (M + 15) / 16;
  const int32_t T = c->taps * c->cpg;  // taps x inputs: popcount = (T - dot) / 2
  const size_t pixb = (size_t)c->pix * 8;
  const uint8_t *grid =
      (const uint8_t *)(c->xbuf + (((size_t)n * p->groups + g) * c->hp) * c->wp * c->pix);
  const size_t colb = (size_t)p->stride_w * pixb, rowb = (size_t)p->stride_h * c->wp * pixb;
  const uint64_t *wg = c->wrep + (size_t)g * nob * K * kLanes;

  // scratch: byte offsets of the steps in the grid and in a gathered tile, pixel tile
  // descriptors, gathered tiles, expanded weights, one block of dot products
  int ngather = 0;
  for (int mt = 0; mt < nmt; ++mt) ngather += (mt * 16) % wo + 16 > wo;
  const size_t off_b = (size_t)2 * K * 4, desc_b = (size_t)nmt * 32;
  const bool fuse = fused(c);
  const int ldf = nob * kLanes;  // fused: int32 per pixel in the block of dot products
  const size_t ct_b = fuse ? (size_t)32 * ldf * 4 : 4 * kTileB;
  const size_t total = (off_b + desc_b + 63) / 64 * 64 + (size_t)ngather * K * kTileB +
                       (fuse ? 0 : (size_t)2 * K * kTileB) + ct_b;
  uint8_t *s = t_scratch.get(total);
  if (!s) throw std::bad_alloc();  // never silently wrong counts
  int32_t *koffb = (int32_t *)s, *goff = koffb + K;
  const uint8_t **abase = (const uint8_t **)(s + off_b);
  size_t *astride = (size_t *)(abase + nmt);
  const int32_t **aoff = (const int32_t **)(astride + nmt);
  uint8_t *gath = s + (off_b + desc_b + 63) / 64 * 64;
  uint8_t *bexp = gath + (size_t)ngather * K * kTileB;
  int32_t *ct = (int32_t *)(bexp + (fuse ? 0 : (size_t)2 * K * kTileB));
  for (int k = 0; k < K; ++k) {
    const int32_t o = c->koff[k];  // words; a buffer word is 8 bytes
    koffb[k] = o * 8;
    goff[k] = k * kTileB;
  }
  for (int mt = 0, gi = 0; mt < nmt; ++mt) {
    const int m0 = mt * 16;
    if (m0 % wo + 16 <= wo) {  // 16 pixels of one row: rows of the tile colb apart in the grid
      abase[mt] = grid + (size_t)(oy0 + m0 / wo) * rowb + (size_t)(m0 % wo) * colb;
      astride[mt] = colb;
      aoff[mt] = koffb;
      continue;
    }
    uint8_t *dst = gath + (size_t)gi++ * K * kTileB;  // [K][16 pixels][64 bytes]
    for (int i = 0; i < 16; ++i) {
      const int m = m0 + i < M ? m0 + i : M - 1;  // past the end: any pixel, never stored
      const uint8_t *src = grid + (size_t)(oy0 + m / wo) * rowb + (size_t)(m % wo) * colb;
      for (int k = 0; k < K; ++k)
        _mm512_store_si512(dst + (size_t)k * kTileB + i * 64, _mm512_loadu_si512(src + koffb[k]));
    }
    abase[mt] = dst;
    astride[mt] = 64;
    aoff[mt] = goff;
  }
  // weight rows of the last input word: bytes 4 n + j of row r are inputs 4 r + j < c1
  __mmask64 last[16];
  {
    const int c1 = c->cpg - 64 * (words - 1);
    for (int r = 0; r < 16; ++r) {
      uint64_t m = 0;
      for (int j = 0; j < 4; ++j)
        if (4 * r + j < c1) m |= 0x1111111111111111ull << j;
      last[r] = (__mmask64)m;
    }
  }
  if (fuse) {
    const uint8_t *bw = expanded_weights(c, g, wg, last);
    TileScope tiles;
    for (int mt = 0; mt < nmt; mt += 2) {
      const int NA = nmt - mt >= 2 ? 2 : 1;
      const uint8_t *a[2] = {abase[mt], abase[mt + NA - 1]};
      const size_t st[2] = {astride[mt], astride[mt + NA - 1]};
      const int32_t *of[2] = {aoff[mt], aoff[mt + NA - 1]};
      for (int nb = 0; nb < nob; nb += 2) {
        const int NB = nob - nb >= 2 ? 2 : 1;
        mmb_dispatch<2>(NA, [&](auto A) {
          mmb_dispatch<2>(NB, [&](auto B) {
            tile_block<decltype(A)::value, decltype(B)::value>(
                a, st, of, bw + (size_t)nb * K * kTileB, K, ct + nb * kLanes, (size_t)ldf * 4,
                (size_t)16 * ldf);
          });
        });
      }
      // the block's pixels, one run per output row they touch
      for (int m = mt * 16, m1 = (mt + NA) * 16 < M ? (mt + NA) * 16 : M; m < m1;) {
        const int ox = m % wo, e = m1 - m < wo - ox ? m1 - m : wo - ox;
        mmb_epilogue_nhwc_run<MmbVec16, true, false>(c, n, g, oy0 + m / wo, ox, ox + e,
                                                     ct + (size_t)(m - mt * 16) * ldf, ldf, c->y);
        m += e;
      }
    }
    return;
  }
  const __m512i tv = _mm512_set1_epi32(T);
  // short reductions: a channel pair's expanded weights (2 K KB) stay in L1 across every pixel
  // tile; long ones expand them on the way, per pixel tile pair
  const bool stream = K > kStreamK;
  TileScope tiles;
  for (int nb = 0; nb < nob; nb += 2) {
    const int NB = nob - nb >= 2 ? 2 : 1;
    const uint64_t *wb = wg + (size_t)nb * K * kLanes;
    if (!stream)
      for (int b = 0; b < NB; ++b)
        for (int k = 0; k < K; ++k)
          expand_tile(wb + ((size_t)b * K + k) * kLanes, k % words == words - 1 ? last : nullptr,
                      bexp + ((size_t)b * K + k) * kTileB);
    for (int mt = 0; mt < nmt; mt += 2) {
      const int NA = nmt - mt >= 2 ? 2 : 1;
      const uint8_t *a[2] = {abase[mt], abase[mt + NA - 1]};
      const size_t st[2] = {astride[mt], astride[mt + NA - 1]};
      const int32_t *of[2] = {aoff[mt], aoff[mt + NA - 1]};
      // NHWC, whole tiles: the dot products go straight into the counts ([pixel][channel],
      // converted in one pass at the end); else through ct
      const bool direct = c->nhwc && (mt + NA) * 16 <= M && (nb + NB) * kLanes <= opg;
      int32_t *dst = direct ? cnt + (size_t)mt * 16 * opg + (size_t)nb * kLanes : ct;
      const size_t ld = direct ? (size_t)opg * 4 : 128, next_a = direct ? (size_t)16 * opg : 512;
      mmb_dispatch<2>(NA, [&](auto A) {
        mmb_dispatch<2>(NB, [&](auto B) {
          constexpr int kA = decltype(A)::value, kB = decltype(B)::value;
          if (stream)
            tile_block_stream<kA, kB>(a, st, of, wb, K, words, last, bexp, dst, ld, next_a);
          else
            tile_block<kA, kB>(a, st, of, bexp, K, dst, ld, next_a);
        });
      });
      if (direct) continue;
      for (int ai = 0; ai < NA; ++ai)
        for (int b = 0; b < NB; ++b) {
          const int ob = (nb + b) * kLanes;
          if (ob >= opg) continue;
          const __mmask16 om = (__mmask16)(opg - ob >= 16 ? 0xffff : (1u << (opg - ob)) - 1);
          const int32_t *d = ct + ai * 512 + b * 16;
          for (int i = 0; i < 16; ++i) {
            const int m = (mt + ai) * 16 + i;
            if (m >= M) break;
            const __m512i v = _mm512_load_si512(d + i * 32);
            if (c->nhwc) {
              _mm512_mask_storeu_epi32(cnt + (size_t)m * opg + ob, om, v);
            } else {
              const __m512i u = _mm512_srai_epi32(_mm512_sub_epi32(tv, v), 1);
              alignas(64) int32_t tmp[16];
              _mm512_store_si512(tmp, u);
              for (int o = 0; o < 16 && ob + o < opg; ++o) cnt[(size_t)(ob + o) * ldc + m] = tmp[o];
            }
          }
        }
    }
  }
  if (c->nhwc && !keep_dots(c)) {  // dot products -> popcounts, (T - d) / 2
    const size_t total = (size_t)M * opg;
    size_t i = 0;
    for (; i + 16 <= total; i += 16)
      _mm512_storeu_si512(cnt + i, _mm512_srai_epi32(
                                       _mm512_sub_epi32(tv, _mm512_loadu_si512(cnt + i)), 1));
    for (; i < total; ++i) cnt[i] = (T - cnt[i]) >> 1;
  }
}

void count_row(const mmb_ctx *c, int n, int g, int oy, int32_t *cnt, int ldc) {
  count_rows(c, n, g, oy, oy + 1, cnt, ldc);
}

void epilogue(const mmb_ctx *c, int n, int g, int oy0, int oy1, const int32_t *cnt, int ldc,
              const int32_t *pcx, float *y) {
  if (fused(c)) return;  // done in count_rows
  if (keep_dots(c))
    mmb_epilogue_nhwc<MmbVec16, true>(c, n, g, oy0, oy1, cnt, y);
  else if (mmb_epilogue_nhwc_fits(c))
    mmb_epilogue_nhwc<MmbVec16, false>(c, n, g, oy0, oy1, cnt, y);
  else
    mmb_epilogue_generic(c, n, g, oy0, oy1, cnt, ldc, pcx, y);
}

}  // namespace

const mmb_isa_fns mmb_fns_amx = {kLanes,   0,         8,          1,         ~0ull,
                                 repack,   popcount,  pack,       count_row, epilogue,
                                 count_rows, popcount_x, kChunk, store_int8};

#endif  // MMB_X86
