// C++ test driver of the compute core, without Python: every kernel of every
// instruction set compiled in and runnable here (through the kernel table), and
// small chains of layers through mobilenet::Network, against naive
// double-precision references. It runs natively (every x86 ISA), under
// AddressSanitizer/UBSan, and for AArch64 under qemu (tests/cross/run_aarch64.sh).
//
// Tolerance: every reference value carries a magnitude, the sum of the absolute
// values of the terms that produced it (propagated through layers). A float
// result may differ from the double one by about sqrt(terms) * 6e-8 of that
// magnitude; we allow kRtol of it plus kRtol of |reference|, so a wrong tap,
// channel or border shows up as an error many thousand times the allowance.
//
// Usage: kernel_tests [isa ...]   (default: every ISA in supported_isas())
// Exits 1 on any mismatch and prints each failing case.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "aligned_buffer.h"
#include "bf16.h"
#include "fp16.h"
#include "blas.h"
#include "cpu_features.h"
#include "kernels.h"
#include "network.h"
#include "quantize_input.h"
#include "thread_pool.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

using namespace mobilenet;

namespace {

constexpr double kRtol = 1e-5;
constexpr double kAtol = 1e-6;
// Written into output buffers (and a guard region after them) before a kernel
// runs: any element left unwritten, or written out of bounds, shows up.
constexpr float kSentinel = -7777.0f;
constexpr int kGuard = 64;
const float kNaN = std::numeric_limits<float>::quiet_NaN();

const Activation kActivations[] = {Activation::None, Activation::ReLU, Activation::ReLU6};
const char* activation_name(Activation a) {
  return a == Activation::ReLU ? "relu" : a == Activation::ReLU6 ? "relu6" : "none";
}

std::string fmt_pad(const Padding& p) {
  return "pad(t" + std::to_string(p.top) + ",l" + std::to_string(p.left) + ",b" + std::to_string(p.bottom) + ",r" +
         std::to_string(p.right) + ")";
}

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
  int range(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen); }  // inclusive
  bool coin() { return range(0, 1) == 1; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[range(0, static_cast<int>(v.size()) - 1)];
  }
  std::vector<float> floats(size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(lo, hi);
    return v;
  }
};

// ------------------------------------------------------------- bookkeeping

struct Stats {
  int cases = 0;
  int failures = 0;
  double worst = 0.0;  // largest error / allowance seen in a passing comparison
};

Stats g_stats;
int g_int8_bounded_checks = 0;  // int8 GEMMs run on B split for vpmaddubsw (KernelTable::int8_gemm_bounded)
int g_int8_split_checks = 0;    // int8 GEMMs run on column offsets split (KernelTable::int8_gemm_split)

// A reference value and the magnitude of the terms it was computed from.
struct Ref {
  std::vector<double> val, mag;
  explicit Ref(size_t n = 0) : val(n, 0.0), mag(n, 0.0) {}
  size_t size() const { return val.size(); }
};

double clamp_ref(double x, Activation act) {
  const Clamp c = clamp_for(act);
  // NaN propagates (comparisons with NaN are false), as the kernels promise.
  double y = x < c.lo ? c.lo : x;
  return y > c.hi ? c.hi : y;
}

// Compares got[i] with ref for i in [0, n); `where(i)` names element i.
bool compare(const std::string& name, const float* got, const Ref& ref, double rtol,
             const std::function<std::string(size_t)>& where) {
  ++g_stats.cases;
  int bad = 0;
  double worst = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref.val[i], g = got[i];
    bool ok;
    double allowed = 0.0;
    if (std::isnan(r)) {
      ok = std::isnan(g);
    } else {
      allowed = rtol * (std::fabs(r) + ref.mag[i]) + kAtol;
      const double err = std::fabs(g - r);
      ok = err <= allowed;  // false for a NaN or a sentinel left in got
      if (ok) worst = std::max(worst, err / allowed);
    }
    if (!ok) {
      if (bad < 5)
        std::printf("MISMATCH %s at %s: got %.9g, expected %.9g (allowed error %.3g)\n", name.c_str(), where(i).c_str(),
                    g, r, allowed);
      ++bad;
    }
  }
  if (bad) {
    std::printf("FAILED %s: %d of %zu values wrong\n", name.c_str(), bad, ref.size());
    ++g_stats.failures;
    return false;
  }
  g_stats.worst = std::max(g_stats.worst, worst);
  return true;
}

bool guard_intact(const std::string& name, const std::vector<float>& buffer, size_t used) {
  for (size_t i = used; i < buffer.size(); ++i) {
    if (buffer[i] != kSentinel) {
      std::printf("FAILED %s: wrote past the end of its output (element %zu of guard)\n", name.c_str(), i - used);
      ++g_stats.failures;
      return false;
    }
  }
  return true;
}

void expect(bool cond, const std::string& what) {
  ++g_stats.cases;
  if (!cond) {
    std::printf("FAILED %s\n", what.c_str());
    ++g_stats.failures;
  }
}

// Splits [0, n) into 1..3 consecutive non-empty ranges at random points.
std::vector<std::pair<int, int>> random_split(Rng& rng, int n) {
  std::vector<int> cuts = {0, n};
  const int parts = std::min(n, rng.range(1, 3));
  while (static_cast<int>(cuts.size()) < parts + 1) {
    const int c = rng.range(1, n - 1);
    if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
  }
  std::sort(cuts.begin(), cuts.end());
  std::vector<std::pair<int, int>> out;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) out.push_back({cuts[i], cuts[i + 1]});
  return out;
}

// ------------------------------------------------------ naive references (NHWC)

struct Shape {
  int h, w, c;
  int64_t size() const { return int64_t{h} * w * c; }
};

int conv_out(int in, int pad_a, int pad_b, int stride) { return (in + pad_a + pad_b - 3) / stride + 1; }

// weight [3][3][cin][cout] (full) or [3][3][c] (depthwise).
Ref ref_conv3x3(const Ref& in, Shape s, int out_c, bool depthwise, const std::vector<float>& weight,
                const std::vector<float>& bias, int stride, Padding pad, Activation act, Shape* out_shape) {
  const int oh = conv_out(s.h, pad.top, pad.bottom, stride), ow = conv_out(s.w, pad.left, pad.right, stride);
  *out_shape = {oh, ow, out_c};
  Ref out(out_shape->size());
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox)
      for (int co = 0; co < out_c; ++co) {
        double v = bias.empty() ? 0.0 : bias[co], m = bias.empty() ? 0.0 : std::fabs(bias[co]);
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int iy = oy * stride - pad.top + ky, ix = ox * stride - pad.left + kx;
            if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
            const int64_t px = (int64_t{iy} * s.w + ix) * s.c;
            if (depthwise) {
              const double wt = weight[(ky * 3 + kx) * s.c + co];
              v += wt * in.val[px + co];
              m += std::fabs(wt) * in.mag[px + co];
            } else {
              for (int ci = 0; ci < s.c; ++ci) {
                const double wt = weight[((ky * 3 + kx) * s.c + ci) * out_c + co];
                v += wt * in.val[px + ci];
                m += std::fabs(wt) * in.mag[px + ci];
              }
            }
          }
        const int64_t o = (int64_t{oy} * ow + ox) * out_c + co;
        out.val[o] = clamp_ref(v, act);
        out.mag[o] = m;
      }
  return out;
}

// in [m x k] (row stride lda), weight [k x n].
Ref ref_matmul(const Ref& in, int m, int k, int64_t lda, int n, const std::vector<float>& weight,
               const std::vector<float>& bias, Activation act) {
  Ref out(size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double v = bias.empty() ? 0.0 : bias[j], mg = bias.empty() ? 0.0 : std::fabs(bias[j]);
      for (int kk = 0; kk < k; ++kk) {
        const double wt = weight[int64_t{kk} * n + j];
        v += in.val[i * lda + kk] * wt;
        mg += in.mag[i * lda + kk] * std::fabs(wt);
      }
      out.val[size_t(i) * n + j] = clamp_ref(v, act);
      out.mag[size_t(i) * n + j] = mg;
    }
  return out;
}

Ref ref_avgpool(const Ref& in, int pixels, int channels) {
  Ref out(channels);
  for (int c = 0; c < channels; ++c) {
    for (int p = 0; p < pixels; ++p) {
      out.val[c] += in.val[int64_t{p} * channels + c];
      out.mag[c] += in.mag[int64_t{p} * channels + c];
    }
    out.val[c] /= pixels;
    out.mag[c] /= pixels;
  }
  return out;
}

Ref ref_from(const std::vector<float>& x) {
  Ref r(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    r.val[i] = x[i];
    r.mag[i] = std::fabs(x[i]);
  }
  return r;
}

// ---------------------------------------------------------- kernel-level tests

std::vector<float> padded_copy(const std::vector<float>& v, int64_t n) {
  std::vector<float> out(n, 0.0f);
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

std::vector<float> with_sentinel_guard(int64_t used) { return std::vector<float>(used + kGuard, kSentinel); }

std::string pixel_where(size_t i, int w, int c) {
  const int ch = static_cast<int>(i % c), px = static_cast<int>(i / c);
  return "(y=" + std::to_string(px / w) + ", x=" + std::to_string(px % w) + ", c=" + std::to_string(ch) + ")";
}

struct DwCase {
  int h, w, c, stride;
  Padding pad;
  Activation act;
  bool nan_input;
};

void test_dwconv(const KernelTable& kt, Rng& rng, DwCase t) {
  if (t.h + t.pad.top + t.pad.bottom < 3) t.h = 3 - t.pad.top - t.pad.bottom;
  if (t.w + t.pad.left + t.pad.right < 3) t.w = 3 - t.pad.left - t.pad.right;
  const std::string name = std::string(kt.name) + " dwconv3x3 " + std::to_string(t.h) + "x" + std::to_string(t.w) +
                           "x" + std::to_string(t.c) + " s" + std::to_string(t.stride) + " " + fmt_pad(t.pad) + " " +
                           activation_name(t.act) + (t.nan_input ? " nan-input" : "");
  const Shape s{t.h, t.w, t.c};
  std::vector<float> input = rng.floats(s.size(), -2.0f, 2.0f);
  if (t.nan_input) input[rng.range(0, static_cast<int>(s.size()) - 1)] = kNaN;
  std::vector<float> weight = rng.floats(9 * size_t(t.c), -1.0f, 1.0f), bias = rng.floats(t.c, -1.0f, 1.0f);

  // The kernel's buffers, laid out as kernels.h says: NaN in the slack, which
  // may be read into unused lanes but must never reach an output.
  std::vector<float> in_buf(input);
  in_buf.resize(input.size() + kBufferSlack, kNaN);
  const int cp = static_cast<int>(round_up(t.c, kChannelPad));
  std::vector<float> packed(9 * size_t(cp), 0.0f);
  for (int k = 0; k < 9; ++k) std::copy_n(weight.data() + k * t.c, t.c, packed.data() + k * cp);
  const std::vector<float> bias_p = padded_copy(bias, cp);
  const std::vector<float> zero_row(size_t(t.w) * t.c + kBufferSlack, 0.0f);

  Shape os;
  const Ref ref = ref_conv3x3(ref_from(input), s, t.c, true, weight, bias, t.stride, t.pad, t.act, &os);
  std::vector<float> out = with_sentinel_guard(os.size());
  DwConvArgs a{};
  a.input = in_buf.data(), a.in_h = t.h, a.in_w = t.w, a.channels = t.c;
  a.output = out.data(), a.out_h = os.h, a.out_w = os.w, a.stride = t.stride, a.pad = t.pad;
  a.weights = packed.data(), a.bias = bias_p.data(), a.channels_padded = cp, a.zero_row = zero_row.data();
  a.clamp = clamp_for(t.act);
  // The variant (and so the kernel's name in a profile) is the same for a ring of input rows.
  DwConvArgs ring = a;
  ring.in_ring_rows = 3;
  expect(std::string(kt.dwconv3x3_variant(a)) == kt.dwconv3x3_variant(ring),
         name + ": the variant depends on the input ring");
  const auto bands = random_split(rng, os.h);
  // The first band alone must write only its own rows.
  kt.dwconv3x3(a, bands[0].first, bands[0].second);
  for (int64_t i = int64_t{bands[0].second} * os.w * os.c; i < os.size(); ++i)
    if (out[i] != kSentinel) {
      expect(false, name + ": rows [" + std::to_string(bands[0].first) + ", " + std::to_string(bands[0].second) +
                        ") wrote outside its band");
      return;
    }
  for (size_t b = 1; b < bands.size(); ++b) kt.dwconv3x3(a, bands[b].first, bands[b].second);
  if (compare(name, out.data(), ref, kRtol, [&](size_t i) { return pixel_where(i, os.w, os.c); }))
    guard_intact(name, out, os.size());
}

// Pixels further apart than their channels, as in the network's padded
// activations, and a slice of channels: input pixels in_gap floats further
// apart than the c channels (the gaps hold NaN, which may be loaded into unused
// lanes but must never reach an output), output channels [c0, c0 + c) of
// pixels c0 + c + out_extra floats apart (every other float must stay
// untouched), and the weights and bias from channel c0 (a multiple of
// kChannelPad, so whole vectors stay inside the packed arrays) of wider ones.
void test_dwconv_slice(const KernelTable& kt, Rng& rng, DwCase t, int in_gap, int c0, int out_extra) {
  if (t.h + t.pad.top + t.pad.bottom < 3) t.h = 3 - t.pad.top - t.pad.bottom;
  if (t.w + t.pad.left + t.pad.right < 3) t.w = 3 - t.pad.left - t.pad.right;
  const int in_stride = t.c + in_gap, width = c0 + t.c + out_extra;
  const std::string name = std::string(kt.name) + " dwconv3x3 slice " + std::to_string(t.h) + "x" +
                           std::to_string(t.w) + " channels [" + std::to_string(c0) + ", " + std::to_string(c0 + t.c) +
                           ") of " + std::to_string(width) + ", input pixels " + std::to_string(in_stride) +
                           " apart, s" + std::to_string(t.stride) + " " + fmt_pad(t.pad) + " " + activation_name(t.act);
  const Shape s{t.h, t.w, t.c};
  const std::vector<float> input = rng.floats(s.size(), -2.0f, 2.0f);
  std::vector<float> in_buf(int64_t{t.h} * t.w * in_stride + kBufferSlack, kNaN);
  for (int64_t p = 0; p < int64_t{t.h} * t.w; ++p)
    std::copy_n(input.data() + p * t.c, t.c, in_buf.data() + p * in_stride);
  const std::vector<float> weight = rng.floats(9 * size_t(width), -1.0f, 1.0f), bias = rng.floats(width, -1.0f, 1.0f);
  const int cp = static_cast<int>(round_up(width, kChannelPad));
  std::vector<float> packed(9 * size_t(cp), 0.0f), slice_weight(9 * size_t(t.c));
  for (int k = 0; k < 9; ++k) {
    std::copy_n(weight.data() + k * width, width, packed.data() + k * cp);
    std::copy_n(weight.data() + k * width + c0, t.c, slice_weight.data() + k * t.c);
  }
  const std::vector<float> bias_p = padded_copy(bias, cp);
  const std::vector<float> slice_bias(bias.begin() + c0, bias.begin() + c0 + t.c);
  const std::vector<float> zero_row(size_t(t.w) * in_stride + kBufferSlack, 0.0f);

  Shape os;
  const Ref ref = ref_conv3x3(ref_from(input), s, t.c, true, slice_weight, slice_bias, t.stride, t.pad, t.act, &os);
  const int64_t out_pixels = int64_t{os.h} * os.w;
  std::vector<float> out = with_sentinel_guard(out_pixels * width);
  DwConvArgs a{};
  a.input = in_buf.data(), a.in_h = t.h, a.in_w = t.w, a.channels = t.c;
  a.output = out.data() + c0, a.out_h = os.h, a.out_w = os.w, a.stride = t.stride, a.pad = t.pad;
  a.weights = packed.data() + c0, a.bias = bias_p.data() + c0, a.channels_padded = cp, a.zero_row = zero_row.data();
  a.clamp = clamp_for(t.act);
  a.in_pixel_stride = in_stride, a.out_pixel_stride = width;
  for (const auto& band : random_split(rng, os.h)) kt.dwconv3x3(a, band.first, band.second);
  std::vector<float> dense(os.size());
  bool others_intact = true;
  for (int64_t p = 0; p < out_pixels; ++p)
    for (int j = 0; j < width; ++j) {
      if (j >= c0 && j < c0 + t.c)
        dense[p * t.c + j - c0] = out[p * width + j];
      else
        others_intact &= out[p * width + j] == kSentinel;
    }
  if (compare(name, dense.data(), ref, kRtol, [&](size_t i) { return pixel_where(i, os.w, os.c); }))
    guard_intact(name, out, out_pixels * width);
  expect(others_intact, name + ": wrote outside its channels");
}

struct StemCase {
  int h, w, in_c, out_c, stride;
  Padding pad;
  Activation act;
  bool nchw;
};

void test_conv3x3(const KernelTable& kt, Rng& rng, StemCase t) {
  if (t.h + t.pad.top + t.pad.bottom < 3) t.h = 3 - t.pad.top - t.pad.bottom;
  if (t.w + t.pad.left + t.pad.right < 3) t.w = 3 - t.pad.left - t.pad.right;
  const std::string name = std::string(kt.name) + " conv3x3 " + std::to_string(t.h) + "x" + std::to_string(t.w) + "x" +
                           std::to_string(t.in_c) + "->" + std::to_string(t.out_c) + " s" + std::to_string(t.stride) +
                           " " + fmt_pad(t.pad) + " " + activation_name(t.act) + (t.nchw ? " NCHW" : " NHWC");
  const Shape s{t.h, t.w, t.in_c};
  const std::vector<float> input = rng.floats(s.size(), -2.0f, 2.0f);  // NHWC
  const std::vector<float> weight = rng.floats(9 * size_t(t.in_c) * t.out_c, -1.0f, 1.0f);
  const std::vector<float> bias = rng.floats(t.out_c, -1.0f, 1.0f);
  // The stem reads the caller's array in place: exactly its size, no slack.
  std::vector<float> in_buf(input.size());
  const int64_t hw = int64_t{t.h} * t.w;
  for (int64_t p = 0; p < hw; ++p)
    for (int c = 0; c < t.in_c; ++c) in_buf[t.nchw ? c * hw + p : p * t.in_c + c] = input[p * t.in_c + c];
  const int cp = static_cast<int>(round_up(t.out_c, kChannelPad));
  std::vector<float> packed(9 * size_t(t.in_c) * cp, 0.0f);
  for (int64_t r = 0; r < 9 * int64_t{t.in_c}; ++r)
    std::copy_n(weight.data() + r * t.out_c, t.out_c, packed.data() + r * cp);
  const std::vector<float> bias_p = padded_copy(bias, cp);

  Shape os;
  const Ref ref = ref_conv3x3(ref_from(input), s, t.out_c, false, weight, bias, t.stride, t.pad, t.act, &os);
  std::vector<float> out = with_sentinel_guard(os.size());
  Conv3x3Args a{};
  a.input = in_buf.data(), a.in_h = t.h, a.in_w = t.w, a.in_c = t.in_c;
  if (t.nchw)
    a.in_row_stride = t.w, a.in_col_stride = 1, a.in_channel_stride = hw;
  else
    a.in_row_stride = int64_t{t.w} * t.in_c, a.in_col_stride = t.in_c, a.in_channel_stride = 1;
  a.output = out.data(), a.out_h = os.h, a.out_w = os.w, a.out_c = t.out_c, a.stride = t.stride, a.pad = t.pad;
  a.weights = packed.data(), a.bias = bias_p.data(), a.out_c_padded = cp, a.clamp = clamp_for(t.act);
  // The variant (and so the kernel's name in a profile) is the same for either layout.
  Conv3x3Args other_layout = a;
  if (t.nchw)
    other_layout.in_row_stride = int64_t{t.w} * t.in_c, other_layout.in_col_stride = t.in_c,
    other_layout.in_channel_stride = 1;
  else
    other_layout.in_row_stride = t.w, other_layout.in_col_stride = 1, other_layout.in_channel_stride = hw;
  const std::string variant = kt.conv3x3_variant(a);
  expect(variant == kt.conv3x3_variant(other_layout), name + ": the variant depends on the input layout");
  expect(kt.conv3x3_uses_pair_weights(a) == (variant == "tap_pairs"), name + ": pair weights and variant disagree");
  for (const auto& band : random_split(rng, os.h)) kt.conv3x3(a, band.first, band.second);
  if (compare(name, out.data(), ref, kRtol, [&](size_t i) { return pixel_where(i, os.w, os.c); }))
    guard_intact(name, out, os.size());
}

void test_bias_activation(const KernelTable& kt, Rng& rng, int rows, int cols, int gap, Activation act, bool nan) {
  const std::string name = std::string(kt.name) + " bias_activation " + std::to_string(rows) + "x" +
                           std::to_string(cols) + " ldc=" + std::to_string(cols + gap) + " " + activation_name(act) +
                           (nan ? " nan-input" : "");
  const int64_t ldc = cols + gap;
  // Exactly as large as the matrix: c may be the caller's array.
  std::vector<float> c((rows - 1) * ldc + cols, kSentinel);
  Ref ref(size_t(rows) * cols);
  const std::vector<float> bias = rng.floats(cols, -3.0f, 3.0f);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) {
      const float x = nan && rng.range(0, 7) == 0 ? kNaN : rng.uniform(-8.0f, 8.0f);
      c[r * ldc + j] = x;
      ref.val[size_t(r) * cols + j] = clamp_ref(double(x) + bias[j], act);
      ref.mag[size_t(r) * cols + j] = std::fabs(x) + std::fabs(bias[j]);
    }
  kt.bias_activation(c.data(), rows, cols, ldc, bias.data(), clamp_for(act));
  std::vector<float> dense(size_t(rows) * cols);
  bool gap_intact = true;
  for (int r = 0; r < rows; ++r) {
    std::copy_n(c.data() + r * ldc, cols, dense.data() + size_t(r) * cols);
    if (r + 1 < rows)
      for (int j = cols; j < ldc; ++j) gap_intact &= c[r * ldc + j] == kSentinel;
  }
  compare(name, dense.data(), ref, kRtol,
          [&](size_t i) { return "(row " + std::to_string(i / cols) + ", col " + std::to_string(i % cols) + ")"; });
  expect(gap_intact, name + ": wrote between rows (in the ldc gap)");
}

