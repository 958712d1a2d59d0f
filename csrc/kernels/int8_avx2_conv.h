// The int8 stem and depthwise 3x3 kernels on AVX2 (included by int8_avx2.h,
// after the GEMM). Exact as the GEMM is: never vpmaddubsw (its int16 sums of
// two u8 x s8 products saturate); either pixels and weights widened to int16
// and multiplied in pairs by vpmaddwd (each pair sum, at most 2 x 255 x 255,
// exact in an int32 lane), or AVX-VNNI's vpdpbusd (u8 x s8, four products
// into an int32 lane, no saturation) where the CPU has it.
// Taps in the padding read the input zero point (as TFLite pads), and the
// bias holds bias - in_zero_point x (the channel's weight sum), so the sums
// need no per-tap subtraction: sum (x - zp) w = sum x w - zp sum w (mod 2^32,
// as TFLite's int32 wraps).

// ------------------------------------------------------------------ depthwise
// vpmaddwd: per 16 channels, the 9 taps in 5 pairs (taps 2p, 2p + 1; the
// fifth: tap 8 and nothing). vpunpcklwd / vpunpckhwd of two taps' widened
// pixels give (channels 0-3 | 8-11) and (4-7 | 12-15) with the two taps side
// by side; the weights are interleaved once per call the same way (a few KB
// per chunk of channels, on the stack), and one vperm2i128 each puts the
// sums back in channel order.
constexpr int kInt8DwChunk = 256;

struct alignas(32) Int8DwPairs {
  __m256i w[kInt8DwChunk / 16][5][2];  // [group of 16 channels][pair][unpacklo, unpackhi order]
  Int8Rq8 rq[kInt8DwChunk / 8];        // the requantization constants of 8 channels
  int32_t bias[kInt8DwChunk];          // bias - zp x the channel's weight sum
};

inline void int8_dw_pairs_prepare(const Int8ConvArgs& a, int c0, int c1, Int8DwPairs& pw) {
  const int64_t cp = a.channels_padded;
  const __m256i zero = _mm256_setzero_si256();
  for (int c = c0; c < c1; c += 16) {  // the weights are zero-padded to channels_padded (a multiple of 16)
    const int j = (c - c0) / 16;
    for (int p = 0; p < 5; ++p) {
      const __m256i wa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.weights + 2 * p * cp + c));
      const __m256i wb =
          p < 4 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.weights + (2 * p + 1) * cp + c)) : zero;
      pw.w[j][p][0] = _mm256_unpacklo_epi16(wa, wb);
      pw.w[j][p][1] = _mm256_unpackhi_epi16(wa, wb);
    }
  }
  for (int c = c0; c < c1; ++c) {
    uint32_t sum = 0;
    for (int t = 0; t < 9; ++t) sum += static_cast<uint32_t>(int32_t{a.weights[t * cp + c]});
    pw.bias[c - c0] =
        static_cast<int32_t>(static_cast<uint32_t>(a.rq.bias[c]) - static_cast<uint32_t>(a.in_zero_point) * sum);
  }
  for (int c = c0; c < c0 + (c1 - c0 + 15) / 16 * 16; c += 8)  // multiplier and shift: padded to channels_padded
    int8_rq8_prepare(a.rq.multiplier + c, a.rq.shift + c, a.rq.out_zero_point, a.rq.act_min, a.rq.act_max,
                     pw.rq[(c - c0) / 8]);
}

// 16 requantized int32 (channels 0-7, 8-15) to bytes: `left` of them stored.
inline void int8_store16(uint8_t* out, __m256i q0, __m256i q1, int left) {
  const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
  const __m128i bytes = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi16(words, words), 0x08));
  if (left >= 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
    return;
  }
  if (left == 8) {  // the stem's 8 channels (alpha 0.25)
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), bytes);
    return;
  }
  alignas(16) uint8_t tmp[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(tmp), bytes);
  for (int j = 0; j < left; ++j) out[j] = tmp[j];
}

// The sums of 16 channels at one pixel (tap[t] + c: the tap's pixels), in channel order.
inline void int8_dw_madd16(const uint8_t* const* tap, int c, const __m256i (&w)[5][2], __m256i& s0, __m256i& s1) {
  auto load = [&](int t) {
    return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tap[t] + c)));
  };
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  for (int p = 0; p < 4; ++p) {
    const __m256i xa = load(2 * p), xb = load(2 * p + 1);
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), w[p][0]));
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), w[p][1]));
  }
  const __m256i x8 = load(8), zero = _mm256_setzero_si256();
  lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x8, zero), w[4][0]));
  hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x8, zero), w[4][1]));
  s0 = _mm256_permute2x128_si256(lo, hi, 0x20);
  s1 = _mm256_permute2x128_si256(lo, hi, 0x31);
}

