// pybind11 bindings: the only C++ that knows Python exists. Arrays are checked
// here (the core checks its own preconditions again), and the GIL is released
// for every computation.
#include <pybind11/native_enum.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "blas.h"
#include "cpu_features.h"
#include "default_threads.h"
#include "network.h"
#include "quantize_input.h"
#include "softmax_int8.h"
#include "thread_pool.h"

namespace py = pybind11;
using namespace mobilenet;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Int32Array = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;
using Uint8Array = py::array_t<uint8_t, py::array::c_style>;

// Each bound enum's words, each row an enumerator with its Python member name
// and its spelling, both the vocabulary's (src/mobilenet/vocabulary.py:
// LayerType.CONV3X3 is "conv3x3"): the one place the two languages' words
// meet. A Python caller passes the bound member, or the spelling (a vocabulary
// member is its spelling), which is read through the same rows.
template <class Enum>
struct Word {
  Enum value;
  const char* name;
  const char* spelling;
};

constexpr Word<LayerKind> kLayerKindWords[] = {{LayerKind::Conv3x3, "CONV3X3", "conv3x3"},
                                               {LayerKind::DwConv3x3, "DWCONV3X3", "dwconv3x3"},
                                               {LayerKind::Conv1x1, "CONV1X1", "conv1x1"},
                                               {LayerKind::GlobalAvgPool, "AVGPOOL", "avgpool"},
                                               {LayerKind::FullyConnected, "FC", "fc"}};
constexpr Word<Activation> kActivationWords[] = {
    {Activation::None, "NONE", "none"}, {Activation::ReLU, "RELU", "relu"}, {Activation::ReLU6, "RELU6", "relu6"}};
constexpr Word<InputLayout> kLayoutWords[] = {{InputLayout::NHWC, "NHWC", "NHWC"}, {InputLayout::NCHW, "NCHW", "NCHW"}};
constexpr Word<PointwiseBackend> kBackendWords[] = {{PointwiseBackend::Gemm, "GEMM", "gemm"},
                                                    {PointwiseBackend::Blas, "BLAS", "blas"}};
// The spellings of mobilenet.precision (which has no enum: the names are the spellings in capitals).
constexpr Word<Precision> kPrecisionWords[] = {{Precision::Float32, "FLOAT32", "float32"},
                                               {Precision::Int8, "INT8", "int8"},
                                               {Precision::BFloat16, "BFLOAT16", "bfloat16"},
                                               {Precision::Float16, "FLOAT16", "float16"}};

// An argument that takes a bound enum's member or its vocabulary spelling.
template <class Enum>
using MemberOrSpelling = std::variant<Enum, std::string>;

template <class Enum, size_t N>
Enum from_word(const MemberOrSpelling<Enum>& arg, const Word<Enum> (&words)[N], const char* what) {
  if (const Enum* member = std::get_if<Enum>(&arg)) return *member;
  const std::string& spelling = std::get<std::string>(arg);
  std::string names;
  for (const Word<Enum>& word : words) {
    if (spelling == word.spelling) return word.value;
    names += names.empty() ? word.spelling : std::string(", ") + word.spelling;
  }
  throw py::value_error("unknown " + std::string(what) + " '" + spelling + "' (expected " + names + ")");
}

template <class Enum, size_t N>
void bind_enum(py::module_& m, const char* name, const Word<Enum> (&words)[N], const char* doc) {
  py::native_enum<Enum> bound(m, name, "enum.Enum", doc);
  for (const Word<Enum>& word : words) bound.value(word.name, word.value);
  bound.finalize();
}

LayerKind to_layer_kind(const MemberOrSpelling<LayerKind>& arg) {
  return from_word(arg, kLayerKindWords, "layer type");
}
Precision to_precision(const MemberOrSpelling<Precision>& arg) { return from_word(arg, kPrecisionWords, "precision"); }

std::vector<int32_t> to_int_vector(const Int32Array& a) { return std::vector<int32_t>(a.data(), a.data() + a.size()); }
Activation to_activation(const MemberOrSpelling<Activation>& arg) {
  return from_word(arg, kActivationWords, "activation");
}
InputLayout to_layout(const MemberOrSpelling<InputLayout>& arg) { return from_word(arg, kLayoutWords, "layout"); }
PointwiseBackend to_backend(const MemberOrSpelling<PointwiseBackend>& arg) {
  return from_word(arg, kBackendWords, "pointwise backend");
}

