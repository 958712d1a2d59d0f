// int8 kernels (Precision::Int8): TFLite's integer arithmetic on uint8 storage
// (see Int8ConvArgs in kernels.h). Portable C++ written so that compilers
// vectorize the channel loops; the ISA files add their own where it pays.
// Every kernel's result is exact: int32 sums, then TFLite's requantization.

// gemmlowp's SaturatingRoundingDoublingHighMul.
inline int32_t int8_srdhm(int32_t a, int32_t b) {
  const bool overflow = a == b && a == INT32_MIN;
  const int64_t ab = int64_t{a} * b;
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  const int32_t high = static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
  return overflow ? INT32_MAX : high;
}

// gemmlowp's RoundingDivideByPOT: halves away from zero.
inline int32_t int8_rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// TFLite's MultiplyByQuantizedMultiplier (x * 2^left wraps as TFLite's int32 does).
inline int32_t int8_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
  const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  return int8_rounding_divide_by_pot(int8_srdhm(shifted, multiplier), right);
}

inline uint8_t int8_requantize(int32_t acc, const Int8Requant& rq, int c) {
  // acc + bias wraps as TFLite's int32 does (unsigned: no undefined overflow).
  const int32_t sum = static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(rq.bias[c]));
  int32_t v = int8_multiply_by_quantized_multiplier(sum, rq.multiplier[c], rq.shift[c]) + rq.out_zero_point;
  v = v < rq.act_min ? rq.act_min : v;
  v = v > rq.act_max ? rq.act_max : v;
  return static_cast<uint8_t>(v);
}

constexpr int kInt8ChannelBlock = 64;  // int32 accumulators of one pixel's channel block

// A dot-product depthwise block's column-layout flags (pack_int8_dwconv_dot): [0] whether the
// layout holds every weight, [1] the mask of its vectors with remainders past int8.
inline const int32_t* int8_dw_column_flags(const int8_t* block) {
  return reinterpret_cast<const int32_t*>(block + kInt8DwColumnOffset + 2 * 3 * 4 * 64);
}

// The input rows of output row oy's 3x3 window, from channel c0 on: row[ky] + x * step[ky] is input
// column x of window row ky; a row in the padding reads zero_row (the zero point's) with step 0.
inline void int8_window_rows(const Int8ConvArgs& a, int oy, int c0, const uint8_t* zero_row, const uint8_t* (&row)[3],
                             int64_t (&step)[3]) {
  const int iy0 = oy * a.stride - a.pad.top;
  for (int ky = 0; ky < 3; ++ky) {
    const int iy = iy0 + ky;
    const bool in = iy >= 0 && iy < a.in_h;
    row[ky] = in ? a.input + int64_t{iy} * a.in_w * a.in_c + c0 : zero_row;
    step[ky] = in ? a.in_c : 0;
  }
}

// The stem: a full 3x3 convolution, taps outside the image skipped.
[[maybe_unused]] void int8_conv3x3_portable(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int cp = a.channels_padded;
  for (int oy = row_begin; oy < row_end; ++oy)
    for (int ox = 0; ox < a.out_w; ++ox) {
      uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * a.out_c;
      for (int c0 = 0; c0 < a.out_c; c0 += kInt8ChannelBlock) {
        const int cw = a.out_c - c0 < kInt8ChannelBlock ? a.out_c - c0 : kInt8ChannelBlock;
        int32_t acc[kInt8ChannelBlock] = {};
        for (int ky = 0; ky < 3; ++ky) {
          const int iy = oy * a.stride + ky - a.pad.top;
          if (iy < 0 || iy >= a.in_h) continue;
          for (int kx = 0; kx < 3; ++kx) {
            const int ix = ox * a.stride + kx - a.pad.left;
            if (ix < 0 || ix >= a.in_w) continue;
            const uint8_t* x = a.input + (int64_t{iy} * a.in_w + ix) * a.in_c;
            const int16_t* w = a.weights + int64_t{(ky * 3 + kx) * a.in_c} * cp + c0;
            for (int ci = 0; ci < a.in_c; ++ci) {
              const int32_t xv = int32_t{x[ci]} - a.in_zero_point;
              const int16_t* wc = w + int64_t{ci} * cp;
              for (int j = 0; j < cw; ++j) acc[j] += xv * wc[j];  // not past the padded weights
            }
          }
        }
        for (int j = 0; j < cw; ++j) out[c0 + j] = int8_requantize(acc[j], a.rq, c0 + j);
      }
    }
}