void test_avgpool(const KernelTable& kt, Rng& rng, int pixels, int channels) {
  const std::string name =
      std::string(kt.name) + " global_avgpool " + std::to_string(pixels) + "px x " + std::to_string(channels) + "c";
  std::vector<float> input = rng.floats(size_t(pixels) * channels, -4.0f, 4.0f);
  const Ref ref = ref_avgpool(ref_from(input), pixels, channels);
  input.resize(input.size() + kBufferSlack, kNaN);
  std::vector<float> out = with_sentinel_guard(channels);
  kt.global_avgpool(input.data(), pixels, channels, out.data());
  if (compare(name, out.data(), ref, kRtol, [](size_t i) { return "c=" + std::to_string(i); }))
    guard_intact(name, out, channels);
}

struct GemmCase {
  int m, n, k, lda_gap, ldc_gap;
  Activation act;
  bool nan_input;
};

// k_block_bytes: GemmArgs::k_block_bytes (0: the kernel's own k blocks).
void test_gemm(const KernelTable& kt, Rng& rng, GemmCase t, int64_t k_block_bytes = 0) {
  const std::string name = std::string(kt.name) + " gemm m=" + std::to_string(t.m) + " n=" + std::to_string(t.n) +
                           " k=" + std::to_string(t.k) + " lda=k+" + std::to_string(t.lda_gap) + " ldc=n+" +
                           std::to_string(t.ldc_gap) + " " + activation_name(t.act) +
                           (t.nan_input ? " nan-input" : "") +
                           (k_block_bytes > 0 ? " k-blocks-of=" + std::to_string(k_block_bytes) : "");
  const int64_t lda = t.k + t.lda_gap, ldc = t.n + t.ldc_gap;
  // A is exactly as large as its rows need: the kernel reads it in place.
  std::vector<float> a = rng.floats((t.m - 1) * lda + t.k, -2.0f, 2.0f);
  if (t.nan_input) a[rng.range(0, t.m - 1) * lda + rng.range(0, t.k - 1)] = kNaN;
  const std::vector<float> b = rng.floats(size_t(t.k) * t.n, -1.0f, 1.0f), bias = rng.floats(t.n, -1.0f, 1.0f);
  const int nr = kt.gemm_panel_width;
  std::vector<float> packed(packed_gemm_size(t.k, t.n, nr));
  pack_gemm_weights(b.data(), t.k, t.n, nr, packed.data());
  const std::vector<float> bias_p = padded_copy(bias, round_up(t.n, std::max(kChannelPad, nr)));
  const Ref ref = ref_matmul(ref_from(a), t.m, t.k, lda, t.n, b, bias, t.act);

  std::vector<float> c = with_sentinel_guard((t.m - 1) * ldc + t.n);
  GemmArgs g{a.data(), lda, packed.data(), bias_p.data(), c.data(), ldc, t.m, t.n, t.k, clamp_for(t.act), t.m};
  g.k_block_bytes = k_block_bytes;
  const int panels = static_cast<int>(round_up(t.n, nr) / nr);
  const auto row_blocks = random_split(rng, t.m), panel_blocks = random_split(rng, panels);
  // The first block alone must write only its own rows and columns.
  kt.gemm(g, row_blocks[0].first, row_blocks[0].second, panel_blocks[0].first, panel_blocks[0].second);
  for (int r = 0; r < t.m; ++r)
    for (int j = 0; j < t.n; ++j) {
      const bool inside = r >= row_blocks[0].first && r < row_blocks[0].second && j >= panel_blocks[0].first * nr &&
                          j < panel_blocks[0].second * nr;
      if (!inside && c[r * ldc + j] != kSentinel) {
        expect(false, name + ": the first block wrote outside its rows/panels at (" + std::to_string(r) + ", " +
                          std::to_string(j) + ")");
        return;
      }
    }
  for (const auto& rb : row_blocks)
    for (const auto& pb : panel_blocks)
      if (&rb != &row_blocks[0] || &pb != &panel_blocks[0]) kt.gemm(g, rb.first, rb.second, pb.first, pb.second);
  std::vector<float> dense(size_t(t.m) * t.n);
  bool gap_intact = true;
  for (int r = 0; r < t.m; ++r) {
    std::copy_n(c.data() + r * ldc, t.n, dense.data() + size_t(r) * t.n);
    if (r + 1 < t.m)
      for (int j = t.n; j < ldc; ++j) gap_intact &= c[r * ldc + j] == kSentinel;
  }
  if (compare(name, dense.data(), ref, kRtol,
              [&](size_t i) { return "(row " + std::to_string(i / t.n) + ", col " + std::to_string(i % t.n) + ")"; }))
    guard_intact(name, c, (t.m - 1) * ldc + t.n);
  expect(gap_intact, name + ": wrote between rows (in the ldc gap)");
}

// bfloat16 rounding (bf16.h): nearest, ties to even, denormals to signed
// zero, NaN kept quiet, overflow to infinity; exact values kept.
void bf16_rounding_tests() {
  auto bits = [](float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return u;
  };
  auto from_bits = [](uint32_t u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
  };
  const struct {
    uint32_t in;
    uint16_t out;
  } cases[] = {
      {0x3f800000u, 0x3f80},  // 1.0 exact
      {0x3f808000u, 0x3f80},  // halfway, even below: stays
      {0x3f818000u, 0x3f82},  // halfway, odd below: up to even
      {0x3f808001u, 0x3f81},  // above halfway: up
      {0x3f807fffu, 0x3f80},  // below halfway: down
      {0xbf818000u, 0xbf82},  // negative, ties to even
      {0x7f7fffffu, 0x7f80},  // the largest float rounds to infinity
      {0x7f800000u, 0x7f80},  // infinity
      {0xff800000u, 0xff80},  // -infinity
      {0x00000001u, 0x0000},  // denormal: zero
      {0x807fffffu, 0x8000},  // negative denormal: -0
      {0x00800000u, 0x0080},  // smallest normal kept
      {0x7fa00000u, 0x7fe0},  // signalling NaN: quiet
      {0xffc00001u, 0xffc0},  // NaN stays NaN (not rounded into infinity)
  };
  for (const auto& c : cases) {
    const uint16_t got = bf16_from_float(from_bits(c.in));
    char buf[96];
    std::snprintf(buf, sizeof buf, "bf16_from_float(0x%08x) = 0x%04x, expected 0x%04x", c.in, got, c.out);
    expect(got == c.out, buf);
  }
  expect(bits(float_from_bf16(0x3fc0)) == 0x3fc00000u, "float_from_bf16(0x3fc0) is 1.5");
  expect(bf16_pair(1.0f, -2.0f) == 0xc0003f80u, "bf16_pair puts the first value in the low half");
}

// The bf16 GEMM against the float64 product of the same bf16-rounded A and B:
// the kernel's only other error is its float32 sums.
void test_gemm_bf16(const KernelTable& kt, Rng& rng, GemmCase t) {
  const std::string name = std::string(kt.name) + " gemm_bf16 m=" + std::to_string(t.m) + " n=" + std::to_string(t.n) +
                           " k=" + std::to_string(t.k) + " lda=k+" + std::to_string(t.lda_gap) + " ldc=n+" +
                           std::to_string(t.ldc_gap) + " " + activation_name(t.act) + (t.nan_input ? " nan-input" : "");
  const int64_t lda = t.k + t.lda_gap, ldc = t.n + t.ldc_gap;
  std::vector<float> a = rng.floats((t.m - 1) * lda + t.k, -2.0f, 2.0f);
  if (t.nan_input) a[rng.range(0, t.m - 1) * lda + rng.range(0, t.k - 1)] = kNaN;
  const std::vector<float> b = rng.floats(size_t(t.k) * t.n, -1.0f, 1.0f), bias = rng.floats(t.n, -1.0f, 1.0f);
  auto rounded = [](std::vector<float> x) {
    for (float& v : x) v = float_from_bf16(bf16_from_float(v));
    return x;
  };
  const int nr = kt.gemm_panel_width;
  std::vector<uint32_t> packed(packed_gemm_bf16_words(t.k, t.n, nr));
  pack_gemm_weights_bf16(b.data(), t.k, t.n, nr, packed.data());
  const std::vector<float> bias_p = padded_copy(bias, round_up(t.n, std::max(kChannelPad, nr)));
  const Ref ref = ref_matmul(ref_from(rounded(a)), t.m, t.k, lda, t.n, rounded(b), bias, t.act);

  std::vector<float> c = with_sentinel_guard((t.m - 1) * ldc + t.n);
  const GemmBf16Args g{a.data(), lda, packed.data(), bias_p.data(),    c.data(), ldc,
                       t.m,      t.n, t.k,           clamp_for(t.act), t.m};
  const int panels = static_cast<int>(round_up(t.n, nr) / nr);
  const auto row_blocks = random_split(rng, t.m), panel_blocks = random_split(rng, panels);
  kt.gemm_bf16(g, row_blocks[0].first, row_blocks[0].second, panel_blocks[0].first, panel_blocks[0].second);
  for (int r = 0; r < t.m; ++r)
    for (int j = 0; j < t.n; ++j) {
      const bool inside = r >= row_blocks[0].first && r < row_blocks[0].second && j >= panel_blocks[0].first * nr &&
                          j < panel_blocks[0].second * nr;
      if (!inside && c[r * ldc + j] != kSentinel) {
        expect(false, name + ": the first block wrote outside its rows/panels at (" + std::to_string(r) + ", " +
                          std::to_string(j) + ")");
        return;
      }
    }
  for (const auto& rb : row_blocks)
    for (const auto& pb : panel_blocks)
      if (&rb != &row_blocks[0] || &pb != &panel_blocks[0]) kt.gemm_bf16(g, rb.first, rb.second, pb.first, pb.second);
  std::vector<float> dense(size_t(t.m) * t.n);
  bool gap_intact = true;
  for (int r = 0; r < t.m; ++r) {
    std::copy_n(c.data() + r * ldc, t.n, dense.data() + size_t(r) * t.n);
    if (r + 1 < t.m)
      for (int j = t.n; j < ldc; ++j) gap_intact &= c[r * ldc + j] == kSentinel;
  }
  if (compare(name, dense.data(), ref, kRtol,
              [&](size_t i) { return "(row " + std::to_string(i / t.n) + ", col " + std::to_string(i % t.n) + ")"; }))
    guard_intact(name, c, (t.m - 1) * ldc + t.n);
  expect(gap_intact, name + ": wrote between rows (in the ldc gap)");

  // The same rounding and the same order of sums as the scalar reference: bit
  // for bit, wherever neither tiling splits k into partial sums (tiles of 4+
  // rows here; with NaN only NaN is required to match).
  // (Not on AArch64: bfdot rounds once per lane, not once per product.)
  // (Not with AMX either: tdpbf16ps sums each pair of products in its own way
  // and flushes denormals, so it meets only the float64 bound above.)
  const KernelTable& reference = kernel_table(Isa::Scalar);
  if (&kt == &reference || kt.isa == Isa::Neon || kt.bf16_amx || t.m < 24) return;
  const int rnr = reference.gemm_panel_width;
  std::vector<uint32_t> rpacked(packed_gemm_bf16_words(t.k, t.n, rnr));
  pack_gemm_weights_bf16(b.data(), t.k, t.n, rnr, rpacked.data());
  const std::vector<float> rbias = padded_copy(bias, round_up(t.n, std::max(kChannelPad, rnr)));
  std::vector<float> rc((t.m - 1) * ldc + t.n, kSentinel);
  const GemmBf16Args rg{a.data(), lda, rpacked.data(),   rbias.data(), rc.data(), ldc, t.m,
                        t.n,      t.k, clamp_for(t.act), t.m};
  reference.gemm_bf16(rg, 0, t.m, 0, static_cast<int>(round_up(t.n, rnr) / rnr));
  int differ = 0;
  for (int r = 0; r < t.m; ++r)
    for (int j = 0; j < t.n; ++j) {
      const float x = c[r * ldc + j], y = rc[r * ldc + j];
      if (!(std::isnan(x) && std::isnan(y)) && std::memcmp(&x, &y, sizeof x) != 0) ++differ;
    }
  expect(differ == 0, name + ": " + std::to_string(differ) + " values differ in their bits from the scalar reference");
}

// bf16: the stem as a GEMM (KernelTable::conv3x3_bf16, AMX tiles or vdpbf16ps) against the
// float64 convolution of the same bf16-rounded input and weights (the bias as
// it is), for any split of its rows, both input layouts, every padding, and
// bands written from an output row offset (the row pipeline's rings).
void test_conv3x3_bf16(const KernelTable& kt, Rng& rng, StemCase t) {
  if (t.h + t.pad.top + t.pad.bottom < 3) t.h = 3 - t.pad.top - t.pad.bottom;
  if (t.w + t.pad.left + t.pad.right < 3) t.w = 3 - t.pad.left - t.pad.right;
  const std::string name = std::string(kt.name) + " conv3x3_bf16 " + std::to_string(t.h) + "x" + std::to_string(t.w) +
                           "x" + std::to_string(t.in_c) + "->" + std::to_string(t.out_c) + " s" +
                           std::to_string(t.stride) + " " + fmt_pad(t.pad) + " " + activation_name(t.act) +
                           (t.nchw ? " NCHW" : " NHWC");
  const Shape s{t.h, t.w, t.in_c};
  std::vector<float> input = rng.floats(s.size(), -2.0f, 2.0f);  // NHWC
  std::vector<float> weight = rng.floats(9 * size_t(t.in_c) * t.out_c, -1.0f, 1.0f);
  const std::vector<float> bias = rng.floats(t.out_c, -1.0f, 1.0f);
  std::vector<uint32_t> packed(packed_gemm_bf16_words(9 * t.in_c, t.out_c, kt.gemm_panel_width));
  pack_gemm_weights_bf16(weight.data(), 9 * t.in_c, t.out_c, kt.gemm_panel_width, packed.data());
  // The caller's array in place: exactly its size, no slack.
  std::vector<float> in_buf(input.size());
  const int64_t hw = int64_t{t.h} * t.w;
  for (int64_t p = 0; p < hw; ++p)
    for (int c = 0; c < t.in_c; ++c) in_buf[t.nchw ? c * hw + p : p * t.in_c + c] = input[p * t.in_c + c];
  for (float& v : input) v = float_from_bf16(bf16_from_float(v));
  for (float& v : weight) v = float_from_bf16(bf16_from_float(v));
  const std::vector<float> bias_p = padded_copy(bias, static_cast<int>(round_up(t.out_c, kChannelPad)));
  Shape os;
  const Ref ref = ref_conv3x3(ref_from(input), s, t.out_c, false, weight, bias, t.stride, t.pad, t.act, &os);
  std::vector<float> out = with_sentinel_guard(os.size());
  Conv3x3Args a{};
  a.input = in_buf.data(), a.in_h = t.h, a.in_w = t.w, a.in_c = t.in_c;
  if (t.nchw)
    a.in_row_stride = t.w, a.in_col_stride = 1, a.in_channel_stride = hw;
  else
    a.in_row_stride = int64_t{t.w} * t.in_c, a.in_col_stride = t.in_c, a.in_channel_stride = 1;
  a.output = out.data(), a.out_h = os.h, a.out_w = os.w, a.out_c = t.out_c, a.stride = t.stride, a.pad = t.pad;
  a.bias = bias_p.data(), a.out_c_padded = static_cast<int>(bias_p.size()), a.clamp = clamp_for(t.act);
  a.weights_bf16 = packed.data();
  for (const auto& band : random_split(rng, os.h)) kt.conv3x3_bf16(a, band.first, band.second);
  if (compare(name, out.data(), ref, kRtol, [&](size_t i) { return pixel_where(i, os.w, os.c); }))
    guard_intact(name, out, os.size());
  // One band into a buffer of its own rows (output_row_offset), as the row pipeline writes its ring.
  const int y0 = rng.range(0, os.h - 1), y1 = rng.range(y0 + 1, os.h);
  const int64_t row = int64_t{os.w} * os.c;
  std::vector<float> band = with_sentinel_guard((y1 - y0) * row);
  Conv3x3Args b = a;
  b.output = band.data(), b.output_row_offset = y0;
  kt.conv3x3_bf16(b, y0, y1);
  Ref band_ref((y1 - y0) * row);
  std::copy(ref.val.begin() + y0 * row, ref.val.begin() + y1 * row, band_ref.val.begin());
  std::copy(ref.mag.begin() + y0 * row, ref.mag.begin() + y1 * row, band_ref.mag.begin());
  if (compare(name + " rows " + std::to_string(y0) + ".." + std::to_string(y1), band.data(), band_ref, kRtol,
              [&](size_t i) { return pixel_where(i, os.w, os.c); }))
    guard_intact(name + " band", band, (y1 - y0) * row);
}

// A depthwise layer's inputs and its float32 outputs (KernelTable::dwconv3x3),
// for the kernels that write the same outputs rounded to bf16.
struct DwBf16Case {
  std::vector<float> input, weights, bias, zero_row, f32;
  DwConvArgs args{};
  int m = 0;  // output pixels
};

DwBf16Case dw_bf16_case(const KernelTable& kt, Rng& rng, DwCase t) {
  DwBf16Case d;
  const Shape s{t.h, t.w, t.c};
  d.input = rng.floats(s.size(), -2.0f, 2.0f);
  if (t.nan_input) d.input[rng.range(0, static_cast<int>(s.size()) - 1)] = kNaN;
  d.input.resize(s.size() + kBufferSlack, 0.0f);
  const int cp = static_cast<int>(round_up(t.c, kChannelPad));
  d.weights = rng.floats(9 * size_t(cp), -1.0f, 1.0f), d.bias = rng.floats(cp, -1.0f, 1.0f);
  d.zero_row.assign(size_t(t.w) * t.c + kBufferSlack, 0.0f);
  DwConvArgs& a = d.args;
  a.input = d.input.data(), a.in_h = t.h, a.in_w = t.w, a.channels = t.c;
  a.out_h = (t.h + t.pad.top + t.pad.bottom - 3) / t.stride + 1;
  a.out_w = (t.w + t.pad.left + t.pad.right - 3) / t.stride + 1;
  a.stride = t.stride, a.pad = t.pad;
  a.weights = d.weights.data(), a.bias = d.bias.data(), a.channels_padded = cp, a.zero_row = d.zero_row.data();
  a.clamp = clamp_for(t.act);
  d.m = a.out_h * a.out_w;
  d.f32.assign(size_t(d.m) * t.c + kBufferSlack, 0.0f);
  a.output = d.f32.data();
  kt.dwconv3x3(a, 0, a.out_h);
  return d;
}

