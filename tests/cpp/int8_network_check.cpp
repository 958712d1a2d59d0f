// Whole int8 networks without Python: reads the cases that tests/cross/int8_cases.py writes from
// the shared quantized models (the int8 layers as mobilenet.load hands them to the core, a batch
// of inputs, and every layer's expected output and the softmax's, in TFLite's reference
// arithmetic), builds each network through mobilenet::Network as the bindings do, and compares
// byte for byte:
//   - each layer alone: a one-layer network fed that layer's expected input;
//   - the whole network, as it runs for a user (depthwise layers fused into the next 1x1, row
//     bands), and the integer softmax on its output.
// Prints the first differing byte of each failing layer, and the kernels that ran.
// It runs natively (tests/cpp/run_native.sh) and for AArch64 under qemu (tests/cross/run_aarch64.sh).
//
// Usage: int8_network_check [--isa NAME]... CASE...   (default: every ISA in supported_isas())
// Exit status: 0 every byte equal, 1 a mismatch, 2 a bad case file or usage.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "cpu_features.h"
#include "network.h"
#include "softmax_int8.h"

using namespace mobilenet;

namespace {

struct BadCase : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The case file, every read bounds-checked: a short or inconsistent file is a BadCase naming the
// field and the byte offset, never a read past the end or an allocation larger than the file.
class CaseReader {
 public:
  explicit CaseReader(const std::string& path) : path_(path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw BadCase(path + ": cannot be read");
    data_.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  int32_t i32(const char* what) {
    need(4, what);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{data_[pos_ + i]} << (8 * i);
    pos_ += 4;
    return static_cast<int32_t>(v);
  }
  int32_t i32(const char* what, int32_t lo, int32_t hi) {
    const int32_t v = i32(what);
    if (v < lo || v > hi)
      fail(std::string(what) + " is " + std::to_string(v) + ", outside [" + std::to_string(lo) + ", " +
           std::to_string(hi) + "]");
    return v;
  }
  std::vector<int32_t> ints(const char* what) {
    const int32_t n = i32(what, 0, INT32_MAX);
    need(int64_t{n} * 4, what);
    std::vector<int32_t> v(n);
    for (int32_t& x : v) x = i32(what);
    return v;
  }
  std::vector<uint8_t> bytes(int64_t n, const char* what) {
    need(n, what);
    std::vector<uint8_t> v(data_.begin() + pos_, data_.begin() + pos_ + n);
    pos_ += n;
    return v;
  }
  void end() const {
    if (pos_ != data_.size()) fail(std::to_string(data_.size() - pos_) + " bytes after the last field");
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw BadCase(path_ + ": " + why + " (at byte " + std::to_string(pos_) + ")");
  }

 private:
  void need(int64_t n, const char* what) const {
    if (n < 0 || n > static_cast<int64_t>(data_.size() - pos_)) fail(std::string("truncated in ") + what);
  }
  std::string path_;
  std::vector<uint8_t> data_;
  size_t pos_ = 0;
};

// Bytes that end right before an inaccessible page: a kernel that reads or writes past the
// caller's input or output faults at once, as it may on a user's array at the end of a mapping.
class PageEndBuffer {
 public:
  explicit PageEndBuffer(const std::vector<uint8_t>& bytes) : PageEndBuffer(bytes.size()) {
    std::copy(bytes.begin(), bytes.end(), data_);
  }
  explicit PageEndBuffer(size_t n) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE)), span = (n + page - 1) / page * page;
    size_ = span + page;
    void* base = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<uint8_t*>(base);
    if (mprotect(base_ + span, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    data_ = base_ + span - n;
    size_bytes_ = n;
  }
  ~PageEndBuffer() { munmap(base_, size_); }
  PageEndBuffer(const PageEndBuffer&) = delete;
  PageEndBuffer& operator=(const PageEndBuffer&) = delete;
  uint8_t* data() { return data_; }
  std::vector<uint8_t> bytes() const { return std::vector<uint8_t>(data_, data_ + size_bytes_); }

 private:
  uint8_t* base_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t size_ = 0, size_bytes_ = 0;
};

struct Case {
  std::string name;
  int batch = 0;
  std::vector<LayerSpec> layers;
  bool softmax = false;
  int32_t softmax_multiplier = 0, softmax_left_shift = 0, softmax_diff_min = 0;
  std::vector<uint8_t> input;
  std::vector<std::vector<uint8_t>> expected;  // each layer's output, then the softmax's
};

Case read_case(const std::string& path) {
  CaseReader r(path);
  const std::vector<uint8_t> magic = r.bytes(8, "the magic");
  if (std::string(magic.begin(), magic.end()) != "MBN8CASE") r.fail("not an int8 network case");
  r.i32("the version", 1, 1);
  Case c;
  for (int32_t ch : r.ints("the name")) c.name += static_cast<char>(ch);
  c.batch = r.i32("the batch", 1, 64);
  const int n = r.i32("the layer count", 1, 1000);
  for (int i = 0; i < n; ++i) {
    LayerSpec s;
    s.kind = static_cast<LayerKind>(r.i32("a layer kind", 0, 4));
    s.in_h = r.i32("in_h", 1, 1 << 14), s.in_w = r.i32("in_w", 1, 1 << 14);
    s.in_c = r.i32("in_c", 1, 1 << 16), s.out_c = r.i32("out_c", 1, 1 << 16);
    s.stride = r.i32("the stride", 1, 2);
    s.pad.top = r.i32("a padding", 0, 2), s.pad.left = r.i32("a padding", 0, 2);
    s.pad.bottom = r.i32("a padding", 0, 2), s.pad.right = r.i32("a padding", 0, 2);
    s.activation = static_cast<Activation>(r.i32("the activation", 0, 2));
    LayerSpec::Int8& q = s.int8;
    q.in_zero_point = r.i32("a zero point", 0, 255), q.out_zero_point = r.i32("a zero point", 0, 255);
    q.act_min = r.i32("act_min", 0, 255), q.act_max = r.i32("act_max", 0, 255);
    const int flags = r.i32("the flags", 0, 3);
    q.signed_values = flags & 1, q.mean = flags & 2;
    q.weight = r.ints("the weights"), q.bias = r.ints("the bias");
    q.multiplier = r.ints("the multipliers"), q.shift = r.ints("the shifts");
    c.layers.push_back(std::move(s));
  }
  c.softmax = r.i32("the softmax flag", 0, 1);
  c.softmax_multiplier = r.i32("the softmax multiplier"), c.softmax_left_shift = r.i32("the softmax shift");
  c.softmax_diff_min = r.i32("the softmax diff_min");
  // The sizes from the network itself (Network validates the layers: std::invalid_argument).
  const Network net(c.layers, Isa::Scalar, 1, PointwiseBackend::Gemm, true, Precision::Int8);
  c.input = r.bytes(c.batch * net.input_size(), "the input");
  for (int i = 0; i < n; ++i) {
    const std::vector<int> shape = net.output_shape(i);
    c.expected.push_back(r.bytes(int64_t{c.batch} * shape[0] * shape[1] * shape[2], "a layer's expected output"));
  }
  if (c.softmax) c.expected.push_back(r.bytes(c.batch * net.output_size(), "the softmax's expected output"));
  r.end();
  return c;
}

std::string describe(const LayerSpec& s) {
  return std::string(layer_kind_name(s.kind)) + " " + std::to_string(s.in_h) + "x" + std::to_string(s.in_w) + "x" +
         std::to_string(s.in_c) + "->" + std::to_string(s.out_c) + " s" + std::to_string(s.stride);
}

// Byte for byte; on a mismatch prints the first differing element (image, y, x, channel) and the count.
bool same(const std::string& where, const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, int batch,
          const std::vector<int>& shape) {
  int64_t first = -1, count = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i]) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++count;
    }
  if (first < 0) return true;
  const int64_t per_image = static_cast<int64_t>(want.size()) / batch, pixel = first % per_image / shape[2];
  std::printf("FAIL %s: image %lld, y %lld, x %lld, channel %lld is %d, expected %d (%lld of %zu bytes differ)\n",
              where.c_str(), static_cast<long long>(first / per_image), static_cast<long long>(pixel / shape[1]),
              static_cast<long long>(pixel % shape[1]), static_cast<long long>(first % shape[2]), got[first],
              want[first], static_cast<long long>(count), want.size());
  return false;
}