// The same along rows (strides 1 and 2): each input column's 16 channels are
// widened and interleaved once and serve every output pixel whose window
// holds it, not once per tap. The pairs: rows 0 and 1 of a column (taps
// (0, kx), (1, kx)), and row 2 of two neighbouring columns (x, x + 1): taps
// (2, 0), (2, 1) of the pixel whose window starts at x, and (2, 2) (against
// a zero weight for (2, 1)) of the pixel whose window starts at x - 1; 5
// vpmaddwd per 8 channels and pixel as before, but 7 widening shuffles per
// column instead of 21 per pixel. The lanes stay in vpunpck order (channels
// 0-3 | 8-11, 4-7 | 12-15): the bias and requantization constants are
// permuted to match, and one vpackssdw puts them back in channel order.
struct alignas(32) Int8DwRowPairs {
  __m256i w[kInt8DwChunk / 16][5][2];  // [group][(0,x)+(1,x) for x = 0..2, (2,0)+(2,1), 0+(2,2)][lo, hi]
  Int8Rq8 rq[kInt8DwChunk / 8];        // [2 group + half], permuted lanes
  int32_t bias[kInt8DwChunk];          // bias - zp x the weight sum, permuted lanes
  int32_t multiplier[kInt8DwChunk], shift[kInt8DwChunk];  // permuted (rq's general form reads them)
};

inline void int8_dw_row_pairs_prepare(const Int8ConvArgs& a, int c0, int c1, Int8DwRowPairs& pw) {
  const int64_t cp = a.channels_padded;
  const __m256i zero = _mm256_setzero_si256();
  auto tap = [&](int t, int c) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.weights + t * cp + c)); };
  for (int c = c0; c < c1; c += 16) {  // the weights are zero-padded to channels_padded (a multiple of 16)
    const int j = (c - c0) / 16;
    const __m256i first[5] = {tap(0, c), tap(1, c), tap(2, c), tap(6, c), zero};
    const __m256i second[5] = {tap(3, c), tap(4, c), tap(5, c), tap(7, c), tap(8, c)};
    for (int p = 0; p < 5; ++p) {
      pw.w[j][p][0] = _mm256_unpacklo_epi16(first[p], second[p]);
      pw.w[j][p][1] = _mm256_unpackhi_epi16(first[p], second[p]);
    }
  }
  // The lanes of a group's halves: (channels 0-3 | 8-11) and (4-7 | 12-15), as vpunpck{l,h}wd leave them.
  auto halves = [](const int32_t* p, __m256i& lo, __m256i& hi) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 8));
    lo = _mm256_permute2x128_si256(a, b, 0x20), hi = _mm256_permute2x128_si256(a, b, 0x31);
  };
  const __m256i zp = _mm256_set1_epi32(a.in_zero_point);
  for (int c = c0; c < c0 + (c1 - c0 + 15) / 16 * 16; c += 16) {  // bias, multiplier, shift: padded to channels_padded
    const int at = c - c0;
    // The weight sum (at most 9 x 255 in magnitude: exact in int16), widened in the halves' lane order.
    __m256i sum = tap(0, c);
    for (int t = 1; t < 9; ++t) sum = _mm256_add_epi16(sum, tap(t, c));
    const __m256i sign = _mm256_srai_epi16(sum, 15);
    const __m256i sums[2] = {_mm256_unpacklo_epi16(sum, sign), _mm256_unpackhi_epi16(sum, sign)};
    __m256i bias[2], multiplier[2], shift[2];
    halves(a.rq.bias + c, bias[0], bias[1]);
    halves(a.rq.multiplier + c, multiplier[0], multiplier[1]);
    halves(a.rq.shift + c, shift[0], shift[1]);
    for (int h = 0; h < 2; ++h) {
      // bias - zp x sum, wrapping as TFLite's int32 does (channels past c1: zero weights, any bias).
      _mm256_store_si256(reinterpret_cast<__m256i*>(pw.bias + at + 8 * h),
                         _mm256_sub_epi32(bias[h], _mm256_mullo_epi32(zp, sums[h])));
      _mm256_store_si256(reinterpret_cast<__m256i*>(pw.multiplier + at + 8 * h), multiplier[h]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(pw.shift + at + 8 * h), shift[h]);
      // int8_rq8_prepare keeps these pointers for its general form: the chunk's own copies.
      int8_rq8_prepare(pw.multiplier + at + 8 * h, pw.shift + at + 8 * h, a.rq.out_zero_point, a.rq.act_min,
                       a.rq.act_max, pw.rq[at / 8 + h]);
    }
  }
}

