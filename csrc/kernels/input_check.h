// The input check of a forward pass. Included by kernels_impl.h inside one
// instruction set's namespace.

// x * 0 is 0 for every finite x (denormals too) and NaN for NaN and +-Inf; a
// NaN in a running sum stays. One FMA per vector, four independent sums: the
// scalar scan this replaced took 18 us of a 224x224 forward pass.
bool all_finite(const float* x, int64_t n) {
  const Vec zero = Vec::zero();
  Vec acc[4] = {zero, zero, zero, zero};
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W)
    MBN_UNROLL for (int u = 0; u < 4; ++u) acc[u] = fmadd(Vec::load(x + i + u * W), zero, acc[u]);
  for (; i + W <= n; i += W) acc[0] = fmadd(Vec::load(x + i), zero, acc[0]);
  float lanes[W];
  add(add(acc[0], acc[1]), add(acc[2], acc[3])).store(lanes);
  bool finite = true;
  for (int l = 0; l < W; ++l) finite &= lanes[l] == 0.0f;
  for (; i < n; ++i) finite &= x[i] * 0.0f == 0.0f;
  return finite;
}

// TFLite's QUANTIZE of count floats to storage bytes (quantize_input.h: the checks and the
// layouts): clamp(round(x / scale), lo, hi) + offset, round() halving away from zero. lo and
// hi are qmin and qmax less the zero point, in float: rounding is monotonic and keeps
// integers, so clamping x / scale to them first is clamping the result after it, keeps the
// conversion to int32 defined and turns NaN into lo. Returns nonzero where any value is NaN
// or infinite. Branch-free, with max/min patterns: the compiler vectorizes it for this ISA
// (NumPy's version of it took a quarter of an int8 1.0/224 pass).
uint32_t int8_quantize_row(const float* __restrict in, int64_t count, float scale, float lo, float hi, int32_t offset,
                           uint8_t* __restrict out) {
  uint32_t nonfinite = 0;
  for (int64_t i = 0; i < count; ++i) {
    const float v = in[i];
    uint32_t bits;
    __builtin_memcpy(&bits, &v, sizeof bits);
    nonfinite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    float s = v / scale;  // a division, as TFLite's: not a multiply by 1 / scale
    s = s > lo ? s : lo;
    s = s < hi ? s : hi;
    // The fraction s - trunc(s) is exact, and at +-0.5 rounds away from zero (std::round; not
    // floor(s + 0.5), which rounds 0.49999997 up).
    const int32_t t = static_cast<int32_t>(s);
    const float fraction = s - static_cast<float>(t);
    const int32_t q = t + static_cast<int32_t>(fraction >= 0.5f) - static_cast<int32_t>(fraction <= -0.5f);
    out[i] = static_cast<uint8_t>(q + offset);
  }
  return nonfinite;
}
