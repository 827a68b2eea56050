// MMBinaryConv: an OpenVINO op (type "MMBinaryConv", version "mmbinary") whose evaluate() runs
// mmbinary's native 1-bit convolution (mmb_bconv2d_f32, ../csrc/mmb_bconv.h).
//
// Inputs, in this order (the optional ones only where the matching has_* attribute is 1):
//   0 x                  f32 [N, in_channels, H, W], the real input (bit = x - threshold >= 0);
//                        with layout "NHWC": [N, H, W, in_channels], and so are residual and
//                        the output (the export puts Transposes around it, which OpenVINO
//                        folds into its own nhwc layout: no reorder between real layers)
//   1 weight             u8 [out_channels, kh, kw, 8 words], packed format v1 (docs/deploy.md)
//                        as little-endian bytes (the CPU plugin narrows u64 / i64 constants
//                        to i32, so the words travel as bytes)
//   2 scale, 3 bias      f32 [out_channels]
//   window_scale, mask_scale, mask_window_scale   f32 [out_channels]   (AdaBin's terms)
//   residual             f32, the output's shape, added after the bias (residual_upsample
//                        s > 1, NHWC: [N, Ho / s, Wo / s, out_channels], added nearest-
//                        upsampled by s)
//   prelu                f32 [out_channels], PReLU slope (for y < 0), after the residual
//   pre_shift, post_shift, pos_slope   f32 [out_channels]: RPReLU's shifts and the slope for
//                        y >= 0 (Maxout), as in mmb_bconv_params
// Output: f32 [N, out_channels, Ho, Wo] ([N, Ho, Wo, out_channels] with layout "NHWC").
//
// Chained bits (layout "NHWC", groups 1; mmb_bconv_params x_bits / y_bits): with bits_output
// = 1 a second output, u8 [N, Ho, Wo, 8 words(out_channels)], the output's packed bits
// y >= bits_threshold, written in the epilogue; with bits_input = 1, input 0 is such bits,
// u8 [N, H, W, 8 words(in_channels)] (another node's second output) instead of the floats.
// words(c) = ceil(c / 64); the bytes are the little-endian words.
//
// A transposed conv is given as its direct conv (packed format v1): input_dilations = its
// stride, pads = dilation (k - 1) - padding (+ output_padding at the end).
//
// ISA path: MMBINARY_BCONV_ISA, else the best the CPU has; with auto on an AMX CPU each node
// times the avx512 and amx paths on its first calls and keeps the faster (Timing below).

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <openvino/core/extension.hpp>
#include <openvino/core/op_extension.hpp>
#include <openvino/op/op.hpp>

#if defined(MMB_HAVE_TBB)
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#endif

extern "C" {
#include "mmb_bconv.h"
}

namespace mmbinary {

namespace {

struct IsaChoice {
  int isa = -1;
  std::string error;
  // auto on an AMX CPU: each node times this path against isa on its first calls and keeps the
  // faster (the same results bit for bit); -1: no such choice
  int timed = -1;
  std::string name;  // "avx512", or "avx512+amx" with the timed choice
};

bool env_auto() {
  const char *v = std::getenv("MMBINARY_BCONV_ISA");
  return !v || !*v || std::strcmp(v, "auto") == 0;
}

// The ISA is chosen once per process (MMBINARY_BCONV_ISA forces a path; MMBINARY_BCONV_TIMED=0
// turns the per-node timed choice off).
const IsaChoice &selected_isa() {
  static IsaChoice choice;
  static std::once_flag once;
  std::call_once(once, [] {
    char err[512] = {0};
    choice.isa = mmb_select_isa(nullptr, err, sizeof(err));
    if (choice.isa < 0) {
      choice.error = err[0] ? err : "mmb_select_isa failed";
      return;
    }
    const char *timed = std::getenv("MMBINARY_BCONV_TIMED");
    if (env_auto() && choice.isa == MMB_ISA_AVX512 && mmb_cpu_supports(MMB_ISA_AMX) &&
        !(timed && std::strcmp(timed, "0") == 0))
      choice.timed = MMB_ISA_AMX;
    choice.name = mmb_isa_name(choice.isa);
    if (choice.timed >= 0) choice.name += std::string("+") + mmb_isa_name(choice.timed);
  });
  return choice;
}

std::atomic<int> g_settled[2] = {{0}, {0}};  // mmbinary_ov_ext_timed_counts

// The timed choice of one node: calls 0 and 1 warm each path up (their weights are prepacked
// then), the next 2 kTimedCalls alternate and keep each path's fastest call, then the faster
// path runs from there on. Started again if the kernel's thread count changes.
const int kTimedCalls = 4;
struct Timing {
  std::mutex mutex;
  int threads = -1, calls = 0, choice = -1;  // choice: 0 the base path, 1 the timed one
  double best[2] = {1e30, 1e30};

