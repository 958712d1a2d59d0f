#include "pack.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bf16.h"
#include "fp16.h"

namespace mobilenet {

// The weight layouts kernels.h declares (the stem packs its pairs itself when
// it is given none, so these are kernel-facing too).

int64_t stem_pair_weights_size(int out_c) { return int64_t{kStemPairVectors} * ((out_c + 7) / 8) * 16; }

void pack_stem_pair_weights(const float* weights, const float* bias, int out_c, int out_c_padded, float* packed) {
  const int nv = (out_c + 7) / 8;
  for (int ky = 0; ky < 3; ++ky)
    for (int j = 0; j < 5; ++j)
      for (int c = 0; c < 8 * nv; ++c)
        for (int t = 0; t < 2; ++t) {
          const int tap = 2 * j + t;  // kx = tap / 3, input channel = tap % 3: the 9 floats of one window row
          packed[((ky * 5 + j) * nv + c / 8) * 16 + 2 * (c % 8) + t] =
              tap < 9 && c < out_c ? weights[static_cast<int64_t>(ky * 9 + tap) * out_c_padded + c] : 0.0f;
        }
  const int bias_at = (kStemPairVectors - 1) * nv * 16;
  for (int c = 0; c < 8 * nv; ++c) {
    packed[bias_at + (c / 8) * 16 + 2 * (c % 8)] = c < out_c ? bias[c] : 0.0f;
    packed[bias_at + (c / 8) * 16 + 2 * (c % 8) + 1] = 0.0f;
  }
}

int64_t packed_gemm_size(int k, int n, int panel_width) { return static_cast<int64_t>(k) * round_up(n, panel_width); }

void pack_gemm_weights(const float* b, int k, int n, int panel_width, float* packed) {
  const int panels = static_cast<int>(round_up(n, panel_width) / panel_width);
  for (int p = 0; p < panels; ++p)
    for (int kk = 0; kk < k; ++kk)
      for (int j = 0; j < panel_width; ++j) {
        const int col = p * panel_width + j;
        *packed++ = col < n ? b[static_cast<int64_t>(kk) * n + col] : 0.0f;
      }
}

int64_t packed_int8_gemm_bytes(int k, int n) {
  return round_up(k, 4) * round_up(n, kInt8PanelWidth) + 4 * round_up(n, kInt8PanelWidth);
}

void pack_int8_gemm_weights(const int32_t* b, int k, int n, int8_t* packed, int32_t* col_offset) {
  const int panels = static_cast<int>(round_up(n, kInt8PanelWidth) / kInt8PanelWidth);
  const int k4 = static_cast<int>(round_up(k, 4) / 4);
  for (int j = 0; j < panels * kInt8PanelWidth; ++j) {
    // A column's effective weights span at most 255 (8-bit weights less one zero point):
    // shifted by the offset, they fit int8.
    int32_t hi = 0, lo = 0;
    for (int kk = 0; kk < k && j < n; ++kk) {
      hi = std::max(hi, b[int64_t{kk} * n + j]);
      lo = std::min(lo, b[int64_t{kk} * n + j]);
    }
    col_offset[j] = hi > 127 ? hi - 127 : (lo < -128 ? lo + 128 : 0);
    MBN_CHECK(hi - col_offset[j] <= 127 && lo - col_offset[j] >= -128,
              "int8 weights of one output channel span more than 255");
  }
  for (int p = 0; p < panels; ++p)
    for (int g = 0; g < k4; ++g)
      for (int j = 0; j < kInt8PanelWidth; ++j)
        for (int t = 0; t < 4; ++t) {
          const int col = p * kInt8PanelWidth + j, kk = 4 * g + t;
          const int32_t v = col < n && kk < k ? b[int64_t{kk} * n + col] - col_offset[col] : 0;
          packed[((int64_t{p} * k4 + g) * kInt8PanelWidth + j) * 4 + t] = static_cast<int8_t>(v);
        }
  // 128 times each column's sum of packed values, after the panels (4-aligned: they are a multiple of 64 bytes).
  int32_t* sums = reinterpret_cast<int32_t*>(packed + int64_t{panels} * k4 * 4 * kInt8PanelWidth);
  for (int j = 0; j < panels * kInt8PanelWidth; ++j) {
    int32_t sum = 0;
    for (int kk = 0; kk < k && j < n; ++kk) sum += b[int64_t{kk} * n + j] - col_offset[j];
    sums[j] = 128 * sum;
  }
}

namespace {
// Byte i of a packed panel (pack_int8_gemm_weights' layout): its column in the panel and its k.
struct PanelByte {
  int column, k;
};
PanelByte int8_panel_byte(int64_t i) {
  return {static_cast<int>(i / 4 % kInt8PanelWidth), static_cast<int>(i / 64 * 4 + i % 4)};
}
}  // namespace

int64_t int8_bounded_panel_bytes(int k) { return round_up(k, 4) * kInt8PanelWidth + 64; }

namespace {
constexpr int kInt8PairBound = 128;  // 255 x 128 = 32640: no int16 saturation
constexpr int kInt8HalfBound = kInt8PairBound / 2;

// Calls f(panel, byte index in the panel, bounded value, remainder) for each packed weight of B.
template <class F>
void for_each_bounded(const int8_t* packed, int k, int n, F&& f) {
  const int panels = static_cast<int>(round_up(n, kInt8PanelWidth) / kInt8PanelWidth);
  const int64_t panel_bytes = round_up(k, 4) * kInt8PanelWidth;
  for (int p = 0; p < panels; ++p)
    for (int64_t i = 0; i < panel_bytes; i += 2) {  // a pair: k 4g + 2h and 4g + 2h + 1 of one column
      const int w0 = packed[p * panel_bytes + i], w1 = packed[p * panel_bytes + i + 1];
      const bool within = std::abs(w0) + std::abs(w1) <= kInt8PairBound;
      const int b0 = within ? w0 : std::clamp(w0, -kInt8HalfBound, kInt8HalfBound);
      const int b1 = within ? w1 : std::clamp(w1, -kInt8HalfBound, kInt8HalfBound);
      f(p, i, b0, w0 - b0);
      f(p, i + 1, b1, w1 - b1);
    }
}
}  // namespace

int64_t int8_bounded_bytes(const int8_t* packed, int k, int n) {
  int64_t remainders = 0;
  for_each_bounded(packed, k, n, [&](int, int64_t, int, int r) { remainders += r != 0; });
  if (remainders * kInt8BoundedMaxShare > int64_t{k} * n) return 0;
  return round_up(n, kInt8PanelWidth) / kInt8PanelWidth * int8_bounded_panel_bytes(k) + 4 * remainders;
}

void pack_int8_bounded(const int8_t* packed, int k, int n, void* out) {
  const int panels = static_cast<int>(round_up(n, kInt8PanelWidth) / kInt8PanelWidth);
  const int64_t stride = int8_bounded_panel_bytes(k), panel_bytes = round_up(k, 4) * kInt8PanelWidth;
  char* base = static_cast<char*>(out);
  std::vector<std::vector<int32_t>> lists(panels);
  for_each_bounded(packed, k, n, [&](int p, int64_t i, int b, int r) {
    base[p * stride + i] = static_cast<char>(b);
    const PanelByte at = int8_panel_byte(i);
    if (r != 0) lists[p].push_back(static_cast<int32_t>((at.k << 16) | (at.column << 8) | static_cast<uint8_t>(r)));
  });
  int64_t tail = panels * stride;  // the lists, after the panels
  for (int p = 0; p < panels; ++p) {
    int32_t* header = reinterpret_cast<int32_t*>(base + p * stride + panel_bytes);
    header[0] = static_cast<int32_t>(lists[p].size());
    header[1] = static_cast<int32_t>(tail - p * stride);
    if (!lists[p].empty()) std::memcpy(base + tail, lists[p].data(), 4 * lists[p].size());
    tail += 4 * static_cast<int64_t>(lists[p].size());
  }
}

namespace {
// Calls f(panel, its k groups with remainders, main bytes, remainder bytes) for each panel of B
// with a column offset (pack_int8_split), the bytes in the panel layout; false where one cannot
// be split.
template <class F>
bool for_each_split_panel(const int8_t* packed, const int32_t* col_offset, int k, int n, F&& f) {
  const int k4 = (k + 3) / 4, panel_bytes = k4 * 4 * kInt8PanelWidth;
  std::vector<int8_t> main(panel_bytes), rem(panel_bytes);
  for (int p = 0; p * kInt8PanelWidth < n; ++p) {
    bool offset = false;
    for (int j = 0; j < kInt8PanelWidth; ++j) offset |= col_offset[p * kInt8PanelWidth + j] != 0;
    if (!offset) continue;
    std::vector<int> groups;
    for (int i = 0; i < panel_bytes; ++i) {
      const PanelByte at = int8_panel_byte(i);
      const int col = p * kInt8PanelWidth + at.column;  // zero past k and n
      const int v = col < n && at.k < k ? packed[int64_t{p} * panel_bytes + i] + col_offset[col] : 0;
      main[i] = static_cast<int8_t>(std::clamp(v, -128, 127));
      if (v - main[i] > 127) return false;
      rem[i] = static_cast<int8_t>(v - main[i]);
      if (rem[i] != 0 && (groups.empty() || groups.back() != i / 64)) groups.push_back(i / 64);
    }
    if (groups.size() > kInt8SplitMaxGroups) return false;
    f(p, groups, main, rem);
  }
  return true;
}
int64_t int8_split_record_bytes(int k, int groups) { return round_up(k, 4) * kInt8PanelWidth + 64 * (1 + groups); }
}  // namespace

int64_t int8_split_bytes(const int8_t* packed, const int32_t* col_offset, int k, int n) {
  int64_t bytes = round_up(round_up(n, kInt8PanelWidth) / kInt8PanelWidth * 4, 64);
  bool any = false;
  const bool splits =
      for_each_split_panel(packed, col_offset, k, n, [&](int, const std::vector<int>& groups, auto&, auto&) {
        bytes += int8_split_record_bytes(k, static_cast<int>(groups.size()));
        any = true;
      });
  return splits && any ? bytes : 0;
}

void pack_int8_split(const int8_t* packed, const int32_t* col_offset, int k, int n, void* out) {
  char* base = static_cast<char*>(out);
  const int panels = static_cast<int>(round_up(n, kInt8PanelWidth) / kInt8PanelWidth);
  int32_t* header = reinterpret_cast<int32_t*>(base);
  std::fill_n(header, panels, 0);
  int64_t at = round_up(int64_t{panels} * 4, 64);
  const int panel_bytes = static_cast<int>(round_up(k, 4) * kInt8PanelWidth);
  const bool splits =
      for_each_split_panel(packed, col_offset, k, n, [&](int p, const std::vector<int>& groups, auto& main, auto& rem) {
        header[p] = static_cast<int32_t>(at - 4 * int64_t{p});
        char* record = base + at;
        std::memcpy(record, main.data(), panel_bytes);
        int32_t* list = reinterpret_cast<int32_t*>(record + panel_bytes);
        std::fill_n(list, 16, 0);
        list[0] = static_cast<int32_t>(groups.size());
        for (size_t i = 0; i < groups.size(); ++i) {
          list[1 + i] = groups[i];
          std::memcpy(record + panel_bytes + 64 * (1 + i), rem.data() + 64 * groups[i], 64);
        }
        at += int8_split_record_bytes(k, static_cast<int>(groups.size()));
      });
  MBN_CHECK(splits, "int8 GEMM weights do not split");
}

int int8_stem_lanes(int out_c) { return out_c <= 8 ? 16 : static_cast<int>(round_up(out_c, kInt8PanelWidth)); }

int64_t int8_stem_rows_offset(int in_c, int out_c) {
  const int lanes = int8_stem_lanes(out_c);
  return round_up(packed_int8_gemm_bytes(9 * in_c, lanes) + int64_t{4} * 4 * lanes, 64);
}

int64_t int8_stem_packed_bytes(int in_c, int out_c) {
  const int lanes = int8_stem_lanes(out_c), panels = lanes / kInt8PanelWidth;
  return int8_stem_rows_offset(in_c, out_c) + 64 + int64_t{2} * panels * kInt8StemRowGroups * 64 +
         int64_t{3} * 4 * lanes;
}

namespace {

// A stem block's int32 bias (in_zero_point times the channel's weight sum taken off), multiplier
// and shift of each of `lanes` lanes; channel(lane): the lane's channel, or -1 (zero weights).
template <typename Channel>
void pack_int8_stem_params(const int32_t* weights, const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                           int in_c, int out_c, int in_zero_point, int lanes, Channel channel, int32_t* params) {
  for (int lane = 0; lane < lanes; ++lane) {
    const int c = channel(lane);
    int64_t sum = 0;
    for (int kk = 0; kk < 9 * in_c && c >= 0; ++kk) sum += weights[int64_t{kk} * out_c + c];
    params[lane] = c < 0 ? 0 : static_cast<int32_t>((bias ? bias[c] : 0) - int64_t{in_zero_point} * sum);
    params[lanes + lane] = c < 0 ? multiplier[0] : multiplier[c];
    params[2 * lanes + lane] = c < 0 ? shift[0] : shift[c];
  }
}

// pack_int8_stem's window-rows block (kernels.h).
void pack_int8_stem_rows(const int32_t* weights, const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                         int in_c, int out_c, int in_zero_point, int8_t* block) {
  const int lanes = int8_stem_lanes(out_c), panels = lanes / kInt8PanelWidth;
  const int64_t group_bytes = int64_t{panels} * kInt8StemRowGroups * 64;
  std::fill_n(block, 64 + 2 * group_bytes + 12 * lanes, int8_t{0});
  int32_t* header = reinterpret_cast<int32_t*>(block);
  if (in_c != 3) return;
  for (int64_t i = 0; i < int64_t{9} * in_c * out_c; ++i)
    if (weights[i] < -255 || weights[i] > 254) return;
  header[0] = 1;
  const bool pairs = out_c <= 8;
  auto channel = [&](int lane) {
    const int c = pairs ? lane % 8 : lane;
    return c < out_c ? c : -1;
  };
  int8_t* main = block + 64;
  int8_t* rest = main + group_bytes;
  for (int g = 0; g < kInt8StemRowGroups; ++g)
    for (int b = 0; b < 4; ++b) {
      const int byte = 4 * (g % 3) + b;  // in the window row: 3 pixels of in_c
      if (byte >= 3 * in_c) continue;
      const int kk = g / 3 * 3 * in_c + byte;
      for (int lane = 0; lane < lanes; ++lane) {
        const int c = channel(lane);
        if (c < 0) continue;
        const int32_t w = weights[int64_t{kk} * out_c + c];
        const int32_t m = w < -128 ? -128 : (w > 127 ? 127 : w);
        const int p = lane / kInt8PanelWidth;
        const int64_t at = (int64_t{p} * kInt8StemRowGroups + g) * 64 + lane % kInt8PanelWidth * 4 + b;
        main[at] = static_cast<int8_t>(m), rest[at] = static_cast<int8_t>(w - m);
        if (w != m) header[1 + p] |= 1 << g;
      }
    }
  pack_int8_stem_params(weights, bias, multiplier, shift, in_c, out_c, in_zero_point, lanes, channel,
                        reinterpret_cast<int32_t*>(rest + group_bytes));
}

}  // namespace

void pack_int8_stem(const int32_t* weights, const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                    int in_c, int out_c, int in_zero_point, int8_t* packed) {
  const int k = 9 * in_c, lanes = int8_stem_lanes(out_c);
  const bool pairs = out_c <= 8;
  auto channel = [&](int lane) { return pairs ? (lane / 2 < out_c ? lane / 2 : -1) : (lane < out_c ? lane : -1); };
  std::vector<int32_t> b(size_t(k) * lanes, 0);
  for (int kk = 0; kk < k; ++kk)
    for (int j = 0; j < lanes; ++j)
      if (channel(j) >= 0) b[size_t(kk) * lanes + j] = weights[int64_t{kk} * out_c + channel(j)];
  int32_t* params = reinterpret_cast<int32_t*>(packed + packed_int8_gemm_bytes(k, lanes));
  pack_int8_gemm_weights(b.data(), k, lanes, packed, params + 3 * lanes);
  pack_int8_stem_params(weights, bias, multiplier, shift, in_c, out_c, in_zero_point, lanes, channel, params);
  pack_int8_stem_rows(weights, bias, multiplier, shift, in_c, out_c, in_zero_point,
                      packed + int8_stem_rows_offset(in_c, out_c));
}

int int8_dwconv_dot_blocks(int channels) { return channels / 64; }

int int8_dwconv_tail_pixels(int channels, int stride) {
  const int rest = channels % 64;
  if (rest == 0) return 0;
  if (channels < 64 && rest % 8 == 0) return stride <= 2 ? 64 / rest : 1;
  return rest >= 16 ? 1 : 0;
}

void pack_int8_dwconv_tail(const int32_t* weights, int ldw, const int32_t* bias, const int32_t* multiplier,
                           const int32_t* shift, int rest, int pixels, int in_zero_point, int8_t* packed) {
  std::vector<int32_t> w(9 * 64, 0), b(64, 0), m(64, 0), sh(64, 0);
  for (int j = 0; j < pixels * rest && j < 64; ++j) {
    const int c = j % rest;
    for (int t = 0; t < 9; ++t) w[t * 64 + j] = weights[int64_t{t} * ldw + c];
    b[j] = bias ? bias[c] : 0, m[j] = multiplier[c], sh[j] = shift[c];
  }
  pack_int8_dwconv_dot(w.data(), b.data(), m.data(), sh.data(), 64, in_zero_point, packed);
}

void pack_int8_dwconv_dot(const int32_t* weights, const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                          int channels, int in_zero_point, int8_t* packed) {
  for (int b = 0; b < int8_dwconv_dot_blocks(channels); ++b) {
    int8_t* w = packed + int64_t{b} * kInt8DwDotBlockBytes;
    int32_t* params = reinterpret_cast<int32_t*>(w + 3 * 4 * 64);
    for (int v = 0; v < 4; ++v)
      for (int lane = 0; lane < 16; ++lane) {
        const int c = 64 * b + 16 * (lane / 4) + 4 * v + lane % 4;
        int32_t hi = 0, lo = 0, sum = 0;
        for (int t = 0; t < 9; ++t) {
          const int32_t e = weights[int64_t{t} * channels + c];
          hi = std::max(hi, e), lo = std::min(lo, e), sum += e;
        }
        const int32_t offset = hi > 127 ? hi - 127 : (lo < -128 ? lo + 128 : 0);
        for (int g = 0; g < 3; ++g)
          for (int k = 0; k < 4; ++k) {
            const int t = 4 * g + k;
            w[((g * 4 + v) * 16 + lane) * 4 + k] =
                static_cast<int8_t>(t < 9 ? weights[int64_t{t} * channels + c] - offset : 0);
          }
        const int at = v * 16 + lane;
        params[at] = (bias ? bias[c] : 0) - in_zero_point * sum;
        params[64 + at] = multiplier[c];
        params[128 + at] = shift[c];
        params[192 + at] = offset;
        params[256 + at] = 128 * sum;
      }
    // The column layout: the taps of one column kx (rows 0-2) in one lane, each
    // weight split into an int8 part and an int8 remainder.
    int8_t* column = w + kInt8DwColumnOffset;
    int8_t* remainder = column + 3 * 4 * 64;
    int32_t* flags = reinterpret_cast<int32_t*>(remainder + 3 * 4 * 64);
    int32_t usable = 1, mask = 0;
    for (int kx = 0; kx < 3; ++kx)
      for (int v = 0; v < 4; ++v)
        for (int lane = 0; lane < 16; ++lane) {
          const int c = 64 * b + 16 * (lane / 4) + 4 * v + lane % 4;
          for (int k = 0; k < 4; ++k) {
            const int32_t e = k < 3 ? weights[int64_t{3 * k + kx} * channels + c] : 0;
            const int32_t part = std::max(-128, std::min(127, e)), rest = e - part;
            if (rest > 127) usable = 0;  // w - w_zp = 255 (weight zero point 0)
            if (rest != 0) mask |= 1 << (4 * kx + v);
            const int at = ((kx * 4 + v) * 16 + lane) * 4 + k;
            column[at] = static_cast<int8_t>(part);
            remainder[at] = static_cast<int8_t>(rest > 127 ? 0 : rest);
          }
        }
    for (int j = 0; j < 16; ++j) flags[j] = 0;
    flags[0] = usable, flags[1] = usable ? mask : 0;
  }
}

// bfloat16

int64_t packed_gemm_bf16_words(int k, int n, int panel_width) {
  return static_cast<int64_t>((k + 1) / 2) * round_up(n, panel_width);
}

void pack_gemm_weights_bf16(const float* b, int k, int n, int panel_width, uint32_t* packed) {
  const int panels = static_cast<int>(round_up(n, panel_width) / panel_width);
  auto at = [&](int row, int col) { return row < k && col < n ? b[static_cast<int64_t>(row) * n + col] : 0.0f; };
  for (int p = 0; p < panels; ++p)
    for (int kk = 0; kk < k; kk += 2)
      for (int j = 0; j < panel_width; ++j) {
        const int col = p * panel_width + j;
        *packed++ = bf16_pair(at(kk, col), at(kk + 1, col));
      }
}

// float16

int64_t packed_gemm_fp16_halves(int k, int n) { return round_up(k, 8) * round_up(n, kFp16PanelWidth); }

void pack_gemm_weights_fp16(const float* b, int k, int n, uint16_t* packed) {
  const int panels = static_cast<int>(round_up(n, kFp16PanelWidth) / kFp16PanelWidth);
  const int kpad = static_cast<int>(round_up(k, 8));
  for (int p = 0; p < panels; ++p)
    for (int kk = 0; kk < kpad; ++kk)
      for (int j = 0; j < kFp16PanelWidth; ++j) {
        const int col = p * kFp16PanelWidth + j;
        *packed++ = fp16_from_float(kk < k && col < n ? b[static_cast<int64_t>(kk) * n + col] : 0.0f);
      }
}

void round_to_fp16(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_from_float(src[i]);
}

namespace {

AlignedBuffer byte_buffer(int64_t bytes) { return AlignedBuffer((bytes + 3) / 4); }

// An int8 layer: weights for its kernel, and bias / multiplier / shift / column offset.
void pack_int8_layer(const LayerSpec& s, const LayerPlan& plan, const KernelTable& kernels, PackedLayer& layer) {
  const LayerSpec::Int8& q = s.int8;
  const int cp = layer.channels_padded;
  layer.int8_params = AlignedBuffer(size_t{4} * cp);
  int32_t* params = reinterpret_cast<int32_t*>(layer.int8_params.data());
  int32_t *bias = params, *multiplier = params + cp, *shift = params + 2 * cp, *col_offset = params + 3 * cp;
  if (plan.kernel == LayerKernel::Int8AvgPool) {
    if (q.mean) multiplier[0] = q.multiplier[0], shift[0] = q.shift[0];
    return;
  }
  for (int c = 0; c < s.out_c; ++c) {
    bias[c] = q.bias.empty() ? 0 : q.bias[c];
    multiplier[c] = q.multiplier[c];
    shift[c] = q.shift[c];
  }
  if (plan.kernel == LayerKernel::Int8Gemm) {
    layer.int8_weights = byte_buffer(packed_int8_gemm_bytes(s.in_c, s.out_c));
    pack_int8_gemm_weights(q.weight.data(), s.in_c, s.out_c, reinterpret_cast<int8_t*>(layer.int8_weights.data()),
                           col_offset);
    // sum_k (a - a_zp) w = sum_k a w - a_zp sum_k w: the second term is a constant.
    for (int c = 0; c < s.out_c; ++c) {
      int64_t column = 0;
      for (int kk = 0; kk < s.in_c; ++kk) column += q.weight[int64_t{kk} * s.out_c + c];
      bias[c] = static_cast<int32_t>(bias[c] - int64_t{q.in_zero_point} * column);
    }
    // Each panel's requantization constants, once here rather than in every call of every task.
    if (kernels.int8_gemm_prepare != nullptr) {
      layer.int8_prepared = byte_buffer(kernels.int8_gemm_prepared_bytes(s.out_c));
      const Int8Requant rq{bias, multiplier, shift, q.out_zero_point, q.act_min, q.act_max};
      kernels.int8_gemm_prepare(rq, s.out_c, layer.int8_prepared.data());
    }
    if (kernels.int8_gemm_split) {
      const int8_t* packed = reinterpret_cast<const int8_t*>(layer.int8_weights.data());
      const int64_t bytes = int8_split_bytes(packed, col_offset, s.in_c, s.out_c);
      if (bytes > 0) {
        layer.int8_split = byte_buffer(bytes);
        pack_int8_split(packed, col_offset, s.in_c, s.out_c, layer.int8_split.data());
      }
    }
    if (kernels.int8_gemm_bounded) {
      const int8_t* packed = reinterpret_cast<const int8_t*>(layer.int8_weights.data());
      const int64_t bytes = int8_bounded_bytes(packed, s.in_c, s.out_c);
      if (bytes > 0) {
        layer.int8_bounded = byte_buffer(bytes);
        pack_int8_bounded(packed, s.in_c, s.out_c, layer.int8_bounded.data());
      }
    }
    return;
  }
  // The stem [9 * in_c][cp] and depthwise [9][cp] taps as int16; for depthwise, then the
  // dot-product layout (pack_int8_dwconv_dot), the tail block (pack_int8_dwconv_tail)
  // and a row of the input zero point.
  const int64_t taps = plan.kernel == LayerKernel::Int8Conv3x3 ? int64_t{9} * s.in_c : 9;
  const int64_t int16_bytes = round_up(taps * cp * 2, 64);
  const bool depthwise = plan.kernel == LayerKernel::Int8DwConv3x3;
  const int blocks = depthwise ? int8_dwconv_dot_blocks(s.in_c) : 0;
  const int tail_pixels = depthwise ? int8_dwconv_tail_pixels(s.in_c, s.stride) : 0;
  const int64_t dot_bytes = (blocks + (tail_pixels > 0 ? 1 : 0)) * kInt8DwDotBlockBytes;
  // The stem: its packed block after the int16 taps (pack_int8_stem), where it fits.
  const bool stem_block = int8_stem_packs(plan.kernel, s.in_c, s.out_c);
  const int64_t stem_bytes = stem_block ? round_up(int8_stem_packed_bytes(s.in_c, s.out_c), 64) : 0;
  layer.int8_weights = byte_buffer(int16_bytes + dot_bytes + (blocks ? round_up(s.in_c, 64) : 0) + stem_bytes);
  int16_t* w = reinterpret_cast<int16_t*>(layer.int8_weights.data());
  for (int64_t t = 0; t < taps; ++t)
    for (int c = 0; c < s.out_c; ++c) w[t * cp + c] = static_cast<int16_t>(q.weight[t * s.out_c + c]);
  int8_t* dot = reinterpret_cast<int8_t*>(layer.int8_weights.data()) + int16_bytes;
  const int32_t* bias_in = q.bias.empty() ? nullptr : q.bias.data();
  if (stem_block)
    pack_int8_stem(q.weight.data(), bias_in, q.multiplier.data(), q.shift.data(), s.in_c, s.out_c, q.in_zero_point,
                   dot);
  if (blocks > 0) {
    pack_int8_dwconv_dot(q.weight.data(), bias_in, q.multiplier.data(), q.shift.data(), s.in_c, q.in_zero_point, dot);
    std::fill_n(reinterpret_cast<uint8_t*>(dot + dot_bytes), s.in_c, static_cast<uint8_t>(q.in_zero_point));
  }
  if (tail_pixels > 0) {
    const int c0 = 64 * blocks;
    pack_int8_dwconv_tail(q.weight.data() + c0, s.in_c, bias_in ? bias_in + c0 : nullptr, q.multiplier.data() + c0,
                          q.shift.data() + c0, s.in_c - c0, tail_pixels, q.in_zero_point,
                          dot + blocks * kInt8DwDotBlockBytes);
  }
  // Every packed block's constants, once here rather than in every call of every band.
  const int packed_blocks = blocks + (tail_pixels > 0 ? 1 : 0);
  if (packed_blocks > 0 && kernels.int8_dw_prepare_blocks != nullptr) {
    layer.int8_prepared = byte_buffer(kernels.int8_dw_prepared_bytes(packed_blocks));
    kernels.int8_dw_prepare_blocks(dot, packed_blocks, q.out_zero_point, q.act_min, layer.int8_prepared.data());
  }
}

PackedLayer pack_layer(const LayerSpec& s, const Layer& shape, const LayerPlan& plan, const KernelTable& kernels) {
  PackedLayer layer;
  const int pad_to = std::max(kChannelPad, kernels.gemm_panel_width);
  layer.channels_padded = static_cast<int>(round_up(s.out_c, pad_to));
  layer.bias = AlignedBuffer(layer.channels_padded);
  if (!is_int8(plan.kernel)) std::copy(s.bias.begin(), s.bias.end(), layer.bias.data());
  const int cp = layer.channels_padded;
  switch (plan.kernel) {
    case LayerKernel::Conv3x3:
      layer.weights = AlignedBuffer(size_t{9} * s.in_c * cp);
      for (int64_t t = 0; t < int64_t{9} * s.in_c; ++t)
        std::copy_n(s.weight.data() + t * s.out_c, s.out_c, layer.weights.data() + t * cp);
      if (kernels.conv3x3_uses_pair_weights(stem_shape_args(shape))) {
        layer.pair_weights = AlignedBuffer(stem_pair_weights_size(s.out_c));
        pack_stem_pair_weights(layer.weights.data(), layer.bias.data(), s.out_c, cp, layer.pair_weights.data());
      }
      break;
    case LayerKernel::DwConv3x3:
      layer.weights = AlignedBuffer(size_t{9} * cp);
      for (int t = 0; t < 9; ++t)
        std::copy_n(s.weight.data() + int64_t{t} * s.out_c, s.out_c, layer.weights.data() + int64_t{t} * cp);
      break;
    case LayerKernel::BlasGemm:  // BLAS reads the row-major [in_c][out_c] matrix as it is
      layer.weights = AlignedBuffer(s.weight.size());
      std::copy(s.weight.begin(), s.weight.end(), layer.weights.data());
      break;
    case LayerKernel::PackedGemm:
      layer.weights = AlignedBuffer(packed_gemm_size(s.in_c, s.out_c, kernels.gemm_panel_width));
      pack_gemm_weights(s.weight.data(), s.in_c, s.out_c, kernels.gemm_panel_width, layer.weights.data());
      break;
    case LayerKernel::GlobalAvgPool: break;
    case LayerKernel::Int8Conv3x3:
    case LayerKernel::Int8DwConv3x3:
    case LayerKernel::Int8Gemm:
    case LayerKernel::Int8AvgPool: pack_int8_layer(s, plan, kernels, layer); break;
    case LayerKernel::Conv3x3Bf16:  // the taps as a [9 * in_c] x out_c GEMM's B, in bf16 pairs
      layer.weights = AlignedBuffer(packed_gemm_bf16_words(9 * s.in_c, s.out_c, kernels.gemm_panel_width));
      pack_gemm_weights_bf16(s.weight.data(), 9 * s.in_c, s.out_c, kernels.gemm_panel_width,
                             reinterpret_cast<uint32_t*>(layer.weights.data()));
      break;
    case LayerKernel::PackedGemmBf16:  // 32-bit words of bf16 pairs, in the float buffer
      layer.weights = AlignedBuffer(packed_gemm_bf16_words(s.in_c, s.out_c, kernels.gemm_panel_width));
      pack_gemm_weights_bf16(s.weight.data(), s.in_c, s.out_c, kernels.gemm_panel_width,
                             reinterpret_cast<uint32_t*>(layer.weights.data()));
      break;
    // float16: the taps and bias rounded once, halves in the float buffers.
    case LayerKernel::Conv3x3Fp16:
    case LayerKernel::DwConv3x3Fp16: {
      const int64_t taps = plan.kernel == LayerKernel::Conv3x3Fp16 ? int64_t{9} * s.in_c : 9;
      std::vector<float> w(taps * cp, 0.0f);
      for (int64_t t = 0; t < taps; ++t) std::copy_n(s.weight.data() + t * s.out_c, s.out_c, w.data() + t * cp);
      layer.weights = AlignedBuffer((taps * cp + 1) / 2);
      round_to_fp16(w.data(), taps * cp, reinterpret_cast<uint16_t*>(layer.weights.data()));
      break;
    }
    case LayerKernel::PackedGemmFp16:
      layer.weights = AlignedBuffer((packed_gemm_fp16_halves(s.in_c, s.out_c) + 1) / 2);
      pack_gemm_weights_fp16(s.weight.data(), s.in_c, s.out_c, reinterpret_cast<uint16_t*>(layer.weights.data()));
      break;
  }
  if (is_fp16(plan.kernel)) {  // the bias too, in place (cp halves in cp floats)
    std::vector<float> bias(layer.bias.data(), layer.bias.data() + cp);
    round_to_fp16(bias.data(), cp, reinterpret_cast<uint16_t*>(layer.bias.data()));
  }
  return layer;
}

}  // namespace

std::vector<PackedLayer> pack_layers(const std::vector<LayerSpec>& specs, const std::vector<Layer>& layers,
                                     const Plan& plan) {
  std::vector<PackedLayer> packed;
  packed.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    packed.push_back(pack_layer(specs[i], layers[i], plan.layers[i], *plan.kernels));
  return packed;
}

}  // namespace mobilenet
