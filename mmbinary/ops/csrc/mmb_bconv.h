/* mmb_bconv.h -- C ABI of mmbinary's native 1-bit (XNOR-popcount) convolution.
 *
 * No OpenVINO / PyTorch headers anywhere in csrc/: the core builds with a plain C++17 compiler.
 * Sources: mmb_bconv.cpp (dispatch, packing, tables, threads, epilogue, portable kernel),
 * mmb_bconv_avx2.cpp (compile with -mavx2), mmb_bconv_avx512.cpp (compile with -mavx512f
 * -mavx512bw -mavx512vl -mavx512dq -mavx512vpopcntdq), mmb_bconv_amx.cpp (the same plus
 * -mamx-tile -mamx-int8), mmb_bconv_neon.cpp (AArch64, no flags);
 * each ISA file compiles to nothing on another architecture (x86: avx2 + avx512 + portable;
 * AArch64: neon + portable; elsewhere portable only).
 *
 * Semantics (docs/deploy.md sections 1 and 3): the input bit is (x >= threshold), sign(0) = +1;
 * the weight is the packed format v1; padded taps (and the zeros a transposed conv inserts) are
 * skipped, i.e. zero padding of the +/-1 input:
 *   B*S = n_valid - 2 popcount(xor) over the valid taps,  n_valid = (in_c/groups) x valid taps.
 * Zero-initialise the struct (memset / = {0}) so that fields added at its end later are 0 / NULL.
 */
#ifndef MMB_BCONV_H
#define MMB_BCONV_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define MMB_API __attribute__((visibility("default")))
#else
#define MMB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define MMB_BCONV_ABI_VERSION 2  /* 2: x_bits, y_bits, y_bits_threshold, residual_upsample */
/* MMB_ISA_AMX: the +/-1 products as int8 tiles (TDPBSSD) instead of XNOR-popcount; the weights
   stay 1-bit in memory and are expanded to int8 per tile in cache; same results bit for bit.
   Opt-in here (forced only): on Sapphire Rapids 0.96-1.28x the AVX-512 path per layer at 1
   thread, 0.86-1.1x at 2. The OpenVINO op (openvino_ext) times both per node and keeps the
   faster. */
enum { MMB_ISA_PORTABLE = 0, MMB_ISA_AVX2 = 1, MMB_ISA_AVX512 = 2, MMB_ISA_NEON = 3, MMB_ISA_AMX = 4 };

MMB_API int mmb_abi_version(void);                     /* MMB_BCONV_ABI_VERSION of the built library */
MMB_API const char *mmb_isa_name(int isa);             /* "portable", "avx2", "avx512", "neon", "amx"; "?" otherwise */
/* CPUID (+ OS xsave state): 1 if this CPU runs the path, else 0. The environment variable
   MMBINARY_BCONV_HIDE_ISA (comma list, e.g. "avx512,avx2") hides paths, to test the error of a
   CPU that lacks one. */
MMB_API int mmb_cpu_supports(int isa);
/* forced: NULL -> env MMBINARY_BCONV_ISA (auto|amx|avx512|avx2|neon|portable), unset/auto -> best
   supported (amx only when forced: see MMB_ISA_AMX).
   Returns the isa, or -1 with a message in err naming the requested path and what the CPU has. */
MMB_API int mmb_select_isa(const char *forced, char *err, int errlen);