// The LayerSpec Python builds: the engine's, with the weights kept as the
// float32 arrays it was given (LayerSpec::weight and bias stay empty). The one
// copy into the engine is made when a Network is built from it: a spec made
// by copying them would cost a second copy of every weight (17 MB at 1.0/224).
struct BoundLayerSpec : LayerSpec {
  std::optional<FloatArray> weight_array, bias_array;
};

BoundLayerSpec make_spec(const MemberOrSpelling<LayerKind>& kind, int in_h, int in_w, int in_c, int out_c, int stride,
                         const std::vector<int>& padding, const MemberOrSpelling<Activation>& activation,
                         std::optional<FloatArray> weight, std::optional<FloatArray> bias) {
  BoundLayerSpec s;
  s.kind = to_layer_kind(kind);
  s.in_h = in_h;
  s.in_w = in_w;
  s.in_c = in_c;
  s.out_c = out_c;
  s.stride = stride;
  if (padding.size() != 4) throw py::value_error("padding must be (top, left, bottom, right)");
  s.pad = {padding[0], padding[1], padding[2], padding[3]};
  s.activation = to_activation(activation);
  s.weight_array = std::move(weight);
  s.bias_array = std::move(bias);
  return s;
}

std::vector<float> to_vector(const std::optional<FloatArray>& a) {
  if (!a) return {};
  return std::vector<float>(a->data(), a->data() + a->size());
}

// The engine's specs, weights copied out of the arrays (with the GIL held: they are Python objects).
std::vector<LayerSpec> engine_specs(const std::vector<const BoundLayerSpec*>& layers) {
  std::vector<LayerSpec> specs;
  specs.reserve(layers.size());
  for (const BoundLayerSpec* layer : layers) {
    if (layer == nullptr) throw py::type_error("layers must be LayerSpec objects, got None");
    LayerSpec s = static_cast<const LayerSpec&>(*layer);
    s.weight = to_vector(layer->weight_array);
    s.bias = to_vector(layer->bias_array);
    specs.push_back(std::move(s));
  }
  return specs;
}

// The batch size of x, after checking x's shape against the network's input.
int check_input(const Network& net, const FloatArray& x, InputLayout layout) {
  if (x.ndim() != 4) throw py::value_error("input must have 4 dimensions, got " + std::to_string(x.ndim()));
  const int h = net.input_height(), w = net.input_width(), c = net.input_channels();
  const bool nhwc = layout == InputLayout::NHWC;
  const py::ssize_t expect[3] = {nhwc ? h : c, nhwc ? w : h, nhwc ? c : w};
  for (int i = 0; i < 3; ++i) {
    if (x.shape(i + 1) != expect[i])
      throw py::value_error("input shape does not match the network's input in " + std::string(nhwc ? "NHWC" : "NCHW") +
                            " layout");
  }
  if (x.shape(0) > Network::kMaxBatch) throw py::value_error("batch too large");
  return static_cast<int>(x.shape(0));
}

// An int8 network on uint8 storage: x (N, H, W, C) uint8 -> (N, output_size) uint8.
py::array_t<uint8_t> run_forward_int8(Network& net, const Uint8Array& x) {
  if (x.ndim() != 4 || x.shape(1) != net.input_height() || x.shape(2) != net.input_width() ||
      x.shape(3) != net.input_channels())
    throw py::value_error("input must be (N, H, W, C) uint8 of the network's input shape");
  if (x.shape(0) > Network::kMaxBatch) throw py::value_error("batch too large");
  const int batch = static_cast<int>(x.shape(0));
  py::array_t<uint8_t> out({static_cast<py::ssize_t>(batch), static_cast<py::ssize_t>(net.output_size())});
  if (batch == 0) return out;
  const uint8_t* in = x.data();
  uint8_t* o = out.mutable_data();
  py::gil_scoped_release release;
  net.forward_int8(in, batch, o);
  return out;
}