// One output row of one group of 16 channels: row[k] + x * step[k] is input
// column x of window row k at the group's channels (step 0: a padding row,
// the zero point's); columns outside [0, in_w) read the zero point too.
template <int S, bool Short>
inline void int8_dw_row_madd16(const uint8_t* const* row, const int64_t* step, int x0, int in_w, int count,
                               const __m256i (&w)[5][2], const int32_t* bias, const Int8Rq8* rq_pair, __m256i pad,
                               uint8_t* out, int64_t out_step, int left) {
  const uint8_t *p0 = row[0], *p1 = row[1], *p2 = row[2];
  const int64_t s0 = step[0], s1 = step[1], s2 = step[2];
  const Int8Rq8 &rq0 = rq_pair[0], &rq1 = rq_pair[1];
  auto requantize = [](__m256i x, const Int8Rq8& c) {
    return Short ? int8_rq8_apply_short(x, c) : int8_rq8_apply(x, c);
  };
  const __m256i bias0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bias));
  const __m256i bias1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bias + 8));
  auto widen = [](const uint8_t* p) {
    return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  };
  // Column x: rows 0 and 1 interleaved (a[0], a[1]) and row 2 widened (r2).
  auto column = [&](int x, __m256i* a, __m256i& r2) {
    __m256i r0 = pad, r1 = pad;
    r2 = pad;
    if (static_cast<unsigned>(x) < static_cast<unsigned>(in_w)) {
      r0 = widen(p0 + x * s0), r1 = widen(p1 + x * s1), r2 = widen(p2 + x * s2);
    }
    a[0] = _mm256_unpacklo_epi16(r0, r1), a[1] = _mm256_unpackhi_epi16(r0, r1);
  };
  auto madd = [](__m256i acc, __m256i x, __m256i w) { return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)); };
  __m256i a0[2], a1[2], a2[2], r2a, r2b, r2c;
  int x = x0;
  column(x, a0, r2a);
  if (S == 1) column(x + 1, a1, r2b);
  for (int i = 0; i < count; ++i, x += S) {
    if (S == 2) column(x + 1, a1, r2b);
    column(x + 2, a2, r2c);
    const __m256i b0lo = _mm256_unpacklo_epi16(r2a, r2b), b0hi = _mm256_unpackhi_epi16(r2a, r2b);
    const __m256i b1lo = _mm256_unpacklo_epi16(r2b, r2c), b1hi = _mm256_unpackhi_epi16(r2b, r2c);
    __m256i lo = madd(bias0, a0[0], w[0][0]), hi = madd(bias1, a0[1], w[0][1]);
    __m256i lo2 = _mm256_madd_epi16(a1[0], w[1][0]), hi2 = _mm256_madd_epi16(a1[1], w[1][1]);
    lo = madd(lo, a2[0], w[2][0]), hi = madd(hi, a2[1], w[2][1]);
    lo2 = madd(lo2, b0lo, w[3][0]), hi2 = madd(hi2, b0hi, w[3][1]);
    lo = madd(lo, b1lo, w[4][0]), hi = madd(hi, b1hi, w[4][1]);
    const __m256i q0 = requantize(_mm256_add_epi32(lo, lo2), rq0);
    const __m256i q1 = requantize(_mm256_add_epi32(hi, hi2), rq1);
    const __m256i words = _mm256_packs_epi32(q0, q1);  // channels 0-7 | 8-15 (in range: the packs keep them)
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    if (left >= 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
    } else {
      alignas(16) uint8_t tmp[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(tmp), bytes);
      for (int j = 0; j < left; ++j) out[j] = tmp[j];
    }
    out += out_step;
    if (S == 1) {
      a0[0] = a1[0], a0[1] = a1[1], a1[0] = a2[0], a1[1] = a2[1], r2a = r2b, r2b = r2c;
    } else {
      a0[0] = a2[0], a0[1] = a2[1], r2a = r2c;
    }
  }
}

inline void int8_dwconv3x3_madd_rows(const Int8ConvArgs& a, int c_begin, int row_begin, int row_end) {
  const int channels = a.in_c;
  alignas(32) uint8_t zero_point_row[kInt8DwChunk + 32];
  for (uint8_t& v : zero_point_row) v = static_cast<uint8_t>(a.in_zero_point);
  const __m256i pad = _mm256_set1_epi16(static_cast<uint8_t>(a.in_zero_point));
  Int8DwRowPairs pw;
  for (int c0 = c_begin; c0 < channels; c0 += kInt8DwChunk) {
    const int c1 = channels - c0 < kInt8DwChunk ? channels : c0 + kInt8DwChunk, width = c1 - c0;
    int8_dw_row_pairs_prepare(a, c0, c1, pw);
    for (int oy = row_begin; oy < row_end; ++oy) {
      const uint8_t* row[3];
      int64_t step[3];
      int8_window_rows(a, oy, c0, zero_point_row, row, step);
      uint8_t* out = a.output + int64_t{oy} * a.out_w * channels + c0;
      for (int c = 0; c < width; c += 16) {
        const uint8_t* group_row[3] = {row[0] + (step[0] ? c : 0), row[1] + (step[1] ? c : 0),
                                       row[2] + (step[2] ? c : 0)};
        const bool short_form = int8_rq8_short(pw.rq[c / 8]) && int8_rq8_short(pw.rq[c / 8 + 1]);
        auto run = a.stride == 1 ? (short_form ? int8_dw_row_madd16<1, true> : int8_dw_row_madd16<1, false>)
                                 : (short_form ? int8_dw_row_madd16<2, true> : int8_dw_row_madd16<2, false>);
        run(group_row, step, -a.pad.left, a.in_w, a.out_w, pw.w[c / 16], pw.bias + c, pw.rq + c / 8, pad, out + c,
            channels, width - c);
      }
    }
  }
}

