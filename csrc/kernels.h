// The kernel table: one set of function pointers per instruction set, chosen
// once at run time. Every kernel works on NHWC float32 data.
#pragma once
#include <cstdint>

#include "common.h"
#include "cpu_features.h"

namespace mobilenet {

// Packed per-channel weight and bias arrays are padded to this many channels,
// so every ISA's kernels can load whole vectors from them.
constexpr int kChannelPad = 16;
// Activation buffers end with this many readable floats, so a kernel may load
// a whole vector at the last pixel's channel tail (the extra lanes are unused).
constexpr int kBufferSlack = 16;

// Full 3x3 convolution (the stem). The input is read through strides, so the
// user's NHWC or NCHW array is used directly, without a transpose.
struct Conv3x3Args {
  const float* input;
  int in_h, in_w, in_c;
  int64_t in_row_stride, in_col_stride, in_channel_stride;  // in floats
  float* output;                                            // NHWC, dense
  int out_h, out_w, out_c;
  int stride;
  Padding pad;
  const float* weights;  // [3][3][in_c][out_c_padded]
  const float* bias;     // [out_c_padded]
  int out_c_padded;
  Clamp clamp;
  // Output row oy is written at output + (oy - output_row_offset) * out_w * out_c.
  int output_row_offset = 0;
  // The AVX-512 RGB stem's weights in its tap-pair layout (pack_stem_pair_weights),
  // or null: the kernel then packs them itself, on every call.
  const float* pair_weights = nullptr;
  // Precision::Float16: the weights and bias in fp16 (uint16_t bit patterns),
  // in the layout of weights and bias above (KernelTable::fp16_conv3x3).
  const uint16_t* weights_fp16 = nullptr;
  const uint16_t* bias_fp16 = nullptr;
  // Precision::BFloat16 (KernelTable::conv3x3_bf16): the weights as a
  // [9 * in_c] x out_c matrix in pack_gemm_weights_bf16's panels of 32 columns.
  const uint32_t* weights_bf16 = nullptr;
};

// The AVX-512 stem for RGB input at stride 2 with few output channels (where
// KernelTable::conv3x3_uses_pair_weights says so) pairs neighbouring taps: per
// 8 output channels, 15 vectors of 16 lanes hold (channel, tap pair) and a
// 16th the bias in its even lanes.
// packed[((ky * 5 + j) * nv + v) * 16 + 2k + t] = weight of tap 2j + t of
// kernel row ky for channel 8v + k (0 for the missing tap 9), nv = ceil(out_c / 8).
constexpr int kStemPairVectors = 16;
int64_t stem_pair_weights_size(int out_c);
// weights: [3][3][3][out_c_padded] as Conv3x3Args holds them; bias: [out_c].
void pack_stem_pair_weights(const float* weights, const float* bias, int out_c, int out_c_padded, float* packed);

// Depthwise 3x3 convolution. Rows of the padding border are read from
// zero_row instead of being copied into a padded buffer.
struct DwConvArgs {
  const float* input;  // NHWC (pixels in_pixel_stride apart), followed by kBufferSlack readable floats
  int in_h, in_w, channels;
  // > 0: the input is a ring of this many rows, row iy at slot iy % in_ring_rows.
  int in_ring_rows = 0;
  float* output;  // NHWC (pixels out_pixel_stride apart)
  int out_h, out_w;
  int stride;
  Padding pad;
  const float* weights;  // [9][channels_padded]
  const float* bias;     // [channels_padded]
  int channels_padded;
  const float* zero_row;  // in_w * (input pixel stride) + kBufferSlack zeros
  Clamp clamp;
  // Output row oy is written at output + (oy - output_row_offset) * out_w * out_pixel_stride,
  // so a band of rows can go to a small buffer of its own.
  int output_row_offset = 0;
  // Floats from one pixel to the next (0: channels): padded activations, or a
  // slice of a wider tensor's channels (starting at a multiple of kChannelPad,
  // with weights and bias from there).
  int in_pixel_stride = 0, out_pixel_stride = 0;
  // Precision::Float16: the weights and bias in fp16, in the layout of weights
  // and bias above (KernelTable::fp16_dwconv3x3).
  const uint16_t* weights_fp16 = nullptr;
  const uint16_t* bias_fp16 = nullptr;
};

// bfloat16 activations in the AMX A-tile layout (KernelTable::dwconv3x3_bf16_tiles
// writes it, the AMX gemm_bf16 reads it through GemmBf16Args::a_tiles): pixel p
// (a row of the GEMM's A), channels [32b, 32b + 32) are 64 contiguous bytes at
// bf16 element ((p / 16) * blocks + b) * 512 + (p % 16) * 32, blocks = channels / 32.
// So 16 pixels x 32 channels are one 1 KB A tile, and a group of 16 pixels the
// `blocks` tiles that follow each other. Channels must be a multiple of 32
// (there is no zero padding of k in this layout).
constexpr int kBf16TileRows = 16;
constexpr int kBf16TileChannels = 32;
// bf16 elements of a buffer that holds `pixels` pixels of `channels` in that layout.
inline int64_t bf16_tiles_elements(int64_t pixels, int channels) {
  return (pixels + kBf16TileRows - 1) / kBf16TileRows * kBf16TileRows * channels;
}

// bfloat16 activations as rows of pairs (KernelTable::dwconv3x3_bf16_rows
// writes them, gemm_bf16 reads them through GemmBf16Args::a_pairs): pixel p's
// channels c and c + 1 (c even) are one 32-bit word, c in the low half, at word
// p * stride + c / 2. A float32 buffer holds them at stride channels / 2 floats
// a pixel. Channels must be even.
inline bool bf16_rows_channels(int channels) { return channels % 2 == 0; }

// C[m x n] = A[m x k] * B + bias, clamped, with B packed once at load by
// pack_gemm_weights into panels of gemm_panel_width columns.
struct GemmArgs {
  const float* a;
  int64_t lda;
  const float* packed_b;
  const float* bias;  // [n padded to kChannelPad]
  float* c;
  int64_t ldc;
  int m, n, k;
  Clamp clamp;
  // Rows of the whole GEMM that [m_begin, m_end) belongs to. Thin tiles sum k
  // in partial sums; how many is decided from these rows, never from the
  // tile, so a row comes out the same however the rows are split (threads).
  int layer_rows;
  // Where a tile's weights pass this many bytes, k runs in blocks (kernels/shared.h);
  // 0: the kernel's own 32 KB. The plan chooses it for the CPU (gemm_k_block_bytes).
  int64_t k_block_bytes = 0;
};

// ---------------------------------------------------------------- int8 (Precision::Int8)
// TFLite's integer arithmetic. Activations are stored as uint8: a uint8 tensor
// as it is, an int8 tensor as value + 128 (its zero point + 128 too), so one
// set of kernels serves both. Weights arrive as effective values w - w_zp.

// The requantization epilogue of TFLite's reference kernels, per output channel:
// out = clamp(out_zp + MultiplyByQuantizedMultiplier(acc + bias, multiplier, shift)).
struct Int8Requant {
  const int32_t* bias;                   // [channels padded], the zero-point corrections folded in
  const int32_t* multiplier;             // [channels padded], Q31
  const int32_t* shift;                  // [channels padded], TFLite's exponent (> 0: left shift)
  int out_zero_point, act_min, act_max;  // in the uint8 storage
};

// The stem (3x3, any stride) and depthwise 3x3 layers: NHWC uint8, dense pixels.
struct Int8ConvArgs {
  const uint8_t* input;
  int in_h, in_w, in_c;
  uint8_t* output;
  int out_h, out_w, out_c;
  int stride;
  Padding pad;
  // Effective weights w - w_zp: the stem [3][3][in_c][channels_padded],
  // depthwise [3][3][channels_padded].
  const int16_t* weights;
  int channels_padded;
  int in_zero_point;  // taps in the padding contribute nothing (TFLite pads with the zero point)
  Int8Requant rq;
  // Depthwise only, optional (null: the kernel does without): the first
  // dot_blocks * 64 channels in pack_int8_dwconv_dot's layout, and a row of
  // in_c bytes of the zero point that padding taps read instead of pixels.
  const int8_t* dot = nullptr;
  const uint8_t* zero_point_row = nullptr;
  int dot_blocks = 0;
  // Optional too: the channels past the dot blocks as one block packed by
  // pack_int8_dwconv_tail (null: a kernel that uses one packs it per call).
  const int8_t* dot_tail = nullptr;
  // The stem only, optional (null: the kernel does without): the weights
  // packed once by pack_int8_stem.
  const int8_t* stem = nullptr;
  // Depthwise only, optional (null: the kernel prepares them per call): the
  // constants of the packed blocks (the dot blocks, then the tail block) as
  // KernelTable::int8_dw_prepare_blocks worked them out once at packing.
  const void* dw_prepared = nullptr;
};

// The stem (in_c <= kInt8StemPackedMaxInC, out_c <= kInt8StemPackedMaxOutC)
// for the dot-product GEMM of each output pixel's 9 in_c taps, packed once:
// lanes = int8_stem_lanes(out_c) columns, where out_c <= 8 puts two pixels
// in each 16 lanes (lane L: pixel L % 2, channel L / 2, zero weights past
// out_c), else lane L is channel L. Layout: the effective weights [9 in_c]
// [lanes] in pack_int8_gemm_weights' layout (packed_int8_gemm_bytes(9 in_c,
// lanes) bytes), then 4 int32 arrays of `lanes`: bias less in_zero_point times
// the channel's weight sum (padding taps read the zero point), multiplier,
// shift, column offset.
//
// After that block (at int8_stem_rows_offset), the window-rows block, for
// kernels that read each output pixel's taps straight from the image: a
// window row's 3 in_c bytes as 3 dwords (in_c = 3; the 3 bytes past them
// times zero weights), 9 groups g = 3 ky + j of 4 bytes, no column offsets:
// an effective weight w is main + remainder, main = w clamped to int8.
// Lanes: int8_stem_lanes, but out_c <= 8 puts lane L on pixel L / 8's channel
// L % 8 (two pixels a vector, 8 lanes each). Layout: int32 header
// [16]: [0] 1 where the block applies (in_c = 3 and every w in [-255, 254],
// so both parts fit int8), else 0 and nothing follows; [1 + p] panel p's
// groups with remainders (bit g); then main [panel][9][16 lanes][4 bytes],
// remainder (the same), and int32 bias (as above), multiplier, shift [lanes].
constexpr int kInt8StemPackedMaxInC = 3, kInt8StemPackedMaxOutC = 128, kInt8StemRowGroups = 9;
int int8_stem_lanes(int out_c);
int64_t int8_stem_rows_offset(int in_c, int out_c);
int64_t int8_stem_packed_bytes(int in_c, int out_c);
// weights [9 in_c][out_c] (effective), bias (may be null), multiplier, shift [out_c].
void pack_int8_stem(const int32_t* weights, const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                    int in_c, int out_c, int in_zero_point, int8_t* packed);

// Depthwise weights for the int8 dot-product instructions, per block b of 64
// channels: 3 tap groups g (taps 4g..4g+3, zero past tap 8), each 4 vectors v of
// 16 lanes, lane L holding channel 64b + 16 (L / 4) + 4v + L % 4 (the order in
// which byte and word interleaves of 4 taps' pixels meet the channels) as 4
// int8 weights, w - offset; then, in that lane order, 4 int32 arrays of 64:
// bias (less in_zero_point times the channel's weight sum: padding taps read
// the zero point), multiplier, shift, the channel's weight offset, and 128
// times the channel's weight sum (NEON's sdot multiplies x - 128 as an int8:
// sum (x - 128) w + 128 sum w = sum x w). Then the column layout (AVX-512's
// interior pixels): 3 columns kx, each 4 vectors v of 16 lanes in the same lane
// order, lane L holding the channel's taps 0-2 of column kx (rows ky = 0, 1, 2:
// tap 3 ky + kx) and a zero, as clamp(w, -128, 127); the same again with the
// remainders w - clamp(w, -128, 127); 16 int32: whether the layout holds every
// weight (not where a remainder is 128, i.e. w = 255), and a mask of the
// vectors 4 kx + v whose remainders are not all zero.
constexpr int64_t kInt8DwColumnOffset = 3 * 4 * 64 + 5 * 64 * 4;
constexpr int64_t kInt8DwDotBlockBytes = kInt8DwColumnOffset + 2 * 3 * 4 * 64 + 64;
int int8_dwconv_dot_blocks(int channels);
// The channels past the last full block (rest = channels % 64) in one block of
// that layout, `pixels` output pixels side by side: lane j holds channel j % rest
// (zero weights from pixels * rest on). How many pixels: where the rest is all
// of the layer's channels and a multiple of 8, as many as fit at strides 1 and
// 2 (8, 16 and 32 channels fill the block), else one; 0: no block (no rest, or
// fewer than 16 channels after full blocks).
int int8_dwconv_tail_pixels(int channels, int stride);
// weights [9][ldw] and bias (may be null), multiplier, shift from the rest's first channel.
void pack_int8_dwconv_tail(const int32_t* weights, int ldw, const int32_t* bias, const int32_t* multiplier,
                           const int32_t* shift, int rest, int pixels, int in_zero_point, int8_t* packed);
void pack_int8_dwconv_dot(const int32_t* weights, const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                          int channels, int in_zero_point, int8_t* packed);

// C[m x n] = requantize(A[m x k] (uint8) * B), B packed once by pack_int8_gemm_weights:
// panels of 16 columns, k in groups of 4: packed[(p * k4 + g) * 64 + 4 * j + t] =
// B[4g + t][16p + j] - col_offset[16p + j], an int8 (zero-padded), k4 = ceil(k / 4).
// The sum is sum_k a * packed + col_offset[j] * sum_k a + bias[j] (col_offset is 0
// for int8 weights; for uint8 weights it keeps the int8 part in range).
// The panels are followed by round_up(n, 16) int32: 128 times each column's sum
// of its packed int8 values (NEON's sdot multiplies a - 128 as an int8:
// sum (a - 128) b + 128 sum b = sum a b).
struct Int8GemmArgs {
  const uint8_t* a;
  int64_t lda;
  const int8_t* packed_b;
  const int32_t* col_offset;  // [n padded]
  bool has_col_offset;
  uint8_t* c;
  int64_t ldc;
  int m, n, k;
  Int8Requant rq;
  // Optional (null: the kernel prepares them per call): each 16-column panel's
  // requantization constants, KernelTable::int8_gemm_prepare's, from column 0 of this call.
  const void* rq_prepared = nullptr;
  // Optional (KernelTable::int8_gemm_bounded): B split by pack_int8_bounded, from column 0 of this call.
  const void* bounded = nullptr;
  // Optional (KernelTable::int8_gemm_split): the panels with column offsets split by
  // pack_int8_split, from column 0 of this call; where set, no panel takes col_offset.
  const void* split = nullptr;
};
constexpr int kInt8PanelWidth = 16;

// B split for vpmaddubsw, which sums two uint8 x int8 products into an int16
// with saturation: a bounded part, whose pairs of k (4g, 4g + 1 and 4g + 2,
// 4g + 3) have |w| + |w'| <= 128 (at most 255 x 128 = 32640: exact), and the
// rest, a short list per panel. Packed weights of quantization-aware trained
// models leave 0.001-0.1% of their weights beyond the bound; post-training
// per-channel int8 ones 5-30%, which would cost more than they save
// (int8_bounded_bytes is then 0). Per panel of 16 columns,
// int8_bounded_panel_bytes(k) bytes: the bounded part in the panel layout of
// pack_int8_gemm_weights (k4 x 64 bytes), then the int32 count and the int32
// offset (in bytes, from the panel's start) of its list of remainders, int32s
// (k << 16) | (column in the panel << 8) | (uint8) remainder (in [-64, 63]).
int64_t int8_bounded_panel_bytes(int k);
// The bytes of the split of packed B (pack_int8_gemm_weights), or 0 where more
// than 1 in kInt8BoundedMaxShare of its weights lie beyond the bound.
constexpr int kInt8BoundedMaxShare = 512;
int64_t int8_bounded_bytes(const int8_t* packed, int k, int n);
void pack_int8_bounded(const int8_t* packed, int k, int n, void* out);

// B's panels with column offsets, split for the dot-product GEMM: with v = packed + col_offset
// (B itself), sum_k a v = sum_k a main + sum_k a rem, main = clamp(v, -128, 127), rem = v - main,
// so the GEMM needs no row sums of A, and the uint8 models' 1-3 weights past int8 a layer cost a
// few extra dot products. The layout: an int32 per panel of 16 columns (from column 0): the bytes
// from that int32 to the panel's record, or 0 where the panel has no column offset (packed B's
// panel serves); padded to 64 bytes. Each record (64-aligned): main in the panel layout of
// pack_int8_gemm_weights (k4 x 64 bytes); 64 bytes of int32s: the count of k groups (of 4) with
// remainders, at most kInt8SplitMaxGroups, and those groups; then a 64-byte vector of
// remainders per group, in the panel layout.
constexpr int kInt8SplitMaxGroups = 15;
// The bytes of the split, or 0 where it does not apply: no column offsets, a remainder of 128
// (a weight of 255 at zero point 0), or a panel with more than kInt8SplitMaxGroups groups.
int64_t int8_split_bytes(const int8_t* packed, const int32_t* col_offset, int k, int n);
void pack_int8_split(const int8_t* packed, const int32_t* col_offset, int k, int n, void* out);

// Global average pool of uint8 storage, clamped to [act_min, act_max]:
// AVERAGE_POOL_2D (mean = false) rounds the mean of the values (half up for
// uint8 tensors; half away from zero for int8 ones, whose values are storage -
// 128: signed_values); MEAN (mean = true) sums the values less in_zero_point,
// rescales the sum by multiplier and shift (the 1 / pixels folded in, as
// TFLite's QuantizedMeanOrSum does) and adds out_zero_point.
struct Int8PoolArgs {
  const uint8_t* input;
  int pixels, channels;
  uint8_t* output;
  bool signed_values;
  int act_min, act_max;
  bool mean = false;
  int in_zero_point = 0, out_zero_point = 0;
  int32_t multiplier = 0, shift = 0;
};

// The widest k the bf16 GEMM takes (it rounds a few rows of A to bf16 at a
// time on its stack); the plan runs wider layers in float32.
constexpr int kGemmBf16MaxK = 8192;

// bfloat16 (Precision::BFloat16): C[m x n] = A[m x k] * B + bias, clamped, with
// A read as float32 and rounded to bf16 (bf16.h) as the kernel reads it, B
// rounded to bf16 once at load by pack_gemm_weights_bf16, products summed in
// float32 and C written in float32.
struct GemmBf16Args {
  const float* a;
  int64_t lda;
  const uint32_t* packed_b;  // pairs of bf16 along k (bf16_pair)
  const float* bias;         // [n padded to kChannelPad], float32
  float* c;
  int64_t ldc;
  int m, n, k;
  Clamp clamp;
  int layer_rows;  // as GemmArgs::layer_rows
  // Where not null (AMX only: KernelTable::dwconv3x3_bf16_tiles), A is already
  // bf16 in the A-tile layout, row r of the GEMM at pixel r of it (a and lda
  // unused, k a multiple of kBf16TileChannels): the kernel loads its tiles as
  // they lie, with no rounding pass. Rows of a group of 16 outside [m_begin,
  // m_end) are read (and computed, not stored): they must be readable memory.
  const uint16_t* a_tiles = nullptr;
  // Where not null (vdpbf16ps, bfdot and the scalar reference: KernelTable::dwconv3x3_bf16_rows),
  // A is already bf16 as rows of pairs: row r's k / 2 pairs (k even) from word
  // r * a_pair_stride (a and lda unused). The kernel reads them as they lie, with no rounding pass.
  const uint32_t* a_pairs = nullptr;
  int64_t a_pair_stride = 0;
};

// float16 (Precision::Float16, Armv8.2 FP16 arithmetic; kernels/fp16.h):
// C[m x n] = A[m x k] * B + bias, clamped, with A read as float32 and rounded
// to fp16 (fp16.h) as the kernel reads it, B and the bias rounded to fp16 once
// at load by pack_gemm_weights_fp16, every product summed in fp16 (one FMA
// per k, in order of k) and C widened to float32.
constexpr int kFp16PanelWidth = 8;
// The widest k the fp16 GEMM takes (it rounds rows of A on its stack); the
// plan runs wider layers in float32.
constexpr int kGemmFp16MaxK = 16384;
struct GemmFp16Args {
  const float* a;
  int64_t lda;
  const uint16_t* packed_b;  // panels of kFp16PanelWidth columns, k padded to a multiple of 8 with zeros
  const uint16_t* bias;      // [n padded to kChannelPad], fp16
  float* c;
  int64_t ldc;
  int m, n, k;
  Clamp clamp;
};

struct KernelTable {
  Isa isa;
  const char* name;
  int vector_width;      // floats per vector register
  int gemm_panel_width;  // GEMM tile: gemm_tile_rows x gemm_panel_width
  int gemm_tile_rows;
  int gemm_tile_panels;  // panels the widest tile spans: split columns in multiples of it