// Whether `got` is bf16_from_float(want), NaN matching any NaN.
bool same_bf16(uint16_t got, float want) {
  const uint16_t rounded = bf16_from_float(want);
  return got == rounded || (std::isnan(float_from_bf16(got)) && std::isnan(float_from_bf16(rounded)));
}

// gemm_bf16 over the float32 rows of `d` against the same GEMM with A given
// another way (`set_a`), in random splits of its rows and panels: the same bits.
template <class SetA>
void expect_same_gemm_bf16(const KernelTable& kt, Rng& rng, const DwBf16Case& d, int n, Activation act,
                           const std::string& name, SetA set_a) {
  const int k = d.args.channels, m = d.m, nr = kt.gemm_panel_width;
  std::vector<uint32_t> pb(packed_gemm_bf16_words(k, n, nr));
  pack_gemm_weights_bf16(rng.floats(size_t(k) * n, -1.0f, 1.0f).data(), k, n, nr, pb.data());
  const std::vector<float> gbias = padded_copy(rng.floats(n, -1.0f, 1.0f), round_up(n, std::max(kChannelPad, nr)));
  std::vector<float> c_rows(size_t(m) * n, kSentinel), c_other(size_t(m) * n, kSentinel);
  GemmBf16Args g{d.f32.data(), k, pb.data(), gbias.data(), c_rows.data(), n, m, n, k, clamp_for(act), m};
  const int panels = static_cast<int>(round_up(n, nr) / nr);
  kt.gemm_bf16(g, 0, m, 0, panels);
  g.c = c_other.data();
  set_a(g);
  for (const auto& rb : random_split(rng, m))
    for (const auto& pb2 : random_split(rng, panels)) kt.gemm_bf16(g, rb.first, rb.second, pb2.first, pb2.second);
  int differ = 0;
  for (size_t i = 0; i < c_rows.size(); ++i) {
    const float x = c_rows[i], y = c_other[i];
    if (!(std::isnan(x) && std::isnan(y)) && std::memcmp(&x, &y, sizeof x) != 0) ++differ;
  }
  expect(differ == 0, name + ": " + std::to_string(differ) + " GEMM outputs differ from those of float32 rows");
}

std::string dw_bf16_name(const KernelTable& kt, const char* kernel, DwCase t, int n) {
  return std::string(kt.name) + " " + kernel + " " + std::to_string(t.h) + "x" + std::to_string(t.w) + "x" +
         std::to_string(t.c) + " s" + std::to_string(t.stride) + " " + activation_name(t.act) +
         " -> gemm n=" + std::to_string(n);
}

// bf16 on AMX: the depthwise kernel that writes bf16 A tiles
// (KernelTable::dwconv3x3_bf16_tiles) gives, value for value, the float32
// kernel's outputs rounded by bf16_from_float, in the layout kernels.h
// describes, whatever the bands; and the AMX GEMM reading those tiles
// (GemmBf16Args::a_tiles) gives the same bits as reading the float32 rows,
// for any split of its rows and panels (rows in a group outside a call's range
// are computed, never stored).
void test_bf16_tiles(const KernelTable& kt, Rng& rng, DwCase t, int n) {
  const std::string name = dw_bf16_name(kt, "dwconv3x3_bf16_tiles", t, n);
  ++g_stats.cases;
  DwBf16Case d = dw_bf16_case(kt, rng, t);
  DwConvArgs a = d.args;
  const int m = d.m;
  // The tiles, in bands of rows each written from its own start (output_row_offset), as a fused band is.
  std::vector<float> tiles(bf16_tiles_elements(m, t.c) / 2 + kBufferSlack, 0.0f);
  const uint16_t* tb = reinterpret_cast<const uint16_t*>(tiles.data());
  int bad = 0;
  for (const auto& band : random_split(rng, a.out_h)) {
    std::fill(tiles.begin(), tiles.end(), kSentinel);
    DwConvArgs b = a;
    b.output = tiles.data(), b.output_row_offset = band.first;
    kt.dwconv3x3_bf16_tiles(b, band.first, band.second);
    for (int p = 0; p < (band.second - band.first) * a.out_w; ++p)
      for (int c = 0; c < t.c; ++c) {
        const uint16_t got = tb[(p / 16) * 16 * t.c + (c / 32) * 512 + (p % 16) * 32 + c % 32];
        if (!same_bf16(got, d.f32[(int64_t{band.first} * a.out_w + p) * t.c + c])) ++bad;
      }
  }
  expect(bad == 0, name + ": " + std::to_string(bad) + " tile values differ from the rounded float32 outputs");
  // The whole image as tiles, then the GEMM both ways.
  a.output = tiles.data(), a.output_row_offset = 0;
  kt.dwconv3x3_bf16_tiles(a, 0, a.out_h);
  expect_same_gemm_bf16(kt, rng, d, n, t.act, name, [&](GemmBf16Args& g) { g.a_tiles = tb; });
}

// bf16 on vdpbf16ps and the scalar reference: the depthwise kernel that writes
// rows of bf16 pairs (KernelTable::dwconv3x3_bf16_rows) gives, value for value,
// the float32 kernel's outputs rounded by bf16_from_float, pixels `stride`
// words apart (dense, or wider with the gap untouched), whatever the bands; and
// the GEMM reading those rows (GemmBf16Args::a_pairs) gives the same bits as
// reading the float32 rows, for any split of its rows and panels.
void test_bf16_rows(const KernelTable& kt, Rng& rng, DwCase t, int n, int stride) {
  const std::string name = dw_bf16_name(kt, "dwconv3x3_bf16_rows", t, n) + " stride " + std::to_string(stride);
  ++g_stats.cases;
  DwBf16Case d = dw_bf16_case(kt, rng, t);
  DwConvArgs a = d.args;
  const int m = d.m, used = t.c / 2;
  a.out_pixel_stride = stride;
  std::vector<float> rows(size_t(m) * stride + kBufferSlack, kSentinel);
  const uint16_t* rb16 = reinterpret_cast<const uint16_t*>(rows.data());
  int bad = 0, touched = 0;
  for (const auto& band : random_split(rng, a.out_h)) {
    std::fill(rows.begin(), rows.end(), kSentinel);
    DwConvArgs b = a;
    b.output = rows.data(), b.output_row_offset = band.first;
    kt.dwconv3x3_bf16_rows(b, band.first, band.second);
    const int pixels = (band.second - band.first) * a.out_w;
    for (int p = 0; p < pixels; ++p) {
      for (int c = 0; c < t.c; ++c)
        if (!same_bf16(rb16[int64_t{p} * 2 * stride + c], d.f32[(int64_t{band.first} * a.out_w + p) * t.c + c])) ++bad;
      for (int w = used; w < stride; ++w) touched += rows[size_t(p) * stride + w] != kSentinel;
    }
    for (size_t w = size_t(pixels) * stride; w < rows.size(); ++w) touched += rows[w] != kSentinel;
  }
  expect(bad == 0, name + ": " + std::to_string(bad) + " values differ from the rounded float32 outputs");
  expect(touched == 0, name + ": " + std::to_string(touched) + " words outside the rows written");
  a.output = rows.data(), a.output_row_offset = 0;
  kt.dwconv3x3_bf16_rows(a, 0, a.out_h);
  expect_same_gemm_bf16(kt, rng, d, n, t.act, name, [&](GemmBf16Args& g) {
    g.a_pairs = reinterpret_cast<const uint32_t*>(rows.data());
    g.a_pair_stride = stride;
  });
}

// The int8 networks' QUANTIZE (quantize_input): against std::round of the float32 quotient,
// clamped, for both storage types, both layouts and every length up to a few vectors, with
// halves, values just below them and values past the range; NaN or Inf anywhere refused.
void test_quantize_input(const KernelTable& kt, Rng& rng) {
  struct Type {
    float scale;
    int zero_point, qmin, qmax, offset;
  };
  const Type types[] = {{1 / 127.5f, 128, 0, 255, 0},
                        {0.5f, 0, 0, 255, 0},
                        {2 / 255.0f, -1, -128, 127, 128},
                        {0.3f, 127, -128, 127, 128}};
  // Whether `got` is TFLite's QUANTIZE of v as storage, clamp(round(v / scale) + zero point) +
  // offset (the division in float, as TFLite's); if not, says so (what: which cases).
  auto matches = [&](float v, uint8_t got, const Type& t, const char* what) {
    const double q = std::clamp(std::round(static_cast<double>(v / t.scale)) + t.zero_point,
                                static_cast<double>(t.qmin), static_cast<double>(t.qmax));
    const int want = static_cast<int>(q) + t.offset;
    if (got == want) return true;
    expect(false, std::string(kt.name) + " quantize_input" + what + ": " + std::to_string(v) + " gave " +
                      std::to_string(got) + ", not " + std::to_string(want));
    return false;
  };
  // Quotients within 0-3 ulps of n + 0.5 (n in [-20, 20]), where x * (1 / scale) and x / scale
  // can round to different integers: a multiply in place of TFLite's division fails here.
  for (const Type& t : types) {
    std::vector<float> x;
    for (int n = -20; n <= 20; ++n)
      for (int u = -3; u <= 3; ++u) {
        float v = (static_cast<float>(n) + 0.5f) * t.scale;
        for (int step = 0; step < (u < 0 ? -u : u); ++step) v = std::nextafter(v, u < 0 ? -1e30f : 1e30f);
        x.push_back(v);
      }
    std::vector<uint8_t> out(x.size());
    quantize_input(kt, x.data(), 1, static_cast<int>(x.size()), 1, false, t.scale, t.zero_point, t.qmin, t.qmax,
                   t.offset, out.data());
    for (size_t i = 0; i < x.size(); ++i)
      if (!matches(x[i], out[i], t, " near a half-integer")) break;
  }
  const float specials[] = {0.5f, -0.5f, 1.5f, -2.5f, 0.49999997f, -0.49999997f, 1e30f, -1e30f, 0.0f, -0.0f};
  for (const Type& t : types)
    for (int n = 1; n <= 5 * kt.vector_width + 3; n += 2)
      for (bool nchw : {false, true}) {
        const int channels = nchw ? 3 : 1 + n % 3, pixels = n;
        std::vector<float> x = rng.floats(static_cast<size_t>(2 * pixels * channels), -300 * t.scale, 300 * t.scale);
        for (size_t i = 0; i < x.size(); i += 3) x[i] = specials[i / 3 % 10] * t.scale;
        std::vector<uint8_t> out(x.size());
        const bool finite = quantize_input(kt, x.data(), 2, pixels, channels, nchw, t.scale, t.zero_point, t.qmin,
                                           t.qmax, t.offset, out.data());
        expect(finite, std::string(kt.name) + " quantize_input: finite values reported as not finite");
        for (int img = 0; img < 2; ++img)
          for (int p = 0; p < pixels; ++p)
            for (int c = 0; c < channels; ++c) {
              const int64_t at = (int64_t{img} * pixels + p) * channels + c;
              const float v = x[nchw ? (int64_t{img} * channels + c) * pixels + p : at];
              if (!matches(v, out[at], t, "")) return;
            }
        for (size_t pos = 0; pos < x.size(); pos += 5) {
          const float saved = x[pos];
          x[pos] = pos % 2 ? kNaN : -std::numeric_limits<float>::infinity();
          expect(!quantize_input(kt, x.data(), 2, pixels, channels, nchw, t.scale, t.zero_point, t.qmin, t.qmax,
                                 t.offset, out.data()),
                 std::string(kt.name) + " quantize_input: missed NaN or Inf at " + std::to_string(pos));
          x[pos] = saved;
        }
      }
}

// The input check: every length up to a few vectors past the unrolled body,
// one bad value (NaN, +Inf, -Inf) anywhere, or only finite extremes (the
// largest float, denormals, -0) which must pass.
void test_all_finite(const KernelTable& kt, Rng& rng) {
  const float inf = std::numeric_limits<float>::infinity();
  const float bad_values[] = {kNaN, inf, -inf};
  const float extremes[] = {std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::denorm_min(), -0.0f, 1e-38f};
  for (int n = 0; n <= 9 * kt.vector_width + 3; ++n) {
    std::vector<float> x = rng.floats(n, -1e6f, 1e6f);
    for (int i = 0; i < n; i += 3) x[i] = extremes[i % 5];
    expect(kt.all_finite(x.data(), n), std::string(kt.name) + " all_finite: " + std::to_string(n) +
                                           " finite values (with extremes) reported as not finite");
    for (int pos = 0; pos < n; ++pos) {
      const float saved = x[pos];
      x[pos] = bad_values[pos % 3];
      if (kt.all_finite(x.data(), n))
        expect(false, std::string(kt.name) + " all_finite: missed " + std::to_string(x[pos]) + " at " +
                          std::to_string(pos) + " of " + std::to_string(n));
      x[pos] = saved;
    }
  }
}

Padding random_padding(Rng& rng) { return {rng.range(0, 2), rng.range(0, 2), rng.range(0, 2), rng.range(0, 2)}; }

void kernel_tests(const KernelTable& kt, uint64_t seed) {
  Rng rng(seed);
  const std::vector<int> odd_channels = {1, 2, 3, 4, 5, 7, 8, 9, 13, 15, 16, 17, 24, 31, 32, 33, 47, 64, 65, 70};
  int n = 0;
  auto act = [&] { return kActivations[n++ % 3]; };

  // Depthwise: every channel count, every spatial size, every padding, random mixes.
  for (int c = 1; c <= 70; ++c)
    test_dwconv(kt, rng, {rng.range(1, 12), rng.range(1, 12), c, rng.range(1, 2), random_padding(rng), act(), false});
  for (int size = 1; size <= 33; ++size)
    for (int stride = 1; stride <= 2; ++stride) {
      test_dwconv(kt, rng, {size, rng.range(1, 33), rng.pick(odd_channels), stride, random_padding(rng), act(), false});
      test_dwconv(kt, rng, {rng.range(1, 33), size, rng.pick(odd_channels), stride, random_padding(rng), act(), false});
    }
  for (int pad = 0; pad < 81; ++pad)
    for (int stride = 1; stride <= 2; ++stride) {
      const Padding p{pad % 3, pad / 3 % 3, pad / 9 % 3, pad / 27 % 3};
      test_dwconv(kt, rng, {rng.range(1, 9), rng.range(1, 9), rng.pick(odd_channels), stride, p, act(), false});
    }
  for (int i = 0; i < 200; ++i)
    test_dwconv(kt, rng,
                {rng.range(1, 33), rng.range(1, 33), rng.range(1, 70), rng.range(1, 2), random_padding(rng), act(),
                 i % 4 == 0});
  // Rows wider than L1 (3 x w x c floats > 48 KB, 16+ output columns) take the
  // 4-row blocks, with 2- and 1-row blocks for the remainder: every height
  // 1..13 and padding.
  for (int i = 0; i < 60; ++i) {
    const int c = rng.pick(std::vector<int>{129, 160, 200, 256, 300, 512});
    const int w = rng.range(std::max(34, 4100 / c + 1), 4100 / c + 40);
    test_dwconv(kt, rng, {1 + i % 13, w, c, 1 + i % 2, random_padding(rng), act(), i % 5 == 0});
  }

  // Padded pixels and channel slices, both strides, every kernel path (rows in
  // L1, 4-row blocks, narrow maps).
  for (int i = 0; i < 80; ++i) {
    const int c = rng.range(1, 40), h = rng.range(1, 20), w = i % 8 == 0 ? rng.range(40, 200) : rng.range(1, 33);
    test_dwconv_slice(kt, rng, {h, w, c, rng.range(1, 2), random_padding(rng), act(), false}, rng.range(0, 20),
                      kChannelPad * rng.range(0, 4), rng.range(0, 20));
  }

  // Stem: output channels 1..70 (vector tails, 1-4 vectors per pixel), input
  // channels 1..8 and a few wide ones, both layouts, every padding.
  for (int oc = 1; oc <= 70; ++oc)
    test_conv3x3(kt, rng,
                 {rng.range(1, 12), rng.range(1, 12), rng.range(1, 8), oc, rng.range(1, 2), random_padding(rng), act(),
                  oc % 2 == 0});
  for (int size = 1; size <= 33; size += 2)
    test_conv3x3(kt, rng,
                 {size, 34 - size, 3, rng.pick(odd_channels), 1 + size % 2, random_padding(rng), act(), rng.coin()});
  for (int pad = 0; pad < 81; pad += 3)
    test_conv3x3(kt, rng,
                 {rng.range(1, 9),
                  rng.range(1, 9),
                  3,
                  rng.pick(odd_channels),
                  1 + pad % 2,
                  {pad % 3, pad / 3 % 3, pad / 9 % 3, pad / 27 % 3},
                  act(),
                  rng.coin()});
  for (int i = 0; i < 6; ++i)
    test_conv3x3(kt, rng,
                 {rng.range(1, 9), rng.range(1, 9), rng.range(9, 70), rng.pick(odd_channels), rng.range(1, 2),
                  random_padding(rng), act(), rng.coin()});

  // Epilogue and pooling.
  for (int cols = 1; cols <= 70; ++cols)
    test_bias_activation(kt, rng, rng.range(1, 9), cols, rng.pick(std::vector<int>{0, 0, 1, 5, 16}), act(),
                         cols % 10 == 0);
  for (int ch = 1; ch <= 70; ++ch) test_avgpool(kt, rng, rng.range(1, 12 * 12), ch);
  for (int size = 1; size <= 33; size += 4) test_avgpool(kt, rng, size * size, rng.pick(odd_channels));

  // Packed GEMM: every n and k up to 70, m across the tile height, strided A and C.
  for (int nn = 1; nn <= 70; ++nn)
    test_gemm(kt, rng, {rng.range(1, 40), nn, rng.range(1, 70), rng.range(0, 3), rng.range(0, 3), act(), false});
  for (int k = 1; k <= 70; ++k)
    test_gemm(kt, rng, {rng.range(1, 40), rng.pick(odd_channels), k, 0, 0, act(), k % 10 == 0});
  for (int m = 1; m <= 33; ++m)
    test_gemm(kt, rng, {m, rng.range(1, 70), rng.range(1, 70), 0, rng.range(0, 2), act(), false});
  for (int i = 0; i < 60; ++i)
    test_gemm(
        kt, rng,
        {rng.range(1, 100), rng.range(1, 100), rng.range(1, 100), rng.range(0, 3), rng.range(0, 3), act(), i % 6 == 0});
  test_gemm(kt, rng, {97, 130, 300, 1, 3, Activation::ReLU6, false});
  // k in blocks through C (kGemmKBlockBytes), and in one block as on AMD
  // (gemm_k_block_bytes): two-panel and one-panel tiles, a NaN in a later
  // block, the k of 1.0/224's last layers (half their rows and fewer columns:
  // the sanitizer build runs these too), its classifier on 1-3 rows.
  for (const int64_t k_block_bytes : {int64_t{0}, int64_t{512 * 1024}}) {
    test_gemm(kt, rng, {61, 96, 700, 2, 1, Activation::ReLU, true}, k_block_bytes);
    test_gemm(kt, rng, {200, 40, 1023, 1, 0, Activation::ReLU, false}, k_block_bytes);
    test_gemm(kt, rng, {98, 256, 512, 0, 0, Activation::ReLU6, false}, k_block_bytes);
    test_gemm(kt, rng, {25, 192, 1024, 0, 0, Activation::ReLU6, false}, k_block_bytes);
    for (int m : {1, 2, 3}) test_gemm(kt, rng, {m, 1000, 1024, 0, 0, Activation::None, false}, k_block_bytes);
  }
  test_all_finite(kt, rng);
  test_quantize_input(kt, rng);

  // The bf16 GEMM over the same shapes, where this instruction set has it here.
  if (kt.gemm_bf16 == nullptr) {
    std::printf("%-7s no bf16 GEMM on this CPU: not tested\n", kt.name);
    return;
  }
  for (int nn = 1; nn <= 70; ++nn)
    test_gemm_bf16(kt, rng, {rng.range(1, 40), nn, rng.range(1, 70), rng.range(0, 3), rng.range(0, 3), act(), false});
  for (int k = 1; k <= 70; ++k)
    test_gemm_bf16(kt, rng, {rng.range(1, 40), rng.pick(odd_channels), k, 0, 0, act(), k % 10 == 0});
  for (int m = 1; m <= 33; ++m)
    test_gemm_bf16(kt, rng, {m, rng.range(1, 70), rng.range(1, 70), 0, rng.range(0, 2), act(), false});
  for (int i = 0; i < 60; ++i)
    test_gemm_bf16(
        kt, rng,
        {rng.range(1, 100), rng.range(1, 100), rng.range(1, 100), rng.range(0, 3), rng.range(0, 3), act(), i % 6 == 0});
  test_gemm_bf16(kt, rng, {97, 130, 300, 1, 3, Activation::ReLU6, false});
  // Rows of A beyond one chunk of the kernel's stack buffer, and the widest k it takes.
  test_gemm_bf16(kt, rng, {200, 40, 1023, 1, 0, Activation::ReLU, false});
  test_gemm_bf16(kt, rng, {9, 33, kGemmBf16MaxK, 0, 1, Activation::None, false});
  // Whole columns over several row tiles, k so wide that every instruction set runs it in blocks.
  test_gemm_bf16(kt, rng, {40, 64, 4800, 0, 0, Activation::ReLU6, false});
  // The layers of the paper's network (1.0/224): rows of a 7x7, 14x14 and 28x28 image, k and n as there.
  test_gemm_bf16(kt, rng, {49, 1024, 1024, 0, 0, Activation::ReLU6, false});
  test_gemm_bf16(kt, rng, {196, 512, 512, 0, 0, Activation::ReLU6, false});
  test_gemm_bf16(kt, rng, {784, 256, 128, 0, 0, Activation::ReLU, false});
  test_gemm_bf16(kt, rng, {1, 1000, 1024, 0, 0, Activation::None, false});

  if (kt.conv3x3_bf16 != nullptr) {
    // The bf16 stem: 1-3 input channels (dense RGB takes the vector path inside the image), both
    // layouts, every padding and stride, 1-70 output channels (one panel and more, partial column tiles),
    // images of 1-40 columns (chunks and tiles ending mid-row); then 1.0/224's and 0.5/192's shapes.
    for (int oc = 1; oc <= 70; ++oc)
      test_conv3x3_bf16(kt, rng,
                        {rng.range(1, 14), rng.range(1, 40), oc % 4 == 0 ? rng.range(1, 3) : 3, oc, rng.range(1, 2),
                         random_padding(rng), act(), oc % 5 == 0});
    for (int pad = 0; pad < 81; pad += 2)
      test_conv3x3_bf16(kt, rng,
                        {rng.range(1, 9),
                         rng.range(1, 9),
                         3,
                         rng.pick(odd_channels),
                         1 + pad / 2 % 2,
                         {pad % 3, pad / 3 % 3, pad / 9 % 3, pad / 27 % 3},
                         act(),
                         false});
    test_conv3x3_bf16(kt, rng, {224, 224, 3, 32, 2, {0, 0, 1, 1}, Activation::ReLU6, false});
    test_conv3x3_bf16(kt, rng, {192, 192, 3, 16, 2, {0, 0, 1, 1}, Activation::ReLU6, true});
  }

  if (kt.dwconv3x3_bf16_rows != nullptr) {
    // Every variant (pixels packed in a vector below 16 channels where dense; rows; blocks where
    // three input rows overflow L1), both strides, every even channel count that leaves a partial
    // vector, dense and (from 16 channels on, where the variant does not depend on it) wider pixel
    // strides, NaN input; then the shapes of 1.0/224's, 0.75/160's and 0.25/224's layers.
    const Padding same{1, 1, 1, 1}, tf_s2{0, 0, 1, 1};
    for (int i = 0; i < 48; ++i) {
      const int stride = rng.range(1, 2), c = i < 16 ? rng.pick(std::vector<int>{2, 4, 8}) : 2 * rng.range(1, 100);
      test_bf16_rows(kt, rng,
                     {rng.range(3, 20), rng.range(3, 40), c, stride, stride == 1 ? same : tf_s2,
                      i % 2 ? Activation::ReLU6 : Activation::None, i % 8 == 7},
                     rng.range(1, 80), c / 2 + (i % 3 == 0 && c >= 16 ? rng.range(1, 20) : 0));
    }
    test_bf16_rows(kt, rng, {12, 112, 32, 1, same, Activation::ReLU6, false}, 64, 16);
    test_bf16_rows(kt, rng, {10, 112, 64, 2, tf_s2, Activation::ReLU6, false}, 128, 32);
    test_bf16_rows(kt, rng, {6, 56, 128, 1, same, Activation::ReLU6, false}, 128, 64);
    test_bf16_rows(kt, rng, {14, 14, 512, 1, same, Activation::ReLU6, false}, 96, 256);
    test_bf16_rows(kt, rng, {10, 10, 192, 1, same, Activation::ReLU6, false}, 72, 96);
    test_bf16_rows(kt, rng, {9, 112, 8, 1, same, Activation::ReLU6, false}, 16, 4);
  }

  if (kt.dwconv3x3_bf16_tiles == nullptr) return;
  // Both variants (rows; blocks where three input rows overflow L1), both strides, maps whose
  // pixels fill no whole group of 16, NaN input; the shapes of 1.0/224's fused pairs.
  const Padding same{1, 1, 1, 1}, tf_s2{0, 0, 1, 1};
  for (int i = 0; i < 24; ++i) {
    const int stride = rng.range(1, 2);
    test_bf16_tiles(kt, rng,
                    {rng.range(3, 20), rng.range(3, 40), 32 * rng.range(1, 4), stride, stride == 1 ? same : tf_s2,
                     i % 2 ? Activation::ReLU6 : Activation::None, i % 8 == 7},
                    rng.range(1, 80));
  }
  test_bf16_tiles(kt, rng, {12, 112, 32, 1, same, Activation::ReLU6, false}, 64);
  test_bf16_tiles(kt, rng, {10, 112, 64, 2, tf_s2, Activation::ReLU6, false}, 128);
  test_bf16_tiles(kt, rng, {6, 56, 128, 1, same, Activation::ReLU6, false}, 128);
  test_bf16_tiles(kt, rng, {14, 14, 512, 1, same, Activation::ReLU6, false}, 96);
}

