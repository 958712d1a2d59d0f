#!/usr/bin/env bash
# The C++ core on AArch64, under emulation: cross-compiles the core and its
# kernel test driver (tests/cpp/kernel_tests.cpp) with Debian's
# g++-aarch64-linux-gnu and runs the driver with qemu-aarch64 (qemu-user).
# Every kernel, NEON and scalar, is checked against double-precision
# references; the script exits non-zero on any mismatch.
#
# Usage: tests/cross/run_aarch64.sh        (build dir: build/cross-aarch64, or $BUILD_DIR)
# Needs cmake >= 3.18; installs the cross compiler and qemu with apt if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build/cross-aarch64}
sysroot=/usr/aarch64-linux-gnu

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if ((${#missing[@]})); then
  echo "run_aarch64: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# No BLAS: our own packed GEMM is the pointwise kernel here (and is what is tested).
cmake -S . -B "$build_dir" -DCMAKE_TOOLCHAIN_FILE=tests/cross/aarch64-toolchain.cmake \
  -DCMAKE_BUILD_TYPE=Release -DMOBILENET_WITH_BLAS=OFF -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_BUILD_TESTS=ON
cmake --build "$build_dir" --parallel "$(nproc)"

# The driver must really be AArch64 code (it then tests the NEON kernels).
machine=$(readelf -h "$build_dir/kernel_tests" | awk '/Machine:/ {print $2}')
[ "$machine" = "AArch64" ] || { echo "run_aarch64: built for '$machine', not AArch64"; exit 1; }

# Every kernel, bfdot's bf16 GEMM and the fp16 kernels included, on the emulated CPU with every feature.
timeout 1200 qemu-aarch64 -cpu max -L "$sysroot" "$build_dir/kernel_tests"
# The fp16 kernels and networks again on a CPU with FP16 arithmetic but no BF16.
timeout 600 qemu-aarch64 -cpu cortex-a76 -L "$sysroot" "$build_dir/kernel_tests" --fp16

# The half precisions per CPU: the bf16 kernel where the CPU has BF16, the fp16
# kernels where it has FP16 arithmetic, else a refusal naming the feature.
# max: BF16 and FP16; cortex-a76: FP16, no BF16; cortex-a72: neither.
check() {  # check CPU EXPECTED-LINE... (the driver's --precisions report, or MODE=--int8)
  local cpu=$1 out
  shift
  out=$(timeout 600 qemu-aarch64 -cpu "$cpu" -L "$sysroot" "$build_dir/kernel_tests" "${MODE:---precisions}")
  echo "$out" | sed "s/^/[$cpu] /"
  for want in "$@"; do
    grep -qF -- "$want" <<<"$out" || { echo "run_aarch64: -cpu $cpu: expected a line with '$want'"; exit 1; }
  done
}
check max "cpu features: bf16 asimdhp" "neon: bfloat16 runs: bf16gemm" "neon: float16 runs: fp16gemm8x16" "OK"
check cortex-a76 "cpu features: asimdhp" "neon: bfloat16 refused: precision 'bfloat16' needs the CPU feature 'bf16'" \
  "neon: float16 runs: fp16gemm8x16" "OK"
check cortex-a72 "cpu features: none" "neon: bfloat16 refused: precision 'bfloat16' needs the CPU feature 'bf16'" \
  "neon: float16 refused: precision 'float16' needs the CPU feature 'asimdhp'" "OK"

# int8 per CPU, each run checking every int8 kernel against the driver's
# reference: the dot-product kernels (sdot) where the CPU has the ARMv8.2 dot
# product (max, cortex-a76), the plain NEON ones (smlal) where not (cortex-a72).
MODE=--int8 check max "neon: int8 dot product on (hwcap asimddp)" \
  "neon: int8 kernels: gemm sdot4x16, dwconv3x3 sdot (64 channels), smlal (32 channels)" "OK"
MODE=--int8 check cortex-a76 "neon: int8 dot product on" "neon: int8 kernels: gemm sdot4x16, dwconv3x3 sdot" "OK"
MODE=--int8 check cortex-a72 "neon: int8 dot product off" \
  "neon: int8 kernels: gemm smlal4x16, dwconv3x3 smlal (64 channels), smlal (32 channels)" "OK"

# Whole int8 networks of the shared quantized models, byte for byte against TFLite's reference
# arithmetic, each layer alone and the whole network (tests/cross/int8_networks.sh), on the NEON
# kernels: sdot under -cpu max, smlal under -cpu cortex-a72.
rm -rf "$build_dir/int8-cases"
for cpu in max cortex-a72; do
  kernel=$([ $cpu = max ] && echo sdot || echo smlal)
  out=$(tests/cross/int8_networks.sh "$build_dir/int8-cases" \
    timeout 900 qemu-aarch64 -cpu $cpu -L "$sysroot" "$build_dir/int8_network_check" --isa neon) ||
    { echo "$out"; exit 1; }
  echo "$out" | sed "s/^/[$cpu] /"
  grep -q "skipped" <<<"$out" && break
  for want in "int8_conv1x1_${kernel}4x16_" "int8_dwconv3x3s1_${kernel}_" "int8_network_check: OK"; do
    grep -qF -- "$want" <<<"$out" || { echo "run_aarch64: int8 networks, -cpu $cpu: expected '$want'"; exit 1; }
  done
done