// Channels [c_begin, in_c) by vpmaddwd, in chunks of kInt8DwChunk whose weights are interleaved once.
inline void int8_dwconv3x3_madd(const Int8ConvArgs& a, int c_begin, int row_begin, int row_end) {
  const int channels = a.in_c;
  alignas(32) uint8_t zero_point_row[kInt8DwChunk + 32];
  for (uint8_t& v : zero_point_row) v = static_cast<uint8_t>(a.in_zero_point);
  Int8DwPairs pw;
  for (int c0 = c_begin; c0 < channels; c0 += kInt8DwChunk) {
    const int c1 = channels - c0 < kInt8DwChunk ? channels : c0 + kInt8DwChunk, width = c1 - c0;
    int8_dw_pairs_prepare(a, c0, c1, pw);
    const uint8_t* tap[9];
    for (int oy = row_begin; oy < row_end; ++oy)
      for (int ox = 0; ox < a.out_w; ++ox) {
        const int iy0 = oy * a.stride - a.pad.top, ix0 = ox * a.stride - a.pad.left;
        for (int t = 0; t < 9; ++t) {
          const int iy = iy0 + t / 3, ix = ix0 + t % 3;
          tap[t] = iy < 0 || iy >= a.in_h || ix < 0 || ix >= a.in_w
                       ? zero_point_row
                       : a.input + (int64_t{iy} * a.in_w + ix) * channels + c0;
        }
        uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * channels + c0;
        for (int c = 0; c < width; c += 16) {
          __m256i s0, s1;
          int8_dw_madd16(tap, c, pw.w[c / 16], s0, s1);
          s0 = _mm256_add_epi32(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(pw.bias + c)));
          s1 = _mm256_add_epi32(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(pw.bias + c + 8)));
          int8_store16(out + c, int8_rq8_apply(s0, pw.rq[c / 8]), int8_rq8_apply(s1, pw.rq[c / 8 + 1]), width - c);
        }
      }
  }
}

// AVX-VNNI on the blocks of 64 channels in pack_int8_dwconv_dot's layout (the
// AVX-512 kernel's, read in 32-channel halves: a ymm's unpacks within its
// 128-bit lanes give the lane order of the low or high half of a zmm's).
// 4 taps' pixels interleaved byte by byte, then word by word, put each
// channel's 4 taps in one int32 lane, against its 4 int8 weights w - offset;
// where a block has offsets (uint8 weights spanning past int8), vpdpbusd
// against ones sums the pixels too: sum w x = sum (w - offset) x + offset sum x.
constexpr int kInt8DwVnniGroup = 4;  // blocks whose constants are prepared at a time (on the stack)

// One column of a block's half: rows 0-2 (32 channels each) byte- then
// word-interleaved with a zero, in the lane order of the column layout.
__attribute__((target("avxvnni"))) inline void int8_dw_column8(__m256i r0, __m256i r1, __m256i r2, __m256i* q) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i lo01 = _mm256_unpacklo_epi8(r0, r1), hi01 = _mm256_unpackhi_epi8(r0, r1);
  const __m256i lo2 = _mm256_unpacklo_epi8(r2, zero), hi2 = _mm256_unpackhi_epi8(r2, zero);
  q[0] = _mm256_unpacklo_epi16(lo01, lo2), q[1] = _mm256_unpackhi_epi16(lo01, lo2);
  q[2] = _mm256_unpacklo_epi16(hi01, hi2), q[3] = _mm256_unpackhi_epi16(hi01, hi2);
}

// One output row of one block's half h (32 channels) on the column layout
// (pack_int8_dwconv_dot, as the AVX-512 kernel's int8_dw_row): `count`
// pixels, the first one's window starting at input column x0; row[0..2]: the
// window rows at column 0 and this half's channels (a row in the padding:
// the zero point row, step 0); columns outside [0, in_w) read the zero point.
// Each input column is interleaved once: at stride 1 it serves 3 pixels, at
// stride 2 two columns are new per pixel. REM: the block has remainders
// (weights past int8), whose vectors (mask) add a vpdpbusd.
template <int S, bool REM>
__attribute__((target("avxvnni"))) void int8_dw_row8(const uint8_t* const* row, const int64_t* step, int x0, int in_w,
                                                     int count, const int8_t* block, int h, const Int8Rq8* rq, int mask,
                                                     __m256i pad, uint8_t* out, int64_t out_step) {
  const int8_t* wc = block + kInt8DwColumnOffset + 32 * h;
  const int8_t* wr = wc + 3 * 4 * 64;
  const int32_t* bias = reinterpret_cast<const int32_t*>(block + 3 * 4 * 64) + 8 * h;
  const uint8_t *p0 = row[0], *p1 = row[1], *p2 = row[2];
  const int64_t s0 = step[0], s1 = step[1], s2 = step[2];
  int x = x0;
  auto column = [&](__m256i* q) {
    if (static_cast<unsigned>(x) < static_cast<unsigned>(in_w))
      int8_dw_column8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0 + x * s0)),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p1 + x * s1)),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p2 + x * s2)), q);
    else
      int8_dw_column8(pad, pad, pad, q);
    ++x;
  };
  auto weights = [](const int8_t* w, int i) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i * 64));
  };
  __m256i qa[4], qb[4], qc[4];
  column(qa);
  if (S == 1) column(qb);
  for (int i = 0; i < count; ++i) {
    if (S == 2) column(qb);
    column(qc);
    __m256i q[4];
    for (int v = 0; v < 4; ++v) {
      __m256i acc = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias + 16 * v));
      acc = dpbusd_vex(acc, qa[v], weights(wc, v));
      acc = dpbusd_vex(acc, qb[v], weights(wc, 4 + v));
      acc = dpbusd_vex(acc, qc[v], weights(wc, 8 + v));
      if (REM) {
        if (mask & (1 << v)) acc = dpbusd_vex(acc, qa[v], weights(wr, v));
        if (mask & (1 << (4 + v))) acc = dpbusd_vex(acc, qb[v], weights(wr, 4 + v));
        if (mask & (1 << (8 + v))) acc = dpbusd_vex(acc, qc[v], weights(wr, 8 + v));
      }
      q[v] = int8_rq8_apply(acc, rq[2 * v + h]);
    }
    const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bytes);
    out += out_step;
    for (int v = 0; v < 4; ++v) qa[v] = qc[v];
    if (S == 1)
      for (int v = 0; v < 4; ++v) qa[v] = qb[v], qb[v] = qc[v];
  }
}