  void restart(int t) {  // (the mutex held)
    threads = t;
    calls = 0;
    choice = -1;
    best[0] = best[1] = 1e30;
  }
};

int env_threads() {
  const char *v = std::getenv("MMBINARY_BCONV_THREADS");
  const int t = v && *v ? std::atoi(v) : 0;
  return t > 0 ? t : 0;
}

// A cap on the kernel's threads, for every MMBinaryConv of the process: MMBINARY_BCONV_THREADS
// or what mmbinary_ov_ext_set_threads() set (DeployedModel passes its threads); 0: no cap.
std::atomic<int> g_threads{env_threads()};

#if defined(MMB_HAVE_TBB)
// The kernel's jobs as tasks of the arena the inference runs in (INFERENCE_NUM_THREADS threads).
void run_in_arena(void *, int n, void (*job)(void *, int), void *job_ctx) {
  tbb::parallel_for(0, n, 1, [&](int t) { job(job_ctx, t); }, tbb::static_partitioner());
}

int kernel_threads() {
  const int arena = tbb::this_task_arena::max_concurrency(), cap = g_threads.load();
  return cap > 0 && cap < arena ? cap : arena;
}
#else
int kernel_threads() {
  const int cap = g_threads.load();
  return cap > 0 ? cap : 1;
}
#endif

// The weights in an ISA's own layout (mmb_bconv_prepack), made on the first evaluate of a
// node on that ISA and reused while its constant weight stays at the same address.
struct Prepacked {
  std::mutex mutex;
  const void *source = nullptr;  // the weight constant's bytes
  int isa = -1, n = 0, in_h = 0, in_w = 0;
  // shared: a concurrent evaluate keeps its copy alive if another one rebuilds them
  std::shared_ptr<std::vector<uint64_t>> words;    // the prepacked weights, or null
  std::shared_ptr<std::vector<uint64_t>> aligned;  // aligned copy of a misaligned weight, or null

  void release() {  // made again if the path runs again
    std::lock_guard<std::mutex> lock(mutex);
    source = nullptr;
    isa = -1;
    words.reset();
    aligned.reset();
  }
};

// What a node keeps between calls: its weights per path (the base one, the timed one) and
// the timed choice.
struct NodeState {
  Prepacked prepacked[2];
  Timing timing;
};

}  // namespace

class MMBinaryConv : public ov::op::Op {
 public:
  OPENVINO_OP("MMBinaryConv", "mmbinary");

  MMBinaryConv() = default;

  static int64_t words_of(int64_t channels) { return (channels + 63) / 64; }

