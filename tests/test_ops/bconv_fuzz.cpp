// Random layer shapes through the C ABI on every ISA path this CPU runs, against a naive loop
// over taps and channels (the definition: zero padding of the +/-1 input, inserted zeros
// skipped, AdaBin's window / mask terms; the residual add, PReLU / RPReLU / Maxout; chained packed
// bits in and out). Built with AddressSanitizer + UBSan by
// tests/test_ops/test_sanitized.py. Usage: bconv_fuzz ITERATIONS; exit status 0 = all exact.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>
#include <vector>

#include "mmb_bconv.h"

int main(int argc, char **argv) {
  const int iterations = argc > 1 ? atoi(argv[1]) : 200;
  std::mt19937 rng(1);
  auto R = [&](int a, int b) { return a + (int)(rng() % (unsigned)(b - a + 1)); };
  char err[512];
  int bad = 0, runs = 0, chained_runs = 0, per_isa[MMB_ISA_AMX + 1] = {0};
  for (int it = 0; it < iterations; ++it) {
    mmb_bconv_params p;
    memset(&p, 0, sizeof p);
    p.groups = R(1, 3);
    p.in_c = p.groups * R(1, 140);
    p.out_c = p.groups * R(1, 40);
    p.n = R(1, 2);
    p.in_h = R(1, 9);
    p.in_w = R(1, 17);
    p.kh = R(1, 5);
    p.kw = R(1, 5);
    p.stride_h = R(1, 2);
    p.stride_w = R(1, 2);
    p.dil_h = R(1, 2);
    p.dil_w = R(1, 2);
    p.in_dil_h = R(1, 3);
    p.in_dil_w = R(1, 3);
    p.pad_top = R(0, 3);
    p.pad_left = R(0, 3);
    p.pad_bottom = R(0, 3);
    p.pad_right = R(0, 3);
    const int hp = (p.in_h - 1) * p.in_dil_h + 1 + p.pad_top + p.pad_bottom;
    const int wp = (p.in_w - 1) * p.in_dil_w + 1 + p.pad_left + p.pad_right;
    const int eh = p.dil_h * (p.kh - 1) + 1, ew = p.dil_w * (p.kw - 1) + 1;
    if (hp < eh || wp < ew) continue;
    p.out_h = (hp - eh) / p.stride_h + 1;
    p.out_w = (wp - ew) / p.stride_w + 1;
    const int cpg = p.in_c / p.groups, words = (cpg + 63) / 64, opg = p.out_c / p.groups;
    std::vector<uint64_t> w((size_t)p.out_c * p.kh * p.kw * words);
    for (size_t i = 0; i < w.size(); ++i) {
      uint64_t v = ((uint64_t)rng() << 32) | rng();
      const int used = cpg - 64 * (int)(i % words);
      if (used < 64) v &= (1ull << used) - 1;  // padding channels are 0 bits (format v1)
      w[i] = v;
    }
    std::vector<float> x((size_t)p.n * p.in_c * p.in_h * p.in_w), one(p.out_c, 1.f),
        zero(p.out_c, 0.f), half(p.out_c, 0.5f);
    for (auto &v : x) v = (float)((int)(rng() % 5) - 2);  // exact zeros: sign(0) = +1
    p.weight = w.data();
    p.scale = one.data();
    p.bias = zero.data();
    p.threads = R(1, 3);
    p.nhwc = it % 4 == 3;  // x and y NHWC (the same values, another memory order)
    const bool terms = it % 3 == 0;
    if (terms) p.window_scale = p.mask_scale = p.mask_window_scale = half.data();
    // sign output: scales of sign +, -, 0 per channel, thresholds around 0
    const bool sign = it % 3 == 1;
    std::vector<int32_t> thr(p.out_c);
    std::vector<float> sgn(p.out_c);
    if (sign) {
      for (int o = 0; o < p.out_c; ++o) {
        thr[o] = R(-6, 6);
        sgn[o] = o % 3 == 0 ? 1.f : o % 3 == 1 ? -1.f : 0.f;
      }
      p.scale = sgn.data();
      p.sign_threshold = thr.data();
    }
    // the Bi-Real / AdaBin steps after scale and bias (residual add, then RPReLU: shift,
    // PReLU or Maxout slopes, shift), in some runs without AdaBin terms or sign output
    // 0: + residual, 1: + PReLU, 2: RPReLU, 3: Maxout, 4: none
    const int steps = terms || sign ? -1 : it % 5;
    const size_t ysize = (size_t)p.n * p.out_c * p.out_h * p.out_w;
    std::vector<float> res(steps >= 0 && steps < 4 ? ysize : 0), neg(p.out_c, 0.25f),
        pos(p.out_c, 0.75f), pre(p.out_c, 0.5f), post(p.out_c, -0.5f);
    for (auto &v : res) v = 0.25f * (float)((int)(rng() % 9) - 4);
    if (!res.empty()) p.residual = res.data();
    if (steps >= 1 && steps < 4) p.prelu = neg.data();
    if (steps == 2) p.pre_shift = pre.data(), p.post_shift = post.data();
    if (steps == 3) p.pos_slope = pos.data();
    // chained bits (NHWC, one group): the input as packed words, with garbage past in_c, and
    // the output's bits (y >= 0.5) written too
    const bool chained = p.nhwc && p.groups == 1 && it % 8 == 3;
    const int bw_in = (p.in_c + 63) / 64, bw_out = (p.out_c + 63) / 64;
    std::vector<uint64_t> xb((size_t)p.n * p.in_h * p.in_w * bw_in, 0);
    if (chained) {
      for (size_t pix = 0; pix < xb.size() / bw_in; ++pix)
        for (int c = 0; c < 64 * bw_in; ++c)
          if (c >= p.in_c ? rng() % 2 : x[pix * p.in_c + c] >= 0)
            xb[pix * bw_in + c / 64] |= 1ull << (c % 64);
      p.x_bits = xb.data();
      p.y_bits_threshold = 0.5f;
    }
    std::vector<float> ref((size_t)p.n * p.out_c * p.out_h * p.out_w);
    for (int n = 0; n < p.n; ++n)
      for (int o = 0; o < p.out_c; ++o)
        for (int oy = 0; oy < p.out_h; ++oy)
          for (int ox = 0; ox < p.out_w; ++ox) {
            const int g = o / opg;
            long bs = 0, ws = 0, bm = 0, nv = 0;
            for (int u = 0; u < p.kh; ++u)
              for (int v = 0; v < p.kw; ++v) {
                const int ry = oy * p.stride_h + u * p.dil_h - p.pad_top;
                const int rx = ox * p.stride_w + v * p.dil_w - p.pad_left;
                if (ry < 0 || rx < 0 || ry % p.in_dil_h || rx % p.in_dil_w) continue;
                const int iy = ry / p.in_dil_h, ix = rx / p.in_dil_w;
                if (iy >= p.in_h || ix >= p.in_w) continue;
                for (int ci = 0; ci < cpg; ++ci) {
                  const size_t c = (size_t)g * cpg + ci;
                  const size_t xi = p.nhwc ? (((size_t)n * p.in_h + iy) * p.in_w + ix) * p.in_c + c
                                           : (((size_t)n * p.in_c + c) * p.in_h + iy) * p.in_w + ix;
                  const int s = x[xi] >= 0 ? 1 : -1;
                  const uint64_t wd = w[(((size_t)o * p.kh + u) * p.kw + v) * words + ci / 64];
                  const int b = (wd >> (ci % 64)) & 1 ? 1 : -1;
                  bs += s * b;
                  ws += s;
                  bm += b;
                  nv += 1;
                }
              }
            float y = (float)bs;
            if (terms) {
              y += (float)ws * 0.5f;
              y += (float)bm * 0.5f;
              y += (float)nv * 0.5f;
            }
            if (sign)
              y = (sgn[o] > 0 ? bs >= thr[o] : sgn[o] < 0 ? bs <= thr[o] : true) ? 1.f : -1.f;
            const size_t yi = p.nhwc ? (((size_t)n * p.out_h + oy) * p.out_w + ox) * p.out_c + o
                                     : (((size_t)n * p.out_c + o) * p.out_h + oy) * p.out_w + ox;
            if (p.residual) y += res[yi];
            if (p.pre_shift) y -= pre[o];
            if (p.prelu) y = y >= 0.f ? (p.pos_slope ? pos[o] * y : y) : neg[o] * y;
            if (p.post_shift) y += post[o];
            ref[yi] = y;
          }
    for (int isa = 0; isa <= MMB_ISA_AMX; ++isa) {
      if (!mmb_cpu_supports(isa)) continue;
      std::vector<float> y(ref.size(), -999.f);
      std::vector<uint64_t> blob, yb(chained ? ref.size() / p.out_c * bw_out : 0, 0x5a5a5a5aull);
      p.y_bits = chained ? yb.data() : NULL;
      if (it % 2) {  // half the runs through prepared weights
        const long long nw = mmb_bconv_prepack_words(&p, isa, err, sizeof err);
        blob.resize((size_t)nw);
        if (nw <= 0 || mmb_bconv_prepack(&p, isa, blob.data(), err, sizeof err)) {
          printf("prepack error: %s\n", err);
          ++bad;
          continue;
        }
        p.prepacked = blob.data();
      }
      if (mmb_bconv2d_f32(&p, isa, chained ? NULL : x.data(), y.data(), err, sizeof err)) {
        printf("error: %s\n", err);
        ++bad;
      }
      p.prepacked = NULL;
      ++runs;
      chained_runs += chained;
      ++per_isa[isa];
      for (size_t i = 0; i < y.size(); ++i)
        if (y[i] != ref[i]) {
          printf("iteration %d isa %s: y[%zu] = %g, expected %g\n", it, mmb_isa_name(isa), i,
                 y[i], ref[i]);
          ++bad;
          break;
        }
      for (size_t pix = 0; pix < yb.size() / (bw_out ? bw_out : 1); ++pix)
        for (int c = 0; c < 64 * bw_out; ++c) {
          const int got = (int)(yb[pix * bw_out + c / 64] >> (c % 64) & 1);
          if (got != (c < p.out_c && ref[pix * p.out_c + c] >= 0.5f)) {
            printf("iteration %d isa %s: bit %d of y_bits pixel %zu = %d\n", it,
                   mmb_isa_name(isa), c, pix, got);
            ++bad;
            pix = yb.size();
            break;
          }
        }
    }
  }
  for (int isa = 0; isa <= MMB_ISA_AMX; ++isa)
    if (per_isa[isa]) printf("isa %s: %d runs\n", mmb_isa_name(isa), per_isa[isa]);
  printf("runs %d (chained bits %d) mismatches %d\n", runs, chained_runs, bad);
  return bad != 0;
}