// ---------------------------------------------------------- Network chains

LayerSpec make_layer(Rng& rng, LayerKind kind, Shape in, int out_c, int stride, Padding pad, Activation act,
                     bool with_bias) {
  LayerSpec s;
  s.kind = kind, s.in_h = in.h, s.in_w = in.w, s.in_c = in.c, s.out_c = out_c, s.stride = stride, s.pad = pad;
  s.activation = act;
  int64_t fan_in = 0, count = 0;
  switch (kind) {
    case LayerKind::Conv3x3: fan_in = 9 * int64_t{in.c}, count = fan_in * out_c; break;
    case LayerKind::DwConv3x3: fan_in = 9, count = 9 * int64_t{in.c}; break;
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected: fan_in = in.c, count = int64_t{in.c} * out_c; break;
    case LayerKind::GlobalAvgPool: break;
  }
  // Scaled so activations stay of order one through a chain (and some pass 6).
  const float scale = fan_in ? 3.0f / std::sqrt(static_cast<float>(fan_in)) : 0.0f;
  s.weight = rng.floats(count, -scale, scale);
  if (with_bias && kind != LayerKind::GlobalAvgPool) s.bias = rng.floats(out_c, -1.0f, 1.0f);
  return s;
}

Shape out_shape_of(const LayerSpec& s) {
  switch (s.kind) {
    case LayerKind::Conv3x3:
    case LayerKind::DwConv3x3:
      return {conv_out(s.in_h, s.pad.top, s.pad.bottom, s.stride), conv_out(s.in_w, s.pad.left, s.pad.right, s.stride),
              s.out_c};
    case LayerKind::GlobalAvgPool: return {1, 1, s.out_c};
    default: return {s.in_h, s.in_w, s.out_c};
  }
}

// One image through the chain in double precision.
Ref ref_chain(const std::vector<LayerSpec>& layers, const Ref& image) {
  Ref x = image;
  Shape s{layers.front().in_h, layers.front().in_w, layers.front().in_c};
  for (const LayerSpec& l : layers) {
    Shape os{0, 0, 0};
    switch (l.kind) {
      case LayerKind::Conv3x3:
      case LayerKind::DwConv3x3:
        x = ref_conv3x3(x, s, l.out_c, l.kind == LayerKind::DwConv3x3, l.weight, l.bias, l.stride, l.pad, l.activation,
                        &os);
        break;
      case LayerKind::Conv1x1:
      case LayerKind::FullyConnected:
        x = ref_matmul(x, s.h * s.w, s.c, s.c, l.out_c, l.weight, l.bias, l.activation);
        os = {s.h, s.w, l.out_c};
        break;
      case LayerKind::GlobalAvgPool:
        x = ref_avgpool(x, s.h * s.w, s.c);
        os = {1, 1, s.c};
        break;
    }
    s = os;
  }
  return x;
}

// Softmax of each image's values; the error allowance of each probability
// follows from the logits' (a logit error d moves p by at most ~2 d p).
Ref ref_softmax(const Ref& logits, double rtol) {
  Ref out(logits.size());
  const double top = *std::max_element(logits.val.begin(), logits.val.end());
  double sum = 0.0, worst_logit_error = 0.0;
  for (size_t j = 0; j < logits.size(); ++j) {
    sum += out.val[j] = std::exp(logits.val[j] - top);
    worst_logit_error = std::max(worst_logit_error, rtol * (std::fabs(logits.val[j]) + logits.mag[j]) + kAtol);
  }
  for (size_t j = 0; j < logits.size(); ++j) {
    out.val[j] /= sum;
    // compare() allows rtol * (|val| + mag): choose mag to give 2 d p.
    out.mag[j] = 2.0 * worst_logit_error / rtol * out.val[j];
  }
  return out;
}

struct ChainCase {
  std::string what;
  std::vector<LayerSpec> layers;
  int batch;
  InputLayout layout;
  bool softmax;
};

void test_chain(Isa isa, PointwiseBackend backend, Rng& rng, const ChainCase& t) {
  const std::string base = std::string(isa_name(isa)) + (backend == PointwiseBackend::Blas ? " blas " : " gemm ") +
                           "network " + t.what + " batch " + std::to_string(t.batch) +
                           (t.layout == InputLayout::NCHW ? " NCHW" : " NHWC") + (t.softmax ? " softmax" : "");
  const LayerSpec& first = t.layers.front();
  const Shape in{first.in_h, first.in_w, first.in_c};
  // Each layer adds its own rounding: the allowance grows with depth.
  const double rtol = kRtol * static_cast<double>(t.layers.size());
  std::vector<float> images = rng.floats(t.batch * in.size(), -2.0f, 2.0f);  // NHWC
  std::vector<Ref> refs;
  for (int n = 0; n < t.batch; ++n) {
    Ref r = ref_chain(
        t.layers, ref_from(std::vector<float>(images.begin() + n * in.size(), images.begin() + (n + 1) * in.size())));
    refs.push_back(t.softmax ? ref_softmax(r, rtol) : r);
  }
  Ref ref(0);
  for (const Ref& r : refs) {
    ref.val.insert(ref.val.end(), r.val.begin(), r.val.end());
    ref.mag.insert(ref.mag.end(), r.mag.begin(), r.mag.end());
  }
  std::vector<float> input(images.size());
  const int64_t hw = int64_t{in.h} * in.w;
  for (int n = 0; n < t.batch; ++n)
    for (int64_t p = 0; p < hw; ++p)
      for (int c = 0; c < in.c; ++c)
        input[n * in.size() + (t.layout == InputLayout::NCHW ? c * hw + p : p * in.c + c)] =
            images[n * in.size() + p * in.c + c];

  Network net(t.layers, isa, 1, backend);
  if (t.what == "large-mobilenet")
    expect(net.pipelined_layers() == 7,
           base + ": the first 7 layers run as a pipeline, not " + std::to_string(net.pipelined_layers()));
  if (t.what == "wide-mobilenet") {
    int padded = 0;
    for (int i = 0; i < net.num_layers(); ++i) padded += net.out_pixel_stride(i) > t.layers[i].out_c;
    expect(net.out_pixel_stride(1) > 144 && net.out_pixel_stride(net.num_layers() - 1) == 10 && padded >= 6,
           base + ": " + std::to_string(padded) + " layers with padded pixels, expected 6 or more");
  }
  const Shape os = out_shape_of(t.layers.back());
  expect(net.output_size() == os.size(),
         base + ": output_size " + std::to_string(net.output_size()) + " != " + std::to_string(os.size()));
  // Past 8 threads too (the row pipeline has at most 8 slabs): every count
  // gives the bits of 1 thread, except through BLAS, whose kernel (and so its
  // summation order) depends on the size of the block each thread hands it.
  std::vector<float> one_thread;
  for (int threads : {1, 2, 3, 9, 16, 33}) {
    net.set_threads(threads);
    const std::string name = base + " threads " + std::to_string(threads);
    if (t.what == "wide-mobilenet") {  // its 1x1 layers after the pipeline run fused with the depthwise layers before
      int fused = 0;
      for (int i = net.pipelined_layers(); i < net.num_layers(); ++i)
        fused += net.kernel_name(i).find("fused") != std::string::npos;
      // Past 3 threads the bands get too few rows to fuse (each thread needs two GEMM tiles).
      if (threads <= 3)
        expect(threads == 1 ? fused == 0 : fused >= 2,
               name + ": " + std::to_string(fused) + " layers after the pipeline fused");
    }
    std::vector<float> out = with_sentinel_guard(t.batch * os.size());
    std::vector<int64_t> layer_ns(t.layers.size(), 0);
    net.forward(input.data(), t.batch, t.layout, out.data(), t.softmax, layer_ns.data());
    if (compare(name, out.data(), ref, rtol, [&](size_t i) {
          return "image " + std::to_string(i / os.size()) + " " + pixel_where(i % os.size(), os.w, os.c);
        }))
      guard_intact(name, out, t.batch * os.size());
    out.resize(t.batch * os.size());  // without the guard
    if (threads == 1)
      one_thread = out;
    else if (backend != PointwiseBackend::Blas)
      expect(out == one_thread, name + ": not bit-identical to 1 thread");
  }
  // A smaller batch after a larger one reuses the workspace.
  if (t.batch > 1) {
    std::vector<float> out = with_sentinel_guard(os.size());
    net.forward(input.data(), 1, t.layout, out.data(), t.softmax);
    Ref first_ref(0);
    first_ref.val.assign(ref.val.begin(), ref.val.begin() + os.size());
    first_ref.mag.assign(ref.mag.begin(), ref.mag.begin() + os.size());
    compare(base + " then batch 1", out.data(), first_ref, rtol, [&](size_t i) { return pixel_where(i, os.w, os.c); });
  }
}

std::vector<ChainCase> chain_cases(Rng& rng) {
  std::vector<ChainCase> cases;
  auto layout = [&] { return rng.coin() ? InputLayout::NCHW : InputLayout::NHWC; };
  for (int i = 0; i < 12; ++i) {  // a single depthwise layer
    const Shape s{rng.range(1, 33), rng.range(1, 33), rng.range(1, 70)};
    Padding p = random_padding(rng);
    if (s.h + p.top + p.bottom < 3) p.top = p.bottom = 1;
    if (s.w + p.left + p.right < 3) p.left = p.right = 1;
    cases.push_back({"dwconv3x3",
                     {make_layer(rng, LayerKind::DwConv3x3, s, s.c, 1 + i % 2, p, kActivations[i % 3], i % 4 != 3)},
                     rng.range(1, 2),
                     layout(),
                     false});
  }
  for (int i = 0; i < 4; ++i) {  // a single stem layer, read in place in either layout
    const Shape s{rng.range(3, 33), rng.range(3, 33), rng.range(1, 4)};
    cases.push_back({"conv3x3",
                     {make_layer(rng, LayerKind::Conv3x3, s, rng.range(1, 40), 1 + i % 2, random_padding(rng),
                                 kActivations[i % 3], true)},
                     rng.range(1, 2),
                     i % 2 ? InputLayout::NCHW : InputLayout::NHWC,
                     false});
  }
  for (int i = 0; i < 4; ++i) {  // a single pointwise layer
    const Shape s{rng.range(1, 20), rng.range(1, 20), rng.range(1, 70)};
    cases.push_back({"conv1x1",
                     {make_layer(rng, LayerKind::Conv1x1, s, rng.range(1, 70), 1, {}, kActivations[i % 3], i != 0)},
                     rng.range(1, 3),
                     layout(),
                     false});
  }
  for (int i = 0; i < 12; ++i) {  // a small MobileNet: stem, two dw/pw blocks, pool, classifier
    const Activation act = i % 2 ? Activation::ReLU6 : Activation::ReLU;
    const bool same = i % 3 != 0;  // TensorFlow 'SAME' pads stride 2 bottom/right only
    const Padding s2 = same ? Padding{0, 0, 1, 1} : Padding{1, 1, 1, 1}, s1{1, 1, 1, 1};
    std::vector<LayerSpec> l;
    Shape s{rng.range(8, 33), rng.range(8, 33), 3};
    auto add = [&](LayerKind kind, int out_c, int stride, Padding pad, Activation a) {
      l.push_back(make_layer(rng, kind, s, out_c, stride, pad, a, true));
      s = out_shape_of(l.back());
    };
    const int c1 = rng.range(4, 24), c2 = rng.range(8, 40), c3 = rng.range(16, 70);
    add(LayerKind::Conv3x3, c1, 2, s2, act);
    add(LayerKind::DwConv3x3, c1, 1, s1, act);
    add(LayerKind::Conv1x1, c2, 1, {}, act);
    add(LayerKind::DwConv3x3, c2, 2, s2, act);
    add(LayerKind::Conv1x1, c3, 1, {}, act);
    add(LayerKind::GlobalAvgPool, c3, 1, {}, Activation::None);
    add(LayerKind::FullyConnected, rng.range(2, 50), 1, {}, Activation::None);
    cases.push_back({"mini-mobilenet", l, rng.range(1, 3), layout(), i % 2 == 0});
  }
  for (int i = 0; i < 2; ++i) {  // activations over 256 KB: the leading layers run as a ring pipeline
    const Activation act = i ? Activation::ReLU6 : Activation::ReLU;
    const Padding s2 = i ? Padding{0, 0, 1, 1} : Padding{1, 1, 1, 1}, s1{1, 1, 1, 1};
    std::vector<LayerSpec> l;
    Shape s{129 + i * 6, 131 - i * 4, 3};
    auto add = [&](LayerKind kind, int out_c, int stride, Padding pad, Activation a) {
      l.push_back(make_layer(rng, kind, s, out_c, stride, pad, a, true));
      s = out_shape_of(l.back());
    };
    // Pipeline stages of every kind, each reading a ring of the previous one's rows:
    add(LayerKind::Conv3x3, 64, 2, s2, act);    // the stem: 65x66x64 or 68x64x64
    add(LayerKind::Conv1x1, 72, 1, {}, act);    // a pointwise layer alone
    add(LayerKind::DwConv3x3, 72, 1, s1, act);  // a fused depthwise/pointwise pair
    add(LayerKind::Conv1x1, 80, 1, {}, act);
    add(LayerKind::DwConv3x3, 80, 2, s2, act);  // a depthwise layer alone (not followed by a pointwise one)
    add(LayerKind::DwConv3x3, 80, 1, s1, act);  // after the pipeline
    add(LayerKind::Conv1x1, 96, 1, {}, act);
    add(LayerKind::GlobalAvgPool, 96, 1, {}, Activation::None);
    add(LayerKind::FullyConnected, 10, 1, {}, Activation::None);
    cases.push_back({"large-mobilenet", l, 1 + i, i ? InputLayout::NCHW : InputLayout::NHWC, i == 1});
  }
  for (int i = 0; i < 2; ++i) {  // 128+ channels next to depthwise layers: padded pixels, in and after the pipeline
    const Activation act = i ? Activation::ReLU6 : Activation::ReLU;
    const Padding s2 = i ? Padding{0, 0, 1, 1} : Padding{1, 1, 1, 1}, s1{1, 1, 1, 1};
    std::vector<LayerSpec> l;
    Shape s{97 - i * 2, 95, 3};
    auto add = [&](LayerKind kind, int out_c, int stride, Padding pad, Activation a) {
      l.push_back(make_layer(rng, kind, s, out_c, stride, pad, a, true));
      s = out_shape_of(l.back());
    };
    add(LayerKind::Conv3x3, 32, 2, s2, act);
    add(LayerKind::Conv1x1, 144, 1, {}, act);    // padded, into the pipeline's next ring
    add(LayerKind::DwConv3x3, 144, 1, s1, act);  // a fused pair reading the padded ring
    add(LayerKind::Conv1x1, 160, 1, {}, act);
    add(LayerKind::DwConv3x3, 160, 2, s2, act);  // padded in and out
    add(LayerKind::DwConv3x3, 160, 1, s1, act);
    add(LayerKind::Conv1x1, 192, 1, {}, act);  // after the pipeline
    add(LayerKind::DwConv3x3, 192, 2, s2, act);
    add(LayerKind::Conv1x1, 128, 1, {}, act);
    add(LayerKind::DwConv3x3, 128, 2, s2, act);
    add(LayerKind::Conv1x1, 136, 1, {}, act);  // at most 64 pixels: batched, padded
    add(LayerKind::DwConv3x3, 136, 1, s1, act);
    add(LayerKind::Conv1x1, 140, 1, {}, act);
    add(LayerKind::GlobalAvgPool, 140, 1, {}, Activation::None);
    add(LayerKind::FullyConnected, 10, 1, {}, Activation::None);
    cases.push_back({"wide-mobilenet", l, 2 + i, i ? InputLayout::NCHW : InputLayout::NHWC, i == 0});
  }
  {  // A fused pair whose 5 rows do not split evenly on 3 threads: three bands of pixels, the middle one
     // spanning 3 rows where a band of rows holds 2 (12 KB rows in 32 KB bands). The band buffer
     // must have room for that third row (it overflowed into the next thread's band before).
    std::vector<LayerSpec> l;
    Shape s{10, 10, 3};
    auto add = [&](LayerKind kind, int out_c, int stride, Padding pad) {
      l.push_back(make_layer(rng, kind, s, out_c, stride, pad, Activation::ReLU, true));
      s = out_shape_of(l.back());
    };
    add(LayerKind::Conv3x3, 600, 2, Padding{0, 0, 1, 1});  // 5x5x600
    add(LayerKind::DwConv3x3, 600, 1, Padding{1, 1, 1, 1});
    add(LayerKind::Conv1x1, 3, 1, {});
    add(LayerKind::GlobalAvgPool, 3, 1, {});
    add(LayerKind::FullyConnected, 4, 1, {});
    cases.push_back({"odd-rows-fused", l, 1, InputLayout::NHWC, false});
  }
  return cases;
}

