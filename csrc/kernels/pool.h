// Global average pooling. Included by kernels_impl.h inside one instruction
// set's namespace.

void global_avgpool(const float* in, int pixels, int channels, float* out) {
  const Vec scale = Vec::broadcast(1.0f / static_cast<float>(pixels));
  for (int c0 = 0; c0 < channels; c0 += W) {
    Vec acc = Vec::zero();
    for (int p = 0; p < pixels; ++p) acc = add(acc, Vec::load(in + static_cast<int64_t>(p) * channels + c0));
    store_n(mul(acc, scale), out + c0, imin(W, channels - c0));
  }
}