  void validate_and_infer_types() override {
    auto fail = [this](const std::string &what) {
      NODE_VALIDATION_CHECK(this, false, "MMBinaryConv: ", what);
    };
    if (m_strides.size() != 2 || m_dilations.size() != 2 || m_pads_begin.size() != 2 ||
        m_pads_end.size() != 2 || m_input_dilations.size() != 2 || m_kernel.size() != 2)
      fail("kernel, strides, dilations, pads_begin, pads_end, input_dilations must have 2 values");
    if (m_groups < 1 || m_in_channels % m_groups || m_out_channels % m_groups)
      fail("groups=" + std::to_string(m_groups) + " must divide in_channels=" +
           std::to_string(m_in_channels) + " and out_channels=" + std::to_string(m_out_channels));
    for (int i = 0; i < 2; i++) {
      if (m_strides[i] < 1 || m_dilations[i] < 1 || m_input_dilations[i] < 1 || m_kernel[i] < 1 ||
          m_pads_begin[i] < 0 || m_pads_end[i] < 0)
        fail("strides, dilations, input_dilations, kernel must be >= 1 and pads >= 0");
    }
    if (m_layout != "NCHW" && m_layout != "NHWC")
      fail("layout must be NCHW or NHWC, got " + m_layout);
    const bool nhwc = m_layout == "NHWC";
    const int cdim = nhwc ? 3 : 1, hdim = nhwc ? 1 : 2;
    const size_t expected = 4 + m_has_window_scale + m_has_mask_scale + m_has_mask_window_scale +
                            m_has_residual + m_has_prelu + m_has_pre_shift + m_has_post_shift +
                            m_has_pos_slope;
    if (get_input_size() != expected)
      fail("expected " + std::to_string(expected) + " inputs for the has_* attributes, got " +
           std::to_string(get_input_size()));
    if ((m_bits_input || m_bits_output) && (!nhwc || m_groups != 1))
      fail("bits_input / bits_output need layout NHWC and groups 1, got layout " + m_layout +
           " and groups " + std::to_string(m_groups));
    const ov::element::Type x_type = m_bits_input ? ov::element::u8 : ov::element::f32;
    if (get_input_element_type(0) != x_type)
      fail(std::string(m_bits_input ? "x (bits_input=1) must be u8 packed bits" : "x must be f32") +
           ", got " + get_input_element_type(0).get_type_name());
    if (get_input_element_type(1) != ov::element::u8)
      fail("weight must be u8 (packed format v1 bytes), got " +
           get_input_element_type(1).get_type_name());
    const auto &xs = get_input_partial_shape(0);
    ov::PartialShape out = ov::PartialShape::dynamic(4);
    if (xs.rank().is_static()) {
      if (xs.rank().get_length() != 4) fail("x must be 4-D NCHW, got rank " +
                                            std::to_string(xs.rank().get_length()));
      const int64_t x_last = m_bits_input ? 8 * words_of(m_in_channels) : m_in_channels;
      if (xs[cdim].is_static() && xs[cdim].get_length() != x_last)
        fail(m_bits_input ? "x (packed bits) has " + std::to_string(xs[cdim].get_length()) +
                                " bytes per pixel, in_channels=" + std::to_string(m_in_channels) +
                                " need " + std::to_string(x_last)
                          : "x (" + m_layout + ") has " + std::to_string(xs[cdim].get_length()) +
                                " channels, in_channels=" + std::to_string(m_in_channels));
      out[0] = xs[0];
      out[cdim] = m_out_channels;
      for (int i = 0; i < 2; i++) {
        if (xs[hdim + i].is_static()) {
          const int64_t full = (xs[hdim + i].get_length() - 1) * m_input_dilations[i] + 1 +
                               m_pads_begin[i] + m_pads_end[i];
          const int64_t o = (full - m_dilations[i] * (m_kernel[i] - 1) - 1) / m_strides[i] + 1;
          if (o < 1) fail("the output would be empty for input " + xs.to_string());
          out[hdim + i] = o;
        }
      }
    }
    const auto &ws = get_input_partial_shape(1);
    const int64_t words = (m_in_channels / m_groups + 63) / 64;
    if (ws.is_static() &&
        ws.to_shape() != ov::Shape{(size_t)m_out_channels, (size_t)m_kernel[0],
                                   (size_t)m_kernel[1], (size_t)(8 * words)})
      fail("weight shape " + ws.to_string() + " is not [out_channels, kh, kw, 8 words] = [" +
           std::to_string(m_out_channels) + ", " + std::to_string(m_kernel[0]) + ", " +
           std::to_string(m_kernel[1]) + ", " + std::to_string(8 * words) + "]");
    if (m_residual_upsample > 1) {
      const int64_t up = m_residual_upsample;
      if ((up & (up - 1)) || !nhwc || !m_has_residual)
        fail("residual_upsample " + std::to_string(up) +
             " needs a power of two, layout NHWC and has_residual=1");
      const size_t r = 4 + m_has_window_scale + m_has_mask_scale + m_has_mask_window_scale;
      const auto &rs = get_input_partial_shape(r);
      if (rs.rank().is_static() && rs.rank().get_length() == 4 && out.is_static() &&
          rs.is_static() &&
          rs.to_shape() != ov::Shape{(size_t)out[0].get_length(),
                                     (size_t)(out[1].get_length() / up),
                                     (size_t)(out[2].get_length() / up), (size_t)m_out_channels})
        fail("residual " + rs.to_string() + " is not the output " + out.to_string() +
             " divided by residual_upsample " + std::to_string(up));
    }
    set_output_type(0, ov::element::f32, out);
    if (m_bits_output) {
      ov::PartialShape bits = out;
      bits[3] = 8 * words_of(m_out_channels);
      set_output_type(1, ov::element::u8, bits);
    }
  }