__attribute__((target("avxvnni"))) void int8_dwconv3x3_vnni(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int channels = a.in_c;
  const __m256i ones = _mm256_set1_epi32(0x01010101), zero = _mm256_setzero_si256();
  Int8Rq8 rq[kInt8DwVnniGroup][8];  // [block][4 v + h]
  bool offsets[kInt8DwVnniGroup];
  const uint8_t* tap[9];
  for (int b0 = 0; b0 < a.dot_blocks; b0 += kInt8DwVnniGroup) {
    const int b1 = a.dot_blocks - b0 < kInt8DwVnniGroup ? a.dot_blocks : b0 + kInt8DwVnniGroup;
    for (int b = b0; b < b1; ++b) {
      const int32_t* params = reinterpret_cast<const int32_t*>(a.dot + int64_t{b} * kInt8DwDotBlockBytes + 3 * 4 * 64);
      offsets[b - b0] = false;
      for (int j = 0; j < 64; ++j) offsets[b - b0] |= params[192 + j] != 0;
      for (int v = 0; v < 4; ++v)
        for (int h = 0; h < 2; ++h)
          int8_rq8_prepare(params + 64 + 16 * v + 8 * h, params + 128 + 16 * v + 8 * h, a.rq.out_zero_point,
                           a.rq.act_min, a.rq.act_max, rq[b - b0][2 * v + h]);
    }
    // On the column layout where the block holds every weight in it (not where one reaches 255).
    bool columns[kInt8DwVnniGroup], any_pixels = false;
    for (int b = b0; b < b1; ++b) {
      const int32_t* flags = int8_dw_column_flags(a.dot + int64_t{b} * kInt8DwDotBlockBytes);
      columns[b - b0] = (a.stride == 1 || a.stride == 2) && flags[0] != 0;
      any_pixels |= !columns[b - b0];
    }
    const __m256i pad = _mm256_set1_epi8(static_cast<char>(a.in_zero_point));
    for (int oy = row_begin; oy < row_end; ++oy) {
      const uint8_t* row[3];
      int64_t step[3];
      int8_window_rows(a, oy, 0, a.zero_point_row, row, step);
      const int iy0 = oy * a.stride - a.pad.top;  // the pixel path's taps
      for (int b = b0; b < b1; ++b) {
        if (!columns[b - b0]) continue;
        const int8_t* block = a.dot + int64_t{b} * kInt8DwDotBlockBytes;
        const int mask = int8_dw_column_flags(block)[1];
        auto run = a.stride == 1 ? (mask ? int8_dw_row8<1, true> : int8_dw_row8<1, false>)
                                 : (mask ? int8_dw_row8<2, true> : int8_dw_row8<2, false>);
        for (int h = 0; h < 2; ++h) {
          const int at = 64 * b + 32 * h;
          const uint8_t* half_row[3] = {row[0] + at, row[1] + at, row[2] + at};
          run(half_row, step, -a.pad.left, a.in_w, a.out_w, block, h, rq[b - b0], mask, pad,
              a.output + int64_t{oy} * a.out_w * channels + at, channels);
        }
      }
      if (!any_pixels) continue;
      for (int ox = 0; ox < a.out_w; ++ox) {
        const int ix0 = ox * a.stride - a.pad.left;
        for (int t = 0; t < 9; ++t) {
          const int iy = iy0 + t / 3, ix = ix0 + t % 3;
          tap[t] = iy < 0 || iy >= a.in_h || ix < 0 || ix >= a.in_w ? a.zero_point_row
                                                                    : a.input + (int64_t{iy} * a.in_w + ix) * channels;
        }
        uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * channels;
        for (int b = b0; b < b1; ++b) {
          if (columns[b - b0]) continue;
          const int8_t* w = a.dot + int64_t{b} * kInt8DwDotBlockBytes;
          const int32_t* params = reinterpret_cast<const int32_t*>(w + 3 * 4 * 64);
          const bool off = offsets[b - b0];
          for (int h = 0; h < 2; ++h) {
            const int at = 64 * b + 32 * h;
            __m256i t[9];
            for (int i = 0; i < 9; ++i) t[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tap[i] + at));
            __m256i acc[4], sums[4];
            for (int v = 0; v < 4; ++v) {  // the bias, in the layout's lane order
              acc[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(params + 16 * v + 8 * h));
              sums[v] = zero;
            }
            for (int g = 0; g < 3; ++g) {
              const __m256i t0 = t[4 * g], t1 = g < 2 ? t[4 * g + 1] : zero;
              const __m256i t2 = g < 2 ? t[4 * g + 2] : zero, t3 = g < 2 ? t[4 * g + 3] : zero;
              const __m256i lo01 = _mm256_unpacklo_epi8(t0, t1), hi01 = _mm256_unpackhi_epi8(t0, t1);
              const __m256i lo23 = _mm256_unpacklo_epi8(t2, t3), hi23 = _mm256_unpackhi_epi8(t2, t3);
              const __m256i quads[4] = {_mm256_unpacklo_epi16(lo01, lo23), _mm256_unpackhi_epi16(lo01, lo23),
                                        _mm256_unpacklo_epi16(hi01, hi23), _mm256_unpackhi_epi16(hi01, hi23)};
              for (int v = 0; v < 4; ++v) {
                const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + (g * 4 + v) * 64 + 32 * h));
                acc[v] = dpbusd_vex(acc[v], quads[v], wv);
                if (off) sums[v] = dpbusd_vex(sums[v], quads[v], ones);  // taps 9-11: zero pixels
              }
            }
            __m256i q[4];
            for (int v = 0; v < 4; ++v) {
              if (off)
                acc[v] = _mm256_add_epi32(
                    acc[v],
                    _mm256_mullo_epi32(
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(params + 192 + 16 * v + 8 * h)), sums[v]));
              q[v] = int8_rq8_apply(acc[v], rq[b - b0][2 * v + h]);
            }
            // Packing back to bytes undoes the interleaves: channels in order (values already clamped).
            const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + at), bytes);
          }
        }
      }
    }
  }
}