  // A kernel with variants picks one from its arguments; its *_variant
  // function names that pick (the middle of Network::kernel_name, so a profile
  // says what ran; short, to fit the profile's table). The kernel itself dispatches through the same choice, so
  // the name and what runs cannot disagree. The choice depends on the layer's
  // shape and pixel strides only: not on the rows or columns a call asks for,
  // the input's layout, a ring of input rows, or where the buffers are.

  // Output rows [row_begin, row_end) of one image.
  void (*conv3x3)(const Conv3x3Args& args, int row_begin, int row_end);
  // "taps" (one tap a broadcast), "tap_pairs" (AVX-512, RGB: two taps a broadcast).
  const char* (*conv3x3_variant)(const Conv3x3Args& args);
  // Whether conv3x3 reads Conv3x3Args::pair_weights for this shape (pack them at load).
  bool (*conv3x3_uses_pair_weights)(const Conv3x3Args& args);
  void (*dwconv3x3)(const DwConvArgs& args, int row_begin, int row_end);
  // "rows" (one output row at a time), "blocks" (of output rows, where three
  // input rows overflow L1), "packed" (a few channels: several pixels packed
  // side by side in a vector).
  const char* (*dwconv3x3_variant)(const DwConvArgs& args);
  // Adds bias[j] to every row of c and clamps: the epilogue of a BLAS GEMM.
  void (*bias_activation)(float* c, int rows, int cols, int64_t ldc, const float* bias, Clamp clamp);
  // out[c] = mean over pixels of in[p][c]
  void (*global_avgpool)(const float* in, int pixels, int channels, float* out);
  // Rows [m_begin, m_end) and panels [panel_begin, panel_end) of a packed GEMM.
  void (*gemm)(const GemmArgs& args, int m_begin, int m_end, int panel_begin, int panel_end);
  // The tile of most of the layer's columns (args.n): e.g. "gemm6x64" (two
  // panels), "gemm12x32" where one panel, "gemm24x16" where one vector.
  const char* (*gemm_variant)(const GemmArgs& args);
  // True when none of the count values is NaN or +-Inf (the input check of a
  // forward pass: ReLU's clamp would otherwise turn a NaN into a plausible 0).
  bool (*all_finite)(const float* data, int64_t count);
  // TFLite's QUANTIZE of the input, count values in order (quantize_input.h calls it).
  uint32_t (*int8_quantize_row)(const float* in, int64_t count, float scale, float lo, float hi, int32_t offset,
                                uint8_t* out);