  std::shared_ptr<ov::Node> clone_with_new_inputs(const ov::OutputVector &args) const override {
    auto node = std::make_shared<MMBinaryConv>(*this);
    node->m_state = std::make_shared<NodeState>();  // its own: the weights may differ
    node->set_arguments(args);
    node->constructor_validate_and_infer_types();
    return node;
  }

  bool visit_attributes(ov::AttributeVisitor &v) override {
    v.on_attribute("in_channels", m_in_channels);
    v.on_attribute("out_channels", m_out_channels);
    v.on_attribute("kernel", m_kernel);
    v.on_attribute("strides", m_strides);
    v.on_attribute("dilations", m_dilations);
    v.on_attribute("pads_begin", m_pads_begin);
    v.on_attribute("pads_end", m_pads_end);
    v.on_attribute("input_dilations", m_input_dilations);
    v.on_attribute("groups", m_groups);
    v.on_attribute("threshold", m_threshold);
    v.on_attribute("has_window_scale", m_has_window_scale);
    v.on_attribute("has_mask_scale", m_has_mask_scale);
    v.on_attribute("has_mask_window_scale", m_has_mask_window_scale);
    v.on_attribute("has_residual", m_has_residual);
    v.on_attribute("has_prelu", m_has_prelu);
    v.on_attribute("has_pre_shift", m_has_pre_shift);
    v.on_attribute("has_post_shift", m_has_post_shift);
    v.on_attribute("has_pos_slope", m_has_pos_slope);
    v.on_attribute("layout", m_layout);
    v.on_attribute("bits_input", m_bits_input);
    v.on_attribute("bits_output", m_bits_output);
    v.on_attribute("bits_threshold", m_bits_threshold);
    v.on_attribute("residual_upsample", m_residual_upsample);
    return true;
  }

  bool has_evaluate() const override { return true; }