template <bool Vnni>
void int8_dwconv3x3_avx2(const Int8ConvArgs& a, int row_begin, int row_end) {
  int c_begin = 0;
  if (Vnni && a.dot != nullptr && a.dot_blocks > 0) {
    int8_dwconv3x3_vnni(a, row_begin, row_end);
    c_begin = 64 * a.dot_blocks;
  }
  if (c_begin >= a.in_c) return;
  if (a.stride == 1 || a.stride == 2) return int8_dwconv3x3_madd_rows(a, c_begin, row_begin, row_end);
  int8_dwconv3x3_madd(a, c_begin, row_begin, row_end);
}

void int8_dwconv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  if (int8_dot_product(Isa::Avx2)) return int8_dwconv3x3_avx2<true>(a, row_begin, row_end);
  int8_dwconv3x3_avx2<false>(a, row_begin, row_end);
}

// vpdpbusd on the packed blocks of 64 channels (execute.cpp passes them where
// the layer has any) where the CPU has AVX-VNNI; vpmaddwd for the others.
const char* int8_dwconv3x3_variant(const Int8ConvArgs& a) {
  return int8_dwconv_dot_blocks(a.in_c) > 0 && int8_dot_product(Isa::Avx2) ? "vnni" : "madd";
}

// ------------------------------------------------------------------ the stem
// With AVX-VNNI, through its GEMM above (without it: int8_conv3x3_madd): each output pixel's 3 x 3 x
// in_c taps gathered into a row of A (taps in the padding read the zero
// point), in chunks of pixels; B is the block packed at load (pack_int8_stem,
// where its lanes are channels: out_c > 8) or the taps packed here per call
// (a few hundred bytes), the zero point folded into the bias.
constexpr int kInt8StemMaxK = 64, kInt8StemMaxN = 128, kInt8StemChunk = 96;