  // int8 (Precision::Int8), see Int8ConvArgs and friends.
  // Output rows [row_begin, row_end) of one image.
  void (*int8_conv3x3)(const Int8ConvArgs& args, int row_begin, int row_end);
  void (*int8_dwconv3x3)(const Int8ConvArgs& args, int row_begin, int row_end);
  // Rows [m_begin, m_end) of the GEMM, every panel.
  void (*int8_gemm)(const Int8GemmArgs& args, int m_begin, int m_end);
  // "gemm_u8s8" (the portable form), "vnni6x64" (vpdpbusd), "sdot4x16" (NEON dot product), ...
  const char* (*int8_gemm_variant)(const Int8GemmArgs& args);
  // Rows int8_gemm computes as one block (32 on AMX tiles, which round a call's rows up to
  // 16 and prepare every column group's constants per call; 1 for the others): threads
  // split the rows at multiples of it.
  int int8_gemm_row_block;
  // The depthwise form for the layer's shape (in_c): "sdot" / "smlal" (NEON),
  // "vnni" / "mullo" (AVX-512), "portable".
  const char* (*int8_dwconv3x3_variant)(const Int8ConvArgs& args);
  void (*int8_avgpool)(const Int8PoolArgs& args);

  // bfloat16. gemm_bf16 is null where this instruction set has no bf16
  // kernels (AVX2, NEON for now); the scalar one
  // is the reference: it rounds as the hardware does and sums each pair of
  // products in the order vdpbf16ps does, one float32 rounding per product.
  // The panels are gemm_panel_width columns wide, as for gemm.
  void (*gemm_bf16)(const GemmBf16Args& args, int m_begin, int m_end, int panel_begin, int panel_end);
  // The tile of most of the layer's columns, e.g. "bf16gemm6x64".
  const char* (*gemm_bf16_variant)(const GemmBf16Args& args);
  // Whether gemm_bf16 is a fast kernel (vdpbf16ps or FMA), not the scalar emulation.
  bool bf16_fast;
  // Whether the plan runs every GEMM of a bf16 network in bf16 with these
  // kernels: where gemm_bf16 does twice the float32 GEMM's multiply-adds per
  // instruction (vdpbf16ps), and on the scalar reference. The FMA way does the
  // float32 GEMM's work plus the unpacking, so it pays only where the weights
  // come from memory (half the bytes): the plan keeps the other GEMMs float32.
  bool bf16_every_gemm;
  // Whether gemm_bf16 runs on AMX tiles (tdpbf16ps, kernels_amx.cpp): same
  // packing, but its sums are not bit-identical to vdpbf16ps's.
  bool bf16_amx;