// ---------------------------------------------------------- dispatch and checks

bool throws_invalid_argument(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument&) {
    return true;
  }
  return false;
}

void dispatch_tests() {
  const std::vector<Isa> isas = supported_isas();
  expect(!isas.empty() && isas.front() == Isa::Scalar, "supported_isas() starts with scalar");
  expect(best_isa() == isas.back(), "best_isa() is the last supported ISA");
#if defined(__aarch64__)
  expect(best_isa() == Isa::Neon, "an AArch64 build prefers neon");
  expect(!isa_supported(Isa::Avx2) && !isa_supported(Isa::Avx512), "an AArch64 build has no x86 ISA");
#elif defined(__x86_64__)
  expect(!isa_supported(Isa::Neon), "an x86-64 build has no neon");
#endif
  const char* saved = std::getenv("MOBILENET_ISA");
  const std::string saved_value = saved ? saved : "";
  for (Isa isa : isas) {
    setenv("MOBILENET_ISA", isa_name(isa), 1);
    expect(isa_from_environment() == isa, std::string("MOBILENET_ISA=") + isa_name(isa) + " selects it");
    expect(kernel_table(isa).isa == isa && std::string(kernel_table(isa).name) == isa_name(isa),
           std::string("kernel_table(") + isa_name(isa) + ") is that ISA's table");
  }
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (!isa_supported(isa)) {
      setenv("MOBILENET_ISA", isa_name(isa), 1);
      expect(throws_invalid_argument([] { isa_from_environment(); }),
             std::string("MOBILENET_ISA=") + isa_name(isa) + " is refused where unsupported");
    }
  setenv("MOBILENET_ISA", "sse9", 1);
  expect(throws_invalid_argument([] { isa_from_environment(); }), "an unknown MOBILENET_ISA is refused");
  if (saved)
    setenv("MOBILENET_ISA", saved_value.c_str(), 1);
  else
    unsetenv("MOBILENET_ISA");

  // The executor refuses a bad chain with std::invalid_argument.
  Rng rng(7);
  auto dw = [&](Padding p) {
    return make_layer(rng, LayerKind::DwConv3x3, {8, 8, 4}, 4, 1, p, Activation::None, false);
  };
  expect(throws_invalid_argument([&] { Network({dw({3, 0, 0, 0})}, Isa::Scalar, 1, PointwiseBackend::Gemm); }),
         "padding 3 is refused");
  expect(throws_invalid_argument([&] {
           LayerSpec l = dw({});
           l.in_h = 1;  // 1 + 0 padding < 3
           l.weight.pop_back();
           Network({l}, Isa::Scalar, 1, PointwiseBackend::Gemm);
         }),
         "a short weight or too-small input is refused");
  expect(throws_invalid_argument([&] {
           Network(
               {dw({1, 1, 1, 1}), make_layer(rng, LayerKind::Conv1x1, {8, 8, 5}, 4, 1, {}, Activation::None, false)},
               Isa::Scalar, 1, PointwiseBackend::Gemm);
         }),
         "a chain whose shapes do not match is refused");
}

// forward() flushes denormals (csrc/float_env.h: FTZ/DAZ on x86, FPCR.FZ on
// AArch64), on the calling thread and in the pool's workers, and leaves the
// caller's floating-point environment as it found it.
void float_environment_tests(Isa isa) {
  const float denormal = std::numeric_limits<float>::denorm_min() * 1000.0f;
  volatile float one = 1.0f;
  for (int threads : {1, 2}) {
    const std::string name = std::string(isa_name(isa)) + " threads " + std::to_string(threads);
    Rng rng(3);
    LayerSpec dw = make_layer(rng, LayerKind::DwConv3x3, {8, 8, 8}, 8, 1, {1, 1, 1, 1}, Activation::None, false);
    std::fill(dw.weight.begin(), dw.weight.end(), 1.0f);
    Network net({dw}, isa, threads, PointwiseBackend::Gemm);
    const std::vector<float> input(8 * 8 * 8, denormal);
    std::vector<float> out(8 * 8 * 8, kSentinel);
    expect(denormal * one != 0.0f, name + ": denormals are not flushed before forward()");
    net.forward(input.data(), 1, InputLayout::NHWC, out.data(), false);
    expect(std::all_of(out.begin(), out.end(), [](float v) { return v == 0.0f; }),
           name + ": forward() flushes denormal inputs to zero");
    expect(denormal * one != 0.0f, name + ": forward() restores the caller's floating-point environment");
  }
}

}  // namespace

// Buffers placed at an offset within a 4 KB page start exactly there, are
// zeroed and writable to their last float; plain ones are 64-byte aligned.
void aligned_buffer_tests() {
  for (size_t count : {size_t{1}, size_t{1000}, size_t{1} << 20}) {
    for (size_t offset : {size_t{0}, size_t{64}, size_t{1024}, size_t{4032}}) {
      AlignedBuffer b(count, offset);
      const auto address = reinterpret_cast<uintptr_t>(b.data());
      const std::string name = "AlignedBuffer(" + std::to_string(count) + ", " + std::to_string(offset) + ")";
      expect(offset ? address % 4096 == offset : address % 64 == 0, name + ": data at the wrong place in its page");
      bool zero = true;
      for (size_t i = 0; i < count; ++i) zero &= b.data()[i] == 0.0f;
      expect(zero && b.size() == count, name + ": not zero-initialized or wrong size");
      b.data()[count - 1] = 1.0f;  // ASan: the last float is inside the allocation
    }
  }
  expect(throws_invalid_argument([] { AlignedBuffer(10, 32); }), "AlignedBuffer accepted an offset of 32 bytes");
  expect(throws_invalid_argument([] { AlignedBuffer(10, 4096); }), "AlignedBuffer accepted an offset of 4096 bytes");
}

// Every task of a region runs once, on a valid thread, for task counts around
// the thread count and beyond one region's limit of 65535 tasks; a thread that
// stalls in its first task holds up no one's other tasks: they are taken over.
void thread_pool_tests() {
  for (int threads : {2, 3, 4}) {
    auto pool = ThreadPool::create(threads);
    for (int n : {1, 2, 3, 5, 8, 13, 64, 65535, 65536, 200001}) {
      std::vector<std::atomic<int>> runs(n);
      std::atomic<int> bad_thread{0};
      for (int round = 0; round < 3; ++round)
        pool->parallel_for(n, [&](int i, int thread) {
          runs[i].fetch_add(1, std::memory_order_relaxed);
          if (thread < 0 || thread >= threads) bad_thread = 1;
        });
      bool once_each = true;
      for (auto& r : runs) once_each &= r.load() == 3;
      expect(once_each && !bad_thread, "ThreadPool(" + std::to_string(threads) + "): " + std::to_string(n) +
                                           " tasks, 3 rounds: each task must run once per round on a valid thread");
    }
    // Thread 0 (the caller) sleeps in its first task; the other threads must
    // run every other task meanwhile, its own share included.
    const int n = 4 * threads;
    std::atomic<int> done_while_asleep{0}, finished{0};
    std::atomic<bool> slept{false};
    pool->parallel_for(n, [&](int i, int thread) {
      if (i == 0 && thread == 0) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (finished.load() < n - 1 && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        done_while_asleep = finished.load();
        slept = true;
      }
      finished.fetch_add(1);
    });
    // (If a worker happened to take task 0 first, nothing slept: nothing to check.)
    expect(!slept || done_while_asleep.load() == n - 1,
           "ThreadPool(" + std::to_string(threads) + "): the others took over a stalled thread's share (" +
               std::to_string(done_while_asleep.load()) + " of " + std::to_string(n - 1) + " tasks)");
  }
}

// A worker that cannot start (ulimit -u, address space): creating the pool
// throws std::runtime_error naming the count, after stopping and joining the
// workers already started (else std::terminate; under ASan, leaks would show);
// a network's constructor throws the same, and after a failed set_threads the
// network keeps its old pool and still runs.
void thread_start_failure_tests() {
  auto message = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("(nothing thrown)");
  };
  auto names = [](const std::string& what, int threads) {
    return what.find("threads=" + std::to_string(threads)) != std::string::npos;
  };
  Rng rng(5);
  const LayerSpec dw = make_layer(rng, LayerKind::DwConv3x3, {16, 16, 8}, 8, 1, {1, 1, 1, 1}, Activation::ReLU, true);
  Network net({dw}, Isa::Scalar, 2, PointwiseBackend::Gemm);
  const std::vector<float> input(16 * 16 * 8, 0.5f);
  std::vector<float> want(16 * 16 * 8), got(16 * 16 * 8);
  net.forward(input.data(), 1, InputLayout::NHWC, want.data(), false);
  for (int nth : {1, 2, 7}) {
    fail_worker_start_for_testing(nth);
    const std::string tag = "worker " + std::to_string(nth) + " fails to start: ";
    std::string what = message([] { ThreadPool::create(8); });
    expect(names(what, 8), tag + "ThreadPool::create(8) must throw a runtime_error naming threads=8, got: " + what);
    what = message([&] { Network({dw}, Isa::Scalar, 9, PointwiseBackend::Gemm); });
    expect(names(what, 9), tag + "Network(threads=9) must throw a runtime_error naming threads=9, got: " + what);
    what = message([&] { net.set_threads(10); });
    expect(names(what, 10), tag + "set_threads(10) must throw a runtime_error naming threads=10, got: " + what);
    expect(net.threads() == 2, tag + "a failed set_threads keeps the old pool");
    std::fill(got.begin(), got.end(), kSentinel);
    net.forward(input.data(), 1, InputLayout::NHWC, got.data(), false);
    expect(got == want, tag + "the network runs on its old pool after a failed set_threads");
  }
  fail_worker_start_for_testing(0);
  net.set_threads(3);
  expect(net.threads() == 3, "set_threads works again once workers can start");
}

// ------------------------------------------------------------------ int8 kernels
// Each ISA's int8 kernels against a plain reference written here (int64 sums,
// TFLite's requantization spelled out again): integer results are exact.

// TFLite's MultiplyByQuantizedMultiplier, written from its definition.
int32_t ref_requantize(int64_t acc, int32_t multiplier, int32_t shift) {
  const int64_t x = static_cast<int32_t>(static_cast<uint32_t>(static_cast<int32_t>(acc)) << (shift > 0 ? shift : 0));
  int64_t high;
  if (x == INT32_MIN && multiplier == INT32_MIN) {
    high = INT32_MAX;
  } else {
    const int64_t ab = x * multiplier;
    const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : 1 - (int64_t{1} << 30);
    high = (ab + nudge) / (int64_t{1} << 31);  // C++ division truncates toward zero
  }
  const int right = shift > 0 ? 0 : -shift;
  if (right == 0) return static_cast<int32_t>(high);
  const int64_t mask = (int64_t{1} << right) - 1, remainder = high & mask;
  const int64_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  return static_cast<int32_t>((high >> right) + (remainder > threshold ? 1 : 0));
}

struct Int8Channels {
  std::vector<int32_t> bias, multiplier, shift;
  int out_zp, act_min, act_max;
};

Int8Channels random_requant(Rng& rng, int channels, int padded, int64_t typical_acc) {
  Int8Channels q;
  q.bias.assign(padded, 0), q.multiplier.assign(padded, 0), q.shift.assign(padded, 0);
  for (int c = 0; c < channels; ++c) {
    q.bias[c] = rng.range(-20000, 20000);
    // Scale typical sums to about the 8-bit range: real multiplier ~ 64 / typical.
    const double real = rng.uniform(8.0f, 200.0f) / static_cast<double>(std::max<int64_t>(typical_acc, 1));
    int exponent;
    const double mantissa = std::frexp(real, &exponent);
    int64_t qm = std::llround(mantissa * double(int64_t{1} << 31));
    if (qm == int64_t{1} << 31) qm /= 2, ++exponent;
    q.multiplier[c] = static_cast<int32_t>(qm);
    q.shift[c] = std::max(-31, std::min(exponent, 30));
  }
  // Now and then, shifts far from the typical: large right shifts (where a kernel
  // may not fold the zero point into its rounding) and left shifts (that wrap).
  if (rng.range(0, 3) == 0)
    for (int c = 0; c < channels; ++c)
      if (rng.coin()) q.shift[c] = rng.coin() ? rng.range(-31, -20) : rng.range(1, 12);
  q.out_zp = rng.range(0, 255);
  q.act_min = rng.coin() ? q.out_zp : 0;
  q.act_max = rng.coin() ? std::min(255, q.out_zp + rng.range(10, 255)) : 255;
  return q;
}

uint8_t ref_store(int64_t acc, const Int8Channels& q, int c) {
  int64_t v = ref_requantize(acc + q.bias[c], q.multiplier[c], q.shift[c]) + q.out_zp;
  return static_cast<uint8_t>(std::max<int64_t>(q.act_min, std::min<int64_t>(q.act_max, v)));
}

Int8Requant requant_of(const Int8Channels& q) {
  return {q.bias.data(), q.multiplier.data(), q.shift.data(), q.out_zp, q.act_min, q.act_max};
}

bool compare_bytes(const std::string& name, const std::vector<uint8_t>& got, const std::vector<uint8_t>& want) {
  ++g_stats.cases;
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i]) {
      ++g_stats.failures;
      std::printf("FAIL %s: element %zu is %d, expected %d\n", name.c_str(), i, got[i], want[i]);
      return false;
    }
  for (size_t i = want.size(); i < got.size(); ++i)
    if (got[i] != 0xA5) {
      ++g_stats.failures;
      std::printf("FAIL %s: wrote past its output (byte %zu)\n", name.c_str(), i);
      return false;
    }
  return true;
}

std::vector<uint8_t> random_bytes(Rng& rng, size_t n) {
  std::vector<uint8_t> v(n + 64);  // readable slack, as the workspace has
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng.range(0, 255));
  return v;
}