void int8_conv3x3_vnni(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int k = 9 * a.in_c, k4 = (k + 3) / 4, n = a.out_c, lda = 4 * k4;
  const int64_t cp = a.channels_padded;
  alignas(32) int8_t own[kInt8StemMaxK * kInt8StemMaxN + 4 * kInt8StemMaxN];
  alignas(32) int32_t own_offset[kInt8StemMaxN], own_bias[kInt8StemMaxN];
  Int8Requant rq = a.rq;
  const int8_t* packed = own;
  const int32_t* col_offset = own_offset;
  if (a.stem != nullptr && n > 8) {  // lanes are channels (pack_int8_stem)
    const int lanes = int8_stem_lanes(n);
    const int32_t* params = reinterpret_cast<const int32_t*>(a.stem + packed_int8_gemm_bytes(k, lanes));
    packed = a.stem;
    rq.bias = params, rq.multiplier = params + lanes, rq.shift = params + 2 * lanes, col_offset = params + 3 * lanes;
  } else {
    alignas(32) int32_t effective[kInt8StemMaxK * kInt8StemMaxN];
    for (int kk = 0; kk < k; ++kk)
      for (int c = 0; c < n; ++c) effective[kk * n + c] = a.weights[kk * cp + c];
    pack_int8_gemm_weights(effective, k, n, own, own_offset);
    for (int c = 0; c < (n + 15) / 16 * 16; ++c) {
      uint32_t sum = 0;
      for (int kk = 0; kk < k && c < n; ++kk) sum += static_cast<uint32_t>(effective[kk * n + c]);
      own_bias[c] =
          c < n
              ? static_cast<int32_t>(static_cast<uint32_t>(a.rq.bias[c]) - static_cast<uint32_t>(a.in_zero_point) * sum)
              : 0;
    }
    rq.bias = own_bias;
  }
  bool has_offset = false;
  for (int c = 0; c < (n + 15) / 16 * 16; ++c) has_offset |= col_offset[c] != 0;
  Int8Rq8 rq8[kInt8StemMaxN / 8];  // multiplier and shift are padded to 16 columns
  for (int c = 0; c < (n + 15) / 16 * 16; c += 8)
    int8_rq8_prepare(rq.multiplier + c, rq.shift + c, rq.out_zero_point, rq.act_min, rq.act_max, rq8[c / 8]);
  alignas(32) uint8_t rows[kInt8StemChunk * kInt8StemMaxK];
  const uint8_t zp = static_cast<uint8_t>(a.in_zero_point);
  const int seg = 3 * a.in_c;  // one window row's bytes
  const int64_t p_end = int64_t{row_end} * a.out_w;
  for (int64_t p0 = int64_t{row_begin} * a.out_w; p0 < p_end; p0 += kInt8StemChunk) {
    const int m = static_cast<int>(p_end - p0 < kInt8StemChunk ? p_end - p0 : kInt8StemChunk);
    int oy = static_cast<int>(p0 / a.out_w), ox = static_cast<int>(p0 % a.out_w);
    for (int i = 0; i < m; ++i) {
      const int iy0 = oy * a.stride - a.pad.top, ix0 = ox * a.stride - a.pad.left;
      uint8_t* row = rows + i * lda;
      const bool columns_inside = ix0 >= 0 && ix0 + 3 <= a.in_w;
      for (int ky = 0; ky < 3; ++ky) {
        const int iy = iy0 + ky;
        uint8_t* dst = row + ky * seg;
        if (iy >= 0 && iy < a.in_h && columns_inside) {  // 3 whole pixels: one copy
          const uint8_t* src = a.input + (int64_t{iy} * a.in_w + ix0) * a.in_c;
          if (seg == 9)
            __builtin_memcpy(dst, src, 9);
          else
            for (int j = 0; j < seg; ++j) dst[j] = src[j];
          continue;
        }
        for (int kx = 0; kx < 3; ++kx) {
          const int ix = ix0 + kx;
          const bool inside = iy >= 0 && iy < a.in_h && ix >= 0 && ix < a.in_w;
          for (int ci = 0; ci < a.in_c; ++ci)
            dst[kx * a.in_c + ci] = inside ? a.input[(int64_t{iy} * a.in_w + ix) * a.in_c + ci] : zp;
        }
      }
      for (int kk = k; kk < lda; ++kk) row[kk] = 0;  // times zero weights
      if (++ox == a.out_w) ox = 0, ++oy;
    }
    const Int8GemmArgs g{rows, lda, packed, col_offset, has_offset, a.output + p0 * n, n, m, n, k, rq};
    int8_gemm_avx_vnni(g, 0, m, rq8);
  }
}

// Without AVX-VNNI, directly rather than through the GEMM (whose tiles and
// row sums are built for long K; the stem's K is 9 in_c, 27 for RGB): the 3
// input rows of an output row widened to int16 once (padding columns and
// rows: the zero point), and each pixel's taps read from them in place, in
// pairs broadcast as a dword against the pair's weights of 8 output channels
// (vpmaddwd). A window row's 3 in_c taps are rounded up to pairs (the odd
// one out, for RGB the tenth, times a zero weight): 15 vpmaddwd per pixel and
// 8 channels for RGB, and one requantization; the zero point folded into the bias.
constexpr int kInt8StemSegmentPairs = (kInt8StemMaxK / 9 * 3 + 1) / 2;  // a window row's pairs, at most
constexpr int kInt8StemPairs = 3 * kInt8StemSegmentPairs, kInt8StemGroups = kInt8StemMaxN / 8;
constexpr int kInt8StemGroupsAtOnce = 4;  // accumulators per pixel (32 channels)

struct alignas(32) Int8StemPairs {
  int16_t w[kInt8StemPairs][kInt8StemGroups][8][2];  // [window row x its pairs][group of 8 channels][channel][tap]
  int32_t bias[kInt8StemMaxN];                       // bias - zp x the channel's weight sum
  Int8Rq8 rq[kInt8StemGroups];
};

// `count` pixels of an output row: window row ky of the first one at
// rows[ky] (int16), the next one `step` values on; channels [8 g0, 8 (g0 + G)).
// RGB (Pairs 5, a window row's pairs) unrolled; Pairs 0: any, segment_pairs.
template <int G, bool Short, int Pairs>
void int8_stem_row(const int16_t* const* rows, int64_t step, int count, int segment_pairs, const Int8StemPairs& pw,
                   int g0, uint8_t* out, int n) {
  if (Pairs > 0) segment_pairs = Pairs;
  const int left = n - 8 * g0;
  for (int i = 0; i < count; ++i) {
    __m256i acc[G];
    for (int g = 0; g < G; ++g) acc[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(pw.bias + 8 * (g0 + g)));
    for (int ky = 0; ky < 3; ++ky) {
      const int16_t* x = rows[ky] + i * step;
      for (int j = 0; j < segment_pairs; ++j) {
        int32_t taps;  // taps 2j and 2j + 1 of the window row
        __builtin_memcpy(&taps, x + 2 * j, sizeof taps);
        const __m256i b = _mm256_set1_epi32(taps);
        const int p = ky * segment_pairs + j;
        for (int g = 0; g < G; ++g)
          acc[g] = _mm256_add_epi32(
              acc[g], _mm256_madd_epi16(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(pw.w[p][g0 + g]))));
      }
    }
    __m256i q[G];
    for (int g = 0; g < G; ++g)
      q[g] = Short ? int8_rq8_apply_short(acc[g], pw.rq[g0 + g]) : int8_rq8_apply(acc[g], pw.rq[g0 + g]);
    uint8_t* o = out + int64_t{i} * n + 8 * g0;
    for (int g = 0; g < G; g += 2)
      int8_store16(o + 8 * g, q[g], g + 1 < G ? q[g + 1] : q[g], left - 8 * g < 16 ? left - 8 * g : 16);
  }
}