// Depthwise 3x3: each channel its own filter, taps outside the image skipped.
[[maybe_unused]] void int8_dwconv3x3_portable(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int cp = a.channels_padded, channels = a.in_c;
  for (int oy = row_begin; oy < row_end; ++oy)
    for (int ox = 0; ox < a.out_w; ++ox) {
      uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * channels;
      for (int c0 = 0; c0 < channels; c0 += kInt8ChannelBlock) {
        const int cw = channels - c0 < kInt8ChannelBlock ? channels - c0 : kInt8ChannelBlock;
        int32_t acc[kInt8ChannelBlock] = {};
        for (int ky = 0; ky < 3; ++ky) {
          const int iy = oy * a.stride + ky - a.pad.top;
          if (iy < 0 || iy >= a.in_h) continue;
          for (int kx = 0; kx < 3; ++kx) {
            const int ix = ox * a.stride + kx - a.pad.left;
            if (ix < 0 || ix >= a.in_w) continue;
            const uint8_t* x = a.input + (int64_t{iy} * a.in_w + ix) * channels + c0;
            const int16_t* w = a.weights + int64_t{ky * 3 + kx} * cp + c0;
            for (int j = 0; j < cw; ++j) acc[j] += (int32_t{x[j]} - a.in_zero_point) * w[j];
          }
        }
        for (int j = 0; j < cw; ++j) out[c0 + j] = int8_requantize(acc[j], a.rq, c0 + j);
      }
    }
}

// The portable GEMM on the packed panels: one row at a time, a panel of 16 sums.
[[maybe_unused]] void int8_gemm_portable(const Int8GemmArgs& g, int m_begin, int m_end) {
  const int k4 = (g.k + 3) / 4;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  for (int i = m_begin; i < m_end; ++i) {
    const uint8_t* a = g.a + int64_t{i} * g.lda;
    uint8_t* c = g.c + int64_t{i} * g.ldc;
    int32_t row_sum = 0;
    if (g.has_col_offset)
      for (int kk = 0; kk < g.k; ++kk) row_sum += a[kk];
    for (int p = 0; p < panels; ++p) {
      int32_t acc[kInt8PanelWidth] = {};
      const int8_t* b = g.packed_b + int64_t{p} * k4 * 4 * kInt8PanelWidth;
      for (int grp = 0; grp < k4; ++grp)
        for (int t = 0; t < 4; ++t) {
          const int kk = 4 * grp + t;
          if (kk >= g.k) break;
          const int32_t av = a[kk];
          const int8_t* bg = b + grp * 4 * kInt8PanelWidth + t;
          for (int j = 0; j < kInt8PanelWidth; ++j) acc[j] += av * bg[4 * j];
        }
      const int n0 = p * kInt8PanelWidth;
      const int nw = g.n - n0 < kInt8PanelWidth ? g.n - n0 : kInt8PanelWidth;
      for (int j = 0; j < nw; ++j) {
        const int32_t sum = acc[j] + (g.has_col_offset ? g.col_offset[n0 + j] * row_sum : 0);
        c[n0 + j] = int8_requantize(sum, g.rq, n0 + j);
      }
    }
  }
}

// The average pool's result for one channel from the sum of its values (storage).
inline uint8_t int8_avgpool_finish(const Int8PoolArgs& a, int32_t acc) {
  const int32_t n = a.pixels;
  int32_t v;
  if (a.mean) {
    v = int8_multiply_by_quantized_multiplier(acc - a.in_zero_point * n, a.multiplier, a.shift) + a.out_zero_point;
  } else if (a.signed_values) {
    acc -= 128 * n;  // the int8 values
    v = (acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n) + 128;
  } else {
    v = (acc + n / 2) / n;
  }
  v = v < a.act_min ? a.act_min : v;
  v = v > a.act_max ? a.act_max : v;
  return static_cast<uint8_t>(v);
}

// Channels in chunks whose sums stay in L1, each pixel's row of the chunk added
// at once (contiguous bytes: the compiler vectorizes the inner loop; a channel
// at a time strides through the whole tensor).
[[maybe_unused]] void int8_avgpool_portable(const Int8PoolArgs& a) {
  constexpr int kChunk = 512;
  int32_t acc[kChunk];
  for (int c0 = 0; c0 < a.channels; c0 += kChunk) {
    const int width = a.channels - c0 < kChunk ? a.channels - c0 : kChunk;
    for (int c = 0; c < width; ++c) acc[c] = 0;
    for (int p = 0; p < a.pixels; ++p) {
      const uint8_t* row = a.input + int64_t{p} * a.channels + c0;
      for (int c = 0; c < width; ++c) acc[c] += row[c];
    }
    for (int c = 0; c < width; ++c) a.output[c0 + c] = int8_avgpool_finish(a, acc[c]);
  }
}

#if defined(MBN_VEC_AVX512)
#include "int8_avx512.h"
#elif defined(MBN_VEC_AVX2)
#include "int8_avx2.h"
#elif defined(MBN_VEC_NEON)
#include "int8_neon.h"
#else
void int8_conv3x3(const Int8ConvArgs& a, int row_begin, int row_end) { int8_conv3x3_portable(a, row_begin, row_end); }
void int8_dwconv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  int8_dwconv3x3_portable(a, row_begin, row_end);
}
void int8_gemm(const Int8GemmArgs& g, int m_begin, int m_end) { int8_gemm_portable(g, m_begin, m_end); }
const char* int8_gemm_variant(const Int8GemmArgs&) { return "gemm_u8s8"; }
const char* int8_dwconv3x3_variant(const Int8ConvArgs&) { return "portable"; }
#endif

#if !defined(MBN_VEC_NEON)
void int8_avgpool(const Int8PoolArgs& a) { int8_avgpool_portable(a); }
#endif