// The stem (depthwise = false: in_c inputs to out_c outputs) or depthwise (in_c = out_c).
// weights (depthwise): 0, every channel's effective weights span 255 values
// from a random start (or are int8); 1, int8 but in a few channels, which span
// past it (vectors of the dot-product layout with and without remainders); 2,
// as 1 and a channel whose weights reach 255 (a weight zero point of 0).
void test_int8_conv(const KernelTable& kt, Rng& rng, bool depthwise, int h, int w, int in_c, int out_c, int stride,
                    Padding pad, int weight_mode = 0) {
  if (depthwise) out_c = in_c;
  const int oh = (h + pad.top + pad.bottom - 3) / stride + 1, ow = (w + pad.left + pad.right - 3) / stride + 1;
  if (oh < 1 || ow < 1) return;
  const std::string name = std::string(kt.name) + (depthwise ? " int8_dwconv3x3 " : " int8_conv3x3 ") +
                           std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(in_c) + "->" +
                           std::to_string(out_c) + " s" + std::to_string(stride) + " " + fmt_pad(pad);
  const int cp = static_cast<int>(round_up(out_c, kChannelPad));
  const int taps = depthwise ? 9 : 9 * in_c;
  // Effective weights w - w_zp span 255 values, like an 8-bit weight less its
  // zero point; or, as per-channel int8 weights, [-128, 127] (no offset in the
  // dot-product layout).
  const int w_lo = rng.range(0, 3) == 0 || weight_mode > 0 ? -128 : rng.range(-255, 0);
  std::vector<int> channel_lo(out_c, w_lo);
  if (weight_mode > 0)
    for (int c = 0; c < out_c; ++c)
      if (rng.range(0, 15) == 0) channel_lo[c] = rng.range(-255, 0);
  if (weight_mode == 2) channel_lo[rng.range(0, out_c - 1)] = 0;
  std::vector<int16_t> weights(size_t(taps) * cp, 0);
  for (int t = 0; t < taps; ++t)
    for (int c = 0; c < out_c; ++c)
      weights[size_t(t) * cp + c] = static_cast<int16_t>(rng.range(channel_lo[c], channel_lo[c] + 255));
  if (weight_mode == 2)
    for (int c = 0; c < out_c; ++c)
      if (channel_lo[c] == 0) weights[size_t(rng.range(0, taps - 1)) * cp + c] = 255;
  const std::vector<uint8_t> input = random_bytes(rng, size_t(h) * w * in_c);
  const int in_zp = rng.range(0, 255);
  const Int8Channels q = random_requant(rng, out_c, cp, int64_t{128} * 128 * (depthwise ? 3 : 3 * in_c / 2 + 1));
  std::vector<uint8_t> want(size_t(oh) * ow * out_c);
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox)
      for (int c = 0; c < out_c; ++c) {
        int64_t acc = 0;
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int iy = oy * stride + ky - pad.top, ix = ox * stride + kx - pad.left;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;  // padding holds the zero point
            if (depthwise) {
              acc += (int64_t{input[(size_t(iy) * w + ix) * in_c + c]} - in_zp) * weights[size_t(ky * 3 + kx) * cp + c];
            } else {
              for (int ci = 0; ci < in_c; ++ci)
                acc += (int64_t{input[(size_t(iy) * w + ix) * in_c + ci]} - in_zp) *
                       weights[size_t((ky * 3 + kx) * in_c + ci) * cp + c];
            }
          }
        want[(size_t(oy) * ow + ox) * out_c + c] = ref_store(acc, q, c);
      }
  std::vector<uint8_t> got(want.size() + 64, 0xA5);
  Int8ConvArgs a{};
  a.input = input.data(), a.in_h = h, a.in_w = w, a.in_c = in_c;
  a.output = got.data(), a.out_h = oh, a.out_w = ow, a.out_c = out_c;
  a.stride = stride, a.pad = pad, a.weights = weights.data(), a.channels_padded = cp, a.in_zero_point = in_zp;
  a.rq = requant_of(q);
  // In two bands of rows, as threads split it.
  const int split = rng.range(0, oh);
  (depthwise ? kt.int8_dwconv3x3 : kt.int8_conv3x3)(a, 0, split);
  (depthwise ? kt.int8_dwconv3x3 : kt.int8_conv3x3)(a, split, oh);
  compare_bytes(name, got, want);
  if (!depthwise) {
    if (in_c > kInt8StemPackedMaxInC || out_c > kInt8StemPackedMaxOutC) return;
    // The block packed at load (pack_int8_stem), its bias folding the zero point.
    std::vector<int32_t> w32(size_t(taps) * out_c);
    for (int t = 0; t < taps; ++t)
      for (int c = 0; c < out_c; ++c) w32[size_t(t) * out_c + c] = weights[size_t(t) * cp + c];
    std::vector<int8_t> stem(int8_stem_packed_bytes(in_c, out_c));
    pack_int8_stem(w32.data(), q.bias.data(), q.multiplier.data(), q.shift.data(), in_c, out_c, in_zp, stem.data());
    a.stem = stem.data();
    std::vector<uint8_t> got_stem(want.size() + 64, 0xA5);
    a.output = got_stem.data();
    const int split2 = rng.range(0, oh);
    kt.int8_conv3x3(a, 0, split2);
    kt.int8_conv3x3(a, split2, oh);
    compare_bytes(name + " packed", got_stem, want);
    return;
  }
  const int blocks = int8_dwconv_dot_blocks(in_c), tail_pixels = int8_dwconv_tail_pixels(in_c, stride);
  if (blocks == 0 && tail_pixels == 0) return;
  // The dot-product layout too (used where the ISA has the instructions), its bias folding the zero point,
  // and the channels past its blocks packed as the tail block.
  std::vector<int32_t> w32(size_t(9) * in_c);
  for (int t = 0; t < 9; ++t)
    for (int c = 0; c < in_c; ++c) w32[size_t(t) * in_c + c] = weights[size_t(t) * cp + c];
  std::vector<int8_t> dot((blocks + 1) * kInt8DwDotBlockBytes);
  const std::vector<uint8_t> zero_point_row(in_c, static_cast<uint8_t>(in_zp));
  if (blocks > 0) {
    pack_int8_dwconv_dot(w32.data(), q.bias.data(), q.multiplier.data(), q.shift.data(), in_c, in_zp, dot.data());
    a.dot = dot.data(), a.dot_blocks = blocks, a.zero_point_row = zero_point_row.data();
  }
  if (tail_pixels > 0) {
    const int c0 = 64 * blocks;
    pack_int8_dwconv_tail(w32.data() + c0, in_c, q.bias.data() + c0, q.multiplier.data() + c0, q.shift.data() + c0,
                          in_c - c0, tail_pixels, in_zp, dot.data() + blocks * kInt8DwDotBlockBytes);
    a.dot_tail = dot.data() + blocks * kInt8DwDotBlockBytes;
  }
  std::vector<uint8_t> got_dot(want.size() + 64, 0xA5);
  a.output = got_dot.data();
  kt.int8_dwconv3x3(a, 0, split);
  kt.int8_dwconv3x3(a, split, oh);
  compare_bytes(name + " dot", got_dot, want);
  if (kt.int8_dw_prepare_blocks == nullptr) return;
  // The blocks' constants prepared once, as packing does (the same bytes), in other bands.
  const int packed_blocks = blocks + (tail_pixels > 0 ? 1 : 0);
  AlignedBuffer prepared((kt.int8_dw_prepared_bytes(packed_blocks) + 3) / 4);
  kt.int8_dw_prepare_blocks(dot.data(), packed_blocks, q.out_zp, q.act_min, prepared.data());
  a.dw_prepared = prepared.data();
  std::vector<uint8_t> got_prepared(want.size() + 64, 0xA5);
  a.output = got_prepared.data();
  const int split2 = rng.range(0, oh), split3 = rng.range(split2, oh);
  kt.int8_dwconv3x3(a, 0, split2);
  kt.int8_dwconv3x3(a, split2, split3);
  kt.int8_dwconv3x3(a, split3, oh);
  compare_bytes(name + " prepared", got_prepared, want);
}

// unsigned_weights: uint8 weights less a per-tensor zero point (column offsets
// where a column spans past int8), else int8; per_tensor: one multiplier and
// shift for every column (TF1's uint8 models), else one per column.
// weight_zp: the uint8 weights' zero point (default: drawn).
void test_int8_gemm(const KernelTable& kt, Rng& rng, int m, int n, int k, bool unsigned_weights,
                    bool per_tensor = false, bool extreme_bias = false, int weight_zp = -1, int weights_kind = -1) {
  const std::string name = std::string(kt.name) + " int8_gemm(" + kt.int8_gemm_variant({}) + ") " + std::to_string(m) +
                           "x" + std::to_string(n) + "x" + std::to_string(k) + (unsigned_weights ? " u8w" : " s8w") +
                           (per_tensor ? " per-tensor" : "");
  // Effective weights: uint8 less a zero point per tensor, or int8 (zero point 0).
  const int zp = unsigned_weights ? (weight_zp >= 0 ? weight_zp : rng.range(0, 255)) : 0;
  std::vector<int32_t> b(size_t(k) * n);
  for (int32_t& v : b) v = unsigned_weights ? rng.range(0, 255) - zp : rng.range(-128, 127);
  // Extreme values too: the largest sums a formulation could saturate on.
  const int drawn_kind = rng.range(0, 5), kind = weights_kind >= 0 ? weights_kind : drawn_kind;
  if (kind == 0)
    for (int32_t& v : b) v = unsigned_weights ? (rng.coin() ? 255 : 0) - zp : (rng.coin() ? 127 : -128);
  // Or as quantization-aware training leaves them: within +-64 but for a pair or two of large
  // ones (k 4g + 2h and 4g + 2h + 1 of one column, a pair of vpmaddubsw's), which the split
  // for vpmaddubsw (pack_int8_bounded) must carry as remainders.
  if (kind == 1) {
    for (int32_t& v : b) v = rng.range(-64, 64);
    for (int big = 0; big < 2 && k >= 2 && int64_t{k} * n >= 1024; ++big) {
      const int kk = rng.range(0, (k - 2) / 2) * 2, j = rng.range(0, n - 1);
      b[size_t(kk) * n + j] = rng.coin() ? rng.range(100, 127) : -rng.range(100, 128);
      b[size_t(kk + 1) * n + j] = rng.coin() ? rng.range(100, 127) : -rng.range(100, 128);
    }
  }
  // Or as the uint8 models of quantization-aware training have them: within int8 but for 1-3
  // weights a layer past it (their column offsets split into a few remainders, pack_int8_split),
  // sometimes with 3 of them in one panel, or more than 15 k groups with one (no split then).
  if (kind == 2 && unsigned_weights) {
    for (int32_t& v : b) v = rng.range(-100, 100);
    // (One sign for them all: a column spans at most 255.)
    const int past = rng.range(1, 3), panel = rng.range(0, (n - 1) / kInt8PanelWidth), sign = rng.coin() ? 1 : -1;
    for (int i = 0; i < past; ++i) {
      const int j = rng.coin() ? std::min(n - 1, panel * kInt8PanelWidth + rng.range(0, 15)) : rng.range(0, n - 1);
      b[size_t(rng.range(0, k - 1)) * n + j] = sign * rng.range(129, 155);
    }
    if (rng.range(0, 5) == 0)
      for (int kk = 0; kk < k; kk += 4) b[size_t(kk) * n] = sign * 140;
  }
  const int lda = k + rng.range(0, 3), ldc = n + rng.range(0, 3);
  std::vector<uint8_t> a = random_bytes(rng, size_t(m) * lda);
  if (rng.range(0, 3) == 0)
    for (uint8_t& v : a) v = 255;
  const int np = static_cast<int>(round_up(n, kInt8PanelWidth));
  std::vector<int8_t> packed(packed_int8_gemm_bytes(k, n) + 64);
  std::vector<int32_t> col_offset(np);
  pack_int8_gemm_weights(b.data(), k, n, packed.data(), col_offset.data());
  bool has_offset = false;
  for (int32_t v : col_offset) has_offset |= v != 0;
  Int8Channels q = random_requant(rng, n, np, int64_t{128} * 128 * k / 4 + 1);
  if (per_tensor)
    for (int j = 1; j < n; ++j) q.multiplier[j] = q.multiplier[0], q.shift[j] = q.shift[0];
  if (extreme_bias)
    for (int j = 0; j < n; ++j)
      if (rng.coin()) q.bias[j] = rng.coin() ? INT32_MAX - rng.range(0, 1 << 20) : INT32_MIN + rng.range(0, 1 << 20);
  std::vector<uint8_t> want(size_t(m) * ldc, 0xA5);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      int64_t acc = 0;
      for (int kk = 0; kk < k; ++kk) acc += int64_t{a[size_t(i) * lda + kk]} * b[size_t(kk) * n + j];
      want[size_t(i) * ldc + j] = ref_store(acc, q, j);
    }
  std::vector<uint8_t> got(want.size() + 64, 0xA5);
  const Int8GemmArgs g{a.data(), lda, packed.data(), col_offset.data(), has_offset, got.data(), ldc, m,
                       n,        k,   requant_of(q)};
  // Rows in three calls, as threads split them.
  const int split1 = rng.range(0, m), split2 = rng.range(split1, m);
  kt.int8_gemm(g, 0, split1);
  kt.int8_gemm(g, split1, split2);
  kt.int8_gemm(g, split2, m);
  compare_bytes(name, got, want);
  // Rows in two calls, then the columns from 64 on as a GEMM of their own, as the executor's
  // column split runs them.
  auto run_split = [&](Int8GemmArgs h) {
    const int n0 = n > 64 ? 64 : n;
    h.n = n0;
    kt.int8_gemm(h, 0, split1);
    kt.int8_gemm(h, split1, m);
    h.n = n;
    if (n0 < n) kt.int8_gemm(int8_gemm_columns(kt, h, n0, n), 0, m);
  };
  const int64_t split_bytes = kt.int8_gemm_bounded ? int8_bounded_bytes(packed.data(), k, n) : 0;
  if (split_bytes > 0) {
    // B split for vpmaddubsw, as packing does.
    AlignedBuffer split((split_bytes + 3) / 4);
    pack_int8_bounded(packed.data(), k, n, split.data());
    std::vector<uint8_t> got_bounded(want.size() + 64, 0xA5);
    Int8GemmArgs h = g;
    h.c = got_bounded.data(), h.bounded = split.data();
    run_split(h);
    compare_bytes(name + " bounded (" + kt.int8_gemm_variant(h) + ")", got_bounded, want);
    ++g_int8_bounded_checks;
  }
  const int64_t remainder_bytes = kt.int8_gemm_split ? int8_split_bytes(packed.data(), col_offset.data(), k, n) : 0;
  if (remainder_bytes > 0) {
    // The column offsets split into remainders, as packing does.
    AlignedBuffer split((remainder_bytes + 3) / 4);
    pack_int8_split(packed.data(), col_offset.data(), k, n, split.data());
    std::vector<uint8_t> got_split(want.size() + 64, 0xA5);
    Int8GemmArgs h = g;
    h.c = got_split.data(), h.split = split.data();
    run_split(h);
    compare_bytes(name + " split", got_split, want);
    ++g_int8_split_checks;
  }
  if (kt.int8_gemm_prepare == nullptr) return;
  // The panels' constants prepared once, as packing does.
  AlignedBuffer prepared((kt.int8_gemm_prepared_bytes(n) + 3) / 4);
  kt.int8_gemm_prepare(g.rq, n, prepared.data());
  std::vector<uint8_t> got_prepared(want.size() + 64, 0xA5);
  Int8GemmArgs h = g;
  h.c = got_prepared.data(), h.rq_prepared = prepared.data();
  run_split(h);
  compare_bytes(name + " prepared", got_prepared, want);
}

void test_int8_avgpool(const KernelTable& kt, Rng& rng, int pixels, int channels, bool signed_values) {
  const std::string name = std::string(kt.name) + " int8_avgpool " + std::to_string(pixels) + "px x " +
                           std::to_string(channels) + (signed_values ? "c int8" : "c uint8");
  const std::vector<uint8_t> input = random_bytes(rng, size_t(pixels) * channels);
  const int lo = rng.range(0, 60), hi = rng.range(200, 255);
  std::vector<uint8_t> want(channels);
  for (int c = 0; c < channels; ++c) {
    int64_t sum = 0;
    for (int p = 0; p < pixels; ++p) sum += input[size_t(p) * channels + c] - (signed_values ? 128 : 0);
    // The mean rounded half away from zero (for uint8 values, all sums are positive).
    const double mean = static_cast<double>(sum) / pixels;
    int64_t v = static_cast<int64_t>(std::floor(std::fabs(mean) + 0.5)) * (mean < 0 ? -1 : 1);
    v += signed_values ? 128 : 0;
    want[c] = static_cast<uint8_t>(std::max<int64_t>(lo, std::min<int64_t>(hi, v)));
  }
  std::vector<uint8_t> got(want.size() + 64, 0xA5);
  kt.int8_avgpool({input.data(), pixels, channels, got.data(), signed_values, lo, hi});
  compare_bytes(name, got, want);

  // MEAN: values less the input zero point, rescaled (the division folded into the multiplier).
  const int in_zp = rng.range(0, 255), out_zp = rng.range(0, 255);
  const Int8Channels q = random_requant(rng, 1, 16, 128);
  for (int c = 0; c < channels; ++c) {
    int64_t sum = 0;
    for (int p = 0; p < pixels; ++p) sum += input[size_t(p) * channels + c] - in_zp;
    const int64_t mean = ref_requantize(sum, q.multiplier[0], q.shift[0]);
    want[c] = static_cast<uint8_t>(std::max<int64_t>(lo, std::min<int64_t>(hi, mean + out_zp)));
  }
  std::vector<uint8_t> got_mean(want.size() + 64, 0xA5);
  kt.int8_avgpool({input.data(), pixels, channels, got_mean.data(), signed_values, lo, hi, true, in_zp, out_zp,
                   q.multiplier[0], q.shift[0]});
  compare_bytes(name + " mean", got_mean, want);
}

#if defined(MBN_HAVE_AVX512)
namespace mobilenet {
namespace avx512 {
void int8_requantize_lanes(const int32_t* x, int count, const int32_t* multiplier, const int32_t* shift,
                           int out_zero_point, int act_min, int32_t* out);  // kernels_avx512.cpp
}  // namespace avx512
}  // namespace mobilenet

// The AVX-512 requantization (kernels/int8_requant_avx512.h: the epilogue of every
// int8 kernel on this ISA) alone against TFLite's formula, over every kind of
// column it evaluates differently: multipliers in [2^30, 2^31), 0 and below 2^30;
// right shifts 1..31, none, left shifts 1..30, mixed in one vector or one for all;
// zero points in and past the uint8 range; sums at and near INT32_MIN and
// INT32_MAX, small ones (the rounding ties of small shifts) and random ones.
// Exact, or with a clamp at act_min >= zero point known to it, exact once clamped.
void int8_requantize_tests(uint64_t seed) {
  if (!isa_supported(Isa::Avx512)) return;
  Rng rng(seed);
  const int32_t q31_lo = 1 << 30, q31_hi = INT32_MAX;
  int failures = 0, checks = 0;
  for (int trial = 0; trial < 40000 && failures < 5; ++trial) {
    int32_t multiplier[16], shift[16];
    const int kind = rng.range(0, 5);
    const int32_t m0 = rng.range(q31_lo, q31_hi), s0 = rng.range(-31, 30);
    for (int j = 0; j < 16; ++j) {
      const int draw = rng.range(0, 19);
      multiplier[j] = kind == 0 ? m0 : draw == 0 ? 0 : draw == 1 ? rng.range(1, q31_lo - 1) : rng.range(q31_lo, q31_hi);
      shift[j] = kind <= 1   ? s0
                 : kind == 2 ? rng.range(-31, 30)
                 : kind == 3 ? rng.range(-31, -1)
                 : kind == 4 ? rng.range(-12, -1)
                             : rng.range(-31, 0);
    }
    const int zp = rng.range(0, 7) == 0 ? rng.range(-255, 255) : rng.range(0, 255);
    // A clamp at or above the zero point (a fused ReLU), or none known.
    const bool clamp = rng.coin();
    const int act_min = clamp ? rng.range(zp, 255 + 1) : INT32_MIN;
    std::vector<int32_t> x(16 * 64), got(x.size());
    for (int32_t& v : x) {
      switch (rng.range(0, 9)) {
        case 0: v = INT32_MIN; break;
        case 1: v = INT32_MAX; break;
        case 2: v = INT32_MIN + rng.range(0, 1000); break;
        case 3: v = INT32_MAX - rng.range(0, 1000); break;
        case 4: v = rng.range(-4, 4); break;
        case 5: v = rng.range(-(1 << 20), 1 << 20); break;
        case 6: v = rng.range(-70000, 70000) * (1 << rng.range(0, 12)); break;
        default: v = rng.range(INT32_MIN, INT32_MAX);
      }
    }
    avx512::int8_requantize_lanes(x.data(), static_cast<int>(x.size()), multiplier, shift, zp, act_min, got.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const int j = static_cast<int>(i % 16);
      const int64_t want = int64_t{ref_requantize(x[i], multiplier[j], shift[j])} + zp;
      const bool ok = clamp ? std::max<int64_t>(got[i], act_min) == std::max<int64_t>(want, act_min) : got[i] == want;
      ++checks;
      if (!ok && ++failures <= 5)
        std::printf("FAILED int8 requantize x=%d multiplier=%d shift=%d zero point %d act_min %d: %d, want %lld\n",
                    x[i], multiplier[j], shift[j], zp, act_min, got[i], static_cast<long long>(want));
    }
  }
  expect(failures == 0, "avx512 int8 requantize: " + std::to_string(failures) + " of " + std::to_string(checks) +
                            " values differ from TFLite's formula");
}
#else
void int8_requantize_tests(uint64_t) {}
#endif