typedef struct {
  int n, in_c, in_h, in_w;            /* real input, NCHW float32 (NHWC with nhwc below) */
  int out_c, out_h, out_w, kh, kw;
  int stride_h, stride_w, dil_h, dil_w;
  int pad_top, pad_left, pad_bottom, pad_right;  /* zero padding of the +/-1 input: taps skipped */
  int in_dil_h, in_dil_w;             /* 1, or the stride of a transposed conv (inserted zeros skipped) */
  int groups;
  float threshold;                    /* input bit = (x - threshold >= 0), sign(0) = +1 */
  const uint64_t *weight;             /* packed format v1: [out_c, kh, kw, words], words = ceil((in_c/groups)/64) */
  const float *scale, *bias;          /* [out_c] */
  const float *window_scale, *mask_scale, *mask_window_scale;  /* [out_c] or NULL (docs/deploy.md sec. 1) */
  const float *residual;              /* NCHW [n, out_c, out_h, out_w] or NULL: added after scale / bias */
  const float *prelu;                 /* [out_c] or NULL: y = y >= 0 ? y : prelu[o] * y, after the residual */
  int threads;                        /* <= 0: 1 */
  /* --- added after the first version (0 / NULL keeps the behaviour above) --- */
  const uint64_t *prepacked;          /* NULL, or mmb_bconv_prepack() output for this isa and layer */
  /* RPReLU (ReActNet): y = PReLU(y - pre_shift) + post_shift, after the residual; each [out_c]
     or NULL (NULL: no shift; with prelu NULL the slope is 1, i.e. only the shifts) */
  const float *pre_shift, *post_shift;
  /* Sign output (self-binarizing nets): non-NULL [out_c] switches y to +1 / -1 (float), the sign
     of scale * (B*S) + bias as an exact integer comparison: scale[o] > 0: +1 iff
     B*S >= sign_threshold[o]; scale[o] < 0: +1 iff B*S <= sign_threshold[o]; scale[o] == 0:
     +1 iff bias[o] >= 0. Refused with window_scale, mask_scale, mask_window_scale, residual,
     prelu or the shifts (the sign would not be a threshold of B*S alone). */
  const int32_t *sign_threshold;
  /* Maxout (AdaBin): [out_c] or NULL, the slope for y >= 0 of the PReLU step above (NULL: 1),
     so y = y >= 0 ? pos_slope * y : prelu * y (prelu NULL: 1) = g+ ReLU(y) - g- ReLU(-y) */
  const float *pos_slope;
  /* 1: x, residual and y are NHWC ([n, h, w, c], channels contiguous) instead of NCHW; the
     layout of an OpenVINO graph between real layers (its nhwc / acdb), so no reorder is paid */
  int nhwc;
  /* The host's threads (an inference engine's own pool, so the kernel does not compete with
     it): NULL, or run(run_ctx, n, job, job_ctx) calls job(job_ctx, t) once for each
     t = 0 .. n-1, on any of its threads, and returns when all are done; n <= threads. NULL: the
     kernel's own persistent pool. */
  void (*run)(void *run_ctx, int n, void (*job)(void *job_ctx, int t), void *job_ctx);
  void *run_ctx;
  /* --- ABI 2 --- chained bits (nhwc = 1 and groups = 1 only):
     Packed bits NHWC: [n, h, w, ceil(c / 64)] uint64 words, bit (c mod 64) of word c / 64 the
     channel's bit, bits past the last channel 0 -- the words the kernel packs its input into.
     x_bits: the input as such bits instead of floats (x is then not read and may be NULL;
     threshold is not used: the bits are already the input's); bits past in_c are ignored.
     y_bits: also write the output's bits, (y >= y_bits_threshold) per channel, after the whole
     epilogue -- the next layer's x_bits, so that layer skips reading and packing y. */
  const uint64_t *x_bits;
  uint64_t *y_bits;
  float y_bits_threshold;
  /* 0 or 1: residual has the output's shape. s = 2, 4, 8, ... (nhwc = 1, out_h and out_w
     multiples of s): residual is [n, out_h / s, out_w / s, out_c] and output (y, x) adds its
     (y / s, x / s), i.e. the residual nearest-upsampled by s (nn.Upsample(scale_factor=s)),
     read without the upsampled tensor ever being written (a Bi-Real deconv's shortcut). */
  int residual_upsample;
} mmb_bconv_params;

/* y = epilogue(scale * (B*S) + window_scale * (1*S) + mask_scale * (B*M) + mask_window_scale * (1*M) + bias)
   exactly the DeployedBinaryConv formula; returns 0, or -1 with a message in err.
   x may be NULL with p->x_bits set. */
MMB_API int mmb_bconv2d_f32(const mmb_bconv_params *p, int isa, const float *x_nchw, float *y_nchw, char *err, int errlen);

/* Optional weight preparation (the ISA's weight layout and per-tap popcounts), done once per
   layer instead of per call: mmb_bconv_prepack_words() uint64 words, filled by
   mmb_bconv_prepack(); then set p->prepacked. Only the weight / shape fields of p are read.
   Returns the word count (> 0) / 0, or -1 with a message in err. */
MMB_API long long mmb_bconv_prepack_words(const mmb_bconv_params *p, int isa, char *err, int errlen);
MMB_API int mmb_bconv_prepack(const mmb_bconv_params *p, int isa, uint64_t *out, char *err, int errlen);

/* Benchmark helper: runs 8 * iters dependent 64-bit adds (one per cycle on x86) and returns
   adds per second, i.e. the core clock in Hz while it runs (portable fallback: approximate). */
MMB_API double mmb_clock_probe(long long iters);

/* With the environment variable MMBINARY_BCONV_PROFILE=1: seconds of the last
   mmb_bconv2d_f32 call in its phases (input packing incl. the zeroed grid; XNOR-popcount count;
   epilogue incl. window sums), for a per-phase breakdown (1 thread: exact; more: the calling
   thread's rows). Not thread-safe. */
MMB_API void mmb_bconv_profile(double *pack_s, double *count_s, double *epilogue_s);

#ifdef __cplusplus
}
#endif
#endif /* MMB_BCONV_H */
