#!/usr/bin/env bash
# Paired A/B of two versions of the AMX int8 GEMM in one process (bench/cpp/int8_gemm_ab.cpp).
# Usage, from the repository root:
#   git show <commit>:csrc/kernels_amx_int8.cpp > /tmp/old_amx_int8.cpp
#   bench/cpp/int8_gemm_ab.sh /tmp/old_amx_int8.cpp csrc/kernels_amx_int8.cpp [o]
# Extra flags for each version (e.g. -DSOME_SWITCH=1): A_FLAGS, B_FLAGS. Needs an x86-64 compiler with
# AMX-INT8 support and a CPU with it (Sapphire Rapids or later).
set -euo pipefail
cd "$(dirname "$0")/../.."
a=$(realpath "$1") b=$(realpath "$2")
build=build/bench
cmake -S . -B $build -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF >/dev/null
cmake --build $build --target mobilenet_core --parallel 2 >/dev/null 2>&1
flags="-O3 -DNDEBUG -std=gnu++17 -w -Icsrc -mavx512f -mavx512dq -mavx512bw -mavx512vl -mamx-tile -mamx-int8 -mavx2 -mfma
  -DMBN_HAVE_AMX_INT8 -DMBN_HAVE_AVX2 -DMBN_HAVE_AVX512"
c++ $flags -Damx=amxA ${A_FLAGS:-} -c "$a" -o $build/int8_gemm_ab_a.o
c++ $flags -Damx=amxB ${B_FLAGS:-} -c "$b" -o $build/int8_gemm_ab_b.o
c++ -O2 -std=gnu++17 -Icsrc bench/cpp/int8_gemm_ab.cpp $build/int8_gemm_ab_a.o $build/int8_gemm_ab_b.o \
  $build/libmobilenet_core.a -lpthread -o $build/int8_gemm_ab
$build/int8_gemm_ab "${3:-}"