  // float16 (Precision::Float16): null where this instruction set has no fp16
  // kernels or the CPU lacks FP16 arithmetic (asimdhp); the scalar ones are the
  // reference, emulating each fp16 operation with its rounding (fp16.h).
  void (*fp16_conv3x3)(const Conv3x3Args& args, int row_begin, int row_end);
  void (*fp16_dwconv3x3)(const DwConvArgs& args, int row_begin, int row_end);
  // Rows [m_begin, m_end) and panels (of kFp16PanelWidth columns) [panel_begin, panel_end).
  void (*fp16_gemm)(const GemmFp16Args& args, int m_begin, int m_end, int panel_begin, int panel_end);
  const char* (*fp16_gemm_variant)(const GemmFp16Args& args);
  // Whether the fp16 kernels run on the CPU's own FP16 arithmetic (not the scalar emulation).
  bool fp16_fast;

  // bfloat16 on AMX: the float32 depthwise kernel (dwconv3x3, the same
  // variants and sums) with its clamped outputs rounded to bf16 as the bf16
  // GEMM rounds A (vcvtneps2bf16: nearest even, denormals flushed) and written
  // in the A-tile layout (kBf16TileRows), args.output the layout's start and
  // args.output_row_offset as for dwconv3x3 (out_pixel_stride unused;
  // channels a multiple of kBf16TileChannels). Null where gemm_bf16 is not on AMX tiles.
  void (*dwconv3x3_bf16_tiles)(const DwConvArgs& args, int row_begin, int row_end);
  // bfloat16: the stem (9 * in_c <= 32 taps) as a GEMM over its windows, its
  // inputs rounded to bf16 as the GEMM rounds A, its weights
  // Conv3x3Args::weights_bf16, float32 sums and output, on AMX tiles
  // (tdpbf16ps) or vdpbf16ps as gemm_bf16 is. Null where gemm_bf16 is neither,
  // or MOBILENET_BF16_STEM=0 (bf16_stem_preferred).
  void (*conv3x3_bf16)(const Conv3x3Args& args, int row_begin, int row_end);
  // bfloat16 on vdpbf16ps, bfdot and the scalar reference: the float32 depthwise
  // kernel (dwconv3x3's variant for the shape, the same sums) with its
  // clamped outputs rounded to bf16 as gemm_bf16 rounds A, written as rows of
  // pairs (kernels.h), args.out_pixel_stride words a pixel (0: channels / 2):
  // gemm_bf16's A through GemmBf16Args::a_pairs. Channels: bf16_rows_channels.
  // Null where gemm_bf16 is on AMX tiles or by FMA, or with MOBILENET_BF16_ROWS=0.
  void (*dwconv3x3_bf16_rows)(const DwConvArgs& args, int row_begin, int row_end);

