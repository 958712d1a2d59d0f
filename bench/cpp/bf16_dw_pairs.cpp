// What a vdpbf16ps depthwise kernel would gain (bench/RESULTS.md, "What is left"): a
// prototype of the 3x3 stride-1 depthwise layer on bf16 input laid out in pairs of
// horizontally adjacent pixels (channel c of pixels 2j and 2j+1 in one 32-bit word), as the 1x1
// layer before it would have to write it, timed against the library's float32 kernel
// (KernelTable::dwconv3x3) and its bf16-rows variant on MobileNet 1.0/224's stride-1 shapes,
// cache-warm, median of 300 calls. Each output pixel takes 6 vdpbf16ps where the float32
// kernel takes 9 FMAs: even x = 2j from P[j] . (w1, w2) + P[j-1] . (0, w0), odd x = 2j + 1 from
// P[j] . (w0, w1) + P[j+1] . (w2, 0), per kernel row. The prototype is not the library's: its
// input has a zero pair and a zero row on each side, and it is checked only against a float64
// reference on the bf16-rounded input. Build and run (from the repository root), on a CPU with
// AVX512_BF16:
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target bf16_dw_pairs && build/bench/bf16_dw_pairs
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "aligned_buffer.h"
#include "bf16.h"
#include "call_times.h"
#include "cpu_features.h"
#include "kernels.h"

using namespace mobilenet;

namespace {

// Input: rows of (pairs + 2) x channels words, row r + 1 holding image row r (rows 0 and h + 1
// zero), pair p + 1 holding pixels 2p and 2p + 1 (pairs 0 and pairs + 1 zero).
// Weights: per channel block of 16, 12 vectors: for each kernel row (w1, w2), (0, w0), (w0, w1), (w2, 0).
// Output: float32 NHWC, bias added and clamped to [0, 6].
void dw_pairs_s1(const uint32_t* in, int h, int w, int channels, const uint32_t* wpairs, const float* bias,
                 float* out) {
  const int pairs = (w + 1) / 2, row_words = (pairs + 2) * channels;
  const __m512 lo = _mm512_setzero_ps(), hi = _mm512_set1_ps(6.0f);
  for (int cb = 0; cb < channels; cb += 16) {
    __m512bh wv[12];
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) wv[i] = (__m512bh)_mm512_loadu_si512(wpairs + (cb / 16 * 12 + i) * 16);
    const __m512 b = _mm512_loadu_ps(bias + cb);
    for (int y = 0; y < h; ++y) {
      const uint32_t* r[3] = {in + int64_t{y} * row_words + cb, in + int64_t{y + 1} * row_words + cb,
                              in + int64_t{y + 2} * row_words + cb};
      float* o = out + int64_t{y} * w * channels + cb;
      int j = 0;
      for (; j + 4 <= pairs; j += 4) {  // 4 pairs: 8 output pixels
        __m512 acc[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) acc[i] = b;
#pragma GCC unroll 3
        for (int ky = 0; ky < 3; ++ky) {
          __m512bh p[6];  // pairs j - 1 .. j + 4 (padded index j .. j + 5)
#pragma GCC unroll 6
          for (int i = 0; i < 6; ++i) p[i] = (__m512bh)_mm512_loadu_si512(r[ky] + (j + i) * channels);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            acc[2 * i] = _mm512_dpbf16_ps(acc[2 * i], p[i + 1], wv[4 * ky]);
            acc[2 * i] = _mm512_dpbf16_ps(acc[2 * i], p[i], wv[4 * ky + 1]);
            acc[2 * i + 1] = _mm512_dpbf16_ps(acc[2 * i + 1], p[i + 1], wv[4 * ky + 2]);
            acc[2 * i + 1] = _mm512_dpbf16_ps(acc[2 * i + 1], p[i + 2], wv[4 * ky + 3]);
          }
        }
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i)
          if (2 * j + i < w)
            _mm512_storeu_ps(o + int64_t{2 * j + i} * channels, _mm512_min_ps(_mm512_max_ps(acc[i], lo), hi));
      }
      for (; j < pairs; ++j) {
        __m512 e = b, d = b;
#pragma GCC unroll 3
        for (int ky = 0; ky < 3; ++ky) {
          const __m512bh pm = (__m512bh)_mm512_loadu_si512(r[ky] + j * channels);
          const __m512bh p0 = (__m512bh)_mm512_loadu_si512(r[ky] + (j + 1) * channels);
          const __m512bh pp = (__m512bh)_mm512_loadu_si512(r[ky] + (j + 2) * channels);
          e = _mm512_dpbf16_ps(_mm512_dpbf16_ps(e, p0, wv[4 * ky]), pm, wv[4 * ky + 1]);
          d = _mm512_dpbf16_ps(_mm512_dpbf16_ps(d, p0, wv[4 * ky + 2]), pp, wv[4 * ky + 3]);
        }
        _mm512_storeu_ps(o + int64_t{2 * j} * channels, _mm512_min_ps(_mm512_max_ps(e, lo), hi));
        if (2 * j + 1 < w) _mm512_storeu_ps(o + int64_t{2 * j + 1} * channels, _mm512_min_ps(_mm512_max_ps(d, lo), hi));
      }
    }
  }
}

}  // namespace