void int8_kernel_tests(const KernelTable& kt, uint64_t seed) {
  Rng rng(seed);
  const std::vector<int> odd_channels = {1, 2, 3, 4, 5, 7, 8, 9, 13, 15, 16, 17, 24, 31, 32, 33, 47, 64, 65, 70, 130};
  for (int pad = 0; pad < 81; ++pad)
    for (int stride = 1; stride <= 2; ++stride) {
      const Padding p{pad % 3, pad / 3 % 3, pad / 9 % 3, pad / 27 % 3};
      test_int8_conv(kt, rng, true, rng.range(1, 12), rng.range(1, 12), rng.pick(odd_channels), 0, stride, p);
      if (pad % 4 == 0)
        test_int8_conv(kt, rng, false, rng.range(1, 12), rng.range(1, 12), rng.range(1, 4), rng.pick(odd_channels),
                       stride, p);
    }
  for (int i = 0; i < 40; ++i)
    test_int8_conv(kt, rng, true, rng.range(1, 30), rng.range(1, 30), rng.range(1, 300), 0, rng.range(1, 2),
                   random_padding(rng));
  // Fewer than 64 channels, a multiple of 8: several pixels share a dot-product
  // block; wide rows for runs of them, narrow ones for the single pixels.
  for (int c : {8, 16, 24, 32, 40, 48, 56})
    for (int i = 0; i < 12; ++i)
      test_int8_conv(kt, rng, true, rng.range(1, 12), i % 2 == 0 ? rng.range(1, 12) : rng.range(12, 48), c, 0,
                     1 + i % 3 / 2, random_padding(rng), i % 4 % 3);
  // Whole 64-channel blocks and tails past them, every width from 1 (the
  // interior columns of a row, its edges, or both), paddings, both strides and
  // the weights with and without remainders past int8.
  for (int c : {64, 128, 192, 80, 136})
    for (int width = 1; width <= 13; ++width)
      for (int stride = 1; stride <= 2; ++stride)
        test_int8_conv(kt, rng, true, rng.range(1, 7), width, c, 0, stride, random_padding(rng), (width + c) % 3);
  for (int i = 0; i < 20; ++i)
    test_int8_conv(kt, rng, true, rng.range(1, 40), rng.range(14, 60),
                   64 * rng.range(1, 4) + rng.pick(std::vector<int>{0, 0, 16, 40}), 0, rng.range(1, 2),
                   random_padding(rng), rng.range(0, 2));
  for (int i = 0; i < 20; ++i)
    test_int8_conv(kt, rng, false, rng.range(3, 40), rng.range(3, 40), 3, rng.range(1, 80), rng.range(1, 2),
                   random_padding(rng));
  // The stem's packed block: every out_c up to 40 and the MobileNet widths past it, images
  // from 1x1 to several chunks of pixels, TFLite SAME and explicit paddings.
  for (int out_c = 1; out_c <= 40; ++out_c)
    for (int i = 0; i < 3; ++i)
      test_int8_conv(kt, rng, false, rng.range(1, i == 2 ? 70 : 14), rng.range(1, i == 2 ? 70 : 14),
                     i == 0 ? rng.range(1, 3) : 3, out_c, rng.range(1, 2), random_padding(rng));
  for (int out_c : {8, 16, 24, 32, 48, 64, 65, 96, 128})
    for (int size : {1, 2, 3, 4, 5, 7, 8, 33, 96, 97}) {
      // TFLite SAME at stride 2 (even: 0 before, 1 after; odd: 1 and 1), at stride 1, and
      // the explicit padding of a PAD op before a VALID stem (none, or 1 on every side).
      const Padding same2 = size % 2 == 0 ? Padding{0, 0, 1, 1} : Padding{1, 1, 1, 1};
      test_int8_conv(kt, rng, false, size, size, 3, out_c, 2, same2, size % 3);
      test_int8_conv(kt, rng, false, size, size, 3, out_c, 1, Padding{1, 1, 1, 1}, (size + 1) % 3);
      test_int8_conv(kt, rng, false, size + 2, size + 1, 3, out_c, 2, rng.coin() ? Padding{} : Padding{1, 1, 1, 1});
    }
  for (int m = 1; m <= 20; ++m) test_int8_gemm(kt, rng, m, rng.pick(odd_channels), rng.pick(odd_channels), m % 2 == 0);
  for (int i = 0; i < 60; ++i)
    test_int8_gemm(kt, rng, rng.range(1, 200), rng.range(1, 300), rng.range(1, 1100), rng.coin());
  for (int k : {4, 8, 64, 512, 1024}) test_int8_gemm(kt, rng, rng.range(1, 100), rng.range(1, 100), k, rng.coin());
  // k <= 32 with column offsets, past a 32-row block (AMX folds int8 offsets into the tiles): weight zero
  // points below 128 (offsets 1..127), above (-127..-1), 128 (none), and 0 (an offset of 128: not folded).
  for (int k = 1; k <= 33; ++k)
    test_int8_gemm(kt, rng, rng.range(17, 200), rng.range(1, 140), k, true, rng.coin(), false,
                   rng.pick(std::vector<int>{0, 1, 100, 127, 128, 129, 200, 255}));
  // Every k tail of a 64-byte row (AMX's tiles: 64 k values of A, 16 groups of 4 of B), rows
  // and columns across 16- and 32-wide tiles, and row counts past a chunk of rows.
  for (int k = 1; k <= 130; ++k)
    test_int8_gemm(kt, rng, rng.range(1, 70), rng.range(1, 140), k, rng.coin(), rng.coin());
  for (int k : {16, 32, 96, 256, 1024, 1100})
    test_int8_gemm(kt, rng, k <= 96 ? rng.range(4000, 4300) : rng.range(250, 600), rng.range(1, 80), k, rng.coin(),
                   rng.coin());
  // Every panel count of a 64-column group (1-4, whole and partial panels), with and without
  // column offsets (uint8 weights at zero points 100 and 128), k within and past a 64-wide
  // block, several times each: the AMX short epilogue has one loop per panel count and offsets.
  for (int n : {5, 16, 29, 32, 40, 48, 63, 64, 80, 112, 128})
    for (int k : {40, 64, 200})
      for (int rep = 0; rep < 3; ++rep)
        test_int8_gemm(kt, rng, rng.range(33, 120), n, k, true, rep == 1, false, rep == 2 ? 128 : 100);
  for (int i = 0; i < 30; ++i) test_int8_avgpool(kt, rng, rng.range(1, 60), rng.pick(odd_channels), rng.coin());
  // Past one chunk of channel sums (512), and many pixels (7x7 to 64x64).
  for (int channels : {511, 512, 513, 1024, 1100})
    test_int8_avgpool(kt, rng, rng.pick(std::vector<int>{49, 1, 25, 4096}), channels, rng.coin());
  // Biases near the int32 limits, where acc + bias wraps (as TFLite's int32 does).
  for (int i = 0; i < 6; ++i)
    test_int8_gemm(kt, rng, rng.range(1, 70), rng.range(1, 140), rng.range(1, 300), rng.coin(), rng.coin(), true);
  if (kt.int8_gemm_split) {
    // Weights as quantization-aware training leaves them (kind 2), whose column offsets split
    // unless a panel has more than kInt8SplitMaxGroups groups (one draw in six): make sure they did.
    const int before = g_int8_split_checks;
    for (int i = 0; i < 16; ++i)
      test_int8_gemm(kt, rng, rng.range(1, 140), rng.range(1, 200), rng.range(1, 1100), true, rng.coin(), false, -1, 2);
    for (int k : {1, 3, 4, 8, 16, 32, 33})
      for (int rep = 0; rep < 2; ++rep)
        test_int8_gemm(kt, rng, rng.range(1, 200), rng.range(1, 140), k, true, false, false, -1, 2);
    std::printf("%s: int8 GEMM on column offsets split: %d cases\n", kt.name, g_int8_split_checks);
    expect(g_int8_split_checks - before >= 8, std::string(kt.name) + ": int8 GEMM on column offsets split ran");
    // Where a split does not apply: a remainder of 128 (a weight of 255 at zero point 0), or a
    // panel with remainders in more than kInt8SplitMaxGroups groups of k.
    for (int apply = 0; apply < 3; ++apply) {
      const int k = 4 * (kInt8SplitMaxGroups + 1), n = 20;
      std::vector<int32_t> b(size_t(k) * n, 7);
      b[size_t(5) * n + 17] = apply == 1 ? 255 : 200;  // column 17: offset 73, or 128 with the 255
      if (apply == 2)
        for (int kk = 0; kk < k; kk += 4) b[size_t(kk) * n + 17] = 150;
      std::vector<int8_t> packed(packed_int8_gemm_bytes(k, n));
      std::vector<int32_t> col_offset(32);
      pack_int8_gemm_weights(b.data(), k, n, packed.data(), col_offset.data());
      const int64_t bytes = int8_split_bytes(packed.data(), col_offset.data(), k, n);
      expect((bytes > 0) == (apply == 0),
             std::string(kt.name) + ": int8 split applies only where it can, case " + std::to_string(apply));
    }
  }
  if (kt.int8_gemm_bounded) {
    // Weights that split for vpmaddubsw come about once in five draws: make sure they did.
    const int before = g_int8_bounded_checks;
    for (int i = 0; i < 40; ++i)
      test_int8_gemm(kt, rng, rng.range(1, 300), rng.range(1, 300), rng.range(1, 1100), rng.coin(), rng.coin());
    std::printf("%s: int8 GEMM on B split for vpmaddubsw: %d cases\n", kt.name, g_int8_bounded_checks);
    expect(g_int8_bounded_checks - before >= 4, std::string(kt.name) + ": int8 GEMM on B split for vpmaddubsw ran");
  }
}

// The int8 kernels each instruction set chooses, printed (tests/cross/run_aarch64.sh
// checks NEON's line under each emulated CPU: sdot where the CPU has the ARMv8.2
// dot product, smlal where it has not), then every int8 kernel test on them.
void int8_report() {
  for (Isa isa : supported_isas()) {
    const KernelTable& kt = kernel_table(isa);
    Int8GemmArgs g{};
    g.m = 49, g.n = 64, g.k = 64;
    Int8ConvArgs wide{};
    wide.in_h = wide.in_w = wide.out_h = wide.out_w = 7, wide.in_c = wide.out_c = 64, wide.stride = 1;
    Int8ConvArgs narrow = wide;
    narrow.in_c = narrow.out_c = 32;
    std::printf("%s: int8 kernels: gemm %s, dwconv3x3 %s (64 channels), %s (32 channels)\n", kt.name,
                kt.int8_gemm_variant(g), kt.int8_dwconv3x3_variant(wide), kt.int8_dwconv3x3_variant(narrow));
#if defined(__aarch64__) && defined(__linux__)
    if (isa == Isa::Neon) {
      // Read from the hwcaps here, not through the library's own detection.
      const char* env = std::getenv("MOBILENET_INT8_DOT");
      const bool dot = (getauxval(AT_HWCAP) & (1ul << 20)) && !(env && std::string(env) == "off");
      std::printf("neon: int8 dot product %s\n", dot ? "on (hwcap asimddp)" : "off");
      expect(std::string(kt.int8_gemm_variant(g)) == (dot ? "sdot4x16" : "smlal4x16"), "neon: int8 GEMM variant");
      expect(std::string(kt.int8_dwconv3x3_variant(wide)) == (dot ? "sdot" : "smlal"), "neon: int8 depthwise variant");
      expect(std::string(kt.int8_dwconv3x3_variant(narrow)) == "smlal", "neon: int8 depthwise under 64 channels");
    }
#endif
#if defined(__x86_64__) || defined(__i386__)
    if (isa == Isa::Avx2) {
      // AVX-VNNI read through the compiler's own CPUID check, not the library's detection.
      const char* env = std::getenv("MOBILENET_INT8_DOT");
      const bool dot = __builtin_cpu_supports("avxvnni") && !(env && std::string(env) == "off");
      std::printf("avx2: int8 dot product %s\n", dot ? "on (avxvnni)" : "off");
      expect(std::string(kt.int8_gemm_variant(g)) == (dot ? "avxvnni6x16" : "madd4x8"), "avx2: int8 GEMM variant");
      expect(std::string(kt.int8_dwconv3x3_variant(wide)) == (dot ? "vnni" : "madd"), "avx2: int8 depthwise variant");
      expect(std::string(kt.int8_dwconv3x3_variant(narrow)) == "madd", "avx2: int8 depthwise under 64 channels");
    }
#endif
    const Stats before = g_stats;
    int8_kernel_tests(kt, 20261130);
    std::printf("%s: int8 %d checks, %d failed\n", kt.name, g_stats.cases - before.cases,
                g_stats.failures - before.failures);
  }
}

// ---------------------------------------------------------------- float16

// fp16 rounding (fp16.h): nearest, ties to even, subnormals kept, overflow to Inf.
void fp16_rounding_tests() {
  struct Case {
    double in;
    uint16_t out;
  };
  const Case cases[] = {
      {1.0, 0x3c00},
      {-2.0, 0xc000},
      {0.0, 0x0000},
      {-0.0, 0x8000},
      {65504.0, 0x7bff},                     // the largest half
      {65519.99, 0x7bff},                    // below the midpoint to 2^16: down
      {65520.0, 0x7c00},                     // the midpoint: ties to even, which is Inf
      {1e6, 0x7c00},                         // overflow
      {std::ldexp(1.0, -24), 0x0001},        // the smallest subnormal
      {std::ldexp(1.0, -25), 0x0000},        // half of it: ties to even (zero)
      {std::ldexp(1.5, -25), 0x0001},        // above half: up
      {std::ldexp(3.0, -25), 0x0002},        // 1.5 subnormal ulps: ties to even (2)
      {std::ldexp(1023.5, -24), 0x0400},     // the largest subnormal's tie carries into the smallest normal
      {1.0 + std::ldexp(1.0, -11), 0x3c00},  // a tie at 1: to even
      {1.0 + std::ldexp(3.0, -11), 0x3c02},  // a tie at 1 + ulp: to even, up
      {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), 0x3c01},  // just past the tie: up
      {-std::ldexp(1.0, -30), 0x8000},                              // underflow keeps the sign
  };
  for (const Case& c : cases) {
    const uint16_t got = fp16_from_double(c.in);
    char buf[128];
    std::snprintf(buf, sizeof buf, "fp16_from_double(%.17g) = 0x%04x, expected 0x%04x", c.in, got, c.out);
    expect(got == c.out, buf);
  }
  // Every finite half converts to a double and back unchanged; fma is the rounded exact value.
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;
    bad += fp16_from_double(double_from_fp16(static_cast<uint16_t>(h))) != h;
  }
  expect(bad == 0, "fp16 round trip: " + std::to_string(bad) + " halves changed");
  expect(fp16_fma(0x3c00, 0x3c00, 0x3c00) == 0x4000, "fp16_fma(1, 1, 1) is 2");
  // 2049 * 1 + 0: not representable, rounds to even (2048); 2^-24 * 2^-1 + 0: ties to even (0).
  expect(fp16_fma(fp16_from_double(2048.0), 0x3c00, 0x3c00) == fp16_from_double(2048.0), "fp16_fma 2048 + 1 ties");
  expect(fp16_fma(0x0001, 0x3800, 0x0000) == 0x0000, "fp16_fma subnormal tie to even");
  expect(fp16_fma(0x0001, 0x3a00, 0x0000) == 0x0001, "fp16_fma subnormal above the tie");
  expect(fp16_fma(0x0001, 0x3e00, 0x0000) == 0x0002, "fp16_fma subnormal tie to even, up");
}

// Half-precision copies of float values (what a kernel sees after rounding).
std::vector<float> fp16_rounded(std::vector<float> x) {
  for (float& v : x) v = float_from_fp16(fp16_from_float(v));
  return x;
}
std::vector<uint16_t> fp16_bits(const std::vector<float>& x) {
  std::vector<uint16_t> h(x.size());
  round_to_fp16(x.data(), static_cast<int64_t>(x.size()), h.data());
  return h;
}

// fp16 sums round at every step: the allowance is relative to the magnitude
// of the terms (a few units of fp16's 2^-11 rounding; the terms are random, so
// their rounding errors do not pile up in one direction). A slip of an index
// or a tap makes errors of the order of the terms themselves.
constexpr double kFp16Rtol = 16.0 / 2048.0;
// The largest logit error of fp16 MobileNets (fp16_mobilenet_accuracy) relative
// to the largest float32 logit, asserted.
constexpr double kFp16MobileNetBound = 2e-2;

// Bit-for-bit equality of two outputs (NaN matching NaN), counting differences.
int differing_bits(const float* x, const float* y, size_t n) {
  int differ = 0;
  for (size_t i = 0; i < n; ++i)
    if (!(std::isnan(x[i]) && std::isnan(y[i])) && std::memcmp(x + i, y + i, sizeof(float)) != 0) ++differ;
  return differ;
}

// Runs `run(table, out)` on kt and, where kt is not the scalar reference, on
// the reference too: the two outputs must agree bit for bit.
template <class Run>
void expect_same_as_reference(const KernelTable& kt, const std::string& name, size_t n, Run&& run,
                              const std::vector<float>& got) {
  const KernelTable& reference = kernel_table(Isa::Scalar);
  if (&kt == &reference) return;
  std::vector<float> ref(got.size(), kSentinel);
  run(reference, ref);
  const int differ = differing_bits(got.data(), ref.data(), n);
  expect(differ == 0, name + ": " + std::to_string(differ) + " values differ in their bits from the scalar reference");
}

void test_fp16_dwconv(const KernelTable& kt, Rng& rng, DwCase t, int in_gap, int out_extra) {
  if (t.h + t.pad.top + t.pad.bottom < 3) t.h = 3 - t.pad.top - t.pad.bottom;
  if (t.w + t.pad.left + t.pad.right < 3) t.w = 3 - t.pad.left - t.pad.right;
  const std::string name = std::string(kt.name) + " fp16 dwconv3x3 " + std::to_string(t.h) + "x" + std::to_string(t.w) +
                           "x" + std::to_string(t.c) + " s" + std::to_string(t.stride) + " " + fmt_pad(t.pad) + " " +
                           activation_name(t.act) + " gaps " + std::to_string(in_gap) + "," + std::to_string(out_extra);
  const Shape s{t.h, t.w, t.c};
  const int CI = t.c + in_gap, CO = t.c + out_extra;
  const std::vector<float> input = rng.floats(s.size(), -2.0f, 2.0f);
  const std::vector<float> weight = rng.floats(9 * size_t(t.c), -1.0f, 1.0f), bias = rng.floats(t.c, -1.0f, 1.0f);
  std::vector<float> in_buf(size_t(t.h) * t.w * CI + kBufferSlack, kNaN);
  for (int64_t p = 0; p < int64_t{t.h} * t.w; ++p) std::copy_n(input.data() + p * t.c, t.c, in_buf.data() + p * CI);
  const int cp = static_cast<int>(round_up(t.c, kChannelPad));
  std::vector<float> packed(9 * size_t(cp), 0.0f);
  for (int k = 0; k < 9; ++k) std::copy_n(weight.data() + k * t.c, t.c, packed.data() + k * cp);
  const std::vector<uint16_t> w16 = fp16_bits(packed), b16 = fp16_bits(padded_copy(bias, cp));
  const std::vector<float> zero_row(size_t(t.w) * CI + kBufferSlack, 0.0f);
  Shape os;
  const Ref ref = ref_conv3x3(ref_from(fp16_rounded(input)), s, t.c, true, fp16_rounded(weight), fp16_rounded(bias),
                              t.stride, t.pad, t.act, &os);
  auto run = [&](const KernelTable& table, std::vector<float>& out) {
    DwConvArgs a{};
    a.input = in_buf.data(), a.in_h = t.h, a.in_w = t.w, a.channels = t.c;
    a.output = out.data(), a.out_h = os.h, a.out_w = os.w, a.stride = t.stride, a.pad = t.pad;
    a.channels_padded = cp, a.zero_row = zero_row.data(), a.clamp = clamp_for(t.act);
    a.in_pixel_stride = CI, a.out_pixel_stride = CO;
    a.weights_fp16 = w16.data(), a.bias_fp16 = b16.data();
    for (const auto& band : random_split(rng, os.h)) table.fp16_dwconv3x3(a, band.first, band.second);
  };
  std::vector<float> out = with_sentinel_guard(int64_t{os.h} * os.w * CO);
  run(kt, out);
  std::vector<float> dense(os.size());
  bool gaps_intact = true;
  for (int64_t p = 0; p < int64_t{os.h} * os.w; ++p) {
    std::copy_n(out.data() + p * CO, t.c, dense.data() + p * t.c);
    for (int j = t.c; j < CO; ++j) gaps_intact &= out[p * CO + j] == kSentinel;
  }
  if (compare(name, dense.data(), ref, kFp16Rtol, [&](size_t i) { return pixel_where(i, os.w, os.c); }))
    guard_intact(name, out, int64_t{os.h} * os.w * CO);
  expect(gaps_intact, name + ": wrote between pixels");
  expect_same_as_reference(kt, name, out.size(), run, out);
}