  bool evaluate(ov::TensorVector &outputs, const ov::TensorVector &inputs) const override {
    const IsaChoice &choice = selected_isa();
    if (choice.isa < 0) OPENVINO_THROW("MMBinaryConv: ", choice.error);
    const ov::Shape xs = inputs[0].get_shape();
    mmb_bconv_params p;
    std::memset(&p, 0, sizeof(p));  // fields not set below (sign_threshold): NULL, unused
    p.nhwc = m_layout == "NHWC";
    p.n = (int)xs[0];
    p.in_c = m_bits_input ? (int)m_in_channels : (int)xs[p.nhwc ? 3 : 1];
    p.in_h = (int)xs[p.nhwc ? 1 : 2];
    p.in_w = (int)xs[p.nhwc ? 2 : 3];
    p.out_c = (int)m_out_channels;
    p.kh = (int)m_kernel[0];
    p.kw = (int)m_kernel[1];
    p.stride_h = (int)m_strides[0];
    p.stride_w = (int)m_strides[1];
    p.dil_h = (int)m_dilations[0];
    p.dil_w = (int)m_dilations[1];
    p.pad_top = (int)m_pads_begin[0];
    p.pad_left = (int)m_pads_begin[1];
    p.pad_bottom = (int)m_pads_end[0];
    p.pad_right = (int)m_pads_end[1];
    p.in_dil_h = (int)m_input_dilations[0];
    p.in_dil_w = (int)m_input_dilations[1];
    p.groups = (int)m_groups;
    p.threshold = m_threshold;
    p.out_h = (int)((((int64_t)p.in_h - 1) * p.in_dil_h + 1 + p.pad_top + p.pad_bottom -
                     (int64_t)p.dil_h * (p.kh - 1) - 1) / p.stride_h + 1);
    p.out_w = (int)((((int64_t)p.in_w - 1) * p.in_dil_w + 1 + p.pad_left + p.pad_right -
                     (int64_t)p.dil_w * (p.kw - 1) - 1) / p.stride_w + 1);
    const uint8_t *bytes = inputs[1].data<const uint8_t>();
    const bool misaligned = reinterpret_cast<uintptr_t>(bytes) % alignof(uint64_t) != 0;
    p.weight = reinterpret_cast<const uint64_t *>(bytes);
    p.scale = inputs[2].data<const float>();
    p.bias = inputs[3].data<const float>();
    size_t k = 4;
    if (m_has_window_scale) p.window_scale = inputs[k++].data<const float>();
    if (m_has_mask_scale) p.mask_scale = inputs[k++].data<const float>();
    if (m_has_mask_window_scale) p.mask_window_scale = inputs[k++].data<const float>();
    if (m_has_residual) p.residual = inputs[k++].data<const float>();
    p.residual_upsample = (int)m_residual_upsample;
    if (m_has_prelu) p.prelu = inputs[k++].data<const float>();
    if (m_has_pre_shift) p.pre_shift = inputs[k++].data<const float>();
    if (m_has_post_shift) p.post_shift = inputs[k++].data<const float>();
    if (m_has_pos_slope) p.pos_slope = inputs[k++].data<const float>();
    p.threads = kernel_threads();
#if defined(MMB_HAVE_TBB)
    p.run = run_in_arena;
#endif
    outputs[0].set_shape(p.nhwc ? ov::Shape{xs[0], (size_t)p.out_h, (size_t)p.out_w, (size_t)p.out_c}
                                : ov::Shape{xs[0], (size_t)p.out_c, (size_t)p.out_h, (size_t)p.out_w});
    const float *x = nullptr;
    if (m_bits_input) {  // the kernel reads 64-bit words: the plugin's buffers are aligned
      p.x_bits = aligned_words(inputs[0].data<const uint8_t>(), "x (packed bits)");
    } else {
      x = inputs[0].data<const float>();
    }
    if (m_bits_output) {
      outputs[1].set_shape(ov::Shape{xs[0], (size_t)p.out_h, (size_t)p.out_w,
                                     (size_t)(8 * words_of(m_out_channels))});
      p.y_bits = const_cast<uint64_t *>(
          aligned_words(outputs[1].data<uint8_t>(), "the packed bits output"));
      p.y_bits_threshold = m_bits_threshold;
    }
    char err[512] = {0};
    // the path of this call: the base one, or during / after the timed choice either
    NodeState &st = *m_state;
    int slot = 0;
    bool timing = false;
    if (choice.timed >= 0) {
      Timing &tm = st.timing;
      std::lock_guard<std::mutex> lock(tm.mutex);
      if (tm.threads != p.threads) tm.restart(p.threads);
      if (tm.choice >= 0) {
        slot = tm.choice;
      } else {
        slot = tm.calls % 2;
        timing = tm.calls >= 2;
        ++tm.calls;
      }
    }
    const int isa = slot ? choice.timed : choice.isa;
    std::shared_ptr<std::vector<uint64_t>> words, aligned;
    {
      Prepacked &pp = st.prepacked[slot];
      std::lock_guard<std::mutex> lock(pp.mutex);
      const bool same = pp.source == bytes && pp.isa == isa && pp.n == p.n &&
                        pp.in_h == p.in_h && pp.in_w == p.in_w;
      if (!same) {
        // the kernel reads 64-bit words: an IR constant may sit at any byte offset, so a
        // misaligned one is copied once (per node and weight address), not per call
        pp.aligned.reset();
        if (misaligned) {
          pp.aligned = std::make_shared<std::vector<uint64_t>>(inputs[1].get_byte_size() /
                                                               sizeof(uint64_t));
          std::memcpy(pp.aligned->data(), bytes, pp.aligned->size() * sizeof(uint64_t));
          p.weight = pp.aligned->data();
        }
        const long long n_words = mmb_bconv_prepack_words(&p, isa, err, sizeof(err));
        pp.words.reset();
        if (n_words > 0) {
          auto packed = std::make_shared<std::vector<uint64_t>>((size_t)n_words);
          if (mmb_bconv_prepack(&p, isa, packed->data(), err, sizeof(err)) == 0)
            pp.words = packed;
        }
        err[0] = 0;  // without prepacked weights the kernel prepares them on each call
        pp.source = bytes;
        pp.isa = isa;
        pp.n = p.n;
        pp.in_h = p.in_h;
        pp.in_w = p.in_w;
      }
      words = pp.words;
      aligned = pp.aligned;
    }
    if (aligned) p.weight = aligned->data();
    if (words) p.prepacked = words->data();
    const auto t0 = std::chrono::steady_clock::now();
    if (mmb_bconv2d_f32(&p, isa, x, outputs[0].data<float>(), err, sizeof(err)) != 0)
      OPENVINO_THROW("MMBinaryConv (", mmb_isa_name(isa), "): ", err);
    if (timing) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      Timing &tm = st.timing;
      std::lock_guard<std::mutex> lock(tm.mutex);
      if (tm.choice < 0 && tm.threads == p.threads) {
        if (s < tm.best[slot]) tm.best[slot] = s;
        if (tm.calls >= 2 + 2 * kTimedCalls) {
          tm.choice = tm.best[1] < tm.best[0] ? 1 : 0;
          g_settled[tm.choice].fetch_add(1);
          st.prepacked[1 - tm.choice].release();  // the other path's weights: not needed now
        }
      }
    }
    return true;
  }

