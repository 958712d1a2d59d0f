#!/usr/bin/env bash
# The C++ core without Python: builds the kernel test driver
# (tests/cpp/kernel_tests.cpp) for this machine and runs it for every
# instruction set the CPU supports. With --sanitize, builds and runs it under
# AddressSanitizer and UndefinedBehaviorSanitizer (any report fails the run).
#
# Usage: tests/cpp/run_native.sh [--sanitize]
# Needs cmake >= 3.18 and a C++17 compiler. The BLAS backend is tested too when
# the current Python has scipy-openblas32 (pip install the pin in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
sanitize=OFF
build_dir=${BUILD_DIR:-build/cpp-tests}
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=ON
  build_dir=${BUILD_DIR:-build/cpp-tests-sanitize}
fi

blas=OFF
if python3 -c "import scipy_openblas32" 2>/dev/null; then blas=ON; fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOBILENET_BUILD_PYTHON=OFF \
  -DMOBILENET_BUILD_TESTS=ON -DMOBILENET_WITH_BLAS=$blas -DMOBILENET_SANITIZE=$sanitize \
  -DPython_EXECUTABLE="$(command -v python3)"
cmake --build "$build_dir" --parallel "$(nproc)"

# halt_on_error + abort: a sanitizer report is a failure, never just a log line.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$build_dir/kernel_tests"
# The int8 kernels without the dot-product instructions (AVX512-VNNI, AVX-VNNI),
# as on a CPU that lacks them.
MOBILENET_INT8_DOT=off "$build_dir/kernel_tests"
# Whole int8 networks of the shared quantized models, byte for byte against TFLite's reference
# arithmetic, on every ISA (tests/cross/int8_networks.sh), and again without the dot-product
# instructions (AVX512-VNNI, AVX-VNNI).
rm -rf "$build_dir/int8-cases"
tests/cross/int8_networks.sh "$build_dir/int8-cases" "$build_dir/int8_network_check"
MOBILENET_INT8_DOT=off tests/cross/int8_networks.sh "$build_dir/int8-cases" "$build_dir/int8_network_check"
# The AVX-512 bf16 GEMM has three ways (AMX tiles, vdpbf16ps, FMAs): the runs
# above test the one this CPU picks (AMX where the CPU and the OS allow it), so
# test the other two too (MOBILENET_AMX=0: without AMX, as on AMD CPUs, which have none).
# Every AMX CPU has AVX512_BF16: these runs also test the vpdpbusd int8 GEMM there.
if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
  MOBILENET_AMX=0 MOBILENET_BF16_DOT=1 "$build_dir/kernel_tests" avx512
  MOBILENET_AMX=0 MOBILENET_BF16_DOT=0 "$build_dir/kernel_tests" avx512
fi
