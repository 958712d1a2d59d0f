// The pieces every kernel family shares. Like the family headers, this file is
// included only by kernels_impl.h, inside one instruction set's namespace,
// after simd_vec.h has defined that set's `Vec`.

constexpr int W = Vec::width;

// Register-blocked loops must be fully unrolled, or the accumulator arrays
// live on the stack (GCC leaves 24-iteration loops rolled by default).
#define MBN_UNROLL _Pragma("GCC unroll 32")
// For the small helpers that take a kernel as a lambda: inlined into their
// caller (lambda included), the kernel calls sit in the caller as if written
// there, and GCC inlines the kernels as it would then. Left to itself it
// inlined other block widths of the stem, which grew its code by half.
#define MBN_ALWAYS_INLINE __attribute__((always_inline))

inline int imin(int a, int b) { return a < b ? a : b; }
inline int imax(int a, int b) { return a > b ? a : b; }

// The first n lanes of v (a channel tail narrower than a vector).
inline void store_n(Vec v, float* p, int n) {
  if (n == W)
    v.store(p);
  else
    v.store_partial(p, n);
}

// Output columns [begin, end) of a 3x3 window whose three taps all lie inside
// the input row, so they need no bounds checks; the columns before begin and
// from end on are the border. begin <= end, also where no column qualifies.
struct InteriorColumns {
  int begin, end;
};
inline InteriorColumns interior_columns(int in_w, int out_w, int pad_left, int stride) {
  const int begin = imin(out_w, (pad_left + stride - 1) / stride);
  const int last_window_start = in_w - 3 + pad_left;  // in padded input columns
  const int end = last_window_start >= 0 ? imax(begin, imin(out_w, last_window_start / stride + 1)) : begin;
  return {begin, end};
}

template <int N>
using Columns = std::integral_constant<int, N>;

// Columns [begin, end) in blocks of PX columns, block(Columns<PX>{}, first),
// then the rest as one block of PX1, PX2 or PX columns that ends at `end` and
// may overlap the block before it (not reaching before `begin`): recomputing a
// few pixels is cheaper than narrow, latency-bound blocks. Returns the first
// column left for the caller's narrower blocks (end when all are done).
template <int PX, int PX1, int PX2, class Block>
MBN_ALWAYS_INLINE inline int blocks_then_overlapping_rest(int begin, int end, Block&& block) {
  static_assert(PX1 <= PX2 && PX2 <= PX, "rest blocks from the narrowest up");
  int ox = begin;
  for (; ox + PX <= end; ox += PX) block(Columns<PX>{}, ox);
  const int rest = end - ox;
  if (rest <= 0) return ox;
  if (rest <= PX1 && end - PX1 >= begin) {
    block(Columns<PX1>{}, end - PX1);
    return end;
  }
  if (rest <= PX2 && end - PX2 >= begin) {
    block(Columns<PX2>{}, end - PX2);
    return end;
  }
  if (end - PX >= begin) {
    block(Columns<PX>{}, end - PX);
    return end;
  }
  return ox;
}

// ---- Shared by the float32 and bf16 GEMMs (gemm.h, gemm_bf16.h).

// Each row tile reads its columns' k rows of weights. Where those would not stay
// in L1 across the row tiles (two panels at k > 128), k is split into blocks
// that do, and the partial sums go through C: exact, as float32 stored and
// reloaded, so the sums come out as from one block.
constexpr int64_t kGemmKBlockBytes = 32 * 1024;

// Steps [begin, end) of k (pairs of k in bf16); `first` starts from the bias,
// `last` applies the clamp.
struct KBlock {
  int begin, end;
  bool first, last;
};

// The k blocks of a tile's columns whose weights take `bytes` over all of k: one
// unless they exceed block_bytes, the tiles are several, take no partial
// sums (C has room for whole vectors and no tile keeps more than one sum) and
// every column is in use. Block blk of `blocks` over `steps` steps of k.
inline int k_blocks(int64_t bytes, int tiles, int ks, bool whole_columns, int64_t block_bytes = kGemmKBlockBytes) {
  return bytes > block_bytes && tiles > 1 && ks == 1 && whole_columns ? static_cast<int>((bytes - 1) / block_bytes + 1)
                                                                      : 1;
}
inline KBlock k_block(int steps, int blk, int blocks) {
  return {static_cast<int>(int64_t{steps} * blk / blocks), static_cast<int>(int64_t{steps} * (blk + 1) / blocks),
          blk == 0, blk == blocks - 1};
}

// Thin tiles (the classifier's single row) would leave too few independent
// chains to cover the FMA's (or dot product's) latency: they also split k into
// partial sums, as many as the layer's rows give (k_split), the same in every
// tile of it.
constexpr int k_partial_sums(int rows, int nv) { return rows * nv <= 2 ? 4 : (rows * nv <= 6 ? 2 : 1); }

// A name spelled at compile time: std::string would bring out-of-line library
// code into this per-ISA translation unit (see kernels_impl.h).
struct SpelledName {
  char text[48] = {};
  int length = 0;
  constexpr SpelledName& operator<<(const char* s) {
    while (*s != 0) text[length++] = *s++;
    return *this;
  }
  constexpr SpelledName& operator<<(int n) {
    char digits[10] = {};
    int count = 0;
    do {
      digits[count++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n > 0);
    while (count > 0) text[length++] = digits[--count];
    return *this;
  }
};