int main() {
  if (!cpu_has(CpuFeature::Avx512Bf16)) {
    std::fprintf(stderr, "this CPU has no AVX512_BF16\n");
    return 1;
  }
  const KernelTable& kt = kernel_table(isa_from_environment());
  std::printf(
      "3x3 stride-1 depthwise, cache-warm: float32 (%s) and its bf16-rows variant against the prototype on\n"
      "bf16 pixel pairs (us; ns per output vector of 16 channels)\n",
      kt.name);
  struct Shape {
    int size, channels;
  };
  for (const Shape& s : {Shape{112, 32}, Shape{56, 128}, Shape{28, 256}, Shape{14, 512}, Shape{7, 1024}}) {
    const int h = s.size, w = s.size, c = s.channels, pairs = (w + 1) / 2;
    std::vector<float> x(size_t(h) * w * c), wt(9 * size_t(c)), bias(c);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i * 7919 % 1013) / 1013.0f * 4.0f - 1.0f;
    for (size_t i = 0; i < wt.size(); ++i) wt[i] = float(i * 131 % 97) / 97.0f - 0.5f;
    for (int i = 0; i < c; ++i) bias[i] = float(i % 7) * 0.1f;
    // The float32 kernel's arguments.
    AlignedBuffer in(int64_t{h} * w * c + kBufferSlack), out(int64_t{h} * w * c + kBufferSlack);
    AlignedBuffer zero(int64_t{w} * c + kBufferSlack), weights(9 * c), fbias(c);
    std::copy(x.begin(), x.end(), in.data());
    std::copy(wt.begin(), wt.end(), weights.data());
    std::copy(bias.begin(), bias.end(), fbias.data());
    std::fill(zero.data(), zero.data() + zero.size(), 0.0f);
    DwConvArgs a{};
    a.input = in.data(), a.in_h = h, a.in_w = w, a.channels = c;
    a.output = out.data(), a.out_h = h, a.out_w = w, a.stride = 1, a.pad = Padding{1, 1, 1, 1};
    a.weights = weights.data(), a.bias = fbias.data(), a.channels_padded = c, a.zero_row = zero.data();
    a.clamp = Clamp{0.0f, 6.0f};
    const CallTimes f32 = time_calls([&] { kt.dwconv3x3(a, 0, h); });
    CallTimes rows{0, 0};
    AlignedBuffer rows_out(int64_t{h} * w * c / 2 + kBufferSlack);
    if (kt.dwconv3x3_bf16_rows != nullptr) {
      DwConvArgs b = a;
      b.output = rows_out.data();
      rows = time_calls([&] { kt.dwconv3x3_bf16_rows(b, 0, h); });
    }
    // The prototype's input, weights and output.
    const int row_words = (pairs + 2) * c;
    std::vector<uint32_t> pin(size_t(h + 2) * row_words, 0u), wp(size_t(c) / 16 * 12 * 16);
    for (int y = 0; y < h; ++y)
      for (int p = 0; p < pairs; ++p)
        for (int ch = 0; ch < c; ++ch) {
          const float first = x[(size_t(y) * w + 2 * p) * c + ch];
          const float second = 2 * p + 1 < w ? x[(size_t(y) * w + 2 * p + 1) * c + ch] : 0.0f;
          pin[size_t(y + 1) * row_words + size_t(p + 1) * c + ch] = bf16_pair(first, second);
        }
    for (int ch = 0; ch < c; ++ch)
      for (int ky = 0; ky < 3; ++ky) {
        const float w0 = wt[(ky * 3 + 0) * size_t(c) + ch], w1 = wt[(ky * 3 + 1) * size_t(c) + ch];
        const float w2 = wt[(ky * 3 + 2) * size_t(c) + ch];
        const uint32_t v[4] = {bf16_pair(w1, w2), bf16_pair(0.0f, w0), bf16_pair(w0, w1), bf16_pair(w2, 0.0f)};
        for (int i = 0; i < 4; ++i) wp[(size_t(ch) / 16 * 12 + ky * 4 + i) * 16 + ch % 16] = v[i];
      }
    std::vector<float> pout(size_t(h) * w * c + 16);
    const CallTimes proto = time_calls([&] { dw_pairs_s1(pin.data(), h, w, c, wp.data(), bias.data(), pout.data()); });
    // The prototype against float64 sums of the bf16-rounded input and weights.
    double worst = 0.0;
    for (int y = 0; y < h; ++y)
      for (int xx = 0; xx < w; ++xx)
        for (int ch = 0; ch < c; ++ch) {
          double sum = bias[ch];
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const int iy = y + ky - 1, ix = xx + kx - 1;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              sum += double(float_from_bf16(bf16_from_float(x[(size_t(iy) * w + ix) * c + ch]))) *
                     double(float_from_bf16(bf16_from_float(wt[(ky * 3 + kx) * size_t(c) + ch])));
            }
          const double want = std::fmin(std::fmax(sum, 0.0), 6.0);
          worst = std::fmax(worst, std::fabs(want - pout[(size_t(y) * w + xx) * c + ch]));
        }
    const double vectors = double(h) * w * c / 16;
    std::printf(
        "%4dx%-4dx%5d  float32 %7.1f (%5.2f)  bf16 rows %7.1f (%5.2f)  pairs %7.1f (%5.2f): %.2fx float32, "
        "%.2fx bf16 rows; largest error %.1e\n",
        h, w, c, f32.median_ns / 1e3, f32.median_ns / vectors, rows.median_ns / 1e3, rows.median_ns / vectors,
        proto.median_ns / 1e3, proto.median_ns / vectors, proto.median_ns / f32.median_ns,
        rows.median_ns > 0 ? proto.median_ns / rows.median_ns : 0.0, worst);
  }
  return 0;
}