  // int8 depthwise: the per-block constants (requantization, bias, weight
  // offsets) of `blocks` blocks in pack_int8_dwconv_dot's layout, worked out
  // once at packing into int8_dw_prepared_bytes(blocks) bytes (64-byte
  // aligned) for Int8ConvArgs::dw_prepared, instead of in every call (every
  // thread's band). Null where the kernels prepare none.
  int64_t (*int8_dw_prepared_bytes)(int blocks) = nullptr;
  void (*int8_dw_prepare_blocks)(const int8_t* dot, int blocks, int out_zero_point, int act_min,
                                 void* prepared) = nullptr;
  // int8 GEMM: the requantization constants of n columns (rq's multiplier,
  // shift, zero point and clamp), int8_gemm_prepared_bytes(n) bytes per call of
  // int8_gemm_prepare (those of 16 columns, a panel, are
  // int8_gemm_prepared_bytes(16)), for Int8GemmArgs::rq_prepared. Null where none.
  int64_t (*int8_gemm_prepared_bytes)(int n) = nullptr;
  void (*int8_gemm_prepare)(const Int8Requant& rq, int n, void* prepared) = nullptr;
  // Whether int8_gemm runs Int8GemmArgs::bounded where a layer has it (AVX2 without AVX-VNNI).
  bool int8_gemm_bounded = false;
  // Whether int8_gemm runs Int8GemmArgs::split where a layer has it (AVX512-VNNI).
  bool int8_gemm_split = false;
};

// Columns [n0, n1) of g as a GEMM of their own (n0 a multiple of kInt8PanelWidth): B's panels,
// the column constants, C and the prepared data (rq_prepared by kt's layout, bounded, split) from n0 on.
// The executor's column split runs these, on kernels where a range of panels is a GEMM of its own.
Int8GemmArgs int8_gemm_columns(const KernelTable& kt, const Int8GemmArgs& g, int n0, int n1);

// The largest input channel count of a stem that KernelTable::conv3x3_bf16 takes (9 taps each, 32 at most).
constexpr int kConv3x3Bf16MaxInC = 3;

const KernelTable& kernel_table(Isa isa);

// Packs B [k x n] (row-major) into column panels of `panel_width`, zero-padded:
// panel p holds B[:, p*w : (p+1)*w] as k rows of w floats.
int64_t packed_gemm_size(int k, int n, int panel_width);
void pack_gemm_weights(const float* b, int k, int n, int panel_width, float* packed);

// int8: B [k x n] (effective weights, row-major) into Int8GemmArgs' layout
// (the panels, then the column sums); col_offset [round_up(n, kInt8PanelWidth)]
// receives each column's offset.
int64_t packed_int8_gemm_bytes(int k, int n);
void pack_int8_gemm_weights(const int32_t* b, int k, int n, int8_t* packed, int32_t* col_offset);

// bfloat16: B [k x n] (row-major) rounded to bf16 into column panels of
// `panel_width`, each row of a panel a pair of k rows (k padded to even with
// zeros): panel p, pair q holds the words bf16_pair(B[2q][j], B[2q+1][j]) for
// its w columns j. Sizes in 32-bit words.
int64_t packed_gemm_bf16_words(int k, int n, int panel_width);
void pack_gemm_weights_bf16(const float* b, int k, int n, int panel_width, uint32_t* packed);

// float16: B [k x n] (row-major) rounded to fp16 into GemmFp16Args' layout:
// panel p holds rows kk < round_up(k, 8) of kFp16PanelWidth halves, zero past k and n.
int64_t packed_gemm_fp16_halves(int k, int n);
void pack_gemm_weights_fp16(const float* b, int k, int n, uint16_t* packed);
// n values rounded to fp16 (nearest, ties to even), for biases and taps.
void round_to_fp16(const float* src, int64_t n, uint16_t* dst);

}  // namespace mobilenet