// Every check of one case on one ISA; returns the number of failed checks.
int check(const Case& c, Isa isa) {
  const std::string at = std::string("[") + isa_name(isa) + "] " + c.name;
  int failures = 0;
  const int n = static_cast<int>(c.layers.size());
  for (int i = 0; i < n; ++i) {
    Network one({c.layers[i]}, isa, 1, PointwiseBackend::Gemm, true, Precision::Int8);
    PageEndBuffer in(i == 0 ? c.input : c.expected[i - 1]), out(c.expected[i].size());
    one.forward_int8(in.data(), c.batch, out.data());
    const std::string where =
        at + " layer " + std::to_string(i) + " alone (" + describe(c.layers[i]) + ", " + one.kernel_name(0) + ")";
    failures += !same(where, out.bytes(), c.expected[i], c.batch, one.output_shape(0));
  }
  Network net(c.layers, isa, 1, PointwiseBackend::Gemm, true, Precision::Int8);
  PageEndBuffer in(c.input), last(c.expected[n - 1].size());
  net.forward_int8(in.data(), c.batch, last.data());
  const std::vector<uint8_t> out = last.bytes();
  failures += !same(at + " whole network, last layer", out, c.expected[n - 1], c.batch, net.output_shape(n - 1));
  if (c.softmax) {
    std::vector<uint8_t> probs(out.size());
    softmax_int8_rows(out.data(), c.batch, net.output_size(), c.softmax_multiplier, c.softmax_left_shift,
                      c.softmax_diff_min, probs.data());
    failures += !same(at + " whole network, softmax", probs, c.expected[n], c.batch, {1, 1, int(net.output_size())});
  }
  // On 3 threads, where the small depthwise/pointwise pairs run fused across
  // the threads (plan.cpp, plan_int8_parallel_fusion) in bands of unequal rows.
  Network split(c.layers, isa, 3, PointwiseBackend::Gemm, true, Precision::Int8);
  PageEndBuffer split_in(c.input), split_out(c.expected[n - 1].size());
  split.forward_int8(split_in.data(), c.batch, split_out.data());
  failures += !same(at + " whole network on 3 threads, last layer", split_out.bytes(), c.expected[n - 1], c.batch,
                    split.output_shape(n - 1));
  int fused = 0;
  for (int i = 0; i < n; ++i) fused += split.kernel_name(i).find("_fused_") != std::string::npos;
  std::string kernels;
  for (int i = 0; i < n; ++i)
    if (kernels.find(net.kernel_name(i)) == std::string::npos) kernels += " " + net.kernel_name(i);
  std::printf("%s: %d layers x %d images: %s (on 3 threads too, %d layers fused there); kernels:%s\n", at.c_str(), n,
              c.batch, failures ? "FAILED" : "each layer alone, the whole network and its softmax bit-identical", fused,
              kernels.c_str());
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::vector<Isa> isas;
  std::vector<std::string> paths;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--isa" && i + 1 < argc) {
        isas.push_back(parse_isa(argv[++i]));
      } else if (!arg.empty() && arg[0] != '-') {
        paths.push_back(arg);
      } else {
        throw std::invalid_argument("usage: int8_network_check [--isa NAME]... CASE...");
      }
    }
    if (paths.empty()) throw std::invalid_argument("usage: int8_network_check [--isa NAME]... CASE...");
    if (isas.empty()) isas = supported_isas();
    int failures = 0;
    for (const std::string& path : paths) {
      const Case c = read_case(path);
      for (Isa isa : isas) failures += check(c, isa);
    }
    std::printf(failures ? "int8_network_check: FAILED: %d checks\n" : "int8_network_check: OK\n", failures);
    return failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("int8_network_check: %s\n", e.what());
    return 2;
  }
}