void int8_conv3x3_madd(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int in_c = a.in_c, seg = 3 * in_c, segment_pairs = (seg + 1) / 2, n = a.out_c, groups = (n + 7) / 8;
  const int64_t cp = a.channels_padded;
  Int8StemPairs pw;
  for (int ky = 0; ky < 3; ++ky)
    for (int j = 0; j < segment_pairs; ++j)
      for (int c = 0; c < groups * 8; ++c)
        for (int h = 0; h < 2; ++h) {
          const int s = 2 * j + h;
          pw.w[ky * segment_pairs + j][c / 8][c % 8][h] = s < seg && c < n ? a.weights[(ky * seg + s) * cp + c] : 0;
        }
  for (int c = 0; c < groups * 8; ++c) {
    uint32_t sum = 0;
    for (int kk = 0; kk < 9 * in_c && c < n; ++kk) sum += static_cast<uint32_t>(int32_t{a.weights[kk * cp + c]});
    pw.bias[c] =
        c < n ? static_cast<int32_t>(static_cast<uint32_t>(a.rq.bias[c]) - static_cast<uint32_t>(a.in_zero_point) * sum)
              : 0;
  }
  bool short_form = true;
  for (int g = 0; g < groups; ++g) {  // multiplier and shift are padded to 16 channels
    int8_rq8_prepare(a.rq.multiplier + 8 * g, a.rq.shift + 8 * g, a.rq.out_zero_point, a.rq.act_min, a.rq.act_max,
                     pw.rq[g]);
    short_form &= int8_rq8_short(pw.rq[g]);
  }
  // Each widened row: the padding columns on the left, the row, and the right
  // ones with one pixel more (a last pair's odd tap reads past the window).
  const int64_t left_values = int64_t{a.pad.left} * in_c, row_values = int64_t{a.in_w} * in_c;
  const int64_t width = left_values + row_values + (int64_t{a.pad.right} + 1) * in_c + 16;
  std::vector<int16_t> widened(3 * width);
  const int16_t zp = static_cast<uint8_t>(a.in_zero_point);
  auto pick = [&](auto rgb, auto any) { return segment_pairs == 5 ? rgb : any; };
  auto run = [&](int count) {
    switch (count) {
      case 4:
        return short_form ? pick(int8_stem_row<4, true, 5>, int8_stem_row<4, true, 0>)
                          : pick(int8_stem_row<4, false, 5>, int8_stem_row<4, false, 0>);
      case 3:
        return short_form ? pick(int8_stem_row<3, true, 5>, int8_stem_row<3, true, 0>)
                          : pick(int8_stem_row<3, false, 5>, int8_stem_row<3, false, 0>);
      case 2:
        return short_form ? pick(int8_stem_row<2, true, 5>, int8_stem_row<2, true, 0>)
                          : pick(int8_stem_row<2, false, 5>, int8_stem_row<2, false, 0>);
      default:
        return short_form ? pick(int8_stem_row<1, true, 5>, int8_stem_row<1, true, 0>)
                          : pick(int8_stem_row<1, false, 5>, int8_stem_row<1, false, 0>);
    }
  };
  static_assert(kInt8StemGroupsAtOnce == 4, "the dispatch above");
  for (int oy = row_begin; oy < row_end; ++oy) {
    const int16_t* rows[3];
    for (int ky = 0; ky < 3; ++ky) {
      int16_t* w = widened.data() + ky * width;
      const int iy = oy * a.stride - a.pad.top + ky;
      if (iy < 0 || iy >= a.in_h) {
        std::fill(w, w + width, zp);
      } else {
        std::fill(w, w + left_values, zp);
        const uint8_t* src = a.input + int64_t{iy} * row_values;
        int64_t j = 0;
        for (; j + 16 <= row_values; j += 16)  // never past the row: the last row ends the input
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(w + left_values + j),
                              _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j))));
        for (; j < row_values; ++j) w[left_values + j] = src[j];
        std::fill(w + left_values + row_values, w + width, zp);
      }
      rows[ky] = w;  // pixel 0's window starts at padded column 0
    }
    uint8_t* out = a.output + int64_t{oy} * a.out_w * n;
    for (int g0 = 0; g0 < groups; g0 += kInt8StemGroupsAtOnce) {
      const int count = groups - g0 < kInt8StemGroupsAtOnce ? groups - g0 : kInt8StemGroupsAtOnce;
      run(count)(rows, int64_t{a.stride} * in_c, a.out_w, segment_pairs, pw, g0, out, n);
    }
  }
}

void int8_conv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  if (9 * a.in_c > kInt8StemMaxK || a.out_c > kInt8StemMaxN) return int8_conv3x3_portable(a, row_begin, row_end);
  if (int8_dot_product(Isa::Avx2)) return int8_conv3x3_vnni(a, row_begin, row_end);
  int8_conv3x3_madd(a, row_begin, row_end);
}