py::array_t<float> run_forward(Network& net, const FloatArray& x, const MemberOrSpelling<InputLayout>& layout_arg,
                               bool softmax, bool check_finite) {
  const InputLayout layout = to_layout(layout_arg);
  const int batch = check_input(net, x, layout);
  py::array_t<float> out({static_cast<py::ssize_t>(batch), static_cast<py::ssize_t>(net.output_size())});
  if (batch == 0) return out;
  const float* in = x.data();
  float* o = out.mutable_data();
  bool output_finite = true;
  {
    py::gil_scoped_release release;  // a NaN/Inf input throws; pybind11 raises ValueError
    net.forward(in, batch, layout, o, softmax, nullptr, check_finite);
    // Here rather than with NumPy after the call: there, just after a pass has filled the
    // caches, np.isfinite on 1000 floats took about 50 us (1.0/224; bench/RESULTS.md, log entry 109).
    if (check_finite) output_finite = net.kernels().all_finite(o, int64_t{batch} * net.output_size());
  }
  if (!output_finite)
    throw py::value_error(
        "the output holds NaN or Inf although the input is finite: the input's values overflow float32 inside the "
        "network (unscaled pixels? see mobilenet.preprocess); check_finite=False returns the output anyway");
  return out;
}

// Called between runs with the GIL released: Ctrl-C (or any signal handler
// that raises) stops a long profile between two runs, outside the timed parts.
void check_signals() {
  py::gil_scoped_acquire acquire;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// Timed runs, all measured in C++: per-layer durations and end-to-end latency.
// (A typing::Dict so that _core.pyi says dict[str, Any].)
py::typing::Dict<py::str, py::object> run_profile(Network& net, const FloatArray& x,
                                                  const MemberOrSpelling<InputLayout>& layout_arg, bool softmax,
                                                  int runs, int warmup) {
  if (runs < 1) throw py::value_error("runs must be at least 1");
  if (warmup < 0) throw py::value_error("warmup must not be negative");
  const InputLayout layout = to_layout(layout_arg);
  const int batch = check_input(net, x, layout);
  if (batch < 1) throw py::value_error("profiling needs at least one image");
  const int layers = net.num_layers();
  py::array_t<float> out({static_cast<py::ssize_t>(batch), static_cast<py::ssize_t>(net.output_size())});
  py::array_t<int64_t> layer_ns({static_cast<py::ssize_t>(runs), static_cast<py::ssize_t>(layers)});
  py::array_t<int64_t> total_ns(runs);
  py::array_t<int64_t> warmup_ns(warmup);
  int64_t first_ns = 0;
  {
    py::gil_scoped_release release;
    if (!net.kernels().all_finite(x.data(), batch * net.input_size())) {
      py::gil_scoped_acquire acquire;
      throw py::value_error("input contains NaN or Inf");
    }
    const float* in = x.data();
    float* o = out.mutable_data();
    auto timed = [&](int64_t* per_layer) {
      const auto t0 = std::chrono::steady_clock::now();
      net.forward(in, batch, layout, o, softmax, per_layer);
      return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    };
    int64_t* w = warmup_ns.mutable_data();
    for (int i = 0; i < warmup; ++i) {
      check_signals();
      w[i] = timed(nullptr);
    }
    int64_t* ln = layer_ns.mutable_data();
    int64_t* tn = total_ns.mutable_data();
    std::fill(ln, ln + int64_t{runs} * layers, 0);
    // End-to-end latency and per-layer timing come from separate runs, so the
    // clock reads inside the layers do not inflate the end-to-end numbers.
    // The two kinds alternate, so a noisy neighbour slows both alike and
    // their difference (the overhead) stays meaningful.
    for (int r = 0; r < runs; ++r) {
      check_signals();
      tn[r] = timed(nullptr);
      timed(ln + int64_t{r} * layers);
    }
    first_ns = warmup > 0 ? w[0] : tn[0];
  }
  py::typing::Dict<py::str, py::object> result;
  result["output"] = out;
  result["layer_ns"] = layer_ns;
  result["total_ns"] = total_ns;
  result["warmup_ns"] = warmup_ns;
  result["first_ns"] = first_ns;
  return result;
}

// The instruction set MOBILENET_ISA chooses (the best one when it is unset),
// read once, at import. A bad value is reported as a ValueError where an ISA
// is needed rather than failing the import, so that the command line can
// report it in one line like any other usage error.
struct EnvironmentIsa {
  std::optional<Isa> isa;
  std::string error;
};

const EnvironmentIsa& environment_isa() {
  static const EnvironmentIsa chosen = [] {
    EnvironmentIsa e;
    try {
      e.isa = isa_from_environment();
    } catch (const std::exception& ex) {
      std::string why = ex.what();
      const std::string prefix = "mobilenet: ";
      if (why.compare(0, prefix.size(), prefix) == 0) why.erase(0, prefix.size());
      e.error = "MOBILENET_ISA: " + why;
    }
    return e;
  }();
  return chosen;
}

Isa selected_isa() {
  const EnvironmentIsa& e = environment_isa();
  if (!e.isa) throw py::value_error(e.error);
  return *e.isa;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "mobilenet compute core (private; use the mobilenet package)";
  environment_isa();

  m.def("isa", [] { return std::string(isa_name(selected_isa())); }, "The instruction set chosen at import.");
  m.def("supported_isas", [] {
    std::vector<std::string> names;
    for (Isa isa : supported_isas()) names.emplace_back(isa_name(isa));
    return names;
  });
  m.def(
      "softmax_int8",
      [](const Uint8Array& x, int32_t input_multiplier, int input_left_shift, int diff_min) {
        if (x.ndim() != 2) throw py::value_error("softmax_int8 takes (rows, classes) uint8 storage");
        if (input_left_shift < 0 || input_left_shift > 31 || input_multiplier < 0)
          throw py::value_error("softmax_int8: multiplier or shift out of range");
        py::array_t<uint8_t> out({x.shape(0), x.shape(1)});
        const uint8_t* in = x.data();
        uint8_t* o = out.mutable_data();
        const int rows = static_cast<int>(x.shape(0));
        const int64_t cols = x.shape(1);
        py::gil_scoped_release release;
        softmax_int8_rows(in, rows, cols, input_multiplier, input_left_shift, diff_min, o);
        return out;
      },
      py::arg("x"), py::arg("input_multiplier"), py::arg("input_left_shift"), py::arg("diff_min"),
      "TFLite's reference quantized softmax on uint8 storage (an int8 value + 128), rows of classes.");
  m.def(
      "dequantize_uint8",
      [](const Uint8Array& x, int storage_zero_point, float scale) {
        if (x.ndim() != 2) throw py::value_error("dequantize_uint8 takes (rows, classes) uint8 storage");
        if (storage_zero_point < 0 || storage_zero_point > 255 || !std::isfinite(scale) || !(scale > 0))
          throw py::value_error("dequantize_uint8: zero point outside 0..255 or scale not positive and finite");
        py::array_t<float> out({x.shape(0), x.shape(1)});
        const uint8_t* in = x.data();
        float* o = out.mutable_data();
        for (py::ssize_t i = 0, n = x.size(); i < n; ++i) o[i] = static_cast<float>(in[i] - storage_zero_point) * scale;
        return out;
      },
      py::arg("x"), py::arg("storage_zero_point"), py::arg("scale"),
      "TFLite's DEQUANTIZE on uint8 storage, (stored - storage_zero_point) * scale in float32, where "
      "storage_zero_point is the zero point plus the storage offset (128 for int8 values).");
  m.def("blas_available", &blas_available);
  m.def("blas_config", [] { return std::string(blas_config()); });
  m.def("physical_cores", &physical_core_count, "Physical cores of every online CPU (the machine's).");
  m.def("default_threads", &default_thread_count, py::arg("sysfs_cpu_dir") = "/sys/devices/system/cpu",
        py::arg("proc_self_cgroup") = "/proc/self/cgroup", py::arg("cgroup_root") = "/sys/fs/cgroup",
        "Physical cores in the affinity mask, capped by the cgroup CPU quota; at least 1.");
  m.def("physical_cores_of", &physical_cores, py::arg("cpus"), py::arg("sysfs_cpu_dir") = "/sys/devices/system/cpu",
        "Physical cores among the given CPUs (SMT siblings count once).");
  m.def("affinity_cpus", &affinity_cpus, "CPUs in this process's affinity mask.");
  m.def("cgroup_cpu_limit", &cgroup_cpu_limit, py::arg("proc_self_cgroup") = "/proc/self/cgroup",
        py::arg("cgroup_root") = "/sys/fs/cgroup",
        "Whole CPUs the cgroup CPU quota allows (rounded down, at least 1), or 0 when none is set.");

  bind_enum(m, "LayerKind", kLayerKindWords, "A layer's type (mobilenet.vocabulary.LayerType).");
  bind_enum(m, "Activation", kActivationWords, "What follows a layer (mobilenet.vocabulary.Activation).");
  bind_enum(m, "InputLayout", kLayoutWords, "How an input batch is laid out (mobilenet.vocabulary.Layout).");
  bind_enum(m, "PointwiseBackend", kBackendWords, "What runs the 1x1 convolutions (mobilenet.vocabulary.Backend).");
  bind_enum(m, "Precision", kPrecisionWords, "The arithmetic a layer runs in (mobilenet.precision).");
  m.def(
      "precision_unavailable",
      [](const MemberOrSpelling<Precision>& precision, const std::optional<std::string>& isa) {
        return precision_unavailable(to_precision(precision), kernel_table(isa ? parse_isa(*isa) : selected_isa()));
      },
      py::arg("precision"), py::arg("isa") = py::none(),
      "Why a network in this precision cannot run with these kernels (the CPU feature it lacks), or ''.");
  m.def(
      "cpu_features",
      [] {
        std::vector<std::string> names;
        for (CpuFeature f : {CpuFeature::Avx512Bf16, CpuFeature::AmxBf16, CpuFeature::AmxInt8, CpuFeature::ArmBf16,
                             CpuFeature::ArmFp16})
          if (cpu_has(f)) names.emplace_back(cpu_feature_name(f));
        return names;
      },
      "The CPU features beyond the instruction sets that the narrow precisions use, as /proc/cpuinfo spells "
      "them (avx512_bf16, amx_bf16, amx_int8, bf16, asimdhp).");
  m.def(
      "fast_precisions",
      [](const std::optional<std::string>& isa) {
        const KernelTable& kernels = kernel_table(isa ? parse_isa(*isa) : selected_isa());
        std::vector<std::string> names;
        for (const Word<Precision>& word : kPrecisionWords)
          if (precision_unavailable(word.value, kernels).empty() &&
              (word.value != Precision::BFloat16 || kernels.bf16_fast) &&
              (word.value != Precision::Float16 || kernels.fp16_fast))
            names.emplace_back(word.spelling);
        return names;
      },
      py::arg("isa") = py::none(),
      "The precisions these kernels run on this CPU's own instructions (the scalar bf16 GEMM emulates them).");

  py::class_<BoundLayerSpec>(m, "LayerSpec",
                             "One layer for the engine, batch norm folded. Weight layouts: CONV3X3 (3, 3, in_c, "
                             "out_c), DWCONV3X3 (3, 3, c), CONV1X1 and FC (in_c, out_c); bias (out_c,).")
      .def(py::init(&make_spec), py::arg("kind"), py::arg("in_h"), py::arg("in_w"), py::arg("in_c"), py::arg("out_c"),
           py::arg("stride") = 1, py::arg("padding") = std::make_tuple(0, 0, 0, 0),
           py::arg_v("activation", Activation::None, "Activation.NONE"), py::arg("weight") = py::none(),
           py::arg("bias") = py::none())
      .def_property_readonly("kind", [](const BoundLayerSpec& s) { return s.kind; })
      .def_readonly("in_h", &BoundLayerSpec::in_h)
      .def_readonly("in_w", &BoundLayerSpec::in_w)
      .def_readonly("in_c", &BoundLayerSpec::in_c)
      .def_readonly("out_c", &BoundLayerSpec::out_c)
      .def_readonly("stride", &BoundLayerSpec::stride)
      .def_property_readonly("padding",
                             [](const BoundLayerSpec& s) {
                               return std::tuple<int, int, int, int>(s.pad.top, s.pad.left, s.pad.bottom, s.pad.right);
                             })
      .def_property_readonly("activation", [](const BoundLayerSpec& s) { return s.activation; })
      .def_readonly("weight", &BoundLayerSpec::weight_array)
      .def_readonly("bias", &BoundLayerSpec::bias_array)
      .def(
          "set_int8",
          [](BoundLayerSpec& s, const Int32Array& weight, const Int32Array& bias, const Int32Array& multiplier,
             const Int32Array& shift, int in_zero_point, int out_zero_point, int act_min, int act_max,
             bool signed_values, bool mean) {
            s.int8.weight = to_int_vector(weight);
            s.int8.bias = to_int_vector(bias);
            s.int8.multiplier = to_int_vector(multiplier);
            s.int8.shift = to_int_vector(shift);
            s.int8.in_zero_point = in_zero_point, s.int8.out_zero_point = out_zero_point;
            s.int8.act_min = act_min, s.int8.act_max = act_max;
            s.int8.signed_values = signed_values;
            s.int8.mean = mean;
          },
          py::arg("weight"), py::arg("bias"), py::arg("multiplier"), py::arg("shift"), py::arg("in_zero_point"),
          py::arg("out_zero_point"), py::arg("act_min"), py::arg("act_max"), py::arg("signed_values"),
          py::arg("mean") = false,
          "The layer's int8 parameters (Precision.INT8): effective weights w - w_zp in the float weight's layout, "
          "int32 bias, per-channel multiplier and shift, zero points and clamp in uint8 storage; mean: the pool is "
          "TFLite's MEAN, its one multiplier and shift rescaling input to output.")
      .def_property_readonly(
          "int8",
          [](const BoundLayerSpec& s) {
            const LayerSpec::Int8& q = s.int8;
            auto array = [](const std::vector<int32_t>& v) { return py::array_t<int32_t>(v.size(), v.data()); };
            py::typing::Dict<py::str, py::object> d;
            d["weight"] = array(q.weight), d["bias"] = array(q.bias);
            d["multiplier"] = array(q.multiplier), d["shift"] = array(q.shift);
            d["in_zero_point"] = q.in_zero_point, d["out_zero_point"] = q.out_zero_point;
            d["act_min"] = q.act_min, d["act_max"] = q.act_max;
            d["signed_values"] = q.signed_values, d["mean"] = q.mean;
            return d;
          },
          "The int8 parameters as set_int8 set them (a dict of its arguments; int32 arrays).");

  py::class_<Network>(m, "Network")
      .def(py::init([](const std::vector<const BoundLayerSpec*>& layers, const std::optional<std::string>& isa,
                       int threads, const MemberOrSpelling<PointwiseBackend>& backend, bool fuse,
                       const MemberOrSpelling<Precision>& precision) {
             std::vector<LayerSpec> specs = engine_specs(layers);
             const Isa chosen = isa ? parse_isa(*isa) : selected_isa();
             const PointwiseBackend pointwise = to_backend(backend);
             const Precision arithmetic = to_precision(precision);
             py::gil_scoped_release release;
             return std::make_unique<Network>(std::move(specs), chosen, threads, pointwise, fuse, arithmetic);
           }),
           py::arg("layers"), py::arg("isa") = py::none(), py::arg("threads") = 1,
           py::arg_v("backend", PointwiseBackend::Gemm, "PointwiseBackend.GEMM"), py::arg("fuse") = true,
           py::arg_v("precision", Precision::Float32, "Precision.FLOAT32"))
      .def("forward_int8", &run_forward_int8, py::arg("x"))
      .def(
          "quantize_input",
          [](const Network& net, const FloatArray& x, bool nchw, float scale, int zero_point, int qmin, int qmax,
             int storage_offset) {
            if (x.ndim() != 4) throw py::value_error("quantize_input takes a 4-D batch of images");
            const int64_t n = x.shape(0), c = nchw ? x.shape(1) : x.shape(3);
            const int64_t h = nchw ? x.shape(2) : x.shape(1), w = nchw ? x.shape(3) : x.shape(2);
            if (c < 1 || c > 1 << 16) throw py::value_error("quantize_input: the images have no channels, or too many");
            py::array_t<uint8_t> out({n, h, w, c});
            const float* in = x.data();
            uint8_t* o = out.mutable_data();
            bool finite;
            {
              py::gil_scoped_release release;
              finite = quantize_input(net.kernels(), in, n, h * w, static_cast<int>(c), nchw, scale, zero_point, qmin,
                                      qmax, storage_offset, o);
            }
            if (!finite) throw py::value_error("input contains NaN or Inf");
            return out;
          },
          py::arg("x"), py::arg("nchw"), py::arg("scale"), py::arg("zero_point"), py::arg("qmin"), py::arg("qmax"),
          py::arg("storage_offset"),
          "TFLite's QUANTIZE of a float32 batch (NHWC, or NCHW with nchw) to NHWC uint8 storage (an int8 value "
          "+ storage_offset 128), with this network's kernels; ValueError on NaN or Inf.")
      .def(
          "profile_int8",
          [](Network& net, const Uint8Array& x, int runs) {
            if (runs < 1) throw py::value_error("runs must be at least 1");
            run_forward_int8(net, x);  // checks x; warms up
            const int batch = static_cast<int>(x.shape(0)), layers = net.num_layers();
            py::array_t<int64_t> layer_ns({static_cast<py::ssize_t>(runs), static_cast<py::ssize_t>(layers)});
            py::array_t<int64_t> total_ns(runs);
            std::vector<uint8_t> out(static_cast<size_t>(batch) * net.output_size());
            const uint8_t* in = x.data();
            int64_t* ln = layer_ns.mutable_data();
            int64_t* tn = total_ns.mutable_data();
            std::fill(ln, ln + int64_t{runs} * layers, 0);
            py::gil_scoped_release release;
            for (int r = 0; r < runs; ++r) {
              const auto t0 = std::chrono::steady_clock::now();
              net.forward_int8(in, batch, out.data());
              tn[r] =
                  std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
              net.forward_int8(in, batch, out.data(), ln + int64_t{r} * layers);
            }
            py::gil_scoped_acquire acquire;
            return py::make_tuple(layer_ns, total_ns);
          },
          py::arg("x"), py::arg("runs") = 10,
          "Timed int8 passes: (layer_ns (runs, layers), total_ns (runs,)), whole passes and per-layer passes "
          "alternating.")
      .def("forward", &run_forward, py::arg("x"), py::arg_v("layout", InputLayout::NHWC, "InputLayout.NHWC"),
           py::arg("softmax") = false, py::arg("check_finite") = true)
      .def("trim_workspaces", &Network::trim_workspaces, py::arg("max_batch"), py::call_guard<py::gil_scoped_release>())
      .def("profile", &run_profile, py::arg("x"), py::arg_v("layout", InputLayout::NHWC, "InputLayout.NHWC"),
           py::arg("softmax") = false, py::arg("runs") = 100, py::arg("warmup") = 10)
      .def_property_readonly("num_layers", &Network::num_layers)
      .def_property_readonly(
          "input_shape",
          [](const Network& n) { return py::make_tuple(n.input_height(), n.input_width(), n.input_channels()); })
      .def_property_readonly("output_size", &Network::output_size)
      .def_property_readonly("isa", [](const Network& n) { return std::string(n.kernels().name); })
      .def_property_readonly("backend", &Network::backend)
      .def_property_readonly("packed_weight_bytes", &Network::packed_weight_bytes)
      .def_property_readonly("pipelined_layers", &Network::pipelined_layers)
      .def_property_readonly("kernel_names",
                             [](const Network& n) {
                               std::vector<std::string> names;
                               for (int i = 0; i < n.num_layers(); ++i) names.push_back(n.kernel_name(i));
                               return names;
                             })
      .def_property_readonly("precisions",
                             [](const Network& n) {
                               std::vector<Precision> precisions;
                               for (const LayerPlan& layer : n.plan().layers) precisions.push_back(layer.precision);
                               return precisions;
                             })
      .def("output_shape", &Network::output_shape, py::arg("layer"))
      .def_property("threads", &Network::threads, &Network::set_threads);
}