void test_fp16_conv3x3(const KernelTable& kt, Rng& rng, StemCase t) {
  if (t.h + t.pad.top + t.pad.bottom < 3) t.h = 3 - t.pad.top - t.pad.bottom;
  if (t.w + t.pad.left + t.pad.right < 3) t.w = 3 - t.pad.left - t.pad.right;
  const std::string name = std::string(kt.name) + " fp16 conv3x3 " + std::to_string(t.h) + "x" + std::to_string(t.w) +
                           "x" + std::to_string(t.in_c) + "->" + std::to_string(t.out_c) + " s" +
                           std::to_string(t.stride) + " " + fmt_pad(t.pad) + " " + activation_name(t.act) +
                           (t.nchw ? " NCHW" : " NHWC");
  const Shape s{t.h, t.w, t.in_c};
  const std::vector<float> input = rng.floats(s.size(), -2.0f, 2.0f);  // NHWC
  const std::vector<float> weight = rng.floats(9 * size_t(t.in_c) * t.out_c, -1.0f, 1.0f);
  const std::vector<float> bias = rng.floats(t.out_c, -1.0f, 1.0f);
  std::vector<float> in_buf(input.size());
  const int64_t hw = int64_t{t.h} * t.w;
  for (int64_t p = 0; p < hw; ++p)
    for (int c = 0; c < t.in_c; ++c) in_buf[t.nchw ? c * hw + p : p * t.in_c + c] = input[p * t.in_c + c];
  const int cp = static_cast<int>(round_up(t.out_c, kChannelPad));
  std::vector<float> packed(9 * size_t(t.in_c) * cp, 0.0f);
  for (int64_t r = 0; r < 9 * int64_t{t.in_c}; ++r)
    std::copy_n(weight.data() + r * t.out_c, t.out_c, packed.data() + r * cp);
  const std::vector<uint16_t> w16 = fp16_bits(packed), b16 = fp16_bits(padded_copy(bias, cp));
  Shape os;
  const Ref ref = ref_conv3x3(ref_from(fp16_rounded(input)), s, t.out_c, false, fp16_rounded(weight),
                              fp16_rounded(bias), t.stride, t.pad, t.act, &os);
  auto run = [&](const KernelTable& table, std::vector<float>& out) {
    Conv3x3Args a{};
    a.input = in_buf.data(), a.in_h = t.h, a.in_w = t.w, a.in_c = t.in_c;
    if (t.nchw)
      a.in_row_stride = t.w, a.in_col_stride = 1, a.in_channel_stride = hw;
    else
      a.in_row_stride = int64_t{t.w} * t.in_c, a.in_col_stride = t.in_c, a.in_channel_stride = 1;
    a.output = out.data(), a.out_h = os.h, a.out_w = os.w, a.out_c = t.out_c, a.stride = t.stride, a.pad = t.pad;
    a.out_c_padded = cp, a.clamp = clamp_for(t.act);
    a.weights_fp16 = w16.data(), a.bias_fp16 = b16.data();
    for (const auto& band : random_split(rng, os.h)) table.fp16_conv3x3(a, band.first, band.second);
  };
  std::vector<float> out = with_sentinel_guard(os.size());
  run(kt, out);
  if (compare(name, out.data(), ref, kFp16Rtol, [&](size_t i) { return pixel_where(i, os.w, os.c); }))
    guard_intact(name, out, os.size());
  expect_same_as_reference(kt, name, out.size(), run, out);
}

void test_fp16_gemm(const KernelTable& kt, Rng& rng, GemmCase t) {
  const std::string name = std::string(kt.name) + " fp16 gemm m=" + std::to_string(t.m) + " n=" + std::to_string(t.n) +
                           " k=" + std::to_string(t.k) + " lda=k+" + std::to_string(t.lda_gap) + " ldc=n+" +
                           std::to_string(t.ldc_gap) + " " + activation_name(t.act);
  const int64_t lda = t.k + t.lda_gap, ldc = t.n + t.ldc_gap;
  std::vector<float> a = rng.floats((t.m - 1) * lda + t.k, -2.0f, 2.0f);
  const std::vector<float> b = rng.floats(size_t(t.k) * t.n, -1.0f, 1.0f), bias = rng.floats(t.n, -1.0f, 1.0f);
  std::vector<uint16_t> packed(packed_gemm_fp16_halves(t.k, t.n));
  pack_gemm_weights_fp16(b.data(), t.k, t.n, packed.data());
  const std::vector<uint16_t> b16 = fp16_bits(padded_copy(bias, round_up(t.n, kChannelPad)));
  const Ref ref = ref_matmul(ref_from(fp16_rounded(a)), t.m, t.k, lda, t.n, fp16_rounded(b), fp16_rounded(bias), t.act);
  const int panels = static_cast<int>(round_up(t.n, kFp16PanelWidth) / kFp16PanelWidth);
  auto run = [&](const KernelTable& table, std::vector<float>& c) {
    const GemmFp16Args g{a.data(), lda, packed.data(), b16.data(), c.data(), ldc, t.m, t.n, t.k, clamp_for(t.act)};
    for (const auto& rb : random_split(rng, t.m))
      for (const auto& pb : random_split(rng, panels)) table.fp16_gemm(g, rb.first, rb.second, pb.first, pb.second);
  };
  std::vector<float> c = with_sentinel_guard((t.m - 1) * ldc + t.n);
  run(kt, c);
  std::vector<float> dense(size_t(t.m) * t.n);
  bool gap_intact = true;
  for (int r = 0; r < t.m; ++r) {
    std::copy_n(c.data() + r * ldc, t.n, dense.data() + size_t(r) * t.n);
    if (r + 1 < t.m)
      for (int j = t.n; j < ldc; ++j) gap_intact &= c[r * ldc + j] == kSentinel;
  }
  if (compare(name, dense.data(), ref, kFp16Rtol,
              [&](size_t i) { return "(row " + std::to_string(i / t.n) + ", col " + std::to_string(i % t.n) + ")"; }))
    guard_intact(name, c, (t.m - 1) * ldc + t.n);
  expect(gap_intact, name + ": wrote between rows (in the ldc gap)");
  expect_same_as_reference(kt, name, c.size(), run, c);
}

void fp16_kernel_tests(const KernelTable& kt, uint64_t seed) {
  if (kt.fp16_gemm == nullptr) {
    std::printf("%-7s no fp16 kernels on this CPU: not tested\n", kt.name);
    return;
  }
  Rng rng(seed);
  const std::vector<int> odd_channels = {1, 3, 5, 7, 8, 9, 15, 16, 17, 23, 31, 33, 40, 63, 64, 65};
  auto act = [&] { return kActivations[rng.range(0, 2)]; };
  for (int i = 0; i < 40; ++i) {
    const DwCase t{
        rng.range(1, 20), rng.range(1, 40), rng.pick(odd_channels), 1 + i % 2, random_padding(rng), act(), false};
    test_fp16_dwconv(kt, rng, t, i % 3 == 0 ? rng.range(1, 17) : 0, i % 4 == 0 ? rng.range(1, 9) : 0);
  }
  for (int i = 0; i < 16; ++i) {
    const StemCase t{rng.range(1, 20), rng.range(1, 20),    rng.range(1, 4), rng.pick(odd_channels),
                     1 + i % 2,        random_padding(rng), act(),           i % 3 == 0};
    test_fp16_conv3x3(kt, rng, t);
  }
  for (int i = 0; i < 40; ++i)
    test_fp16_gemm(
        kt, rng,
        {rng.range(1, 40), rng.range(1, 70), rng.range(1, 70), rng.range(0, 3), rng.range(0, 3), act(), false});
  for (int k : {1, 7, 8, 9, 255, 256, 257, 1024})
    test_fp16_gemm(kt, rng, {rng.range(1, 30), rng.pick(odd_channels), k, 0, 1, act(), false});
  test_fp16_gemm(kt, rng, {97, 130, 300, 1, 3, Activation::ReLU6, false});
}

// A whole network in float16 (where this CPU runs it): against the float32
// network on the same weights, bit-identical on every thread count, and (where
// the scalar reference may run it) bit-identical to the reference.
void test_fp16_chain(Isa isa, Rng& rng, const ChainCase& t, double& worst_ratio) {
  const std::string base = std::string(isa_name(isa)) + " fp16 network " + t.what + " batch " + std::to_string(t.batch);
  const LayerSpec& first = t.layers.front();
  const int64_t in_size = int64_t{first.in_h} * first.in_w * first.in_c;
  const std::vector<float> input = rng.floats(t.batch * in_size, -2.0f, 2.0f);
  Network f32(t.layers, isa, 1, PointwiseBackend::Gemm);
  Network f16(t.layers, isa, 1, PointwiseBackend::Gemm, true, Precision::Float16);
  const int64_t out_size = f32.output_size() * t.batch;
  std::vector<float> want(out_size), got(out_size), one_thread;
  f32.forward(input.data(), t.batch, t.layout, want.data(), t.softmax);
  for (int threads : {1, 3}) {
    f16.set_threads(threads);
    f16.forward(input.data(), t.batch, t.layout, got.data(), t.softmax);
    if (threads == 1)
      one_thread = got;
    else
      expect(differing_bits(got.data(), one_thread.data(), got.size()) == 0,
             base + " threads " + std::to_string(threads) + ": not bit-identical to 1 thread");
  }
  double top = 0.0, err = 0.0;
  for (int64_t i = 0; i < out_size; ++i) {
    top = std::max(top, std::fabs(static_cast<double>(want[i])));
    err = std::max(err, std::fabs(static_cast<double>(one_thread[i]) - want[i]));
  }
  const double ratio = err / std::max(top, 1e-3);
  worst_ratio = std::max(worst_ratio, ratio);
  ++g_stats.cases;
  expect(ratio <= 3e-2, base + ": fp16 differs from float32 by " + std::to_string(ratio) + " of the largest output");
  // Against the scalar reference: the layers up to the first float32 one (the
  // pooling and the classifier, whose float32 sums differ in their order between
  // instruction sets).
  std::vector<LayerSpec> head;
  for (const LayerSpec& l : t.layers) {
    if (l.kind == LayerKind::GlobalAvgPool || l.kind == LayerKind::FullyConnected) break;
    head.push_back(l);
  }
  if (isa != Isa::Scalar && !head.empty() &&
      precision_unavailable(Precision::Float16, kernel_table(Isa::Scalar)).empty() && t.what != "large-mobilenet" &&
      t.what != "wide-mobilenet") {
    Network fast(head, isa, 2, PointwiseBackend::Gemm, true, Precision::Float16);
    Network reference(head, Isa::Scalar, 1, PointwiseBackend::Gemm, true, Precision::Float16);
    std::vector<float> x(fast.output_size() * t.batch), y(fast.output_size() * t.batch);
    fast.forward(input.data(), t.batch, t.layout, x.data(), false);
    reference.forward(input.data(), t.batch, t.layout, y.data(), false);
    const int differ = differing_bits(x.data(), y.data(), x.size());
    expect(differ == 0, base + ": " + std::to_string(differ) + " values differ from the scalar reference network");
  }
}

// Random MobileNets (the paper's Table 1 at width alpha, ReLU6, at a small
// resolution) in float16 against float32: the largest logit error, relative
// to the largest float32 logit. Returns the worst over the networks.
double fp16_mobilenet_accuracy(Isa isa, uint64_t seed) {
  Rng rng(seed);
  double worst = 0.0;
  for (double alpha : {0.25, 0.5, 0.75, 1.0}) {
    std::vector<LayerSpec> l;
    Shape s{64, 64, 3};
    auto add = [&](LayerKind kind, int out_c, int stride, Padding pad, Activation a) {
      l.push_back(make_layer(rng, kind, s, out_c, stride, pad, a, true));
      s = out_shape_of(l.back());
    };
    auto ch = [&](int c) { return static_cast<int>(c * alpha); };
    const Padding s2{0, 0, 1, 1}, s1{1, 1, 1, 1};
    add(LayerKind::Conv3x3, ch(32), 2, s2, Activation::ReLU6);
    const int blocks[13][2] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2}, {512, 1},
                               {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
    for (const auto& b : blocks) {
      add(LayerKind::DwConv3x3, s.c, b[1], b[1] == 2 ? s2 : s1, Activation::ReLU6);
      add(LayerKind::Conv1x1, ch(b[0]), 1, {}, Activation::ReLU6);
    }
    add(LayerKind::GlobalAvgPool, s.c, 1, {}, Activation::None);
    add(LayerKind::FullyConnected, 1000, 1, {}, Activation::None);
    const int batch = 2;
    const std::vector<float> input = rng.floats(batch * 64 * 64 * 3, -2.0f, 2.0f);
    Network f32(l, isa, 1, PointwiseBackend::Gemm);
    Network f16(l, isa, 1, PointwiseBackend::Gemm, true, Precision::Float16);
    std::vector<float> want(1000 * batch), got(1000 * batch);
    f32.forward(input.data(), batch, InputLayout::NHWC, want.data(), false);
    f16.forward(input.data(), batch, InputLayout::NHWC, got.data(), false);
    for (int n = 0; n < batch; ++n) {
      double top = 0.0, err = 0.0;
      for (int j = 0; j < 1000; ++j) {
        top = std::max(top, std::fabs(static_cast<double>(want[n * 1000 + j])));
        err = std::max(err, std::fabs(static_cast<double>(got[n * 1000 + j]) - want[n * 1000 + j]));
      }
      worst = std::max(worst, err / top);
    }
  }
  return worst;
}

void fp16_network_tests(Isa isa) {
  // The scalar reference emulates fp16 slowly (under qemu, too slowly for these
  // networks); each network's fp16 layers are checked against it bit for bit above.
  if (isa == Isa::Scalar || !precision_unavailable(Precision::Float16, kernel_table(isa)).empty()) return;
  Rng rng(42), data(7);
  double worst_chain = 0.0;
  for (const ChainCase& c : chain_cases(rng)) test_fp16_chain(isa, data, c, worst_chain);
  const double worst = fp16_mobilenet_accuracy(isa, 20261201);
  std::printf("%-7s fp16 networks: largest error %.2e of the largest float32 output (chains), %.2e (MobileNets)\n",
              isa_name(isa), worst_chain, worst);
  ++g_stats.cases;
  expect(worst <= kFp16MobileNetBound,
         std::string(isa_name(isa)) + ": fp16 MobileNet logits beyond the stated bound: " + std::to_string(worst));
}

// Each instruction set's half precisions: the bf16 GEMM where the CPU has the
// feature it needs (its variant printed: tests/cross/run_aarch64.sh checks the
// line under each emulated CPU), else a refusal that names the feature.
void precision_tests() {
  std::string features;
  for (CpuFeature f :
       {CpuFeature::Avx512Bf16, CpuFeature::AmxBf16, CpuFeature::AmxInt8, CpuFeature::ArmBf16, CpuFeature::ArmFp16})
    if (cpu_has(f)) features += std::string(" ") + cpu_feature_name(f);
  std::printf("cpu features:%s\n", features.empty() ? " none" : features.c_str());
  // AMX only with the tile state the OS granted, and then the AVX-512 table's bf16 GEMM on tiles
  // (unless MOBILENET_AMX=0): so every run on an AMX CPU, the sanitized one included, exercises it.
  if (isa_supported(Isa::Avx512))
    expect(kernel_table(Isa::Avx512).bf16_amx == bf16_amx_preferred(), "avx512: bf16 on AMX iff AMX is preferred");
  // The same for the int8 GEMM, on a CPU with AMX-INT8.
  if (isa_supported(Isa::Avx512)) {
    Int8GemmArgs rows64{}, one_row{};
    rows64.m = 64, one_row.m = 1;
    const bool amx = std::string(kernel_table(Isa::Avx512).int8_gemm_variant(rows64)) == "amx32x64";
    expect(amx == int8_amx_preferred(), "avx512: the int8 GEMM on AMX iff AMX is preferred");
    // A single row (the classifier at batch 1) runs on vpdpbusd, tiles or not.
    expect(std::string(kernel_table(Isa::Avx512).int8_gemm_variant(one_row)) != "amx32x64",
           "avx512: a one-row int8 GEMM stays off the AMX tiles");
  }
  for (Isa isa : supported_isas()) {
    const KernelTable& kt = kernel_table(isa);
    const std::string bf16 = precision_unavailable(Precision::BFloat16, kt);
    const std::string fp16 = precision_unavailable(Precision::Float16, kt);
    expect(bf16.empty() == (kt.gemm_bf16 != nullptr), std::string(kt.name) + ": bf16 refused although it has a kernel");
    if (kt.gemm_bf16 != nullptr) {
      GemmBf16Args g{};
      g.m = g.layer_rows = 49, g.n = 64, g.k = 64;
      std::printf("%s: bfloat16 runs: %s\n", kt.name, kt.gemm_bf16_variant(g));
    } else {
      std::printf("%s: bfloat16 refused: %s\n", kt.name, bf16.c_str());
    }
    if (isa == Isa::Neon) {
      expect(cpu_has(CpuFeature::ArmBf16) == (kt.gemm_bf16 != nullptr), "neon: bf16 kernel iff the CPU has bf16");
      if (kt.gemm_bf16 == nullptr) expect(bf16.find("'bf16'") != std::string::npos, "neon: refusal names 'bf16'");
      expect(cpu_has(CpuFeature::ArmFp16) == (kt.fp16_gemm != nullptr), "neon: fp16 kernels iff the CPU has asimdhp");
      expect(fp16.empty() == (kt.fp16_gemm != nullptr && kt.fp16_fast), "neon: fp16 runs iff its kernels do");
    }
    if (isa == Isa::Avx2) expect(bf16.find("avx512_bf16") != std::string::npos, "avx2: refusal names avx512_bf16");
#if !defined(__aarch64__)
    expect(!fp16.empty(), std::string(kt.name) + ": float16 runs only on AArch64");
#endif
    if (fp16.empty()) {
      GemmFp16Args g{};
      g.m = 49, g.n = 64, g.k = 64;
      std::printf("%s: float16 runs: %s\n", kt.name, kt.fp16_gemm_variant(g));
    } else {
      expect(fp16.find("'asimdhp'") != std::string::npos || isa == Isa::Scalar,
             std::string(kt.name) + ": the float16 refusal names 'asimdhp'");
      std::printf("%s: float16 refused: %s\n", kt.name, fp16.c_str());
    }
  }
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);                   // every line out before a crash
  if (argc == 2 && std::string(argv[1]) == "--precisions") {  // the precision report alone (cross/run_aarch64.sh)
    precision_tests();
    std::printf(g_stats.failures ? "FAILED\n" : "OK\n");
    return g_stats.failures ? 1 : 0;
  }
  if (argc == 2 && std::string(argv[1]) == "--int8") {  // the int8 kernels alone (cross/run_aarch64.sh)
    int8_report();
    std::printf(g_stats.failures ? "FAILED\n" : "OK\n");
    return g_stats.failures ? 1 : 0;
  }
  if (argc == 2 && std::string(argv[1]) == "--fp16") {  // the float16 checks alone (cross/run_aarch64.sh)
    fp16_rounding_tests();
    for (Isa isa : supported_isas()) {
      if (isa == Isa::Scalar) continue;  // the reference, which the others are checked against
      fp16_kernel_tests(kernel_table(isa), 20261201);
      fp16_network_tests(isa);
    }
    std::printf(g_stats.failures ? "FAILED: %d of %d checks\n" : "OK: %d checks passed\n",
                g_stats.failures ? g_stats.failures : g_stats.cases, g_stats.cases);
    return g_stats.failures ? 1 : 0;
  }
  std::vector<Isa> isas;
  for (int i = 1; i < argc; ++i) {
    try {
      isas.push_back(parse_isa(argv[i]));
    } catch (const std::exception& e) {
      std::printf("%s\n", e.what());
      return 2;
    }
  }
  if (isas.empty()) isas = supported_isas();
  std::string names;
  for (Isa isa : isas) names += std::string(names.empty() ? "" : ", ") + isa_name(isa);
  std::printf("kernel_tests: ISAs %s; BLAS backend %s\n", names.c_str(), blas_available() ? "on" : "off");

  dispatch_tests();
  bf16_rounding_tests();
  fp16_rounding_tests();
  precision_tests();
  aligned_buffer_tests();
  thread_pool_tests();
  thread_start_failure_tests();
  for (Isa isa : isas) {
    const Stats before = g_stats;
    g_stats.worst = 0.0;
    // The same seed for every ISA: each one sees exactly the same cases.
    kernel_tests(kernel_table(isa), 20261127);
    int8_kernel_tests(kernel_table(isa), 20261130);
    if (isa == Isa::Avx512) int8_requantize_tests(20261130);
    fp16_kernel_tests(kernel_table(isa), 20261201);
    fp16_network_tests(isa);
    float_environment_tests(isa);
    Rng rng(42);
    const std::vector<ChainCase> chains = chain_cases(rng);
    for (PointwiseBackend backend : {PointwiseBackend::Gemm, PointwiseBackend::Blas}) {
      if (backend == PointwiseBackend::Blas && !blas_available()) continue;
      Rng data(99);
      for (const ChainCase& c : chains) test_chain(isa, backend, data, c);
    }
    std::printf("%-7s %5d checks, %d failed; largest error %.3f of the allowance\n", isa_name(isa),
                g_stats.cases - before.cases, g_stats.failures - before.failures, g_stats.worst);
    g_stats.worst = std::max(g_stats.worst, before.worst);
  }
  if (g_stats.failures) {
    std::printf("FAILED: %d of %d checks\n", g_stats.failures, g_stats.cases);
    return 1;
  }
  std::printf("OK: %d checks passed\n", g_stats.cases);
  return 0;
}