 private:
  static const uint64_t *aligned_words(const uint8_t *bytes, const char *what) {
    if (reinterpret_cast<uintptr_t>(bytes) % alignof(uint64_t) != 0)
      OPENVINO_THROW("MMBinaryConv: ", what, " is not 8-byte aligned");
    return reinterpret_cast<const uint64_t *>(bytes);
  }

  int64_t m_in_channels = 0, m_out_channels = 0, m_groups = 1;
  std::vector<int64_t> m_kernel{1, 1}, m_strides{1, 1}, m_dilations{1, 1};
  std::vector<int64_t> m_pads_begin{0, 0}, m_pads_end{0, 0}, m_input_dilations{1, 1};
  float m_threshold = 0.0f;
  int64_t m_has_window_scale = 0, m_has_mask_scale = 0, m_has_mask_window_scale = 0;
  int64_t m_has_residual = 0, m_has_prelu = 0;
  int64_t m_has_pre_shift = 0, m_has_post_shift = 0, m_has_pos_slope = 0;
  std::string m_layout = "NCHW";
  int64_t m_bits_input = 0, m_bits_output = 0, m_residual_upsample = 1;
  float m_bits_threshold = 0.0f;
  std::shared_ptr<NodeState> m_state = std::make_shared<NodeState>();
};

}  // namespace mmbinary

// The ISA the op runs ("avx512", "avx2", "portable"; "avx512+amx": each node times both on
// its first calls and keeps the faster), or the selection error: for the loader.
extern "C" __attribute__((visibility("default"))) const char *mmbinary_ov_ext_isa(int *ok) {
  const auto &choice = mmbinary::selected_isa();
  *ok = choice.isa >= 0;
  return choice.isa >= 0 ? choice.name.c_str() : choice.error.c_str();
}

// The timed choices made so far in this process (tests, benchmark): counts[0] nodes settled
// on the base path, counts[1] on the timed one (a node whose thread count changed chooses
// again and counts again).
extern "C" __attribute__((visibility("default"))) void mmbinary_ov_ext_timed_counts(int *counts) {
  counts[0] = mmbinary::g_settled[0].load();
  counts[1] = mmbinary::g_settled[1].load();
}

extern "C" __attribute__((visibility("default"))) void mmbinary_ov_ext_set_threads(int threads) {
  mmbinary::g_threads.store(threads > 0 ? threads : 0);
}

extern "C" __attribute__((visibility("default"))) int mmbinary_ov_ext_abi_version() {
  return MMB_BCONV_ABI_VERSION;
}

OPENVINO_CREATE_EXTENSIONS(std::vector<ov::Extension::Ptr>(
    {std::make_shared<ov::OpExtension<mmbinary::MMBinaryConv>>()}));
