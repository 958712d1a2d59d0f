// pybind11 bindings: the only C++ that knows Python exists. Arrays are checked
// here (the core checks its own preconditions again), and the GIL is released
// for every computation.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "blas.h"
#include "cpu_features.h"
#include "default_threads.h"
#include "network.h"
#include "thread_pool.h"

namespace py = pybind11;
using namespace mobilenet;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

template <class Enum>
Enum parse_enum(const std::string& value, std::initializer_list<std::pair<const char*, Enum>> options,
                const char* what) {
  std::string names;
  for (const auto& [name, e] : options) {
    if (value == name) return e;
    names += names.empty() ? name : std::string(", ") + name;
  }
  throw py::value_error("unknown " + std::string(what) + " '" + value + "' (expected " + names + ")");
}

LayerKind parse_kind(const std::string& s) {
  return parse_enum<LayerKind>(s,
                               {{"conv3x3", LayerKind::Conv3x3},
                                {"dwconv3x3", LayerKind::DwConv3x3},
                                {"conv1x1", LayerKind::Conv1x1},
                                {"avgpool", LayerKind::GlobalAvgPool},
                                {"fc", LayerKind::FullyConnected}},
                               "layer type");
}

Activation parse_activation(const std::string& s) {
  return parse_enum<Activation>(s, {{"none", Activation::None}, {"relu", Activation::ReLU}, {"relu6", Activation::ReLU6}},
                                "activation");
}

InputLayout parse_layout(const std::string& s) {
  return parse_enum<InputLayout>(s, {{"NHWC", InputLayout::NHWC}, {"NCHW", InputLayout::NCHW}}, "layout");
}

PointwiseBackend parse_backend(const std::string& s) {
  return parse_enum<PointwiseBackend>(s, {{"gemm", PointwiseBackend::Gemm}, {"blas", PointwiseBackend::Blas}},
                                      "pointwise backend");
}

std::vector<float> to_vector(const py::handle& obj) {
  if (obj.is_none()) return {};
  FloatArray a = FloatArray::ensure(obj);
  if (!a) throw py::type_error("weights must be convertible to a float32 array");
  return std::vector<float>(a.data(), a.data() + a.size());
}

LayerSpec spec_from_dict(const py::dict& d) {
  LayerSpec s;
  s.kind = parse_kind(d["type"].cast<std::string>());
  s.in_h = d["in_h"].cast<int>();
  s.in_w = d["in_w"].cast<int>();
  s.in_c = d["in_c"].cast<int>();
  s.out_c = d["out_c"].cast<int>();
  s.stride = d["stride"].cast<int>();
  const auto pad = d["padding"].cast<std::vector<int>>();
  if (pad.size() != 4) throw py::value_error("padding must be (top, left, bottom, right)");
  s.pad = {pad[0], pad[1], pad[2], pad[3]};
  s.activation = parse_activation(d["activation"].cast<std::string>());
  s.weight = to_vector(d["weight"]);
  s.bias = d.contains("bias") ? to_vector(d["bias"]) : std::vector<float>{};
  return s;
}

// The batch size of x, after checking x's shape against the network's input.
int check_input(const Network& net, const FloatArray& x, InputLayout layout) {
  if (x.ndim() != 4) throw py::value_error("input must have 4 dimensions, got " + std::to_string(x.ndim()));
  const int h = net.input_height(), w = net.input_width(), c = net.input_channels();
  const bool nhwc = layout == InputLayout::NHWC;
  const py::ssize_t expect[3] = {nhwc ? h : c, nhwc ? w : h, nhwc ? c : w};
  for (int i = 0; i < 3; ++i) {
    if (x.shape(i + 1) != expect[i])
      throw py::value_error("input shape does not match the network's input in " +
                            std::string(nhwc ? "NHWC" : "NCHW") + " layout");
  }
  if (x.shape(0) > Network::kMaxBatch) throw py::value_error("batch too large");
  return static_cast<int>(x.shape(0));
}

py::array_t<float> run_forward(Network& net, const FloatArray& x, const std::string& layout_name, bool softmax,
                               bool check_finite) {
  const InputLayout layout = parse_layout(layout_name);
  const int batch = check_input(net, x, layout);
  py::array_t<float> out({static_cast<py::ssize_t>(batch), static_cast<py::ssize_t>(net.output_size())});
  if (batch == 0) return out;
  const float* in = x.data();
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;  // a NaN/Inf input throws; pybind11 raises ValueError
    net.forward(in, batch, layout, o, softmax, nullptr, check_finite);
  }
  return out;
}

// Called between runs with the GIL released: Ctrl-C (or any signal handler
// that raises) stops a long profile between two runs, outside the timed parts.
void check_signals() {
  py::gil_scoped_acquire acquire;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// Timed runs, all measured in C++: per-layer durations and end-to-end latency.
py::dict run_profile(Network& net, const FloatArray& x, const std::string& layout_name, bool softmax, int runs,
                     int warmup) {
  if (runs < 1) throw py::value_error("runs must be at least 1");
  if (warmup < 0) throw py::value_error("warmup must not be negative");
  const InputLayout layout = parse_layout(layout_name);
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
  py::dict result;
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

  py::class_<Network>(m, "Network")
      .def(py::init([](const py::list& layers, const std::optional<std::string>& isa, int threads,
                       const std::string& backend, bool fuse) {
             std::vector<LayerSpec> specs;
             for (const auto& item : layers) specs.push_back(spec_from_dict(item.cast<py::dict>()));
             const Isa chosen = isa ? parse_isa(*isa) : selected_isa();
             py::gil_scoped_release release;
             return std::make_unique<Network>(std::move(specs), chosen, threads, parse_backend(backend), fuse);
           }),
           py::arg("layers"), py::arg("isa") = py::none(), py::arg("threads") = 1, py::arg("backend") = "gemm",
           py::arg("fuse") = true)
      .def("forward", &run_forward, py::arg("x"), py::arg("layout") = "NHWC", py::arg("softmax") = false,
           py::arg("check_finite") = true)
      .def("trim_workspaces", &Network::trim_workspaces, py::arg("max_batch"),
           py::call_guard<py::gil_scoped_release>())
      .def("profile", &run_profile, py::arg("x"), py::arg("layout") = "NHWC", py::arg("softmax") = false,
           py::arg("runs") = 100, py::arg("warmup") = 10)
      .def_property_readonly("num_layers", &Network::num_layers)
      .def_property_readonly("input_shape",
                             [](const Network& n) {
                               return py::make_tuple(n.input_height(), n.input_width(), n.input_channels());
                             })
      .def_property_readonly("output_size", &Network::output_size)
      .def_property_readonly("isa", [](const Network& n) { return std::string(n.kernels().name); })
      .def_property_readonly("backend",
                             [](const Network& n) { return n.backend() == PointwiseBackend::Blas ? "blas" : "gemm"; })
      .def_property_readonly("packed_weight_bytes", &Network::packed_weight_bytes)
      .def_property_readonly("pipelined_layers", &Network::pipelined_layers)
      .def_property_readonly("kernel_names",
                             [](const Network& n) {
                               std::vector<std::string> names;
                               for (int i = 0; i < n.num_layers(); ++i) names.push_back(n.kernel_name(i));
                               return names;
                             })
      .def("output_shape", &Network::output_shape)
      .def_property("threads", &Network::threads, &Network::set_threads);
}
